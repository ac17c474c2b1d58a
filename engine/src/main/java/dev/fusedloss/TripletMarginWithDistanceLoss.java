package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.PairRows;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.TripletMarginWithDistanceLoss} with a built-in distance: {@code ℓ = max(0,
 * d(a, p) − d(a, n) + margin)}, with {@code swap} as in {@link TripletMarginLoss}.
 *
 * <ul>
 *   <li>{@link Distance#PAIRWISE}: PyTorch's default {@code pairwise_distance}, {@code ‖x − y +
 *       1e−6‖₂} (this loss then equals {@link TripletMarginLoss} with p = 2).
 *   <li>{@link Distance#COSINE}: {@code 1 − cosine_similarity(x, y)}, the similarity being {@code
 *       x·y / (max(‖x‖, 1e−8)·max(‖y‖, 1e−8))} (a clamped norm is a constant for the gradient).
 * </ul>
 *
 * <p>A user-supplied distance function is not offered: the loss and its gradient are fused per
 * distance. Calls, reductions, gradients and checks are those of {@link TripletMarginLoss}.
 */
public final class TripletMarginWithDistanceLoss extends LossBase {
  /** The built-in distances. */
  public enum Distance {
    /** {@code ‖x − y + 1e−6‖₂}. */
    PAIRWISE,
    /** {@code 1 − cosine_similarity(x, y)}. */
    COSINE
  }

  private final Reduction reduction;
  private final float margin;
  private final boolean swap;
  private final PairRows.Distance distance;
  private final PairRows kernel = new PairRows(VectorizationProvider.get().pair());

  private TripletMarginWithDistanceLoss(Reduction reduction, Distance distance, float margin,
      boolean swap) {
    PairArgs.reduction(reduction, null);
    if (distance == null) {
      throw new IllegalArgumentException("distance must not be null");
    }
    this.reduction = reduction;
    this.margin = Args.finite("margin", margin);
    this.swap = swap;
    this.distance = new PairRows.Distance(distance == Distance.COSINE, 2f, 1e-6f);
  }

  /**
   * A triplet loss with a built-in distance.
   *
   * @param reduction MEAN, SUM or NONE
   * @param distance the distance (PyTorch's default: PAIRWISE)
   * @param margin finite margin (default 1)
   * @param swap use the distance swap (default false)
   * @return the loss
   */
  public static TripletMarginWithDistanceLoss of(Reduction reduction, Distance distance,
      float margin, boolean swap) {
    return new TripletMarginWithDistanceLoss(reduction, distance, margin, swap);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public TripletMarginWithDistanceLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only; see {@link TripletMarginLoss#forward}.
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
   * The full call; see {@link TripletMarginLoss#compute}.
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
   * @return the reduced loss
   */
  public double compute(MemorySegment anchor, MemorySegment positive, MemorySegment negative,
      long rows, long dim, MemorySegment lossOut, MemorySegment gradAnchor,
      MemorySegment gradPositive, MemorySegment gradNegative, float gradScale,
      boolean accumulate) {
    return TripletMarginLoss.run(this, kernel, distance, margin, swap, reduction, anchor,
        positive, negative, rows, dim, lossOut, gradAnchor, gradPositive, gradNegative, gradScale,
        accumulate);
  }
}
