package dev.fusedloss.bench;

import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.EXP;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.LOG;
import static jdk.incubator.vector.VectorOperators.LOG1P;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.POW;

import dev.fusedloss.internal.PanamaExp;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The unfused baseline: PyTorch's eager CPU structure for an element-wise loss — a forward
 * element-wise pass writing the per-element losses, a reduction pass over them, then a backward
 * pass that reads the inputs again and writes the gradient. Each pass is vectorized like the
 * fused kernel, so the comparison isolates fusion (memory traffic), not vectorization. Default
 * options only (no weights; β = δ = 1; α = 0.25, γ = 2; clip 1e-7). Lengths are multiples of
 * the vector length.
 */
final class Unfused {
  static final VectorSpecies<Float> F = PanamaExp.species();
  static final ByteOrder NO = ByteOrder.nativeOrder();

  private Unfused() {}

  static FloatVector ld(MemorySegment s, long i) {
    return FloatVector.fromMemorySegment(F, s, i * 4, NO);
  }

  static void st(FloatVector v, MemorySegment s, long i) {
    v.intoMemorySegment(s, i * 4, NO);
  }

  /** Runs forward, sum and backward for the named loss; returns the mean loss. */
  static double run(String loss, MemorySegment x, MemorySegment y, MemorySegment tmp,
      MemorySegment grad, long n) {
    float c = 1f / n;
    switch (loss) {
      case "mse" -> {
        for (long i = 0; i < n; i += F.length()) {
          FloatVector d = ld(x, i).sub(ld(y, i));
          st(d.mul(d), tmp, i);
        }
        double s = sum(tmp, n);
        for (long i = 0; i < n; i += F.length()) {
          st(ld(x, i).sub(ld(y, i)).mul(2f * c), grad, i);
        }
        return s / n;
      }
      case "l1" -> {
        for (long i = 0; i < n; i += F.length()) {
          st(ld(x, i).sub(ld(y, i)).lanewise(ABS), tmp, i);
        }
        double s = sum(tmp, n);
        for (long i = 0; i < n; i += F.length()) {
          st(sign(ld(x, i).sub(ld(y, i)), c), grad, i);
        }
        return s / n;
      }
      case "smoothL1", "huber" -> {
        for (long i = 0; i < n; i += F.length()) {
          FloatVector d = ld(x, i).sub(ld(y, i));
          FloatVector ad = d.lanewise(ABS);
          st(ad.sub(0.5f).blend(d.mul(d).mul(0.5f), ad.compare(LT, 1f)), tmp, i);
        }
        double s = sum(tmp, n);
        for (long i = 0; i < n; i += F.length()) {
          FloatVector d = ld(x, i).sub(ld(y, i));
          st(sign(d, c).blend(d.mul(c), d.lanewise(ABS).compare(LT, 1f)), grad, i);
        }
        return s / n;
      }
      case "bce" -> {
        for (long i = 0; i < n; i += F.length()) {
          FloatVector p = ld(x, i);
          FloatVector t = ld(y, i);
          FloatVector lp = p.lanewise(LOG).max(-100f);
          FloatVector lq = p.neg().lanewise(LOG1P).max(-100f);
          st(t.mul(lp).add(t.neg().add(1f).mul(lq)).neg(), tmp, i);
        }
        double s = sum(tmp, n);
        for (long i = 0; i < n; i += F.length()) {
          FloatVector p = ld(x, i);
          FloatVector t = ld(y, i);
          st(p.sub(t).mul(c).div(p.mul(p.neg().add(1f)).max(1e-12f)), grad, i);
        }
        return s / n;
      }
      case "bceWithLogits" -> {
        for (long i = 0; i < n; i += F.length()) {
          FloatVector z = ld(x, i);
          FloatVector t = ld(y, i);
          FloatVector sp = z.lanewise(ABS).neg().lanewise(EXP).lanewise(LOG1P).add(z.neg().max(0f));
          st(t.neg().add(1f).mul(z).add(sp), tmp, i);
        }
        double s = sum(tmp, n);
        for (long i = 0; i < n; i += F.length()) {
          FloatVector z = ld(x, i);
          FloatVector sig = FloatVector.broadcast(F, 1f).div(z.neg().lanewise(EXP).add(1f));
          st(sig.sub(ld(y, i)).mul(c), grad, i);
        }
        return s / n;
      }
      case "sigmoidFocal" -> {
        for (long i = 0; i < n; i += F.length()) {
          FloatVector z = ld(x, i);
          FloatVector t = ld(y, i);
          FloatVector p = FloatVector.broadcast(F, 1f).div(z.neg().lanewise(EXP).add(1f));
          FloatVector u = t.neg().add(1f);
          FloatVector ce = u.mul(z).add(z.lanewise(ABS).neg().lanewise(EXP).lanewise(LOG1P))
              .add(z.neg().max(0f));
          FloatVector q = t.mul(p.neg().add(1f)).add(u.mul(p));
          FloatVector at = t.mul(-0.5f).add(0.75f);
          st(at.mul(ce).mul(q.lanewise(POW, 2f)), tmp, i);
        }
        double s = sum(tmp, n);
        for (long i = 0; i < n; i += F.length()) {
          FloatVector z = ld(x, i);
          FloatVector t = ld(y, i);
          FloatVector p = FloatVector.broadcast(F, 1f).div(z.neg().lanewise(EXP).add(1f));
          FloatVector u = t.neg().add(1f);
          FloatVector pm = p.neg().add(1f);
          FloatVector ce = u.mul(z).add(z.lanewise(ABS).neg().lanewise(EXP).lanewise(LOG1P))
              .add(z.neg().max(0f));
          FloatVector q = t.mul(pm).add(u.mul(p));
          FloatVector at = t.mul(-0.5f).add(0.75f);
          FloatVector dq = t.mul(-2f).add(1f).mul(p).mul(pm);
          FloatVector g = p.sub(t).mul(q.mul(q)).add(ce.mul(2f).mul(q).mul(dq));
          st(g.mul(at).mul(c), grad, i);
        }
        return s / n;
      }
      case "binaryFocal" -> {
        for (long i = 0; i < n; i += F.length()) {
          FloatVector t = ld(y, i);
          FloatVector pc = ld(x, i).max(1e-7f).min(1f - 1e-7f);
          FloatVector pt = t.mul(pc).add(t.neg().add(1f).mul(pc.neg().add(1f)));
          FloatVector om = pt.neg().add(1f);
          FloatVector at = t.mul(-0.5f).add(0.75f);
          st(at.mul(om.mul(om)).mul(pt.lanewise(LOG)).neg(), tmp, i);
        }
        double s = sum(tmp, n);
        for (long i = 0; i < n; i += F.length()) {
          FloatVector t = ld(y, i);
          FloatVector pc = ld(x, i).max(1e-7f).min(1f - 1e-7f);
          FloatVector pt = t.mul(pc).add(t.neg().add(1f).mul(pc.neg().add(1f)));
          FloatVector om = pt.neg().add(1f);
          FloatVector at = t.mul(-0.5f).add(0.75f);
          FloatVector d = at.mul(om.mul(2f).mul(pt.lanewise(LOG)).sub(om.mul(om).div(pt)));
          st(d.mul(t.mul(2f).sub(1f)).mul(c), grad, i);
        }
        return s / n;
      }
      default -> throw new IllegalArgumentException(loss);
    }
  }

  static FloatVector sign(FloatVector d, float c) {
    VectorMask<Float> pos = d.compare(GT, 0f);
    VectorMask<Float> neg = d.compare(LT, 0f);
    return FloatVector.zero(F).blend(c, pos).blend(-c, neg);
  }

  static double sum(MemorySegment s, long n) {
    double total = 0;
    for (long b = 0; b < n; b += 1024) { // float blocks flushed to double keep the sum accurate
      FloatVector acc = FloatVector.zero(F);
      for (long i = b, end = Math.min(n, b + 1024); i < end; i += F.length()) {
        acc = acc.add(ld(s, i));
      }
      total += acc.reduceLanes(ADD);
    }
    return total;
  }

  /** The memory reference: reads two arrays, writes one — the bytes a fused kernel streams. */
  static void stream(MemorySegment x, MemorySegment y, MemorySegment out, long n) {
    for (long i = 0; i < n; i += F.length()) {
      st(ld(x, i).add(ld(y, i)), out, i);
    }
  }

  /** The read reference: a vector sum of one array, two accumulators (n a multiple of 2L). */
  static double readSum(MemorySegment x, long n) {
    FloatVector a = FloatVector.zero(F);
    FloatVector b = a;
    for (long i = 0; i < n; i += 2L * F.length()) {
      a = a.add(ld(x, i));
      b = b.add(ld(x, i + F.length()));
    }
    return a.add(b).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
  }

}
