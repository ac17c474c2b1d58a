package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/** The Vector API kernels; loaded only when {@code jdk.incubator.vector} is readable. */
final class PanamaVectorizationProvider extends VectorizationProvider {
  private final ElementwiseKernels elementwise = new PanamaElementwiseKernels();
  private final SoftmaxKernels softmax = new PanamaSoftmaxKernels();

  PanamaVectorizationProvider() {
    if (PanamaSpecies.F.vectorBitSize() < 128) {
      throw new UnsupportedOperationException(
          "preferred vector size is " + PanamaSpecies.F.vectorBitSize() + " bits");
    }
    // one tiny call so an unsupported platform fails here, not inside a user's call
    MemorySegment probe = MemorySegment.ofArray(new float[64]);
    elementwise.mse(probe, probe, 0, 64, null, null, 1f, false);
  }

  @Override
  public String species() {
    return PanamaSpecies.F.toString();
  }

  @Override
  public int floatLanes() {
    return PanamaSpecies.L;
  }

  @Override
  public String name() {
    return "panama";
  }

  @Override
  public ElementwiseKernels elementwise() {
    return elementwise;
  }

  @Override
  public SoftmaxKernels softmax() {
    return softmax;
  }

  private final FormatKernels formats = new PanamaFormatKernels();

  @Override
  public FormatKernels formats() {
    return formats;
  }

  private final LinearKernels linear = new PanamaLinearKernels();

  @Override
  public LinearKernels linear() {
    return linear;
  }

  private final PairKernels pair = new PanamaPairKernels();

  @Override
  public PairKernels pair() {
    return pair;
  }
}
