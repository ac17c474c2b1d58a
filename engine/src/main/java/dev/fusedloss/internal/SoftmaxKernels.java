package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/**
 * Row kernels over logits laid out as rows of {@code classes} float32 values, {@code stride}
 * floats apart (the gradient, soft targets and outputs use the same layout), for the rows
 * {@code [r0, r1)}. Each returns the double-precision sum of its rows' losses, writes row
 * losses to {@code loss} (one float per row) when non-null, and writes (or, with {@code acc},
 * adds) {@code coef} times the gradient to {@code grad} when non-null. Arguments, including
 * class indices, are validated by the public API before a kernel runs.
 */
public interface SoftmaxKernels {
  /**
   * Options of cross entropy with class-index targets; {@code weightSum} is Σ weight (unused
   * when {@code weight} is null: the sum of ones is the class count); {@code int64}: the targets
   * are int64, else int32.
   */
  record CrossEntropy(MemorySegment weight, double weightSum, float smoothing, int ignoreIndex,
      float softcap, boolean int64) {}

  /**
   * Cross entropy with class indices: per row {@code (1−ε)·w_t·(lse − x_t) + (ε/C)·Σ_c w_c·(lse −
   * x_c) + zScale·lse²}, logits optionally soft-capped first; ignored rows give loss 0 and a zero
   * gradient. {@code weight} may be null (all ones).
   */
  double crossEntropy(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float zScale, CrossEntropy opt);

  /** Cross entropy with soft targets q: {@code Σ_c w_c·q'_c·(lse − x_c)}, q' = (1−ε)q + ε/C. */
  double softCrossEntropy(MemorySegment x, MemorySegment q, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, float smoothing);

  /** Softmax focal loss: {@code −α_t·(1 − p_t)^γ·ln p_t}; alpha may be null (all ones). */
  double softmaxFocal(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, MemorySegment alpha, int ignoreIndex, boolean int64);

  /** {@code T²·KL(softmax(t/T) ‖ softmax(s/T))} per row; gradient w.r.t. the student s. */
  double distillation(MemorySegment s, MemorySegment t, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float temperature);

  /**
   * Negative log-likelihood on log-probabilities: {@code −w_t·x_t} per row; the gradient row is
   * {@code −w_t} at t and 0 elsewhere. Ignored rows: loss 0, gradient 0.
   */
  double nll(MemorySegment x, MemorySegment targets, long stride, long classes, long r0, long r1,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, MemorySegment weight,
      int ignoreIndex, boolean int64);

  /** Writes {@code x_c − lse} of each row to {@code out}. */
  void logSoftmax(MemorySegment x, long stride, long classes, long r0, long r1, MemorySegment out);

  /**
   * Cross entropy with the class axis at dim 1: logits {@code [N, C, S]} ({@code S = d1·…·dk}),
   * rows {@code r = n·S + s} in [r0, r1); class-index targets {@code [N, S]} ({@code q} null) or
   * soft targets {@code q [N, C, S]}; losses per row, gradient in the logits layout. The options
   * of {@link #crossEntropy} without the soft cap.
   */
  double spatialCrossEntropy(MemorySegment x, MemorySegment targets, MemorySegment q,
      long classes, long spatial, long r0, long r1, MemorySegment loss, MemorySegment grad,
      float coef, boolean acc, float zScale, CrossEntropy opt);

  /** NLL with the class axis at dim 1 (layout as {@link #spatialCrossEntropy}). */
  double spatialNll(MemorySegment x, MemorySegment targets, long classes, long spatial, long r0,
      long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, int ignoreIndex, boolean int64);
}
