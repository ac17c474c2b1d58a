package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.GradNorm;
import dev.fusedloss.MSELoss;
import dev.fusedloss.MultiTaskLoss;
import dev.fusedloss.MultiTaskLoss.TaskKind;
import dev.fusedloss.Reduction;
import dev.fusedloss.SmoothL1Loss;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Multi-task weighting and GradNorm beyond the conformance cases: the weights reach each task's
 * own fused pass as its gradient scale (the gradients equal the weight times the task's own),
 * the log-variance gradients are the closed form, and bad arguments throw before any task runs
 * or any state changes.
 */
class MultiTaskTest {
  static final float[] LOGITS = {1f, -2f, 0.5f, 3f, 0f, -1f, 2f, 2f, -0.5f};
  static final int[] LABELS = {2, 0, 1};
  static final float[] BOX = {0.1f, 0.9f, -0.3f, 2f};
  static final float[] BOX_T = {0f, 1f, 0f, 0f};

  @Test
  void uncertaintyWeightsScaleEachTasksOwnGradient() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().build();
    SmoothL1Loss sl1 = SmoothL1Loss.of(Reduction.MEAN, 1f / 9);
    float[] gCls = new float[LOGITS.length];
    float[] gBox = new float[BOX.length];
    float[] logVars = {-0.7f, 0.4f};
    double[] losses = new double[2];
    double[] dS = new double[2];
    double total = MultiTaskLoss.uncertainty(TaskKind.CLASSIFICATION, TaskKind.REGRESSION)
        .compute(logVars, losses, dS,
            s -> ce.compute(MemorySegment.ofArray(LOGITS), 3, MemorySegment.ofArray(LABELS), 3, 3,
                null, MemorySegment.ofArray(gCls), s, false),
            s -> sl1.compute(MemorySegment.ofArray(BOX), MemorySegment.ofArray(BOX_T), 4, null,
                MemorySegment.ofArray(gBox), s, false));
    float[] g1 = new float[LOGITS.length];
    float[] g2 = new float[BOX.length];
    double l1 = ce.compute(LOGITS, LABELS, 3, g1);
    double l2 = sl1.compute(BOX, BOX_T, g2);
    double w1 = Math.exp(0.7);
    double w2 = 0.5 * Math.exp(-0.4);
    assertEquals(l1, losses[0], 1e-12);
    assertEquals(l2, losses[1], 1e-12);
    assertEquals(w1 * l1 + w2 * l2 + 0.5 * (-0.7f + 0.4f), total, 1e-6 * total);
    assertEquals(0.5 - w1 * l1, dS[0], 1e-6);
    assertEquals(0.5 - w2 * l2, dS[1], 1e-6);
    for (int i = 0; i < g1.length; i++) {
      assertEquals(w1 * g1[i], gCls[i], 1e-6 * Math.abs(w1 * g1[i]) + 1e-7);
    }
    for (int i = 0; i < g2.length; i++) {
      assertEquals(w2 * g2[i], gBox[i], 1e-6 * Math.abs(w2 * g2[i]) + 1e-7);
    }
  }

  @Test
  void badArgumentsThrowBeforeAnyTaskRuns() {
    MultiTaskLoss.Task boom = s -> {
      throw new AssertionError("a task ran");
    };
    assertThrows(IllegalArgumentException.class, MultiTaskLoss::fixed);
    assertThrows(IllegalArgumentException.class, () -> MultiTaskLoss.fixed(1f, Float.NaN));
    assertThrows(IllegalArgumentException.class, () -> MultiTaskLoss.uncertainty());
    assertThrows(IllegalArgumentException.class,
        () -> MultiTaskLoss.fixed(1f, 2f).compute(null, boom));
    assertThrows(IllegalArgumentException.class,
        () -> MultiTaskLoss.fixed(1f).compute(new double[3], boom));
    MultiTaskLoss u = MultiTaskLoss.uncertainty(TaskKind.REGRESSION, TaskKind.CLASSIFICATION);
    assertThrows(IllegalArgumentException.class,
        () -> u.compute(new float[] {0f, Float.NaN}, null, null, boom, boom));
    assertThrows(IllegalArgumentException.class,
        () -> u.compute(new float[] {0f, -200f}, null, null, boom, boom)); // e^200 overflows
    assertThrows(IllegalArgumentException.class,
        () -> u.compute(new float[] {0f}, null, null, boom, boom));
    assertThrows(IllegalArgumentException.class, () -> u.compute(null, boom, boom));
  }

  @Test
  void gradNormCapturesInitialLossesAndRefusesABadStep() {
    SplittableRandom r = new SplittableRandom(3);
    int n = 300_000; // several chunks: the norm pass splits and adds in a fixed order
    MemorySegment[] g = new MemorySegment[3];
    double[] want = new double[3];
    for (int t = 0; t < 3; t++) {
      float[] a = new float[n];
      double s = 0;
      for (int i = 0; i < n; i++) {
        a[i] = (float) (r.nextGaussian() * (t + 1));
        s += (double) a[i] * a[i];
      }
      want[t] = Math.sqrt(s);
      g[t] = MemorySegment.ofArray(a);
    }
    GradNorm gn = new GradNorm(3, 1.5f, 1e-5f); // norms near 1000: a small step
    gn.step(g, n, new double[] {2, 1, 0.5});
    double[] norms = gn.gradNorms();
    for (int t = 0; t < 3; t++) {
      assertEquals(want[t], norms[t], 1e-9 * want[t]);
    }
    float[] w = gn.weights();
    assertEquals(3.0, w[0] + w[1] + w[2], 1e-6);
    // a learning rate that would drive a weight below zero: refused, nothing changes
    GradNorm steep = new GradNorm(new float[] {1f, 1f, 1f}, new double[] {2, 1, 0.5}, 1.5f, 1e6f);
    assertThrows(IllegalStateException.class, () -> steep.step(g, n, new double[] {2, 1, 0.5}));
    assertArrayEquals(new float[] {1f, 1f, 1f}, steep.weights());
    assertArrayEquals(new double[3], steep.gradNorms());
    assertThrows(IllegalArgumentException.class,
        () -> gn.step(new MemorySegment[] {g[0], g[1]}, n, new double[] {1, 1}));
    assertThrows(IllegalArgumentException.class,
        () -> gn.step(g, n, new double[] {1, Double.NaN, 1}));
    assertThrows(IllegalArgumentException.class, () -> new GradNorm(0, 1f, 0.1f));
    MSELoss.of(Reduction.SUM); // the engine is loaded; nothing else to check here
  }
}
