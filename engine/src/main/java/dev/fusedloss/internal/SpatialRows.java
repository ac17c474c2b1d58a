package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.F;
import static dev.fusedloss.internal.PanamaSpecies.L;
import static dev.fusedloss.internal.PanamaSpecies.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Cross entropy with the class axis at dim 1, PyTorch's {@code [N, C, d1, …, dk]}: row {@code r =
 * n·S + s} has its C logits {@code S = d1·…·dk} floats apart. Vector lanes are positions: each
 * class is one contiguous load of L positions, so nothing is transposed. Three sweeps over the
 * classes of a block of L positions: the max; the sum of exponentials with the target logit (or,
 * for soft targets, the weighted target sums); the gradient. Per-position results (log-sum-exp,
 * loss) are formed per lane in double. The exp is written out in each loop (a helper taking a
 * vector may be compiled apart, and its vectors are then boxed).
 */
final class SpatialRows {
  private static final VectorSpecies<Integer> I =
      VectorSpecies.of(int.class, VectorShape.forBitSize(F.vectorBitSize()));
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
  /** Exponentials added in float for at most this many classes, then per lane in double. */
  private static final int FLUSH = 64;

  private SpatialRows() {}

  /** Per-thread lane buffers: the sweeps pass their per-position results through these. */
  private static final class Lanes {
    final int[] t = new int[L];
    final float[] m = new float[L];
    final float[] se = new float[L];
    final float[] sx = new float[L];
    final float[] wq = new float[L];
    final float[] xt = new float[L];
    final float[] wt = new float[L];
    final double[] seD = new double[L];
    final double[] sxD = new double[L];
    final double[] wqD = new double[L];
    final float[] a = new float[L];
    final float[] b = new float[L];
    final float[] oneHot = new float[L];
  }

  private static final ThreadLocal<Lanes> LANES = ThreadLocal.withInitial(Lanes::new);

  /**
   * Rows [r0, r1) of {@code x [N, C, S]}: class-index targets ({@code q == null}, options as
   * {@link SoftmaxKernels#crossEntropy} without soft cap) or soft targets {@code q [N, C, S]}.
   * Each sweep is its own small method (one vector loop each: they compile at every JIT tier,
   * and no vector crosses a call; per-position values go through the lane arrays).
   */
  static double crossEntropy(MemorySegment x, MemorySegment targets, MemorySegment q, int cls,
      long spatial, long r0, long r1, MemorySegment loss, MemorySegment grad, float coef,
      boolean acc, float zScale, SoftmaxKernels.CrossEntropy opt) {
    Lanes ln = LANES.get();
    boolean soft = q != null;
    double eps = opt.smoothing();
    double epsC = eps / cls;
    MemorySegment w = opt.weight();
    double wsum = w == null ? cls : opt.weightSum();
    double total = 0;
    long r = r0;
    while (r < r1) {
      long n = r / spatial;
      long segEnd = Math.min(r1, (n + 1) * spatial);
      long base = n * cls * spatial;
      for (int lanes; r < segEnd; r += lanes) {
        lanes = (int) Math.min(L, segEnd - r);
        long xo = base + (r - n * spatial);
        for (int l = 0; l < L; l++) {
          ln.t[l] = soft ? 0 : l < lanes ? RowArgs.target(targets, r + l, opt.int64())
              : opt.ignoreIndex();
        }
        maxSweep(x, xo, spatial, cls, lanes, ln);
        sumSweep(x, q, xo, spatial, cls, lanes, w, (float) eps, (float) epsC, ln);
        // per position, in double
        for (int l = 0; l < lanes; l++) {
          boolean keep = soft || ln.t[l] != opt.ignoreIndex();
          double ml = ln.m[l];
          double logS = Math.log(ln.seD[l]);
          double lse = ml + logS;
          double value;
          double aK;
          if (!keep) {
            value = 0;
            aK = 0;
          } else if (soft) {
            value = ln.wqD[l] * logS + (ln.wqD[l] * ml - ln.sxD[l]);
            aK = ln.wqD[l];
          } else {
            double wtl = ln.wt[l];
            value = (1 - eps) * wtl * ((ml - ln.xt[l]) + logS) + zScale * lse * lse;
            if (eps > 0) {
              value += epsC * (wsum * logS + (wsum * ml - ln.sxD[l]));
            }
            aK = (1 - eps) * wtl + epsC * wsum + 2 * zScale * lse;
          }
          if (loss != null) {
            loss.setAtIndex(F32, r + l, (float) value);
          }
          total += (float) value;
          ln.a[l] = (float) (coef * aK / ln.seD[l]);
          ln.b[l] = keep ? 1f : 0f;
          ln.oneHot[l] = soft || !keep ? 0f : (float) (coef * (1 - eps) * ln.wt[l]);
        }
        if (grad != null) {
          for (int l = lanes; l < L; l++) {
            ln.a[l] = 0f;
            ln.b[l] = 0f;
            ln.oneHot[l] = 0f;
          }
          gradSweep(x, q, grad, xo, spatial, cls, lanes, w, (float) eps, (float) epsC, coef,
              acc, opt.ignoreIndex(), ln);
        }
      }
    }
    return total;
  }

  /** The max over the classes of L positions, into {@code ln.m}. */
  private static void maxSweep(MemorySegment x, long xo, long spatial, int cls, int lanes,
      Lanes ln) {
    VectorMask<Float> mask = F.indexInRange(0, lanes);
    FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    for (int c = 0; c < cls; c++) {
      m = m.lanewise(VectorOperators.MAX, FloatVector.fromMemorySegment(F, x,
          (xo + c * spatial) * Float.BYTES, NATIVE, mask));
    }
    m.intoArray(ln.m, 0);
  }

  /**
   * Σ exp(x − m) (float per 64 classes, then per lane in double), and the target logit and
   * weight (class indices) or the soft-target sums Σ w·q' and Σ w·q'·x; for smoothing Σ w·x.
   */
  private static void sumSweep(MemorySegment x, MemorySegment q, long xo, long spatial,
      int cls, int lanes, MemorySegment w, float eps, float epsC, Lanes ln) {
    boolean soft = q != null;
    VectorMask<Float> mask = F.indexInRange(0, lanes);
    FloatVector m = FloatVector.fromArray(F, ln.m, 0);
    IntVector tv = IntVector.fromArray(I, ln.t, 0);
    java.util.Arrays.fill(ln.seD, 0);
    java.util.Arrays.fill(ln.sxD, 0);
    java.util.Arrays.fill(ln.wqD, 0);
    FloatVector seF = FloatVector.zero(F);
    FloatVector sxF = FloatVector.zero(F);
    FloatVector wqF = FloatVector.zero(F);
    FloatVector xt = FloatVector.zero(F);
    FloatVector wt = FloatVector.broadcast(F, 1f);
    for (int c = 0; c < cls; c++) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (xo + c * spatial) * Float.BYTES,
          NATIVE, mask);
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
      seF = seF.add(e);
      float wc = w == null ? 1f : w.getAtIndex(F32, c);
      if (soft) {
        FloatVector qc = FloatVector.fromMemorySegment(F, q, (xo + c * spatial) * Float.BYTES,
            NATIVE, mask).mul((1 - eps) * wc).add(epsC * wc);
        wqF = wqF.add(qc);
        sxF = qc.fma(v, sxF);
      } else {
        VectorMask<Float> sel = tv.compare(VectorOperators.EQ, c).cast(F);
        xt = xt.blend(v, sel);
        if (w != null) {
          wt = wt.blend(wc, sel);
        }
        if (eps > 0) {
          sxF = v.fma(FloatVector.broadcast(F, wc), sxF);
        }
      }
      if ((c + 1) % FLUSH == 0 || c == cls - 1) {
        seF.intoArray(ln.se, 0);
        sxF.intoArray(ln.sx, 0);
        wqF.intoArray(ln.wq, 0);
        for (int l = 0; l < lanes; l++) {
          ln.seD[l] += ln.se[l];
          ln.sxD[l] += ln.sx[l];
          ln.wqD[l] += ln.wq[l];
        }
        seF = FloatVector.zero(F);
        sxF = FloatVector.zero(F);
        wqF = FloatVector.zero(F);
      }
    }
    xt.intoArray(ln.xt, 0);
    wt.intoArray(ln.wt, 0);
  }

  /**
   * The gradient of L positions: coef·(p·K − ε/C·w_c − (1−ε)·w_t·[c = t]) for class indices,
   * coef·(p·Σwq' − wq'_c) for soft targets, p = exp(x − m)/Σ (K and 1/Σ folded into ln.a).
   */
  private static void gradSweep(MemorySegment x, MemorySegment q, MemorySegment grad, long xo,
      long spatial, int cls, int lanes, MemorySegment w, float eps, float epsC, float coef,
      boolean acc, int ignoreIndex, Lanes ln) {
    boolean soft = q != null;
    VectorMask<Float> mask = F.indexInRange(0, lanes);
    FloatVector m = FloatVector.fromArray(F, ln.m, 0);
    FloatVector av = FloatVector.fromArray(F, ln.a, 0);
    FloatVector keepV = FloatVector.fromArray(F, ln.b, 0);
    FloatVector hot = FloatVector.fromArray(F, ln.oneHot, 0);
    IntVector tv = IntVector.fromArray(I, ln.t, 0);
    VectorMask<Float> dropped = soft ? mask.not()
        : tv.compare(VectorOperators.EQ, ignoreIndex).cast(F);
    for (int c = 0; c < cls; c++) {
      long o = (xo + c * spatial) * Float.BYTES;
      FloatVector v = FloatVector.fromMemorySegment(F, x, o, NATIVE, mask);
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
      float wc = w == null ? 1f : w.getAtIndex(F32, c);
      FloatVector g;
      if (soft) {
        FloatVector qc = FloatVector.fromMemorySegment(F, q, o, NATIVE, mask)
            .mul((1 - eps) * wc).add(epsC * wc);
        g = e.mul(av).sub(qc.mul(coef).mul(keepV));
      } else {
        g = e.mul(av).sub(keepV.mul(coef * epsC * wc))
            .sub(hot.blend(0f, tv.compare(VectorOperators.NE, c).cast(F)))
            .blend(0f, dropped); // ignored positions: exactly 0, as the row kernels
      }
      if (acc) {
        g = g.add(FloatVector.fromMemorySegment(F, grad, o, NATIVE, mask));
      }
      g.intoMemorySegment(grad, o, NATIVE, mask);
    }
  }
}
