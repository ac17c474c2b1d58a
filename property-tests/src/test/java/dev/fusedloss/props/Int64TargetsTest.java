package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.ClassIndexType;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftmaxFocalLoss;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * int64 class indices (PyTorch's {@code LongTensor}): read in place, the same results as int32,
 * and every value checked as a long, so one that only an int cast would bring into range still
 * throws. The oracle properties and {@link BoundaryShapesTest} run both layouts too.
 */
class Int64TargetsTest {
  static final float[] X = {1f, 2f, 3f, -1f, 0f, 4f, 0.5f, 0.5f, -2f};

  @Test
  void longArraysGiveTheIntResults() {
    int[] t32 = {2, 0, -100};
    long[] t64 = {2, 0, -100};
    float[] g32 = new float[X.length];
    float[] g64 = new float[X.length];
    // the same kernels; on the Vector API path the JIT's tiers may move a last bit between two
    // calls (see Parallelism), hence 1e-6 rather than equality
    CrossEntropyLoss ce = CrossEntropyLoss.builder().labelSmoothing(0.1f).build();
    assertEquals(ce.compute(X, t32, 3, g32), ce.compute(X, t64, 3, g64), 1e-6);
    assertArrayEquals(g32, g64, 1e-6f);
    NLLLoss nll = NLLLoss.builder().build();
    assertEquals(nll.compute(X, t32, 3, g32), nll.compute(X, t64, 3, g64), 1e-6);
    assertArrayEquals(g32, g64, 1e-6f);
    SoftmaxFocalLoss focal = SoftmaxFocalLoss.builder().build();
    assertEquals(focal.compute(X, t32, 3, g32), focal.compute(X, t64, 3, g64), 1e-6);
    assertArrayEquals(g32, g64, 1e-6f);
  }

  @Test
  void int64SegmentsThroughTheBuilderOption() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.SUM)
        .targetType(ClassIndexType.INT64).build();
    assertEquals(ClassIndexType.INT64, ce.targetType());
    float[] g = new float[X.length];
    double v = ce.compute(MemorySegment.ofArray(X), 3, MemorySegment.ofArray(new long[] {2, 0, 1}),
        3, 3, null, MemorySegment.ofArray(g), 1f, false);
    float[] g32 = new float[X.length];
    double w = CrossEntropyLoss.builder().reduction(Reduction.SUM).build()
        .compute(MemorySegment.ofArray(X), 3, MemorySegment.ofArray(new int[] {2, 0, 1}), 3, 3,
            null, MemorySegment.ofArray(g32), 1f, false);
    assertEquals(w, v, 1e-6 * Math.abs(w));
    assertArrayEquals(g32, g, 1e-6f);
  }

  @Test
  void outOfRangeLongsThrowBeforeAnythingIsWritten() {
    float[] g = new float[X.length];
    Arrays.fill(g, 7f);
    CrossEntropyLoss ce = CrossEntropyLoss.builder().build();
    // 2^32 + 1 would read as class 1 through an int cast
    IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class,
        () -> ce.compute(X, new long[] {2, (1L << 32) + 1, 0}, 3, g));
    assertTrue(e.getMessage().contains("row 1") && e.getMessage().contains("4294967297"),
        e.getMessage());
    // −100 + 2^32 is not ignoreIndex
    assertThrows(IndexOutOfBoundsException.class,
        () -> ce.compute(X, new long[] {2, -100L + (1L << 32), 0}, 3, g));
    for (float v : g) {
      assertEquals(7f, v);
    }
    // an int64 segment too short for the rows
    CrossEntropyLoss wide = CrossEntropyLoss.builder().targetType(ClassIndexType.INT64).build();
    assertThrows(IndexOutOfBoundsException.class, () -> wide.compute(MemorySegment.ofArray(X), 3,
        MemorySegment.ofArray(new int[] {2, 0, 1}), 3, 3, null, MemorySegment.ofArray(g), 1f,
        false));
    assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.builder().targetType(null).build());
  }
}
