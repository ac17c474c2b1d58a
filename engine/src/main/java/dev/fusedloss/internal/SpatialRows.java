package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.F;
import static dev.fusedloss.internal.PanamaSpecies.L;
import static dev.fusedloss.internal.PanamaSpecies.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Cross entropy with the class axis at dim 1, PyTorch's {@code [N, C, d1, …, dk]}: row {@code r =
 * n·S + s} has its C logits {@code S = d1·…·dk} floats apart. Vector lanes are positions, so
 * nothing is transposed. The work goes tile by tile, a tile being up to {@link #TILE} consecutive
 * positions of one batch item (C runs of 2 KB, which stay in cache across its sweeps): the max
 * over the classes; the sum of exponentials with the target logit (or, for soft targets, the
 * weighted target sums), keeping each exp for the gradient when C ≤ 64; a vectorised
 * per-position step (log-sum-exp, loss, gradient coefficients); the gradient. Within a sweep a
 * vector of positions runs over all its classes with the sums in registers. Positions that do
 * not fill a vector at the end of a batch item go to the scalar kernel. Sums over more than
 * {@link #FLUSH} classes are carried in double. The exp is written out in each loop (a helper
 * taking a vector may be compiled apart, and its vectors are then boxed).
 */
final class SpatialRows {
  private static final VectorSpecies<Integer> I =
      VectorSpecies.of(int.class, VectorShape.forBitSize(F.vectorBitSize()));
  private static final VectorSpecies<Double> D = PanamaSpecies.D;
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
  /** Positions per tile: C runs of 2 KB each, in L2 across the three sweeps. */
  static final int TILE = 512;
  /** Exponentials and target sums added in float for at most this many classes, then in double. */
  private static final int FLUSH = 64;

  private SpatialRows() {}

  /** Per-thread tile state, one value per position of the tile. */
  private static final class Tile {
    final int[] t = new int[TILE];
    final float[] m = new float[TILE];
    final float[] se = new float[TILE];
    final float[] sx = new float[TILE];
    final float[] wq = new float[TILE];
    final float[] xt = new float[TILE];
    final float[] wt = new float[TILE];
    final double[] seD = new double[TILE];
    final double[] sxD = new double[TILE];
    final double[] wqD = new double[TILE];
    final float[] a = new float[TILE];
    final float[] keep = new float[TILE];
    final float[] hot = new float[TILE];
    /** exp(x − m) of the tile's classes, class-major, kept for the gradient (≤ FLUSH classes). */
    final float[] e = new float[FLUSH * TILE];
  }

  private static final ThreadLocal<Tile> TILES = ThreadLocal.withInitial(Tile::new);

  /**
   * Rows [r0, r1) of {@code x [N, C, S]}: class-index targets ({@code q == null}, options as
   * {@link SoftmaxKernels#crossEntropy} without soft cap) or soft targets {@code q [N, C, S]}.
   * Each sweep is its own small method (one loop nest each: they compile at every JIT tier, and
   * no vector crosses a call; per-position values go through the tile's arrays).
   */
  static double crossEntropy(MemorySegment x, MemorySegment targets, MemorySegment q, int cls,
      long spatial, long r0, long r1, MemorySegment loss, MemorySegment grad, float coef,
      boolean acc, float zScale, SoftmaxKernels.CrossEntropy opt) {
    Tile tl = TILES.get();
    boolean soft = q != null;
    float eps = opt.smoothing();
    float epsC = eps / cls;
    MemorySegment w = opt.weight();
    float wsum = (float) (w == null ? cls : opt.weightSum());
    boolean wide = cls > FLUSH;
    double total = 0;
    long r = r0;
    while (r < r1) {
      long n = r / spatial;
      long segEnd = Math.min(r1, (n + 1) * spatial);
      long base = n * cls * spatial;
      long vecEnd = r + (segEnd - r) / L * L;
      if (vecEnd < segEnd) { // fewer than L positions at the item's end: the scalar kernel
        total += ScalarSoftmaxKernels.INSTANCE.spatialCrossEntropy(x, targets, q, cls, spatial,
            vecEnd, segEnd, loss, grad, coef, acc, zScale, opt);
      }
      for (int len; r < vecEnd; r += len) {
        len = (int) Math.min(TILE, vecEnd - r);
        long xo = base + (r - n * spatial);
        for (int p = 0; p < len; p++) {
          tl.t[p] = soft ? 0 : RowArgs.target(targets, r + p, opt.int64());
        }
        maxSweep(x, xo, spatial, cls, len, tl);
        if (wide) {
          java.util.Arrays.fill(tl.seD, 0, len, 0);
          java.util.Arrays.fill(tl.sxD, 0, len, 0);
          java.util.Arrays.fill(tl.wqD, 0, len, 0);
        }
        java.util.Arrays.fill(tl.xt, 0, len, 0f);
        java.util.Arrays.fill(tl.wt, 0, len, 1f);
        for (int c0 = 0; c0 < cls; c0 += FLUSH) {
          int c1 = Math.min(cls, c0 + FLUSH);
          sumSweep(x, q, xo, spatial, c0, c1, len, w, eps, epsC, !wide && grad != null, tl);
          if (wide) {
            flush(tl, len);
          }
        }
        total += positions(tl, len, r, soft, wide, eps, epsC, wsum, zScale, coef,
            opt.ignoreIndex(), loss);
        if (grad != null) {
          gradSweep(x, q, grad, xo, spatial, cls, len, w, eps, epsC, coef, acc,
              opt.ignoreIndex(), !wide, tl);
        }
      }
      r = segEnd;
    }
    return total;
  }

  /** The max over the classes of the tile's positions, into {@code tl.m}. */
  private static void maxSweep(MemorySegment x, long xo, long spatial, int cls, int len,
      Tile tl) {
    long step = spatial * Float.BYTES;
    for (int p = 0; p < len; p += L) {
      long po = (xo + p) * Float.BYTES;
      FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
      for (int c = 0; c < cls; c++) {
        m = m.lanewise(VectorOperators.MAX,
            FloatVector.fromMemorySegment(F, x, po + c * step, NATIVE));
      }
      m.intoArray(tl.m, p);
    }
  }

  /**
   * Classes [c0, c1): Σ exp(x − m) into {@code tl.se}, and the target logit and weight (class
   * indices; Σ w·x for smoothing into {@code tl.sx}) or the soft-target sums Σ w·q' and Σ w·q'·x.
   */
  private static void sumSweep(MemorySegment x, MemorySegment q, long xo, long spatial, int c0,
      int c1, int len, MemorySegment w, float eps, float epsC, boolean keepE, Tile tl) {
    boolean soft = q != null;
    for (int p = 0; p < len; p += L) {
      long po = (xo + p) * Float.BYTES;
      long step = spatial * Float.BYTES;
      FloatVector m = FloatVector.fromArray(F, tl.m, p);
      IntVector tv = IntVector.fromArray(I, tl.t, p);
      FloatVector se = FloatVector.zero(F);
      FloatVector sx = FloatVector.zero(F);
      FloatVector wq = FloatVector.zero(F);
      FloatVector xt = FloatVector.fromArray(F, tl.xt, p);
      FloatVector wt = FloatVector.fromArray(F, tl.wt, p);
      for (int c = c0; c < c1; c++) {
        long o = po + c * step;
        float wc = w == null ? 1f : w.getAtIndex(F32, c);
        FloatVector v = FloatVector.fromMemorySegment(F, x, o, NATIVE);
        FloatVector arg = v.sub(m);
        FloatVector nb = arg.fma(PanamaSpecies.LOG2E, PanamaSpecies.MAGIC);
        FloatVector nn = nb.sub(PanamaSpecies.MAGIC);
        FloatVector rr = nn.fma(PanamaSpecies.LN2_LO, nn.fma(PanamaSpecies.LN2_HI, arg));
        FloatVector pp = rr.fma(PanamaSpecies.P0, PanamaSpecies.P1).fma(rr, PanamaSpecies.P2)
            .fma(rr, PanamaSpecies.P3).fma(rr, PanamaSpecies.P4).fma(rr, PanamaSpecies.P5)
            .fma(rr, PanamaSpecies.ONE).fma(rr, PanamaSpecies.ONE);
        FloatVector e = pp.mul(nb.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23)
            .reinterpretAsFloats()).mul(0x1p-24f)
            .blend(0f, arg.compare(VectorOperators.LT, PanamaSpecies.CUTOFF));
        se = se.add(e);
        if (keepE) {
          e.intoArray(tl.e, c * TILE + p);
        }
        if (soft) {
          FloatVector qc = FloatVector.fromMemorySegment(F, q, o, NATIVE)
              .mul((1 - eps) * wc).add(epsC * wc);
          wq = wq.add(qc);
          sx = qc.fma(v, sx);
        } else {
          VectorMask<Float> sel = tv.compare(VectorOperators.EQ, c).cast(F);
          xt = xt.blend(v, sel);
          if (w != null) {
            wt = wt.blend(wc, sel);
          }
          if (eps > 0) {
            sx = v.fma(FloatVector.broadcast(F, wc), sx);
          }
        }
      }
      se.intoArray(tl.se, p);
      sx.intoArray(tl.sx, p);
      wq.intoArray(tl.wq, p);
      xt.intoArray(tl.xt, p);
      wt.intoArray(tl.wt, p);
    }
  }

  /** Adds the float sums of the last classes into the double ones (more than FLUSH classes). */
  private static void flush(Tile tl, int len) {
    for (int p = 0; p < len; p++) {
      tl.seD[p] += tl.se[p];
      tl.sxD[p] += tl.sx[p];
      tl.wqD[p] += tl.wq[p];
    }
  }

  /**
   * Per position, vectorised: log-sum-exp, the loss (written with {@code loss}, summed in double
   * and returned) and the gradient's coefficients: {@code a = coef·K/Σ}, {@code keep} (1, or 0
   * for ignored positions) and the one-hot's {@code coef·(1−ε)·w_t}.
   */
  private static double positions(Tile tl, int len, long r, boolean soft,
      boolean wide, float eps, float epsC, float wsum, float zScale, float coef, int ignore,
      MemorySegment loss) {
    if (wide) {
      for (int p = 0; p < len; p++) {
        tl.se[p] = (float) tl.seD[p];
        tl.sx[p] = (float) tl.sxD[p];
        tl.wq[p] = (float) tl.wqD[p];
      }
    }
    DoubleVector sum = DoubleVector.zero(D);
    for (int p = 0; p < len; p += L) {
      FloatVector m = FloatVector.fromArray(F, tl.m, p);
      FloatVector se = FloatVector.fromArray(F, tl.se, p);
      FloatVector sx = FloatVector.fromArray(F, tl.sx, p);
      FloatVector logS = se.lanewise(VectorOperators.LOG);
      FloatVector value;
      FloatVector aK;
      VectorMask<Float> keep;
      if (soft) {
        FloatVector wq = FloatVector.fromArray(F, tl.wq, p);
        value = wq.mul(logS).add(wq.fma(m, sx.neg()));
        aK = wq;
        keep = F.maskAll(true);
      } else {
        FloatVector wt = FloatVector.fromArray(F, tl.wt, p);
        FloatVector lse = m.add(logS);
        FloatVector xt = FloatVector.fromArray(F, tl.xt, p);
        value = wt.mul(1 - eps).mul(m.sub(xt).add(logS)).add(lse.mul(lse).mul(zScale));
        if (eps > 0) {
          value = value.add(logS.mul(wsum).add(m.mul(wsum).sub(sx)).mul(epsC));
        }
        aK = wt.mul(1 - eps).add(epsC * wsum).add(lse.mul(2 * zScale));
        keep = IntVector.fromArray(I, tl.t, p).compare(VectorOperators.NE, ignore).cast(F);
        wt.mul(coef * (1 - eps)).blend(0f, keep.not()).intoArray(tl.hot, p);
      }
      value = value.blend(0f, keep.not());
      aK.mul(coef).div(se).blend(0f, keep.not()).intoArray(tl.a, p);
      FloatVector.zero(F).blend(1f, keep).intoArray(tl.keep, p);
      if (loss != null) {
        value.intoMemorySegment(loss, (r + p) * Float.BYTES, NATIVE);
      }
      sum = sum.add((DoubleVector) value.convertShape(VectorOperators.F2D, D, 0))
          .add((DoubleVector) value.convertShape(VectorOperators.F2D, D, 1));
    }
    return sum.reduceLanes(VectorOperators.ADD);
  }

  /**
   * The gradient of the tile: coef·(p·K − ε/C·w_c − (1−ε)·w_t·[c = t]) for class indices,
   * coef·(p·Σwq' − wq'_c) for soft targets, p = exp(x − m)/Σ (K and 1/Σ folded into {@code a});
   * ignored positions get exactly 0.
   */
  private static void gradSweep(MemorySegment x, MemorySegment q, MemorySegment grad, long xo,
      long spatial, int cls, int len, MemorySegment w, float eps, float epsC, float coef,
      boolean acc, int ignoreIndex, boolean stored, Tile tl) {
    boolean soft = q != null;
    long step = spatial * Float.BYTES;
    for (int p = 0; p < len; p += L) {
      long po = (xo + p) * Float.BYTES;
      FloatVector m = FloatVector.fromArray(F, tl.m, p);
      FloatVector av = FloatVector.fromArray(F, tl.a, p);
      FloatVector keep = FloatVector.fromArray(F, tl.keep, p);
      FloatVector hot = FloatVector.fromArray(F, tl.hot, p);
      IntVector tv = IntVector.fromArray(I, tl.t, p);
      VectorMask<Float> dropped = keep.compare(VectorOperators.EQ, 0f);
      for (int c = 0; c < cls; c++) {
        long o = po + c * step;
        float wc = w == null ? 1f : w.getAtIndex(F32, c);
        FloatVector e;
        if (stored) {
          e = FloatVector.fromArray(F, tl.e, c * TILE + p);
        } else {
          FloatVector arg = FloatVector.fromMemorySegment(F, x, o, NATIVE).sub(m);
          FloatVector nb = arg.fma(PanamaSpecies.LOG2E, PanamaSpecies.MAGIC);
          FloatVector nn = nb.sub(PanamaSpecies.MAGIC);
          FloatVector rr = nn.fma(PanamaSpecies.LN2_LO, nn.fma(PanamaSpecies.LN2_HI, arg));
          FloatVector pp = rr.fma(PanamaSpecies.P0, PanamaSpecies.P1).fma(rr, PanamaSpecies.P2)
              .fma(rr, PanamaSpecies.P3).fma(rr, PanamaSpecies.P4).fma(rr, PanamaSpecies.P5)
              .fma(rr, PanamaSpecies.ONE).fma(rr, PanamaSpecies.ONE);
          e = pp.mul(nb.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23)
              .reinterpretAsFloats()).mul(0x1p-24f)
              .blend(0f, arg.compare(VectorOperators.LT, PanamaSpecies.CUTOFF));
        }
        FloatVector g = e.mul(av);
        if (soft) {
          FloatVector qc = FloatVector.fromMemorySegment(F, q, o, NATIVE)
              .mul((1 - eps) * wc).add(epsC * wc);
          g = g.sub(qc.mul(coef).mul(keep));
        } else {
          g = g.sub(keep.mul(coef * epsC * wc))
              .sub(hot.blend(0f, tv.compare(VectorOperators.NE, c).cast(F)))
              .blend(0f, dropped); // ignored: exactly 0
        }
        if (acc) {
          g = g.add(FloatVector.fromMemorySegment(F, grad, o, NATIVE));
        }
        g.intoMemorySegment(grad, o, NATIVE);
      }
    }
  }
}
