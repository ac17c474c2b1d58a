package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.RowTiles;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.SoftmaxKernels;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * Softmax (multi-class) focal loss on logits with class-index targets:
 * {@code ℓ_i = −α[t_i]·(1 − p_t)^γ·ln p_t}, {@code ln p_t = log_softmax(x_i)[t_i]}, α all ones
 * when not given.
 *
 * <p>Gradient: {@code ∂ℓ_i/∂x_ic = ([c = t] − p_ic)·F_i} with
 * {@code F_i = α_t·(γ·p_t·ln p_t·(1−p_t)^(γ−1) − (1−p_t)^γ)}; {@code (1−p_t)} is formed as
 * {@code −expm1(ln p_t)} and {@code ln p_t/(1−p_t)} taken as its limit −1 at {@code p_t = 1}, so
 * the gradient stays finite for every γ ≥ 0. γ = 0 without α is exactly {@link CrossEntropyLoss}.
 *
 * <p>MEAN divides by the number of rows not ignored; SUM adds; NONE writes one value per row.
 * Layout, calls, edges and checks as in {@link CrossEntropyLoss}.
 */
public final class SoftmaxFocalLoss extends LossBase {
  private final Reduction reduction;
  private final float gamma;
  private final float[] alpha;
  private final MemorySegment alphaSeg;
  private final int ignoreIndex;
  private final SoftmaxKernels kernels;
  private final ClassIndexType targetType;

  private SoftmaxFocalLoss(Builder b) {
    if (b.reduction == null || b.reduction == Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + b.reduction);
    }
    if (!(b.gamma >= 0) || Float.isInfinite(b.gamma)) {
      throw new IllegalArgumentException("gamma must be finite and >= 0, got " + b.gamma);
    }
    this.reduction = b.reduction;
    this.gamma = b.gamma;
    this.alpha = b.alpha == null ? null : Args.finiteArray("alpha", b.alpha);
    this.alphaSeg = alpha == null ? null : MemorySegment.ofArray(alpha);
    this.ignoreIndex = b.ignoreIndex;
    this.kernels = VectorizationProvider.get().softmax();
    if (b.targetType == null) {
      throw new IllegalArgumentException("targetType must not be null");
    }
    this.targetType = b.targetType;
  }

  /**
   * A builder with γ = 2, no α, ignoreIndex −100, MEAN.
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
  public SoftmaxFocalLoss withFormats(FloatFormat input, FloatFormat target, FloatFormat grad) {
    return copyWithFormats(input, target, grad);
  }

  /**
   * This loss with another parallelism.
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   */
  public SoftmaxFocalLoss withParallelism(Parallelism parallelism) {
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
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param targets one class index per row (or {@code ignoreIndex}), int32 or int64 as
   *     {@link Builder#targetType} says
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param lossOut receives one loss per row (per element for element-wise losses); only with {@link Reduction#NONE}, may be null
   * @param grad receives the gradient, or null for the loss only
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with NONE, the sum of the row losses
   */
  public double compute(MemorySegment logits, long rowStride, MemorySegment targets, long rows,
      long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    return compute(logits, rowStride, targets, targetType == ClassIndexType.INT64, rows, classes,
        lossOut, grad, gradScale, accumulate);
  }

  private double compute(MemorySegment logits, long rowStride, MemorySegment targets,
      boolean int64, long rows, long classes, MemorySegment lossOut, MemorySegment grad,
      float gradScale, boolean accumulate) {
    if (formatted) {
      RowArgs.targets(targets, rows, int64);
      RowArgs.perClass("alpha", alpha, classes);
      RowTiles.check(logits, "logits", inputFormat, RowArgs.shape(rows, classes, rowStride), rows,
          targets, rows * (int64 ? Long.BYTES : Integer.BYTES), null, lossOut, grad, gradFormat,
          reduction == Reduction.NONE, gradScale);
    } else {
      RowArgs.classIndexCall(logits, "logits", rowStride, targets, int64, rows, classes, "alpha",
          alpha, gradScale, lossOut, grad, reduction == Reduction.NONE);
    }
    double kept = RowArgs.normalizer(targets, int64, rows, classes, ignoreIndex, null);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / kept) : gradScale;
    if (formatted) {
      RowTiles.Kernel k = (x, t, st, c, r0, r1, l, g, cf, acc) -> kernels.softmaxFocal(x, t, st,
          c, r0, r1, l, g, cf, acc, gamma, alphaSeg, ignoreIndex, int64);
      double sum = RowTiles.run(new RowTiles.Call(k, inputFormat, logits, rowStride, rows,
          classes, targets, int64 ? Long.BYTES : Integer.BYTES, null, lossOut, grad, gradFormat),
          coef, accumulate, parallelism(), VectorizationProvider.get().formats());
      return reduction == Reduction.MEAN ? sum / kept : sum;
    }
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logits, targets, lossOut,
        grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.softmaxFocal(logits, targets, rowStride, classes, r, Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, gamma, alphaSeg, ignoreIndex, int64);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk,
          (r0, r1) -> kernels.softmaxFocal(logits, targets, rowStride, classes, r0, r1, lossOut, grad, coef, accumulate, gamma, alphaSeg, ignoreIndex, int64));
    }
    return reduction == Reduction.MEAN ? sum / kept : sum;
  }

  /**
   * Packed rows, scale 1, overwriting.
   *
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(MemorySegment logits, MemorySegment targets, long rows, long classes,
      MemorySegment grad) {
    return compute(logits, classes, targets, rows, classes, null, grad, 1f, false);
  }

  /**
   * {@code float[]} form: packed rows.
   *
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(float[] logits, int[] targets, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(logits, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logits), classes, MemorySegment.ofArray(targets), rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /**
   * {@code long[]} form (PyTorch's int64 targets, read in place whatever {@link #targetType}
   * says): packed rows, scale 1, overwriting.
   *
   * @param logits packed rows of {@code classes} values
   * @param targets one class index (or {@code ignoreIndex}) per row
   * @param classes the number of classes C
   * @param grad receives the gradient, or null
   * @return the reduced loss
   */
  public double compute(float[] logits, long[] targets, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(logits, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logits), classes, MemorySegment.ofArray(targets), true, rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /** Configures a {@link SoftmaxFocalLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float gamma = 2f;
    private float[] alpha;
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
     * Per-class weights α (copied); null for none.
     *
     * @param alpha the class-balance weight α
     * @return this builder
     */
    public Builder alpha(float[] alpha) {
      this.alpha = alpha == null ? null : alpha.clone();
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
    public SoftmaxFocalLoss build() {
      return new SoftmaxFocalLoss(this);
    }
  }
}
