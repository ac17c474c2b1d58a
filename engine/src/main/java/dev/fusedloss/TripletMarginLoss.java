package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.PairRows;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.TripletMarginLoss}: anchor, positive and negative rows of {@code dim} floats,
 * {@code ℓ = max(0, d(a, p) − d(a, n) + margin)} with PyTorch's pairwise distance {@code d(x, y) =
 * ‖x − y + eps‖_p}. With {@code swap}, the negative distance is {@code min(d(a, n), d(p, n))}
 * (a tie sends half the gradient each way, as {@code torch.min}).
 *
 * <p>Gradient of a p-norm: {@code sign(u)·|u|^(p−1) / ‖u‖^(p−1)} for {@code u = x − y + eps}
 * (0 where the norm is 0), applied where the hinge argument is ≥ 0; with {@link Reduction#MEAN}
 * divided by the row count. p = 1 and 2 run on the vector kernels, any other p ≥ 1 on scalar
 * {@code pow}.
 *
 * <p>Calls take {@code rows × dim} floats (row-major) per input, optional per-row losses (NONE)
 * and optional gradients for each input; {@code rows = 1} is the no-batch form. No output may
 * overlap an input or another output; everything is checked before anything is written. Large
 * calls are split over threads by rows, with bitwise-identical results.
 */
public final class TripletMarginLoss extends LossBase {
  private final Reduction reduction;
  private final float margin;
  private final boolean swap;
  private final PairRows.Distance distance;
  private final PairRows kernel = new PairRows(VectorizationProvider.get().pair());

  private TripletMarginLoss(Reduction reduction, float margin, float p, float eps,
      boolean swap) {
    PairArgs.reduction(reduction, null);
    this.reduction = reduction;
    this.margin = Args.finite("margin", margin);
    if (!(p >= 1) || Float.isInfinite(p)) {
      throw new IllegalArgumentException("p must be finite and >= 1, got " + p);
    }
    this.distance = new PairRows.Distance(false, p, Args.finite("eps", eps));
    this.swap = swap;
  }

  /**
   * A triplet margin loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param margin finite margin (PyTorch's default 1)
   * @param p the norm's degree, finite and ≥ 1 (default 2)
   * @param eps finite value added to each difference (default 1e-6)
   * @param swap use the distance swap (default false)
   * @return the loss
   */
  public static TripletMarginLoss of(Reduction reduction, float margin, float p, float eps,
      boolean swap) {
    return new TripletMarginLoss(reduction, margin, p, eps, swap);
  }

  /**
   * A triplet margin loss with PyTorch's defaults: margin 1, p 2, eps 1e-6, no swap.
   *
   * @param reduction MEAN, SUM or NONE
   * @return the loss
   */
  public static TripletMarginLoss of(Reduction reduction) {
    return of(reduction, 1f, 2f, 1e-6f, false);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public TripletMarginLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only.
   *
   * @param anchor rows × dim floats
   * @param positive rows × dim floats
   * @param negative rows × dim floats
   * @param rows number of triplets
   * @param dim embedding size
   * @return the reduced loss
   */
  public double forward(MemorySegment anchor, MemorySegment positive, MemorySegment negative,
      long rows, long dim) {
    return compute(anchor, positive, negative, rows, dim, null, null, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param anchor rows × dim floats
   * @param positive rows × dim floats
   * @param negative rows × dim floats
   * @param rows number of triplets
   * @param dim embedding size, ≥ 1
   * @param lossOut rows per-triplet losses (NONE only), or null
   * @param gradAnchor receives {@code gradScale·∂L/∂anchor}, or null
   * @param gradPositive receives {@code gradScale·∂L/∂positive}, or null
   * @param gradNegative receives {@code gradScale·∂L/∂negative}, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradients' contents
   * @return the reduced loss (NONE: the sum of the per-triplet losses)
   */
  public double compute(MemorySegment anchor, MemorySegment positive, MemorySegment negative,
      long rows, long dim, MemorySegment lossOut, MemorySegment gradAnchor,
      MemorySegment gradPositive, MemorySegment gradNegative, float gradScale,
      boolean accumulate) {
    return run(this, kernel, distance, margin, swap, reduction, anchor, positive, negative, rows,
        dim, lossOut, gradAnchor, gradPositive, gradNegative, gradScale, accumulate);
  }

  /** The call shared with {@link TripletMarginWithDistanceLoss}. */
  static double run(LossBase loss, PairRows kernel, PairRows.Distance d, float margin,
      boolean swap, Reduction reduction, MemorySegment an, MemorySegment po, MemorySegment ne,
      long rows, long dim, MemorySegment lossOut, MemorySegment ga, MemorySegment gp,
      MemorySegment gn, float gradScale, boolean acc) {
    long n = PairShapes.rows(rows, dim);
    PairArgs.reduction(reduction, lossOut);
    PairArgs.begin().in("anchor", an, n).in("positive", po, n).in("negative", ne, n)
        .out("lossOut", lossOut, rows).out("gradAnchor", ga, n).out("gradPositive", gp, n)
        .out("gradNegative", gn, n).run();
    Args.finite("gradScale", gradScale);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) rows) : gradScale;
    long chunk = Split.rowChunk(rows, dim);
    int threads = Split.threads(loss.parallelism(), 3 * n, rows, chunk, an, po, ne, lossOut);
    if (threads > 1 && !Split.shared(ga, gp, gn)) {
      threads = 1;
    }
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < rows; from += chunk) {
        sum += kernel.triplet(d, margin, swap, an, po, ne, dim, from,
            Math.min(rows, from + chunk), lossOut, ga, gp, gn, coef, acc);
      }
    } else {
      sum = Split.parallel(loss.parallelism().executor(), threads, rows, chunk, (from, to) ->
          kernel.triplet(d, margin, swap, an, po, ne, dim, from, to, lossOut, ga, gp, gn, coef,
              acc));
    }
    return reduction == Reduction.MEAN ? sum / rows : sum;
  }
}
