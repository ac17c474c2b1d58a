package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.HingeEmbeddingLoss}: targets y = 1 or −1 (similar or dissimilar pairs; x is
 * usually a distance), {@code ℓᵢ = xᵢ} where yᵢ = 1 and {@code max(0, margin − xᵢ)} where yᵢ = −1.
 * As PyTorch computes it, {@code (y ≠ 1 ? max(0, margin − x) : 0) + (y ≠ −1 ? x : 0)}, so any
 * other target value gets both terms.
 *
 * <p>Gradient: 1 where y = 1; −1 where y = −1 and {@code margin − x ≥ 0} (PyTorch's clamp passes
 * the gradient at the boundary), 0 beyond; with {@link Reduction#MEAN} divided by {@code n}. NaN
 * propagates. See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class HingeEmbeddingLoss extends ElementwiseLoss {
  private final float margin;

  private HingeEmbeddingLoss(Reduction reduction, float margin) {
    super(reduction);
    this.margin = Args.finite("margin", margin);
  }

  /**
   * A hinge embedding loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param margin finite margin (PyTorch's default is 1)
   * @return the loss
   * @throws IllegalArgumentException if margin is not finite
   */
  public static HingeEmbeddingLoss of(Reduction reduction, float margin) {
    return new HingeEmbeddingLoss(reduction, margin);
  }

  @Override
  public HingeEmbeddingLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.hingeEmbedding(x, y, from, to, loss, grad, coef, acc, margin);
  }
}
