package dev.fusedloss.internal;

/**
 * Deterministic top-k selection over float keys in expected and worst-case O(n): a radix select
 * on the keys' order-preserving bits (three passes of 11, 11 and 10 bits) finds the k-th largest
 * key, then one pass marks every key above it and, of the keys equal to it, the ones of lowest
 * index. The result depends only on the keys, never on an algorithm's path or a thread count.
 * Keys are ordered as floats with NaN largest and −0 below +0.
 */
public final class TopK {
  private TopK() {}

  /** An unsigned-comparable int whose order is the float order (NaN largest). */
  static int order(float f) {
    int b = Float.floatToIntBits(f); // one NaN pattern
    return b ^ ((b >> 31) | 0x8000_0000);
  }

  /**
   * Marks in {@code kept} (set to true; entries not chosen are left as they are) the {@code k}
   * entries of {@code keys[0, n)} with {@code valid[i]} that have the largest keys, ties to the
   * lower index. Scratch: {@code hist} at least 2048 ints, {@code order} and {@code cand} at
   * least {@code n} ints. The first pass histograms the top 11 bits of every key; the keys of
   * the bucket holding the k-th one are then gathered, and the last 21 bits are resolved on them
   * alone; a final pass marks.
   *
   * @return how many were marked: min(k, valid entries)
   */
  public static int markLargest(float[] keys, boolean[] valid, int n, long k, boolean[] kept,
      int[] hist, int[] order, int[] cand) {
    java.util.Arrays.fill(hist, 0, 2048, 0);
    int count = 0;
    for (int i = 0; i < n; i++) {
      if (valid[i]) {
        int u = order(keys[i]);
        order[i] = u;
        hist[u >>> 21]++;
        count++;
      }
    }
    if (k <= 0 || count == 0) {
      return 0;
    }
    if (k >= count) {
      for (int i = 0; i < n; i++) {
        kept[i] |= valid[i];
      }
      return count;
    }
    int need = (int) k; // keys still to take at or below the prefix found so far
    int b = 2047;
    while (hist[b] < need) {
      need -= hist[b--];
    }
    int prefix = b << 21;
    int m = 0;
    for (int i = 0; i < n; i++) {
      if (valid[i] && order[i] >>> 21 == b) {
        cand[m++] = i;
      }
    }
    int prefixMask = 0x7ff << 21;
    for (int pass = 0; pass < 2; pass++) {
      int shift = pass == 0 ? 10 : 0;
      int buckets = pass == 0 ? 2048 : 1024;
      java.util.Arrays.fill(hist, 0, buckets, 0);
      for (int j = 0; j < m; j++) {
        int u = order[cand[j]];
        if ((u & prefixMask) == prefix) {
          hist[(u >>> shift) & (buckets - 1)]++;
        }
      }
      b = buckets - 1;
      while (hist[b] < need) {
        need -= hist[b--];
      }
      prefix |= b << shift;
      prefixMask |= (buckets - 1) << shift;
    }
    // prefix is now the k-th largest key itself; `need` keys equal to it are taken
    // branch-free for the keys above the k-th (which lanes they are is random: a branch there
    // mispredicted a quarter of the time); keys equal to it are rare and take the branch
    int flip = 0x8000_0000;
    int above = prefix ^ flip;
    for (int i = 0; i < n; i++) {
      int u = order[i];
      boolean gt = valid[i] & (u ^ flip) > above;
      kept[i] |= gt;
      if (u == prefix && valid[i] && need > 0) {
        kept[i] = true;
        need--;
      }
    }
    return (int) k;
  }
}
