package dev.fusedloss;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.ElementwiseKernels;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.Periodic;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.MultiLabelSoftMarginLoss}: independent binary labels per class, {@code ℓ_row =
 * −(1/C)·Σ_c w_c·(y_c·log σ(x_c) + (1 − y_c)·log σ(−x_c))} over rows of C logits with targets in
 * [0, 1] (soft labels allowed) and an optional per-class weight.
 *
 * <p>Each term is the stable {@code max(x, 0) − x·y + log(1 + exp(−|x|))} of BCE with logits (the
 * same kernel), so no term overflows. Gradient: {@code w_c·(σ(x_c) − y_c)/C}; with {@link
 * Reduction#MEAN} also divided by the row count. Per-row losses (NONE) are {@code rows} floats.
 * NaN propagates.
 *
 * <p>Input, target and gradient are {@code rows × classes} floats, row-major; the gradient may be
 * the input itself (in place) but must not overlap it otherwise. Everything is checked before
 * anything is written. Large calls are split over threads by rows, with bitwise-identical
 * results.
 */
public final class MultiLabelSoftMarginLoss extends LossBase {
  private static final Periodic ONES = Periodic.ones();

  private final Reduction reduction;
  private final Periodic weight;
  private final int weightLength;
  private final ElementwiseKernels kernels = VectorizationProvider.get().elementwise();

  private MultiLabelSoftMarginLoss(Reduction reduction, float[] weight) {
    PairArgs.reduction(reduction, null);
    this.reduction = reduction;
    this.weight = weight == null ? Periodic.ones() : Periodic.of("weight", weight);
    this.weightLength = weight == null ? 0 : weight.length;
  }

  /**
   * A multi-label soft margin loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param weight per-class weights (finite, copied), or null
   * @return the loss
   */
  public static MultiLabelSoftMarginLoss of(Reduction reduction, float[] weight) {
    return new MultiLabelSoftMarginLoss(reduction, weight);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public MultiLabelSoftMarginLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only.
   *
   * @param input rows × classes logits
   * @param target rows × classes labels in [0, 1]
   * @param rows rows
   * @param classes classes per row
   * @return the reduced loss
   */
  public double forward(MemorySegment input, MemorySegment target, long rows, long classes) {
    return compute(input, target, rows, classes, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param input rows × classes logits
   * @param target rows × classes labels in [0, 1]
   * @param rows rows
   * @param classes classes per row, ≥ 1 (the weight's length when given)
   * @param lossOut rows per-row losses (NONE only), or null
   * @param grad receives {@code gradScale·∂L/∂input}, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradient's contents
   * @return the reduced loss (NONE: the sum of the per-row losses)
   */
  public double compute(MemorySegment input, MemorySegment target, long rows, long classes,
      MemorySegment lossOut, MemorySegment grad, float gradScale, boolean accumulate) {
    long n = PairShapes.rows(rows, classes);
    PairArgs.reduction(reduction, lossOut);
    if (weightLength != 0 && weightLength != classes) {
      throw new IllegalArgumentException("weight has " + weightLength + " values but there are "
          + classes + " classes");
    }
    Args.input("input", input, n);
    Args.input("target", target, n);
    Args.finite("gradScale", gradScale);
    RowArgs.outputs(input, "input", target, "target", n * Float.BYTES, n, rows, lossOut, grad,
        reduction == Reduction.NONE);
    double perRow = reduction == Reduction.MEAN ? (double) rows * classes : classes;
    float coef = (float) (gradScale / perRow);
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), n, rows, chunk, input, target, lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < rows; from += chunk) {
        sum += rows(input, target, classes, from, Math.min(rows, from + chunk), lossOut, grad,
            coef, accumulate);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk, (from, to) ->
          rows(input, target, classes, from, to, lossOut, grad, coef, accumulate));
    }
    return reduction == Reduction.MEAN ? sum / perRow : sum / classes;
  }

  private double rows(MemorySegment x, MemorySegment y, long classes, long from, long to,
      MemorySegment lossOut, MemorySegment grad, float coef, boolean acc) {
    Periodic pw = ONES;
    if (lossOut == null) {
      return kernels.bceWithLogits(x, y, from * classes, to * classes, null, grad, coef, acc,
          weight, pw);
    }
    double sum = 0;
    for (long r = from; r < to; r++) {
      double s = kernels.bceWithLogits(x, y, r * classes, (r + 1) * classes, null, grad, coef,
          acc, weight, pw);
      lossOut.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) (s / classes));
      sum += s;
    }
    return sum;
  }
}
