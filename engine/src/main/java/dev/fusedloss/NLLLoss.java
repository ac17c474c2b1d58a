package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.RowArgs;
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

  private NLLLoss(Builder b) {
    if (b.reduction == null || b.reduction == Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + b.reduction);
    }
    this.reduction = b.reduction;
    this.weight = b.weight == null ? null : Args.finiteArray("weight", b.weight);
    this.weightSeg = weight == null ? null : MemorySegment.ofArray(weight);
    this.ignoreIndex = b.ignoreIndex;
    this.kernels = VectorizationProvider.get().softmax();
  }

  /** A builder with PyTorch's defaults: MEAN, no weight, ignoreIndex −100. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * This loss with another parallelism.
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   */
  public NLLLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  public Reduction reduction() {
    return reduction;
  }

  /**
   * @param logProbs {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets {@code rows} int32 class indices (or {@code ignoreIndex})
   * @param lossOut one loss per row; only with {@link Reduction#NONE}, may be null
   * @param grad {@code gradScale·∂L/∂logProbs} in the input layout, or null
   * @return the reduced loss; with NONE, the sum of the row losses
   */
  public double compute(MemorySegment logProbs, long rowStride, MemorySegment targets, long rows,
      long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    RowArgs.classIndexCall(logProbs, "logProbs", rowStride, targets, rows, classes, "weight",
        weight, gradScale, lossOut, grad, reduction == Reduction.NONE);
    double norm = RowArgs.normalizer(targets, rows, classes, ignoreIndex, weight);
    float coef = reduction == Reduction.MEAN ? RowArgs.meanCoef(gradScale, norm) : gradScale;
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logProbs, targets, lossOut,
        grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.nll(logProbs, targets, rowStride, classes, r, Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, weightSeg, ignoreIndex);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk,
          (r0, r1) -> kernels.nll(logProbs, targets, rowStride, classes, r0, r1, lossOut, grad, coef, accumulate, weightSeg, ignoreIndex));
    }
    return reduction == Reduction.MEAN ? sum / norm : sum;
  }

  /** Packed rows, scale 1, overwriting. */
  public double compute(MemorySegment logProbs, MemorySegment targets, long rows, long classes,
      MemorySegment grad) {
    return compute(logProbs, classes, targets, rows, classes, null, grad, 1f, false);
  }

  /** {@code float[]} form: packed rows. */
  public double compute(float[] logProbs, int[] targets, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(logProbs, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logProbs), classes, MemorySegment.ofArray(targets), rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /** Configures an {@link NLLLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float[] weight;
    private int ignoreIndex = -100;

    private Builder() {}

    public Builder reduction(Reduction reduction) {
      this.reduction = reduction;
      return this;
    }

    /** Finite per-class weights (copied). */
    public Builder weight(float[] weight) {
      this.weight = weight == null ? null : weight.clone();
      return this;
    }

    public Builder ignoreIndex(int ignoreIndex) {
      this.ignoreIndex = ignoreIndex;
      return this;
    }

    public NLLLoss build() {
      return new NLLLoss(this);
    }
  }
}
