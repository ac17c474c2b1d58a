package dev.fusedloss.internal;

import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LT;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * exp of non-positive arguments from IEEE operations only: Cephes' expf polynomial after a
 * two-part ln 2 reduction. Used instead of {@code lanewise(EXP)}, which on x86 is a call into
 * SVML: every vector live across it goes through the stack, and its interpreted/C1 fallback
 * rounds differently from the intrinsic. This form is inlined, gives the same bits at every JIT
 * tier, and is within 1 ulp of exp over [−104, 0] (subnormal results rounded once; measured
 * 0.89 ulp at worst over every 7th float of the range, and checked by the property tests).
 *
 * <p>Large loops write the body of {@link #expNonPositive} out by hand rather than calling it:
 * a helper taking vectors stops being inlined once a loop body reaches C2's node cutoff, and
 * its arguments are then boxed.
 *
 * <p>Public only so that the benchmarks' baselines and compute floor use the same exp as the
 * kernels; the package is internal and not exported from the module.
 */
public final class PanamaExp {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

  static final FloatVector ONE = FloatVector.broadcast(F, 1f);
  static final FloatVector LOG2E = FloatVector.broadcast(F, 1.44269504f);
  /**
   * 1.5·2^23 + 151: adding it rounds v·log2 e to an integer n kept in the low mantissa bits as
   * n + 151 (= n + 24 + the exponent bias), which a shift by 23 turns into the float 2^(n+24).
   */
  static final FloatVector MAGIC = FloatVector.broadcast(F, 12582912f + 151);
  static final FloatVector LN2_HI = FloatVector.broadcast(F, -0.693359375f);
  static final FloatVector LN2_LO = FloatVector.broadcast(F, 2.12194440e-4f);
  static final FloatVector P0 = FloatVector.broadcast(F, 1.9875691500E-4f);
  static final FloatVector P1 = FloatVector.broadcast(F, 1.3981999507E-3f);
  static final FloatVector P2 = FloatVector.broadcast(F, 8.3334519073E-3f);
  static final FloatVector P3 = FloatVector.broadcast(F, 4.1665795894E-2f);
  static final FloatVector P4 = FloatVector.broadcast(F, 1.6666665459E-1f);
  static final FloatVector P5 = FloatVector.broadcast(F, 5.0000001201E-1f);
  /** Below this exp(v) rounds to 0 (2^−150 ≈ e^−103.97); also where n + 151 would underflow. */
  static final float CUTOFF = -104f;

  private PanamaExp() {}

  /**
   * exp(v) for v ≤ 0: −∞ and v &lt; −104 give 0, NaN gives NaN. Positive v are not supported
   * (results are wrong above ~72).
   */
  public static FloatVector expNonPositive(FloatVector v) {
    FloatVector nb = v.fma(LOG2E, MAGIC);
    FloatVector n = nb.sub(MAGIC);
    FloatVector r = n.fma(LN2_LO, n.fma(LN2_HI, v)); // v − n·ln 2 in two parts
    FloatVector p = r.fma(P0, P1).fma(r, P2).fma(r, P3).fma(r, P4).fma(r, P5).fma(r, ONE)
        .fma(r, ONE);
    FloatVector scale = nb.reinterpretAsInts().lanewise(LSHL, 23).reinterpretAsFloats();
    // the final ·2^−24 rounds once, into the subnormals where the result is one
    return p.mul(scale).mul(0x1p-24f).blend(0f, v.compare(LT, CUTOFF));
  }
}
