package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.HuberLoss;
import dev.fusedloss.L1Loss;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SigmoidFocalLoss;
import dev.fusedloss.SmoothL1Loss;
import dev.fusedloss.oracle.Oracle;
import dev.fusedloss.props.Data.Domain;
import dev.fusedloss.props.Specs.Spec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Algebraic identities between kernels, reductions and call modes.
 *
 * <p>Identities that hold exactly in real arithmetic are checked to a few float32 ulps (4e-6
 * relative): besides rounding, the Vector API computes exp/log/pow with the JIT's intrinsics once
 * a kernel is compiled but with its Java fallback before that, and the two differ by an ulp.
 */
class ElementwiseIdentityProperties {
  static final int EXAMPLES = 40;

  interface Body {
    void check(int n, long seed);
  }

  static void forAll(Body body) {
    qt().withExamples(Seeds.examples(EXAMPLES)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(0, 3000), longs().all())
        .checkAssert(body::check);
  }

  static float[] grad(ElementwiseLoss loss, float[] x, float[] y) {
    float[] g = new float[x.length];
    loss.compute(x, y, g);
    return g;
  }

  /** Relative closeness for identities that hold up to float rounding (a few ulps). */
  static void close(String what, double a, double b) {
    double tol = 4e-6 * Math.max(Math.abs(a), Math.abs(b)) + 1e-30;
    if (!(Math.abs(a - b) <= tol) && !(Double.isNaN(a) && Double.isNaN(b)) && a != b) {
      throw new AssertionError(what + ": " + a + " vs " + b);
    }
  }

  static void closeArrays(String what, float[] a, float[] b) {
    closeArrays(what, a, b, 0);
  }

  /**
   * As above with an absolute floor, for identities whose two sides round differently around a
   * cancellation (e.g. p(1−y) − y(1−p) against σ − y: an error of an ulp of the operands).
   */
  static void closeArrays(String what, float[] a, float[] b, double abs) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s = Math.max(s, Math.abs(a[i]));
    }
    for (int i = 0; i < a.length; i++) {
      double tol = 4e-6 * Math.max(Math.abs(a[i]), Math.abs(b[i])) + 1e-7 * s + abs;
      if (!(Math.abs(a[i] - b[i]) <= tol) && Float.compare(a[i], b[i]) != 0) {
        throw new AssertionError(what + "[" + i + "]: " + a[i] + " vs " + b[i]);
      }
    }
  }

  @Test
  void mseGradientIsTwoDiffOverN() {
    MSELoss mse = MSELoss.of(Reduction.MEAN);
    forAll((n, seed) -> {
      float[] x = Data.make(Domain.REAL, n, seed, false);
      float[] y = Data.make(Domain.REAL, n, seed + 1, false);
      float[] g = grad(mse, x, y);
      for (int i = 0; i < n; i++) {
        double want = 2.0 * ((double) x[i] - y[i]) / n;
        assertEquals(want, g[i], 1e-6 * Math.abs(want) + 1e-38, "grad[" + i + "]");
      }
    });
  }

  @Test
  void bceWithLogitsGradientIsSigmoidMinusTarget() {
    BCEWithLogitsLoss loss = BCEWithLogitsLoss.builder().reduction(Reduction.SUM).build();
    forAll((n, seed) -> {
      float[] x = Data.make(Domain.LOGIT, n, seed, true);
      float[] y = Data.make(Domain.TARGET01, n, seed + 1, true);
      float[] g = grad(loss, x, y);
      for (int i = 0; i < n; i++) {
        double sig = 1 / (1 + Math.exp(-(double) x[i]));
        double want = sig - y[i];
        assertEquals(want, g[i], 1e-6 + 1e-5 * Math.abs(want), "grad[" + i + "] x=" + x[i]);
      }
    });
  }

  @Test
  void focalWithGammaZeroAndNoAlphaIsBceWithLogits() {
    for (Reduction r : Specs.REDUCTIONS) {
      SigmoidFocalLoss focal = SigmoidFocalLoss.builder().reduction(r).gamma(0f).alpha(-1f).build();
      BCEWithLogitsLoss bce = BCEWithLogitsLoss.builder().reduction(r).build();
      forAll((n, seed) -> {
        float[] x = Data.make(Domain.LOGIT, n, seed, true);
        float[] y = Data.make(Domain.TARGET01, n, seed + 1, true);
        float[] gf = new float[n];
        float[] gb = new float[n];
        close("value", focal.compute(x, y, gf), bce.compute(x, y, gb));
        // per-element derivatives are differences of O(1) terms: allow 2 float32 ulps of 1
        closeArrays("grad", gf, gb, 2.4e-7 * (r == Reduction.MEAN && n > 0 ? 1.0 / n : 1.0));
      });
    }
  }

  @Test
  void huberIsDeltaTimesSmoothL1() {
    float delta = 1.75f;
    HuberLoss huber = HuberLoss.of(Reduction.SUM, delta);
    SmoothL1Loss smooth = SmoothL1Loss.of(Reduction.SUM, delta);
    forAll((n, seed) -> {
      float[] x = Data.make(Domain.REAL, n, seed, false);
      float[] y = Data.make(Domain.REAL, n, seed + 1, false);
      float[] gh = new float[n];
      float[] gs = new float[n];
      close("value", huber.compute(x, y, gh), delta * smooth.compute(x, y, gs));
      for (int i = 0; i < n; i++) {
        gs[i] *= delta;
      }
      closeArrays("grad", gh, gs);
    });
  }

  @Test
  void smoothL1WithBetaZeroIsExactlyL1() {
    for (Reduction r : Specs.REDUCTIONS) {
      SmoothL1Loss smooth = SmoothL1Loss.of(r, 0f);
      L1Loss l1 = L1Loss.of(r);
      forAll((n, seed) -> {
        float[] x = Data.make(Domain.REAL, n, seed, true);
        float[] y = Data.make(Domain.REAL, n, seed + 1, true);
        Data.tieSome(x, y, seed);
        float[] gs = new float[n];
        float[] gl = new float[n];
        double vs = smooth.compute(x, y, gs);
        double vl = l1.compute(x, y, gl);
        // every element's loss and gradient are the same bits; the sums may differ in the last
        // bit on the Vector API path while one kernel is JIT-compiled and the other not yet
        // (lane sums change order between tiers)
        if (Double.isFinite(vl)) {
          assertEquals(vl, vs, 4 * Math.ulp(vl));
        } else {
          assertEquals(vl, vs); // NaN equals NaN here, ±∞ itself
        }
        assertArrayEquals(gl, gs);
      });
    }
  }

  @Test
  void sumIsNTimesMeanAndNoneSumsToSum() {
    for (Spec spec : Specs.all()) {
      ElementwiseLoss mean = spec.make().apply(Reduction.MEAN);
      ElementwiseLoss sum = spec.make().apply(Reduction.SUM);
      ElementwiseLoss none = spec.make().apply(Reduction.NONE);
      forAll((size, seed) -> {
        int n = spec.columns() > 0 ? size - size % spec.columns() : size;
        if (n == 0) {
          return;
        }
        float[] x = Data.make(spec.x(), n, seed, false);
        float[] y = Data.make(spec.y(), n, seed + 1, false);
        double s = sum.forward(x, y);
        close(spec + " sum vs n·mean", s, n * mean.forward(x, y));
        float[] losses = new float[n];
        double total = none.compute(x, y, losses, null, 1f, false);
        close(spec + " none return vs sum", total, s);
        double added = 0;
        for (float l : losses) {
          added += l;
        }
        close(spec + " Σ losses vs sum", added, s);
        // SUM's gradient is n × MEAN's
        float[] gm = grad(mean, x, y);
        float[] gsum = grad(sum, x, y);
        for (int i = 0; i < n; i++) {
          gm[i] *= n;
        }
        closeArrays(spec + " grad", gsum, gm);
      });
    }
  }

  @Test
  void forwardOnlyEqualsFullCallAndGradScaleIsLinearAndAccumulateAdds() {
    for (Spec spec : Specs.all()) {
      for (Reduction r : Specs.REDUCTIONS) {
        ElementwiseLoss loss = spec.make().apply(r);
        forAll((size, seed) -> {
          int n = spec.columns() > 0 ? size - size % spec.columns() : size;
          float[] x = Data.make(spec.x(), n, seed, true);
          float[] y = Data.make(spec.y(), n, seed + 1, true);
          float[] g1 = new float[n];
          double full = loss.compute(x, y, g1);
          double fwd = loss.forward(x, y);
          close(spec + " forward vs full", full, fwd);
          // linear in gradScale (to rounding: MEAN folds gradScale/n into one float factor)
          float[] g4 = new float[n];
          loss.compute(x, y, null, g4, -4f, false);
          float[] want = new float[n];
          for (int i = 0; i < n; i++) {
            want[i] = -4f * g1[i];
          }
          closeArrays(spec + " " + r + " gradScale", want, g4);
          float[] acc = Data.make(Domain.REAL, n, seed + 7, false);
          float[] before = acc.clone();
          loss.compute(x, y, null, acc, 1f, true);
          for (int i = 0; i < n; i++) {
            before[i] += g1[i];
          }
          closeArrays(spec + " " + r + " accumulate", before, acc);
        });
      }
    }
  }

  @Test
  void inPlaceEqualsOutOfPlace() {
    for (Spec spec : Specs.all()) {
      for (Reduction r : Specs.REDUCTIONS) {
        ElementwiseLoss loss = spec.make().apply(r);
        forAll((size, seed) -> {
          int n = spec.columns() > 0 ? size - size % spec.columns() : size;
          float[] x = Data.make(spec.x(), n, seed, true);
          float[] y = Data.make(spec.y(), n, seed + 1, true);
          float[] g = new float[n];
          double v = loss.compute(x, y, g);
          try (Arena arena = Arena.ofConfined()) {
            MemorySegment xs = arena.allocate((long) n * Float.BYTES, 64);
            MemorySegment ys = arena.allocate((long) n * Float.BYTES, 64);
            MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT, 0, n);
            MemorySegment.copy(y, 0, ys, ValueLayout.JAVA_FLOAT, 0, n);
            double vi = loss.compute(xs, ys, n, xs); // gradient over the predictions
            close(spec + " value", v, vi);
            float[] gi = xs.toArray(ValueLayout.JAVA_FLOAT);
            closeArrays(spec + " " + r + " in-place gradient", g, gi);
          }
        });
      }
    }
  }

  /** Central differences of the double-precision oracle against the kernel's gradient. */
  @Test
  void finiteDifferencesMatchTheAnalyticGradient() {
    record Smooth(String name, Function<Reduction, ElementwiseLoss> make, Specs.OracleFn f,
        Domain x, Domain y) {}
    Smooth[] losses = {
      new Smooth("mse", MSELoss::of, Oracle::mse, Domain.REAL, Domain.REAL),
      new Smooth("huber", r -> HuberLoss.of(r, 1f), (x, y, g) -> Oracle.huber(x, y, 1, g),
          Domain.REAL, Domain.REAL),
      new Smooth("bceWithLogits", r -> BCEWithLogitsLoss.builder().reduction(r).build(),
          (x, y, g) -> Oracle.bceWithLogits(x, y, null, null, g), Domain.LOGIT, Domain.TARGET01),
      new Smooth("sigmoidFocal", r -> SigmoidFocalLoss.builder().reduction(r).gamma(2f).build(),
          (x, y, g) -> Oracle.sigmoidFocal(x, y, 0.25, 2, g), Domain.LOGIT, Domain.HARD01),
      new Smooth("sigmoidFocal γ=0.5", r -> SigmoidFocalLoss.builder().reduction(r).gamma(0.5f).build(),
          (x, y, g) -> Oracle.sigmoidFocal(x, y, 0.25, 0.5, g), Domain.LOGIT, Domain.TARGET01),
    };
    for (Smooth s : losses) {
      ElementwiseLoss loss = s.make().apply(Reduction.SUM);
      qt().withExamples(Seeds.examples(EXAMPLES)).withFixedSeed(Seeds.seed())
          .forAll(integers().between(1, 200), longs().all())
          .checkAssert((n, seed) -> {
            float[] x = Data.make(s.x(), n, seed, false);
            float[] y = Data.make(s.y(), n, seed + 1, false);
            float[] g = grad(loss, x, y);
            for (int i = 0; i < n; i++) {
              double h = 1e-3 * Math.max(1, Math.abs(x[i]));
              // float32 points around x[i]; the spacing is known exactly
              float up = (float) (x[i] + h);
              float down = (float) (x[i] - h);
              double fd = (at(s.f(), up, y[i]) - at(s.f(), down, y[i])) / ((double) up - down);
              // huber's kink: skip elements whose stencil straddles |d| = δ
              if (s.name().equals("huber") && Math.abs(Math.abs(x[i] - y[i]) - 1) < 2 * h) {
                continue;
              }
              assertEquals(fd, g[i], 1e-4 * Math.max(1, Math.abs(fd)),
                  s.name() + " FD at " + i + " x=" + x[i] + " y=" + y[i]);
            }
          });
    }
  }

  /** The oracle's loss of the single element (x, y), in double precision. */
  private static double at(Specs.OracleFn f, float x, float y) {
    return f.apply(new float[] {x}, new float[] {y}, new double[1])[0];
  }
}
