package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.ClassIndexType;
import dev.fusedloss.OhemCrossEntropyLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.internal.TopK;
import dev.fusedloss.oracle.SoftmaxOracle;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Hard-example mining against a double oracle that sorts: random rows (0…300, classes 1…70,
 * some of a few hundred), keep from 0 to past the row count, with and without a probability
 * threshold and class weights, ignored rows, int32 and int64 targets, every reduction and call
 * mode (overwrite, in place, accumulate, forward only). Examples whose k-th and next hardness lie
 * within float rounding of each other are passed over: there the float selection may rightly
 * differ from the double one (the conformance file has exact ties of its own).
 */
class OhemProperties {
  record Want(double value, double[] rows, double[] grad) {}

  static Want oracle(float[] x, int[] t, int classes, float[] w, int ignore, long keep,
      float thresh, Reduction r, float gradScale) {
    int n = t.length;
    double[] g0 = new double[x.length];
    double[] l0 = SoftmaxOracle.crossEntropy(x, t, classes, null, ignore, 0, 0, 0, g0);
    List<Integer> valid = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      if (t[i] != ignore) {
        valid.add(i);
      }
    }
    boolean byP = !Float.isNaN(thresh);
    double[] key = new double[n]; // larger is harder
    for (int i = 0; i < n; i++) {
      if (t[i] != ignore) {
        key[i] = byP ? -Math.exp(-l0[i]) : (w == null ? 1 : w[t[i]]) * l0[i];
      }
    }
    List<Integer> order = new ArrayList<>(valid);
    order.sort(Comparator.<Integer>comparingDouble(i -> -key[i]).thenComparingInt(i -> i));
    int k = (int) Math.min(keep, valid.size());
    if (k > 0 && k < order.size()) {
      double a = key[order.get(k - 1)];
      double b = key[order.get(k)];
      if (Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(a), Math.abs(b)) && a != b) {
        return null; // a near tie: float and double may rightly choose differently
      }
    }
    boolean[] kept = new boolean[n];
    for (int j = 0; j < k; j++) {
      kept[order.get(j)] = true;
    }
    if (byP) {
      for (int i : valid) {
        double p = Math.exp(-l0[i]);
        if (Math.abs(p - thresh) <= 1e-5) {
          return null;
        }
        kept[i] |= p < thresh;
      }
    }
    double sum = 0;
    double norm = 0;
    double[] rows = new double[n];
    for (int i = 0; i < n; i++) {
      if (kept[i]) {
        double wt = w == null ? 1 : w[t[i]];
        rows[i] = wt * l0[i];
        sum += Tolerance.float32Range(rows[i]);
        norm += wt;
      }
    }
    double coef = r == Reduction.MEAN ? gradScale / norm : gradScale;
    double[] grad = new double[x.length];
    for (int i = 0; i < n; i++) {
      if (kept[i]) {
        double wt = w == null ? 1 : w[t[i]];
        for (int c = 0; c < classes; c++) {
          grad[i * classes + c] = wt * coef * g0[i * classes + c];
        }
      }
    }
    return new Want(r == Reduction.MEAN ? sum / norm : sum, rows, grad);
  }

  @Test
  void matchesTheSortingOracle() {
    qt().withExamples(Seeds.examples(120)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(0, 300), integers().between(1, 70), longs().all(),
            integers().between(0, 255))
        .checkAssert((rows0, classes0, seed, flags) -> {
          int classes = (flags & 64) != 0 && classes0 < 8 ? 200 + classes0 * 31 : classes0;
          int rows = classes > 100 ? Math.min(rows0, 40) : rows0;
          SplittableRandom rnd = new SplittableRandom(seed);
          float[] x = Rows.logits(rows, classes, seed, false);
          int ignore = (flags & 1) != 0 ? 1 : -100;
          int[] t = Rows.targets(x, rows, classes, seed, ignore);
          float[] w = (flags & 2) != 0 ? SoftmaxOracleProperties.toFloat(
              SoftmaxOracleProperties.weights(classes, seed)) : null;
          long keep = rnd.nextInt(rows + 3);
          float thresh = (flags & 4) != 0 ? (float) (0.05 + 0.9 * rnd.nextDouble()) : Float.NaN;
          Reduction r = new Reduction[] {Reduction.MEAN, Reduction.SUM, Reduction.NONE}[
              (flags >> 3) % 3];
          int mode = (flags >> 5) & 3; // 0 overwrite, 1 in place, 2 accumulate, 3 forward
          float gradScale = (flags & 128) != 0 ? -0.5f : 1f;
          boolean int64 = (rows & 1) == 1;
          Want want = oracle(x, t, classes, w, ignore, keep, thresh, r, gradScale);
          if (want == null) {
            return;
          }
          OhemCrossEntropyLoss loss = OhemCrossEntropyLoss.builder().reduction(r).keep(keep)
              .thresh(thresh).ignoreIndex(ignore).weight(w)
              .targetType(int64 ? ClassIndexType.INT64 : ClassIndexType.INT32).build();
          float[] xs = x.clone();
          float[] init = new float[x.length];
          for (int i = 0; i < init.length; i++) {
            init[i] = (float) rnd.nextDouble();
          }
          float[] g = mode == 2 ? init.clone() : new float[x.length];
          float[] losses = r == Reduction.NONE ? new float[rows] : null;
          MemorySegment gs = mode == 1 ? MemorySegment.ofArray(xs) : mode == 3 ? null
              : MemorySegment.ofArray(g);
          double v = loss.compute(MemorySegment.ofArray(xs), classes,
              SoftmaxOracleProperties.indexSegmentAs(t, int64), rows, classes,
              losses == null ? null : MemorySegment.ofArray(losses), gs, gradScale, mode == 2);
          String ctx = r + " rows=" + rows + " classes=" + classes + " keep=" + keep
              + " thresh=" + thresh + " weighted=" + (w != null) + " mode=" + mode + " seed="
              + seed;
          String m = Tolerance.compare(v, want.value(), Math.max(1, Math.abs(want.value())));
          if (m != null && !(Double.isNaN(v) && Double.isNaN(want.value()))) {
            throw new AssertionError(ctx + " value: " + m);
          }
          if (losses != null) {
            Tolerance.assertVector(ctx + " row losses", losses, want.rows());
          }
          if (mode == 3) {
            return;
          }
          float[] got = mode == 1 ? xs : g;
          double[] exp = want.grad().clone();
          double scale = Tolerance.scale(exp);
          if (mode == 2) {
            for (int i = 0; i < exp.length; i++) {
              exp[i] += init[i];
            }
            scale = Math.max(scale, 1);
          }
          Tolerance.assertVector(ctx + " grad", got, exp, scale);
        });
  }

  @Test
  void topKAgreesWithASortOnTiesNaNsAndSignedZeros() {
    SplittableRandom r = new SplittableRandom(5);
    int[] hist = new int[2048];
    for (int trial = 0; trial < 300; trial++) {
      int n = r.nextInt(1, 400);
      float[] keys = new float[n];
      boolean[] valid = new boolean[n];
      float[] pool = {0f, -0f, 1f, 1f, 2.5f, -3f, Float.NaN, Float.POSITIVE_INFINITY,
          Float.NEGATIVE_INFINITY, Float.MIN_VALUE, 1e30f, -1e-30f};
      for (int i = 0; i < n; i++) {
        keys[i] = r.nextInt(3) == 0 ? pool[r.nextInt(pool.length)] : (float) r.nextGaussian();
        valid[i] = r.nextInt(6) != 0;
      }
      long k = r.nextInt(n + 2);
      boolean[] kept = new boolean[n];
      int marked = TopK.markLargest(keys, valid, n, k, kept, hist, new int[n], new int[n]);
      Integer[] idx = new Integer[n];
      for (int i = 0; i < n; i++) {
        idx[i] = i;
      }
      // Float.compare orders NaN largest and −0 below +0, as TopK promises
      Arrays.sort(idx, (a, b) -> {
        int c = Float.compare(keys[b], keys[a]);
        return c != 0 ? c : Integer.compare(a, b);
      });
      boolean[] want = new boolean[n];
      int taken = 0;
      for (int i : idx) {
        if (valid[i] && taken < k) {
          want[i] = true;
          taken++;
        }
      }
      assertEquals(taken, marked, "trial " + trial);
      for (int i = 0; i < n; i++) {
        assertEquals(want[i], kept[i], "trial " + trial + " index " + i + " key " + keys[i]);
      }
    }
  }

  @Test
  void badArgumentsThrowBeforeAnythingIsWritten() {
    assertThrows(IllegalArgumentException.class,
        () -> OhemCrossEntropyLoss.builder().keep(-1).build());
    assertThrows(IllegalArgumentException.class,
        () -> OhemCrossEntropyLoss.builder().keep(1).thresh(0f).build());
    assertThrows(IllegalArgumentException.class,
        () -> OhemCrossEntropyLoss.builder().keep(1).thresh(1.5f).build());
    float[] x = {1f, 2f, 3f, 4f, 5f, 6f};
    float[] g = {7f, 7f, 7f, 7f, 7f, 7f};
    OhemCrossEntropyLoss l = OhemCrossEntropyLoss.builder().keep(1).build();
    assertThrows(IndexOutOfBoundsException.class, () -> l.compute(x, new int[] {0, 3}, 3, g));
    for (float v : g) {
      assertEquals(7f, v);
    }
  }
}
