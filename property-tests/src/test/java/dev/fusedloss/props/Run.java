package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.Reduction;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Runs an element-wise loss on native segments placed at an offset inside larger ones (element
 * offset, plus an optional 1–3 byte misalignment), with sentinel floats around every region so
 * that a write outside {@code [0, n)} is caught.
 */
public final class Run {
  public static final float SENTINEL = -12345.678f;
  private static final int GUARD = 5;

  /** The value the call returned, the losses it wrote (NONE) and the gradient. */
  public record Result(double value, float[] losses, float[] grad) {}

  private Run() {}

  /**
   * @param offset element offset of every region inside its backing segment
   * @param misalign extra bytes (0–3) added to the offset
   * @param gradInit initial gradient contents for accumulate (null: sentinel, overwrite)
   */
  public static Result call(ElementwiseLoss loss, float[] x, float[] y, int offset, int misalign,
      boolean withGrad, float gradScale, float[] gradInit) {
    int n = x.length;
    try (Arena arena = Arena.ofConfined()) {
      Region xs = Region.of(arena, x, offset, misalign);
      Region ys = Region.of(arena, y, offset + 3, misalign);
      Region gs = withGrad ? Region.of(arena, gradInit == null ? filled(n) : gradInit,
          offset + 1, misalign) : null;
      Region ls = loss.reduction() == Reduction.NONE ? Region.of(arena, filled(n), offset, misalign)
          : null;
      double v = loss.compute(xs.view, ys.view, n, ls == null ? null : ls.view,
          gs == null ? null : gs.view, gradScale, gradInit != null);
      xs.checkGuards("input");
      ys.checkGuards("target");
      float[] losses = ls == null ? null : ls.read("lossOut");
      float[] grad = gs == null ? null : gs.read("grad");
      // inputs are never modified (the gradient went elsewhere)
      assertArrayBits(x, xs.read("input"), "input was modified");
      assertArrayBits(y, ys.read("target"), "target was modified");
      return new Result(v, losses, grad);
    }
  }

  static float[] filled(int n) {
    float[] a = new float[n];
    java.util.Arrays.fill(a, SENTINEL);
    return a;
  }

  static void assertArrayBits(float[] want, float[] got, String what) {
    for (int i = 0; i < want.length; i++) {
      if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i])) {
        throw new AssertionError(what + " at " + i + ": " + want[i] + " -> " + got[i]);
      }
    }
  }

  /** A region of n floats inside a larger native segment with guard floats on both sides. */
  static final class Region {
    final MemorySegment backing;
    final MemorySegment view;
    final long start;
    final int n;

    private Region(MemorySegment backing, long start, int n) {
      this.backing = backing;
      this.start = start;
      this.n = n;
      this.view = backing.asSlice(start, (long) n * Float.BYTES + GUARD * Float.BYTES);
    }

    static Region of(Arena arena, float[] values, int offset, int misalign) {
      long start = (long) (offset + GUARD) * Float.BYTES + misalign;
      MemorySegment b = arena.allocate(start + (long) (values.length + 2 * GUARD) * Float.BYTES, 64);
      for (long k = -GUARD; k < values.length + GUARD; k++) {
        b.set(ValueLayout.JAVA_FLOAT_UNALIGNED, start + k * Float.BYTES, SENTINEL);
      }
      Region r = new Region(b, start, values.length);
      MemorySegment.copy(values, 0, r.view, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, values.length);
      return r;
    }

    float[] read(String name) {
      checkGuards(name);
      float[] out = new float[n];
      MemorySegment.copy(view, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, out, 0, n);
      return out;
    }

    void checkGuards(String name) {
      for (long p = start - (long) GUARD * Float.BYTES; p < start; p += Float.BYTES) {
        assertEquals(SENTINEL, backing.get(ValueLayout.JAVA_FLOAT_UNALIGNED, p),
            name + ": guard before the region was written");
      }
      long end = start + (long) n * Float.BYTES;
      for (long p = end; p < end + (long) GUARD * Float.BYTES; p += Float.BYTES) {
        assertEquals(SENTINEL, backing.get(ValueLayout.JAVA_FLOAT_UNALIGNED, p),
            name + ": guard after the region was written");
      }
    }
  }
}
