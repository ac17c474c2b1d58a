package dev.fusedloss.props;

import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.OhemElementwiseLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.props.Specs.Spec;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Element-wise hard-example mining over every element-wise loss configuration of {@link Specs},
 * against the double oracle sorted by hand: random sizes (0…2000, some over a parallel chunk),
 * keep from 0 to past n, every reduction and call mode. Examples whose k-th and next losses lie
 * within float rounding of each other are passed over (float and double may rightly differ).
 */
class OhemElementwiseProperties {
  @TestFactory
  List<DynamicTest> matchesTheSortingOracle() {
    return Specs.all().stream()
        .map(s -> DynamicTest.dynamicTest(s.name(), () -> property(s))).toList();
  }

  static void property(Spec spec) {
    qt().withExamples(Seeds.examples(20)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(0, 2000), longs().all(), integers().between(0, 63))
        .checkAssert((n0, seed, flags) -> {
          int n = (flags & 32) != 0 ? 66_000 + n0 : n0; // past one chunk: the split path
          if (spec.columns() > 0) {
            n -= n % spec.columns();
          }
          SplittableRandom rnd = new SplittableRandom(seed);
          float[] x = Data.make(spec.x(), n, seed, false);
          float[] y = Data.make(spec.y(), n, seed * 31 + 7, false);
          Reduction r = Specs.REDUCTIONS[flags % 3];
          int mode = (flags >> 2) & 3; // 0 overwrite, 1 in place, 2 accumulate, 3 forward
          long keep = rnd.nextInt(n + 3);
          double[] deriv = new double[n];
          double[] l = spec.oracle().apply(x, y, deriv);
          Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
          Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -l[i]).thenComparingInt(i -> i));
          int k = (int) Math.min(keep, n);
          if (k > 0 && k < n) {
            double a = l[order[k - 1]];
            double b = l[order[k]];
            if (a != b && Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(a), Math.abs(b))) {
              return;
            }
            if (Double.isNaN(a) || Double.isNaN(b)) {
              return;
            }
          }
          boolean[] kept = new boolean[n];
          for (int j = 0; j < k; j++) {
            kept[order[j]] = true;
          }
          double sum = 0;
          double[] rows = new double[n];
          for (int i = 0; i < n; i++) {
            if (kept[i]) {
              rows[i] = l[i];
              sum += Tolerance.float32Range(l[i]);
            }
          }
          double coef = r == Reduction.MEAN ? 1.0 / k : 1.0;
          OhemElementwiseLoss loss = OhemElementwiseLoss.of(spec.make().apply(Reduction.SUM), r,
              keep);
          float[] xs = x.clone();
          float[] init = new float[n];
          for (int i = 0; i < n; i++) {
            init[i] = (float) rnd.nextDouble();
          }
          float[] g = mode == 2 ? init.clone() : new float[n];
          float[] losses = r == Reduction.NONE ? new float[n] : null;
          MemorySegment gs = mode == 1 ? MemorySegment.ofArray(xs) : mode == 3 ? null
              : MemorySegment.ofArray(g);
          double v = loss.compute(MemorySegment.ofArray(xs), MemorySegment.ofArray(y), n,
              losses == null ? null : MemorySegment.ofArray(losses), gs, 1f, mode == 2);
          String ctx = spec.name() + " " + r + " n=" + n + " keep=" + keep + " mode=" + mode
              + " seed=" + seed;
          double want = r == Reduction.MEAN ? sum / k : sum;
          double tol = 0;
          double s = Tolerance.scale(rows);
          for (double d : rows) {
            tol += Tolerance.RTOL * Math.abs(d) + Tolerance.ATOL * s;
          }
          if (r == Reduction.MEAN) {
            tol /= k;
          }
          boolean ok = Double.isNaN(want) ? Double.isNaN(v)
              : !Double.isFinite(want) ? v == want : Math.abs(v - want) <= tol;
          if (!ok) {
            throw new AssertionError(ctx + " value: got " + v + ", want " + want);
          }
          if (losses != null) {
            Tolerance.assertVector(ctx + " losses", losses, rows);
          }
          if (mode == 3) {
            return;
          }
          double[] exp = new double[n];
          for (int i = 0; i < n; i++) {
            exp[i] = kept[i] ? deriv[i] * coef : 0;
          }
          double scale = Tolerance.scale(exp);
          if (mode == 2) {
            for (int i = 0; i < n; i++) {
              exp[i] += init[i];
            }
            scale = Math.max(scale, 1);
          }
          Tolerance.assertVector(ctx + " grad", mode == 1 ? xs : g, exp, scale);
        });
  }
}
