package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.ElementwiseKernels;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.RowTiles;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * KL divergence on log-probabilities, {@code torch.nn.KLDivLoss}: the input x holds
 * log-probabilities; pointwise {@code y·(ln y − x)} with {@code 0·ln 0 = 0} (PyTorch's
 * {@code xlogy}), or with {@code logTarget} (y holds log-probabilities) {@code e^y·(y − x)}.
 *
 * <p>Gradient: {@code −y} (or {@code −e^y}). Reductions: {@link Reduction#BATCH_MEAN} (sum / rows,
 * the mathematically correct KL per sample and PyTorch's recommendation), {@link Reduction#MEAN}
 * (sum / (rows·classes), PyTorch's default), SUM, NONE (one value per element).
 *
 * <p>Edges: a negative target gives NaN (log of a negative), {@code y = 0} with an infinite
 * {@code x} gives NaN ({@code 0·∞}), as PyTorch. Inputs are packed {@code [rows, classes]}.
 * Calls and checks as in {@link ElementwiseLoss}.
 */
public final class KLDivLoss extends LossBase {
  private final Reduction reduction;
  private final boolean logTarget;
  private final ElementwiseKernels kernels;

  private KLDivLoss(Reduction reduction, boolean logTarget) {
    if (reduction == null) {
      throw new IllegalArgumentException("reduction must not be null");
    }
    this.reduction = reduction;
    this.logTarget = logTarget;
    this.kernels = VectorizationProvider.get().elementwise();
  }

  /**
   * A KL divergence loss.
   *
   * @param reduction BATCH_MEAN, MEAN, SUM or NONE
   * @param logTarget whether the target holds log-probabilities
   * @return the loss
   */
  public static KLDivLoss of(Reduction reduction, boolean logTarget) {
    return new KLDivLoss(reduction, logTarget);
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
   * @param target the format of the targets
   * @param grad the format of the gradient
   * @return a copy of this loss with those formats
   * @throws IllegalArgumentException if a format is null
   */
  public KLDivLoss withFormats(FloatFormat input, FloatFormat target, FloatFormat grad) {
    return copyWithFormats(input, target, grad);
  }

  /**
   * This loss with another parallelism.
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   */
  public KLDivLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The reduction.
   *
   * @return the reduction
   */
  public Reduction reduction() {
    return reduction;
  }

  /**
   * The full call: loss and gradient with respect to the input.
   *
   * @param input log-probabilities, {@code rows·classes} floats
   * @param target probabilities (or log-probabilities), same shape
   * @param lossOut one value per element; only with NONE, may be null
   * @return the reduced loss; with NONE, the sum
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   */
  public double compute(MemorySegment input, MemorySegment target, long rows, long classes,
      MemorySegment lossOut, MemorySegment grad, float gradScale, boolean accumulate) {
    long n = RowArgs.shape(rows, classes, classes);
    if (formatted) {
      Args.pointwise(input, inputFormat, target, targetFormat, n, lossOut, grad, gradFormat,
          reduction == Reduction.NONE, gradScale);
    } else {
      Args.pointwise(input, target, n, lossOut, grad, reduction == Reduction.NONE, gradScale);
    }
    double denom = switch (reduction) {
      case BATCH_MEAN -> rows;
      case MEAN -> (double) n;
      default -> 1;
    };
    float coef = (float) (gradScale / denom);
    if (formatted) {
      // element-wise: rows of one value, so the row tiles carry per-element losses
      RowTiles.Kernel k = (x, t, st, c, r0, r1, l, g, cf, acc) -> kernels.klDiv(x, t, r0, r1, l,
          g, cf, acc, logTarget);
      return RowTiles.run(new RowTiles.Call(k, inputFormat, input, 1, n, 1, target, 0,
          targetFormat, lossOut, grad, gradFormat), coef, accumulate, parallelism(),
          VectorizationProvider.get().formats()) / denom;
    }
    long chunk = Split.elementChunk(n);
    int threads = Split.threads(parallelism(), n, n, chunk, input, target, lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < n; from += chunk) {
        sum += kernels.klDiv(input, target, from, Math.min(n, from + chunk), lossOut, grad, coef,
            accumulate, logTarget);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, n, chunk,
          (from, to) -> kernels.klDiv(input, target, from, to, lossOut, grad, coef, accumulate,
              logTarget));
    }
    return sum / denom;
  }

  /**
   * {@code float[]} form: packed rows, scale 1, overwriting.
   *
   * @param input predictions
   * @param target targets, in the layout of {@code input}
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(float[] input, float[] target, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(input, classes, grad);
    if (target == null || target.length != input.length) {
      throw new IllegalArgumentException("target must have the length of input");
    }
    return compute(MemorySegment.ofArray(input), MemorySegment.ofArray(target), rows, classes,
        null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }
}
