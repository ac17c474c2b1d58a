package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * Mean absolute error, {@code torch.nn.L1Loss}: {@code ℓᵢ = |xᵢ − yᵢ|}.
 *
 * <p>Gradient: {@code sign(xᵢ − yᵢ)}, which is 0 where {@code xᵢ = yᵢ} (PyTorch's subgradient
 * choice) and NaN where the difference is NaN; with {@link Reduction#MEAN} divided by {@code n}.
 * See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class L1Loss extends ElementwiseLoss {
  private L1Loss(Reduction reduction) {
    super(reduction);
  }

  /**
   * An L1 loss with the given reduction.
   *
   * @param reduction MEAN, SUM or NONE
   * @return the loss
   */
  public static L1Loss of(Reduction reduction) {
    return new L1Loss(reduction);
  }

  @Override
  public L1Loss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  private static final float[] SHAPE = new float[] {1, 0, 0, 0, 0};

  @Override
  float[] pointwiseShape() {
    return SHAPE;
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.l1(x, y, from, to, loss, grad, coef, acc);
  }
}
