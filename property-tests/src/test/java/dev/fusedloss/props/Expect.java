package dev.fusedloss.props;

import dev.fusedloss.Reduction;

/** What an element-wise call must return and write, derived from oracle per-element values. */
public final class Expect {
  private Expect() {}

  /** The reduced value from the oracle's per-element losses, with its tolerance. */
  public static void value(String what, double got, double[] ref, Reduction r) {
    int n = ref.length;
    double sum = 0;
    double tol = 0;
    double s = Tolerance.scale(ref);
    boolean finite = true;
    for (double v : ref) {
      double f = Tolerance.float32Range(v);
      finite &= Double.isFinite(f);
      sum += f;
      tol += Tolerance.RTOL * Math.abs(f) + Tolerance.ATOL * s;
    }
    if (r == Reduction.MEAN) {
      sum /= n;
      tol /= n;
    }
    if (!finite || n == 0) {
      boolean same = Double.isNaN(sum) ? Double.isNaN(got) : got == sum;
      if (!same) {
        throw new AssertionError(what + ": got " + got + ", want " + sum);
      }
      return;
    }
    if (!(Math.abs(got - sum) <= tol)) {
      throw new AssertionError(what + ": got " + got + ", want " + sum + " (tolerance " + tol + ")");
    }
  }

  /** The gradient: per-element derivative times gradScale, divided by n for MEAN. */
  public static void grad(String what, float[] got, double[] refDeriv, Reduction r, float gradScale,
      float[] initial) {
    int n = refDeriv.length;
    double coef = r == Reduction.MEAN ? (double) gradScale / n : gradScale;
    double[] want = new double[n];
    for (int i = 0; i < n; i++) {
      want[i] = refDeriv[i] * coef + (initial == null ? 0 : initial[i]);
    }
    double s = Tolerance.scale(refDeriv) * Math.abs(coef);
    if (initial != null) {
      s = Math.max(s, Tolerance.scale(toDouble(initial)));
    }
    Tolerance.assertVector(what, got, want, s);
  }

  static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i];
    }
    return d;
  }
}
