package dev.fusedloss.oracle;

/**
 * Textbook loss formulas in plain double precision, written independently of the engine: each
 * method returns the per-element losses and fills {@code grad} with the per-element derivatives
 * d ℓᵢ / d xᵢ (unscaled, unreduced). Inputs are the float32 values widened exactly.
 */
public final class Oracle {
  private Oracle() {}

  public static double[] mse(float[] x, float[] y, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double d = (double) x[i] - (double) y[i];
      l[i] = d * d;
      grad[i] = 2 * d;
    }
    return l;
  }

  /**
   * torch.nn.HingeEmbeddingLoss from its definition: y = 1 → x; y = −1 → max(0, margin − x);
   * PyTorch adds both terms for any other y. Derivative: 1, and −1 where margin − x ≥ 0.
   */
  public static double[] hingeEmbedding(float[] x, float[] y, double margin, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double v = 0;
      double g = 0;
      if (y[i] != 1) {
        double m = margin - x[i];
        v += Double.isNaN(m) ? m : Math.max(0, m);
        g += Double.isNaN(m) ? m : m >= 0 ? -1 : 0;
      }
      if (y[i] != -1) {
        v += x[i];
        g += 1;
      }
      l[i] = v;
      grad[i] = g;
    }
    return l;
  }

  /**
   * torch.nn.PoissonNLLLoss in double: exp(x) − y·x (log input) or x − y·log(x + eps), plus
   * Stirling's y·log y − y + ½·log(2πy) where y > 1 with {@code full}. exp(x) is ∞ beyond the
   * float32 range, as in PyTorch's float32 kernel (the documented semantics), so a gradient
   * exp(x)·coef stays ∞ even where the scaled value would be representable.
   */
  public static double[] poissonNll(float[] x, float[] y, boolean logInput, boolean full,
      double eps, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double xi = x[i];
      double yi = y[i];
      if (logInput) {
        double e = Math.exp(xi);
        e = e > Float.MAX_VALUE ? Double.POSITIVE_INFINITY : e;
        l[i] = e - yi * xi;
        grad[i] = e - yi;
      } else {
        l[i] = xi - yi * Math.log(xi + (float) eps);
        grad[i] = 1 - yi / (xi + (float) eps);
      }
      if (full && !(yi <= 1)) {
        l[i] += yi * Math.log(yi) - yi + 0.5 * Math.log(2 * Math.PI * yi);
      }
    }
    return l;
  }

  /** torch.nn.SoftMarginLoss: log(1 + e^(−y·x)) evaluated exactly in double; −y·σ(−y·x). */
  public static double[] softMargin(float[] x, float[] y, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double z = -(double) y[i] * x[i];
      l[i] = z > 30 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
      grad[i] = -y[i] / (1 + Math.exp(-z));
    }
    return l;
  }

  public static double[] l1(float[] x, float[] y, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double d = (double) x[i] - (double) y[i];
      l[i] = Math.abs(d);
      grad[i] = Double.isNaN(d) ? Double.NaN : Math.signum(d);
    }
    return l;
  }

  public static double[] smoothL1(float[] x, float[] y, double beta, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double d = (double) x[i] - (double) y[i];
      if (Math.abs(d) < beta) {
        l[i] = 0.5 * d * d / beta;
        grad[i] = d / beta;
      } else {
        l[i] = Math.abs(d) - 0.5 * beta;
        grad[i] = Double.isNaN(d) ? Double.NaN : Math.signum(d);
      }
    }
    return l;
  }

  public static double[] huber(float[] x, float[] y, double delta, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double d = (double) x[i] - (double) y[i];
      if (Math.abs(d) < delta) {
        l[i] = 0.5 * d * d;
        grad[i] = d;
      } else {
        l[i] = delta * (Math.abs(d) - 0.5 * delta);
        grad[i] = Double.isNaN(d) ? Double.NaN : delta * Math.signum(d);
      }
    }
    return l;
  }

  /** PyTorch's BCE: logs clamped at −100, analytic gradient with denominator ≥ 1e-12. */
  public static double[] bce(float[] x, float[] y, float[] w, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double p = x[i];
      double t = y[i];
      double wi = w == null ? 1 : w[i % w.length];
      double logP = Math.max(Math.log(p), -100);
      double log1mP = Math.max(Math.log(1 - p), -100);
      l[i] = -wi * (t * logP + (1 - t) * log1mP);
      grad[i] = wi * (p - t) / Math.max(p * (1 - p), 1e-12);
    }
    return l;
  }

  /** Textbook BCE on probabilities clipped to [lo, hi]; derivative of the clipped expression. */
  public static double[] bceClipped(float[] x, float[] y, float[] w, double lo, double hi,
      double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double p = x[i];
      double t = y[i];
      double wi = w == null ? 1 : w[i % w.length];
      double c = Math.min(Math.max(p, lo), hi);
      l[i] = -wi * (t * Math.log(c) + (1 - t) * Math.log(1 - c));
      boolean inside = p >= lo && p <= hi;
      grad[i] = Double.isNaN(p) ? Double.NaN : inside ? wi * (-t / c + (1 - t) / (1 - c)) : 0;
    }
    return l;
  }

  /** BCE with logits: max(x,0) − x·y + log(1 + e^(−|x|)) (positive weight: see below). */
  public static double[] bceWithLogits(float[] x, float[] y, float[] w, float[] pw, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double z = x[i];
      double t = y[i];
      double wi = w == null ? 1 : w[i % w.length];
      double pwi = pw == null ? 1 : pw[i % pw.length];
      // −[pw·t·log σ(z) + (1−t)·log(1−σ(z))], log σ(z) = −softplus(−z), log(1−σ) = −softplus(z)
      double spNeg = softplus(-z);
      double spPos = softplus(z);
      l[i] = wi * (pwi * t * spNeg + (1 - t) * spPos);
      double sig = sigmoid(z);
      grad[i] = wi * (-pwi * t * (1 - sig) + (1 - t) * sig);
    }
    return l;
  }

  static double softplus(double z) {
    return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
  }

  static double sigmoid(double z) {
    return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
  }

  /** torchvision's sigmoid focal loss; alpha &lt; 0 disables the weighting. */
  public static double[] sigmoidFocal(float[] x, float[] y, double alpha, double gamma,
      double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double z = x[i];
      double t = y[i];
      double p = sigmoid(z);
      double oneMinusP = sigmoid(-z);
      double ce = t * softplus(-z) + (1 - t) * softplus(z);
      double q = p * (1 - t) + oneMinusP * t; // 1 − p_t
      double at = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1;
      l[i] = at * ce * Math.pow(q, gamma);
      double dce = p - t;
      double dq = (1 - 2 * t) * p * oneMinusP;
      // d(q^γ)/dz = γ q^(γ−1) dq; its limit at q = 0 is 0 for γ > 0 (dq vanishes as fast as q)
      double dqg = gamma == 0 || q == 0 ? 0 : gamma * Math.pow(q, gamma - 1) * dq;
      grad[i] = at * (dce * Math.pow(q, gamma) + ce * dqg);
    }
    return l;
  }

  /** Textbook binary focal loss on probabilities clipped to [lo, hi]. */
  public static double[] binaryFocal(float[] x, float[] y, double alpha, double gamma,
      double lo, double hi, double[] grad) {
    double[] l = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double p = x[i];
      double t = y[i];
      double c = Math.min(Math.max(p, lo), hi);
      double pt = t * c + (1 - t) * (1 - c);
      double at = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1;
      l[i] = -at * Math.pow(1 - pt, gamma) * Math.log(pt);
      double dldpt = at * (gamma * Math.pow(1 - pt, gamma - 1) * Math.log(pt)
          - Math.pow(1 - pt, gamma) / pt);
      boolean inside = p >= lo && p <= hi;
      grad[i] = Double.isNaN(p) ? Double.NaN : inside ? dldpt * (2 * t - 1) : 0;
    }
    return l;
  }
}
