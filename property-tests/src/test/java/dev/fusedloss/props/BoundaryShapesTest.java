package dev.fusedloss.props;

import dev.fusedloss.internal.SoftmaxKernels;
import dev.fusedloss.internal.SoftmaxKernels.CrossEntropy;
import dev.fusedloss.internal.VectorizationProvider;
import dev.fusedloss.oracle.SoftmaxOracle;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Fixed shapes at every edge where a row kernel changes strategy or a loop changes shape, run
 * through the kernels of this JVM's implementation and through the scalar kernels side by side,
 * each against the double oracle and against each other:
 * <ul>
 *   <li>class counts L−1, L, L+1, 2L±1 for the lane counts L of 128, 256 and 512 bits (4, 8,
 *       16), whatever width this run has: vector bodies, overlapping tails, masked tails;
 *   <li>the few-class limit (32/33) and the cross-entropy tile edges (2047/2048/2049 and
 *       4095/4096/4097);
 *   <li>row counts around the few-class blocks of 2L rows (1, 7…9, 15…17, 31…33, 65);
 *   <li>every call mode that picks a different kernel: gradient overwritten, in place,
 *       accumulated, and forward only;
 *   <li>class indices as int32 and as int64 (PyTorch's), alternately;
 *   <li>every configuration that picks a different kernel: plain cross entropy (few classes,
 *       tiles or rows), class weights with smoothing and z-loss, soft cap, ignored rows, soft
 *       targets with and without weights, softmax focal, distillation (float and double paths),
 *       NLL and log-softmax.
 * </ul>
 * Row counts at the parallel chunk boundary are covered through the public API by
 * {@link ParallelDeterminismTest}.
 */
class BoundaryShapesTest {
  static final int[] NARROW = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33};
  static final int[] WIDE = {2047, 2048, 2049, 4095, 4096, 4097};
  static final int[] ROWS = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 65};
  static final int[] WIDE_ROWS = {1, 3};
  static final float COEF = 0.75f;

  enum Mode { OVERWRITE, IN_PLACE, ACCUMULATE, FORWARD }

  /** The kernel call of one configuration, and its oracle. */
  interface Kernel {
    /** Runs the kernel over all rows; returns the summed row losses. */
    double run(SoftmaxKernels k, MemorySegment x, MemorySegment second, int stride, int rows,
        int classes, MemorySegment loss, MemorySegment grad, boolean acc, boolean int64);

    /** The oracle's row losses; fills the unscaled gradient. */
    double[] oracle(float[] x, Object second, int rows, int classes, double[] grad);

    /** The second input: int[] class targets or a float[] in the logits layout. */
    Object second(float[] x, int rows, int classes, long seed);

    default boolean hasGrad() {
      return true;
    }
  }

  record Named(String name, Kernel kernel) {}

  static Kernel crossEntropy(float[] w, float eps, float z, float cap, int ignore) {
    return new Kernel() {
      @Override
      public double run(SoftmaxKernels k, MemorySegment x, MemorySegment t, int stride, int rows,
          int classes, MemorySegment loss, MemorySegment grad, boolean acc, boolean int64) {
        float[] wc = weights(w, classes);
        double wsum = 0;
        for (float v : wc == null ? new float[0] : wc) {
          wsum += v;
        }
        CrossEntropy opt = new CrossEntropy(wc == null ? null : MemorySegment.ofArray(wc), wsum,
            eps, ignore, cap, int64);
        return k.crossEntropy(x, t, stride, classes, 0, rows, loss, grad, COEF, acc, z, opt);
      }

      @Override
      public double[] oracle(float[] x, Object t, int rows, int classes, double[] grad) {
        return SoftmaxOracle.crossEntropy(x, (int[]) t, classes, weights(w, classes), ignore, eps,
            z, cap, grad);
      }

      @Override
      public Object second(float[] x, int rows, int classes, long seed) {
        return Rows.targets(x, rows, classes, seed, ignore);
      }
    };
  }

  /** A per-class vector of the row's length from a template (null stays null). */
  static float[] weights(float[] template, int classes) {
    if (template == null) {
      return null;
    }
    float[] w = new float[classes];
    for (int c = 0; c < classes; c++) {
      w[c] = template[c % template.length];
    }
    return w;
  }

  static Kernel softTargets(float[] w, float eps) {
    return new Kernel() {
      @Override
      public double run(SoftmaxKernels k, MemorySegment x, MemorySegment q, int stride, int rows,
          int classes, MemorySegment loss, MemorySegment grad, boolean acc, boolean int64) {
        float[] wc = weights(w, classes);
        return k.softCrossEntropy(x, q, stride, classes, 0, rows, loss, grad, COEF, acc,
            wc == null ? null : MemorySegment.ofArray(wc), eps);
      }

      @Override
      public double[] oracle(float[] x, Object q, int rows, int classes, double[] grad) {
        return SoftmaxOracle.softCrossEntropy(x, (float[]) q, classes, weights(w, classes), eps,
            grad);
      }

      @Override
      public Object second(float[] x, int rows, int classes, long seed) {
        return Rows.probabilities(rows, classes, seed);
      }
    };
  }

  static Kernel focal(float gamma, float[] alpha) {
    return new Kernel() {
      @Override
      public double run(SoftmaxKernels k, MemorySegment x, MemorySegment t, int stride, int rows,
          int classes, MemorySegment loss, MemorySegment grad, boolean acc, boolean int64) {
        float[] a = weights(alpha, classes);
        return k.softmaxFocal(x, t, stride, classes, 0, rows, loss, grad, COEF, acc, gamma,
            a == null ? null : MemorySegment.ofArray(a), -100, int64);
      }

      @Override
      public double[] oracle(float[] x, Object t, int rows, int classes, double[] grad) {
        return SoftmaxOracle.softmaxFocal(x, (int[]) t, classes, gamma, weights(alpha, classes),
            -100, grad);
      }

      @Override
      public Object second(float[] x, int rows, int classes, long seed) {
        return Rows.targets(x, rows, classes, seed, -100);
      }
    };
  }

  static Kernel distillation(float temperature) {
    return new Kernel() {
      @Override
      public double run(SoftmaxKernels k, MemorySegment s, MemorySegment t, int stride, int rows,
          int classes, MemorySegment loss, MemorySegment grad, boolean acc, boolean int64) {
        return k.distillation(s, t, stride, classes, 0, rows, loss, grad, COEF, acc, temperature);
      }

      @Override
      public double[] oracle(float[] s, Object t, int rows, int classes, double[] grad) {
        return SoftmaxOracle.distillation(s, (float[]) t, classes, temperature, grad);
      }

      @Override
      public Object second(float[] x, int rows, int classes, long seed) {
        return Rows.logits(rows, classes, seed * 5 + 1, false);
      }
    };
  }

  static Kernel nll(float[] w, int ignore) {
    return new Kernel() {
      @Override
      public double run(SoftmaxKernels k, MemorySegment x, MemorySegment t, int stride, int rows,
          int classes, MemorySegment loss, MemorySegment grad, boolean acc, boolean int64) {
        float[] wc = weights(w, classes);
        return k.nll(x, t, stride, classes, 0, rows, loss, grad, COEF, acc,
            wc == null ? null : MemorySegment.ofArray(wc), ignore, int64);
      }

      @Override
      public double[] oracle(float[] x, Object t, int rows, int classes, double[] grad) {
        return SoftmaxOracle.nll(x, (int[]) t, classes, weights(w, classes), ignore, grad);
      }

      @Override
      public Object second(float[] x, int rows, int classes, long seed) {
        return Rows.targets(x, rows, classes, seed, ignore);
      }
    };
  }

  /** Log-softmax: the "row losses" are unused; the output row is compared as the gradient. */
  static Kernel logSoftmax() {
    return new Kernel() {
      @Override
      public double run(SoftmaxKernels k, MemorySegment x, MemorySegment unused, int stride,
          int rows, int classes, MemorySegment loss, MemorySegment out, boolean acc, boolean int64) {
        k.logSoftmax(x, stride, classes, 0, rows, out);
        return 0;
      }

      @Override
      public double[] oracle(float[] x, Object unused, int rows, int classes, double[] out) {
        for (int r = 0; r < rows; r++) {
          double[] lp = SoftmaxOracle.logSoftmax(SoftmaxOracle.row(x, r, classes, 0));
          for (int c = 0; c < classes; c++) {
            out[r * classes + c] = lp[c] / COEF; // compared after the ·COEF of gradients
          }
        }
        return new double[rows];
      }

      @Override
      public Object second(float[] x, int rows, int classes, long seed) {
        return null;
      }
    };
  }

  static final float[] W = {0.5f, 2f, 1.25f, 0f, 3f, 0.75f, 1f};

  static List<Named> kernels() {
    return List.of(
        new Named("ce", crossEntropy(null, 0, 0, 0, -100)),
        new Named("ce ignore=1", crossEntropy(null, 0, 0, 0, 1)),
        new Named("ce weight ε z", crossEntropy(W, 0.1f, 1e-3f, 0, -100)),
        new Named("ce softcap", crossEntropy(null, 0, 0, 15f, -100)),
        new Named("ce softcap weight ε", crossEntropy(W, 0.2f, 0, 30f, 2)),
        new Named("soft ce", softTargets(null, 0)),
        new Named("soft ce weight ε", softTargets(W, 0.1f)),
        new Named("focal γ=2", focal(2f, null)),
        new Named("focal γ=0.5 α", focal(0.5f, W)),
        new Named("distill T=2", distillation(2f)),
        new Named("distill T=16", distillation(16f)),
        new Named("nll weight ignore=1", nll(W, 1)),
        new Named("logSoftmax", logSoftmax()));
  }

  @TestFactory
  Stream<DynamicTest> everyStrategyAtEveryEdge() {
    List<DynamicTest> tests = new ArrayList<>();
    for (Named n : kernels()) {
      tests.add(DynamicTest.dynamicTest(n.name(), () -> {
        long seed = 1;
        for (int classes : NARROW) {
          for (int rows : ROWS) {
            check(n, rows, classes, seed++);
          }
        }
        for (int classes : WIDE) {
          for (int rows : WIDE_ROWS) {
            check(n, rows, classes, seed++);
          }
        }
      }));
    }
    return tests.stream();
  }

  static void check(Named n, int rows, int classes, long seed) {
    Kernel k = n.kernel();
    float[] x = Rows.logits(rows, classes, seed, seed % 3 == 0);
    Object second = k.second(x, rows, classes, seed);
    double[] deriv = new double[rows * classes];
    double[] want = k.oracle(x, second, rows, classes, deriv);
    SoftmaxKernels here = VectorizationProvider.get().softmax();
    SoftmaxKernels scalar = VectorizationProvider.scalar().softmax();
    for (Mode mode : Mode.values()) {
      if (!k.hasGrad() && mode != Mode.OVERWRITE) {
        continue;
      }
      if (n.name().equals("logSoftmax") && mode != Mode.OVERWRITE && mode != Mode.IN_PLACE) {
        continue;
      }
      int stride = seed % 2 == 0 ? classes : classes + 3;
      boolean int64 = seed % 4 >= 2; // class indices as int64 (PyTorch's) in half the shapes
      String ctx = n.name() + " " + mode + " rows=" + rows + " classes=" + classes + " stride="
          + stride + (int64 ? " int64" : "") + " seed=" + seed;
      float[] init = initialGrad(rows * classes, seed);
      Out a = call(here, k, x, second, rows, classes, stride, mode, init, int64);
      Out b = call(scalar, k, x, second, rows, classes, stride, mode, init, int64);
      expect(ctx + " [" + VectorizationProvider.get().name() + "]", a, want, deriv, mode, init);
      expect(ctx + " [scalar]", b, want, deriv, mode, init);
      // the two implementations against each other, with the oracle's tolerance around the
      // scalar result
      if (!n.name().equals("logSoftmax")) {
        Tolerance.assertVector(ctx + " row losses, " + VectorizationProvider.get().name()
            + " vs scalar", a.loss(), toDouble(b.loss()), Tolerance.scale(want));
      }
      if (a.grad() != null) {
        Tolerance.assertVector(ctx + " grad, " + VectorizationProvider.get().name()
            + " vs scalar", a.grad(), toDouble(b.grad()), Tolerance.scale(scaled(deriv)));
      }
    }
  }

  record Out(double value, float[] loss, float[] grad) {}

  static float[] initialGrad(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed ^ 0x5eed);
    float[] g = new float[n];
    for (int i = 0; i < n; i++) {
      g[i] = (float) (r.nextDouble() * 2 - 1);
    }
    return g;
  }

  static Out call(SoftmaxKernels impl, Kernel k, float[] x, Object second, int rows, int classes,
      int stride, Mode mode, float[] init, boolean int64) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = Rows.strided(arena, x, rows, classes, stride, 1, Float.NaN);
      MemorySegment ss;
      if (second instanceof int[] t && int64) {
        ss = arena.allocate(Math.max(1, t.length) * (long) Long.BYTES);
        for (int i = 0; i < t.length; i++) {
          ss.setAtIndex(ValueLayout.JAVA_LONG, i, t[i]);
        }
      } else if (second instanceof int[] t) {
        ss = arena.allocate(Math.max(1, t.length) * (long) Integer.BYTES);
        MemorySegment.copy(t, 0, ss, ValueLayout.JAVA_INT, 0, t.length);
      } else if (second instanceof float[] q) {
        ss = Rows.strided(arena, q, rows, classes, stride, 2, Float.NaN);
      } else {
        ss = null;
      }
      MemorySegment ls = arena.allocate(Math.max(1, rows) * (long) Float.BYTES);
      MemorySegment gs = switch (mode) {
        case OVERWRITE -> Rows.strided(arena, new float[x.length], rows, classes, stride, 3,
            Rows.PAD_OUT);
        case ACCUMULATE -> Rows.strided(arena, init, rows, classes, stride, 3, Rows.PAD_OUT);
        case IN_PLACE -> xs;
        case FORWARD -> null;
      };
      double v = k.run(impl, xs, ss, stride, rows, classes, ls, gs, mode == Mode.ACCUMULATE,
          int64);
      float[] grad = gs == null ? null
          : Rows.packed(gs, rows, classes, stride, gs == xs ? Float.NaN : Rows.PAD_OUT);
      return new Out(v, Rows.floats(ls, rows), grad);
    }
  }

  static void expect(String ctx, Out got, double[] rowWant, double[] deriv, Mode mode,
      float[] init) {
    boolean logSoftmax = ctx.startsWith("logSoftmax");
    if (!logSoftmax) {
      Tolerance.assertVector(ctx + " row losses", got.loss(), rowWant);
      double sum = 0;
      double tol = 0;
      double s = Tolerance.scale(rowWant);
      for (double v : rowWant) {
        sum += Tolerance.float32Range(v);
        tol += Tolerance.RTOL * Math.abs(v) + Tolerance.ATOL * s;
      }
      String m = Double.isFinite(sum) ? (Math.abs(got.value() - sum) <= tol ? null
          : "got " + got.value() + ", want " + sum) : Tolerance.compare(got.value(), sum, 1);
      if (m != null) {
        throw new AssertionError(ctx + " value: " + m);
      }
    }
    if (mode == Mode.FORWARD) {
      return;
    }
    double[] want = scaled(deriv);
    double scale = Tolerance.scale(want);
    if (mode == Mode.ACCUMULATE) {
      for (int i = 0; i < want.length; i++) {
        want[i] += init[i];
      }
      scale = Math.max(scale, 1);
    }
    Tolerance.assertVector(ctx + " grad", got.grad(), want, scale);
  }

  static double[] scaled(double[] deriv) {
    double[] d = new double[deriv.length];
    for (int i = 0; i < d.length; i++) {
      d[i] = deriv[i] * COEF;
    }
    return d;
  }

  static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i];
    }
    return d;
  }
}
