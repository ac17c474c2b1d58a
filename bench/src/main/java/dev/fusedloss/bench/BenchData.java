package dev.fusedloss.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Buffers for benchmarks: allocated once per trial and touched once, so no page faults later. */
final class BenchData {
  private BenchData() {}

  static MemorySegment floats(Arena arena, long n) {
    MemorySegment s = arena.allocate(n * Float.BYTES, 64);
    s.fill((byte) 0); // first touch here, not inside a measured call
    return s;
  }

  /** Values for the given loss family: logits, probabilities or plain values. */
  static void fillInputs(String loss, MemorySegment x, MemorySegment y, long n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    boolean probabilities = loss.equals("bce") || loss.equals("binaryFocal");
    boolean logits = loss.equals("bceWithLogits") || loss.equals("sigmoidFocal");
    for (long i = 0; i < n; i++) {
      float xi;
      float yi;
      if (probabilities) {
        xi = (float) (0.001 + 0.998 * r.nextDouble());
        yi = r.nextInt(2);
      } else if (logits) {
        xi = (float) (r.nextDouble() * 12 - 6);
        yi = r.nextInt(2);
      } else {
        xi = (float) (r.nextDouble() * 4 - 2);
        yi = (float) (r.nextDouble() * 4 - 2);
      }
      x.setAtIndex(ValueLayout.JAVA_FLOAT, i, xi);
      y.setAtIndex(ValueLayout.JAVA_FLOAT, i, yi);
    }
  }

  /**
   * Cross-entropy inputs, the same for every benchmark and the PyTorch peer: logits uniform in
   * [−4, 4) and class indices, from one seeded stream (logits first). {@code targets} holds int32.
   */
  static void fillRows(MemorySegment logits, MemorySegment targets, long rows, long classes) {
    SplittableRandom r = new SplittableRandom(7);
    for (long i = 0; i < rows * classes; i++) {
      logits.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() * 8 - 4));
    }
    for (long i = 0; i < rows; i++) {
      targets.setAtIndex(ValueLayout.JAVA_INT, i, r.nextInt((int) classes));
    }
  }
}
