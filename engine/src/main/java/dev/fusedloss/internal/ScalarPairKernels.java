package dev.fusedloss.internal;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/** The portable {@link PairKernels}: one element at a time, math in double, float stores. */
public final class ScalarPairKernels implements PairKernels {
  public static final ScalarPairKernels INSTANCE = new ScalarPairKernels();

  private ScalarPairKernels() {}

  private static float get(MemorySegment s, long i) {
    return s.get(JAVA_FLOAT_UNALIGNED, i * Float.BYTES);
  }

  private static void put(MemorySegment s, long i, double v, boolean acc) {
    float f = (float) v;
    if (acc) {
      f += get(s, i);
    }
    s.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, f);
  }

  @Override
  public double dot(MemorySegment a, long ao, MemorySegment b, long bo, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) {
      s += (double) get(a, ao + i) * get(b, bo + i);
    }
    return s;
  }

  @Override
  public double distance(MemorySegment a, long ao, MemorySegment b, long bo, long n, float eps,
      float p) {
    double s = 0;
    for (long i = 0; i < n; i++) {
      double u = (double) get(a, ao + i) - get(b, bo + i) + eps;
      s += p == 2 ? u * u : p == 1 ? Math.abs(u) : Math.pow(Math.abs(u), p);
    }
    return s;
  }

  @Override
  public void combine(MemorySegment out, long oo, MemorySegment a, long ao, float ca,
      MemorySegment b, long bo, float cb, long n, boolean acc) {
    for (long i = 0; i < n; i++) {
      put(out, oo + i, (double) ca * get(a, ao + i) + (double) cb * get(b, bo + i), acc);
    }
  }

  @Override
  public void combinePair(MemorySegment ga, MemorySegment gb, MemorySegment a, MemorySegment b,
      long o, long n, float caa, float cab, float cbb, float cba, boolean acc) {
    for (long i = o; i < o + n; i++) {
      double ai = get(a, i);
      double bi = get(b, i);
      put(ga, i, (double) caa * ai + (double) cab * bi, acc);
      put(gb, i, (double) cbb * bi + (double) cba * ai, acc);
    }
  }

  @Override
  public void distanceGrad(MemorySegment out, long oo, MemorySegment a, long ao, MemorySegment b,
      long bo, long n, float eps, float p, float c, boolean acc) {
    for (long i = 0; i < n; i++) {
      double u = (double) get(a, ao + i) - get(b, bo + i) + eps;
      put(out, oo + i, c * dirOf(u, p), acc);
    }
  }

  @Override
  public void tripletGrad(MemorySegment a, MemorySegment p, MemorySegment n, long o, long dim,
      float eps, float cp, float cn, MemorySegment ga, MemorySegment gp, MemorySegment gn,
      boolean acc) {
    for (long i = o; i < o + dim; i++) {
      double ai = get(a, i);
      double u = ai - get(p, i) + eps;
      double v = ai - get(n, i) + eps;
      if (ga != null) {
        put(ga, i, (double) cp * u - (double) cn * v, acc);
      }
      if (gp != null) {
        put(gp, i, -(double) cp * u, acc);
      }
      if (gn != null) {
        put(gn, i, (double) cn * v, acc);
      }
    }
  }

  /** sign(u)·|u|^(p−1), with sign(0) = 0. */
  static double dirOf(double u, double p) {
    if (p == 2) {
      return u;
    }
    double sg = u > 0 ? 1 : u < 0 ? -1 : u == 0 ? 0 : u;
    return p == 1 ? sg : sg * Math.pow(Math.abs(u), p - 1);
  }

  @Override
  public double marginRanking(MemorySegment x1, MemorySegment x2, MemorySegment y, long from,
      long to, MemorySegment loss, MemorySegment g1, MemorySegment g2, float coef, boolean acc,
      float margin) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double yi = get(y, i);
      double z = -yi * ((double) get(x1, i) - get(x2, i)) + margin;
      float l = (float) Math.max(0, z); // NaN stays NaN
      // clamp_min's derivative: where(z >= 0, 1, 0) — the boundary passes, NaN does not
      double d = z >= 0 ? yi : 0;
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, l);
      }
      if (g1 != null) {
        put(g1, i, -d * coef, acc);
      }
      if (g2 != null) {
        put(g2, i, d * coef, acc);
      }
      sum += l;
    }
    return sum;
  }

  @Override
  public double gaussianNll(MemorySegment x, MemorySegment y, MemorySegment v, long from,
      long to, MemorySegment loss, MemorySegment gx, MemorySegment gv, float coef, boolean acc,
      float eps, float constant) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double d = (double) get(x, i) - get(y, i);
      double vi = get(v, i);
      double w = vi < eps ? eps : vi; // NaN stays NaN
      float l = (float) (0.5 * (Math.log(w) + d * d / w) + constant);
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, l);
      }
      if (gx != null) {
        put(gx, i, coef * d / w, acc);
      }
      if (gv != null) {
        put(gv, i, coef * 0.5 * (w - d * d) / (w * w), acc);
      }
      sum += l;
    }
    return sum;
  }

  @Override
  public double gaussianNllShared(MemorySegment x, MemorySegment y, long from, long to, float v,
      MemorySegment loss, MemorySegment gx, float coef, boolean acc, float constant) {
    double sq = 0;
    double half = 0.5 * Math.log(v) + constant;
    for (long i = from; i < to; i++) {
      double d = (double) get(x, i) - get(y, i);
      sq += d * d;
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, (float) (half + 0.5 * d * d / v));
      }
      if (gx != null) {
        put(gx, i, coef * d / v, acc);
      }
    }
    return sq;
  }

  @Override
  public double multiMargin(MemorySegment x, long off, int classes, int target, float margin,
      boolean squared, float w, MemorySegment grad, float coef, boolean acc) {
    double xt = get(x, off + target);
    double sum = 0;
    double gt = 0;
    for (int i = 0; i < classes; i++) {
      if (i == target) {
        continue;
      }
      double z = margin - xt + get(x, off + i);
      double g = 0;
      if (z > 0) {
        sum += w * (squared ? z * z : z);
        g = (double) coef * w * (squared ? 2 * z : 1);
      } // PyTorch's kernel tests z > 0, so a NaN margin term is skipped, not propagated
      gt -= g;
      if (grad != null) {
        put(grad, off + i, g, acc);
      }
    }
    if (grad != null) {
      put(grad, off + target, gt, acc);
    }
    return sum;
  }

  @Override
  public double multiLabelMargin(MemorySegment x, long off, int classes, float[] notTarget,
      int[] targets, int count, MemorySegment grad, float coef, boolean acc) {
    if (grad != null && !acc) {
      Args.zero(grad, off, classes);
    }
    double sum = 0;
    for (int j = 0; j < count; j++) {
      int t = targets[j];
      double xt = get(x, off + t);
      double active = 0;
      for (int i = 0; i < classes; i++) {
        if (notTarget[i] == 0) {
          continue;
        }
        double z = 1 - xt + get(x, off + i);
        if (z > 0) {
          sum += z;
          active++;
          if (grad != null) {
            put(grad, off + i, coef, true);
          }
        } // as PyTorch's kernel: z > 0 only, a NaN term is skipped
      }
      if (grad != null) {
        put(grad, off + t, -coef * active, true);
      }
    }
    return sum;
  }
}
