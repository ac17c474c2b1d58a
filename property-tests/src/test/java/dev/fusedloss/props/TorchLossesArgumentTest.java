package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.CTCLoss;
import dev.fusedloss.ClassIndexType;
import dev.fusedloss.CosineEmbeddingLoss;
import dev.fusedloss.GaussianNLLLoss;
import dev.fusedloss.MarginRankingLoss;
import dev.fusedloss.MultiLabelMarginLoss;
import dev.fusedloss.MultiLabelSoftMarginLoss;
import dev.fusedloss.MultiMarginLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.PoissonNLLLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.TripletMarginLoss;
import dev.fusedloss.TripletMarginWithDistanceLoss;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Bad calls of the multi-input, row and CTC losses throw a clear exception naming the argument
 * (and row or sequence) and leave every output untouched; large calls give the same bits on any
 * thread count (on the Vector API path within ParallelDeterminismTest's ulps).
 */
class TorchLossesArgumentTest {
  static final float SENTINEL = 12345f;

  static float[] filled(int n) {
    float[] a = new float[n];
    Arrays.fill(a, SENTINEL);
    return a;
  }

  static <T extends Throwable> void rejects(Class<T> type, String fragment, float[] out,
      Executable call) {
    float[] before = out.clone();
    T e = assertThrows(type, call);
    assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' lacks '"
        + fragment + "'");
    assertArrayEquals(before, out, "an output was written before the throw");
  }

  static MemorySegment seg(float[] a) {
    return MemorySegment.ofArray(a);
  }

  static MemorySegment seg(int[] a) {
    return MemorySegment.ofArray(a);
  }

  @Test
  void ctc() {
    int time = 5;
    int batch = 2;
    int classes = 4;
    float[] lp = new float[time * batch * classes];
    Arrays.fill(lp, (float) Math.log(0.25));
    float[] g = filled(lp.length);
    CTCLoss ctc = CTCLoss.builder().blank(0).build();
    int[] t = {1, 2, 0, 3, 3, 0};
    rejects(IllegalArgumentException.class, "inputLengths[1] = 6", g, () -> ctc.compute(seg(lp),
        time, batch, classes, seg(t), 3, new long[] {5, 6}, new long[] {2, 2}, null, seg(g), 1f,
        false));
    rejects(IllegalArgumentException.class, "inputLengths[0] = -1", g, () -> ctc.compute(
        seg(lp), time, batch, classes, seg(t), 3, new long[] {-1, 5}, new long[] {2, 2}, null,
        seg(g), 1f, false));
    rejects(IllegalArgumentException.class, "targetLengths[1] = 4", g, () -> ctc.compute(seg(lp),
        time, batch, classes, seg(t), 3, new long[] {5, 5}, new long[] {2, 4}, null, seg(g), 1f,
        false));
    rejects(IndexOutOfBoundsException.class, "sequence 0, 2] = 0 is the blank", g,
        () -> ctc.compute(seg(lp), time, batch, classes, seg(t), 3, new long[] {5, 5},
            new long[] {3, 2}, null, seg(g), 1f, false));
    int[] big = {1, 4, 0, 1, 2, 0};
    rejects(IndexOutOfBoundsException.class, "sequence 0, 1] = 4 is outside [0, 4)", g,
        () -> ctc.compute(seg(lp), time, batch, classes, seg(big), 3, new long[] {5, 5},
            new long[] {2, 2}, null, seg(g), 1f, false));
    rejects(IllegalArgumentException.class, "blank 4 is not a class", g, () -> CTCLoss.builder()
        .blank(4).build().compute(seg(lp), time, batch, classes, seg(t), 3, new long[] {5, 5},
            new long[] {2, 2}, null, seg(g), 1f, false));
    rejects(IllegalArgumentException.class, "targetLengths has 1 values", g, () -> ctc.compute(
        seg(lp), time, batch, classes, seg(t), 3, new long[] {5, 5}, new long[] {2}, null,
        seg(g), 1f, false));
    rejects(IndexOutOfBoundsException.class, "targets holds", g, () -> ctc.compute(seg(lp), time,
        batch, classes, seg(t), 0, new long[] {5, 5}, new long[] {4, 3}, null, seg(g), 1f,
        false));
    rejects(IllegalArgumentException.class, "lossOut is only written with reduction NONE", g,
        () -> ctc.compute(seg(lp), time, batch, classes, seg(t), 3, new long[] {5, 5},
            new long[] {2, 2}, seg(new float[2]), seg(g), 1f, false));
    // impossible alignment: +∞, NaN gradient; zeroInfinity: 0 and 0
    int[] rep = {1, 1, 1};
    float[] lp1 = new float[3 * classes];
    Arrays.fill(lp1, (float) Math.log(0.25));
    float[] g1 = new float[lp1.length];
    double v = CTCLoss.builder().reduction(Reduction.SUM).build().compute(seg(lp1), 3, 1,
        classes, seg(rep), 3, new long[] {3}, new long[] {3}, null, seg(g1), 1f, false);
    assertEquals(Double.POSITIVE_INFINITY, v);
    assertTrue(Float.isNaN(g1[1]));
    v = CTCLoss.builder().reduction(Reduction.SUM).zeroInfinity(true).build().compute(seg(lp1),
        3, 1, classes, seg(rep), 3, new long[] {3}, new long[] {3}, null, seg(g1), 1f, false);
    assertEquals(0, v);
    assertArrayEquals(new float[lp1.length], g1);
  }

  @Test
  void classIndexRows() {
    float[] x = new float[3 * 4];
    float[] g = filled(x.length);
    rejects(IndexOutOfBoundsException.class, "targets[row 2] = 4", g, () -> MultiMarginLoss
        .builder().build().compute(seg(x), seg(new int[] {0, 1, 4}), 3, 4, null, seg(g), 1f,
            false));
    rejects(IndexOutOfBoundsException.class, "targets[row 0] = -1", g, () -> MultiMarginLoss
        .builder().build().compute(seg(x), seg(new int[] {-1, 1, 2}), 3, 4, null, seg(g), 1f,
            false));
    rejects(IllegalArgumentException.class, "weight has 3 values", g, () -> MultiMarginLoss
        .builder().weight(new float[3]).build().compute(seg(x), seg(new int[] {0, 1, 2}), 3, 4,
            null, seg(g), 1f, false));
    assertThrows(IllegalArgumentException.class, () -> MultiMarginLoss.builder().p(3).build());
    int[] labels = {0, -1, 0, 0, 1, 2, -1, 0, 3, -2, 0, 0};
    rejects(IndexOutOfBoundsException.class, "targets[row 2, 1] = -2", g, () ->
        MultiLabelMarginLoss.of(Reduction.MEAN, ClassIndexType.INT32).compute(seg(x),
            seg(labels), 3, 4, null, seg(g), 1f, false));
    rejects(IllegalArgumentException.class, "grad and input must not overlap", g, () ->
        MultiLabelMarginLoss.of(Reduction.MEAN, ClassIndexType.INT32).compute(seg(g),
            seg(new int[12]), 3, 4, null, seg(g), 1f, false));
    rejects(IllegalArgumentException.class, "weight has 5 values", g, () ->
        MultiLabelSoftMarginLoss.of(Reduction.MEAN, new float[5]).compute(seg(x),
            seg(new float[12]), 3, 4, null, seg(g), 1f, false));
  }

  @Test
  void pairsAndTriplets() {
    float[] a = new float[8];
    float[] b = new float[7];
    float[] g = filled(8);
    rejects(IndexOutOfBoundsException.class, "x2 holds 7 floats", g, () -> MarginRankingLoss
        .of(Reduction.SUM, 0f).compute(seg(a), seg(b), seg(new float[8]), 8, null, seg(g), null,
            1f, false));
    rejects(IllegalArgumentException.class, "grad1 and x1 must not overlap", g, () ->
        MarginRankingLoss.of(Reduction.SUM, 0f).compute(seg(g), seg(a), seg(new float[8]), 8,
            null, seg(g), null, 1f, false));
    rejects(IllegalArgumentException.class, "dim must be >= 1", g, () -> CosineEmbeddingLoss
        .of(Reduction.MEAN, 0f).compute(seg(a), seg(a), seg(new float[2]), 2, 0, null, seg(g),
            null, 1f, false));
    rejects(IllegalArgumentException.class, "gradScale must be finite", g, () ->
        CosineEmbeddingLoss.of(Reduction.MEAN, 0f).compute(seg(a), seg(new float[8]),
            seg(new float[2]), 2, 4, null, seg(g), null, Float.NaN, false));
    rejects(IllegalArgumentException.class, "gradAnchor and positive must not overlap", g, () ->
        TripletMarginLoss.of(Reduction.MEAN).compute(seg(a), seg(g), seg(new float[8]), 2, 4,
            null, seg(g), null, null, 1f, false));
    assertThrows(IllegalArgumentException.class, () -> TripletMarginLoss.of(Reduction.MEAN, 1f,
        0.5f, 1e-6f, false));
    assertThrows(IllegalArgumentException.class, () -> TripletMarginWithDistanceLoss.of(
        Reduction.MEAN, null, 1f, false));
    assertThrows(IllegalArgumentException.class, () -> PoissonNLLLoss.of(Reduction.MEAN, false,
        false, Float.NaN));
  }

  @Test
  void gaussianVariance() {
    float[] x = new float[6];
    float[] v = {1, 2, -0.5f, 1, 1, 1};
    float[] g = filled(6);
    rejects(IllegalArgumentException.class, "var[2] = -0.5 is negative", g, () ->
        GaussianNLLLoss.of(Reduction.MEAN, false, 1e-6f).compute(seg(x), seg(new float[6]),
            seg(v), 2, 3, false, null, seg(g), null, 1f, false));
    rejects(IndexOutOfBoundsException.class, "var holds 1 floats", g, () -> GaussianNLLLoss
        .of(Reduction.MEAN, false, 1e-6f).compute(seg(x), seg(new float[6]),
            seg(new float[1]), 2, 3, true, null, seg(g), null, 1f, false));
    assertThrows(IllegalArgumentException.class, () -> GaussianNLLLoss.of(Reduction.MEAN, false,
        0f));
    // a variance below eps is clamped, and its gradient is taken at eps (PyTorch's no-grad clamp)
    float[] gv = new float[1];
    float[] gx = new float[1];
    GaussianNLLLoss.of(Reduction.SUM, false, 0.5f).compute(seg(new float[] {1}),
        seg(new float[] {0}), seg(new float[] {0.1f}), 1, 1, false, null, seg(gx), seg(gv), 1f,
        false);
    assertEquals(2f, gx[0], 1e-6f); // d/v' = 1/0.5
    assertEquals(0.5 * (1 / 0.5 - 1 / 0.25), gv[0], 1e-6);
  }

  @Test
  void threadCountsGiveTheSameBits() {
    int rows = 400;
    int dim = 700;
    SplittableRandom r = new SplittableRandom(5);
    float[] a = new float[rows * dim];
    float[] p = new float[rows * dim];
    float[] n = new float[rows * dim];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) r.nextGaussian();
      p[i] = (float) r.nextGaussian();
      n[i] = (float) r.nextGaussian();
    }
    int[] t = new int[rows];
    for (int i = 0; i < rows; i++) {
      t[i] = r.nextInt(dim);
    }
    float[][] outs = new float[2][];
    double[] values = new double[2];
    for (int k = 0; k < 2; k++) {
      Parallelism par = k == 0 ? Parallelism.sequential() : Parallelism.threads(3);
      float[] ga = new float[a.length];
      float[] gp = new float[a.length];
      float[] gm = new float[a.length];
      float[] gc = new float[a.length];
      values[k] = TripletMarginLoss.of(Reduction.MEAN, 1f, 2f, 1e-6f, true)
          .withParallelism(par).compute(seg(a), seg(p), seg(n), rows, dim, null, seg(ga),
              seg(gp), null, 1f, false)
          + MultiMarginLoss.builder().p(2).build().withParallelism(par).compute(seg(a), seg(t),
              rows, dim, null, seg(gm), 1f, false)
          + CosineEmbeddingLoss.of(Reduction.SUM, 0.1f).withParallelism(par).compute(seg(a),
              seg(p), seg(Arrays.copyOf(n, rows)), rows, dim, null, seg(gc), null, 1f, false);
      float[] all = new float[4 * a.length];
      System.arraycopy(ga, 0, all, 0, a.length);
      System.arraycopy(gp, 0, all, a.length, a.length);
      System.arraycopy(gm, 0, all, 2 * a.length, a.length);
      System.arraycopy(gc, 0, all, 3 * a.length, a.length);
      outs[k] = all;
    }
    // bitwise on the scalar path; on the Vector API path the JIT's tiers move last bits, as in
    // ParallelDeterminismTest (a wrong chunking or a race is off by far more)
    if (ParallelDeterminismTest.EXACT) {
      assertEquals(values[0], values[1], 0);
      assertArrayEquals(outs[0], outs[1]);
    } else {
      // a gradient element can be a difference of two terms (triplet), so its last-bit changes
      // are relative to the terms: bound them by ulps of the largest element of each gradient
      assertEquals(values[0], values[1], 1e-6 * Math.abs(values[0]));
      for (int k = 0; k < 4; k++) {
        float scale = 0;
        for (int i = k * a.length; i < (k + 1) * a.length; i++) {
          scale = Math.max(scale, Math.abs(outs[0][i]));
        }
        for (int i = k * a.length; i < (k + 1) * a.length; i++) {
          float u = outs[0][i];
          float v = outs[1][i];
          assertTrue(Math.abs(u - v) <= ParallelDeterminismTest.ULPS * Math.ulp(scale),
              "gradient " + k + "[" + (i - k * a.length) + "]: " + u + " vs " + v);
        }
      }
    }
  }

  @Test
  void inPlaceWhereAllowed() {
    int rows = 37;
    int dim = 29;
    SplittableRandom r = new SplittableRandom(9);
    float[] x = new float[rows * dim];
    float[] y = new float[rows * dim];
    int[] t = new int[rows];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
      y[i] = r.nextInt(2);
    }
    for (int i = 0; i < rows; i++) {
      t[i] = r.nextInt(dim);
    }
    MultiMarginLoss mm = MultiMarginLoss.builder().p(2).margin(0.7f).build();
    MultiLabelSoftMarginLoss ml = MultiLabelSoftMarginLoss.of(Reduction.SUM, null);
    float[] g = new float[x.length];
    float[] inPlace = x.clone();
    double v1 = mm.compute(seg(x), seg(t), rows, dim, null, seg(g), 0.5f, false);
    double v2 = mm.compute(seg(inPlace), seg(t), rows, dim, null, seg(inPlace), 0.5f, false);
    assertEquals(v1, v2, 0);
    assertArrayEquals(g, inPlace);
    inPlace = x.clone();
    v1 = ml.compute(seg(x), seg(y), rows, dim, null, seg(g), 1f, false);
    v2 = ml.compute(seg(inPlace), seg(y), rows, dim, null, seg(inPlace), 1f, false);
    assertEquals(v1, v2, 0);
    assertArrayEquals(g, inPlace);
  }

  @Test
  void ctcSequencesSplitOverThreadsGiveTheSameBits() {
    int time = 120;
    int batch = 48;
    int classes = 40;
    SplittableRandom r = new SplittableRandom(21);
    float[] lp = new float[time * batch * classes];
    for (int i = 0; i < lp.length; i++) {
      lp[i] = (float) (-4 * r.nextDouble());
    }
    long[] inLen = new long[batch];
    long[] tgtLen = new long[batch];
    int total = 0;
    for (int b = 0; b < batch; b++) {
      inLen[b] = time - r.nextInt(40);
      tgtLen[b] = r.nextInt(30);
      total += (int) tgtLen[b];
    }
    int[] targets = new int[total]; // concatenated: each chunk finds its own start
    for (int i = 0; i < total; i++) {
      targets[i] = 1 + r.nextInt(classes - 1);
    }
    float[][] g = new float[2][lp.length];
    float[][] l = new float[2][batch];
    double[] v = new double[2];
    for (int k = 0; k < 2; k++) {
      Parallelism par = k == 0 ? Parallelism.sequential() : Parallelism.threads(3);
      v[k] = CTCLoss.builder().reduction(Reduction.NONE).build().withParallelism(par)
          .compute(seg(lp), time, batch, classes, seg(targets), 0, inLen, tgtLen, seg(l[k]),
              seg(g[k]), 1f, false);
    }
    assertEquals(v[0], v[1], 0);
    assertArrayEquals(l[0], l[1]);
    assertArrayEquals(g[0], g[1]);
    // and the concatenated layout agrees with the padded one
    int stride = 30;
    int[] padded = new int[batch * stride];
    int at = 0;
    for (int b = 0; b < batch; b++) {
      System.arraycopy(targets, at, padded, b * stride, (int) tgtLen[b]);
      at += (int) tgtLen[b];
    }
    float[] gp = new float[lp.length];
    float[] lpd = new float[batch];
    double vp = CTCLoss.builder().reduction(Reduction.NONE).build().compute(seg(lp), time, batch,
        classes, seg(padded), stride, inLen, tgtLen, seg(lpd), seg(gp), 1f, false);
    assertEquals(v[0], vp, 0);
    assertArrayEquals(g[0], gp);
  }
}
