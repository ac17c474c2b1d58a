package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.BinaryFocalLoss;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.DistillationLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import dev.fusedloss.SigmoidFocalLoss;
import dev.fusedloss.SmoothL1Loss;
import dev.fusedloss.oracle.SoftmaxOracle;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.Executor;
import org.junit.jupiter.api.Test;

/**
 * Regression tests for what robustness probes of the public API found wrong, each failing on
 * the code before its fix (on the Vector API path at least).
 */
class ProbeRegressionTest {
  /**
   * One class: the capped logit is the row maximum, so the gradient is exactly 0. The JDK's
   * vector tanh, interpreted in one sweep and compiled in another, gave −1.36e-6 on AVX-512.
   */
  @Test
  void softcapWithOneClassHasAZeroGradient() {
    Random rnd = new Random(91);
    for (Reduction r : new Reduction[] {Reduction.SUM, Reduction.NONE, Reduction.MEAN}) {
      CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(r).softcap(30f).build();
      for (int rows : new int[] {1, 3, 17, 64}) {
        float[] x = new float[rows];
        for (int i = 0; i < rows; i++) {
          x[i] = (float) (rnd.nextGaussian() * 40);
        }
        float[] g = new float[rows];
        Arrays.fill(g, Float.NaN);
        double v = ce.compute(x, new int[rows], 1, g);
        assertEquals(0.0, v, 0.0, r + " rows=" + rows + " loss");
        for (int i = 0; i < rows; i++) {
          assertEquals(0f, g[i], 0f, r + " rows=" + rows + " grad[" + i + "]");
        }
      }
    }
  }

  /** The capped sweeps agree with the oracle on rows where tanh saturates and where it is linear. */
  @Test
  void softcapMatchesTheOracleAcrossTanhsRange() {
    float[] x = new float[2 * 40];
    for (int c = 0; c < 40; c++) {
      x[c] = (c - 20) * 0.03f; // |x/cap| < 0.625: the polynomial
      x[40 + c] = (c - 20) * 7.5f; // up to 10: the exp form and saturation
    }
    int[] t = {5, 33};
    CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(Reduction.SUM).softcap(1.5f).build();
    float[] g = new float[x.length];
    double v = ce.compute(x, t, 40, g);
    double[] want = new double[x.length];
    double[] rows = SoftmaxOracle.crossEntropy(x, t, 40, null, -100, 0, 0, 1.5, want);
    assertEquals(rows[0] + rows[1], v, 1e-5 * (rows[0] + rows[1]));
    Tolerance.assertVector("capped grad", g, want);
  }

  /**
   * Distillation at large temperatures: the float32 path lost the O(1/T²) KL to rounding (4.5 %
   * off at T = 1e4, negative from 1e5); above T = 8 the rows are computed in double.
   */
  @Test
  void distillationHoldsAtLargeTemperatures() {
    Random rnd = new Random(7);
    int rows = 6;
    int classes = 7;
    float[] s = new float[rows * classes];
    float[] t = new float[rows * classes];
    for (int i = 0; i < s.length; i++) {
      s[i] = (float) (3 * rnd.nextGaussian());
      t[i] = (float) (3 * rnd.nextGaussian());
    }
    for (float temp : new float[] {8f, 9f, 100f, 1e4f, 1e5f, 1e6f}) {
      double[] deriv = new double[s.length];
      double want = 0;
      for (double l : SoftmaxOracle.distillation(s, t, classes, temp, deriv)) {
        want += l;
      }
      float[] g = new float[s.length];
      double got = DistillationLoss.of(Reduction.SUM, temp).compute(s, t, classes, g);
      assertTrue(Math.abs(got - want) <= 1e-6 * Math.abs(want),
          "T=" + temp + ": got " + got + ", want " + want);
      Tolerance.assertVector("T=" + temp + " grad", g, deriv);
    }
  }

  /**
   * An executor that accepts one task and then throws: the call throws, and the accepted task,
   * run afterwards, must not write the outputs of a call that has already failed.
   */
  @Test
  void aBrokenExecutorNeverLetsAFailedCallWriteLater() {
    int n = 1 << 20;
    Runnable[] accepted = new Runnable[1];
    Executor broken = task -> {
      if (accepted[0] != null) {
        throw new IllegalStateException("executor broken");
      }
      accepted[0] = task;
    };
    ElementwiseLoss mse = MSELoss.of(Reduction.SUM).withParallelism(Parallelism.of(broken, 3));
    float[] x = new float[n];
    float[] y = new float[n];
    Arrays.fill(x, 2f);
    float[] g = new float[n];
    float[] before = new float[n];
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> mse.compute(x, y, null, g, 1f, false));
    assertEquals("executor broken", e.getMessage());
    float[] atThrow = g.clone();
    assertNotNull(accepted[0]);
    accepted[0].run();
    assertTrue(Arrays.equals(atThrow, g), "the accepted task wrote after the call threw");
    assertTrue(Arrays.equals(before, g), "a call that threw wrote its outputs");
  }

  /** A subnormal β: 0.5/β overflowed, giving NaN at d = 0 and ∞ for a tiny d. */
  @Test
  void smoothL1WithASubnormalBeta() {
    float beta = 1e-40f;
    SmoothL1Loss l = SmoothL1Loss.of(Reduction.NONE, beta);
    int n = 64; // whole vectors at every width, and a scalar tail below
    float[] x = new float[n + 3];
    float[] y = new float[n + 3];
    for (int i = 0; i < x.length; i++) {
      x[i] = i % 2 == 0 ? 0f : 1e-41f;
    }
    float[] losses = new float[x.length];
    float[] g = new float[x.length];
    l.compute(x, y, losses, g, 1f, false);
    for (int i = 0; i < x.length; i++) {
      double d = x[i];
      float wantLoss = (float) (0.5 * d * (d / beta));
      float wantGrad = (float) (d / beta);
      assertEquals(wantLoss, losses[i], Math.ulp(wantLoss), "loss[" + i + "]");
      assertEquals(wantGrad, g[i], 2 * Math.ulp(wantGrad), "grad[" + i + "]");
    }
  }

  /** γ = Float.MAX_VALUE: (1 − p_t)^γ is 0, and so is the gradient (it was NaN: ∞·0). */
  @Test
  void focalLossesAtTheLargestGamma() {
    int n = 67;
    float[] z = new float[n];
    float[] p = new float[n];
    float[] t = new float[n];
    Random rnd = new Random(3);
    for (int i = 0; i < n; i++) {
      z[i] = (float) (rnd.nextGaussian() * 4);
      p[i] = rnd.nextFloat();
      t[i] = i % 3 == 0 ? 0.5f : rnd.nextInt(2);
    }
    ElementwiseLoss sigmoid = SigmoidFocalLoss.builder().reduction(Reduction.SUM)
        .alpha(0.25f).gamma(Float.MAX_VALUE).build();
    ElementwiseLoss binary = BinaryFocalLoss.builder().reduction(Reduction.SUM)
        .alpha(0.25f).gamma(Float.MAX_VALUE).clipEps(1e-6f).build();
    float[] g = new float[n];
    double v = sigmoid.compute(z, t, g);
    assertTrue(Double.isFinite(v), "sigmoid focal loss " + v);
    for (int i = 0; i < n; i++) {
      assertEquals(0f, g[i], 0f, "sigmoid focal grad[" + i + "] at z=" + z[i] + " t=" + t[i]);
    }
    v = binary.compute(p, t, g);
    assertTrue(Double.isFinite(v), "binary focal loss " + v);
    for (int i = 0; i < n; i++) {
      assertEquals(0f, g[i], 0f, "binary focal grad[" + i + "] at p=" + p[i] + " t=" + t[i]);
    }
  }
}
