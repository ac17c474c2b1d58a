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
}
