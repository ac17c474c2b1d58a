package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import dev.fusedloss.internal.Periodic;
import java.lang.foreign.MemorySegment;

/**
 * Binary cross entropy on logits, {@code torch.nn.BCEWithLogitsLoss}:
 * {@code ℓ = −w·[pw·y·ln σ(x) + (1−y)·ln(1−σ(x))]}, evaluated as
 * {@code w·[pw·y·softplus(−x) + (1−y)·softplus(x)]} with
 * {@code softplus(±x) = ln(1 + e^(−|x|)) + max(±x, 0)}. This equals PyTorch's
 * {@code w·[(1−y)·x + (1 + (pw−1)·y)·softplus(−x)]} but adds only non-negative terms: no
 * cancellation between {@code (1−y)·x} and the softplus, and no float32 overflow of an
 * intermediate when the loss itself is finite (logits up to ±3.4e38 with any weights).
 *
 * <p>Gradient: {@code w·((1 + (pw−1)·y)·σ(x) − pw·y)}, which is {@code w·(σ(x) − y)} without a
 * positive weight; σ is evaluated from {@code e^(−|x|)} so it never overflows.
 *
 * <p>Weights: {@code weight} broadcasts along the last dimension of the flattened input (element
 * {@code i} uses {@code weight[i % weight.length]}: a {@code [C]} or a full {@code [N, C]}
 * weight); {@code posWeight} has one value per column ({@code [C]}, element {@code i} uses
 * {@code posWeight[i % C]}). Both lengths must divide {@code n}. MEAN divides by {@code n}.
 *
 * <p>Edges: an infinite logit gives {@code +∞} where the loss diverges, and NaN where the target
 * is exactly 0 or 1 on the side where the loss tends to 0 ({@code 0·∞}, e.g. {@code x = +∞, y = 1};
 * PyTorch gives NaN there too, and also at {@code x = −∞, 0 < y}, where the limit is {@code +∞}
 * and we return it). NaN propagates. See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class BCEWithLogitsLoss extends ElementwiseLoss {
  private final Periodic weight;
  private final Periodic posWeight;

  private BCEWithLogitsLoss(Builder b) {
    super(b.reduction);
    this.weight = b.weight == null ? Periodic.ones() : Periodic.of("weight", b.weight);
    this.posWeight = b.posWeight == null ? Periodic.ones() : Periodic.of("posWeight", b.posWeight);
  }

  /**
   * A builder with PyTorch's defaults: MEAN, no weight, no positive weight.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  void checkShape(long n) {
    weight.checkBroadcast("weight", n);
    posWeight.checkBroadcast("posWeight", n);
  }

  @Override
  public BCEWithLogitsLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.bceWithLogits(x, y, from, to, loss, grad, coef, acc, weight, posWeight);
  }

  @Override
  double kernelTile(ElementwiseKernels k, dev.fusedloss.internal.FormatScratch s, long origin,
      int len, MemorySegment loss, MemorySegment grad, float coef) {
    return k.bceWithLogits(s.x, s.y, 0, len, loss, grad, coef, false,
        weight.window(origin, len, s.w), posWeight.window(origin, len, s.pw));
  }

  /** Configures a {@link BCEWithLogitsLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float[] weight;
    private float[] posWeight;

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
     * Finite per-element weights, broadcast along the last dimension (copied).
     *
     * @param weight finite weights, element i using {@code weight[i % weight.length]} (copied), or
     *     null for none
     * @return this builder
     */
    public Builder weight(float[] weight) {
      this.weight = weight == null ? null : weight.clone();
      return this;
    }

    /**
     * Finite positive-class weights, one per column (copied).
     *
     * @param posWeight finite positive-class weights, broadcast along the last dimension (copied), or null
     * @return this builder
     */
    public Builder posWeight(float[] posWeight) {
      this.posWeight = posWeight == null ? null : posWeight.clone();
      return this;
    }

    /**
     * Builds the loss.
     *
     * @return the loss
     * @throws IllegalArgumentException if an option is out of range
     */
    public BCEWithLogitsLoss build() {
      return new BCEWithLogitsLoss(this);
    }
  }
}
