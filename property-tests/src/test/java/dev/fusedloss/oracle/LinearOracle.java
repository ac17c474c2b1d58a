package dev.fusedloss.oracle;

/**
 * The fused linear + cross entropy in plain double precision, written from its definition:
 * logits {@code z = h·Wᵀ + b}, the soft cap, log-sum-exp, smoothing and z-loss, and the
 * gradients through the chain rule. Also the magnitudes {@code Σ|terms|} of each output, which
 * bound float32 rounding error of the products.
 */
public final class LinearOracle {
  private LinearOracle() {}

  /** Outputs: row losses, reduced value, gradients and their magnitudes. */
  public static final class Result {
    public double[] rowLoss;
    public double value;
    public double[] gh;
    public double[] gw;
    public double[] gb;
    public double[] ghMag;
    public double[] gwMag;
    public double[] logProb;
    public double nll;
  }

  /**
   * @param reduction "mean", "sum" or "none"
   */
  public static Result compute(float[] h, float[] w, float[] b, int[] t, int n, int hs, int v,
      int ignore, double eps, double cap, double zl, String reduction, double gradScale) {
    Result res = new Result();
    res.rowLoss = new double[n];
    res.logProb = new double[n];
    double[][] dz = new double[n][v];
    int kept = 0;
    for (int r = 0; r < n; r++) {
      kept += t[r] == ignore ? 0 : 1;
    }
    double s = reduction.equals("mean") ? gradScale / kept : gradScale;
    double sum = 0;
    for (int r = 0; r < n; r++) {
      double[] z = new double[v];
      double[] raw = new double[v];
      double max = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < v; c++) {
        double acc = b == null ? 0 : b[c];
        for (int k = 0; k < hs; k++) {
          acc += (double) h[r * hs + k] * w[c * hs + k];
        }
        raw[c] = acc;
        z[c] = cap > 0 ? cap * Math.tanh(acc / cap) : acc;
        max = Math.max(max, z[c]);
      }
      if (t[r] == ignore) {
        continue;
      }
      double se = 0;
      double zs = 0;
      for (int c = 0; c < v; c++) {
        se += Math.exp(z[c] - max);
        zs += z[c];
      }
      double lse = max + Math.log(se);
      int tr = t[r];
      res.logProb[r] = z[tr] - lse;
      res.nll -= z[tr] - lse;
      res.rowLoss[r] = lse - (1 - eps) * z[tr] - eps / v * zs + zl * lse * lse;
      sum += res.rowLoss[r];
      for (int c = 0; c < v; c++) {
        double p = Math.exp(z[c] - lse);
        double g = p * (1 + 2 * zl * lse) - eps / v - (c == tr ? 1 - eps : 0);
        if (cap > 0) {
          double u = Math.tanh(raw[c] / cap);
          g *= 1 - u * u;
        }
        dz[r][c] = s * g;
      }
    }
    res.value = reduction.equals("mean") ? sum / kept : sum;
    res.gh = new double[n * hs];
    res.ghMag = new double[n * hs];
    res.gw = new double[v * hs];
    res.gwMag = new double[v * hs];
    res.gb = new double[v];
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < v; c++) {
        double g = dz[r][c];
        if (g == 0) {
          continue;
        }
        res.gb[c] += g;
        for (int k = 0; k < hs; k++) {
          res.gh[r * hs + k] += g * w[c * hs + k];
          res.ghMag[r * hs + k] += Math.abs(g * w[c * hs + k]);
          res.gw[c * hs + k] += g * h[r * hs + k];
          res.gwMag[c * hs + k] += Math.abs(g * h[r * hs + k]);
        }
      }
    }
    return res;
  }
}
