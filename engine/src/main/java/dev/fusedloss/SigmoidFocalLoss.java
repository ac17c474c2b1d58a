package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * Sigmoid focal loss on logits, torchvision's {@code sigmoid_focal_loss}: with {@code p = σ(x)},
 * {@code ce = BCEWithLogits(x, y)}, {@code p_t = p·y + (1−p)·(1−y)},
 * {@code ℓ = α_t·ce·(1 − p_t)^γ}, where {@code α_t = α·y + (1−α)·(1−y)} when {@code α ≥ 0} and
 * {@code α_t = 1} when {@code α < 0} (weighting disabled). Targets may be hard or soft.
 *
 * <p>Gradient (analytic): {@code α_t·(1−p_t)^γ·[(p − y) + γ·ce·(1−2y)·p(1−p)/(1−p_t)]}. Written
 * with the ratio {@code p(1−p)/(1−p_t)} (at most 1) instead of {@code (1−p_t)^(γ−1)}, it stays
 * finite at saturated logits for every {@code γ ≥ 0} — where PyTorch's float32 autograd gives
 * NaN for {@code 0 < γ < 1} (0·∞); there we give the finite float64 answer. σ and {@code 1−σ} are
 * both formed from {@code e^(−|x|)}, so neither cancels. {@code γ = 0} with {@code α < 0} is
 * exactly {@link BCEWithLogitsLoss}.
 *
 * <p>MEAN divides by {@code n}. Defaults follow torchvision: {@code α = 0.25}, {@code γ = 2}
 * (torchvision's functional default reduction is none; the builder's, like PyTorch's modules,
 * is MEAN). See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class SigmoidFocalLoss extends ElementwiseLoss {
  private final float alpha;
  private final float gamma;

  private SigmoidFocalLoss(Builder b) {
    super(b.reduction);
    if (!(b.gamma >= 0) || Float.isInfinite(b.gamma)) {
      throw new IllegalArgumentException("gamma must be finite and >= 0, got " + b.gamma);
    }
    if (Float.isNaN(b.alpha) || b.alpha > 1) {
      throw new IllegalArgumentException("alpha must be <= 1 (negative disables it), got " + b.alpha);
    }
    this.alpha = b.alpha;
    this.gamma = b.gamma;
  }

  /**
   * A builder with α = 0.25, γ = 2, MEAN.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The class-balance weight α.
   *
   * @return α (negative: no α weighting)
   */
  public float alpha() {
    return alpha;
  }

  /**
   * The focusing exponent γ.
   *
   * @return γ
   */
  public float gamma() {
    return gamma;
  }

  @Override
  public SigmoidFocalLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.sigmoidFocal(x, y, from, to, loss, grad, coef, acc, gamma,
        alphaSlope(alpha), alphaOffset(alpha));
  }

  /** α_t = slope·y + offset: α·y + (1−α)(1−y), or 1 when α &lt; 0. */
  static float alphaSlope(float alpha) {
    return alpha < 0 ? 0f : 2f * alpha - 1f;
  }

  static float alphaOffset(float alpha) {
    return alpha < 0 ? 1f : 1f - alpha;
  }

  /** Configures a {@link SigmoidFocalLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float alpha = 0.25f;
    private float gamma = 2f;

    private Builder() {}

    /**
     * The reduction (default MEAN).
     *
     * @param reduction MEAN, SUM or NONE
     * @return this builder
     */
    public Builder reduction(Reduction reduction) {
      this.reduction = reduction;
      return this;
    }

    /**
     * Positive-class weight in [0, 1]; a negative value disables the α weighting.
     *
     * @param alpha the class-balance weight α
     * @return this builder
     */
    public Builder alpha(float alpha) {
      this.alpha = alpha;
      return this;
    }

    /**
     * Focusing exponent, finite and ≥ 0.
     *
     * @param gamma the focusing exponent γ, finite and ≥ 0
     * @return this builder
     */
    public Builder gamma(float gamma) {
      this.gamma = gamma;
      return this;
    }

    /**
     * Builds the loss.
     *
     * @return the loss
     * @throws IllegalArgumentException if an option is out of range
     */
    public SigmoidFocalLoss build() {
      return new SigmoidFocalLoss(this);
    }
  }
}
