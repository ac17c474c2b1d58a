package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Row-layout test data and calls: packed arrays are placed in segments with a row stride (the
 * padding holds NaN in inputs and a sentinel in outputs, so a kernel that touches padding is
 * caught), at an odd element offset inside a larger segment.
 */
final class Rows {
  static final float PAD_OUT = -7777.5f;

  private Rows() {}

  /**
   * Logits with edge rows: masked classes (−∞, never the whole row), ties, huge ±3e38 rows
   * (the target is then put on a row maximum by {@link #targets}), zeros and subnormals.
   */
  static float[] logits(int rows, int classes, long seed, boolean edges) {
    SplittableRandom r = new SplittableRandom(seed);
    double scale = new double[] {0.5, 3, 20}[r.nextInt(3)];
    float[] x = new float[rows * classes];
    for (int i = 0; i < rows; i++) {
      int kind = edges ? r.nextInt(8) : 0;
      for (int c = 0; c < classes; c++) {
        float v = (float) (gaussian(r) * scale);
        switch (kind) {
          case 1 -> v = c > 0 && r.nextInt(3) == 0 ? Float.NEGATIVE_INFINITY : v; // masked
          case 2 -> v = r.nextInt(2) == 0 ? 3e38f : -3e38f;
          case 3 -> v = r.nextInt(2) == 0 ? 1e4f : -1e4f;
          case 4 -> v = r.nextInt(2) == 0 ? 0f : Float.MIN_VALUE * r.nextInt(100);
          case 5 -> v = 1.25f; // all tied
          default -> { }
        }
        x[i * classes + c] = v;
      }
    }
    return x;
  }

  /** Class targets; about one row in eight ignored; huge rows point at a row maximum. */
  static int[] targets(float[] x, int rows, int classes, long seed, int ignoreIndex) {
    SplittableRandom r = new SplittableRandom(seed * 17 + 3);
    int[] t = new int[rows];
    for (int i = 0; i < rows; i++) {
      t[i] = r.nextInt(8) == 0 ? ignoreIndex : r.nextInt(classes);
      float max = Float.NEGATIVE_INFINITY;
      int arg = 0;
      boolean huge = false;
      for (int c = 0; c < classes; c++) {
        float v = x[i * classes + c];
        huge |= Math.abs(v) >= 1e38f;
        if (v > max) {
          max = v;
          arg = c;
        }
      }
      if (huge && t[i] != ignoreIndex) {
        t[i] = arg;
      }
      if (t[i] != ignoreIndex && x[i * classes + t[i]] == Float.NEGATIVE_INFINITY && r.nextBoolean()) {
        t[i] = 0; // class 0 is never masked: mostly finite losses, sometimes +∞
      }
    }
    return t;
  }

  /** Soft targets: random distributions per row, some one-hot, some with exact zeros. */
  static float[] probabilities(int rows, int classes, long seed) {
    SplittableRandom r = new SplittableRandom(seed * 13 + 5);
    float[] q = new float[rows * classes];
    for (int i = 0; i < rows; i++) {
      if (r.nextInt(4) == 0) {
        q[i * classes + r.nextInt(classes)] = 1f;
        continue;
      }
      double sum = 0;
      double[] raw = new double[classes];
      for (int c = 0; c < classes; c++) {
        raw[c] = r.nextInt(5) == 0 ? 0 : r.nextDouble();
        sum += raw[c];
      }
      for (int c = 0; c < classes; c++) {
        q[i * classes + c] = (float) (sum == 0 ? 1.0 / classes : raw[c] / sum);
      }
    }
    return q;
  }

  static double gaussian(SplittableRandom r) {
    return Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
  }

  /** A packed [rows, classes] array placed with a stride in a larger segment. */
  static MemorySegment strided(Arena arena, float[] packed, int rows, int classes, int stride,
      int offset, float pad) {
    long n = rows == 0 ? 0 : (long) (rows - 1) * stride + classes;
    MemorySegment b = arena.allocate((offset + n + 3) * Float.BYTES, 64);
    for (long i = 0; i < offset + n + 3; i++) {
      b.setAtIndex(ValueLayout.JAVA_FLOAT, i, pad);
    }
    MemorySegment s = b.asSlice((long) offset * Float.BYTES);
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < classes; c++) {
        s.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * stride + c, packed[r * classes + c]);
      }
    }
    return s;
  }

  /** Reads a strided region back to a packed array, checking the padding kept {@code pad}. */
  static float[] packed(MemorySegment s, int rows, int classes, int stride, float pad) {
    float[] out = new float[rows * classes];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < stride; c++) {
        long i = (long) r * stride + c;
        if (i * Float.BYTES >= s.byteSize()) {
          break;
        }
        float v = s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        if (c < classes) {
          out[r * classes + c] = v;
        } else if (r < rows - 1 || c < classes) {
          assertEquals(pad, v, "padding at row " + r + " column " + c + " was written");
        }
      }
    }
    return out;
  }

  static float[] floats(MemorySegment s, int n) {
    float[] out = new float[n];
    MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, out, 0, n);
    return out;
  }
}
