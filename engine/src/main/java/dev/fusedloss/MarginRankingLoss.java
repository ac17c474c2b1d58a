package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.PairKernels;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.MarginRankingLoss}: for pairs of scores and targets y = ±1 (1: x1 should rank
 * higher), {@code ℓᵢ = max(0, −yᵢ·(x1ᵢ − x2ᵢ) + margin)}.
 *
 * <p>Gradients: {@code ∂ℓᵢ/∂x1ᵢ = −yᵢ} and {@code ∂ℓᵢ/∂x2ᵢ = yᵢ} where the hinge argument is ≥ 0
 * (PyTorch's clamp passes the gradient at the boundary), 0 elsewhere and where it is NaN (the
 * loss is NaN there); with {@link Reduction#MEAN} divided by {@code n}. Targets are used as
 * given (any value scales the pair, as in PyTorch).
 *
 * <p>Calls: {@code n} floats from the start of each segment; gradients are {@code gradScale ·
 * ∂L/∂x}, added to the buffer's contents with {@code accumulate}; either gradient may be null.
 * No output may overlap an input or another output. Arguments are checked before anything is
 * written (a short segment, a read-only output, an overlap, a non-finite gradScale throw, naming
 * the argument). Large calls are split over threads with bitwise-identical results.
 */
public final class MarginRankingLoss extends LossBase {
  private final Reduction reduction;
  private final float margin;
  private final PairKernels kernels = VectorizationProvider.get().pair();

  private MarginRankingLoss(Reduction reduction, float margin) {
    PairArgs.reduction(reduction, null);
    this.reduction = reduction;
    this.margin = Args.finite("margin", margin);
  }

  /**
   * A margin ranking loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param margin finite margin (PyTorch's default is 0)
   * @return the loss
   */
  public static MarginRankingLoss of(Reduction reduction, float margin) {
    return new MarginRankingLoss(reduction, margin);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public MarginRankingLoss withParallelism(Parallelism parallelism) {
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
   * The loss only.
   *
   * @param x1 first scores, n floats
   * @param x2 second scores, n floats
   * @param target n floats, ±1
   * @param n number of pairs
   * @return the reduced loss (NONE: the sum)
   */
  public double forward(MemorySegment x1, MemorySegment x2, MemorySegment target, long n) {
    return compute(x1, x2, target, n, null, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param x1 first scores, n floats
   * @param x2 second scores, n floats
   * @param target n floats, ±1
   * @param n number of pairs
   * @param lossOut n per-pair losses (NONE only), or null
   * @param grad1 receives {@code gradScale·∂L/∂x1}, or null
   * @param grad2 receives {@code gradScale·∂L/∂x2}, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradients' contents
   * @return the reduced loss (NONE: the sum of the per-pair losses)
   */
  public double compute(MemorySegment x1, MemorySegment x2, MemorySegment target, long n,
      MemorySegment lossOut, MemorySegment grad1, MemorySegment grad2, float gradScale,
      boolean accumulate) {
    Args.count("n", n);
    PairArgs.reduction(reduction, lossOut);
    PairArgs.begin().in("x1", x1, n).in("x2", x2, n).in("target", target, n)
        .out("lossOut", lossOut, n).out("grad1", grad1, n).out("grad2", grad2, n).run();
    Args.finite("gradScale", gradScale);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) n) : gradScale;
    long chunk = Split.elementChunk(n);
    int threads = Split.threads(parallelism(), n, n, chunk, x1, x2, target, lossOut);
    if (threads > 1 && !Split.shared(grad1, grad2)) {
      threads = 1;
    }
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < n; from += chunk) {
        sum += kernels.marginRanking(x1, x2, target, from, Math.min(n, from + chunk), lossOut,
            grad1, grad2, coef, accumulate, margin);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, n, chunk, (from, to) ->
          kernels.marginRanking(x1, x2, target, from, to, lossOut, grad1, grad2, coef,
              accumulate, margin));
    }
    return reduction == Reduction.MEAN ? sum / n : sum;
  }

  /**
   * {@code float[]} form of the full call ({@code n = x1.length}).
   *
   * @param x1 first scores
   * @param x2 second scores
   * @param target ±1 targets
   * @param lossOut per-pair losses (NONE only), or null
   * @param grad1 gradient for x1, or null
   * @param grad2 gradient for x2, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradients' contents
   * @return the reduced loss
   */
  public double compute(float[] x1, float[] x2, float[] target, float[] lossOut, float[] grad1,
      float[] grad2, float gradScale, boolean accumulate) {
    if (x1 == null) {
      throw new IllegalArgumentException("x1 must not be null");
    }
    int n = x1.length;
    return compute(MemorySegment.ofArray(x1), PairArgs.array("x2", x2, n, true),
        PairArgs.array("target", target, n, true), n, PairArgs.array("lossOut", lossOut, n, false),
        PairArgs.array("grad1", grad1, n, false), PairArgs.array("grad2", grad2, n, false),
        gradScale, accumulate);
  }
}
