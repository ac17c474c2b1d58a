package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.ONE;
import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.LT;

import jdk.incubator.vector.FloatVector;

/**
 * tanh from IEEE operations only, for the soft cap of cross entropy (Cephes' tanhf: an odd
 * polynomial below |y| = 0.625, (1 − e)/(1 + e) with e = exp(−2|y|) above; within 2 ulps, checked
 * by the property tests). The JDK's {@code lanewise(TANH)} is not used: its interpreted and
 * compiled forms round differently, so one call could cap the same logit two ways in two sweeps
 * (a one-class row then got a gradient of 1e-6 instead of 0). {@link #tanh(float)} is the scalar
 * twin: the same operations, the same bits. Public for the accuracy tests only; the package is
 * not exported.
 */
public final class PanamaTanh {
  static final float LIMIT = 0.625f;
  static final float T0 = -5.70498872745E-3f;
  static final float T1 = 2.06390887954E-2f;
  static final float T2 = -5.37397155531E-2f;
  static final float T3 = 1.33314422036E-1f;
  static final float T4 = -3.33332819422E-1f;

  private static final FloatVector VT1 = FloatVector.broadcast(PanamaSpecies.F, T1);
  private static final FloatVector VT2 = FloatVector.broadcast(PanamaSpecies.F, T2);
  private static final FloatVector VT3 = FloatVector.broadcast(PanamaSpecies.F, T3);
  private static final FloatVector VT4 = FloatVector.broadcast(PanamaSpecies.F, T4);

  private PanamaTanh() {}

  /** tanh(y), lane by lane; NaN stays NaN, ±∞ gives ±1, −0 gives −0. */
  public static FloatVector tanh(FloatVector y) {
    FloatVector a = y.lanewise(ABS);
    FloatVector s = y.mul(y);
    FloatVector p = s.mul(T0).add(VT1).fma(s, VT2).fma(s, VT3).fma(s, VT4);
    FloatVector small = p.mul(s).fma(y, y).blend(y, a.compare(EQ, 0f)); // ±0 keeps its sign
    FloatVector e = PanamaExp.expNonPositive(a.mul(-2f));
    FloatVector big = ONE.sub(e).div(ONE.add(e));
    return big.blend(big.neg(), y.compare(LT, 0f)).blend(small, a.compare(LT, LIMIT));
  }

  /** The scalar twin of {@link #tanh(FloatVector)}. */
  public static float tanh(float y) {
    float a = Math.abs(y);
    if (a < LIMIT) {
      if (a == 0) {
        return y;
      }
      float s = y * y;
      float p = s * T0 + T1;
      p = Math.fma(p, s, T2);
      p = Math.fma(p, s, T3);
      p = Math.fma(p, s, T4);
      return Math.fma(p * s, y, y);
    }
    float e = PanamaExp.expNonPositive(a * -2f);
    float big = (1f - e) / (1f + e);
    return y < 0 ? -big : big;
  }
}
