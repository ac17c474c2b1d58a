package dev.fusedloss.oracle;

/**
 * Row losses of the softmax family in plain double precision, from the textbook definitions:
 * log p = x − log Σ exp x (max-shifted), then the loss and its derivative written out term by
 * term. Rows are packed {@code [rows, classes]}; each method returns the row losses and fills
 * {@code grad} with ∂ℓ_i/∂x_ic (unscaled, unreduced).
 */
public final class SoftmaxOracle {
  private SoftmaxOracle() {}

  /** log_softmax of one row. */
  public static double[] logSoftmax(double[] row) {
    double m = Double.NEGATIVE_INFINITY;
    for (double v : row) {
      m = Math.max(m, v);
    }
    double s = 0;
    for (double v : row) {
      s += Math.exp(v - m);
    }
    double logS = Math.log(s);
    double[] out = new double[row.length];
    for (int c = 0; c < row.length; c++) {
      out[c] = (row[c] - m) - logS;
    }
    return out;
  }

  public static double[] row(float[] x, int r, int classes, double softcap) {
    double[] v = new double[classes];
    for (int c = 0; c < classes; c++) {
      double xi = x[r * classes + c];
      v[c] = softcap > 0 ? softcap * Math.tanh(xi / softcap) : xi;
    }
    return v;
  }

  /**
   * Class-index cross entropy with weights, ignore index, smoothing ε, z-loss z and soft cap:
   * ℓ = (1−ε)·w_t·(−log p_t) + (ε/C)·Σ_c w_c·(−log p_c) + z·lse².
   */
  public static double[] crossEntropy(float[] x, int[] t, int classes, float[] w, int ignore,
      double eps, double z, double softcap, double[] grad) {
    int rows = t.length;
    double[] loss = new double[rows];
    for (int r = 0; r < rows; r++) {
      if (t[r] == ignore) {
        continue;
      }
      double[] v = row(x, r, classes, softcap);
      double[] lp = logSoftmax(v);
      double wt = w == null ? 1 : w[t[r]];
      double l = (1 - eps) * wt * -lp[t[r]];
      double smooth = 0;
      double wsum = 0;
      for (int c = 0; c < classes; c++) {
        double wc = w == null ? 1 : w[c];
        wsum += wc;
        if (eps > 0) {
          smooth += wc * -lp[c];
        }
      }
      double lseRow = logSumExp(v);
      loss[r] = l + eps / classes * smooth + z * lseRow * lseRow;
      for (int c = 0; c < classes; c++) {
        double p = Math.exp(lp[c]);
        double wc = w == null ? 1 : w[c];
        double d = (1 - eps) * wt * (p - (c == t[r] ? 1 : 0)) + eps / classes * (wsum * p - wc)
            + 2 * z * lseRow * p;
        if (softcap > 0) {
          double th = Math.tanh(x[r * classes + c] / softcap);
          d *= 1 - th * th;
        }
        grad[r * classes + c] = d;
      }
    }
    return loss;
  }

  public static double logSumExp(double[] v) {
    double m = Double.NEGATIVE_INFINITY;
    for (double e : v) {
      m = Math.max(m, e);
    }
    double s = 0;
    for (double e : v) {
      s += Math.exp(e - m);
    }
    return m + Math.log(s);
  }

  /** Soft-target cross entropy: −Σ_c w_c·q'_c·log p_c with q' = (1−ε)q + ε/C. */
  public static double[] softCrossEntropy(float[] x, float[] q, int classes, float[] w, double eps,
      double[] grad) {
    int rows = x.length / classes;
    double[] loss = new double[rows];
    for (int r = 0; r < rows; r++) {
      double[] lp = logSoftmax(row(x, r, classes, 0));
      double wq = 0;
      for (int c = 0; c < classes; c++) {
        double qc = (1 - eps) * q[r * classes + c] + eps / classes;
        double wc = w == null ? 1 : w[c];
        loss[r] -= wc * qc * lp[c];
        wq += wc * qc;
      }
      for (int c = 0; c < classes; c++) {
        double qc = (1 - eps) * q[r * classes + c] + eps / classes;
        double wc = w == null ? 1 : w[c];
        grad[r * classes + c] = Math.exp(lp[c]) * wq - wc * qc;
      }
    }
    return loss;
  }

  /** NLL on log-probabilities: −w_t·x_t. */
  public static double[] nll(float[] x, int[] t, int classes, float[] w, int ignore, double[] grad) {
    double[] loss = new double[t.length];
    for (int r = 0; r < t.length; r++) {
      if (t[r] == ignore) {
        continue;
      }
      double wt = w == null ? 1 : w[t[r]];
      loss[r] = -wt * x[r * classes + t[r]];
      grad[r * classes + t[r]] = -wt;
    }
    return loss;
  }

  /** Softmax focal: −α_t (1 − p_t)^γ log p_t, derivative by the product rule. */
  public static double[] softmaxFocal(float[] x, int[] t, int classes, double gamma, float[] alpha,
      int ignore, double[] grad) {
    double[] loss = new double[t.length];
    for (int r = 0; r < t.length; r++) {
      if (t[r] == ignore) {
        continue;
      }
      double[] lp = logSoftmax(row(x, r, classes, 0));
      double lpt = lp[t[r]];
      double pt = Math.exp(lpt);
      double om = -Math.expm1(lpt);
      double at = alpha == null ? 1 : alpha[t[r]];
      loss[r] = -at * Math.pow(om, gamma) * lpt;
      // dℓ/dlog p_t = −α[(1−p_t)^γ − γ (1−p_t)^(γ−1) p_t log p_t]; the second term's limit at
      // p_t → 1 is 0 for γ > 0 (use (1−p_t)^γ · log p_t/(1−p_t) → −(1−p_t)^γ)
      double second = gamma == 0 ? 0
          : om == 0 ? 0 : gamma * Math.pow(om, gamma - 1) * pt * lpt;
      double dLdLogPt = -at * (Math.pow(om, gamma) - second);
      for (int c = 0; c < classes; c++) {
        double p = Math.exp(lp[c]);
        grad[r * classes + c] = dLdLogPt * ((c == t[r] ? 1 : 0) - p);
      }
    }
    return loss;
  }

  /** Pointwise KL on log-probabilities x: y(log y − x) (0 log 0 = 0), or e^y (y − x). */
  public static double[] klDiv(float[] x, float[] y, boolean logTarget, double[] grad) {
    double[] loss = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      if (logTarget) {
        loss[i] = Math.exp(y[i]) * (y[i] - (double) x[i]);
        grad[i] = -Math.exp(y[i]);
      } else {
        loss[i] = (y[i] == 0 ? 0 : y[i] * Math.log(y[i])) - (double) y[i] * x[i];
        grad[i] = -y[i];
      }
    }
    return loss;
  }

  /** T²·KL(softmax(t/T) ‖ softmax(s/T)) per row; derivative w.r.t. s: T(p − q). */
  public static double[] distillation(float[] s, float[] t, int classes, double temperature,
      double[] grad) {
    int rows = s.length / classes;
    double[] loss = new double[rows];
    for (int r = 0; r < rows; r++) {
      double[] sv = new double[classes];
      double[] tv = new double[classes];
      for (int c = 0; c < classes; c++) {
        sv[c] = s[r * classes + c] / temperature;
        tv[c] = t[r * classes + c] / temperature;
      }
      double[] lp = logSoftmax(sv);
      double[] lq = logSoftmax(tv);
      double kl = 0;
      for (int c = 0; c < classes; c++) {
        double q = Math.exp(lq[c]);
        if (q > 0) {
          kl += q * (lq[c] - lp[c]);
        }
        grad[r * classes + c] = temperature * (Math.exp(lp[c]) - q);
      }
      loss[r] = temperature * temperature * kl;
    }
    return loss;
  }
}
