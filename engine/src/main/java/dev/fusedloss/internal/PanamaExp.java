package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.CUTOFF;
import static dev.fusedloss.internal.PanamaSpecies.F;
import static dev.fusedloss.internal.PanamaSpecies.LN2_HI;
import static dev.fusedloss.internal.PanamaSpecies.LN2_HI_F;
import static dev.fusedloss.internal.PanamaSpecies.LN2_LO;
import static dev.fusedloss.internal.PanamaSpecies.LN2_LO_F;
import static dev.fusedloss.internal.PanamaSpecies.LOG2E;
import static dev.fusedloss.internal.PanamaSpecies.LOG2E_F;
import static dev.fusedloss.internal.PanamaSpecies.MAGIC;
import static dev.fusedloss.internal.PanamaSpecies.MAGIC_F;
import static dev.fusedloss.internal.PanamaSpecies.ONE;
import static dev.fusedloss.internal.PanamaSpecies.P0;
import static dev.fusedloss.internal.PanamaSpecies.P0_F;
import static dev.fusedloss.internal.PanamaSpecies.P1;
import static dev.fusedloss.internal.PanamaSpecies.P1_F;
import static dev.fusedloss.internal.PanamaSpecies.P2;
import static dev.fusedloss.internal.PanamaSpecies.P2_F;
import static dev.fusedloss.internal.PanamaSpecies.P3;
import static dev.fusedloss.internal.PanamaSpecies.P3_F;
import static dev.fusedloss.internal.PanamaSpecies.P4;
import static dev.fusedloss.internal.PanamaSpecies.P4_F;
import static dev.fusedloss.internal.PanamaSpecies.P5;
import static dev.fusedloss.internal.PanamaSpecies.P5_F;
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
 * {@link #expNonPositive(float)} is its scalar twin: the same operations lane by lane, so a
 * vector loop's scalar tail gives the same bits as its vector body.
 *
 * <p>Large loops write the body of {@link #expNonPositive} out by hand rather than calling it:
 * a helper taking vectors stops being inlined once a loop body reaches C2's node cutoff, and
 * its arguments are then boxed. Every such copy is checked at ulp level through its kernel by
 * the property tests ({@code InlineMathThroughKernelsTest}).
 *
 * <p>Public only so that the benchmarks' baselines and compute floor use the same exp and
 * species as the kernels; the package is internal and not exported from the module.
 */
public final class PanamaExp {
  private PanamaExp() {}

  /** The float species every Vector API kernel uses (see {@code -Dfusedloss.vectorBits}). */
  public static VectorSpecies<Float> species() {
    return F;
  }

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

  /** The scalar twin of {@link #expNonPositive(FloatVector)}: the same bits, lane by lane. */
  public static float expNonPositive(float v) {
    float nb = Math.fma(v, LOG2E_F, MAGIC_F);
    float n = nb - MAGIC_F;
    float r = Math.fma(n, LN2_LO_F, Math.fma(n, LN2_HI_F, v));
    float p = Math.fma(r, P0_F, P1_F);
    p = Math.fma(p, r, P2_F);
    p = Math.fma(p, r, P3_F);
    p = Math.fma(p, r, P4_F);
    p = Math.fma(p, r, P5_F);
    p = Math.fma(p, r, 1f);
    p = Math.fma(p, r, 1f);
    float scale = Float.intBitsToFloat(Float.floatToRawIntBits(nb) << 23);
    return v < CUTOFF ? 0f : p * scale * 0x1p-24f;
  }
}
