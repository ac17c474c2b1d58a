package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.DistillationLoss;
import dev.fusedloss.KLDivLoss;
import dev.fusedloss.LabelSmoothing;
import dev.fusedloss.LogSoftmax;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftmaxFocalLoss;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * Identities of the softmax family. Exact in real arithmetic; checked to float32 rounding:
 * 4e-6 relative plus an absolute 2e-6 per unit of gradient scale (softmax outputs are ≤ 1, so
 * their float32 error is a few 1e-7; log-sum-exp differences of rows of magnitude ≤ 60 are
 * within a few ulps of 60).
 */
class SoftmaxIdentityProperties {
  interface Body {
    void check(int rows, int classes, long seed);
  }

  static void forAll(Body b) {
    qt().withExamples(Seeds.examples(40)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(1, 24), integers().between(1, 70), longs().all())
        .checkAssert(b::check);
  }

  static void close(String what, double a, double b, double abs) {
    double tol = 4e-6 * Math.max(Math.abs(a), Math.abs(b)) + abs;
    if (!(Math.abs(a - b) <= tol) && !(Double.isNaN(a) && Double.isNaN(b)) && a != b) {
      throw new AssertionError(what + ": " + a + " vs " + b);
    }
  }

  static void closeArrays(String what, float[] a, float[] b, double abs) {
    for (int i = 0; i < a.length; i++) {
      close(what + "[" + i + "]", a[i], b[i], abs);
    }
  }

  static int[] targets(int rows, int classes, long seed) {
    java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
    int[] t = new int[rows];
    for (int i = 0; i < rows; i++) {
      t[i] = r.nextInt(classes);
    }
    return t;
  }

  @Test
  void gradientIsSoftmaxMinusOneHotAndRowsSumToZero() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.SUM).build();
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, false);
      int[] t = targets(rows, classes, seed);
      float[] g = new float[x.length];
      double full = ce.compute(x, t, classes, g);
      // forward-only takes its own code paths (no exponentials kept): same value
      close("forward-only", ce.forward(MemorySegment.ofArray(x), MemorySegment.ofArray(t), rows,
          classes), full, 1e-6 * rows);
      float[] lp = LogSoftmax.apply(x, classes);
      for (int r = 0; r < rows; r++) {
        double sum = 0;
        for (int c = 0; c < classes; c++) {
          int i = r * classes + c;
          double want = Math.exp(lp[i]) - (c == t[r] ? 1 : 0);
          close("grad[" + r + "," + c + "]", g[i], want, 2e-6);
          sum += g[i];
        }
        close("row " + r + " sum", sum, 0, 2e-6 * classes);
      }
    });
  }

  @Test
  void logSoftmaxOverPaddedRowsInPlaceEqualsOutOfPlaceAndTheOracle() {
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, false);
      int stride = classes + (int) Math.floorMod(seed, 5L); // padded rows, padding left alone
      try (Arena arena = Arena.ofConfined()) {
        long n = (long) rows * stride;
        MemorySegment in = arena.allocate(n * 4, 64);
        MemorySegment out = arena.allocate(n * 4, 64);
        for (long i = 0; i < n; i++) {
          in.setAtIndex(ValueLayout.JAVA_FLOAT, i, -7.25f); // padding: must stay as it is
          out.setAtIndex(ValueLayout.JAVA_FLOAT, i, -7.25f);
        }
        for (int r = 0; r < rows; r++) {
          MemorySegment.copy(x, r * classes, in, ValueLayout.JAVA_FLOAT, (long) r * stride * 4,
              classes);
        }
        LogSoftmax.apply(in, stride, rows, classes, out);
        LogSoftmax.apply(in, stride, rows, classes, in); // in place
        for (int r = 0; r < rows; r++) {
          double[] want = dev.fusedloss.oracle.SoftmaxOracle.logSoftmax(
              dev.fusedloss.oracle.SoftmaxOracle.row(x, r, classes, 0));
          for (int c = 0; c < stride; c++) {
            long i = (long) r * stride + c;
            float o = out.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            assertEquals(Float.floatToRawIntBits(o),
                Float.floatToRawIntBits(in.getAtIndex(ValueLayout.JAVA_FLOAT, i)),
                "in place vs out of place at row " + r + ", column " + c);
            if (c >= classes) {
              assertEquals(-7.25f, o, "padding at row " + r + ", column " + c);
            } else {
              close("logSoftmax[" + r + "," + c + "]", o, want[c], 2e-6);
            }
          }
        }
      }
    });
  }

  @Test
  void shiftingARowChangesNothing() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.NONE)
        .labelSmoothing(0.1f).build();
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, false);
      int[] t = targets(rows, classes, seed);
      float[] shifted = x.clone();
      for (int r = 0; r < rows; r++) {
        float k = (r % 3 - 1) * 16f; // powers of two: the shift itself is exact for |x| < 2^19
        for (int c = 0; c < classes; c++) {
          shifted[r * classes + c] += k;
        }
      }
      float[] l1 = new float[rows];
      float[] l2 = new float[rows];
      float[] g1 = new float[x.length];
      float[] g2 = new float[x.length];
      run(ce, x, t, classes, l1, g1);
      run(ce, shifted, t, classes, l2, g2);
      closeArrays("row losses", l1, l2, 1e-5 * 60);
      closeArrays("grad", g1, g2, 2e-6);
    });
  }

  static void run(CrossEntropyLoss ce, float[] x, int[] t, int classes, float[] losses, float[] g) {
    ce.compute(MemorySegment.ofArray(x), classes, MemorySegment.ofArray(t), t.length, classes,
        MemorySegment.ofArray(losses), MemorySegment.ofArray(g), 1f, false);
  }

  @Test
  void oneHotSoftTargetsEqualClassIndicesAndSmoothedSoftTargetsEqualSmoothing() {
    for (Reduction r : new Reduction[] {Reduction.MEAN, Reduction.SUM}) {
      float eps = 0.2f;
      CrossEntropyLoss plain = CrossEntropyLoss.builder().reduction(r).build();
      CrossEntropyLoss smooth = CrossEntropyLoss.builder().reduction(r).labelSmoothing(eps).build();
      forAll((rows, classes, seed) -> {
        float[] x = Rows.logits(rows, classes, seed, false);
        int[] t = targets(rows, classes, seed);
        float[] oneHot = new float[x.length];
        for (int i = 0; i < rows; i++) {
          oneHot[i * classes + t[i]] = 1f;
        }
        float[] ga = new float[x.length];
        float[] gb = new float[x.length];
        close("one-hot value", plain.compute(x, t, classes, ga),
            plain.computeSoft(x, oneHot, classes, gb), 1e-6 * 60);
        closeArrays("one-hot grad", ga, gb, 2e-6);
        float[] q = LabelSmoothing.apply(oneHot, eps, classes);
        close("smoothed value", smooth.compute(x, t, classes, ga),
            plain.computeSoft(x, q, classes, gb), 1e-6 * 60);
        closeArrays("smoothed grad", ga, gb, 2e-6);
      });
    }
  }

  @Test
  void ignoredRowsHaveZeroGradientAndDoNotCount() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.MEAN).ignoreIndex(-1).build();
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, false);
      int[] t = targets(rows, classes, seed);
      int[] withIgnored = t.clone();
      int kept = 0;
      for (int r = 0; r < rows; r++) {
        if (r % 3 == 1) {
          withIgnored[r] = -1;
        } else {
          kept++;
        }
      }
      for (int r = 1; r < rows; r += 3) { // ignored rows may hold anything, even NaN
        x[r * classes] = r % 2 == 0 ? Float.NaN : Float.POSITIVE_INFINITY;
      }
      float[] g = new float[x.length];
      java.util.Arrays.fill(g, 9f);
      double v = ce.compute(x, withIgnored, classes, g);
      double sum = 0;
      for (int r = 0; r < rows; r++) {
        if (withIgnored[r] == -1) {
          for (int c = 0; c < classes; c++) {
            assertEquals(0f, g[r * classes + c], "ignored row " + r);
          }
        } else {
          float[] one = java.util.Arrays.copyOfRange(x, r * classes, (r + 1) * classes);
          sum += CrossEntropyLoss.builder().reduction(Reduction.SUM).build()
              .compute(one, new int[] {t[r]}, classes, null);
        }
      }
      close("mean over kept rows", v, kept == 0 ? Double.NaN : sum / kept, 1e-6 * 60);
    });
  }

  @Test
  void focalWithGammaZeroIsCrossEntropy() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.MEAN).build();
    SoftmaxFocalLoss focal = SoftmaxFocalLoss.builder().reduction(Reduction.MEAN).gamma(0f).build();
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, true);
      int[] t = Rows.targets(x, rows, classes, seed, -100);
      float[] ga = new float[x.length];
      float[] gb = new float[x.length];
      close("value", ce.compute(x, t, classes, ga), focal.compute(x, t, classes, gb), 1e-6);
      closeArrays("grad", ga, gb, 2e-6);
    });
  }

  @Test
  void divergenceOfADistributionFromItselfIsZero() {
    DistillationLoss distill = DistillationLoss.of(Reduction.BATCH_MEAN, 3f);
    KLDivLoss kl = KLDivLoss.of(Reduction.BATCH_MEAN, false);
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, false);
      float[] g = new float[x.length];
      close("distill(x, x)", distill.compute(x, x.clone(), classes, g), 0, 1e-5);
      for (float v : g) {
        close("distill grad", v, 0, 1e-7);
      }
      float[] lp = LogSoftmax.apply(x, classes);
      float[] p = new float[lp.length];
      for (int i = 0; i < p.length; i++) {
        p[i] = (float) Math.exp(lp[i]);
      }
      close("KL(p‖p)", kl.compute(lp, p, classes, null), 0, 1e-5);
    });
  }

  @Test
  void maskedLogitsGetZeroGradient() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.MEAN).build();
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, false);
      int[] t = targets(rows, classes, seed);
      for (int i = 0; i < x.length; i++) {
        if (i % classes != t[i / classes] && i % 3 == 0) {
          x[i] = Float.NEGATIVE_INFINITY;
        }
      }
      float[] g = new float[x.length];
      double v = ce.compute(x, t, classes, g);
      assertEquals(true, Double.isFinite(v), "finite loss with masked classes");
      for (int i = 0; i < x.length; i++) {
        if (x[i] == Float.NEGATIVE_INFINITY) {
          assertEquals(0f, g[i] + 0f, "masked class " + i);
        }
      }
    });
  }

  @Test
  void finiteDifferencesMatchTheGradient() {
    CrossEntropyLoss[] losses = {
      CrossEntropyLoss.builder().reduction(Reduction.SUM).build(),
      CrossEntropyLoss.builder().reduction(Reduction.SUM).labelSmoothing(0.2f)
          .weight(new float[] {0.5f, 2f, 1f, 1.5f, 0.25f}).zLoss(0.01f).build(),
      CrossEntropyLoss.builder().reduction(Reduction.SUM).softcap(2f).labelSmoothing(0.1f).build(),
    };
    for (CrossEntropyLoss ce : losses) {
      qt().withExamples(Seeds.examples(25)).withFixedSeed(Seeds.seed())
          .forAll(integers().between(1, 4), longs().all())
          .checkAssert((rows, seed) -> {
            int classes = 5;
            float[] x = Rows.logits(rows, classes, seed, false);
            int[] t = targets(rows, classes, seed);
            float[] g = new float[x.length];
            ce.compute(x, t, classes, g);
            for (int i = 0; i < x.length; i++) {
              double h = 1e-2 * Math.max(1, Math.abs(x[i]));
              float[] up = x.clone();
              float[] down = x.clone();
              up[i] = (float) (x[i] + h);
              down[i] = (float) (x[i] - h);
              // the losses are float32 sums: central differences over a step of 1e-2 are
              // good to ~1e-4 (truncation h² plus float rounding / h)
              double fd = (ce.compute(up, t, classes, null) - ce.compute(down, t, classes, null))
                  / ((double) up[i] - down[i]);
              close("FD at " + i, g[i], fd, 2e-3 * Math.max(1, Math.abs(fd)));
            }
          });
    }
  }

  @Test
  void inPlaceEqualsOutOfPlace() {
    CrossEntropyLoss[] losses = {
      CrossEntropyLoss.builder().reduction(Reduction.MEAN).build(),
      CrossEntropyLoss.builder().reduction(Reduction.MEAN).labelSmoothing(0.1f).zLoss(1e-3f).build(),
      CrossEntropyLoss.builder().reduction(Reduction.SUM).softcap(10f).build(),
    };
    for (CrossEntropyLoss ce : losses) {
      forAll((rows, classes, seed) -> {
        float[] x = Rows.logits(rows, classes, seed, true);
        int[] t = Rows.targets(x, rows, classes, seed, -100);
        float[] g = new float[x.length];
        double v = ce.compute(x, t, classes, g);
        try (Arena arena = Arena.ofConfined()) {
          MemorySegment xs = arena.allocate((long) x.length * 4, 64);
          MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT, 0, x.length);
          double vi = ce.compute(xs, MemorySegment.ofArray(t), rows, classes, xs);
          close("value", v, vi, 1e-6);
          closeArrays("in-place grad", g, xs.toArray(ValueLayout.JAVA_FLOAT), 2e-6);
        }
      });
    }
  }

  @Test
  void accumulateAddsAndForwardOnlyAgrees() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.MEAN).labelSmoothing(0.1f)
        .build();
    forAll((rows, classes, seed) -> {
      float[] x = Rows.logits(rows, classes, seed, true);
      int[] t = Rows.targets(x, rows, classes, seed, -100);
      float[] g = new float[x.length];
      double v = ce.compute(x, t, classes, g);
      close("forward", v, ce.compute(x, t, classes, null), 0);
      float[] acc = new float[x.length];
      java.util.Arrays.fill(acc, 0.5f);
      ce.compute(MemorySegment.ofArray(x), classes, MemorySegment.ofArray(t), rows, classes, null,
          MemorySegment.ofArray(acc), 2f, true);
      float[] want = new float[x.length];
      for (int i = 0; i < x.length; i++) {
        want[i] = 0.5f + 2f * g[i];
      }
      closeArrays("accumulate", want, acc, 2e-6);
    });
  }
}
