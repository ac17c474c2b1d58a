package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.HuberLoss}: with {@code d = x − y},
 * {@code ℓ = 0.5·d²} if {@code |d| < δ}, else {@code δ·(|d| − 0.5·δ)}.
 *
 * <p>Gradient: {@code d} in the quadratic zone, {@code δ·sign(d)} outside it (0 where
 * {@code d = 0}); {@code |d| = δ} exactly falls in the linear branch, where value and gradient
 * are continuous. With {@link Reduction#MEAN} the gradient is divided by {@code n}.
 * {@code Huber(δ) = δ·SmoothL1(β=δ)}. See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class HuberLoss extends ElementwiseLoss {
  private final float delta;
  private final float[] shape;

  private HuberLoss(Reduction reduction, float delta) {
    super(reduction);
    if (!(delta > 0) || Float.isInfinite(delta)) {
      throw new IllegalArgumentException("delta must be finite and > 0, got " + delta);
    }
    this.delta = delta;
    this.shape = new float[] {2, delta, 1f, delta, 0.5f * delta};
  }

  /**
   * A Huber loss; PyTorch's defaults are {@code MEAN} and {@code delta = 1}.
   *
   * @param reduction MEAN, SUM or NONE
   * @param delta the threshold δ, finite and > 0
   * @return the loss
   */
  public static HuberLoss of(Reduction reduction, float delta) {
    return new HuberLoss(reduction, delta);
  }

  /**
   * The threshold between the quadratic and the linear zone.
   *
   * @return δ
   */
  public float delta() {
    return delta;
  }

  @Override
  public HuberLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  float[] pointwiseShape() {
    return shape;
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.robust(x, y, from, to, loss, grad, coef, acc, delta, 1f, delta, 0.5f * delta);
  }
}
