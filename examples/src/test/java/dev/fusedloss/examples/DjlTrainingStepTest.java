package dev.fusedloss.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * fusedloss inside a DJL training step gives the model parameters the gradients DJL's own
 * SoftmaxCrossEntropyLoss gives them (float32 on both sides: 1e-5 relative to the largest).
 */
class DjlTrainingStepTest {
  @Test
  void parameterGradientsMatchDjlsOwnLoss() {
    DjlTrainingStep.Grads[] g = DjlTrainingStep.compareWithDjl(7);
    assertEquals(g[1].loss(), g[0].loss(), 1e-5 * g[1].loss());
    check("dW", g[0].w(), g[1].w());
    check("db", g[0].b(), g[1].b());
  }

  static void check(String what, float[] ours, float[] theirs) {
    assertEquals(theirs.length, ours.length, what);
    double scale = 0;
    for (float v : theirs) {
      scale = Math.max(scale, Math.abs(v));
    }
    for (int i = 0; i < ours.length; i++) {
      assertEquals(theirs[i], ours[i], 1e-5 * scale + 1e-7, what + "[" + i + "]");
    }
  }
}
