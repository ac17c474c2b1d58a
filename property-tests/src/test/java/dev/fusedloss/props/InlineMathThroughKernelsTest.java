package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.Engine;
import dev.fusedloss.Reduction;
import dev.fusedloss.SigmoidFocalLoss;
import dev.fusedloss.internal.PanamaExp;
import dev.fusedloss.internal.PanamaTanh;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The Vector API kernels write the exp and log1p polynomials out by hand inside some loops (a
 * helper call boxed there; see {@code PanamaExp}). Each such copy is checked at ulp level
 * through its kernel, on inputs where the kernel's output is the polynomial's value itself or a
 * known float expression of it:
 * <ul>
 *   <li>BCE with logits, unweighted and weighted loops: at z ≥ 0 with t = 1 (or z ≤ 0 with t =
 *       0) the loss is exactly log1p(exp(−|z|));
 *   <li>sigmoid focal with γ = 0 and no α: the same;
 *   <li>few-class cross entropy, both blocks of a pair: with logits (0, v) and target 0 the
 *       gradient of class 1 is float(e·float(1/float(1 + e))), e = exp(v).
 * </ul>
 * Bounds: exp is within 1 ulp and the atanh polynomial within 4e-9 (0.07 ulp) before rounding;
 * log1p(e) = 2·atanh(e/(2 + e)) adds a division, a square, the polynomial's four roundings and a
 * product, so 4 ulps (measured here: 3.0 at worst, near z = 2.05). The few-class gradient repeats
 * the reference's three roundings on an e that is off by at most 1 ulp: 2 ulps (measured: 1).
 * A formula error (a wrong constant, a missed reduction step) is millions of ulps. Also
 * PanamaTanh, the soft cap's tanh, against StrictMath.tanh within 2 ulps (measured: 1.46), and
 * its vector and scalar forms against each other bit for bit.
 */
class InlineMathThroughKernelsTest {
  static final int N = 1 << 16; // a multiple of every lane count: no scalar tail

  static void assumePanama() {
    assumeTrue(Engine.implementation().equals("panama"), "the Vector API kernels only");
  }

  static double ulps(double got, double want) {
    if (got == want) {
      return 0;
    }
    return Math.abs(got - want) / Math.ulp((float) want);
  }

  /** |z| from 0 to 110 (past exp's underflow at 104), both signs. */
  static float[] logits(boolean negative) {
    float[] z = new float[N];
    for (int i = 0; i < N; i++) {
      float a = (float) (110.0 * i / N);
      z[i] = negative ? -a : a;
    }
    return z;
  }

  static void checkSoftplus(String what, ElementwiseLoss loss, boolean negative, float target) {
    float[] z = logits(negative);
    float[] t = new float[N];
    java.util.Arrays.fill(t, target);
    float[] l = new float[N];
    loss.compute(z, t, l, null, 1f, false);
    double worst = 0;
    int at = 0;
    for (int i = 0; i < N; i++) {
      double want = StrictMath.log1p(StrictMath.exp(-Math.abs((double) z[i])));
      double u = ulps(l[i], want);
      if (u > worst) {
        worst = u;
        at = i;
      }
    }
    assertTrue(worst <= 4, what + ": " + worst + " ulps at z = " + z[at] + " (got " + l[at]
        + ", want " + StrictMath.log1p(StrictMath.exp(-Math.abs((double) z[at]))) + ")");
  }

  @Test
  void bceWithLogitsUnweightedLoop() {
    assumePanama();
    ElementwiseLoss bce = BCEWithLogitsLoss.builder().reduction(Reduction.NONE).build();
    checkSoftplus("unweighted, z ≥ 0, t = 1", bce, false, 1f);
    checkSoftplus("unweighted, z ≤ 0, t = 0", bce, true, 0f);
  }

  @Test
  void bceWithLogitsWeightedLoop() {
    assumePanama();
    // a positive weight other than 1 takes the weighted loop; with t = 0 it multiplies 0
    ElementwiseLoss bce = BCEWithLogitsLoss.builder().reduction(Reduction.NONE)
        .posWeight(new float[] {2f}).build();
    checkSoftplus("weighted, z ≤ 0, t = 0", bce, true, 0f);
  }

  @Test
  void sigmoidFocalLoop() {
    assumePanama();
    ElementwiseLoss focal = SigmoidFocalLoss.builder().reduction(Reduction.NONE).alpha(-1f)
        .gamma(0f).build();
    checkSoftplus("sigmoid focal γ = 0, z ≥ 0, t = 1", focal, false, 1f);
  }

  @Test
  void fewClassCrossEntropyPairExps() {
    assumePanama();
    int rows = 4096; // pairs of 2L-row blocks at every width; both blocks of each pair
    float[] x = new float[2 * rows];
    int[] t = new int[rows];
    for (int r = 0; r < rows; r++) {
      x[2 * r + 1] = (float) (-105.0 * r / rows); // to past the underflow of exp
    }
    float[] g = new float[x.length];
    CrossEntropyLoss.builder().reduction(Reduction.SUM).build().compute(x, t, 2, g);
    double worst = 0;
    int at = 0;
    for (int r = 0; r < rows; r++) {
      float e = (float) StrictMath.exp(x[2 * r + 1]);
      float s = 1f + e;
      float want = e * (1f / s);
      double u = ulps(g[2 * r + 1], want);
      if (u > worst) {
        worst = u;
        at = r;
      }
    }
    assertTrue(worst <= 2, "few-class exp: " + worst + " ulps at v = " + x[2 * at + 1]);
  }

  @Test
  void softcapTanh() {
    assumePanama();
    float[] y = new float[N];
    for (int i = 0; i < N; i++) {
      double a = i < N / 2 ? 2.0 * i / N : Math.scalb(1.0, (i - N / 2) * 40 / (N / 2) - 20);
      y[i] = (float) (i % 2 == 0 ? a : -a);
    }
    double worst = Vectors.tanhWorst(y);
    assertTrue(worst <= 2, "tanh: " + worst + " ulps");
    assertEquals(1f, PanamaTanh.tanh(Float.POSITIVE_INFINITY));
    assertEquals(-1f, PanamaTanh.tanh(Float.NEGATIVE_INFINITY));
    assertTrue(Float.isNaN(PanamaTanh.tanh(Float.NaN)));
    assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(PanamaTanh.tanh(-0f)));
  }

  /** Loaded only once the Vector API is known to be present. */
  static final class Vectors {
    /** The worst ulp error of the vector tanh, checking the scalar twin's bits on the way. */
    static double tanhWorst(float[] y) {
      VectorSpecies<Float> f = PanamaExp.species();
      int l = f.length();
      float[] out = new float[l];
      double worst = 0;
      for (int i = 0; i < y.length; i += l) {
        PanamaTanh.tanh(FloatVector.fromArray(f, y, i)).intoArray(out, 0);
        for (int k = 0; k < l; k++) {
          float scalar = PanamaTanh.tanh(y[i + k]);
          assertEquals(Float.floatToRawIntBits(scalar), Float.floatToRawIntBits(out[k]),
              "vector and scalar tanh differ at " + y[i + k]);
          worst = Math.max(worst, ulps(out[k], StrictMath.tanh(y[i + k])));
        }
      }
      return worst;
    }
  }
}
