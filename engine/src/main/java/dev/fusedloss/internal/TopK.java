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
   * lower index. {@code hist} must hold at least 2048 ints.
   *
   * @return how many were marked: min(k, valid entries)
   */
  public static int markLargest(float[] keys, boolean[] valid, int n, long k, boolean[] kept,
      int[] hist) {
    int count = 0;
    for (int i = 0; i < n; i++) {
      count += valid[i] ? 1 : 0;
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
    int prefix = 0;
    int prefixMask = 0;
    int[] shifts = {21, 10, 0};
    int[] widths = {11, 11, 10};
    for (int pass = 0; pass < 3; pass++) {
      int shift = shifts[pass];
      int buckets = 1 << widths[pass];
      java.util.Arrays.fill(hist, 0, buckets, 0);
      for (int i = 0; i < n; i++) {
        if (valid[i]) {
          int u = order(keys[i]);
          if ((u & prefixMask) == prefix) {
            hist[(u >>> shift) & (buckets - 1)]++;
          }
        }
      }
      int b = buckets - 1;
      while (hist[b] < need) { // the largest bucket that still holds the k-th key
        need -= hist[b];
        b--;
      }
      prefix |= b << shift;
      prefixMask |= (buckets - 1) << shift;
    }
    // prefix is now the k-th largest key itself; `need` keys equal to it are taken
    int marked = 0;
    for (int i = 0; i < n; i++) {
      if (valid[i]) {
        int u = order(keys[i]);
        if (Integer.compareUnsigned(u, prefix) > 0) {
          kept[i] = true;
          marked++;
        } else if (u == prefix && need > 0) {
          kept[i] = true;
          marked++;
          need--;
        }
      }
    }
    return marked;
  }
}
