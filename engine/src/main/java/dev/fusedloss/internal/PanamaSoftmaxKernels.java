package dev.fusedloss.internal;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.F2D;
import static jdk.incubator.vector.VectorOperators.LOG;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.NE;
import static jdk.incubator.vector.VectorOperators.MAX;
import static jdk.incubator.vector.VectorOperators.TANH;
import static dev.fusedloss.internal.PanamaExp.expNonPositive;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API row kernels. A row is swept while it sits in cache: (1) its maximum, (2) Σ exp(x −
 * max) and (3) the gradient. When the gradient overwrites its buffer and no soft cap is set, the
 * row is first copied into its gradient row in bulk and all three sweeps run there in place, (2)
 * storing each exp(x − max) for (3) to scale (one exp per element in all): C2 compiles a loop
 * that loads and stores one segment much better than one that stores into a second segment
 * (see {@link #rowSumExpInPlace}). Otherwise (3) recomputes the exponentials. Row tails
 * narrower than a vector use masked loads and stores.
 *
 * <p>Each sweep is its own small method taking and returning scalars, so no vector value
 * crosses a call and C2 compiles each loop fully inlined (see {@link PanamaElementwiseKernels}).
 */
final class PanamaSoftmaxKernels implements SoftmaxKernels {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  static final VectorSpecies<Double> D =
      VectorSpecies.of(double.class, VectorShape.forBitSize(F.vectorBitSize()));
  static final int L = F.length();
  static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  static final float NEG_INF = Float.NEGATIVE_INFINITY;

  // ---- sweeps over one row: `base` is the row's first element index -------------------------

  /**
   * max_c x_c (NaN if any x_c is NaN). Four independent accumulators: a MAX with Java's NaN
   * semantics is several dependent instructions, and one accumulator made this sweep
   * latency-bound at ~13 cycles per vector.
   */
  static float rowMax(MemorySegment x, long base, int classes) {
    FloatVector m = FloatVector.broadcast(F, NEG_INF);
    FloatVector m1 = m;
    FloatVector m2 = m;
    FloatVector m3 = m;
    int c = 0;
    for (int bound4 = classes - 4 * L + 1; c < bound4; c += 4 * L) {
      long off = (base + c) * 4;
      m = m.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off, NATIVE));
      m1 = m1.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off + 4L * L, NATIVE));
      m2 = m2.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off + 8L * L, NATIVE));
      m3 = m3.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off + 12L * L, NATIVE));
    }
    m = m.lanewise(MAX, m1).lanewise(MAX, m2.lanewise(MAX, m3));
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      m = m.lanewise(MAX, FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE));
    }
    if (c < classes) {
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE, k);
      m = m.lanewise(MAX, v.blend(NEG_INF, k.not()));
    }
    return m.reduceLanes(MAX);
  }

  // ---- overlapping tails: for rows of at least L classes that are not a multiple of L, the
  // last L elements are handled as one full vector overlapping the previous one, instead of a
  // masked load and store (a masked store is microcoded on AMD: ~35 ns a row at 10 classes).
  // Inputs of the tail are loaded before the main loop, so in-place rows read original values;
  // overlapped lanes are stored twice with the same value and counted once in sums.

  /** Whether {@code classes} takes the overlapping-tail sweeps. */
  static boolean overlapTail(int classes) {
    return classes > L && classes % L != 0;
  }

  /** {@link #gradFromStored} with an overlapping tail; requires {@link #overlapTail}. */
  static void gradFromStoredOverlap(MemorySegment grad, long base, int classes, float a, float b) {
    long tailOff = (base + classes - L) * 4;
    FloatVector tail = FloatVector.fromMemorySegment(F, grad, tailOff, NATIVE).mul(a).sub(b);
    for (int c = 0, bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(a).sub(b)
          .intoMemorySegment(grad, off, NATIVE);
    }
    tail.intoMemorySegment(grad, tailOff, NATIVE);
  }

  /** max_c cap·tanh(x_c/cap). */
  static float rowMaxCapped(MemorySegment x, long base, int classes, float cap) {
    float inv = 1f / cap;
    FloatVector m = FloatVector.broadcast(F, NEG_INF);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE);
      m = m.lanewise(MAX, v.mul(inv).lanewise(TANH).mul(cap));
    }
    if (c < classes) {
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE, k);
      m = m.lanewise(MAX, v.mul(inv).lanewise(TANH).mul(cap).blend(NEG_INF, k.not()));
    }
    return m.reduceLanes(MAX);
  }

  /** Σ_c exp(scale·x_c − m). */
  static float rowSumExp(MemorySegment x, long base, int classes, float scale, float m) {
    FloatVector s = FloatVector.zero(F);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE);
      s = s.add(expNonPositive(v.mul(scale).sub(m)));
    }
    if (c < classes) {
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE, k);
      s = s.add(expNonPositive(v.mul(scale).sub(m)), k);
    }
    return s.reduceLanes(ADD);
  }

  /**
   * Σ_c exp(g_c − m), replacing each g_c by exp(g_c − m). One segment for the vector loads and
   * stores: C2 then hoists the segment's checks out of the loop, which it does not when a loop
   * stores into one segment and loads from another (measured: a 32K exp loop ran 2× slower).
   * The loop also reads one float per vector of the row at {@code ahead} of {@code x} and of
   * {@code g} — the next row to sweep — so their memory traffic starts while this row computes
   * (measured ≈ 8 % faster at 4096×32000); scalar reads, as vector loads from {@code x} brought
   * back the slow two-segment loop (246 against 150 ms).
   */
  static float rowSumExpInPlace(MemorySegment g, long base, int classes, float m,
      MemorySegment x, long ahead) {
    FloatVector s = FloatVector.zero(F);
    int touched = 0;
    boolean tail = overlapTail(classes);
    long tailOff = (base + classes - L) * 4;
    // the overlapping tail is read before the main loop overwrites part of it
    FloatVector tx = tail ? FloatVector.fromMemorySegment(F, g, tailOff, NATIVE) : s;
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      long aoff = (ahead + c) * 4;
      touched += Float.floatToRawIntBits(x.get(JAVA_FLOAT_UNALIGNED, aoff))
          ^ Float.floatToRawIntBits(g.get(JAVA_FLOAT_UNALIGNED, aoff));
      FloatVector e = expNonPositive(FloatVector.fromMemorySegment(F, g, off, NATIVE).sub(m));
      e.intoMemorySegment(g, off, NATIVE);
      s = s.add(e);
    }
    if (touched == 0x7fc0_0001) { // keeps the reads; no sum of float bits is ever tested
      s = s.add(0f);
    }
    if (tail) {
      FloatVector te = expNonPositive(tx.sub(m));
      te.intoMemorySegment(g, tailOff, NATIVE);
      s = s.add(te, F.indexInRange(classes - L - c, L));
    } else if (c < classes) {
      long off = (base + c) * 4;
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector e = expNonPositive(FloatVector.fromMemorySegment(F, g, off, NATIVE, k).sub(m));
      e.intoMemorySegment(g, off, NATIVE, k);
      s = s.add(e, k);
    }
    return s.reduceLanes(ADD);
  }

  /** Σ_c cap·tanh(x_c/cap) − m, exponentiated and summed. */
  static float rowSumExpCapped(MemorySegment x, long base, int classes, float cap, float m) {
    float inv = 1f / cap;
    FloatVector s = FloatVector.zero(F);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE);
      s = s.add(expNonPositive(v.mul(inv).lanewise(TANH).mul(cap).sub(m)));
    }
    if (c < classes) {
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE, k);
      s = s.add(expNonPositive(v.mul(inv).lanewise(TANH).mul(cap).sub(m)), k);
    }
    return s.reduceLanes(ADD);
  }

  /** Σ_c w_c·x'_c in double (w null: ones; cap 0: no soft cap). */
  static double rowWeightedSum(MemorySegment x, MemorySegment w, long base, int classes, float cap) {
    double s = 0;
    for (int c = 0; c < classes; c++) {
      double v = x.get(JAVA_FLOAT_UNALIGNED, (base + c) * 4);
      if (cap > 0) {
        v = cap * Math.tanh(v / cap);
      }
      s += (w == null ? 1 : w.get(JAVA_FLOAT_UNALIGNED, c * 4L)) * v;
    }
    return s;
  }

  /** Σ_c w_c·x_c in double with vectors (no soft cap). */
  static double rowDot(MemorySegment x, MemorySegment w, long base, int classes) {
    DoubleVector s = DoubleVector.zero(D);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE);
      FloatVector wv = FloatVector.fromMemorySegment(F, w, c * 4L, NATIVE);
      // widen before multiplying: w·x of a ±3e38 logit must not overflow float
      s = s.add(((DoubleVector) v.convertShape(F2D, D, 0)).mul((DoubleVector) wv.convertShape(F2D, D, 0)))
          .add(((DoubleVector) v.convertShape(F2D, D, 1)).mul((DoubleVector) wv.convertShape(F2D, D, 1)));
    }
    double tail = 0;
    for (; c < classes; c++) {
      tail += (double) x.get(JAVA_FLOAT_UNALIGNED, (base + c) * 4) * w.get(JAVA_FLOAT_UNALIGNED, c * 4L);
    }
    return s.reduceLanes(ADD) + tail;
  }

  /** Σ_c x_c in double with vectors. */
  static double rowSum(MemorySegment x, long base, int classes) {
    DoubleVector s = DoubleVector.zero(D);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * 4, NATIVE);
      s = s.add((DoubleVector) v.convertShape(F2D, D, 0)).add((DoubleVector) v.convertShape(F2D, D, 1));
    }
    double tail = 0;
    for (; c < classes; c++) {
      tail += x.get(JAVA_FLOAT_UNALIGNED, (base + c) * 4);
    }
    return s.reduceLanes(ADD) + tail;
  }

  /** grad_c = e_c·a − b (e_c stored in grad by rowSumExpStore). */
  static void gradFromStored(MemorySegment grad, long base, int classes, float a, float b) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(a).sub(b)
          .intoMemorySegment(grad, off, NATIVE);
    }
    if (c < classes) {
      long off = (base + c) * 4;
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector.fromMemorySegment(F, grad, off, NATIVE, k).mul(a).sub(b)
          .intoMemorySegment(grad, off, NATIVE, k);
    }
  }

  /** grad_c = e_c·a − b·w_c (e_c stored in grad). */
  static void gradFromStoredWeighted(MemorySegment grad, MemorySegment w, long base, int classes,
      float a, float b) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector wv = FloatVector.fromMemorySegment(F, w, c * 4L, NATIVE);
      FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(a).sub(wv.mul(b))
          .intoMemorySegment(grad, off, NATIVE);
    }
    if (c < classes) {
      long off = (base + c) * 4;
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector wv = FloatVector.fromMemorySegment(F, w, c * 4L, NATIVE, k);
      FloatVector.fromMemorySegment(F, grad, off, NATIVE, k).mul(a).sub(wv.mul(b))
          .intoMemorySegment(grad, off, NATIVE, k);
    }
  }

  /**
   * grad_c (+)= exp(x_c − shift)·a − b: the general path (accumulation, or in place). Callers
   * pass shift = row max and a already divided by Σexp, so huge logits keep p exact.
   */
  static void gradRecompute(MemorySegment x, long base, int classes, float shift, float a, float b,
      MemorySegment grad, boolean acc) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector g = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift))
          .mul(a).sub(b);
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    for (; c < classes; c++) {
      gradScalar(x, null, base, c, 0f, shift, a, b, grad, acc);
    }
  }

  /** grad_c (+)= exp(x_c − shift)·a − b·w_c. */
  static void gradRecomputeWeighted(MemorySegment x, MemorySegment w, long base, int classes,
      float shift, float a, float b, MemorySegment grad, boolean acc) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector wv = FloatVector.fromMemorySegment(F, w, c * 4L, NATIVE);
      FloatVector g = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift))
          .mul(a).sub(wv.mul(b));
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    for (; c < classes; c++) {
      gradScalar(x, w, base, c, 0f, shift, a, b, grad, acc);
    }
  }

  /**
   * Soft-capped logits x'_c = cap·tanh(x_c/cap): grad_c (+)= (exp(x'_c − lse)·a − b)·(1 −
   * tanh²(x_c/cap)), the chain rule of the cap (x'_c − shift replaces x_c − shift).
   */
  static void gradRecomputeCapped(MemorySegment x, long base, int classes, float cap, float shift,
      float a, float b, MemorySegment grad, boolean acc) {
    float inv = 1f / cap;
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector th = FloatVector.fromMemorySegment(F, x, off, NATIVE).mul(inv).lanewise(TANH);
      FloatVector g = expNonPositive(th.mul(cap).sub(shift)).mul(a).sub(b)
          .mul(th.mul(th).neg().add(1f));
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    for (; c < classes; c++) {
      gradScalar(x, null, base, c, cap, shift, a, b, grad, acc);
    }
  }

  /** One element of the gradient in double; w may be null, cap 0 means no soft cap. */
  static void gradScalar(MemorySegment x, MemorySegment w, long base, long c, float cap, float shift,
      float a, float b, MemorySegment grad, boolean acc) {
    long off = (base + c) * 4;
    double v = x.get(JAVA_FLOAT_UNALIGNED, off);
    double th = cap > 0 ? Math.tanh(v / cap) : 0;
    double xc = cap > 0 ? cap * th : v;
    double wc = w == null ? 1 : w.get(JAVA_FLOAT_UNALIGNED, c * 4L);
    float gv = (float) ((Math.exp(xc - shift) * a - b * wc) * (cap > 0 ? 1 - th * th : 1));
    if (acc) {
      gv += grad.get(JAVA_FLOAT_UNALIGNED, off);
    }
    grad.set(JAVA_FLOAT_UNALIGNED, off, gv);
  }

  static void zeroRow(MemorySegment grad, long base, int classes) {
    FloatVector z = FloatVector.zero(F);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      z.intoMemorySegment(grad, (base + c) * 4, NATIVE);
    }
    for (; c < classes; c++) {
      grad.set(JAVA_FLOAT_UNALIGNED, (base + c) * 4, 0f);
    }
  }

  /** An ignored row: loss 0 and a zero gradient row (left as it is when accumulating). */
  static void ignoredRow(MemorySegment loss, MemorySegment grad, long r, long base, int cls,
      boolean acc) {
    if (loss != null) {
      loss.set(JAVA_FLOAT_UNALIGNED, r * 4, 0f);
    }
    if (grad != null && !acc) {
      zeroRow(grad, base, cls);
    }
  }

  static void addAt(MemorySegment grad, long i, double v) {
    long off = i * 4;
    grad.set(JAVA_FLOAT_UNALIGNED, off, (float) (grad.get(JAVA_FLOAT_UNALIGNED, off) + v));
  }

  static float at(MemorySegment s, long i) {
    return s.get(JAVA_FLOAT_UNALIGNED, i * 4);
  }

  static int target(MemorySegment t, long r) {
    return t.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, r * 4);
  }

  // ---- losses ---------------------------------------------------------------------------------

  @Override
  public double crossEntropy(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float zScale, CrossEntropy opt) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    double total = 0;
    float cap = opt.softcap();
    double eps = opt.smoothing();
    double epsC = eps / classes;
    double wsum = opt.weight() == null ? classes : opt.weightSum();
    MemorySegment w = opt.weight();
    boolean store = grad != null && !acc && cap == 0;
    if (cap == 0 && !acc && w == null && eps == 0 && zScale == 0 && classes <= SMALL_C) {
      // few classes: pairs of blocks of L rows, one row per lane (see crossEntropySmall). The
      // last rows (fewer than 2L) go to the scalar kernel: the per-row vector sweeps would run
      // only there, too rarely to be compiled, and interpreted vector code boxes (~2 KB a row).
      long pairs = (r1 - r0) / (2 * L);
      total += crossEntropySmall(x, targets, stride, cls, r0, pairs, loss, grad, coef,
          opt.ignoreIndex());
      long rest = r0 + pairs * 2 * L;
      return total + ScalarSoftmaxKernels.INSTANCE.crossEntropy(x, targets, stride, classes, rest,
          r1, loss, grad, coef, acc, zScale, opt);
    }
    if (store && w == null && eps == 0 && cls >= 2 * TILE) {
      return crossEntropyTiled(x, targets, stride, cls, r0, r1, loss, grad, coef, zScale,
          opt.ignoreIndex());
    }
    boolean tail = overlapTail(cls);
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = target(targets, r);
      if (t == opt.ignoreIndex()) {
        ignoredRow(loss, grad, r, base, cls, acc);
        continue;
      }
      double xt = at(x, base + t);
      if (cap > 0) { // the vector tanh, as in the sweeps: the row max must not differ by an ulp
        xt = FloatVector.broadcast(F, (float) xt).mul(1f / cap).lanewise(TANH).mul(cap).lane(0);
      }
      double sumWx = 0;
      if (eps > 0) { // read before the row may be overwritten in place
        sumWx = cap > 0 ? rowWeightedSum(x, w, base, cls, cap)
            : w == null ? rowSum(x, base, cls) : rowDot(x, w, base, cls);
      }
      if (store && x != grad) {
        // the row is copied into its gradient row and swept there in place: loops that load
        // and store one segment run twice as fast as loops across two (rowSumExpInPlace)
        MemorySegment.copy(x, base * 4, grad, base * 4, classes * 4);
      }
      float m = cap > 0 ? rowMaxCapped(x, base, cls, cap)
          : store ? rowMax(grad, base, cls) : rowMax(x, base, cls);
      float s;
      if (cap > 0) {
        s = rowSumExpCapped(x, base, cls, cap, m);
      } else if (store) {
        s = rowSumExpInPlace(grad, base, cls, m, x, r + 1 < r1 ? base + stride : base);
      } else {
        s = rowSumExp(x, base, cls, 1f, m);
      }
      double logS = Math.log(s);
      double lse = m + logS;
      double wt = w == null ? 1 : at(w, t);
      // (m − x_t) + log S, not lse − x_t: at |x| ~ 3e38 lse has lost log S to rounding
      double l = (1 - eps) * wt * ((m - xt) + logS) + zScale * lse * lse;
      if (eps > 0) {
        l += epsC * (wsum * logS + (wsum * m - sumWx)); // Σ w(m − x) first, as above
      }
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * 4, (float) l);
      }
      total += (float) l;
      if (grad == null) {
        continue;
      }
      double a = ((1 - eps) * wt + epsC * wsum + 2 * zScale * lse) * coef;
      float b = (float) (epsC * coef);
      if (store) {
        float as = (float) (a / s);
        if (tail && (w == null || b == 0)) {
          gradFromStoredOverlap(grad, base, cls, as, b);
        } else if (w == null || b == 0) {
          gradFromStored(grad, base, cls, as, b);
        } else {
          gradFromStoredWeighted(grad, w, base, cls, as, b);
        }
      } else if (cap == 0) {
        if (w == null || b == 0) {
          gradRecompute(x, base, cls, m, (float) (a / s), b, grad, acc);
        } else {
          gradRecomputeWeighted(x, w, base, cls, m, (float) (a / s), b, grad, acc);
        }
      } else if (w == null || b == 0) {
        gradRecomputeCapped(x, base, cls, cap, m, (float) (a / s), b, grad, acc);
      } else {
        // soft cap with class weights and smoothing: a rare combination, done element by element
        for (int c = 0; c < classes; c++) {
          gradScalar(x, w, base, c, cap, m, (float) (a / s), b, grad, acc);
        }
      }
      double chainT = 1;
      if (cap > 0) {
        double th = xt / cap;
        chainT = 1 - th * th;
      }
      addAt(grad, base + t, -(1 - eps) * wt * coef * chainT);
    }
    return total;
  }

  /** Classes per tile of {@link #crossEntropyTiled}: a logits tile and its gradient fit L1. */
  static final int TILE = 2048;

  /** Per-thread tile maxima and sums of {@link #crossEntropyTiled}; grows with the row. */
  static final class TileScratch {
    float[] max = new float[64];
    double[] sum = new double[64];
    /** The row maximum left by {@link #tileSweeps}. */
    float m;

    void atLeast(int tiles) {
      if (max.length < tiles) {
        max = new float[tiles];
        sum = new double[tiles];
      }
    }
  }

  static final ThreadLocal<TileScratch> TILES = ThreadLocal.withInitial(TileScratch::new);

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
      int ignore) {
    TileScratch ts = TILES.get();
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = target(targets, r);
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
        loss.set(JAVA_FLOAT_UNALIGNED, r * 4, (float) l);
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
      TileScratch ts) {
    int tiles = (cls + TILE - 1) / TILE;
    ts.atLeast(tiles);
    float m = NEG_INF;
    for (int k = 0; k < tiles; k++) {
      int off = k * TILE;
      int len = Math.min(TILE, cls - off);
      if (x != grad) {
        MemorySegment.copy(x, (base + off) * 4, grad, (base + off) * 4, len * 4L);
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
  static void tileScale(MemorySegment grad, long base, int cls, double a, TileScratch ts) {
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

  /** Rows of at most this many classes take the row-per-lane path of plain cross entropy. */
  static final int SMALL_C = 32;

  /**
   * Per-thread scratch of the row-per-lane path, for two blocks of L rows (2L packed rows):
   * nothing allocated after a thread's first call.
   */
  static final class Scratch {
    final float[] columns = new float[2 * SMALL_C * L];
    final float[] rows = new float[2 * SMALL_C * L];
    final float[] targetLogit = new float[2 * L];
    final float[] ignored = new float[2 * L];
    final float[] max = new float[2 * L];
    final float[] scale = new float[2 * L];
    final float[] sum = new float[2 * L];
    final int[] target = new int[2 * L];
  }

  static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /** GATHER[c][i] = i·c: lane i of a gather at column offset k reads element k of packed row i. */
  static final int[][] GATHER = new int[SMALL_C + 1][];
  /**
   * ROW_OF[c][j·L + l] = (j·L + l) / c: the row of lane l of packed vector j, so a vector holding
   * one value per row (lane = row) spreads over the packed layout with one rearrange.
   */
  @SuppressWarnings("unchecked")
  static final VectorShuffle<Float>[][] ROW_OF = new VectorShuffle[SMALL_C + 1][];

  /**
   * UNGATHER[c][j·L + l] = (p mod c)·L + p / c with p = j·L + l: where the column layout holds
   * lane l of packed vector j, so a gather with it turns columns back into packed rows.
   */
  static final int[][] UNGATHER = new int[SMALL_C + 1][];

  static {
    for (int c = 1; c <= SMALL_C; c++) {
      UNGATHER[c] = new int[c * L];
      for (int p = 0; p < c * L; p++) {
        UNGATHER[c][p] = (p % c) * L + p / c;
      }
      GATHER[c] = new int[L];
      for (int i = 0; i < L; i++) {
        GATHER[c][i] = i * c;
      }
      ROW_OF[c] = new VectorShuffle[c];
      int[] row = new int[L];
      for (int j = 0; j < c; j++) {
        for (int l = 0; l < L; l++) {
          row[l] = (j * L + l) / c;
        }
        ROW_OF[c][j] = VectorShuffle.fromArray(F, row, 0);
      }
    }
  }

  /** Copies 2L rows from {@code rb} into a packed row-major array (one bulk copy if unpadded). */
  static void copyIn(MemorySegment x, long rb, long stride, int cls, float[] rows) {
    if (stride == cls) {
      MemorySegment.copy(x, JAVA_FLOAT_UNALIGNED, rb * stride * 4, rows, 0, 2 * L * cls);
      return;
    }
    for (int i = 0; i < 2 * L; i++) {
      MemorySegment.copy(x, JAVA_FLOAT_UNALIGNED, (rb + i) * stride * 4, rows, i * cls, cls);
    }
  }

  /** The inverse of {@link #copyIn}: packed rows back to the strided layout. */
  static void copyOut(float[] rows, MemorySegment out, long rb, long stride, int cls) {
    if (stride == cls) {
      MemorySegment.copy(rows, 0, out, JAVA_FLOAT_UNALIGNED, rb * stride * 4, 2 * L * cls);
      return;
    }
    for (int i = 0; i < 2 * L; i++) {
      MemorySegment.copy(rows, i * cls, out, JAVA_FLOAT_UNALIGNED, (rb + i) * stride * 4, cls);
    }
  }

  /**
   * The gradient of a block pair in its packed rows: exp(x − m)·coef/S, then −coef at each
   * target (ignored rows: exactly 0, even where the row holds NaN or ∞). The exponentials are
   * the ones {@link #pairSumExp} summed, gathered back from the column layout (a gather costs
   * less than recomputing an exp); each row's coef/S ({@code scale[b·L]} for block b) reaches
   * its lanes with one rearrange. Block b's vector j goes to {@code rows[b·cls·L + j·L]}.
   */
  static void smallGrad(Scratch sc, int cls, float coef, int ignore) {
    float[] rows = sc.rows;
    VectorShuffle<Float>[] rowOf = ROW_OF[cls];
    int n = cls * L;
    int[] back = UNGATHER[cls];
    float[] col = sc.columns;
    FloatVector k = FloatVector.fromArray(F, sc.scale, 0);
    FloatVector k1 = FloatVector.fromArray(F, sc.scale, L);
    for (int j = 0; j < cls; j++) {
      VectorShuffle<Float> row = rowOf[j];
      FloatVector e = FloatVector.fromArray(F, col, 0, back, j * L);
      FloatVector e1 = FloatVector.fromArray(F, col, n, back, j * L);
      e.mul(k.rearrange(row)).intoArray(rows, j * L);
      e1.mul(k1.rearrange(row)).intoArray(rows, n + j * L);
    }
    for (int i = 0; i < 2 * L; i++) {
      if (sc.target[i] != ignore) {
        rows[i * cls + sc.target[i]] -= coef;
      } else {
        java.util.Arrays.fill(rows, i * cls, (i + 1) * cls, 0f);
      }
    }
  }

  /**
   * Σ_c exp(col − m) of both blocks of a pair, from the gathered columns and the maxima in
   * {@code sc.max}, into {@code sc.sum}; each exp(col − m) replaces its column for
   * {@link #smallGrad}. The two exponentials are written out by hand (see
   * {@link PanamaExp}): with two calls in this loop C2 inlined only the first, and the second
   * boxed its vectors (1.3 KB a pair).
   */
  static void pairSumExp(Scratch sc, int cls) {
    float[] col = sc.columns;
    int n = cls * L;
    FloatVector m = FloatVector.fromArray(F, sc.max, 0);
    FloatVector m1 = FloatVector.fromArray(F, sc.max, L);
    FloatVector s = FloatVector.zero(F);
    FloatVector s1 = s;
    for (int c = 0; c < cls; c++) {
      FloatVector v = FloatVector.fromArray(F, col, c * L).sub(m);
      FloatVector v1 = FloatVector.fromArray(F, col, n + c * L).sub(m1);
      FloatVector nb = v.fma(PanamaExp.LOG2E, PanamaExp.MAGIC);
      FloatVector nb1 = v1.fma(PanamaExp.LOG2E, PanamaExp.MAGIC);
      FloatVector k = nb.sub(PanamaExp.MAGIC);
      FloatVector k1 = nb1.sub(PanamaExp.MAGIC);
      FloatVector r = k.fma(PanamaExp.LN2_LO, k.fma(PanamaExp.LN2_HI, v));
      FloatVector r1 = k1.fma(PanamaExp.LN2_LO, k1.fma(PanamaExp.LN2_HI, v1));
      FloatVector p = r.fma(PanamaExp.P0, PanamaExp.P1).fma(r, PanamaExp.P2).fma(r, PanamaExp.P3)
          .fma(r, PanamaExp.P4).fma(r, PanamaExp.P5).fma(r, PanamaExp.ONE).fma(r, PanamaExp.ONE);
      FloatVector p1 = r1.fma(PanamaExp.P0, PanamaExp.P1).fma(r1, PanamaExp.P2)
          .fma(r1, PanamaExp.P3).fma(r1, PanamaExp.P4).fma(r1, PanamaExp.P5)
          .fma(r1, PanamaExp.ONE).fma(r1, PanamaExp.ONE);
      FloatVector sc0 = nb.reinterpretAsInts().lanewise(LSHL, 23).reinterpretAsFloats();
      FloatVector sc1 = nb1.reinterpretAsInts().lanewise(LSHL, 23).reinterpretAsFloats();
      FloatVector e = p.mul(sc0).mul(0x1p-24f).blend(0f, v.compare(LT, PanamaExp.CUTOFF));
      FloatVector e1 = p1.mul(sc1).mul(0x1p-24f).blend(0f, v1.compare(LT, PanamaExp.CUTOFF));
      e.intoArray(col, c * L);
      e1.intoArray(col, n + c * L);
      s = s.add(e);
      s1 = s1.add(e1);
    }
    s.intoArray(sc.sum, 0);
    s1.intoArray(sc.sum, L);
  }

  /**
   * Plain cross entropy (no weight, smoothing, z-loss, soft cap or accumulation) of rows with
   * at most {@link #SMALL_C} classes: {@code pairs} pairs of blocks of L rows from {@code r0}.
   * A pair is bulk-copied into a per-thread packed scratch (2L rows of {@code cls} floats:
   * block b's rows are exactly {@code cls} vectors from {@code b·cls·L}). Gathers read each block
   * column by column, one row per lane, so the max, Σexp, log and loss of L rows are one vector
   * op each instead of two horizontal reductions and a scalar log per row. The gradient
   * {@code exp(x − m)·coef/S − coef·[c = t]} is then formed in the packed layout from the
   * summed exponentials, gathered back (see {@link #smallGrad}). Two blocks go through each
   * loop side by side: one block's steps are chains of dependent operations (gather, max, exp,
   * sum, log), and a second independent one fills the wait.
   */
  static double crossEntropySmall(MemorySegment x, MemorySegment targets, long stride, int cls,
      long r0, long pairs, MemorySegment loss, MemorySegment grad, float coef, int ignore) {
    Scratch sc = SCRATCH.get();
    float[] col = sc.columns;
    float[] rows = sc.rows;
    int[] gather = GATHER[cls];
    int n = cls * L;
    double total = 0;
    for (long b = 0; b < pairs; b++) {
      long rb = r0 + b * 2 * L;
      copyIn(x, rb, stride, cls, rows);
      FloatVector m = FloatVector.broadcast(F, NEG_INF);
      FloatVector m1 = m;
      for (int c = 0; c < cls; c++) {
        FloatVector v = FloatVector.fromArray(F, rows, c, gather, 0);
        FloatVector v1 = FloatVector.fromArray(F, rows, n + c, gather, 0);
        v.intoArray(col, c * L);
        v1.intoArray(col, n + c * L);
        m = m.lanewise(MAX, v);
        m1 = m1.lanewise(MAX, v1);
      }
      m.intoArray(sc.max, 0);
      m1.intoArray(sc.max, L);
      pairSumExp(sc, cls);
      FloatVector s = FloatVector.fromArray(F, sc.sum, 0);
      FloatVector s1 = FloatVector.fromArray(F, sc.sum, L);
      for (int i = 0; i < 2 * L; i++) {
        int t = target(targets, rb + i);
        sc.target[i] = t;
        boolean skip = t == ignore;
        sc.ignored[i] = skip ? 1f : 0f;
        sc.targetLogit[i] = skip ? 0f : rows[i * cls + t];
      }
      VectorMask<Float> skip = FloatVector.fromArray(F, sc.ignored, 0).compare(NE, 0f);
      VectorMask<Float> skip1 = FloatVector.fromArray(F, sc.ignored, L).compare(NE, 0f);
      // (m − x_t) + log S: exact for huge logits, as in the per-row path
      FloatVector l = m.sub(FloatVector.fromArray(F, sc.targetLogit, 0)).add(s.lanewise(LOG))
          .blend(0f, skip);
      FloatVector l1 = m1.sub(FloatVector.fromArray(F, sc.targetLogit, L)).add(s1.lanewise(LOG))
          .blend(0f, skip1);
      if (loss != null) {
        l.intoMemorySegment(loss, rb * 4, NATIVE);
        l1.intoMemorySegment(loss, (rb + L) * 4, NATIVE);
      }
      // a scalar running total: a vector carried across this loop boxed in some compilations
      total += ((DoubleVector) l.convertShape(F2D, D, 0))
          .add((DoubleVector) l.convertShape(F2D, D, 1))
          .add((DoubleVector) l1.convertShape(F2D, D, 0))
          .add((DoubleVector) l1.convertShape(F2D, D, 1)).reduceLanes(ADD);
      if (grad == null) {
        continue;
      }
      // per-row scale coef/S (0 for ignored rows), passed as scalars: a vector crossing the call
      // boxes
      FloatVector coefV = FloatVector.broadcast(F, coef);
      coefV.div(s).blend(0f, skip).intoArray(sc.scale, 0);
      coefV.div(s1).blend(0f, skip1).intoArray(sc.scale, L);
      smallGrad(sc, cls, coef, ignore);
      copyOut(rows, grad, rb, stride, cls);
    }
    return total;
  }

  @Override
  public double softCrossEntropy(MemorySegment x, MemorySegment q, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, float smoothing) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    double total = 0;
    double eps = smoothing;
    float epsC = (float) (eps / classes);
    float keep = (float) (1 - eps);
    if (weight == null && !acc) {
      return softCrossEntropyInScratch(x, q, stride, cls, r0, r1, loss, grad, coef, keep, epsC);
    }
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      // Σ w q' and Σ w q' x for this row (read before an in-place gradient overwrites x)
      double wq = 0;
      double wqx = 0;
      for (int c = 0; c < classes; c++) {
        double qc = (weight == null ? 1 : at(weight, c)) * (keep * at(q, base + c) + epsC);
        wq += qc;
        wqx += qc * at(x, base + c);
      }
      float m = rowMax(x, base, cls);
      float s = rowSumExp(x, base, cls, 1f, m);
      double logS = Math.log(s);
      double l = wq * logS + (wq * m - wqx);
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * 4, (float) l);
      }
      total += (float) l;
      if (grad != null) {
        softGrad(x, q, weight, base, cls, m, (float) (wq * coef / s), keep, epsC, coef,
            grad, acc);
      }
    }
    return total;
  }

  /**
   * Soft-target cross entropy without class weights or accumulation, each row pair copied into
   * the per-thread row scratch (logits at 0, targets at {@code pad}) so every sweep loads and
   * stores one segment (see {@link #distillationInScratch}): the max, then one pass storing
   * e = exp(x − m) with Σe, Σq' and Σ q'·(m − x) (q' = keep·q + epsC), then the gradient
   * e·(Σq'·coef/Σe) − q'·coef in the scratch, copied out. The loss Σq'·log Σe + Σ q'·(m − x) sums
   * non-negative terms (no cancellation); a row whose float Σ q'·(m − x) is not finite is summed
   * again in double from the inputs. Inputs are read in full before anything is written, so the
   * gradient may alias either input.
   */
  static double softCrossEntropyInScratch(MemorySegment x, MemorySegment q, long stride, int cls,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, float keep,
      float epsC) {
    int pad = (cls + 15) & ~15; // the targets' row starts 64-byte aligned
    RowScratch rs = ROW_SCRATCH.get();
    MemorySegment sc = rs.atLeast(2L * pad);
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      MemorySegment.copy(x, base * 4, sc, 0, cls * 4L);
      MemorySegment.copy(q, base * 4, sc, pad * 4L, cls * 4L);
      float m = rowMax(sc, 0, cls);
      softExps(sc, cls, pad, m, keep, epsC, rs.sums);
      float se = rs.sums[0];
      double wq = rs.sums[1];
      double cross = rs.sums[2];
      if (!Float.isFinite(rs.sums[2])) {
        // m − x or the float sum overflowed (logits near ±3.4e38), or an input is NaN/∞: the
        // sum again in double from the inputs, which nothing has overwritten yet
        cross = 0;
        for (int c = 0; c < cls; c++) {
          cross += (keep * (double) at(q, base + c) + epsC) * ((double) m - at(x, base + c));
        }
      }
      double l = wq * Math.log(se) + cross;
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * 4, (float) l);
      }
      total += (float) l;
      if (grad != null) {
        pairGradOut(sc, cls, pad, (float) (wq * coef / se), keep * coef, epsC * coef, grad, base);
      }
    }
    return total;
  }

  /**
   * The gradient of a row pair in the row scratch, a·e − (b·q + c) (e at 0, q at {@code pad}),
   * formed over e and copied out to the gradient row at {@code base}. Shared by soft-target cross
   * entropy and distillation.
   */
  static void pairGradOut(MemorySegment sc, int cls, int pad, float a, float b, float c,
      MemorySegment grad, long base) {
    for (int i = 0; i < cls; i += L) { // the padding lanes are scratch: never copied out
      long off = i * 4L;
      FloatVector.fromMemorySegment(F, sc, off, NATIVE).mul(a)
          .sub(FloatVector.fromMemorySegment(F, sc, off + pad * 4L, NATIVE).fma(b, c))
          .intoMemorySegment(sc, off, NATIVE);
    }
    MemorySegment.copy(sc, 0, grad, base * 4, cls * 4L);
  }

  /**
   * e = exp(x − m) in place over the logits in the scratch (at 0), with Σe, Σq' and Σq'·(m − x)
   * written to {@code sums} (targets q at {@code pad}, q' = keep·q + epsC).
   */
  static void softExps(MemorySegment sc, int cls, int pad, float m, float keep, float epsC,
      float[] sums) {
    FloatVector se = FloatVector.zero(F);
    FloatVector sq = se;
    FloatVector cross = se;
    int c = 0;
    for (int bound = F.loopBound(cls); c < bound; c += L) {
      long off = c * 4L;
      FloatVector d = FloatVector.fromMemorySegment(F, sc, off, NATIVE).sub(m);
      FloatVector qc = FloatVector.fromMemorySegment(F, sc, off + pad * 4L, NATIVE).fma(keep, epsC);
      FloatVector e = expNonPositive(d);
      e.intoMemorySegment(sc, off, NATIVE);
      se = se.add(e);
      sq = sq.add(qc);
      cross = cross.sub(qc.mul(d));
    }
    // the ragged end element by element, as in distillExps (a masked tail boxed there)
    float te = 0;
    float tq = 0;
    float tc = 0;
    for (; c < cls; c++) {
      long off = c * 4L;
      float d = sc.get(JAVA_FLOAT_UNALIGNED, off) - m;
      float qc = keep * sc.get(JAVA_FLOAT_UNALIGNED, off + pad * 4L) + epsC;
      float e = (float) Math.exp(d);
      sc.set(JAVA_FLOAT_UNALIGNED, off, e);
      te += e;
      tq += qc;
      tc -= qc * d;
    }
    sums[0] = se.reduceLanes(ADD) + te;
    sums[1] = sq.reduceLanes(ADD) + tq;
    sums[2] = cross.reduceLanes(ADD) + tc;
  }

  /**
   * grad_c (+)= e_c·a − w_c·q'_c·coef with e_c = exp(x_c − shift), q'_c = keep·q_c + epsC and
   * a = Σ w q' · coef / Σexp; {@code w} null means ones (then {@code wq} is 1 per class).
   */
  static void softGrad(MemorySegment x, MemorySegment q, MemorySegment w, long base, int classes,
      float shift, float a, float keep, float epsC, float coef, MemorySegment grad, boolean acc) {
    if (w != null) {
      softGradWeighted(x, q, w, base, classes, shift, a, keep, epsC, coef, grad, acc);
      return;
    }
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector p = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift));
      FloatVector qc = FloatVector.fromMemorySegment(F, q, off, NATIVE).mul(keep).add(epsC);
      FloatVector g = p.mul(a).sub(qc.mul(coef));
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    softGradTail(x, q, null, base, c, classes, shift, a, keep, epsC, coef, grad, acc);
  }

  static void softGradWeighted(MemorySegment x, MemorySegment q, MemorySegment w, long base,
      int classes, float shift, float a, float keep, float epsC, float coef, MemorySegment grad,
      boolean acc) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector p = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift));
      FloatVector qc = FloatVector.fromMemorySegment(F, q, off, NATIVE).mul(keep).add(epsC);
      FloatVector wv = FloatVector.fromMemorySegment(F, w, c * 4L, NATIVE);
      FloatVector g = p.mul(a).sub(wv.mul(qc).mul(coef));
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    softGradTail(x, q, w, base, c, classes, shift, a, keep, epsC, coef, grad, acc);
  }

  static void softGradTail(MemorySegment x, MemorySegment q, MemorySegment w, long base, long c,
      int classes, float shift, float a, float keep, float epsC, float coef, MemorySegment grad,
      boolean acc) {
    for (; c < classes; c++) {
      long off = (base + c) * 4;
      double p = Math.exp(x.get(JAVA_FLOAT_UNALIGNED, off) - shift);
      double qc = (w == null ? 1 : at(w, c)) * (keep * q.get(JAVA_FLOAT_UNALIGNED, off) + epsC);
      float gv = (float) (p * a - qc * coef);
      if (acc) {
        gv += grad.get(JAVA_FLOAT_UNALIGNED, off);
      }
      grad.set(JAVA_FLOAT_UNALIGNED, off, gv);
    }
  }

  @Override
  public double softmaxFocal(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, MemorySegment alpha, int ignoreIndex) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    double total = 0;
    boolean store = grad != null && !acc;
    boolean tiled = store && cls >= 2 * TILE;
    TileScratch ts = tiled ? TILES.get() : null;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = target(targets, r);
      if (t == ignoreIndex) {
        ignoredRow(loss, grad, r, base, cls, acc);
        continue;
      }
      double xt = at(x, base + t);
      float m;
      double s;
      if (tiled) { // wide rows in tiles, as cross entropy (see crossEntropyTiled)
        s = tileSweeps(x, grad, base, cls, r + 1 < r1 ? base + stride : base, ts);
        m = ts.m;
      } else if (store) {
        // in place in the gradient row, as cross entropy does (see rowSumExpInPlace)
        if (x != grad) {
          MemorySegment.copy(x, base * 4, grad, base * 4, classes * 4);
        }
        m = rowMax(grad, base, cls);
        s = rowSumExpInPlace(grad, base, cls, m, x, r + 1 < r1 ? base + stride : base);
      } else {
        m = rowMax(x, base, cls);
        s = rowSumExp(x, base, cls, 1f, m);
      }
      double lpt = (xt - m) - Math.log(s);
      double pt = Math.exp(lpt);
      double om = -Math.expm1(lpt); // 1 − p_t without cancellation
      double at = alpha == null ? 1 : at(alpha, t);
      double og = Math.pow(om, gamma);
      double l = -at * og * lpt;
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * 4, (float) l);
      }
      total += (float) l;
      if (grad == null) {
        continue;
      }
      // dℓ/dx_c = (δ_ct − p_c)·F, F = α_t·(γ·p_t·ln p_t·(1−p_t)^(γ−1) − (1−p_t)^γ), where
      // ln p_t/(1 − p_t) → −1 as p_t → 1 keeps F finite for γ < 1
      double ratio = om > 0 ? lpt / om : -1;
      double f = at * (gamma * pt * ratio * og - og) * coef;
      if (tiled) {
        tileScale(grad, base, cls, -f / s, ts);
      } else if (store) {
        gradFromStored(grad, base, cls, (float) (-f / s), 0f);
      } else {
        gradRecompute(x, base, cls, m, (float) (-f / s), 0f, grad, acc);
      }
      addAt(grad, base + t, f);
    }
    return total;
  }

  @Override
  public double distillation(MemorySegment s, MemorySegment t, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float temperature) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    if (!acc) {
      return distillationInScratch(s, t, stride, cls, r0, r1, loss, grad, coef, temperature);
    }
    double total = 0;
    float inv = 1f / temperature;
    double t2 = (double) temperature * temperature;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      float ms = rowMax(s, base, cls) * inv;
      float mt = rowMax(t, base, cls) * inv;
      float ss = rowSumExp(s, base, cls, inv, ms);
      float st = rowSumExp(t, base, cls, inv, mt);
      // Σ q_c (t_c − s_c)/T with q = softmax(t/T); masked teacher classes (q = 0) add nothing
      double cross = distillCross(s, t, base, cls, inv, ms, mt, 1f / st);
      total += distillRowLoss(t2, cross, ss, st, loss, r);
      if (grad != null) {
        float k = temperature * coef;
        distillGradAdd(s, t, base, cls, inv, ms, mt, k / ss, k / st, grad);
      }
    }
    return total;
  }

  /**
   * Σ_c q_c·((t_c/T − mt) − (s_c/T − ms)) with q_c = exp(t_c/T − mt)·invSt — the shifted values
   * the exponentials use, so identical rows give exactly 0; terms with q_c = 0 count 0.
   */
  static double distillCross(MemorySegment s, MemorySegment t, long base, int classes, float inv,
      float ms, float mt, float invSt) {
    FloatVector acc = FloatVector.zero(F);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector tv = FloatVector.fromMemorySegment(F, t, off, NATIVE).mul(inv).sub(mt);
      FloatVector sv = FloatVector.fromMemorySegment(F, s, off, NATIVE).mul(inv).sub(ms);
      FloatVector q = expNonPositive(tv).mul(invSt);
      FloatVector term = q.mul(tv.sub(sv));
      acc = acc.add(term.blend(0f, q.compare(EQ, 0f)));
    }
    double tail = 0;
    for (; c < classes; c++) {
      double tc = at(t, base + c) * inv - mt;
      double q = Math.exp(tc) * invSt;
      if (q > 0) {
        tail += q * (tc - (at(s, base + c) * inv - ms));
      }
    }
    return acc.reduceLanes(ADD) + tail;
  }

  /** T²·(cross + ln Σp̃ − ln Σq̃) as a float, stored as row r's loss when {@code loss} is given. */
  static float distillRowLoss(double t2, double cross, float ss, float st, MemorySegment loss,
      long r) {
    float l = (float) (t2 * (cross + (Math.log(ss) - Math.log(st))));
    if (loss != null) {
      loss.set(JAVA_FLOAT_UNALIGNED, r * 4, l);
    }
    return l;
  }

  /** Per-thread row scratch of {@link #distillationInScratch}; grows to the largest row seen. */
  static final class RowScratch {
    MemorySegment seg = MemorySegment.NULL;
    final float[] sums = new float[3];

    MemorySegment atLeast(long floats) {
      if (seg.byteSize() < floats * 4) {
        seg = Arena.ofAuto().allocate(Math.max(floats, 4096) * 4, 64);
      }
      return seg;
    }
  }

  static final ThreadLocal<RowScratch> ROW_SCRATCH = ThreadLocal.withInitial(RowScratch::new);

  /**
   * Distillation without accumulation, each row pair copied into a per-thread scratch (student
   * at 0, teacher at {@code pad}) so every sweep loads and stores one segment: the maxima, then
   * one pass storing p̃ = exp(s/T − ms) and q̃ = exp(t/T − mt) with their sums and Σ q̃·(u − v),
   * then the gradient p̃·k/Σp̃ − q̃·k/Σq̃ in the scratch, copied out. Two exps per element where
   * the streaming form takes five. The first call on a thread, and the first with a longer row,
   * allocate the scratch (two rows, at least 32 KB), kept for the thread's life.
   */
  static double distillationInScratch(MemorySegment s, MemorySegment t, long stride, int cls,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, float temperature) {
    float inv = 1f / temperature;
    double t2 = (double) temperature * temperature;
    int pad = (cls + 15) & ~15; // the teacher's row starts 64-byte aligned
    RowScratch rs = ROW_SCRATCH.get();
    MemorySegment sc = rs.atLeast(2L * pad);
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      MemorySegment.copy(s, base * 4, sc, 0, cls * 4L);
      MemorySegment.copy(t, base * 4, sc, pad * 4L, cls * 4L);
      float ms = rowMax(sc, 0, cls) * inv;
      float mt = rowMax(sc, pad, cls) * inv;
      distillExps(sc, cls, pad, inv, ms, mt, rs.sums);
      float ss = rs.sums[0];
      float st = rs.sums[1];
      // Σ q_c (t_c − s_c)/T with q = softmax(t/T); masked teacher classes (q = 0) add nothing
      double cross = rs.sums[2] / (double) st;
      total += distillRowLoss(t2, cross, ss, st, loss, r);
      if (grad != null) {
        float k = temperature * coef;
        // −0 keeps q̃·kt's bits (x + −0 = x, also for x = −0)
        pairGradOut(sc, cls, pad, k / ss, k / st, -0f, grad, base);
      }
    }
    return total;
  }

  /**
   * The exponentials of a row pair in the scratch, in place: p̃ over the student (at 0), q̃ over
   * the teacher (at {@code pad}); writes Σp̃, Σq̃ and Σ q̃·(u − v) (u = t/T − mt, v = s/T − ms,
   * terms with q̃ = 0 left out) to {@code sums}.
   */
  static void distillExps(MemorySegment sc, int cls, int pad, float inv, float ms, float mt,
      float[] sums) {
    FloatVector sp = FloatVector.zero(F);
    FloatVector sq = sp;
    FloatVector cross = sp;
    int c = 0;
    for (int bound = F.loopBound(cls); c < bound; c += L) {
      long so = c * 4L;
      long to = so + pad * 4L;
      FloatVector v = FloatVector.fromMemorySegment(F, sc, so, NATIVE).mul(inv).sub(ms);
      FloatVector u = FloatVector.fromMemorySegment(F, sc, to, NATIVE).mul(inv).sub(mt);
      FloatVector p = expNonPositive(v);
      FloatVector q = expNonPositive(u);
      p.intoMemorySegment(sc, so, NATIVE);
      q.intoMemorySegment(sc, to, NATIVE);
      sp = sp.add(p);
      sq = sq.add(q);
      cross = cross.add(q.mul(u.sub(v)).blend(0f, q.compare(EQ, 0f)));
    }
    // the ragged end element by element: a masked vector tail here made this method too large
    // for C2 to inline the exps, and they boxed (256 B a row at 10 classes)
    float tp = 0;
    float tq = 0;
    float tc = 0;
    for (; c < cls; c++) {
      long so = c * 4L;
      long to = so + pad * 4L;
      float v = sc.get(JAVA_FLOAT_UNALIGNED, so) * inv - ms;
      float u = sc.get(JAVA_FLOAT_UNALIGNED, to) * inv - mt;
      float p = (float) Math.exp(v);
      float q = (float) Math.exp(u);
      sc.set(JAVA_FLOAT_UNALIGNED, so, p);
      sc.set(JAVA_FLOAT_UNALIGNED, to, q);
      tp += p;
      tq += q;
      if (q != 0) {
        tc += q * (u - v);
      }
    }
    sums[0] = sp.reduceLanes(ADD) + tp;
    sums[1] = sq.reduceLanes(ADD) + tq;
    sums[2] = cross.reduceLanes(ADD) + tc;
  }

  /**
   * grad_c += exp(s_c/T − ms)·ks − exp(t_c/T − mt)·kt (k·(p_c − q_c) with k/Σexp folded in):
   * the accumulating path; without accumulation {@link #distillationInScratch} runs instead.
   */
  static void distillGradAdd(MemorySegment s, MemorySegment t, long base, int classes, float inv,
      float ms, float mt, float ks, float kt, MemorySegment grad) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector p = expNonPositive(FloatVector.fromMemorySegment(F, s, off, NATIVE).mul(inv).sub(ms));
      FloatVector q = expNonPositive(FloatVector.fromMemorySegment(F, t, off, NATIVE).mul(inv).sub(mt));
      p.mul(ks).sub(q.mul(kt)).add(FloatVector.fromMemorySegment(F, grad, off, NATIVE))
          .intoMemorySegment(grad, off, NATIVE);
    }
    for (; c < classes; c++) {
      long off = (base + c) * 4;
      double p = Math.exp(s.get(JAVA_FLOAT_UNALIGNED, off) * (double) inv - ms);
      double q = Math.exp(t.get(JAVA_FLOAT_UNALIGNED, off) * (double) inv - mt);
      grad.set(JAVA_FLOAT_UNALIGNED, off,
          (float) (p * ks - q * kt) + grad.get(JAVA_FLOAT_UNALIGNED, off));
    }
  }

  @Override
  public double nll(MemorySegment x, MemorySegment targets, long stride, long classes, long r0,
      long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, int ignoreIndex) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = target(targets, r);
      boolean ignored = t == ignoreIndex;
      double wt = ignored ? 0 : (weight == null ? 1 : at(weight, t));
      double l = ignored ? 0 : -wt * at(x, base + t);
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      if (grad != null) {
        if (!acc) {
          zeroRow(grad, base, cls);
        }
        if (!ignored) {
          long off = (base + t) * Float.BYTES;
          float g = (float) (-wt * coef);
          grad.set(JAVA_FLOAT_UNALIGNED, off, acc ? grad.get(JAVA_FLOAT_UNALIGNED, off) + g : g);
        }
      }
    }
    return total;
  }

  @Override
  public void logSoftmax(MemorySegment x, long stride, long classes, long r0, long r1,
      MemorySegment out) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      // the row is copied into its output row and swept there, as cross entropy does: loops
      // over one segment compile better (see rowSumExpInPlace)
      if (out != x) {
        MemorySegment.copy(x, base * 4, out, base * 4, classes * 4);
      }
      float m = rowMax(out, base, cls);
      float s = rowSumExp(out, base, cls, 1f, m);
      shiftInPlace(out, base, cls, m, (float) Math.log(s));
    }
  }

  /**
   * o_c = (o_c − m) − logS in place: exact for huge logits, where m + log S would round log S
   * away.
   */
  static void shiftInPlace(MemorySegment o, long base, int classes, float m, float logS) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * 4;
      FloatVector.fromMemorySegment(F, o, off, NATIVE).sub(m).sub(logS)
          .intoMemorySegment(o, off, NATIVE);
    }
    for (; c < classes; c++) {
      long off = (base + c) * 4;
      o.set(JAVA_FLOAT_UNALIGNED, off, (o.get(JAVA_FLOAT_UNALIGNED, off) - m) - logS);
    }
  }
}
