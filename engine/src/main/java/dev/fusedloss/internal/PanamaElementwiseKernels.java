package dev.fusedloss.internal;

import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.EXP;
import static jdk.incubator.vector.VectorOperators.F2D;
import static jdk.incubator.vector.VectorOperators.F2I;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.IS_NAN;
import static jdk.incubator.vector.VectorOperators.LOG;
import static jdk.incubator.vector.VectorOperators.LOG1P;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LT;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels. Each loss is one loop over whole vectors, its loss and gradient computed
 * from registers and stored in the same iteration, with the ragged tail handed to the scalar
 * kernel. Per-element losses are widened to double before they are summed.
 *
 * <p>Written to inline fully (no vector boxing): one loop per kernel and no Java-level choice
 * between two vector values inside a loop (a phi C2 cannot scalarize); per-call options are
 * loop invariants or mask blends. Loop bodies call only Vector API methods, which are
 * force-inlined: a helper of our own taking vector arguments stops being inlined once a large
 * body reaches C2's node-count cutoff (seen with BCE-with-logits), and its arguments are then
 * boxed on every iteration. Hence the repeated store blocks below.
 */
final class PanamaElementwiseKernels implements ElementwiseKernels {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  static final VectorSpecies<Double> D =
      VectorSpecies.of(double.class, VectorShape.forBitSize(F.vectorBitSize()));
  static final int L = F.length();
  static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final ScalarElementwiseKernels TAIL = ScalarElementwiseKernels.INSTANCE;
  // coefficients 1/(2k+1) of the atanh series used for log1p
  static final FloatVector K1 = FloatVector.broadcast(F, 1f);
  static final FloatVector K3 = FloatVector.broadcast(F, 1f / 3);
  static final FloatVector K5 = FloatVector.broadcast(F, 1f / 5);
  static final FloatVector K7 = FloatVector.broadcast(F, 1f / 7);
  static final FloatVector K9 = FloatVector.broadcast(F, 1f / 9);
  static final FloatVector K11 = FloatVector.broadcast(F, 1f / 11);
  static final FloatVector K13 = FloatVector.broadcast(F, 1f / 13);
  static final FloatVector K15 = FloatVector.broadcast(F, 1f / 15);
  // Cephes expf coefficients (degree-6 polynomial on [−ln 2/2, ln 2/2], within 1 ulp)
  static final FloatVector E2 = FloatVector.broadcast(F, 8.3334519073E-3f);
  static final FloatVector E3 = FloatVector.broadcast(F, 4.1665795894E-2f);
  static final FloatVector E4 = FloatVector.broadcast(F, 1.6666665459E-1f);
  static final FloatVector E5 = FloatVector.broadcast(F, 5.0000001201E-1f);

  /** Index where the current run of contiguous weight indices ends. */
  static long runEnd(long i, long to, Periodic w, Periodic pw) {
    long a = i + (w.period - i % w.period);
    long b = i + (pw.period - i % pw.period);
    return Math.min(to, Math.min(a, b));
  }

  @Override
  public double mse(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    float c2 = 2f * coef;
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = FloatVector.fromMemorySegment(F, x, off, NATIVE)
          .sub(FloatVector.fromMemorySegment(F, y, off, NATIVE));
      FloatVector l = d.mul(d);
      FloatVector g = d.mul(c2);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.mse(x, y, i, to, loss, grad, coef, acc);
  }

  @Override
  public double l1(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    FloatVector zero = FloatVector.zero(F);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = FloatVector.fromMemorySegment(F, x, off, NATIVE)
          .sub(FloatVector.fromMemorySegment(F, y, off, NATIVE));
      FloatVector l = d.lanewise(ABS);
      // coef·sign(d): 0 at d = 0, NaN kept
      FloatVector g = zero.blend(coef, d.compare(GT, 0f)).blend(-coef, d.compare(LT, 0f))
          .blend(d, d.test(IS_NAN));
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.l1(x, y, i, to, loss, grad, coef, acc);
  }

  @Override
  public double robust(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float thr, float a, float b, float c) {
    float ga = 2f * a * coef;
    float gb = b * coef;
    FloatVector zero = FloatVector.zero(F);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = FloatVector.fromMemorySegment(F, x, off, NATIVE)
          .sub(FloatVector.fromMemorySegment(F, y, off, NATIVE));
      FloatVector ad = d.lanewise(ABS);
      VectorMask<Float> quad = ad.compare(LT, thr);
      FloatVector l = ad.sub(c).mul(b).blend(d.mul(d).mul(a), quad);
      FloatVector g = zero.blend(gb, d.compare(GT, 0f)).blend(-gb, d.compare(LT, 0f))
          .blend(d, d.test(IS_NAN)).blend(d.mul(ga), quad);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.robust(x, y, i, to, loss, grad, coef, acc, thr, a, b, c);
  }

  @Override
  public double bce(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, w);
      long wi = i % w.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L) {
        long off = i * Float.BYTES;
        FloatVector p = FloatVector.fromMemorySegment(F, x, off, NATIVE);
        FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
        FloatVector wv = FloatVector.fromMemorySegment(F, w.tile, wi * Float.BYTES, NATIVE);
        FloatVector lp = p.lanewise(LOG).max(-100f);
        FloatVector lq = p.neg().lanewise(LOG1P).max(-100f);
        FloatVector l = t.mul(lp).add(one.sub(t).mul(lq)).mul(wv.neg());
        FloatVector den = p.mul(one.sub(p)).max(1e-12f);
        FloatVector g = p.sub(t).mul(wv.mul(coef)).div(den);
        s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
        if (loss != null) {
          l.intoMemorySegment(loss, off, NATIVE);
        }
        if (grad != null) {
          if (acc) {
            g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
          } else {
            g.intoMemorySegment(grad, off, NATIVE);
          }
        }
      }
      tail += TAIL.bce(x, y, i, end, loss, grad, coef, acc, w);
      i = end;
    }
    return s.reduceLanes(ADD) + tail;
  }

  @Override
  public double bceClipped(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w,
      float lo, float hi) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, w);
      long wi = i % w.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L) {
        long off = i * Float.BYTES;
        FloatVector p = FloatVector.fromMemorySegment(F, x, off, NATIVE);
        FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
        FloatVector wv = FloatVector.fromMemorySegment(F, w.tile, wi * Float.BYTES, NATIVE);
        FloatVector pc = p.max(lo).min(hi);
        FloatVector lp = pc.lanewise(LOG);
        FloatVector lq = pc.neg().lanewise(LOG1P);
        FloatVector l = t.mul(lp).add(one.sub(t).mul(lq)).mul(wv.neg());
        // the clamp passes no gradient outside [lo, hi]; NaN compares false and propagates
        FloatVector g = pc.sub(t).mul(wv.mul(coef)).div(pc.mul(one.sub(pc)))
            .blend(0f, p.compare(LT, lo).or(p.compare(GT, hi)));
        s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
        if (loss != null) {
          l.intoMemorySegment(loss, off, NATIVE);
        }
        if (grad != null) {
          if (acc) {
            g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
          } else {
            g.intoMemorySegment(grad, off, NATIVE);
          }
        }
      }
      tail += TAIL.bceClipped(x, y, i, end, loss, grad, coef, acc, w, lo, hi);
      i = end;
    }
    return s.reduceLanes(ADD) + tail;
  }

  @Override
  public double bceWithLogits(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w, Periodic pw) {
    if (w.ones && pw.ones) {
      return bceWithLogitsPlain(x, y, from, to, loss, grad, coef, acc, w);
    }
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, pw);
      long wi = i % w.period;
      long pi = i % pw.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L, pi += L) {
        long off = i * Float.BYTES;
        FloatVector z = FloatVector.fromMemorySegment(F, x, off, NATIVE);
        FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
        FloatVector wv = FloatVector.fromMemorySegment(F, w.tile, wi * Float.BYTES, NATIVE);
        FloatVector pwv = FloatVector.fromMemorySegment(F, pw.tile, pi * Float.BYTES, NATIVE);
        FloatVector e = z.lanewise(ABS).neg().lanewise(EXP);
        FloatVector r = one.div(e.add(1f));
        FloatVector sig = e.mul(r).blend(r, z.compare(GE, 0f));
        // log1p(e), e = exp(−|z|) ∈ (0, 1], as 2·atanh(u) = 2u·(1 + u²/3 + … + u¹⁴/15) with
        // u = e/(2 + e) ≤ 1/3: within a few ulps, and ~3× cheaper than SVML's LOG1P on AVX2
        FloatVector u = e.div(e.add(2f));
        FloatVector u2 = u.mul(u);
        FloatVector log1pE = u2.fma(K15, K13).fma(u2, K11).fma(u2, K9).fma(u2, K7).fma(u2, K5)
            .fma(u2, K3).fma(u2, K1).mul(u.add(u));
        FloatVector softplusNeg = log1pE.add(z.neg().max(0f)); // −ln σ(z)
        FloatVector softplusPos = log1pE.add(z.max(0f)); // −ln(1 − σ(z))
        FloatVector pt = pwv.mul(t);
        // non-negative terms with the weights applied to the bounded factors first: no
        // cancellation, and no overflow unless the loss itself overflows
        FloatVector l = wv.mul(pt).mul(softplusNeg).add(wv.mul(one.sub(t)).mul(softplusPos));
        FloatVector lw = pt.add(one).sub(t); // 1 + (pw − 1)·t
        FloatVector g = lw.mul(sig).sub(pt).mul(wv.mul(coef));
        s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
        if (loss != null) {
          l.intoMemorySegment(loss, off, NATIVE);
        }
        if (grad != null) {
          if (acc) {
            g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
          } else {
            g.intoMemorySegment(grad, off, NATIVE);
          }
        }
      }
      tail += TAIL.bceWithLogits(x, y, i, end, loss, grad, coef, acc, w, pw);
      i = end;
    }
    return s.reduceLanes(ADD) + tail;
  }

  /**
   * BCE with logits without weights (the common case): no weight loads, the gradient as
   * (σ − y)·coef, exp inline, one division for both σ's 1/(1 + e) and the series' e/(2 + e), and
   * max(±z, 0) as blends (Java's NaN-aware MAX costs several instructions on AVX2). Measured at
   * 4K elements: 11.7 µs against 15.1 µs for the weighted loop with ones.
   */
  private static double bceWithLogitsPlain(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic ones) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector z = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      // e = exp(−|z|), Cephes' polynomial inline: SVML's EXP is a call, and every vector live
      // across it (the loss accumulator included) goes through the stack
      FloatVector ea = z.lanewise(ABS).neg().max(-104f);
      FloatVector en = ea.fma(1.44269504f, 12582912f).sub(12582912f); // round(ea·log2 e)
      FloatVector er0 = en.mul(-0.693359375f).add(ea).add(en.mul(2.12194440e-4f));
      IntVector ek = (IntVector) en.convert(F2I, 0);
      IntVector ek1 = ek.lanewise(ASHR, 1); // 2^n as two factors: subnormals round once
      FloatVector e = er0.fma(1.9875691500E-4f, 1.3981999507E-3f).fma(er0, E2).fma(er0, E3)
          .fma(er0, E4).fma(er0, E5).fma(er0.mul(er0), er0).add(1f)
          .mul(ek1.add(127).lanewise(LSHL, 23).reinterpretAsFloats())
          .mul(ek.sub(ek1).add(127).lanewise(LSHL, 23).reinterpretAsFloats());
      FloatVector d1 = e.add(1f);
      FloatVector d2 = e.add(2f);
      FloatVector q = one.div(d1.mul(d2));
      FloatVector r = d2.mul(q); // 1/(1 + e)
      FloatVector sig = e.mul(r).blend(r, z.compare(GE, 0f));
      FloatVector u = e.mul(d1).mul(q); // e/(2 + e) ≤ 1/3
      FloatVector u2 = u.mul(u);
      FloatVector log1pE = u2.fma(K15, K13).fma(u2, K11).fma(u2, K9).fma(u2, K7).fma(u2, K5)
          .fma(u2, K3).fma(u2, K1).mul(u.add(u));
      // max(z, 0) and max(−z, 0); a NaN z stays NaN as with MAX
      FloatVector softplusPos = log1pE.add(z.blend(0f, z.compare(LT, 0f)));
      FloatVector softplusNeg = log1pE.add(z.neg().blend(0f, z.compare(GT, 0f)));
      FloatVector l = t.mul(softplusNeg).add(one.sub(t).mul(softplusPos));
      FloatVector g = sig.sub(t).mul(coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.bceWithLogits(x, y, i, to, loss, grad, coef, acc, ones, ones);
  }

  @Override
  public double sigmoidFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    float zeroPow = gamma == 0 ? 1f : 0f;
    // γ = 2 (the default) is a multiplication; the flag is loop-invariant, so C2 unswitches the
    // loop into two copies and no vector phi survives (checked with -prof gc: 0 B/op)
    boolean square = gamma == 2f;
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector z = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector e = z.lanewise(ABS).neg().lanewise(EXP);
      FloatVector r = one.div(e.add(1f));
      FloatVector er = e.mul(r);
      VectorMask<Float> nonNeg = z.compare(GE, 0f);
      FloatVector p = er.blend(r, nonNeg);
      FloatVector pm = r.blend(er, nonNeg); // 1 − p without cancellation
      FloatVector u = one.sub(t);
      FloatVector uu = e.div(e.add(2f)); // log1p(e) by the atanh series, as in bceWithLogits
      FloatVector u2 = uu.mul(uu);
      FloatVector log1pE = u2.fma(K15, K13).fma(u2, K11).fma(u2, K9).fma(u2, K7).fma(u2, K5)
          .fma(u2, K3).fma(u2, K1).mul(uu.add(uu));
      // BCE with logits as t·softplus(−z) + (1−t)·softplus(z): non-negative terms only
      FloatVector ce = t.mul(log1pE.add(z.neg().max(0f))).add(u.mul(log1pE.add(z.max(0f))));
      FloatVector q = t.mul(pm).add(u.mul(p)); // 1 − p_t
      // q^γ as exp(γ·ln q): POW is not intrinsified on every CPU (it fell back and boxed on
      // AVX2); q = 0 gives exp(−∞) = 0, and for γ = 0 the blend restores 0^0 = 1
      FloatVector qg = square ? q.mul(q)
          : q.lanewise(LOG).mul(gamma).lanewise(EXP).blend(zeroPow, q.compare(EQ, 0f));
      FloatVector at = t.mul(a1).add(a0);
      // p(1−p)/(1−p_t) ≤ 1 replaces (1−p_t)^(γ−1), which is ∞ at saturation
      FloatVector ratio = p.mul(pm).div(q).blend(0f, q.compare(EQ, 0f));
      FloatVector l = at.mul(ce).mul(qg);
      // bounded factors first (ratio·qg ≤ 1): only a truly huge gradient can overflow
      FloatVector focus = ratio.mul(qg).mul(t.mul(-2f * gamma).add(gamma)).mul(ce);
      FloatVector g = qg.mul(p.mul(u).sub(t.mul(pm))).add(focus).mul(at).mul(coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.sigmoidFocal(x, y, i, to, loss, grad, coef, acc, gamma, a1, a0);
  }

  @Override
  public double binaryFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0, float lo, float hi) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector p = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector pc = p.max(lo).min(hi);
      FloatVector u = one.sub(t);
      FloatVector qc = one.sub(pc);
      FloatVector pt = t.mul(pc).add(u.mul(qc));
      FloatVector om = t.mul(qc).add(u.mul(pc)); // 1 − p_t, ≥ lo > 0
      FloatVector lp = pt.lanewise(LOG);
      FloatVector qg = om.lanewise(LOG).mul(gamma).lanewise(EXP); // om > 0: see sigmoidFocal
      FloatVector at = t.mul(a1).add(a0);
      FloatVector l = at.mul(qg).mul(lp).neg();
      FloatVector dpt = at.mul(qg).mul(lp.mul(gamma).div(om).sub(one.div(pt)));
      FloatVector g = dpt.mul(t.mul(2f).sub(1f)).mul(coef)
          .blend(0f, p.compare(LT, lo).or(p.compare(GT, hi)));
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD)
        + TAIL.binaryFocal(x, y, i, to, loss, grad, coef, acc, gamma, a1, a0, lo, hi);
  }

  @Override
  public double klDiv(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, boolean logTarget) {
    return logTarget
        ? klDivLogTarget(x, y, from, to, loss, grad, coef, acc)
        : klDivProb(x, y, from, to, loss, grad, coef, acc);
  }

  private static double klDivProb(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector lp = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector ylogy = t.mul(t.lanewise(LOG)).blend(0f, t.compare(EQ, 0f)); // 0·ln 0 = 0
      FloatVector l = ylogy.sub(t.mul(lp));
      FloatVector g = t.mul(-coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.klDiv(x, y, i, to, loss, grad, coef, acc, false);
  }

  private static double klDivLogTarget(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector lp = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector et = t.lanewise(EXP);
      FloatVector l = et.mul(t.sub(lp));
      FloatVector g = et.mul(-coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.klDiv(x, y, i, to, loss, grad, coef, acc, true);
  }
}
