package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fusedloss.internal.PanamaExp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The Vector API kernels' own exp ({@link PanamaExp#expNonPositive}), which every softmax
 * kernel, BCE with logits and sigmoid focal use: its javadoc promises 1 ulp over [−104, 0].
 * Checked against {@link StrictMath#exp} in double over every 127th float of that range
 * (8.7 million arguments, all binades and the subnormal results) and at its special values.
 */
class InlineExpAccuracyTest {
  @Test
  void withinOneUlpOverItsRange() {
    assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
        "the scalar-fallback run has no Vector API");
    double[] worst = Sweep.worst(127);
    assertTrue(worst[0] <= 1.0,
        "max error " + worst[0] + " ulp at x = " + (float) worst[1] + " (promised: 1 ulp)");
  }

  @Test
  void specialValues() {
    assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
        "the scalar-fallback run has no Vector API");
    float[] in = {-0f, 0f, Float.NEGATIVE_INFINITY, Float.NaN, -104.5f, -Float.MAX_VALUE,
        -Float.MIN_VALUE, -103.9f};
    float[] want = {1f, 1f, 0f, Float.NaN, 0f, 0f, 1f, (float) StrictMath.exp(-103.9f)};
    float[] got = Sweep.eval(in);
    for (int i = 0; i < in.length; i++) {
      assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]),
          "exp(" + in[i] + ") = " + got[i] + ", want " + want[i]);
    }
  }

  /** Loaded only once the Vector API is known to be present. */
  static final class Sweep {
    static final VectorSpecies<Float> F = PanamaExp.species();

    static float[] eval(float[] in) {
      int l = F.length();
      float[] buf = new float[(in.length + l - 1) / l * l];
      System.arraycopy(in, 0, buf, 0, in.length);
      for (int i = 0; i < buf.length; i += l) {
        PanamaExp.expNonPositive(FloatVector.fromArray(F, buf, i)).intoArray(buf, i);
      }
      return java.util.Arrays.copyOf(buf, in.length);
    }

    /** {max error in ulps of the correctly rounded float, argument where it occurs}. */
    static double[] worst(int step) {
      int l = F.length();
      float[] x = new float[l];
      float[] y = new float[l];
      int from = Float.floatToRawIntBits(-0f);
      int to = Float.floatToRawIntBits(-104f);
      double worst = 0;
      double at = 0;
      for (long b = from; b <= to; b += (long) step * l) {
        for (int k = 0; k < l; k++) {
          x[k] = Float.intBitsToFloat((int) Math.min(b + (long) k * step, to));
        }
        PanamaExp.expNonPositive(FloatVector.fromArray(F, x, 0)).intoArray(y, 0);
        for (int k = 0; k < l; k++) {
          double want = StrictMath.exp(x[k]);
          // ulp of the float nearest the true value (Float.MIN_VALUE among the subnormals)
          double err = Math.abs(y[k] - want) / Math.ulp((float) want);
          if (err > worst) {
            worst = err;
            at = x[k];
          }
        }
      }
      return new double[] {worst, at};
    }
  }
}
