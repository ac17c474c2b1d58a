package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.RowTiles;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.SoftmaxKernels;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * Negative log-likelihood on log-probabilities, {@code torch.nn.NLLLoss}: for a row with
 * {@code t_i ≠ ignoreIndex}, {@code ℓ_i = −w[t_i]·x_i,t}; ignored rows give 0.
 *
 * <p>Gradient: {@code −w[t_i]} at the target and 0 elsewhere (the whole row is written, or only
 * the target entry is added to when accumulating). MEAN divides by {@code Σ w[t_i]} over rows not
 * ignored (NaN when all are ignored); SUM adds; NONE writes one value per row. For logits, use
 * {@link CrossEntropyLoss} (NLL of {@link LogSoftmax}, fused) instead.
 *
 * <p>Layout, calls and checks as in {@link CrossEntropyLoss}. No validation that the input is a
 * log-probability: any finite or non-finite value is used as given.
 */
public final class NLLLoss extends LossBase {
  private final Reduction reduction;
  private final float[] weight;
  private final MemorySegment weightSeg;
  private final int ignoreIndex;
  private final SoftmaxKernels kernels;
  private final ClassIndexType targetType;

  private NLLLoss(Builder b) {
    if (b.reduction == null || b.reduction == Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + b.reduction);
    }
    this.reduction = b.reduction;
    this.weight = b.weight == null ? null : Args.finiteArray("weight", b.weight);
    this.weightSeg = weight == null ? null : MemorySegment.ofArray(weight);
    this.ignoreIndex = b.ignoreIndex;
    this.kernels = VectorizationProvider.get().softmax();
    if (b.targetType == null) {
      throw new IllegalArgumentException("targetType must not be null");
    }
    this.targetType = b.targetType;
  }

  /**
   * A builder with PyTorch's defaults: MEAN, no weight, ignoreIndex −100.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * This loss reading its inputs and writing the gradient in the given formats (all {@link
   * FloatFormat#FLOAT32} by default). With a 16-bit format, whole rows are widened into a
   * per-thread float32 scratch (about 8192 values at a time, one row when longer; kept for the
   * thread's life), the float32 kernel runs there and the gradient rows are rounded to {@code
   * grad}'s format (nearest even; accumulating, the float32 sum is rounded once). Row losses
   * are float32; sizes are checked in values of each buffer's format.
   *
   * @param input the format of the input rows
   * @param target ignored (class-index targets)
   * @param grad the format of the gradient
   * @return a copy of this loss with those formats
   * @throws IllegalArgumentException if a format is null
   */
  public NLLLoss withFormats(FloatFormat input, FloatFormat target, FloatFormat grad) {
    return copyWithFormats(input, target, grad);
  }

  /**
   * This loss with another parallelism.
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   */
  public NLLLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The reduction.
   *
   * @return MEAN, SUM or NONE
   */
  public Reduction reduction() {
    return reduction;
  }

  /**
   * The element type of the target segments this loss reads.
   *
   * @return INT32 (the default) or INT64
   */
  public ClassIndexType targetType() {
    return targetType;
  }

  /**
   * The full call with class-index targets.
   *
   * @param logProbs {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets {@code rows} class indices (or {@code ignoreIndex}), int32 or int64 as
   *     {@link Builder#targetType} says
   * @param lossOut one loss per row; only with {@link Reduction#NONE}, may be null
   * @param grad {@code gradScale·∂L/∂logProbs} in the input layout, or null
   * @return the reduced loss; with NONE, the sum of the row losses
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   */
  public double compute(MemorySegment logProbs, long rowStride, MemorySegment targets, long rows,
      long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    return compute(logProbs, rowStride, targets, targetType == ClassIndexType.INT64, rows, classes,
        lossOut, grad, gradScale, accumulate);
  }

  private double compute(MemorySegment logProbs, long rowStride, MemorySegment targets,
      boolean int64, long rows, long classes, MemorySegment lossOut, MemorySegment grad,
      float gradScale, boolean accumulate) {
    if (formatted) {
      RowArgs.targets(targets, rows, int64);
      RowArgs.perClass("weight", weight, classes);
      RowTiles.check(logProbs, "logProbs", inputFormat, RowArgs.shape(rows, classes, rowStride),
          rows, targets, rows * (int64 ? Long.BYTES : Integer.BYTES), null, lossOut, grad,
          gradFormat, reduction == Reduction.NONE, gradScale);
    } else {
      RowArgs.classIndexCall(logProbs, "logProbs", rowStride, targets, int64, rows, classes,
          "weight", weight, gradScale, lossOut, grad, reduction == Reduction.NONE);
    }
    double norm = RowArgs.normalizer(targets, int64, rows, classes, ignoreIndex, weight);
    float coef = reduction == Reduction.MEAN ? RowArgs.meanCoef(gradScale, norm) : gradScale;
    if (formatted) {
      RowTiles.Kernel k = (x, t, st, c, r0, r1, l, g, cf, acc) ->
          kernels.nll(x, t, st, c, r0, r1, l, g, cf, acc, weightSeg, ignoreIndex, int64);
      double sum = RowTiles.run(new RowTiles.Call(k, inputFormat, logProbs, rowStride, rows,
          classes, targets, int64 ? Long.BYTES : Integer.BYTES, null, lossOut, grad, gradFormat),
          coef, accumulate, parallelism(), VectorizationProvider.get().formats());
      return reduction == Reduction.MEAN ? sum / norm : sum;
    }
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logProbs, targets, lossOut,
        grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.nll(logProbs, targets, rowStride, classes, r, Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, weightSeg, ignoreIndex, int64);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk,
          (r0, r1) -> kernels.nll(logProbs, targets, rowStride, classes, r0, r1, lossOut, grad, coef, accumulate, weightSeg, ignoreIndex, int64));
    }
    return reduction == Reduction.MEAN ? sum / norm : sum;
  }

  /**
   * The full call for PyTorch's N-d layout, the class axis at dim 1: log-probabilities {@code
   * [N, C, d1, …, dk]} as {@code batch × classes × spatial} floats, targets {@code [N, d1, …,
   * dk]}; row losses and MEAN as {@link #compute(MemorySegment, long, MemorySegment, long, long,
   * MemorySegment, MemorySegment, float, boolean)}, one row per position. Not with 16-bit
   * formats.
   *
   * @param logProbs {@code batch × classes × spatial} floats
   * @param targets {@code batch × spatial} class indices (or ignoreIndex)
   * @param batch N (≥ 0)
   * @param classes C (≥ 1)
   * @param spatial d1·…·dk (≥ 1)
   * @param lossOut receives the row losses; only with NONE, may be null
   * @param grad receives the gradient in the input layout, or null
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with NONE, the sum of the row losses
   * @throws IllegalStateException if this loss has 16-bit formats
   */
  public double computeSpatial(MemorySegment logProbs, MemorySegment targets, long batch,
      long classes, long spatial, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    if (formatted) {
      throw new IllegalStateException("the N-d layout takes float32 buffers");
    }
    boolean int64 = targetType == ClassIndexType.INT64;
    long rows = RowArgs.spatial(batch, classes, spatial);
    long span = rows * classes;
    Args.input("logProbs", logProbs, span);
    RowArgs.targets(targets, rows, int64);
    RowArgs.perClass("weight", weight, classes);
    Args.finite("gradScale", gradScale);
    RowArgs.outputs(logProbs, "logProbs", targets, "targets", rows * (int64 ? Long.BYTES
        : Integer.BYTES), span, rows, lossOut, grad, reduction == Reduction.NONE);
    double norm = RowArgs.normalizer(targets, int64, rows, classes, ignoreIndex, weight);
    float coef = reduction == Reduction.MEAN ? RowArgs.meanCoef(gradScale, norm) : gradScale;
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logProbs, targets,
        lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.spatialNll(logProbs, targets, classes, spatial, r,
            Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, weightSeg, ignoreIndex,
            int64);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk, (r0, r1) ->
          kernels.spatialNll(logProbs, targets, classes, spatial, r0, r1, lossOut, grad, coef,
              accumulate, weightSeg, ignoreIndex, int64));
    }
    return reduction == Reduction.MEAN ? sum / norm : sum;
  }

  /**
   * Packed rows, scale 1, overwriting.
   *
   * @param logProbs log-probabilities: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(MemorySegment logProbs, MemorySegment targets, long rows, long classes,
      MemorySegment grad) {
    return compute(logProbs, classes, targets, rows, classes, null, grad, 1f, false);
  }

  /**
   * {@code float[]} form: packed rows.
   *
   * @param logProbs log-probabilities: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(float[] logProbs, int[] targets, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(logProbs, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logProbs), classes, MemorySegment.ofArray(targets), rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /**
   * {@code long[]} form (PyTorch's int64 targets, read in place whatever {@link #targetType}
   * says): packed rows, scale 1, overwriting.
   *
   * @param logProbs packed rows of {@code classes} values
   * @param targets one class index (or {@code ignoreIndex}) per row
   * @param classes the number of classes C
   * @param grad receives the gradient, or null
   * @return the reduced loss
   */
  public double compute(float[] logProbs, long[] targets, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(logProbs, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logProbs), classes, MemorySegment.ofArray(targets), true, rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /** Configures an {@link NLLLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float[] weight;
    private int ignoreIndex = -100;
    private ClassIndexType targetType = ClassIndexType.INT32;

    private Builder() {}

    /**
     * The element type of target segments: {@link ClassIndexType#INT32} (default) or
     * {@link ClassIndexType#INT64}, PyTorch's.
     *
     * @param type the index type
     * @return this builder
     */
    public Builder targetType(ClassIndexType type) {
      this.targetType = type;
      return this;
    }

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
     * Finite per-class weights (copied).
     *
     * @param weight finite per-class weights, one per class (copied), or null for none
     * @return this builder
     */
    public Builder weight(float[] weight) {
      this.weight = weight == null ? null : weight.clone();
      return this;
    }

    /**
     * Rows whose target equals this are ignored (default −100).
     *
     * @param ignoreIndex rows whose target equals this are ignored (default −100)
     * @return this builder
     */
    public Builder ignoreIndex(int ignoreIndex) {
      this.ignoreIndex = ignoreIndex;
      return this;
    }

    /**
     * Builds the loss.
     *
     * @return the loss
     * @throws IllegalArgumentException if an option is out of range
     */
    public NLLLoss build() {
      return new NLLLoss(this);
    }
  }
}
