package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.ClassIndexType;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.oracle.SoftmaxOracle;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * PyTorch's N-d layout, the class axis at dim 1 ({@code [N, C, d1, …, dk]}): cross entropy
 * (class indices with weights, ignoreIndex, smoothing, z-loss; soft targets) and NLL against the
 * double oracle applied to the transposed rows ({@code [N·S, C]}), for spatial sizes around the
 * vector width and beyond one tile and 64 classes, batches whose rows a vector block or a tile
 * straddles, in every call mode (NONE losses,
 * gradient scale, accumulation, in place, int64 targets), −∞ masked logits and ignored positions
 * included. Tolerance: the oracle's ({@link Tolerance}).
 */
class SpatialLayoutProperties {
  @TestFactory
  Stream<DynamicTest> matchTheOracleOnTransposedRows() {
    return Stream.of("ce", "soft", "nll").map(kind -> DynamicTest.dynamicTest(kind, () ->
        qt().withExamples(Seeds.examples(80)).withFixedSeed(Seeds.seed())
            .forAll(integers().between(0, 4), integers().between(1, 40),
                integers().between(1, 70), longs().all())
            .checkAssert((batch, classes, spatial, seed) ->
                check(kind, batch, classes, spatial, seed))));
  }

  /**
   * Shapes past the kernel's blocking: more classes than its float sums carry before they go to
   * double (64), and more positions than one tile (512), with a tile boundary inside a batch item.
   */
  @TestFactory
  Stream<DynamicTest> largeShapesMatchTheOracle() {
    return Stream.of("ce", "soft", "nll").map(kind -> DynamicTest.dynamicTest(kind, () ->
        qt().withExamples(Seeds.examples(12)).withFixedSeed(Seeds.seed())
            .forAll(integers().between(1, 3), integers().between(60, 140),
                integers().between(500, 1300), longs().all())
            .checkAssert((batch, classes, spatial, seed) ->
                check(kind, batch, classes, spatial, seed))));
  }

  static void check(String kind, int batch, int classes, int spatial, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int flags = (int) (seed >>> 40);
    int rows = batch * spatial;
    int n = rows * classes;
    float[] x = new float[n]; // [N, C, S]
    float[] q = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (rnd.nextGaussian() * 3);
      q[i] = (float) rnd.nextDouble();
    }
    if ((flags & 1) != 0 && n > 0) {
      x[rnd.nextInt(n)] = Float.NEGATIVE_INFINITY; // a masked logit
    }
    int ignore = (flags & 2) != 0 ? 1 : -100;
    int[] t = new int[rows];
    for (int r = 0; r < rows; r++) {
      t[r] = rnd.nextInt(4) == 0 ? ignore : rnd.nextInt(classes);
    }
    float[] w = (flags & 4) != 0 ? new float[classes] : null;
    if (w != null) {
      for (int c = 0; c < classes; c++) {
        w[c] = (float) (0.25 + rnd.nextDouble() * 2);
      }
    }
    float eps = (flags & 8) != 0 ? 0.2f : 0f;
    // z-loss with weights: MEAN divides its term by the kept rows, the rest by the weight sum
    float z = (flags & 16) != 0 && kind.equals("ce") && w == null ? 1e-3f : 0f;
    Reduction red = Reduction.values()[(flags >> 5) % 3];
    float scale = (flags & 128) != 0 ? -0.5f : 1f;
    boolean acc = (flags & 256) != 0;
    boolean inPlace = !acc && (flags & 512) != 0;
    boolean int64 = (flags & 1024) != 0;
    // the same problem as rows [N·S, C]
    float[] xr = new float[n];
    float[] qr = new float[n];
    for (int b = 0; b < batch; b++) {
      for (int c = 0; c < classes; c++) {
        for (int s = 0; s < spatial; s++) {
          int src = (b * classes + c) * spatial + s;
          int dst = (b * spatial + s) * classes + c;
          xr[dst] = x[src];
          qr[dst] = q[src];
        }
      }
    }
    for (int r = 0; r < rows; r++) { // soft targets: each row a distribution
      double sum = 0;
      for (int c = 0; c < classes; c++) {
        sum += qr[r * classes + c];
      }
      for (int c = 0; c < classes; c++) {
        qr[r * classes + c] = (float) (qr[r * classes + c] / sum);
      }
    }
    for (int b = 0; b < batch; b++) {
      for (int c = 0; c < classes; c++) {
        for (int s = 0; s < spatial; s++) {
          q[(b * classes + c) * spatial + s] = qr[(b * spatial + s) * classes + c];
        }
      }
    }
    double[] gr = new double[n];
    double[] lr = switch (kind) {
      case "ce" -> SoftmaxOracle.crossEntropy(xr, t, classes, w, ignore, eps, z, 0, gr);
      case "soft" -> SoftmaxOracle.softCrossEntropy(xr, qr, classes, w, eps, gr);
      default -> SoftmaxOracle.nll(xr, t, classes, w, ignore, gr);
    };
    double norm = 0;
    for (int r = 0; r < rows; r++) {
      if (kind.equals("soft")) {
        norm += 1;
      } else if (t[r] != ignore) {
        norm += w == null ? 1 : w[t[r]];
      }
    }
    double sum = 0;
    for (double v : lr) {
      sum += v;
    }
    double div = red == Reduction.MEAN ? norm : 1;
    String ctx = kind + " batch=" + batch + " C=" + classes + " S=" + spatial + " seed=" + seed
        + " flags=" + flags;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment xs = a.allocate(Math.max(4, n * 4L));
      MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT, 0, n);
      MemorySegment ts;
      if (int64) {
        ts = a.allocate(Math.max(8, rows * 8L));
        for (int r = 0; r < rows; r++) {
          ts.setAtIndex(ValueLayout.JAVA_LONG, r, t[r]);
        }
      } else {
        ts = a.allocate(Math.max(4, rows * 4L));
        MemorySegment.copy(t, 0, ts, ValueLayout.JAVA_INT, 0, rows);
      }
      MemorySegment qs = a.allocate(Math.max(4, n * 4L));
      MemorySegment.copy(q, 0, qs, ValueLayout.JAVA_FLOAT, 0, n);
      float[] g0 = new float[n];
      for (int i = 0; i < n; i++) {
        g0[i] = acc ? (float) rnd.nextGaussian() : Float.NaN;
      }
      MemorySegment gs = inPlace ? xs : a.allocate(Math.max(4, n * 4L));
      if (!inPlace) {
        MemorySegment.copy(g0, 0, gs, ValueLayout.JAVA_FLOAT, 0, n);
      }
      MemorySegment ls = red == Reduction.NONE ? a.allocate(Math.max(4, rows * 4L)) : null;
      ClassIndexType type = int64 ? ClassIndexType.INT64 : ClassIndexType.INT32;
      double got = switch (kind) {
        case "ce" -> CrossEntropyLoss.builder().reduction(red).weight(w).ignoreIndex(ignore)
            .labelSmoothing(eps).zLoss(z).targetType(type).build()
            .computeSpatial(xs, ts, batch, classes, spatial, ls, gs, scale, acc);
        case "soft" -> CrossEntropyLoss.builder().reduction(red).weight(w).labelSmoothing(eps)
            .build().computeSoftSpatial(xs, qs, batch, classes, spatial, ls, gs, scale, acc);
        default -> NLLLoss.builder().reduction(red).weight(w).ignoreIndex(ignore)
            .targetType(type).build()
            .computeSpatial(xs, ts, batch, classes, spatial, ls, gs, scale, acc);
      };
      if (norm == 0 && red == Reduction.MEAN) {
        return; // 0/0: NaN as PyTorch, covered by the row kernels' tests
      }
      Tolerance.assertVector(ctx + " value", new float[] {(float) got},
          new double[] {sum / div}, Tolerance.scale(lr));
      if (ls != null) {
        Tolerance.assertVector(ctx + " losses", ls.toArray(ValueLayout.JAVA_FLOAT), lr);
      }
      float[] g = gs.asSlice(0, n * 4L).toArray(ValueLayout.JAVA_FLOAT);
      double[] want = new double[n];
      for (int b = 0; b < batch; b++) {
        for (int c = 0; c < classes; c++) {
          for (int s = 0; s < spatial; s++) {
            int i = (b * classes + c) * spatial + s;
            want[i] = gr[(b * spatial + s) * classes + c] * scale / div + (acc ? g0[i] : 0);
          }
        }
      }
      Tolerance.assertVector(ctx + " grad", g, want);
    }
  }

  @Test
  void badShapesAndTargetsThrowNamingThem() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().build();
    MemorySegment x = MemorySegment.ofArray(new float[2 * 3 * 4]);
    float[] g = new float[24];
    java.util.Arrays.fill(g, 7f);
    MemorySegment gs = MemorySegment.ofArray(g);
    int[] t = new int[8];
    t[5] = 3; // class 3 of 3
    Exception e = assertThrows(IndexOutOfBoundsException.class, () -> ce.computeSpatial(x,
        MemorySegment.ofArray(t), 2, 3, 4, null, gs, 1f, false));
    assertEquals(true, e.getMessage().contains("row 5"), e.getMessage());
    e = assertThrows(IndexOutOfBoundsException.class, () -> ce.computeSpatial(x,
        MemorySegment.ofArray(new int[8]), 2, 3, 5, null, gs, 1f, false));
    assertEquals(true, e.getMessage().contains("logits"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ce.computeSpatial(x,
        MemorySegment.ofArray(new int[8]), 2, 3, 0, null, gs, 1f, false));
    assertEquals(true, e.getMessage().contains("spatial"), e.getMessage());
    assertThrows(IllegalStateException.class, () -> CrossEntropyLoss.builder().softcap(5f)
        .build().computeSpatial(x, MemorySegment.ofArray(new int[8]), 2, 3, 4, null, gs, 1f,
            false));
    for (float v : g) {
      assertEquals(7f, v, "a failing call wrote the gradient");
    }
  }
}
