package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.HingeEmbeddingLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftMarginLoss;
import org.junit.jupiter.api.Test;

/**
 * The edges of the hinge embedding and soft margin losses that the random properties (±1
 * labels) do not reach: PyTorch's sum of both hinge terms for a label that is neither 1 nor −1,
 * the hinge's gradient at the boundary, soft margin far beyond PyTorch's float32 overflow, and
 * a non-finite margin. Sizes cross the vector width, so both the vector loop and the tail run.
 */
class MarginLossesTest {
  @Test
  void hingeEdges() {
    int n = 37;
    float[] x = new float[n];
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = i % 3 == 0 ? 1f : i % 3 == 1 ? 0.25f : 2f; // at, inside and beyond margin 1
      y[i] = i % 4 == 0 ? 0f : i % 4 == 1 ? 2f : i % 2 == 0 ? 1f : -1f;
    }
    float[] l = new float[n];
    float[] g = new float[n];
    HingeEmbeddingLoss.of(Reduction.NONE, 1f).compute(x, y, l, g, 1f, false);
    for (int i = 0; i < n; i++) {
      double m = 1 - x[i];
      double wantL = (y[i] != 1 ? Math.max(0, m) : 0) + (y[i] != -1 ? x[i] : 0);
      double wantG = (y[i] != 1 && m >= 0 ? -1 : 0) + (y[i] != -1 ? 1 : 0);
      assertEquals(wantL, l[i], 1e-7, "loss " + i + " x=" + x[i] + " y=" + y[i]);
      assertEquals(wantG, g[i], 0, "grad " + i + " x=" + x[i] + " y=" + y[i]);
    }
    assertThrows(IllegalArgumentException.class, () -> HingeEmbeddingLoss.of(Reduction.SUM,
        Float.NaN));
  }

  @Test
  void softMarginStaysFiniteWherePyTorchOverflows() {
    int n = 33;
    float[] x = new float[n];
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = i % 2 == 0 ? -1e4f : 3e38f;
      y[i] = 1f;
    }
    float[] l = new float[n];
    float[] g = new float[n];
    SoftMarginLoss.of(Reduction.NONE).compute(x, y, l, g, 1f, false);
    for (int i = 0; i < n; i++) {
      if (x[i] < 0) {
        assertEquals(1e4f, l[i], 0, "loss " + i); // log(1 + e^10000) = 10000
        assertEquals(-1f, g[i], 0, "grad " + i);
      } else {
        assertEquals(0f, l[i], 0, "loss " + i);
        assertTrue(g[i] == 0f || g[i] == -0f, "grad " + i + " = " + g[i]);
      }
    }
  }
}
