package dev.fusedloss.internal;

import dev.fusedloss.FloatFormat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Conversions one value at a time ({@link Float#float16ToFloat} and friends are intrinsics). */
final class ScalarFormatKernels implements FormatKernels {
  static final ScalarFormatKernels INSTANCE = new ScalarFormatKernels();
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
  private static final ValueLayout.OfShort S16 = ValueLayout.JAVA_SHORT_UNALIGNED;

  @Override
  public void decode(FloatFormat f, MemorySegment src, long from, MemorySegment dst, long dstAt,
      int len) {
    decodeRange(f, src, from, dst, dstAt, len);
  }

  @Override
  public void encode(FloatFormat f, MemorySegment src, long srcAt, MemorySegment dst, long at,
      int len, boolean acc) {
    encodeRange(f, src, srcAt, dst, at, len, acc);
  }

  /** As decode, into {@code dst[dstAt, dstAt + len)}. */
  static void decodeRange(FloatFormat f, MemorySegment src, long from, MemorySegment dst,
      long dstAt, int len) {
    switch (f) {
      case FLOAT32 -> MemorySegment.copy(src, from * 4, dst, dstAt * 4L, (long) len * 4);
      case BFLOAT16 -> {
        for (int i = 0; i < len; i++) {
          dst.setAtIndex(F32, dstAt + i,
              FloatFormat.bfloat16ToFloat(src.getAtIndex(S16, from + i)));
        }
      }
      case FLOAT16 -> {
        for (int i = 0; i < len; i++) {
          dst.setAtIndex(F32, dstAt + i, Float.float16ToFloat(src.getAtIndex(S16, from + i)));
        }
      }
    }
  }

  /** As encode, from {@code src[srcAt, srcAt + len)}. */
  static void encodeRange(FloatFormat f, MemorySegment src, long srcAt, MemorySegment dst,
      long at, int len, boolean acc) {
    switch (f) {
      case FLOAT32 -> {
        if (!acc) {
          MemorySegment.copy(src, srcAt * 4L, dst, at * 4, (long) len * 4);
          return;
        }
        for (int i = 0; i < len; i++) {
          dst.setAtIndex(F32, at + i,
              dst.getAtIndex(F32, at + i) + src.getAtIndex(F32, srcAt + i));
        }
      }
      case BFLOAT16 -> {
        for (int i = 0; i < len; i++) {
          float v = src.getAtIndex(F32, srcAt + i);
          if (acc) {
            v += FloatFormat.bfloat16ToFloat(dst.getAtIndex(S16, at + i));
          }
          dst.setAtIndex(S16, at + i, FloatFormat.floatToBfloat16(v));
        }
      }
      case FLOAT16 -> {
        for (int i = 0; i < len; i++) {
          float v = src.getAtIndex(F32, srcAt + i);
          if (acc) {
            v += Float.float16ToFloat(dst.getAtIndex(S16, at + i));
          }
          dst.setAtIndex(S16, at + i, Float.floatToFloat16(v));
        }
      }
    }
  }

  @Override
  public int pointwiseLanes() {
    return 0;
  }

  @Override
  public double pointwise(float[] shape, FloatFormat fx, MemorySegment x, FloatFormat fy,
      MemorySegment y, long from, long to, MemorySegment loss, FloatFormat fg,
      MemorySegment grad, float coef, boolean acc) {
    throw new UnsupportedOperationException("no fused point-wise loop on the scalar path");
  }
}
