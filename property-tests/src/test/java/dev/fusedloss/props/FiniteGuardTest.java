package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.NonFiniteException;
import dev.fusedloss.Reduction;
import dev.fusedloss.props.Specs.Spec;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The opt-in non-finite guard: on finite data a guarded call gives the unguarded results; a NaN
 * input or target, or a loss term or gradient that overflows, throws naming the lowest element
 * (or row), and in accumulate and in-place modes every buffer keeps its contents.
 */
class FiniteGuardTest {
  @Test
  void elementwiseGuardedEqualsUnguardedOnFiniteData() {
    for (Spec spec : Specs.all()) {
      int n = 4000 - 4000 % Math.max(1, spec.columns());
      float[] x = Data.make(spec.x(), n, 7, false);
      float[] y = Data.make(spec.y(), n, 8, false);
      ElementwiseLoss plain = spec.make().apply(Reduction.NONE);
      ElementwiseLoss guarded = plain.withFiniteCheck(true);
      float[] g1 = new float[n];
      float[] g2 = new float[n];
      float[] l1 = new float[n];
      float[] l2 = new float[n];
      double v1 = plain.compute(x, y, l1, g1, 0.5f, false);
      double v2 = guarded.compute(x, y, l2, g2, 0.5f, false);
      assertEquals(v1, v2, 1e-9 * Math.max(1, Math.abs(v1)), spec.name());
      assertArrayEquals(g1, g2, 1e-6f, spec.name());
      assertArrayEquals(l1, l2, 1e-6f, spec.name());
    }
  }

  @Test
  void elementwiseNamesTheLowestIndexAndLosesNoData() {
    SplittableRandom r = new SplittableRandom(2);
    for (Spec spec : Specs.all()) {
      int n = 40000 - 40000 % Math.max(1, spec.columns()); // several guard chunks
      for (int trial = 0; trial < 6; trial++) {
        float[] x = Data.make(spec.x(), n, 11 + trial, false);
        float[] y = Data.make(spec.y(), n, 12 + trial, false);
        int a = r.nextInt(n);
        int b = r.nextInt(n);
        x[a] = Float.NaN;
        y[b] = Float.NaN;
        int want = Math.min(a, b);
        NonFiniteException.Source source = a <= b ? NonFiniteException.Source.INPUT
            : NonFiniteException.Source.TARGET;
        ElementwiseLoss loss = spec.make().apply(Reduction.SUM).withFiniteCheck(true);
        float[] init = new float[n];
        for (int i = 0; i < n; i++) {
          init[i] = (float) r.nextDouble();
        }
        // plain: checked chunk by chunk, the lowest index still named
        float[] plainGrad = new float[n];
        NonFiniteException p = assertThrows(NonFiniteException.class,
            () -> loss.compute(x, y, null, plainGrad, 1f, false), spec.name());
        assertEquals(want, p.index(), spec.name() + ": " + p.getMessage());
        assertEquals(source, p.source(), spec.name());
        // accumulate: the gradient keeps its contents
        float[] g = init.clone();
        NonFiniteException e = assertThrows(NonFiniteException.class,
            () -> loss.compute(x, y, null, g, 1f, true), spec.name());
        assertEquals(want, e.index(), spec.name() + ": " + e.getMessage());
        assertEquals(source, e.source(), spec.name());
        assertArrayEquals(init, g, spec.name() + ": accumulated gradient changed");
        // in place: the input keeps its contents
        float[] xs = x.clone();
        MemorySegment xseg = MemorySegment.ofArray(xs);
        assertThrows(NonFiniteException.class, () -> loss.compute(xseg, MemorySegment.ofArray(y),
            n, null, xseg, 1f, false));
        for (int i = 0; i < n; i++) {
          assertEquals(Float.floatToIntBits(x[i]), Float.floatToIntBits(xs[i]), spec.name());
        }
      }
    }
  }

  @Test
  void crossEntropyNamesTheRowMasksAreFineAndNothingIsLost() {
    int rows = 40;
    int classes = 7;
    float[] x = Rows.logits(rows, classes, 3, false);
    int[] t = Rows.targets(x, rows, classes, 3, -100);
    for (int i = 0; i < rows; i++) {
      if (t[i] >= 0) {
        x[i * classes + (t[i] + 1) % classes] = Float.NEGATIVE_INFINITY; // a mask off target
      }
    }
    CrossEntropyLoss plain = CrossEntropyLoss.builder().build();
    CrossEntropyLoss guarded = plain.withFiniteCheck(true);
    float[] g1 = new float[x.length];
    float[] g2 = new float[x.length];
    assertEquals(plain.compute(x, t, classes, g1), guarded.compute(x, t, classes, g2), 1e-9);
    assertArrayEquals(g1, g2);
    int bad = -1;
    for (int i = 0; i < rows && bad < 0; i++) {
      bad = t[i] >= 0 && i >= 17 ? i : -1;
    }
    float[] y = x.clone();
    y[bad * classes + 2] = Float.NaN;
    y[(rows - 1) * classes] = Float.NaN;
    float[] init = new float[x.length];
    java.util.Arrays.fill(init, 0.25f);
    float[] g = init.clone();
    NonFiniteException e = assertThrows(NonFiniteException.class,
        () -> guarded.compute(MemorySegment.ofArray(y), classes, MemorySegment.ofArray(t), rows,
            classes, null, MemorySegment.ofArray(g), 1f, true));
    assertEquals(bad, e.row(), e.getMessage());
    assertEquals(2, e.column(), e.getMessage());
    assertEquals(NonFiniteException.Source.INPUT, e.source());
    assertArrayEquals(init, g);
    float[] inPlace = y.clone();
    MemorySegment seg = MemorySegment.ofArray(inPlace);
    assertThrows(NonFiniteException.class, () -> guarded.compute(seg, classes,
        MemorySegment.ofArray(t), rows, classes, null, seg, 1f, false));
    for (int i = 0; i < y.length; i++) {
      assertEquals(Float.floatToIntBits(y[i]), Float.floatToIntBits(inPlace[i]));
    }
  }
}
