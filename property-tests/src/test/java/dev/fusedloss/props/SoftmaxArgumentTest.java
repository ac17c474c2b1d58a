package dev.fusedloss.props;

import static dev.fusedloss.props.ElementwiseArgumentTest.filled;
import static dev.fusedloss.props.ElementwiseArgumentTest.rejects;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.DistillationLoss;
import dev.fusedloss.KLDivLoss;
import dev.fusedloss.LogSoftmax;
import dev.fusedloss.MSELoss;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftmaxFocalLoss;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Bad calls of the row losses: a clear exception naming the argument, outputs untouched. */
class SoftmaxArgumentTest {
  static final int ROWS = 6;
  static final int C = 5;

  static MemorySegment ints(Arena arena, int... v) {
    MemorySegment s = arena.allocate((long) v.length * 4, 4);
    for (int i = 0; i < v.length; i++) {
      s.setAtIndex(ValueLayout.JAVA_INT, i, v[i]);
    }
    return s;
  }

  @Test
  void targetsOutOfRangeNameTheRowAndValueAndWriteNothing() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = filled(arena, ROWS * C, 0.5f);
      MemorySegment g = filled(arena, ROWS * C, 7f);
      MemorySegment l = filled(arena, ROWS, 9f);
      MemorySegment[] outs = {g, l, x};
      CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.NONE).build();
      // the bad index is in the last row: nothing may have been written for the rows before it
      MemorySegment bad = ints(arena, 0, 1, 2, 3, 4, 5);
      rejects(IndexOutOfBoundsException.class, "targets[row 5] = 5", outs,
          () -> ce.compute(x, C, bad, ROWS, C, l, g, 1f, false));
      MemorySegment negative = ints(arena, 0, -3, 2, 3, 4, 0);
      rejects(IndexOutOfBoundsException.class, "targets[row 1] = -3", outs,
          () -> ce.compute(x, C, negative, ROWS, C, l, g, 1f, false));
      // in place: the logits themselves are the gradient, and stay untouched too
      rejects(IndexOutOfBoundsException.class, "targets[row 5]", outs,
          () -> ce.compute(x, C, bad, ROWS, C, null, x, 1f, false));
      NLLLoss nll = NLLLoss.builder().build();
      rejects(IndexOutOfBoundsException.class, "targets[row 5] = 5", outs,
          () -> nll.compute(x, C, bad, ROWS, C, null, g, 1f, false));
      SoftmaxFocalLoss focal = SoftmaxFocalLoss.builder().build();
      rejects(IndexOutOfBoundsException.class, "targets[row 5] = 5", outs,
          () -> focal.compute(x, C, bad, ROWS, C, null, g, 1f, false));
      // −100 is the default ignoreIndex, so it is fine; −100 with another ignoreIndex is not
      MemorySegment ignored = ints(arena, 0, -100, 2, 3, 4, 0);
      CrossEntropyLoss ignoreOne = CrossEntropyLoss.builder().ignoreIndex(1).build();
      rejects(IndexOutOfBoundsException.class, "targets[row 1] = -100", outs,
          () -> ignoreOne.compute(x, C, ignored, ROWS, C, null, g, 1f, false));
    }
  }

  @Test
  void layoutAndOutputChecks() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = filled(arena, ROWS * C, 0.5f);
      MemorySegment g = filled(arena, ROWS * C, 7f);
      MemorySegment l = filled(arena, ROWS, 9f);
      MemorySegment t = ints(arena, 0, 1, 2, 3, 4, 0);
      MemorySegment[] outs = {g, l};
      CrossEntropyLoss mean = CrossEntropyLoss.builder().build();
      rejects(IllegalArgumentException.class, "rowStride", outs,
          () -> mean.compute(x, C - 1, t, ROWS, C, null, g, 1f, false));
      rejects(IllegalArgumentException.class, "classes", outs,
          () -> mean.compute(x, C, t, ROWS, 0, null, g, 1f, false));
      rejects(IllegalArgumentException.class, "rows", outs,
          () -> mean.compute(x, C, t, -1, C, null, g, 1f, false));
      rejects(IndexOutOfBoundsException.class, "logits", outs,
          () -> mean.compute(x, C + 1, t, ROWS, C, null, g, 1f, false));
      rejects(IndexOutOfBoundsException.class, "targets", outs,
          () -> mean.compute(x, C, t.asSlice(0, 8), ROWS, C, null, g, 1f, false));
      rejects(IllegalArgumentException.class, "lossOut", outs,
          () -> mean.compute(x, C, t, ROWS, C, l, g, 1f, false));
      rejects(IllegalArgumentException.class, "partially overlaps logits", outs,
          () -> mean.compute(x, C, t, ROWS - 1, C, null, x.asSlice(C * 4L), 1f, false));
      rejects(IllegalArgumentException.class, "gradScale", outs,
          () -> mean.compute(x, C, t, ROWS, C, null, g, Float.NaN, false));
      CrossEntropyLoss weighted = CrossEntropyLoss.builder().weight(new float[] {1, 2, 3}).build();
      rejects(IllegalArgumentException.class, "weight", outs,
          () -> weighted.compute(x, C, t, ROWS, C, null, g, 1f, false));
      CrossEntropyLoss none = CrossEntropyLoss.builder().reduction(Reduction.NONE).build();
      rejects(IllegalArgumentException.class, "must not overlap", outs,
          () -> none.compute(x, C, t, ROWS, C, g.asSlice(0, ROWS * 4L), g, 1f, false));
      CrossEntropyLoss capped = CrossEntropyLoss.builder().softcap(5f).build();
      rejects(IllegalArgumentException.class, "class-index targets only", outs,
          () -> capped.computeSoft(x, C, g, ROWS, C, null, null, 1f, false));
      DistillationLoss distill = DistillationLoss.of(Reduction.BATCH_MEAN, 2f);
      MemorySegment teacher = filled(arena, ROWS * C, 1f);
      rejects(IllegalArgumentException.class, "teacher", new MemorySegment[] {teacher},
          () -> distill.compute(x, teacher, C, ROWS, C, null, teacher, 1f, false));
      rejects(IllegalArgumentException.class, "out partially overlaps logits", new MemorySegment[] {g},
          () -> LogSoftmax.apply(x, C, ROWS - 1, C, x.asSlice(4)));
    }
  }

  @Test
  void optionChecks() {
    assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.builder().labelSmoothing(1.5f).build());
    assertThrows(IllegalArgumentException.class, () -> CrossEntropyLoss.builder().zLoss(-1).build());
    assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.builder().softcap(Float.NaN).build());
    assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.builder().reduction(Reduction.BATCH_MEAN).build());
    assertThrows(IllegalArgumentException.class, () -> DistillationLoss.of(Reduction.BATCH_MEAN, 0f));
    assertThrows(IllegalArgumentException.class, () -> DistillationLoss.of(Reduction.MEAN, 2f));
    assertThrows(IllegalArgumentException.class, () -> SoftmaxFocalLoss.builder().gamma(-1).build());
    assertThrows(IllegalArgumentException.class, () -> KLDivLoss.of(null, false));
    assertThrows(IllegalArgumentException.class, () -> MSELoss.of(Reduction.BATCH_MEAN));
  }
}
