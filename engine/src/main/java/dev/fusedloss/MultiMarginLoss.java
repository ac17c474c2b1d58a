package dev.fusedloss;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.PairKernels;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.MultiMarginLoss}: the multi-class hinge over rows of C scores with one class
 * index t per row, {@code ℓ_row = (1/C)·Σ_{i≠t} w_t·max(0, margin − x_t + x_i)^p} with p ∈ {1, 2}
 * and an optional per-class weight (the target class's weight scales its row).
 *
 * <p>Gradient, for each i ≠ t with {@code z = margin − x_t + x_i > 0}: {@code w_t·p·z^(p−1)/C}, and
 * at t minus their sum; 0 elsewhere. As PyTorch's kernel tests {@code z > 0}, a NaN score
 * contributes nothing (neither loss nor gradient). With {@link Reduction#MEAN} divided by the
 * row count. Per-row losses (NONE) are {@code rows} floats.
 *
 * <p>Scores and gradient are {@code rows × classes} floats, row-major; targets are {@code rows}
 * int32 or int64 values ({@link #targetType}), each in [0, C) — checked before anything is
 * written, naming the row. The gradient may be the scores themselves (in place). Large calls
 * are split over threads by rows, with bitwise-identical results.
 */
public final class MultiMarginLoss extends LossBase {
  private final Reduction reduction;
  private final boolean squared;
  private final float margin;
  private final float[] weight;
  private final ClassIndexType targetType;
  private final PairKernels kernels = VectorizationProvider.get().pair();

  private MultiMarginLoss(Builder b) {
    PairArgs.reduction(b.reduction, null);
    if (b.p != 1 && b.p != 2) {
      throw new IllegalArgumentException("p must be 1 or 2, got " + b.p);
    }
    if (b.targetType == null) {
      throw new IllegalArgumentException("targetType must not be null");
    }
    this.reduction = b.reduction;
    this.squared = b.p == 2;
    this.margin = Args.finite("margin", b.margin);
    this.weight = b.weight == null ? null : Args.finiteArray("weight", b.weight);
    this.targetType = b.targetType;
  }

  /**
   * A builder with PyTorch's defaults: MEAN, p = 1, margin 1, no weight, int32 targets.
   *
   * @return a builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The element type of target segments.
   *
   * @return INT32 or INT64
   */
  public ClassIndexType targetType() {
    return targetType;
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public MultiMarginLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only.
   *
   * @param input rows × classes scores
   * @param targets rows class indices
   * @param rows rows
   * @param classes classes per row
   * @return the reduced loss
   */
  public double forward(MemorySegment input, MemorySegment targets, long rows, long classes) {
    return compute(input, targets, rows, classes, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param input rows × classes scores
   * @param targets rows class indices in [0, classes)
   * @param rows rows
   * @param classes classes per row, ≥ 1 (the weight's length when given)
   * @param lossOut rows per-row losses (NONE only), or null
   * @param grad receives {@code gradScale·∂L/∂input}, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradient's contents
   * @return the reduced loss (NONE: the sum of the per-row losses)
   */
  public double compute(MemorySegment input, MemorySegment targets, long rows, long classes,
      MemorySegment lossOut, MemorySegment grad, float gradScale, boolean accumulate) {
    PairArgs.reduction(reduction, lossOut);
    boolean int64 = targetType == ClassIndexType.INT64;
    RowArgs.classIndexCall(input, "input", classes, targets, int64, rows, classes, "weight",
        weight, gradScale, lossOut, grad, reduction == Reduction.NONE);
    for (long r = 0; r < rows; r++) {
      long t = RowArgs.rawTarget(targets, r, int64);
      if (t < 0 || t >= classes) {
        throw new IndexOutOfBoundsException("targets[row " + r + "] = " + t + " is outside [0, "
            + classes + ")");
      }
    }
    double perRow = reduction == Reduction.MEAN ? (double) rows * classes : classes;
    float coef = (float) (gradScale / perRow);
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, input, targets,
        lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < rows; from += chunk) {
        sum += rows(input, targets, int64, (int) classes, from, Math.min(rows, from + chunk),
            lossOut, grad, coef, accumulate);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk, (from, to) ->
          rows(input, targets, int64, (int) classes, from, to, lossOut, grad, coef, accumulate));
    }
    return reduction == Reduction.MEAN ? sum / perRow : sum / classes;
  }

  private double rows(MemorySegment x, MemorySegment targets, boolean int64, int classes,
      long from, long to, MemorySegment lossOut, MemorySegment grad, float coef, boolean acc) {
    double sum = 0;
    for (long r = from; r < to; r++) {
      int t = RowArgs.target(targets, r, int64);
      float w = weight == null ? 1f : weight[t];
      double s = kernels.multiMargin(x, r * classes, classes, t, margin, squared, w, grad, coef,
          acc);
      if (lossOut != null) {
        lossOut.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) (s / classes));
      }
      sum += s;
    }
    return sum;
  }

  /** Options of a {@link MultiMarginLoss}, PyTorch's names. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private int p = 1;
    private float margin = 1f;
    private float[] weight;
    private ClassIndexType targetType = ClassIndexType.INT32;

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
     * The hinge's power (default 1).
     *
     * @param p 1 or 2
     * @return this builder
     */
    public Builder p(int p) {
      this.p = p;
      return this;
    }

    /**
     * The margin (default 1).
     *
     * @param margin finite margin
     * @return this builder
     */
    public Builder margin(float margin) {
      this.margin = margin;
      return this;
    }

    /**
     * Per-class weights (copied), or null (default).
     *
     * @param weight one finite value per class
     * @return this builder
     */
    public Builder weight(float[] weight) {
      this.weight = weight;
      return this;
    }

    /**
     * The element type of target segments (default INT32).
     *
     * @param type INT32 or INT64
     * @return this builder
     */
    public Builder targetType(ClassIndexType type) {
      this.targetType = type;
      return this;
    }

    /**
     * The loss.
     *
     * @return a new loss
     * @throws IllegalArgumentException for p other than 1 or 2, a non-finite margin or weight
     */
    public MultiMarginLoss build() {
      return new MultiMarginLoss(this);
    }
  }
}
