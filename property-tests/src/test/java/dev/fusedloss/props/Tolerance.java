package dev.fusedloss.props;

/**
 * The comparison rule of the conformance README, used throughout: a float32 result {@code got}
 * matches a double-precision reference {@code ref} when
 * {@code |got − ref| ≤ RTOL·|ref| + ATOL·scale}, scale = max(1, largest finite |ref| of the
 * vector), and non-finite references are matched exactly (NaN ↔ NaN, ±∞ ↔ ±∞).
 *
 * <p>Why these numbers: RTOL = 1e-5 is about 170 float32 ulps — room for a handful of rounded
 * operations plus the ≈1-ulp error of vector exp/log/pow, but far below any formula mistake
 * (a wrong branch, a missing factor or a sign is an O(1) relative error). ATOL covers
 * cancellation inside one element's formula, whose float32 error is relative to the terms, not
 * to the result.
 */
public final class Tolerance {
  public static final double RTOL = 1e-5;
  public static final double ATOL = 1e-6;

  private Tolerance() {}

  public static double scale(double[] ref) {
    double s = 1;
    for (double v : ref) {
      if (Double.isFinite(v)) {
        s = Math.max(s, Math.abs(v));
      }
    }
    return s;
  }

  /** A double reference as a float32 kernel can represent it: beyond the range it is ±∞. */
  public static double float32Range(double ref) {
    return Math.abs(ref) >= Float.MAX_VALUE ? (double) (float) ref : ref;
  }

  /** Null when they match, else a description. */
  public static String compare(double got, double ref, double scale) {
    ref = float32Range(ref);
    if (!Double.isFinite(ref) || !Double.isFinite(got)) {
      boolean same = Double.isNaN(ref) ? Double.isNaN(got) : got == ref;
      return same ? null : "got " + got + ", want " + ref;
    }
    double err = Math.abs(got - ref);
    double tol = RTOL * Math.abs(ref) + ATOL * scale;
    return err <= tol ? null : "got " + got + ", want " + ref + " (error " + err + " > " + tol + ")";
  }

  /** Throws with the first mismatching index. */
  public static void assertVector(String what, float[] got, double[] ref) {
    assertVector(what, got, ref, scale(ref));
  }

  /** As {@link #assertVector(String, float[], double[])} with an explicit atol scale. */
  public static void assertVector(String what, float[] got, double[] ref, double s) {
    for (int i = 0; i < ref.length; i++) {
      String m = compare(got[i], ref[i], s);
      if (m != null) {
        throw new AssertionError(what + "[" + i + "] of " + ref.length + ": " + m);
      }
    }
  }
}
