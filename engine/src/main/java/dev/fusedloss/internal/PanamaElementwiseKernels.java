package dev.fusedloss.internal;

import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.EXP;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.IS_NAN;
import static jdk.incubator.vector.VectorOperators.LOG;
import static jdk.incubator.vector.VectorOperators.LOG1P;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.POW;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels. Each loss is one loop over whole vectors, its loss and gradient computed
 * from registers and stored in the same iteration, with the ragged tail handed to the scalar
 * kernel. Per-element losses are widened to double before they are summed.
 *
 * <p>Written to inline fully (no vector boxing): one loop per kernel, small helpers that take
 * and return vectors, no Java-level choice between two vector values inside a loop (that is a
 * phi C2 cannot scalarize); per-call options are loop invariants or mask blends.
 */
final class PanamaElementwiseKernels implements ElementwiseKernels {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  static final VectorSpecies<Double> D =
      VectorSpecies.of(double.class, VectorShape.forBitSize(F.vectorBitSize()));
  static final int L = F.length();
  static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final ScalarElementwiseKernels TAIL = ScalarElementwiseKernels.INSTANCE;

  static FloatVector load(MemorySegment s, long i) {
    return FloatVector.fromMemorySegment(F, s, i * Float.BYTES, NATIVE);
  }

  /** Stores the loss vector and the (already scaled) gradient vector where requested. */
  static void emit(FloatVector l, FloatVector g, MemorySegment loss, MemorySegment grad,
      long i, boolean acc) {
    if (loss != null) {
      l.intoMemorySegment(loss, i * Float.BYTES, NATIVE);
    }
    if (grad != null) {
      if (acc) {
        g.add(load(grad, i)).intoMemorySegment(grad, i * Float.BYTES, NATIVE);
      } else {
        g.intoMemorySegment(grad, i * Float.BYTES, NATIVE);
      }
    }
  }

  static DoubleVector widenAdd(DoubleVector acc, FloatVector l) {
    return acc.add((DoubleVector) l.convertShape(VectorOperators.F2D, D, 0))
        .add((DoubleVector) l.convertShape(VectorOperators.F2D, D, 1));
  }

  /** c·sign(d) with sign(0) = 0 and NaN kept. */
  static FloatVector signTimes(FloatVector d, float c) {
    FloatVector zero = FloatVector.zero(F);
    return zero.blend(c, d.compare(GT, 0f)).blend(-c, d.compare(LT, 0f)).blend(d, d.test(IS_NAN));
  }

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
      FloatVector d = load(x, i).sub(load(y, i));
      FloatVector l = d.mul(d);
      s = widenAdd(s, l);
      emit(l, d.mul(c2), loss, grad, i, acc);
    }
    return s.reduceLanes(ADD) + TAIL.mse(x, y, i, to, loss, grad, coef, acc);
  }

  @Override
  public double l1(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      FloatVector d = load(x, i).sub(load(y, i));
      FloatVector l = d.lanewise(ABS);
      s = widenAdd(s, l);
      emit(l, signTimes(d, coef), loss, grad, i, acc);
    }
    return s.reduceLanes(ADD) + TAIL.l1(x, y, i, to, loss, grad, coef, acc);
  }

  @Override
  public double robust(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float thr, float a, float b, float c) {
    float ga = 2f * a * coef;
    float gb = b * coef;
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      FloatVector d = load(x, i).sub(load(y, i));
      FloatVector ad = d.lanewise(ABS);
      VectorMask<Float> quad = ad.compare(LT, thr);
      FloatVector l = ad.sub(c).mul(b).blend(d.mul(d).mul(a), quad);
      FloatVector g = signTimes(d, gb).blend(d.mul(ga), quad);
      s = widenAdd(s, l);
      emit(l, g, loss, grad, i, acc);
    }
    return s.reduceLanes(ADD) + TAIL.robust(x, y, i, to, loss, grad, coef, acc, thr, a, b, c);
  }

  @Override
  public double bce(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w) {
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, w);
      long wi = i % w.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L) {
        FloatVector p = load(x, i);
        FloatVector t = load(y, i);
        FloatVector wv = load(w.tile, wi);
        FloatVector lp = p.lanewise(LOG).max(-100f);
        FloatVector lq = p.neg().lanewise(LOG1P).max(-100f);
        FloatVector l = t.mul(lp).add(oneMinus(t).mul(lq)).mul(wv.neg());
        FloatVector den = p.mul(p.neg().add(1f)).max(1e-12f);
        FloatVector g = p.sub(t).mul(wv.mul(coef)).div(den);
        s = widenAdd(s, l);
        emit(l, g, loss, grad, i, acc);
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
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, w);
      long wi = i % w.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L) {
        FloatVector p = load(x, i);
        FloatVector t = load(y, i);
        FloatVector wv = load(w.tile, wi);
        FloatVector pc = p.max(lo).min(hi);
        FloatVector lp = pc.lanewise(LOG);
        FloatVector lq = pc.neg().lanewise(LOG1P);
        FloatVector l = t.mul(lp).add(oneMinus(t).mul(lq)).mul(wv.neg());
        FloatVector g = pc.sub(t).mul(wv.mul(coef)).div(pc.mul(pc.neg().add(1f)));
        VectorMask<Float> outside = p.compare(LT, lo).or(p.compare(GT, hi));
        g = g.blend(0f, outside);
        s = widenAdd(s, l);
        emit(l, g, loss, grad, i, acc);
      }
      tail += TAIL.bceClipped(x, y, i, end, loss, grad, coef, acc, w, lo, hi);
      i = end;
    }
    return s.reduceLanes(ADD) + tail;
  }

  @Override
  public double bceWithLogits(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w, Periodic pw) {
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, pw);
      long wi = i % w.period;
      long pi = i % pw.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L, pi += L) {
        FloatVector z = load(x, i);
        FloatVector t = load(y, i);
        FloatVector wv = load(w.tile, wi);
        FloatVector pwv = load(pw.tile, pi);
        FloatVector e = z.lanewise(ABS).neg().lanewise(EXP);
        FloatVector r = reciprocal(e.add(1f));
        FloatVector sig = e.mul(r).blend(r, z.compare(GE, 0f));
        FloatVector log1pE = e.lanewise(LOG1P);
        FloatVector softplusNeg = log1pE.add(z.neg().max(0f)); // −ln σ(z)
        FloatVector softplusPos = log1pE.add(z.max(0f)); // −ln(1 − σ(z))
        FloatVector lw = pwv.sub(1f).mul(t).add(1f);
        // a sum of non-negative terms: no cancellation, no overflow unless the loss overflows
        // weights multiply the bounded factors first, so a term overflows only if it is huge
        FloatVector l = wv.mul(pwv).mul(t).mul(softplusNeg).add(wv.mul(oneMinus(t)).mul(softplusPos));
        FloatVector g = lw.mul(sig).sub(pwv.mul(t)).mul(wv.mul(coef));
        s = widenAdd(s, l);
        emit(l, g, loss, grad, i, acc);
      }
      tail += TAIL.bceWithLogits(x, y, i, end, loss, grad, coef, acc, w, pw);
      i = end;
    }
    return s.reduceLanes(ADD) + tail;
  }

  @Override
  public double sigmoidFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      FloatVector z = load(x, i);
      FloatVector t = load(y, i);
      FloatVector e = z.lanewise(ABS).neg().lanewise(EXP);
      FloatVector r = reciprocal(e.add(1f));
      FloatVector er = e.mul(r);
      VectorMask<Float> nonNeg = z.compare(GE, 0f);
      FloatVector p = er.blend(r, nonNeg);
      FloatVector pm = r.blend(er, nonNeg); // 1 − p without cancellation
      FloatVector u = oneMinus(t);
      FloatVector log1pE = e.lanewise(LOG1P);
      // BCE with logits as t·softplus(−z) + (1−t)·softplus(z): non-negative terms only
      FloatVector ce = t.mul(log1pE.add(z.neg().max(0f))).add(u.mul(log1pE.add(z.max(0f))));
      FloatVector q = t.mul(pm).add(u.mul(p)); // 1 − p_t
      FloatVector qg = q.lanewise(POW, gamma);
      FloatVector at = t.mul(a1).add(a0);
      FloatVector ratio = p.mul(pm).div(q).blend(0f, q.compare(EQ, 0f));
      FloatVector l = at.mul(ce).mul(qg);
      // bounded factors first: ratio·qg ≤ 1, so only a truly huge gradient can overflow
      FloatVector focus = ratio.mul(qg).mul(t.mul(-2f * gamma).add(gamma)).mul(ce);
      FloatVector g = qg.mul(p.mul(u).sub(t.mul(pm))).add(focus).mul(at).mul(coef);
      s = widenAdd(s, l);
      emit(l, g, loss, grad, i, acc);
    }
    return s.reduceLanes(ADD) + TAIL.sigmoidFocal(x, y, i, to, loss, grad, coef, acc, gamma, a1, a0);
  }

  @Override
  public double binaryFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0, float lo, float hi) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      FloatVector p = load(x, i);
      FloatVector t = load(y, i);
      FloatVector pc = p.max(lo).min(hi);
      FloatVector u = oneMinus(t);
      FloatVector qc = oneMinus(pc);
      FloatVector pt = t.mul(pc).add(u.mul(qc));
      FloatVector om = t.mul(qc).add(u.mul(pc));
      FloatVector lp = pt.lanewise(LOG);
      FloatVector qg = om.lanewise(POW, gamma);
      FloatVector at = t.mul(a1).add(a0);
      FloatVector l = at.mul(qg).mul(lp).neg();
      FloatVector dpt = at.mul(qg).mul(lp.mul(gamma).div(om).sub(reciprocal(pt)));
      FloatVector g = dpt.mul(t.mul(2f).sub(1f)).mul(coef);
      g = g.blend(0f, p.compare(LT, lo).or(p.compare(GT, hi)));
      s = widenAdd(s, l);
      emit(l, g, loss, grad, i, acc);
    }
    return s.reduceLanes(ADD)
        + TAIL.binaryFocal(x, y, i, to, loss, grad, coef, acc, gamma, a1, a0, lo, hi);
  }

  static FloatVector oneMinus(FloatVector v) {
    return FloatVector.broadcast(F, 1f).sub(v);
  }

  static FloatVector reciprocal(FloatVector v) {
    return FloatVector.broadcast(F, 1f).div(v);
  }
}
