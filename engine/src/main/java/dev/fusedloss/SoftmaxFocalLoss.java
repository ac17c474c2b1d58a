package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.RowArgs;
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
  }

  /** A builder with γ = 2, no α, ignoreIndex −100, MEAN. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * This loss with another parallelism.
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   */
  public SoftmaxFocalLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  public Reduction reduction() {
    return reduction;
  }

  /**
   * @return the reduced loss; with NONE, the sum of the row losses
   */
  public double compute(MemorySegment logits, long rowStride, MemorySegment targets, long rows,
      long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    RowArgs.classIndexCall(logits, "logits", rowStride, targets, rows, classes, "alpha", alpha,
        gradScale, lossOut, grad, reduction == Reduction.NONE);
    double kept = RowArgs.normalizer(targets, rows, classes, ignoreIndex, null);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / kept) : gradScale;
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logits, targets, lossOut,
        grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.softmaxFocal(logits, targets, rowStride, classes, r, Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, gamma, alphaSeg, ignoreIndex);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk,
          (r0, r1) -> kernels.softmaxFocal(logits, targets, rowStride, classes, r0, r1, lossOut, grad, coef, accumulate, gamma, alphaSeg, ignoreIndex));
    }
    return reduction == Reduction.MEAN ? sum / kept : sum;
  }

  /** Packed rows, scale 1, overwriting. */
  public double compute(MemorySegment logits, MemorySegment targets, long rows, long classes,
      MemorySegment grad) {
    return compute(logits, classes, targets, rows, classes, null, grad, 1f, false);
  }

  /** {@code float[]} form: packed rows. */
  public double compute(float[] logits, int[] targets, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(logits, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logits), classes, MemorySegment.ofArray(targets), rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /** Configures a {@link SoftmaxFocalLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float gamma = 2f;
    private float[] alpha;
    private int ignoreIndex = -100;

    private Builder() {}

    public Builder reduction(Reduction reduction) {
      this.reduction = reduction;
      return this;
    }

    /** Focusing exponent, finite and ≥ 0. */
    public Builder gamma(float gamma) {
      this.gamma = gamma;
      return this;
    }

    /** Per-class weights α (copied); null for none. */
    public Builder alpha(float[] alpha) {
      this.alpha = alpha == null ? null : alpha.clone();
      return this;
    }

    public Builder ignoreIndex(int ignoreIndex) {
      this.ignoreIndex = ignoreIndex;
      return this;
    }

    public SoftmaxFocalLoss build() {
      return new SoftmaxFocalLoss(this);
    }
  }
}
