package dev.fusedloss.internal;

import dev.fusedloss.FloatFormat;
import java.lang.foreign.MemorySegment;

/**
 * Conversion between a buffer's storage format and the float32 scratch tiles the kernels run on.
 * Indices count values, not bytes.
 */
public interface FormatKernels {
  /** {@code dst[0, len) = src[from, from + len)} widened to float32 (exact). */
  default void decode(FloatFormat f, MemorySegment src, long from, MemorySegment dst, int len) {
    decode(f, src, from, dst, 0, len);
  }

  /** {@code dst[dstAt, dstAt + len) = src[from, from + len)} widened to float32 (exact). */
  void decode(FloatFormat f, MemorySegment src, long from, MemorySegment dst, long dstAt, int len);

  /**
   * {@code dst[at, at + len) = src[0, len)} rounded to {@code f} (nearest even); with {@code acc}
   * the sum {@code dst + src} is formed in float32 and rounded once.
   */
  default void encode(FloatFormat f, MemorySegment src, MemorySegment dst, long at, int len,
      boolean acc) {
    encode(f, src, 0, dst, at, len, acc);
  }

  /** As {@link #encode(FloatFormat, MemorySegment, MemorySegment, long, int, boolean)} from {@code src[srcAt, srcAt + len)}. */
  void encode(FloatFormat f, MemorySegment src, long srcAt, MemorySegment dst, long at, int len,
      boolean acc);

  /**
   * Vector lanes of {@link #pointwise}, or 0 when this implementation has no fused point-wise
   * loop (the scalar one: there tiles cost little next to the arithmetic).
   */
  int pointwiseLanes();

  /**
   * The memory-bound point-wise losses with each buffer read and written in its own format, in
   * registers, over [from, to) (a multiple of {@link #pointwiseLanes} long): {@code shape} is
   * {kind, thr, div, b, c} with kind 0 = MSE, 1 = L1, 2 = the Huber/SmoothL1 shape of {@link
   * ElementwiseKernels#robust}. Per-element losses are float32. Returns the sum of the losses.
   */
  double pointwise(float[] shape, FloatFormat fx, MemorySegment x, FloatFormat fy,
      MemorySegment y, long from, long to, MemorySegment loss, FloatFormat fg,
      MemorySegment grad, float coef, boolean acc);
}
