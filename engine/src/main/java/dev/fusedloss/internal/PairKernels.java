package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/**
 * Kernels of the losses over several inputs or one row at a time (ranking, embedding, triplet,
 * Gaussian NLL, multi-class margins). Offsets and counts are in floats; outputs never overlap the
 * inputs (the losses check that). {@code coef} scales every gradient; with {@code acc} gradients
 * are added to what the output holds.
 */
public interface PairKernels {
  /** Σ a[ao + i]·b[bo + i] over {@code n} floats. */
  double dot(MemorySegment a, long ao, MemorySegment b, long bo, long n);

  /** Σ |u|^p with {@code u = a − b + eps}; p = 1 and 2 are exact sums, other p use pow. */
  double distance(MemorySegment a, long ao, MemorySegment b, long bo, long n, float eps,
      float p);

  /** {@code out (+)= ca·a + cb·b} over {@code n} floats. */
  void combine(MemorySegment out, long oo, MemorySegment a, long ao, float ca, MemorySegment b,
      long bo, float cb, long n, boolean acc);

  /**
   * Both gradients of a pair row in one pass: {@code ga (+)= caa·a + cab·b}, {@code gb (+)=
   * cbb·b + cba·a} over {@code n} floats at offset {@code o}.
   */
  void combinePair(MemorySegment ga, MemorySegment gb, MemorySegment a, MemorySegment b, long o,
      long n, float caa, float cab, float cbb, float cba, boolean acc);

  /**
   * {@code out (+)= c·sign(u)·|u|^(p−1)} with {@code u = a − b + eps}: the direction of the
   * p-norm's gradient, to be scaled by {@code 1/‖u‖^(p−1)} through {@code c}.
   */
  void distanceGrad(MemorySegment out, long oo, MemorySegment a, long ao, MemorySegment b,
      long bo, long n, float eps, float p, float c, boolean acc);

  /**
   * The three gradients of a 2-norm triplet row in one pass: with {@code u = a − p + eps} and
   * {@code v = a − n + eps}, {@code ga (+)= cp·u − cn·v}, {@code gp (+)= −cp·u}, {@code gn (+)=
   * cn·v}; a null output is skipped.
   */
  void tripletGrad(MemorySegment a, MemorySegment p, MemorySegment n, long o, long dim, float eps,
      float cp, float cn, MemorySegment ga, MemorySegment gp, MemorySegment gn, boolean acc);

  /** {@code max(0, −y·(x1 − x2) + margin)}; gradients ∓y where the hinge is ≥ 0. */
  double marginRanking(MemorySegment x1, MemorySegment x2, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment g1, MemorySegment g2, float coef, boolean acc,
      float margin);

  /**
   * Gaussian NLL with a per-element variance v ({@code v' = max(v, eps)}): {@code ½(log v' +
   * (x−y)²/v') + constant}; gradients {@code (x−y)/v'} and {@code ½(1/v' − (x−y)²/v'²)}.
   */
  double gaussianNll(MemorySegment x, MemorySegment y, MemorySegment v, long from, long to,
      MemorySegment loss, MemorySegment gx, MemorySegment gv, float coef, boolean acc, float eps,
      float constant);

  /**
   * Gaussian NLL over [from, to) sharing one clamped variance {@code v}: writes the per-element
   * losses and {@code coef·(x−y)/v}; returns {@code Σ (x−y)²} (the caller forms the row's loss
   * and the variance's gradient from it).
   */
  double gaussianNllShared(MemorySegment x, MemorySegment y, long from, long to, float v,
      MemorySegment loss, MemorySegment gx, float coef, boolean acc, float constant);

  /**
   * One row of multi-class margin loss: {@code Σ_{i≠t} w·max(0, margin − x[t] + x[i])^p} (p = 1,
   * or 2 when {@code squared}); writes the row's gradient (coef·w·p·z^(p−1) for each active i,
   * minus their sum at t).
   */
  double multiMargin(MemorySegment x, long off, int classes, int target, float margin,
      boolean squared, float w, MemorySegment grad, float coef, boolean acc);

  /**
   * One row of multi-label margin loss: {@code Σ_j Σ_{i: notTarget[i] = 1} max(0, 1 − x[t_j] +
   * x[i])} over the {@code count} targets t_j; {@code notTarget} holds 1 for classes that are
   * not targets and 0 for targets. Writes the row's gradient: +coef for each active pair at i,
   * −coef at t_j.
   */
  double multiLabelMargin(MemorySegment x, long off, int classes, float[] notTarget,
      int[] targets, int count, MemorySegment grad, float coef, boolean acc);
}
