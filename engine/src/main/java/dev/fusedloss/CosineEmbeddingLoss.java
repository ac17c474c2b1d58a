package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.PairRows;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.CosineEmbeddingLoss}: pairs of rows {@code x1, x2 ∈ ℝ^dim} with targets y = ±1,
 * {@code cos = x1·x2 / √((‖x1‖² + 1e−12)(‖x2‖² + 1e−12))} (PyTorch's ε), and {@code ℓ = 1 − cos}
 * where y = 1, {@code max(0, cos − margin)} where y = −1, 0 for any other target.
 *
 * <p>Gradient: {@code ∂cos/∂x1 = x2/denom − cos·x1/(‖x1‖² + ε)} (and symmetrically for x2), times
 * −1 where y = 1, +1 where y = −1 and {@code cos − margin ≥ 0}; with {@link Reduction#MEAN} divided
 * by the row count. The dot products are float32 vector sums; the rest of a row is double.
 *
 * <p>Calls take {@code rows × dim} floats (row-major) for each input, {@code rows} float targets
 * and optional per-row losses (NONE) and gradients; the no-batch form is {@code rows = 1}. No
 * output may overlap an input or another output; everything is checked before anything is
 * written. Large calls are split over threads by rows, with bitwise-identical results.
 */
public final class CosineEmbeddingLoss extends LossBase {
  private final Reduction reduction;
  private final float margin;
  private final PairRows kernel = new PairRows(VectorizationProvider.get().pair());

  private CosineEmbeddingLoss(Reduction reduction, float margin) {
    PairArgs.reduction(reduction, null);
    this.reduction = reduction;
    this.margin = Args.finite("margin", margin);
  }

  /**
   * A cosine embedding loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param margin finite margin, PyTorch's default 0 (it suggests 0 to 0.5)
   * @return the loss
   */
  public static CosineEmbeddingLoss of(Reduction reduction, float margin) {
    return new CosineEmbeddingLoss(reduction, margin);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public CosineEmbeddingLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only.
   *
   * @param x1 rows × dim floats
   * @param x2 rows × dim floats
   * @param target rows floats, ±1
   * @param rows number of pairs
   * @param dim embedding size
   * @return the reduced loss
   */
  public double forward(MemorySegment x1, MemorySegment x2, MemorySegment target, long rows,
      long dim) {
    return compute(x1, x2, target, rows, dim, null, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param x1 rows × dim floats
   * @param x2 rows × dim floats
   * @param target rows floats, ±1
   * @param rows number of pairs
   * @param dim embedding size, ≥ 1
   * @param lossOut rows per-pair losses (NONE only), or null
   * @param grad1 receives {@code gradScale·∂L/∂x1}, or null
   * @param grad2 receives {@code gradScale·∂L/∂x2}, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradients' contents
   * @return the reduced loss (NONE: the sum of the per-pair losses)
   */
  public double compute(MemorySegment x1, MemorySegment x2, MemorySegment target, long rows,
      long dim, MemorySegment lossOut, MemorySegment grad1, MemorySegment grad2, float gradScale,
      boolean accumulate) {
    long n = PairShapes.rows(rows, dim);
    PairArgs.reduction(reduction, lossOut);
    PairArgs.begin().in("x1", x1, n).in("x2", x2, n).in("target", target, rows)
        .out("lossOut", lossOut, rows).out("grad1", grad1, n).out("grad2", grad2, n).run();
    Args.finite("gradScale", gradScale);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) rows) : gradScale;
    long chunk = Split.rowChunk(rows, dim);
    int threads = Split.threads(parallelism(), n, rows, chunk, x1, x2, target, lossOut);
    if (threads > 1 && !Split.shared(grad1, grad2)) {
      threads = 1;
    }
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < rows; from += chunk) {
        sum += kernel.cosineEmbedding(x1, x2, target, dim, from, Math.min(rows, from + chunk),
            margin, lossOut, grad1, grad2, coef, accumulate);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk, (from, to) ->
          kernel.cosineEmbedding(x1, x2, target, dim, from, to, margin, lossOut, grad1, grad2,
              coef, accumulate));
    }
    return reduction == Reduction.MEAN ? sum / rows : sum;
  }
}
