package dev.fusedloss.internal;

import dev.fusedloss.FloatFormat;
import dev.fusedloss.Parallelism;
import java.lang.foreign.MemorySegment;

/**
 * Row losses on 16-bit buffers: groups of whole rows are widened into the per-thread float32
 * scratch ({@link FormatScratch}), the float32 row kernel runs there on packed rows, and the
 * gradient rows are rounded out to the caller's layout. One copy of each kernel serves every
 * format; the conversions run in L1/L2 next to it.
 */
public final class RowTiles {
  private RowTiles() {}

  /** A float32 row kernel over rows [r0, r1) of packed scratch rows. */
  @FunctionalInterface
  public interface Kernel {
    double run(MemorySegment x, MemorySegment t, long stride, long classes, long r0, long r1,
        MemorySegment loss, MemorySegment grad, float coef, boolean acc);
  }

  /**
   * How the call's targets are laid out: {@code indexBytes} 4 or 8 for class indices (one per
   * row), or 0 for float rows in {@code targetFormat} with the logits' stride, or −1 for none.
   */
  public record Call(Kernel kernel, FloatFormat inputFormat, MemorySegment x, long stride,
      long rows, long classes, MemorySegment targets, int indexBytes, FloatFormat targetFormat,
      MemorySegment lossOut, MemorySegment grad, FloatFormat gradFormat) {}

  /** Runs the call, split as {@code p} allows (the same bits on any thread count). */
  public static double run(Call c, float coef, boolean acc, Parallelism p, FormatKernels fk) {
    long tile = FormatScratch.tileRows(c.classes());
    long chunk = Split.ceilDiv(Split.rowChunk(c.rows(), c.classes()), tile) * tile;
    int threads = Split.threads(p, c.rows() * c.classes(), c.rows(), chunk, c.x(), c.targets(),
        c.lossOut(), c.grad());
    if (threads == 1) {
      double sum = 0;
      for (long r = 0; r < c.rows(); r += chunk) {
        sum += rows(c, r, Math.min(c.rows(), r + chunk), coef, acc, fk);
      }
      return sum;
    }
    return Split.parallel(p.executor(), threads, c.rows(), chunk,
        (r0, r1) -> rows(c, r0, r1, coef, acc, fk));
  }

  private static double rows(Call c, long r0, long r1, float coef, boolean acc,
      FormatKernels fk) {
    long classes = c.classes();
    long tile = FormatScratch.tileRows(classes);
    FormatScratch s = FormatScratch.get(tile * classes, tile);
    int n = (int) classes;
    double sum = 0;
    for (long r = r0; r < r1; r += tile) {
      long m = Math.min(tile, r1 - r);
      boolean packed = c.stride() == classes; // one conversion call for the whole tile
      if (packed) {
        fk.decode(c.inputFormat(), c.x(), r * classes, s.x, 0, (int) (m * classes));
      } else {
        for (long i = 0; i < m; i++) {
          fk.decode(c.inputFormat(), c.x(), (r + i) * c.stride(), s.x, i * classes, n);
        }
      }
      if (c.indexBytes() > 0) {
        MemorySegment.copy(c.targets(), r * c.indexBytes(), s.y, 0, m * c.indexBytes());
      } else if (c.indexBytes() == 0 && packed) {
        fk.decode(c.targetFormat(), c.targets(), r * classes, s.y, 0, (int) (m * classes));
      } else if (c.indexBytes() == 0) {
        for (long i = 0; i < m; i++) {
          fk.decode(c.targetFormat(), c.targets(), (r + i) * c.stride(), s.y, i * classes, n);
        }
      }
      MemorySegment loss = c.lossOut() == null ? null : s.loss;
      MemorySegment grad = c.grad() == null ? null : s.grad;
      sum += c.kernel().run(s.x, s.y, classes, classes, 0, m, loss, grad, coef, false);
      if (loss != null) {
        MemorySegment.copy(s.loss, 0, c.lossOut(), r * Float.BYTES, m * Float.BYTES);
      }
      if (grad != null && packed) {
        fk.encode(c.gradFormat(), s.grad, 0, c.grad(), r * classes, (int) (m * classes), acc);
      } else if (grad != null) {
        for (long i = 0; i < m; i++) {
          fk.encode(c.gradFormat(), s.grad, i * classes, c.grad(), (r + i) * c.stride(), n, acc);
        }
      }
    }
    return sum;
  }

  /**
   * The buffer checks of a row call with formats: logits (and float target rows) in their
   * formats spanning the layout, row losses as float32, the gradient in its format; outputs may
   * alias an input of the same size exactly, nothing may overlap partially.
   */
  public static void check(MemorySegment x, String xName, FloatFormat xf, long span, long rows,
      MemorySegment targets, long targetBytes, FloatFormat tf, MemorySegment lossOut,
      MemorySegment grad, FloatFormat gf, boolean none, float gradScale) {
    Args.input(xName, x, span, xf);
    if (tf != null) {
      Args.input("targets", targets, span, tf);
    }
    Args.finite("gradScale", gradScale);
    Args.output("grad", grad, span, gf);
    Args.output("lossOut", lossOut, rows);
    if (lossOut != null && !none) {
      throw new IllegalArgumentException("lossOut is only written with reduction NONE");
    }
    long bx = span * xf.bytes();
    long bg = span * gf.bytes();
    long bl = rows * Float.BYTES;
    if (bg == bx) {
      Args.noPartialOverlap("grad", grad, bg, xName, x, bx);
    } else {
      Args.disjoint("grad", grad, bg, xName, x, bx);
    }
    if (targets != null) {
      if (targetBytes == bg) {
        Args.noPartialOverlap("grad", grad, bg, "targets", targets, targetBytes);
      } else {
        Args.disjoint("grad", grad, bg, "targets", targets, targetBytes);
      }
      Args.disjoint("lossOut", lossOut, bl, "targets", targets, targetBytes);
    }
    Args.disjoint("lossOut", lossOut, bl, xName, x, bx);
    Args.disjoint("lossOut", lossOut, bl, "grad", grad, bg);
  }
}
