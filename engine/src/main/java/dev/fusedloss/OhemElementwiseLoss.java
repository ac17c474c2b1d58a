package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.SelectionScratch;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.TopK;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Hard-example mining over the elements of any {@link ElementwiseLoss} (per-pixel BCE or sigmoid
 * focal loss in segmentation): only the {@code min(keep, n)} elements with the largest loss
 * contribute, ties to the lower index, a NaN loss counting as the hardest.
 *
 * <p>SUM is {@code Σ_kept ℓ_i}; MEAN divides it by the number kept (none kept: NaN, as a mean
 * over nothing); NONE writes {@code ℓ_i} for kept elements and 0 for the others. The wrapped
 * loss's own options (weights, β, α, γ, …) apply; its reduction does not. The selection is a
 * constant for the gradient: kept elements get the wrapped loss's derivative scaled like their
 * loss, the others exactly 0 (left as they are when accumulating).
 *
 * <p>One fused pass of the wrapped kernel writes every element's loss into a per-thread scratch
 * (12 bytes and 2 flags per element, plus 8 KB; allocated by a thread's first call, grown by a
 * larger one, kept for the thread's life) and, unless accumulating, its gradient with the final
 * scale (the kept count is known up front); a radix select on the losses picks the elements
 * (exact, O(n), the same on any thread count); a last pass zeroes the gradient of the others.
 * When accumulating, the first pass is forward only and the kept elements' gradients are then
 * added run by run. {@code n} is at most 2³¹ − 9. Calls and checks as for
 * {@link ElementwiseLoss}.
 */
public final class OhemElementwiseLoss extends LossBase {
  private final ElementwiseLoss base;
  private final Reduction reduction;
  private final long keep;

  private OhemElementwiseLoss(ElementwiseLoss base, Reduction reduction, long keep) {
    if (base == null) {
      throw new IllegalArgumentException("base must not be null");
    }
    if (reduction == null || reduction == Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + reduction);
    }
    if (keep < 0) {
      throw new IllegalArgumentException("keep must be >= 0, got " + keep);
    }
    this.base = base;
    this.reduction = reduction;
    this.keep = keep;
  }

  /**
   * Mines the hardest {@code keep} elements of {@code base}.
   *
   * @param base the element-wise loss whose per-element losses and derivatives are used
   * @param reduction MEAN, SUM or NONE over the kept elements
   * @param keep how many elements to keep, ≥ 0
   * @return the loss
   * @throws IllegalArgumentException if an argument is out of range
   */
  public static OhemElementwiseLoss of(ElementwiseLoss base, Reduction reduction, long keep) {
    return new OhemElementwiseLoss(base, reduction, keep);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   * @throws IllegalArgumentException if {@code parallelism} is null
   */
  public OhemElementwiseLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The reduction over the kept elements.
   *
   * @return MEAN, SUM or NONE
   */
  public Reduction reduction() {
    return reduction;
  }

  /**
   * The full call.
   *
   * @param input predictions, {@code n} floats
   * @param target targets, in the layout of {@code input}
   * @param n the number of elements (at most 2³¹ − 9)
   * @param lossOut receives the per-element losses (0 where not kept); only with NONE, may be null
   * @param grad receives the gradient, or null for the loss only
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with NONE, the sum of the kept elements' losses
   */
  public double compute(MemorySegment input, MemorySegment target, long n, MemorySegment lossOut,
      MemorySegment grad, float gradScale, boolean accumulate) {
    Args.count("n", n);
    Args.pointwise(input, target, n, lossOut, grad, reduction == Reduction.NONE, gradScale);
    base.checkShape(n);
    if (n > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("n must be at most " + (Integer.MAX_VALUE - 8)
          + " for hard-example mining, got " + n);
    }
    int m = (int) n;
    long k = Math.min(keep, n);
    SelectionScratch sc = SelectionScratch.get(m);
    boolean gradNow = grad != null && !accumulate;
    float coef = reduction == Reduction.MEAN ? (k == 0 ? 0f : (float) (gradScale / (double) k))
        : gradScale;
    MemorySegment firstGrad = gradNow ? grad : null;
    long chunk = Split.elementChunk(n);
    int threads = Split.threads(parallelism(), n, n, chunk, input, target, sc.lossSeg, firstGrad);
    if (threads == 1) {
      for (long from = 0; from < n; from += chunk) {
        base.kernel(base.kernels(), input, target, from, Math.min(n, from + chunk), sc.lossSeg,
            firstGrad, coef, false);
      }
    } else {
      Split.parallel(parallelism().executor(), threads, n, chunk, (from, to) ->
          base.kernel(base.kernels(), input, target, from, to, sc.lossSeg, firstGrad, coef, false));
    }
    MemorySegment.copy(sc.lossSeg, ValueLayout.JAVA_FLOAT, 0, sc.loss, 0, m);
    Arrays.fill(sc.kept, 0, m, false);
    TopK.markLargest(sc.loss, sc.all, m, k, sc.kept, sc.hist, sc.order, sc.cand);
    double sum = 0;
    for (int i = 0; i < m; i++) {
      if (sc.kept[i]) {
        sum += sc.loss[i];
      } else {
        sc.loss[i] = 0f;
      }
    }
    if (grad != null) {
      for (int i = 0; i < m; ) {
        int j = i;
        while (j < m && sc.kept[j] == sc.kept[i]) {
          j++;
        }
        if (gradNow && !sc.kept[i]) {
          Args.zero(grad, i, j - i);
        } else if (!gradNow && sc.kept[i]) {
          base.kernel(base.kernels(), input, target, i, j, null, grad, coef, true);
        }
        i = j;
      }
    }
    if (lossOut != null) {
      MemorySegment.copy(sc.loss, 0, lossOut, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, m);
    }
    return reduction == Reduction.MEAN ? sum / k : sum; // nothing kept: 0/0 = NaN
  }

  /**
   * {@code float[]} form: scale 1, overwriting.
   *
   * @param input predictions
   * @param target targets, the same length
   * @param grad receives the gradient (the same length), or null
   * @return the reduced loss
   */
  public double compute(float[] input, float[] target, float[] grad) {
    if (input == null || target == null || target.length != input.length
        || (grad != null && grad.length != input.length)) {
      throw new IllegalArgumentException("input, target and grad must have one length");
    }
    return compute(MemorySegment.ofArray(input), MemorySegment.ofArray(target), input.length,
        null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

}
