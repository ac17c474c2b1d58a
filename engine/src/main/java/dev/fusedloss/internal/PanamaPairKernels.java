package dev.fusedloss.internal;

import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.F2D;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.LOG;
import static jdk.incubator.vector.VectorOperators.LT;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API {@link PairKernels}: one vector of elements (or of a row's classes) per step,
 * float32 arithmetic with float accumulators for row reductions (as PyTorch's float32 kernels),
 * double sums for the call's loss; ragged tails and p-norms other than 1 and 2 go to the scalar
 * kernels.
 */
final class PanamaPairKernels implements PairKernels {
  private static final VectorSpecies<Float> F = PanamaSpecies.F;
  private static final VectorSpecies<Double> D = PanamaSpecies.D;
  private static final int L = PanamaSpecies.L;
  private static final ByteOrder NATIVE = PanamaSpecies.NATIVE;
  private static final ScalarPairKernels TAIL = ScalarPairKernels.INSTANCE;

  private static FloatVector load(MemorySegment s, long i) {
    return FloatVector.fromMemorySegment(F, s, i * Float.BYTES, NATIVE);
  }

  @Override
  public double dot(MemorySegment a, long ao, MemorySegment b, long bo, long n) {
    FloatVector acc = FloatVector.zero(F);
    long i = 0;
    for (long bound = F.loopBound(n); i < bound; i += L) {
      acc = load(a, ao + i).fma(load(b, bo + i), acc);
    }
    return acc.reduceLanes(ADD) + TAIL.dot(a, ao + i, b, bo + i, n - i);
  }

  @Override
  public double distance(MemorySegment a, long ao, MemorySegment b, long bo, long n, float eps,
      float p) {
    if (p != 1 && p != 2) {
      return TAIL.distance(a, ao, b, bo, n, eps, p);
    }
    FloatVector acc = FloatVector.zero(F);
    long i = 0;
    long bound = F.loopBound(n);
    if (p == 2) { // one loop per p: no vector crosses a branch
      for (; i < bound; i += L) {
        FloatVector u = load(a, ao + i).sub(load(b, bo + i)).add(eps);
        acc = u.fma(u, acc);
      }
    } else {
      for (; i < bound; i += L) {
        acc = acc.add(load(a, ao + i).sub(load(b, bo + i)).add(eps).lanewise(ABS));
      }
    }
    return acc.reduceLanes(ADD) + TAIL.distance(a, ao + i, b, bo + i, n - i, eps, p);
  }

  @Override
  public void combine(MemorySegment out, long oo, MemorySegment a, long ao, float ca,
      MemorySegment b, long bo, float cb, long n, boolean acc) {
    long i = 0;
    for (long bound = F.loopBound(n); i < bound; i += L) {
      FloatVector v = load(a, ao + i).mul(ca).add(load(b, bo + i).mul(cb));
      if (acc) {
        v = v.add(load(out, oo + i));
      }
      v.intoMemorySegment(out, (oo + i) * Float.BYTES, NATIVE);
    }
    TAIL.combine(out, oo + i, a, ao + i, ca, b, bo + i, cb, n - i, acc);
  }

  @Override
  public void combinePair(MemorySegment ga, MemorySegment gb, MemorySegment a, MemorySegment b,
      long o, long n, float caa, float cab, float cbb, float cba, boolean acc) {
    long i = 0;
    for (long bound = F.loopBound(n); i < bound; i += L) {
      long at = o + i;
      long off = at * Float.BYTES;
      FloatVector av = load(a, at);
      FloatVector bv = load(b, at);
      FloatVector g1 = av.mul(caa).add(bv.mul(cab));
      FloatVector g2 = bv.mul(cbb).add(av.mul(cba));
      (acc ? g1.add(load(ga, at)) : g1).intoMemorySegment(ga, off, NATIVE);
      (acc ? g2.add(load(gb, at)) : g2).intoMemorySegment(gb, off, NATIVE);
    }
    TAIL.combinePair(ga, gb, a, b, o + i, n - i, caa, cab, cbb, cba, acc);
  }

  @Override
  public void distanceGrad(MemorySegment out, long oo, MemorySegment a, long ao, MemorySegment b,
      long bo, long n, float eps, float p, float c, boolean acc) {
    if (p != 1 && p != 2) {
      TAIL.distanceGrad(out, oo, a, ao, b, bo, n, eps, p, c, acc);
      return;
    }
    FloatVector zero = FloatVector.zero(F);
    long i = 0;
    long bound = F.loopBound(n);
    if (p == 2) { // one loop per p and per acc: no vector crosses a branch
      if (acc) {
        for (; i < bound; i += L) {
          load(a, ao + i).sub(load(b, bo + i)).add(eps).mul(c).add(load(out, oo + i))
              .intoMemorySegment(out, (oo + i) * Float.BYTES, NATIVE);
        }
      } else {
        for (; i < bound; i += L) {
          load(a, ao + i).sub(load(b, bo + i)).add(eps).mul(c)
              .intoMemorySegment(out, (oo + i) * Float.BYTES, NATIVE);
        }
      }
    } else {
      for (; i < bound; i += L) {
        FloatVector u = load(a, ao + i).sub(load(b, bo + i)).add(eps);
        FloatVector v = zero.blend(c, u.compare(GT, 0f)).blend(-c, u.compare(LT, 0f));
        if (acc) {
          v = v.add(load(out, oo + i));
        }
        v.intoMemorySegment(out, (oo + i) * Float.BYTES, NATIVE);
      }
    }
    TAIL.distanceGrad(out, oo + i, a, ao + i, b, bo + i, n - i, eps, p, c, acc);
  }

  @Override
  public void tripletGrad(MemorySegment a, MemorySegment p, MemorySegment n, long o, long dim,
      float eps, float cp, float cn, MemorySegment ga, MemorySegment gp, MemorySegment gn,
      boolean acc) {
    long i = 0;
    for (long bound = F.loopBound(dim); i < bound; i += L) {
      long at = o + i;
      long off = at * Float.BYTES;
      FloatVector av = load(a, at);
      FloatVector u = av.sub(load(p, at)).add(eps);
      FloatVector v = av.sub(load(n, at)).add(eps);
      if (ga != null) {
        FloatVector g = u.mul(cp).sub(v.mul(cn));
        (acc ? g.add(load(ga, at)) : g).intoMemorySegment(ga, off, NATIVE);
      }
      if (gp != null) {
        FloatVector g = u.mul(-cp);
        (acc ? g.add(load(gp, at)) : g).intoMemorySegment(gp, off, NATIVE);
      }
      if (gn != null) {
        FloatVector g = v.mul(cn);
        (acc ? g.add(load(gn, at)) : g).intoMemorySegment(gn, off, NATIVE);
      }
    }
    TAIL.tripletGrad(a, p, n, o + i, dim - i, eps, cp, cn, ga, gp, gn, acc);
  }

  @Override
  public double marginRanking(MemorySegment x1, MemorySegment x2, MemorySegment y, long from,
      long to, MemorySegment loss, MemorySegment g1, MemorySegment g2, float coef, boolean acc,
      float margin) {
    FloatVector zero = FloatVector.zero(F);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector yv = load(y, i);
      FloatVector z = load(x1, i).sub(load(x2, i)).mul(yv).neg().add(margin);
      FloatVector l = z.max(zero);
      FloatVector d = zero.blend(yv.mul(coef), z.compare(GE, 0f));
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0))
          .add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (g1 != null) {
        FloatVector g = d.neg();
        (acc ? g.add(load(g1, i)) : g).intoMemorySegment(g1, off, NATIVE);
      }
      if (g2 != null) {
        (acc ? d.add(load(g2, i)) : d).intoMemorySegment(g2, off, NATIVE);
      }
    }
    return s.reduceLanes(ADD)
        + TAIL.marginRanking(x1, x2, y, i, to, loss, g1, g2, coef, acc, margin);
  }

  @Override
  public double gaussianNll(MemorySegment x, MemorySegment y, MemorySegment v, long from,
      long to, MemorySegment loss, MemorySegment gx, MemorySegment gv, float coef, boolean acc,
      float eps, float constant) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = load(x, i).sub(load(y, i));
      FloatVector vv = load(v, i);
      FloatVector w = vv.blend(eps, vv.compare(LT, eps)); // NaN stays NaN
      FloatVector q = d.mul(d).div(w);
      FloatVector l = w.lanewise(LOG).add(q).mul(0.5f).add(constant);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0))
          .add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (gx != null) {
        FloatVector g = d.mul(coef).div(w);
        (acc ? g.add(load(gx, i)) : g).intoMemorySegment(gx, off, NATIVE);
      }
      if (gv != null) {
        FloatVector g = w.sub(d.mul(d)).mul(0.5f * coef).div(w.mul(w));
        (acc ? g.add(load(gv, i)) : g).intoMemorySegment(gv, off, NATIVE);
      }
    }
    return s.reduceLanes(ADD)
        + TAIL.gaussianNll(x, y, v, i, to, loss, gx, gv, coef, acc, eps, constant);
  }

  @Override
  public double gaussianNllShared(MemorySegment x, MemorySegment y, long from, long to, float v,
      MemorySegment loss, MemorySegment gx, float coef, boolean acc, float constant) {
    float half = (float) (0.5 * Math.log(v) + constant);
    float inv2 = 0.5f / v;
    float g = coef / v;
    FloatVector sq = FloatVector.zero(F);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = load(x, i).sub(load(y, i));
      FloatVector d2 = d.mul(d);
      sq = sq.add(d2);
      if (loss != null) {
        d2.mul(inv2).add(half).intoMemorySegment(loss, off, NATIVE);
      }
      if (gx != null) {
        FloatVector gd = d.mul(g);
        (acc ? gd.add(load(gx, i)) : gd).intoMemorySegment(gx, off, NATIVE);
      }
    }
    return sq.reduceLanes(ADD)
        + TAIL.gaussianNllShared(x, y, i, to, v, loss, gx, coef, acc, constant);
  }

  @Override
  public double multiMargin(MemorySegment x, long off, int classes, int target, float margin,
      boolean squared, float w, MemorySegment grad, float coef, boolean acc) {
    float xt = x.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
        (off + target) * Float.BYTES);
    float base = margin - xt;
    float gw = coef * w;
    FloatVector zero = FloatVector.zero(F);
    FloatVector sum = zero;
    FloatVector gsum = zero;
    double tail = 0;
    double gtail = 0;
    for (int part = 0; part < 2; part++) { // the classes before and after the target
      int lo = part == 0 ? 0 : target + 1;
      int hi = part == 0 ? target : classes;
      int i = lo;
      for (int bound = lo + F.loopBound(hi - lo); i < bound; i += L) {
        FloatVector z = load(x, off + i).add(base);
        VectorMask<Float> on = z.compare(GT, 0f);
        FloatVector h = zero.blend(squared ? z.mul(z) : z, on);
        FloatVector g = zero.blend(squared ? z.mul(2 * gw) : FloatVector.broadcast(F, gw), on);
        sum = sum.add(h);
        gsum = gsum.add(g);
        if (grad != null) {
          (acc ? g.add(load(grad, off + i)) : g).intoMemorySegment(grad, (off + i) * Float.BYTES,
              NATIVE);
        }
      }
      for (; i < hi; i++) {
        float z = x.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, (off + i) * Float.BYTES)
            + base;
        float g = 0;
        if (z > 0) {
          tail += squared ? z * z : z;
          g = squared ? 2 * gw * z : gw;
        }
        gtail += g;
        if (grad != null) {
          float old = acc ? grad.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
              (off + i) * Float.BYTES) : 0f;
          grad.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, (off + i) * Float.BYTES,
              old + g);
        }
      }
    }
    if (grad != null) {
      long at = (off + target) * Float.BYTES;
      float gt = (float) -(gsum.reduceLanes(ADD) + gtail);
      float old = acc ? grad.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at) : 0f;
      grad.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at, old + gt);
    }
    return w * (sum.reduceLanes(ADD) + tail);
  }

  @Override
  public double multiLabelMargin(MemorySegment x, long off, int classes, float[] notTarget,
      int[] targets, int count, MemorySegment grad, float coef, boolean acc) {
    if (grad != null && !acc) {
      Args.zero(grad, off, classes);
    }
    FloatVector zero = FloatVector.zero(F);
    FloatVector sum = zero;
    double tail = 0;
    int bound = F.loopBound(classes);
    for (int j = 0; j < count; j++) {
      int t = targets[j];
      float base = 1 - x.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
          (off + t) * Float.BYTES);
      int active = 0;
      int i = 0;
      for (; i < bound; i += L) {
        FloatVector z = load(x, off + i).add(base);
        VectorMask<Float> on = z.compare(GT, 0f)
            .and(FloatVector.fromArray(F, notTarget, i).compare(GT, 0f));
        sum = sum.add(zero.blend(z, on));
        active += on.trueCount();
        if (grad != null) {
          load(grad, off + i).add(zero.blend(coef, on))
              .intoMemorySegment(grad, (off + i) * Float.BYTES, NATIVE);
        }
      }
      for (; i < classes; i++) {
        float z = base + x.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
            (off + i) * Float.BYTES);
        if (notTarget[i] != 0 && z > 0) {
          tail += z;
          active++;
          if (grad != null) {
            long at = (off + i) * Float.BYTES;
            grad.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at,
                grad.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at) + coef);
          }
        }
      }
      if (grad != null) {
        long at = (off + t) * Float.BYTES;
        grad.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at,
            grad.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at) - coef * active);
      }
    }
    return sum.reduceLanes(ADD) + tail;
  }
}
