package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.*;
import static dev.fusedloss.internal.RowSweeps.*;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static jdk.incubator.vector.VectorOperators.*;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

/**
 * Cross entropy over wide rows (at least two tiles), in tiles of {@link #TILE} classes; see
 * {@link #crossEntropyTiled}. Softmax focal shares the tile sweeps.
 */
final class CrossEntropyTiles {
  private CrossEntropyTiles() {}

  /** Classes per tile of {@link #crossEntropyTiled}: a logits tile and its gradient fit L1. */
  static final int TILE = 2048;

  /**
   * Cross entropy without class weights, smoothing, soft cap or accumulation, for rows of at
   * least two tiles: each row is taken in tiles of {@link #TILE} classes, each copied into the
   * gradient row and swept there at once while it sits in L1 (its max, then exp(x − m) stored
   * with their sum), m being the running maximum of the row so far. The tiles' maxima and sums
   * are kept; Σexp over the row is then Σ_k S_k·exp(m_k − m) in double, and the gradient sweep
   * scales tile k by exp(m_k − m)·coef/Σexp (one more rounding than the one-row path: an ulp).
   * Memory is then read and written in short steady streams between compute rather than one
   * row-long burst per row: at 4096×32000 ≈ 10 % faster in alternating runs.
   */
  static double crossEntropyTiled(MemorySegment x, MemorySegment targets, long stride, int cls,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, float zScale,
      int ignore, boolean int64) {
    PanamaScratch.Tiles ts = PanamaScratch.TILES.get();
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = RowArgs.target(targets, r, int64);
      if (t == ignore) {
        ignoredRow(loss, grad, r, base, cls, false);
        continue;
      }
      double xt = at(x, base + t);
      double sum = tileSweeps(x, grad, base, cls, r + 1 < r1 ? base + stride : base, ts);
      float m = ts.m;
      double logS = Math.log(sum);
      double lse = m + logS;
      // (m − x_t) + log S, not lse − x_t: at |x| ~ 3e38 lse has lost log S to rounding
      double l = ((m - xt) + logS) + zScale * lse * lse;
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      tileScale(grad, base, cls, (1 + 2 * zScale * lse) * coef / sum, ts);
      addAt(grad, base + t, -coef);
    }
    return total;
  }

  /**
   * The tile sweeps of {@link #crossEntropyTiled} for the row at {@code base}: each tile copied
   * into {@code grad} (unless in place), its max taken into the running maximum, and
   * exp(x − running max) stored with its sum. Leaves the row maximum in {@code ts.m} (NaN if
   * any logit is NaN) and returns Σexp(x − m) over the row, in double. {@code next} is the next
   * row's base, read ahead during the last tile.
   */
  static double tileSweeps(MemorySegment x, MemorySegment grad, long base, int cls, long next,
      PanamaScratch.Tiles ts) {
    int tiles = (cls + TILE - 1) / TILE;
    ts.atLeast(tiles);
    float m = NEG_INF;
    for (int k = 0; k < tiles; k++) {
      int off = k * TILE;
      int len = Math.min(TILE, cls - off);
      if (x != grad) {
        MemorySegment.copy(x, (base + off) * Float.BYTES, grad, (base + off) * Float.BYTES, (long) len * Float.BYTES);
      }
      m = Math.max(m, rowMax(grad, base + off, len)); // NaN stays NaN
      ts.max[k] = m;
      // the exp sweep reads ahead the next tile of this row (the last tile: the next row's
      // first), so the hardware streams just ahead of the compute
      long ahead = k + 1 < tiles ? Math.min(base + off + TILE, base + cls - len) : next;
      ts.sum[k] = rowSumExpInPlace(grad, base + off, len, m, x, ahead);
    }
    double sum = 0;
    for (int k = 0; k < tiles; k++) {
      sum += ts.sum[k] * Math.exp((double) ts.max[k] - m);
    }
    ts.m = m;
    return sum;
  }

  /** Scales the stored exponentials of each tile by a·exp(m_k − m): a·exp(x − m) in all. */
  static void tileScale(MemorySegment grad, long base, int cls, double a, PanamaScratch.Tiles ts) {
    int tiles = (cls + TILE - 1) / TILE;
    for (int k = 0; k < tiles; k++) {
      int off = k * TILE;
      int len = Math.min(TILE, cls - off);
      float ak = (float) (a * Math.exp((double) ts.max[k] - ts.m));
      if (overlapTail(len)) {
        gradFromStoredOverlap(grad, base + off, len, ak, 0f);
      } else {
        gradFromStored(grad, base + off, len, ak, 0f);
      }
    }
  }
}
