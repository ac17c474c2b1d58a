package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.ElementwiseKernels;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.PoissonNLLLoss}: the negative log likelihood of targets y under a Poisson
 * distribution of rate λ.
 *
 * <ul>
 *   <li>{@code logInput = true} (PyTorch's default): the input is log λ, {@code ℓᵢ = exp(xᵢ) −
 *       yᵢ·xᵢ}, gradient {@code exp(xᵢ) − yᵢ}.
 *   <li>{@code logInput = false}: the input is λ, {@code ℓᵢ = xᵢ − yᵢ·log(xᵢ + eps)}, gradient
 *       {@code 1 − yᵢ/(xᵢ + eps)}.
 *   <li>{@code full}: adds Stirling's approximation of {@code log(yᵢ!)}, {@code yᵢ·log yᵢ − yᵢ +
 *       ½·log(2π·yᵢ)}, where {@code yᵢ > 1} (0 elsewhere, as PyTorch masks {@code y ≤ 1}; a NaN
 *       target therefore gives NaN). The term does not depend on the input: no gradient.
 * </ul>
 *
 * <p>With {@link Reduction#MEAN} the gradient is divided by {@code n}. {@code exp(x)} overflows
 * to ∞ beyond x ≈ 88.7 as in PyTorch's float32; NaN propagates; {@code x + eps ≤ 0} without
 * {@code logInput} gives NaN or ∞ as {@code log} does. See {@link ElementwiseLoss} for the calls,
 * formats and checks.
 */
public final class PoissonNLLLoss extends ElementwiseLoss {
  private final boolean logInput;
  private final boolean full;
  private final float eps;

  private PoissonNLLLoss(Reduction reduction, boolean logInput, boolean full, float eps) {
    super(reduction);
    this.logInput = logInput;
    this.full = full;
    this.eps = Args.finite("eps", eps);
  }

  /**
   * A Poisson NLL loss with PyTorch's defaults: {@code logInput = true}, {@code full = false},
   * {@code eps = 1e-8}.
   *
   * @param reduction MEAN, SUM or NONE
   * @return the loss
   */
  public static PoissonNLLLoss of(Reduction reduction) {
    return of(reduction, true, false, 1e-8f);
  }

  /**
   * A Poisson NLL loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param logInput whether the input is the log of the rate
   * @param full whether to add the Stirling term
   * @param eps finite value added to the rate before its log ({@code logInput = false} only)
   * @return the loss
   * @throws IllegalArgumentException if eps is not finite
   */
  public static PoissonNLLLoss of(Reduction reduction, boolean logInput, boolean full,
      float eps) {
    return new PoissonNLLLoss(reduction, logInput, full, eps);
  }

  @Override
  public PoissonNLLLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  @Override
  double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    return k.poissonNll(x, y, from, to, loss, grad, coef, acc, logInput, full, eps);
  }
}
