package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.SoftMarginLoss}: two-class logistic loss with targets y = ±1, {@code ℓᵢ =
 * log(1 + exp(−yᵢ·xᵢ))}, computed as the stable softplus of {@code −y·x} (PyTorch's float32
 * kernel overflows to ∞ beyond y·x ≈ −88; here the loss stays finite up to the float range).
 *
 * <p>Gradient: {@code −yᵢ·σ(−yᵢ·xᵢ)}; with {@link Reduction#MEAN} divided by {@code n}. NaN
 * propagates. See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class SoftMarginLoss extends ElementwiseLoss {
  private SoftMarginLoss(Reduction reduction) {
    super(reduction);
  }

  /**
   * A soft margin loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @return the loss
   */
  public static SoftMarginLoss of(Reduction reduction) {
    return new SoftMarginLoss(reduction);
  }

  @Override
  public SoftMarginLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.softMargin(x, y, from, to, loss, grad, coef, acc);
  }
}
