package dev.fusedloss.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** The plain-Java loop learns: its loss falls steadily and it classifies its clusters. */
class SoftmaxRegressionTest {
  @Test
  void lossFallsAndTheClassifierLearns() {
    try (Arena arena = Arena.ofShared()) {
      SoftmaxRegression m = new SoftmaxRegression(arena, 1024, 16, 5, 7);
      double first = m.step(1f);
      double previous = first;
      for (int i = 0; i < 30; i++) {
        double l = m.step(1f);
        assertTrue(l < previous + 1e-6, "step " + i + ": " + l + " after " + previous);
        previous = l;
      }
      assertTrue(previous < 0.5 * first, "loss " + first + " -> " + previous);
      assertTrue(m.accuracy() > 0.9, "accuracy " + m.accuracy());
    }
  }
}
