package dev.fusedloss;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.PairKernels;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.GaussianNLLLoss}: the negative log likelihood of targets under Gaussians with
 * predicted means (the input) and variances, {@code ℓᵢ = ½(log v'ᵢ + (xᵢ − yᵢ)²/v'ᵢ)} (plus
 * {@code ½·log 2π} with {@code full}), where {@code v' = max(var, eps)}.
 *
 * <p>Shapes: input and target are {@code rows × cols} floats. The variance is either one value
 * per element ({@code sharedPerRow = false}, PyTorch's same-shape var) or one value per row
 * shared by its {@code cols} elements ({@code sharedPerRow = true}: PyTorch's var with the last
 * dimension 1 or missing, the homoscedastic case).
 *
 * <p>Gradients: {@code ∂ℓ/∂x = (x − y)/v'} (the target's is its negative) and {@code ∂ℓ/∂var =
 * ½(1/v' − (x − y)²/v'²)}, summed over a row for a shared variance. As in PyTorch, the clamp is
 * applied without autograd, so the variance's gradient is taken at {@code v'} even where
 * {@code var < eps}. With {@link Reduction#MEAN} everything is divided by {@code rows·cols};
 * per-element losses
 * (NONE) are {@code rows·cols} floats.
 *
 * <p>A negative variance throws {@link IllegalArgumentException} naming its index before anything
 * is written (PyTorch raises too); NaN propagates. No output may overlap an input or another
 * output. Large calls are split over threads with bitwise-identical results.
 */
public final class GaussianNLLLoss extends LossBase {
  private static final double HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

  private final Reduction reduction;
  private final boolean full;
  private final float eps;
  private final PairKernels kernels = VectorizationProvider.get().pair();

  private GaussianNLLLoss(Reduction reduction, boolean full, float eps) {
    PairArgs.reduction(reduction, null);
    this.reduction = reduction;
    this.full = full;
    if (!(eps > 0) || Float.isInfinite(eps)) {
      throw new IllegalArgumentException("eps must be finite and > 0, got " + eps);
    }
    this.eps = eps;
  }

  /**
   * A Gaussian NLL loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param full add the constant {@code ½·log 2π} (default false)
   * @param eps finite positive lower clamp of the variance (default 1e-6)
   * @return the loss
   */
  public static GaussianNLLLoss of(Reduction reduction, boolean full, float eps) {
    return new GaussianNLLLoss(reduction, full, eps);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public GaussianNLLLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only.
   *
   * @param input means, rows × cols floats
   * @param target rows × cols floats
   * @param var variances: rows × cols floats, or rows floats with {@code sharedPerRow}
   * @param rows rows
   * @param cols elements per row
   * @param sharedPerRow one variance per row
   * @return the reduced loss
   */
  public double forward(MemorySegment input, MemorySegment target, MemorySegment var, long rows,
      long cols, boolean sharedPerRow) {
    return compute(input, target, var, rows, cols, sharedPerRow, null, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param input means, rows × cols floats
   * @param target rows × cols floats
   * @param var variances (≥ 0 or NaN): rows × cols floats, or rows floats with {@code
   *     sharedPerRow}
   * @param rows rows
   * @param cols elements per row, ≥ 1
   * @param sharedPerRow one variance per row
   * @param lossOut rows × cols per-element losses (NONE only), or null
   * @param gradInput receives {@code gradScale·∂L/∂input}, or null
   * @param gradVar receives {@code gradScale·∂L/∂var} (var's layout), or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradients' contents
   * @return the reduced loss (NONE: the sum of the per-element losses)
   */
  public double compute(MemorySegment input, MemorySegment target, MemorySegment var, long rows,
      long cols, boolean sharedPerRow, MemorySegment lossOut, MemorySegment gradInput,
      MemorySegment gradVar, float gradScale, boolean accumulate) {
    long n = PairShapes.rows(rows, cols);
    long nv = sharedPerRow ? rows : n;
    PairArgs.reduction(reduction, lossOut);
    PairArgs.begin().in("input", input, n).in("target", target, n).in("var", var, nv)
        .out("lossOut", lossOut, n).out("gradInput", gradInput, n).out("gradVar", gradVar, nv)
        .run();
    Args.finite("gradScale", gradScale);
    for (long i = 0; i < nv; i++) {
      float v = var.get(JAVA_FLOAT_UNALIGNED, i * Float.BYTES);
      if (v < 0) {
        throw new IllegalArgumentException("var[" + i + "] = " + v + " is negative");
      }
    }
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) n) : gradScale;
    float constant = full ? (float) HALF_LOG_2PI : 0f;
    long chunk = Split.rowChunk(rows, cols);
    int threads = Split.threads(parallelism(), n, rows, chunk, input, target, var, lossOut);
    if (threads > 1 && !Split.shared(gradInput, gradVar)) {
      threads = 1;
    }
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < rows; from += chunk) {
        sum += rows(input, target, var, cols, sharedPerRow, from, Math.min(rows, from + chunk),
            lossOut, gradInput, gradVar, coef, accumulate, constant);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk, (from, to) ->
          rows(input, target, var, cols, sharedPerRow, from, to, lossOut, gradInput, gradVar,
              coef, accumulate, constant));
    }
    return reduction == Reduction.MEAN ? sum / n : sum;
  }

  private double rows(MemorySegment x, MemorySegment y, MemorySegment var, long cols,
      boolean shared, long from, long to, MemorySegment loss, MemorySegment gx, MemorySegment gv,
      float coef, boolean acc, float constant) {
    if (!shared) {
      return kernels.gaussianNll(x, y, var, from * cols, to * cols, loss, gx, gv, coef, acc, eps,
          constant);
    }
    double sum = 0;
    for (long r = from; r < to; r++) {
      float v = var.get(JAVA_FLOAT_UNALIGNED, r * Float.BYTES);
      float w = v < eps ? eps : v; // NaN stays NaN
      double sq = kernels.gaussianNllShared(x, y, r * cols, (r + 1) * cols, w, loss, gx, coef,
          acc, constant);
      sum += cols * (0.5 * Math.log(w) + constant) + 0.5 * sq / w;
      if (gv != null) {
        float g = (float) (coef * 0.5 * (cols / (double) w - sq / ((double) w * w)));
        if (acc) {
          g += gv.get(JAVA_FLOAT_UNALIGNED, r * Float.BYTES);
        }
        gv.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, g);
      }
    }
    return sum;
  }
}
