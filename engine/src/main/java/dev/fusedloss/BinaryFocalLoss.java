package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * Binary focal loss on probabilities (the textbook form): {@code x} is clipped to
 * {@code [clipEps, 1 − clipEps]}, {@code p_t = y·x_c + (1−y)·(1−x_c)} (for hard targets: x_c
 * where y = 1, else 1 − x_c), {@code α_t = α·y + (1−α)·(1−y)} ({@code α < 0} disables it), and
 * {@code ℓ = −α_t·(1 − p_t)^γ·ln p_t}.
 *
 * <p>Gradient: that of the clipped expression,
 * {@code α_t·(1−p_t)^γ·[γ·ln p_t/(1−p_t) − 1/p_t]·(2y − 1)} inside the clip range and 0 outside
 * it (autograd through a clamp). In float32 {@code 1 − clipEps} rounds to 1 for small
 * {@code clipEps}; the upper bound is capped at the largest float below 1 so {@code ln(1 − x_c)}
 * stays finite. MEAN divides by {@code n}. Prefer {@link SigmoidFocalLoss} on logits when
 * logits are available: it needs no clipping. See {@link ElementwiseLoss} for the calls and the
 * checks.
 */
public final class BinaryFocalLoss extends ElementwiseLoss {
  private final float alpha;
  private final float gamma;
  private final float clipEps;
  private final float hi;

  private BinaryFocalLoss(Builder b) {
    super(b.reduction);
    if (!(b.gamma >= 0) || Float.isInfinite(b.gamma)) {
      throw new IllegalArgumentException("gamma must be finite and >= 0, got " + b.gamma);
    }
    if (Float.isNaN(b.alpha) || b.alpha > 1) {
      throw new IllegalArgumentException("alpha must be <= 1 (negative disables it), got " + b.alpha);
    }
    if (!(b.clipEps > 0 && b.clipEps < 0.5f)) {
      throw new IllegalArgumentException("clipEps must be in (0, 0.5), got " + b.clipEps);
    }
    this.alpha = b.alpha;
    this.gamma = b.gamma;
    this.clipEps = b.clipEps;
    this.hi = Math.min(1f - clipEps, Math.nextDown(1f));
  }

  /**
   * A builder with α = 0.25, γ = 2, clipEps = 1e-7, MEAN.
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

  /**
   * The probability clip ε.
   *
   * @return the clip ε
   */
  public float clipEps() {
    return clipEps;
  }

  @Override
  public BinaryFocalLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.binaryFocal(x, y, from, to, loss, grad, coef, acc, gamma,
        SigmoidFocalLoss.alphaSlope(alpha), SigmoidFocalLoss.alphaOffset(alpha), clipEps, hi);
  }

  /** Configures a {@link BinaryFocalLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float alpha = 0.25f;
    private float gamma = 2f;
    private float clipEps = 1e-7f;

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
     * Probability clip, in (0, 0.5).
     *
     * @param clipEps probabilities are clipped to {@code [clipEps, 1 − clipEps]}
     * @return this builder
     */
    public Builder clipEps(float clipEps) {
      this.clipEps = clipEps;
      return this;
    }

    /**
     * Builds the loss.
     *
     * @return the loss
     * @throws IllegalArgumentException if an option is out of range
     */
    public BinaryFocalLoss build() {
      return new BinaryFocalLoss(this);
    }
  }
}
