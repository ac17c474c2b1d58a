package dev.fusedloss.internal;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/**
 * Portable row kernels: three sweeps per row (max, Σexp, gradient), per-element math in double
 * precision. Used when the Vector API is unavailable.
 */
public final class ScalarSoftmaxKernels implements SoftmaxKernels {
  public static final ScalarSoftmaxKernels INSTANCE = new ScalarSoftmaxKernels();

  private ScalarSoftmaxKernels() {}

  static float get(MemorySegment s, long i) {
    return s.get(JAVA_FLOAT_UNALIGNED, i * Float.BYTES);
  }

  static void put(MemorySegment s, long i, double v) {
    s.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, (float) v);
  }

  static void putGrad(MemorySegment grad, long i, double g, boolean acc) {
    float v = (float) g;
    if (acc) {
      v += get(grad, i);
    }
    grad.set(JAVA_FLOAT_UNALIGNED, i * Float.BYTES, v);
  }

  static double weight(MemorySegment w, long c) {
    return w == null ? 1 : get(w, c);
  }

  /** An ignored row: loss 0 and a zero gradient row (left as it is when accumulating). */
  static void ignoredRow(MemorySegment loss, MemorySegment grad, long r, long base, long classes,
      boolean acc) {
    if (loss != null) {
      put(loss, r, 0);
    }
    zeroRow(grad, base, classes, acc);
  }

  static void zeroRow(MemorySegment grad, long base, long classes, boolean acc) {
    if (grad != null && !acc) {
      for (long c = 0; c < classes; c++) {
        grad.set(JAVA_FLOAT_UNALIGNED, (base + c) * Float.BYTES, 0f);
      }
    }
  }

  /** Soft-capped logit. */
  static double cap(double x, float softcap) {
    return softcap > 0 ? softcap * Math.tanh(x / softcap) : x;
  }

  @Override
  public double crossEntropy(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float zScale, CrossEntropy opt) {
    double total = 0;
    double eps = opt.smoothing();
    double epsC = eps / classes;
    double wsum = opt.weight() == null ? classes : opt.weightSum();
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = RowArgs.target(targets, r, opt.int64());
      if (t == opt.ignoreIndex()) {
        ignoredRow(loss, grad, r, base, classes, acc);
        continue;
      }
      double m = Double.NEGATIVE_INFINITY;
      double sumWx = 0;
      for (long c = 0; c < classes; c++) {
        double v = cap(get(x, base + c), opt.softcap());
        m = Math.max(m, v);
        sumWx += weight(opt.weight(), c) * v;
      }
      double s = 0;
      for (long c = 0; c < classes; c++) {
        s += Math.exp(cap(get(x, base + c), opt.softcap()) - m);
      }
      double logS = Math.log(s); // a NaN logit already made m (Math.max) NaN
      double lse = m + logS;
      double wt = weight(opt.weight(), t);
      double xt = cap(get(x, base + t), opt.softcap());
      double l = (1 - eps) * wt * ((m - xt) + logS) + zScale * lse * lse;
      if (eps > 0) {
        l += epsC * (wsum * logS + (wsum * m - sumWx)); // Σ w(m − x) first, as above
      }
      if (loss != null) {
        put(loss, r, l);
      }
      total += (float) l;
      if (grad != null) {
        double a = (1 - eps) * wt + epsC * wsum + 2 * zScale * lse;
        for (long c = 0; c < classes; c++) {
          double raw = get(x, base + c);
          double xc = cap(raw, opt.softcap());
          double p = Math.exp(xc - m) / s;
          double g = p * a - epsC * weight(opt.weight(), c) - (c == t ? (1 - eps) * wt : 0);
          if (opt.softcap() > 0) {
            double th = xc / opt.softcap();
            g *= 1 - th * th;
          }
          putGrad(grad, base + c, g * coef, acc);
        }
      }
    }
    return total;
  }

  @Override
  public double softCrossEntropy(MemorySegment x, MemorySegment q, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, float smoothing) {
    double total = 0;
    double eps = smoothing;
    double epsC = eps / classes;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      double m = Double.NEGATIVE_INFINITY;
      double wq = 0;
      double wqx = 0;
      for (long c = 0; c < classes; c++) {
        double v = get(x, base + c);
        m = Math.max(m, v);
        double qc = weight(weight, c) * ((1 - eps) * get(q, base + c) + epsC);
        wq += qc;
        wqx += qc * v;
      }
      double s = 0;
      for (long c = 0; c < classes; c++) {
        s += Math.exp(get(x, base + c) - m);
      }
      double logS = Math.log(s); // a NaN logit already made m (Math.max) NaN
      double l = wq * logS + (wq * m - wqx);
      if (loss != null) {
        put(loss, r, l);
      }
      total += (float) l;
      if (grad != null) {
        for (long c = 0; c < classes; c++) {
          double p = Math.exp(get(x, base + c) - m) / s;
          double qc = weight(weight, c) * ((1 - eps) * get(q, base + c) + epsC);
          putGrad(grad, base + c, (p * wq - qc) * coef, acc);
        }
      }
    }
    return total;
  }

  @Override
  public double softmaxFocal(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, MemorySegment alpha, int ignoreIndex, boolean int64) {
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = RowArgs.target(targets, r, int64);
      if (t == ignoreIndex) {
        ignoredRow(loss, grad, r, base, classes, acc);
        continue;
      }
      double m = rowMax(x, base, classes);
      double s = sumExp(x, base, classes, m);
      double lpt = (get(x, base + t) - m) - Math.log(s);
      double pt = Math.exp(lpt);
      double om = -Math.expm1(lpt); // 1 − p_t without cancellation
      double at = weight(alpha, t);
      double og = Math.pow(om, gamma);
      double l = -at * og * lpt;
      // dℓ/dx_c = (δ_ct − p_c)·F; ln p_t/(1 − p_t) → −1 as p_t → 1
      double ratio = om > 0 ? lpt / om : -1;
      double f = at * (gamma * pt * ratio * og - og);
      if (loss != null) {
        put(loss, r, l);
      }
      total += (float) l;
      if (grad != null) {
        for (long c = 0; c < classes; c++) {
          double p = Math.exp(get(x, base + c) - m) / s;
          double g = ((c == t ? 1 : 0) - p) * f;
          putGrad(grad, base + c, g * coef, acc);
        }
      }
    }
    return total;
  }

  /** Row maximum (NaN if the row holds a NaN: Math.max propagates it). */
  static double rowMax(MemorySegment x, long base, long classes) {
    double m = Double.NEGATIVE_INFINITY;
    for (long c = 0; c < classes; c++) {
      m = Math.max(m, get(x, base + c));
    }
    return m;
  }

  static double sumExp(MemorySegment x, long base, long classes, double m) {
    double s = 0;
    for (long c = 0; c < classes; c++) {
      s += Math.exp(get(x, base + c) - m);
    }
    return s;
  }

  @Override
  public double distillation(MemorySegment s, MemorySegment t, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float temperature) {
    double total = 0;
    double inv = 1.0 / temperature;
    double t2 = (double) temperature * temperature;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      double ms = Double.NEGATIVE_INFINITY;
      double mt = Double.NEGATIVE_INFINITY;
      for (long c = 0; c < classes; c++) {
        ms = Math.max(ms, get(s, base + c) * inv);
        mt = Math.max(mt, get(t, base + c) * inv);
      }
      double ss = 0;
      double st = 0;
      double d = 0;
      for (long c = 0; c < classes; c++) {
        double sc = get(s, base + c) * inv;
        double tc = get(t, base + c) * inv;
        ss += Math.exp(sc - ms);
        double et = Math.exp(tc - mt);
        st += et;
        if (et > 0) { // 0·ln 0 = 0 for masked teacher classes
          d += et * ((tc - mt) - (sc - ms)); // shifted: identical rows give exactly 0
        }
      }
      double l = t2 * (d / st + (Math.log(ss) - Math.log(st)));
      if (loss != null) {
        put(loss, r, l);
      }
      total += (float) l;
      if (grad != null) {
        for (long c = 0; c < classes; c++) {
          double p = Math.exp(get(s, base + c) * inv - ms) / ss;
          double q = Math.exp(get(t, base + c) * inv - mt) / st;
          putGrad(grad, base + c, temperature * (p - q) * coef, acc);
        }
      }
    }
    return total;
  }

  @Override
  public double nll(MemorySegment x, MemorySegment targets, long stride, long classes, long r0,
      long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, int ignoreIndex, boolean int64) {
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = RowArgs.target(targets, r, int64);
      boolean ignored = t == ignoreIndex;
      double wt = ignored ? 0 : weight(weight, t);
      double l = ignored ? 0 : -wt * get(x, base + t);
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      if (grad != null) {
        if (!acc) {
          for (long c = 0; c < classes; c++) {
            grad.set(JAVA_FLOAT_UNALIGNED, (base + c) * Float.BYTES, 0f);
          }
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
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      double m = rowMax(x, base, classes);
      double logS = Math.log(sumExp(x, base, classes, m));
      for (long c = 0; c < classes; c++) {
        put(out, base + c, (get(x, base + c) - m) - logS);
      }
    }
  }

  @Override
  public double spatialCrossEntropy(MemorySegment x, MemorySegment targets, MemorySegment q,
      long classes, long spatial, long r0, long r1, MemorySegment loss, MemorySegment grad,
      float coef, boolean acc, float zScale, CrossEntropy opt) {
    double total = 0;
    double eps = opt.smoothing();
    double epsC = eps / classes;
    double wsum = opt.weight() == null ? classes : opt.weightSum();
    boolean soft = q != null;
    for (long r = r0; r < r1; r++) {
      long n = r / spatial;
      long base = n * classes * spatial + (r - n * spatial); // (n, c = 0, s)
      int t = soft ? 0 : RowArgs.target(targets, r, opt.int64());
      if (!soft && t == opt.ignoreIndex()) {
        if (loss != null) {
          put(loss, r, 0);
        }
        if (grad != null) {
          for (long c = 0; c < classes; c++) {
            putGrad(grad, base + c * spatial, 0, acc);
          }
        }
        continue;
      }
      double m = Double.NEGATIVE_INFINITY;
      double sumWx = 0;
      double wq = 0;
      for (long c = 0; c < classes; c++) {
        double v = get(x, base + c * spatial);
        m = Math.max(m, v);
        if (soft) {
          double qc = weight(opt.weight(), c) * ((1 - eps) * get(q, base + c * spatial) + epsC);
          wq += qc;
          sumWx += qc * v;
        } else {
          sumWx += weight(opt.weight(), c) * v;
        }
      }
      double s = 0;
      for (long c = 0; c < classes; c++) {
        s += Math.exp(get(x, base + c * spatial) - m);
      }
      double logS = Math.log(s);
      double lse = m + logS;
      double l;
      double a;
      double wt = soft ? 0 : weight(opt.weight(), t);
      if (soft) {
        l = wq * logS + (wq * m - sumWx);
        a = wq;
      } else {
        double xt = get(x, base + (long) t * spatial);
        l = (1 - eps) * wt * ((m - xt) + logS) + zScale * lse * lse;
        if (eps > 0) {
          l += epsC * (wsum * logS + (wsum * m - sumWx));
        }
        a = (1 - eps) * wt + epsC * wsum + 2 * zScale * lse;
      }
      if (loss != null) {
        put(loss, r, l);
      }
      total += (float) l;
      if (grad != null) {
        for (long c = 0; c < classes; c++) {
          long i = base + c * spatial;
          double p = Math.exp(get(x, i) - m) / s;
          double g;
          if (soft) {
            g = p * a - weight(opt.weight(), c) * ((1 - eps) * get(q, i) + epsC);
          } else {
            g = p * a - epsC * weight(opt.weight(), c) - (c == t ? (1 - eps) * wt : 0);
          }
          putGrad(grad, i, g * coef, acc);
        }
      }
    }
    return total;
  }

  @Override
  public double spatialNll(MemorySegment x, MemorySegment targets, long classes, long spatial,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, int ignoreIndex, boolean int64) {
    return spatialNllRows(x, targets, classes, spatial, r0, r1, loss, grad, coef, acc, weight,
        ignoreIndex, int64);
  }

  /**
   * NLL on [N, C, S]: one value read per row, the gradient row zeroed (unless accumulating)
   * and {@code −coef·w_t} put at the target. Memory-bound with no arithmetic to speak of: both
   * providers run this loop.
   */
  /** Positions per block of the N-d NLL (each class's run of a block is zeroed in bulk). */
  private static final long NLL_BLOCK = 4096;

  static double spatialNllRows(MemorySegment x, MemorySegment targets, long classes,
      long spatial, long r0, long r1, MemorySegment loss, MemorySegment grad, float coef,
      boolean acc, MemorySegment weight, int ignoreIndex, boolean int64) {
    // blocks of positions within one batch item: losses first (they read x, which the gradient
    // may alias), then each class's run of the block zeroed in bulk, then the targets' entries
    double total = 0;
    long r = r0;
    while (r < r1) {
      long n = r / spatial;
      long end = Math.min(r1, Math.min((n + 1) * spatial, r + NLL_BLOCK));
      long base = n * classes * spatial + (r - n * spatial);
      for (long p = r; p < end; p++) {
        int t = RowArgs.target(targets, p, int64);
        double l = t == ignoreIndex ? 0
            : -weight(weight, t) * get(x, base + (p - r) + (long) t * spatial);
        if (loss != null) {
          put(loss, p, l);
        }
        total += (float) l;
      }
      if (grad != null) {
        if (!acc) {
          for (long c = 0; c < classes; c++) {
            Args.zero(grad, base + c * spatial, end - r);
          }
        }
        for (long p = r; p < end; p++) {
          int t = RowArgs.target(targets, p, int64);
          if (t != ignoreIndex) {
            long i = base + (p - r) + (long) t * spatial;
            put(grad, i, get(grad, i) - weight(weight, t) * coef);
          }
        }
      }
      r = end;
    }
    return total;
  }

}
