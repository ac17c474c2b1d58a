package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * Mean squared error, {@code torch.nn.MSELoss}: {@code ℓᵢ = (xᵢ − yᵢ)²}.
 *
 * <p>Gradient: {@code ∂ℓᵢ/∂xᵢ = 2(xᵢ − yᵢ)}; with {@link Reduction#MEAN} divided by {@code n}.
 *
 * <p>Edges: the square is computed in float32, so a difference beyond ~1.8e19 gives an infinite
 * element loss (as PyTorch's float32 kernel); the reduction itself is accumulated in double.
 * NaN or infinite inputs propagate. See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class MSELoss extends ElementwiseLoss {
  private MSELoss(Reduction reduction) {
    super(reduction);
  }

  /**
   * An MSE loss with the given reduction.
   *
   * @param reduction MEAN, SUM or NONE
   * @return the loss
   */
  public static MSELoss of(Reduction reduction) {
    return new MSELoss(reduction);
  }

  @Override
  public MSELoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  private static final float[] SHAPE = new float[] {0, 0, 0, 0, 0};

  @Override
  float[] pointwiseShape() {
    return SHAPE;
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.mse(x, y, from, to, loss, grad, coef, acc);
  }
}
