package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.BCELoss;
import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.BinaryFocalLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.HuberLoss;
import dev.fusedloss.LabelSmoothing;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SigmoidFocalLoss;
import dev.fusedloss.SmoothL1Loss;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad calls throw a clear exception naming the argument, and leave every output untouched. */
class ElementwiseArgumentTest {
  static final int N = 37;

  /** Runs the call, expects the exception, checks the message and that outputs are unchanged. */
  static <T extends RuntimeException> void rejects(Class<T> type, String mentions,
      MemorySegment[] outputs, Executable call) {
    float[][] before = new float[outputs.length][];
    for (int k = 0; k < outputs.length; k++) {
      before[k] = outputs[k] == null ? null : outputs[k].toArray(ValueLayout.JAVA_FLOAT);
    }
    T e = assertThrows(type, call);
    assertTrue(e.getMessage().contains(mentions), () -> "message '" + e.getMessage()
        + "' should mention '" + mentions + "'");
    for (int k = 0; k < outputs.length; k++) {
      if (outputs[k] != null) {
        assertArrayEquals(before[k], outputs[k].toArray(ValueLayout.JAVA_FLOAT), "output changed");
      }
    }
  }

  static MemorySegment filled(Arena arena, int n, float v) {
    MemorySegment s = arena.allocate((long) n * Float.BYTES, 64);
    for (int i = 0; i < n; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
    }
    return s;
  }

  @Test
  void segmentAndCountChecks() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = filled(arena, N, 0.5f);
      MemorySegment y = filled(arena, N, 0.25f);
      MemorySegment g = filled(arena, N, 7f);
      MemorySegment l = filled(arena, N, 9f);
      MemorySegment[] outs = {g, l};
      ElementwiseLoss mean = MSELoss.of(Reduction.MEAN);
      ElementwiseLoss none = MSELoss.of(Reduction.NONE);
      rejects(IllegalArgumentException.class, "input", outs, () -> mean.compute(null, y, N, g));
      rejects(IllegalArgumentException.class, "target", outs, () -> mean.compute(x, null, N, g));
      rejects(IllegalArgumentException.class, "n", outs, () -> mean.compute(x, y, -1, g));
      rejects(IndexOutOfBoundsException.class, "input", outs,
          () -> mean.compute(x.asSlice(4), y, N, g));
      rejects(IndexOutOfBoundsException.class, "target", outs,
          () -> mean.compute(x, y.asSlice(0, 8), N, g));
      rejects(IndexOutOfBoundsException.class, "grad", outs,
          () -> mean.compute(x, y, N, filled(arena, N - 1, 0f)));
      rejects(IllegalArgumentException.class, "grad is read-only", outs,
          () -> mean.compute(x, y, N, g.asReadOnly()));
      rejects(IllegalArgumentException.class, "lossOut", outs,
          () -> mean.compute(x, y, N, l, g, 1f, false));
      rejects(IndexOutOfBoundsException.class, "lossOut", outs,
          () -> none.compute(x, y, N, l.asSlice(0, 4), g, 1f, false));
      rejects(IllegalArgumentException.class, "gradScale", outs,
          () -> mean.compute(x, y, N, null, g, Float.NaN, false));
      rejects(IllegalArgumentException.class, "gradScale", outs,
          () -> mean.compute(x, y, N, null, g, Float.POSITIVE_INFINITY, false));
      // overlaps: a shifted view of the input, and loss/grad sharing memory
      MemorySegment big = filled(arena, 2 * N, 1f);
      rejects(IllegalArgumentException.class, "partially overlaps input", new MemorySegment[] {big},
          () -> mean.compute(big, y, N, big.asSlice(4)));
      rejects(IllegalArgumentException.class, "must not overlap", outs,
          () -> none.compute(x, y, N, g, g, 1f, false));
      rejects(IllegalArgumentException.class, "must not overlap", new MemorySegment[] {big},
          () -> none.compute(x, y, N, big, big.asSlice(8), 1f, false));
    }
  }

  @Test
  void closedAndForeignThreadSegments() throws Exception {
    ElementwiseLoss mse = MSELoss.of(Reduction.SUM);
    Arena closed = Arena.ofConfined();
    MemorySegment dead = closed.allocate(N * 4L);
    closed.close();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment y = filled(arena, N, 1f);
      MemorySegment g = filled(arena, N, 7f);
      rejects(IllegalArgumentException.class, "closed", new MemorySegment[] {g},
          () -> mse.compute(dead, y, N, g));
      // a segment confined to this thread, used from another
      Throwable[] seen = new Throwable[1];
      Thread t = new Thread(() -> {
        try (Arena other = Arena.ofConfined()) {
          MemorySegment x = filled(other, N, 0f);
          MemorySegment g2 = filled(other, N, 3f);
          mse.compute(x, y, N, g2);
        } catch (Throwable e) {
          seen[0] = e;
        }
      });
      t.start();
      t.join();
      assertTrue(seen[0] instanceof IllegalArgumentException, String.valueOf(seen[0]));
      assertTrue(seen[0].getMessage().contains("target"), seen[0].getMessage());
      assertEquals(7f, g.getAtIndex(ValueLayout.JAVA_FLOAT, 0));
    }
  }

  @Test
  void weightsMustBroadcast() {
    float[] x = new float[12];
    float[] y = new float[12];
    float[] g = new float[12];
    Arrays.fill(g, 5f);
    BCEWithLogitsLoss bad = BCEWithLogitsLoss.builder().posWeight(new float[5]).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> bad.compute(x, y, g));
    assertTrue(e.getMessage().contains("posWeight"), e.getMessage());
    BCELoss badW = BCELoss.builder().weight(new float[7]).build();
    e = assertThrows(IllegalArgumentException.class, () -> badW.compute(x, y, g));
    assertTrue(e.getMessage().contains("weight"), e.getMessage());
    for (float v : g) {
      assertEquals(5f, v);
    }
    // arrays of different lengths
    e = assertThrows(IllegalArgumentException.class,
        () -> MSELoss.of(Reduction.SUM).compute(x, new float[11], g));
    assertTrue(e.getMessage().contains("target"), e.getMessage());
  }

  @Test
  void optionChecks() {
    assertThrows(IllegalArgumentException.class, () -> SmoothL1Loss.of(Reduction.MEAN, -1f));
    assertThrows(IllegalArgumentException.class, () -> SmoothL1Loss.of(Reduction.MEAN, Float.NaN));
    assertThrows(IllegalArgumentException.class, () -> HuberLoss.of(Reduction.MEAN, 0f));
    assertThrows(IllegalArgumentException.class, () -> MSELoss.of(null));
    assertThrows(IllegalArgumentException.class,
        () -> SigmoidFocalLoss.builder().gamma(-0.5f).build());
    assertThrows(IllegalArgumentException.class,
        () -> SigmoidFocalLoss.builder().alpha(1.5f).build());
    assertThrows(IllegalArgumentException.class,
        () -> BinaryFocalLoss.builder().clipEps(0f).build());
    assertThrows(IllegalArgumentException.class, () -> BCELoss.builder().clipEps(0.5f).build());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BCEWithLogitsLoss.builder().weight(new float[] {1, Float.NaN}).build());
    assertTrue(e.getMessage().contains("weight[1]"), e.getMessage());
  }

  @Test
  void weightsAreCopiedAtBuildTime() {
    float[] w = {1f, 2f};
    BCEWithLogitsLoss loss = BCEWithLogitsLoss.builder().reduction(Reduction.SUM).weight(w).build();
    float[] x = {0.3f, -0.2f};
    float[] y = {1f, 0f};
    double before = loss.forward(x, y);
    w[1] = 100f;
    assertEquals(before, loss.forward(x, y));
  }

  @Test
  void emptyInputs() {
    float[] none = new float[0];
    assertTrue(Double.isNaN(MSELoss.of(Reduction.MEAN).compute(none, none, none)),
        "mean over zero elements is NaN, as in PyTorch");
    assertEquals(0.0, MSELoss.of(Reduction.SUM).compute(none, none, none));
  }

  @Test
  void labelSmoothing() {
    float[] out = LabelSmoothing.apply(new float[] {1, 0, 0, 0}, 0.1f, 4);
    assertArrayEquals(new float[] {0.925f, 0.025f, 0.025f, 0.025f}, out, 1e-7f);
    assertThrows(IllegalArgumentException.class, () -> LabelSmoothing.apply(new float[1], 1.5f, 4));
    assertThrows(IllegalArgumentException.class, () -> LabelSmoothing.apply(new float[1], 0.1f, 0));
  }
}
