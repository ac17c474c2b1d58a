package dev.fusedloss;

/**
 * How per-element (or per-row) losses are combined, with PyTorch's semantics.
 *
 * <ul>
 *   <li>{@link #MEAN}: the sum divided by the number of elements (element-wise losses) or by the
 *       loss's own normaliser (for example the summed class weights of cross entropy). A mean over
 *       zero elements is NaN, as in PyTorch.
 *   <li>{@link #SUM}: the plain sum; 0 over zero elements.
 *   <li>{@link #NONE}: no reduction; the per-element losses are written to the caller's loss
 *       segment, and the gradient is that of their sum.
 *   <li>{@link #BATCH_MEAN}: the sum divided by the number of rows (PyTorch's {@code batchmean});
 *       accepted only by {@link KLDivLoss} and {@link DistillationLoss}.
 * </ul>
 *
 * <p>Sums are accumulated in double precision whatever the reduction, so a mean over 10<sup>7</sup>
 * float32 terms keeps a relative error near 1e-7 and a sum of finite float32 terms that exceeds
 * the float32 range is still returned finite.
 */
public enum Reduction {
  /** The mean: the sum divided by the element count or the loss's normaliser. */
  MEAN,
  /** The plain sum. */
  SUM,
  /** No reduction: per-element (or per-row) losses written out; the value returned is their sum. */
  NONE,
  /** The sum divided by the number of rows (PyTorch's {@code batchmean}). */
  BATCH_MEAN
}
