package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Reduction;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Long reductions stay accurate: a MEAN over 10⁷ elements is within 1e-5 relative of the
 * double-precision answer. (A plain float32 running sum of 10⁷ positive terms drifts by ~1e-3
 * once the sum dwarfs each term; the engine widens every loss to double before adding.)
 */
class ReductionAccuracyTest {
  static final int N = 10_000_000;

  static void check(String what, double got, double want) {
    double rel = Math.abs(got - want) / Math.abs(want);
    assertTrue(rel <= 1e-5, what + ": relative error " + rel + " (got " + got + ", want " + want + ")");
  }

  @Test
  void meanOverTenMillionElements() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = arena.allocate((long) N * 4, 64);
      MemorySegment y = arena.allocate((long) N * 4, 64);
      SplittableRandom r = new SplittableRandom(11);
      for (long i = 0; i < N; i++) {
        x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() * 6 - 3));
        y.setAtIndex(ValueLayout.JAVA_FLOAT, i, r.nextInt(2));
      }
      double mse = 0;
      double bce = 0;
      for (long i = 0; i < N; i++) {
        double xi = x.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        double yi = y.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        mse += (xi - yi) * (xi - yi);
        bce += Math.max(xi, 0) - xi * yi + Math.log1p(Math.exp(-Math.abs(xi)));
      }
      ElementwiseLoss m = MSELoss.of(Reduction.MEAN);
      ElementwiseLoss b = BCEWithLogitsLoss.builder().build();
      check("mse mean", m.forward(x, y, N), mse / N);
      check("bce-with-logits mean", b.forward(x, y, N), bce / N);
      // a softmax mean over many rows: 10⁶ rows of 10 classes
      int rows = N / 10;
      MemorySegment t = arena.allocate((long) rows * 4, 64);
      double ce = 0;
      for (int i = 0; i < rows; i++) {
        int ti = r.nextInt(10);
        t.setAtIndex(ValueLayout.JAVA_INT, i, ti);
        double mx = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < 10; c++) {
          mx = Math.max(mx, x.getAtIndex(ValueLayout.JAVA_FLOAT, i * 10L + c));
        }
        double s = 0;
        for (int c = 0; c < 10; c++) {
          s += Math.exp(x.getAtIndex(ValueLayout.JAVA_FLOAT, i * 10L + c) - mx);
        }
        ce += mx + Math.log(s) - x.getAtIndex(ValueLayout.JAVA_FLOAT, i * 10L + ti);
      }
      check("cross-entropy mean", CrossEntropyLoss.builder().build().forward(x, t, rows, 10),
          ce / rows);
    }
  }
}
