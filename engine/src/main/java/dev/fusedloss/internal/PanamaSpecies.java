package dev.fusedloss.internal;

import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species every Vector API kernel uses, and the constants of the inline exp and
 * log1p polynomials they share. The float species is the preferred one unless
 * {@code -Dfusedloss.vectorBits=128|256|512} chooses another ({@link VectorizationProvider}
 * validates the property): a width above what the CPU runs natively uses the Vector API's
 * portable implementation, slow but with the same arithmetic, which is how the tests cover every
 * width on any machine. Everything is {@code static final}, so C2 folds the lane count into the
 * loops.
 */
final class PanamaSpecies {
  static final VectorSpecies<Float> F = VectorizationProvider.requestedVectorBits() == 0
      ? FloatVector.SPECIES_PREFERRED
      : VectorSpecies.of(float.class,
          VectorShape.forBitSize(VectorizationProvider.requestedVectorBits()));
  /** Doubles in the same shape: half as many lanes, so F2D converts a float vector in 2 parts. */
  static final VectorSpecies<Double> D =
      VectorSpecies.of(double.class, VectorShape.forBitSize(F.vectorBitSize()));
  /** Float lanes per vector. */
  static final int L = F.length();
  static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  static final float NEG_INF = Float.NEGATIVE_INFINITY;

  // ---- exp of non-positive arguments (PanamaExp): Cephes' expf polynomial ---------------------
  static final FloatVector ONE = FloatVector.broadcast(F, 1f);
  static final float LOG2E_F = 1.44269504f;
  static final FloatVector LOG2E = FloatVector.broadcast(F, LOG2E_F);
  /**
   * 1.5·2^23 + 151: adding it rounds v·log2 e to an integer n kept in the low mantissa bits as
   * n + 151 (= n + 24 + the exponent bias), which a shift by 23 turns into the float 2^(n+24).
   */
  static final float MAGIC_F = 12582912f + 151;
  static final FloatVector MAGIC = FloatVector.broadcast(F, MAGIC_F);
  static final float LN2_HI_F = -0.693359375f;
  static final float LN2_LO_F = 2.12194440e-4f;
  static final FloatVector LN2_HI = FloatVector.broadcast(F, LN2_HI_F);
  static final FloatVector LN2_LO = FloatVector.broadcast(F, LN2_LO_F);
  static final float P0_F = 1.9875691500E-4f;
  static final float P1_F = 1.3981999507E-3f;
  static final float P2_F = 8.3334519073E-3f;
  static final float P3_F = 4.1665795894E-2f;
  static final float P4_F = 1.6666665459E-1f;
  static final float P5_F = 5.0000001201E-1f;
  static final FloatVector P0 = FloatVector.broadcast(F, P0_F);
  static final FloatVector P1 = FloatVector.broadcast(F, P1_F);
  static final FloatVector P2 = FloatVector.broadcast(F, P2_F);
  static final FloatVector P3 = FloatVector.broadcast(F, P3_F);
  static final FloatVector P4 = FloatVector.broadcast(F, P4_F);
  static final FloatVector P5 = FloatVector.broadcast(F, P5_F);
  /** Below this exp(v) rounds to 0 (2^−150 ≈ e^−103.97); also where n + 151 would underflow. */
  static final float CUTOFF = -104f;

  // ---- log1p(e) for e in [0, 1] as 2·atanh(u), u = e/(2 + e) ≤ 1/3: 2·atanh(u)/u is a
  // polynomial in u² on [0, 1/9] (minimax for relative error, 4e-9) ---------------------------
  static final float ATANH0_F = 2f;
  static final float ATANH1_F = 2 * 0.3333315849304199f;
  static final float ATANH2_F = 2 * 0.200124591588974f;
  static final float ATANH3_F = 2 * 0.13980284333229065f;
  static final float ATANH4_F = 2 * 0.14089101552963257f;
  static final FloatVector ATANH0 = FloatVector.broadcast(F, ATANH0_F);
  static final FloatVector ATANH1 = FloatVector.broadcast(F, ATANH1_F);
  static final FloatVector ATANH2 = FloatVector.broadcast(F, ATANH2_F);
  static final FloatVector ATANH3 = FloatVector.broadcast(F, ATANH3_F);
  static final FloatVector ATANH4 = FloatVector.broadcast(F, ATANH4_F);

  private PanamaSpecies() {}
}
