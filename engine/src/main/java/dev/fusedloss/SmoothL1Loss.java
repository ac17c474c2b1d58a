package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.SmoothL1Loss}: with {@code d = x − y},
 * {@code ℓ = 0.5·d²/β} if {@code |d| < β}, else {@code |d| − 0.5·β}.
 *
 * <p>Gradient: {@code d/β} in the quadratic zone, {@code sign(d)} outside it (0 where
 * {@code d = 0}). {@code |d| = β} exactly falls in the linear branch; value and gradient are
 * continuous there. {@code β = 0} is exactly {@link L1Loss}, gradient included (PyTorch 1.13's
 * own backward gives −1 at {@code d = 0} for β = 0; we give L1's 0). With {@link Reduction#MEAN}
 * the gradient is divided by {@code n}. {@code SmoothL1(β) = HuberLoss(δ=β) / β} for β &gt; 0.
 * Any finite β ≥ 0 works, subnormal ones included: the quadratic zone is evaluated as
 * {@code ½·d·(d/β)}, never with {@code 1/β}, which overflows below β ≈ 2.9e-39.
 * See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class SmoothL1Loss extends ElementwiseLoss {
  private final float beta;
  private final float c;
  private final float[] shape;

  private SmoothL1Loss(Reduction reduction, float beta) {
    super(reduction);
    if (!(beta >= 0) || Float.isInfinite(beta)) {
      throw new IllegalArgumentException("beta must be finite and >= 0, got " + beta);
    }
    this.beta = beta;
    this.c = 0.5f * beta;
    this.shape = new float[] {2, beta, beta, 1f, c};
  }

  /**
   * A SmoothL1 loss; PyTorch's defaults are {@code MEAN} and {@code beta = 1}.
   *
   * @param reduction MEAN, SUM or NONE
   * @param beta the threshold β, finite and ≥ 0
   * @return the loss
   */
  public static SmoothL1Loss of(Reduction reduction, float beta) {
    return new SmoothL1Loss(reduction, beta);
  }

  /**
   * The threshold between the quadratic and the linear zone.
   *
   * @return β
   */
  public float beta() {
    return beta;
  }

  @Override
  public SmoothL1Loss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  float[] pointwiseShape() {
    return shape;
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.robust(x, y, from, to, loss, grad, coef, acc, beta, beta, 1f, c);
  }
}
