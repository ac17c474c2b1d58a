package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/**
 * Element-wise fused kernels over the index range {@code [from, to)} of float32 segments. Each
 * returns the double-precision sum of the per-element losses of its range, writes each loss to
 * {@code loss} when that is non-null, and writes (or, with {@code acc}, adds) {@code coef} times
 * the per-element derivative to {@code grad} when that is non-null. Arguments are validated by
 * the public API before a kernel runs.
 */
public interface ElementwiseKernels {
  /** (x−y)²; derivative 2(x−y). */
  double mse(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc);

  /** |x−y|; derivative sign(x−y), 0 at equality. */
  double l1(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc);

  /**
   * The Huber/SmoothL1 shape with d = x−y: for |d| &lt; thr, ½·d·(d/div) (derivative d/div);
   * otherwise b·(|d| − c) (derivative b·sign(d)). Dividing keeps a subnormal SmoothL1 β exact,
   * where 0.5/β would overflow.
   */
  double robust(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float thr, float div, float b, float c);

  /** PyTorch's BCE on probabilities: logs clamped at −100, gradient denominator ≥ 1e-12. */
  double bce(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w);

  /** BCE on probabilities clipped to [lo, hi]; gradient of the clipped expression. */
  double bceClipped(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w,
      float lo, float hi);

  /** Stable BCE on logits with element weights and per-column positive weights. */
  double bceWithLogits(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w, Periodic pw);

  /** torchvision's sigmoid focal loss; α_t = a1·y + a0. */
  double sigmoidFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0);

  /** Focal loss on probabilities clipped to [lo, hi]; α_t = a1·y + a0. */
  double binaryFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0, float lo, float hi);

  /**
   * PyTorch's hinge embedding loss: {@code (y ≠ 1 ? max(0, margin − x) : 0) + (y ≠ −1 ? x : 0)};
   * derivative {@code (y ≠ 1 ∧ margin − x ≥ 0 ? −1 : 0) + (y ≠ −1 ? 1 : 0)}.
   */
  double hingeEmbedding(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, float margin);

  /**
   * Soft margin loss {@code log(1 + exp(−y·x))}, as the stable softplus of {@code −y·x};
   * derivative {@code −y·σ(−y·x)}.
   */
  double softMargin(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc);

  /**
   * Poisson negative log likelihood: with {@code logInput} {@code exp(x) − y·x} (gradient
   * {@code exp(x) − y}), else {@code x − y·log(x + eps)} (gradient {@code 1 − y/(x + eps)}); with
   * {@code full}, plus Stirling's {@code y·log y − y + ½·log(2πy)} where y > 1.
   */
  double poissonNll(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, boolean logInput,
      boolean full, float eps);

  /** The lowest index in [from, to) holding NaN, or −1. */
  long firstNaN(MemorySegment x, long from, long to);

  /** The lowest index in [from, to) holding NaN or ±∞, or −1. */
  long firstNonFinite(MemorySegment x, long from, long to);

  /**
   * The lowest index in [from, to) where x or y is NaN or g (null: not checked) is NaN or ±∞,
   * or −1: the guard's checks of one chunk in one pass.
   */
  long firstBad(MemorySegment x, MemorySegment y, MemorySegment g, long from, long to);

  /** dst_i += src_i over [from, to). */
  void addInto(MemorySegment dst, MemorySegment src, long from, long to);

  /** Σ x_i² over [from, to), in double. */
  double sumSquares(MemorySegment x, long from, long to);

  /**
   * KL divergence pointwise on log-probabilities x: {@code y·ln y − y·x} (0·ln 0 = 0), gradient
   * −y; with {@code logTarget}, {@code e^y·(y − x)}, gradient −e^y.
   */
  double klDiv(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, boolean logTarget);
}
