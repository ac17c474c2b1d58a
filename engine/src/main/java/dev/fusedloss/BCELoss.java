package dev.fusedloss;

import dev.fusedloss.internal.ElementwiseKernels;
import dev.fusedloss.internal.Periodic;
import java.lang.foreign.MemorySegment;

/**
 * Binary cross entropy on probabilities, {@code torch.nn.BCELoss}, in one of two forms.
 *
 * <p><b>PyTorch form</b> (default, {@code clipEps = 0}):
 * {@code ℓ = −w·(y·max(ln x, −100) + (1−y)·max(ln(1−x), −100))}, with PyTorch's analytic
 * gradient {@code w·(x − y) / max(x·(1−x), 1e-12)} — not the derivative of the clamped
 * expression: at {@code x = 0, y = 1} the loss is 100 and the gradient about −1e12.
 *
 * <p><b>Clipped form</b> ({@code clipEps > 0}, the textbook variant): {@code x} is clipped to
 * {@code [clipEps, 1 − clipEps]} and {@code ℓ = −w·(y·ln x_c + (1−y)·ln(1−x_c))}; the gradient is
 * that of the clipped expression, {@code w·(x_c − y)/(x_c(1−x_c))} inside the clip range and 0
 * outside it (autograd through a clamp). In float32, {@code 1 − clipEps} rounds to 1 for
 * {@code clipEps} below 2⁻²⁴, so the upper bound is capped at the largest float below 1.
 *
 * <p>Weights: {@code weight} broadcasts along the last dimension of the flattened input
 * (element {@code i} uses {@code weight[i % weight.length]}): a per-column {@code [C]} weight or a
 * full {@code [N, C]} one. Its length must divide {@code n}. MEAN divides by {@code n}, not by
 * the weight sum (PyTorch). Targets may be soft (any value in [0, 1]).
 *
 * <p>Edges: PyTorch raises an error for probabilities outside [0, 1]; to stay single-pass this
 * kernel does not scan for them first — such inputs give NaN losses (log of a negative). NaN
 * inputs propagate. See {@link ElementwiseLoss} for the calls and the checks.
 */
public final class BCELoss extends ElementwiseLoss {
  private final Periodic weight;
  private final float clipEps;
  private final float lo;
  private final float hi;

  private BCELoss(Builder b) {
    super(b.reduction);
    this.weight = b.weight == null ? Periodic.ones() : Periodic.of("weight", b.weight);
    if (!(b.clipEps >= 0 && b.clipEps < 0.5f)) {
      throw new IllegalArgumentException("clipEps must be in [0, 0.5), got " + b.clipEps);
    }
    this.clipEps = b.clipEps;
    this.lo = clipEps;
    this.hi = Math.min(1f - clipEps, Math.nextDown(1f));
  }

  /**
   * A builder with PyTorch's defaults: MEAN, no weight, PyTorch form.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The probability clip ε, 0 for the PyTorch form.
   *
   * @return the clip ε
   */
  public float clipEps() {
    return clipEps;
  }

  @Override
  void checkShape(long n) {
    weight.checkBroadcast("weight", n);
  }

  @Override
  public BCELoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return clipEps == 0
        ? k.bce(x, y, from, to, loss, grad, coef, acc, weight)
        : k.bceClipped(x, y, from, to, loss, grad, coef, acc, weight, lo, hi);
  }

  @Override
  double kernelTile(ElementwiseKernels k, dev.fusedloss.internal.FormatScratch s, long origin,
      int len, MemorySegment loss, MemorySegment grad, float coef) {
    dev.fusedloss.internal.Periodic w = weight.window(origin, len, s.w);
    return clipEps == 0
        ? k.bce(s.x, s.y, 0, len, loss, grad, coef, false, w)
        : k.bceClipped(s.x, s.y, 0, len, loss, grad, coef, false, w, lo, hi);
  }

  /** Configures a {@link BCELoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float[] weight;
    private float clipEps;

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
     * Selects the clipped form with {@code 0 < clipEps < 0.5}; 0 selects the PyTorch form.
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
    public BCELoss build() {
      return new BCELoss(this);
    }
  }
}
