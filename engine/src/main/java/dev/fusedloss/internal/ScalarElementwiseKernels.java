package dev.fusedloss.internal;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/**
 * The portable implementation: one element at a time, per-element math in double precision,
 * results rounded to float32 on store. Used when the Vector API is not available, and by the
 * vector implementation for the tail of a range that does not fill a whole vector.
 */
public final class ScalarElementwiseKernels implements ElementwiseKernels {
  public static final ScalarElementwiseKernels INSTANCE = new ScalarElementwiseKernels();

  private ScalarElementwiseKernels() {}

  static float get(MemorySegment s, long i) {
    return s.get(JAVA_FLOAT_UNALIGNED, i * Float.BYTES);
  }

  /** Stores the loss and gradient of element i (when requested) and returns the loss. */
  private static double emit(MemorySegment loss, MemorySegment grad, long i,
      double l, double g, float coef, boolean acc) {
    if (loss != null) {
      loss.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, (float) l);
    }
    if (grad != null) {
      float gv = (float) (g * coef);
      if (acc) {
        gv += get(grad, i);
      }
      grad.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, gv);
    }
    return (float) l;
  }

  /** sign with sign(0) = 0 and sign(NaN) = NaN, as torch.sign. */
  private static double sign(double d) {
    return d > 0 ? 1 : d < 0 ? -1 : d == 0 ? 0 : d;
  }

  @Override
  public double mse(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double d = (double) get(x, i) - get(y, i);
      sum += emit(loss, grad, i, d * d, 2 * d, coef, acc);
    }
    return sum;
  }

  @Override
  public double l1(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double d = (double) get(x, i) - get(y, i);
      sum += emit(loss, grad, i, Math.abs(d), sign(d), coef, acc);
    }
    return sum;
  }

  @Override
  public double hingeEmbedding(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, float margin) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double xi = get(x, i);
      double yi = get(y, i);
      double l = 0;
      double g = 0;
      if (yi != 1) {
        double m = margin - xi;
        l += Math.max(0, m);
        g -= m >= 0 ? 1 : Double.isNaN(m) ? m : 0;
      }
      if (yi != -1) {
        l += xi;
        g += 1;
      }
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  @Override
  public double poissonNll(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, boolean logInput,
      boolean full, float eps) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double xi = get(x, i);
      double yi = get(y, i);
      double l;
      double g;
      if (logInput) {
        double e = Math.exp(xi);
        e = e > Float.MAX_VALUE ? Double.POSITIVE_INFINITY : e; // float32's exp, as the vector path
        l = e - yi * xi;
        g = e - yi;
      } else {
        double xe = xi + eps;
        l = xi - yi * Math.log(xe);
        g = 1 - yi / xe;
      }
      if (full && !(yi <= 1)) { // PyTorch masks target <= 1 only, so a NaN target stays NaN
        l += stirling(yi);
      }
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  /** Stirling's approximation of log(y!) as PyTorch's PoissonNLLLoss adds it. */
  static double stirling(double y) {
    return y * Math.log(y) - y + 0.5 * Math.log(2 * Math.PI * y);
  }

  @Override
  public double softMargin(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double z = -(double) get(y, i) * get(x, i);
      double e = Math.exp(-Math.abs(z));
      double l = Math.max(z, 0) + Math.log1p(e);
      double sig = z >= 0 ? 1 / (1 + e) : e / (1 + e); // σ(z)
      sum += emit(loss, grad, i, l, -get(y, i) * sig, coef, acc);
    }
    return sum;
  }

  @Override
  public double robust(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float thr, float div, float b, float c) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double d = (double) get(x, i) - get(y, i);
      double ad = Math.abs(d);
      boolean quad = ad < thr;
      double q = d / div; // not d·(1/div): see the vector kernel
      double l = quad ? 0.5 * d * q : b * (ad - c);
      double g = quad ? q : b * sign(d);
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  @Override
  public double bce(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double p = get(x, i);
      double t = get(y, i);
      double wi = w.at(i);
      double lp = Math.max(Math.log(p), -100);
      double lq = Math.max(Math.log1p(-p), -100);
      double l = -wi * (t * lp + (1 - t) * lq);
      double g = wi * (p - t) / Math.max(p * (1 - p), 1e-12);
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  @Override
  public double bceClipped(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w,
      float lo, float hi) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double p = get(x, i);
      double t = get(y, i);
      double wi = w.at(i);
      double pc = Math.min(Math.max(p, lo), hi);
      double l = -wi * (t * Math.log(pc) + (1 - t) * Math.log1p(-pc));
      // autograd of clamp passes the gradient only inside [lo, hi]; NaN propagates
      double g = (p >= lo && p <= hi) || p != p ? wi * (pc - t) / (pc * (1 - pc)) : 0;
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  @Override
  public double bceWithLogits(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w, Periodic pw) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double z = get(x, i);
      double t = get(y, i);
      double wi = w.at(i);
      double pwi = pw.at(i);
      double e = Math.exp(-Math.abs(z));
      double log1pE = Math.log1p(e);
      double softplusNeg = log1pE + Math.max(-z, 0);
      double softplusPos = log1pE + Math.max(z, 0);
      double lw = 1 + (pwi - 1) * t;
      double sig = z >= 0 ? 1 / (1 + e) : e / (1 + e);
      double l = wi * (pwi * t * softplusNeg + (1 - t) * softplusPos);
      double g = wi * (lw * sig - pwi * t);
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  @Override
  public double sigmoidFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double z = get(x, i);
      double t = get(y, i);
      double e = Math.exp(-Math.abs(z));
      double r = 1 / (1 + e);
      double p = z >= 0 ? r : e * r;
      double pm = z >= 0 ? e * r : r; // 1 − p without cancellation
      double log1pE = Math.log1p(e);
      double ce = t * (log1pE + Math.max(-z, 0)) + (1 - t) * (log1pE + Math.max(z, 0));
      double q = t * pm + (1 - t) * p; // 1 − p_t
      double qg = Math.pow(q, gamma);
      double at = a1 * t + a0;
      // d(1−p_t)/dz = (1−2t)·p(1−p); p(1−p)/q stays ≤ 1 and avoids q^(γ−1) = ∞ at q = 0
      double ratio = q > 0 ? p * pm / q : 0;
      double l = at * ce * qg;
      double g = at * qg * ((p * (1 - t) - t * pm) + gamma * ce * (1 - 2 * t) * ratio);
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  @Override
  public double binaryFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0, float lo, float hi) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double p = get(x, i);
      double t = get(y, i);
      double pc = Math.min(Math.max(p, lo), hi);
      double pt = t * pc + (1 - t) * (1 - pc);
      double om = t * (1 - pc) + (1 - t) * pc; // 1 − p_t, ≥ lo > 0 inside the clip range
      double lp = Math.log(pt);
      double qg = Math.pow(om, gamma);
      double at = a1 * t + a0;
      double l = -at * qg * lp;
      double dpt = at * qg * (gamma * lp / om - 1 / pt);
      double g = (p >= lo && p <= hi) || p != p ? dpt * (2 * t - 1) : 0;
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }

  @Override
  public long firstNaN(MemorySegment x, long from, long to) {
    for (long i = from; i < to; i++) {
      if (Float.isNaN(get(x, i))) {
        return i;
      }
    }
    return -1;
  }

  @Override
  public long firstNonFinite(MemorySegment x, long from, long to) {
    for (long i = from; i < to; i++) {
      if (!Float.isFinite(get(x, i))) {
        return i;
      }
    }
    return -1;
  }

  @Override
  public long firstBad(MemorySegment x, MemorySegment y, MemorySegment g, long from, long to) {
    for (long i = from; i < to; i++) {
      if (Float.isNaN(get(x, i)) || Float.isNaN(get(y, i))
          || (g != null && !Float.isFinite(get(g, i)))) {
        return i;
      }
    }
    return -1;
  }

  @Override
  public void addInto(MemorySegment dst, MemorySegment src, long from, long to) {
    for (long i = from; i < to; i++) {
      long off = i * Float.BYTES;
      dst.set(JAVA_FLOAT_UNALIGNED, off,
          dst.get(JAVA_FLOAT_UNALIGNED, off) + src.get(JAVA_FLOAT_UNALIGNED, off));
    }
  }

  @Override
  public double sumSquares(MemorySegment x, long from, long to) {
    double s = 0;
    for (long i = from; i < to; i++) {
      double v = get(x, i);
      s += v * v;
    }
    return s;
  }

  @Override
  public double klDiv(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, boolean logTarget) {
    double sum = 0;
    for (long i = from; i < to; i++) {
      double lp = get(x, i);
      double t = get(y, i);
      double l;
      double g;
      if (logTarget) {
        double et = Math.exp(t);
        l = et * (t - lp);
        g = -et;
      } else {
        l = (t == 0 ? 0 : t * Math.log(t)) - t * lp; // xlogy(t, t) − t·x, as PyTorch
        g = -t;
      }
      sum += emit(loss, grad, i, l, g, coef, acc);
    }
    return sum;
  }
}
