package dev.fusedloss.props;

import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.FloatFormat;
import dev.fusedloss.Reduction;
import dev.fusedloss.oracle.SoftmaxOracle;
import dev.fusedloss.props.Specs.Spec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * bfloat16 and float16 buffers: every element-wise loss and cross entropy (class indices and soft
 * targets) against the double oracle on the values the 16-bit inputs stand for, with a float32
 * gradient (the oracle's usual tolerance) and a 16-bit one (the oracle's gradient rounded to the
 * format, plus one unit in the format's last place: the kernel's float32 gradient may sit on the
 * other side of a rounding boundary). Sizes cross the 2048-value tiles; accumulation adds in
 * float32 and rounds once; weighted BCE keeps each element's weight across tile edges.
 */
class SixteenBitProperties {
  static final FloatFormat[] HALF = {FloatFormat.BFLOAT16, FloatFormat.FLOAT16};

  @TestFactory
  Stream<DynamicTest> elementwiseMatchesOracle() {
    return Specs.all().stream().flatMap(spec -> Stream.of(HALF).flatMap(f -> Stream.of(
        Reduction.MEAN, Reduction.NONE).map(r -> DynamicTest.dynamicTest(
            spec + " " + f + " " + r, () -> qt().withExamples(Seeds.examples(12))
                .withFixedSeed(Seeds.seed())
                .forAll(integers().between(0, 5000), longs().all(), integers().between(0, 63))
                .checkAssert((n, seed, flags) -> elementwise(spec, f, r, n, seed, flags))))));
  }

  /** Values of {@code v} rounded to {@code f} (so the 16-bit buffer holds them exactly). */
  static float[] round(float[] v, FloatFormat f) {
    float[] r = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      r[i] = f.decode(f.encode(v[i]));
    }
    return r;
  }

  static MemorySegment store(Arena a, float[] v, FloatFormat f) {
    MemorySegment s = a.allocate((long) v.length * f.bytes() + 8, 8).asSlice(2);
    for (int i = 0; i < v.length; i++) {
      if (f == FloatFormat.FLOAT32) {
        s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v[i]);
      } else {
        s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, f.encode(v[i]));
      }
    }
    return s;
  }

  static float[] load(MemorySegment s, FloatFormat f, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = f == FloatFormat.FLOAT32 ? s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i)
          : f.decode(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
    }
    return v;
  }

  static void elementwise(Spec spec, FloatFormat f, Reduction r, int size, long seed, int flags) {
    int n = spec.columns() > 0 ? size - size % spec.columns() : size;
    float[] x = round(Data.make(spec.x(), n, seed, (flags & 1) != 0), f);
    float[] y = round(Data.make(spec.y(), n, seed + 1, (flags & 1) != 0), f);
    if ((flags & 2) != 0 && (flags & 4) != 0) {
      Data.sprinkleNonFinite(x, seed);
      x = round(x, f);
    }
    boolean halfGrad = (flags & 8) != 0;
    boolean acc = (flags & 16) != 0;
    FloatFormat gf = halfGrad ? f : FloatFormat.FLOAT32;
    float scale = (flags & 32) != 0 ? -0.5f : 1f;
    double[] refG = new double[n];
    double[] refL = spec.oracle().apply(x, y, refG);
    ElementwiseLoss loss = spec.make().apply(r).withFormats(f, f, gf);
    String ctx = spec + " " + f + " grad " + gf + " " + r + " n=" + n + " seed=" + seed
        + " flags=" + flags;
    try (Arena a = Arena.ofConfined()) {
      float[] init = new float[n];
      SplittableRandom rnd = new SplittableRandom(seed);
      for (int i = 0; i < n; i++) {
        init[i] = acc ? gf.equals(FloatFormat.FLOAT32) ? (float) rnd.nextGaussian()
            : gf.decode(gf.encode((float) rnd.nextGaussian())) : Float.NaN;
      }
      MemorySegment g = store(a, init, gf);
      MemorySegment losses = r == Reduction.NONE ? a.allocate((long) n * Float.BYTES) : null;
      double v = loss.compute(store(a, x, f), store(a, y, f), n, losses, g, scale, acc);
      Expect.value(ctx + " value", v, refL, r);
      if (losses != null) {
        Tolerance.assertVector(ctx + " losses", load(losses, FloatFormat.FLOAT32, n), refL);
      }
      float[] got = load(g, gf, n);
      double s = Tolerance.scale(refG) * Math.abs(scale) / (r == Reduction.MEAN ? n : 1);
      for (int i = 0; i < n; i++) {
        double want = refG[i] * scale / (r == Reduction.MEAN ? n : 1) + (acc ? init[i] : 0);
        check(ctx + " grad[" + i + "]", got[i], want, s, gf);
      }
    }
  }

  /** The tolerance rule, plus one unit in the last place of a 16-bit result's format. */
  static void check(String what, float got, double want, double scale, FloatFormat f) {
    want = Tolerance.float32Range(want);
    if (f != FloatFormat.FLOAT32) {
      want = f.decode(f.encode((float) want));
    }
    if (!Double.isFinite(want) || !Float.isFinite(got)) {
      boolean same = Double.isNaN(want) ? Float.isNaN(got) : got == want;
      if (!same) {
        throw new AssertionError(what + ": got " + got + ", want " + want);
      }
      return;
    }
    double tol = Tolerance.RTOL * Math.abs(want) + Tolerance.ATOL * scale;
    if (f != FloatFormat.FLOAT32) {
      int bits = f == FloatFormat.BFLOAT16 ? 8 : 11;
      int minExp = f == FloatFormat.BFLOAT16 ? -126 : -14;
      tol += Math.scalb(1.0, Math.max(Math.getExponent(want), minExp) - (bits - 1));
    }
    if (!(Math.abs(got - want) <= tol)) {
      throw new AssertionError(what + ": got " + got + ", want " + want + " (tolerance " + tol
          + ")");
    }
  }

  @TestFactory
  Stream<DynamicTest> crossEntropyMatchesOracle() {
    return Stream.of(HALF).flatMap(f -> Stream.of(false, true).map(soft ->
        DynamicTest.dynamicTest(f + (soft ? " soft" : " indices"), () ->
            qt().withExamples(Seeds.examples(30)).withFixedSeed(Seeds.seed())
                .forAll(integers().between(0, 40), integers().between(1, 700), longs().all(),
                    integers().between(0, 15))
                .checkAssert((rows, classes, seed, flags) ->
                    crossEntropy(f, soft, rows, classes, seed, flags)))));
  }

  static void crossEntropy(FloatFormat f, boolean soft, int rows, int classes, long seed,
      int flags) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int n = rows * classes;
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (rnd.nextGaussian() * 4);
    }
    x = round(x, f);
    int[] t = new int[rows];
    float[] q = new float[n];
    for (int r = 0; r < rows; r++) {
      t[r] = (flags & 1) != 0 && rnd.nextInt(5) == 0 ? -100 : rnd.nextInt(classes);
      double sum = 0;
      for (int c = 0; c < classes; c++) {
        q[r * classes + c] = (float) rnd.nextDouble();
        sum += q[r * classes + c];
      }
      for (int c = 0; c < classes; c++) {
        q[r * classes + c] = (float) (q[r * classes + c] / sum);
      }
    }
    q = round(q, f);
    float eps = (flags & 2) != 0 ? 0.1f : 0f;
    FloatFormat gf = (flags & 4) != 0 ? f : FloatFormat.FLOAT32;
    Reduction red = (flags & 8) != 0 ? Reduction.SUM : Reduction.MEAN;
    CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(red).labelSmoothing(eps).build()
        .withFormats(f, f, gf);
    double[] refG = new double[n];
    double[] refL = soft ? SoftmaxOracle.softCrossEntropy(x, q, classes, null, eps, refG)
        : SoftmaxOracle.crossEntropy(x, t, classes, null, -100, eps, 0, 0, refG);
    double norm = red == Reduction.SUM ? 1 : soft ? rows : countKept(t);
    double want = 0;
    for (double v : refL) {
      want += v;
    }
    want /= norm;
    String ctx = f + (soft ? " soft" : " indices") + " grad " + gf + " " + red + " rows=" + rows
        + " classes=" + classes + " seed=" + seed + " flags=" + flags;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment g = store(a, new float[n], gf);
      double v = soft
          ? loss.computeSoft(store(a, x, f), classes, store(a, q, f), rows, classes, null, g, 1f,
              false)
          : loss.compute(store(a, x, f), classes, MemorySegment.ofArray(t), rows, classes, null,
              g, 1f, false);
      if (norm == 0) {
        return; // no kept row: NaN as in PyTorch, covered by the float32 properties
      }
      Tolerance.assertVector(ctx + " value", new float[] {(float) v}, new double[] {want});
      float[] got = load(g, gf, n);
      double s = Tolerance.scale(refG) / norm;
      for (int i = 0; i < n; i++) {
        check(ctx + " grad[" + i + "]", got[i], refG[i] / norm, s, gf);
      }
    }
  }

  static int countKept(int[] t) {
    int k = 0;
    for (int v : t) {
      k += v == -100 ? 0 : 1;
    }
    return k;
  }

  /** Encoding agrees with FloatFormat's scalar rounding on ties, subnormals, ∞ and NaN. */
  @Test
  void roundingEdgesThroughTheKernels() {
    float[] v = {0f, -0f, 1f, 1.00390625f, 1.01171875f, 1.0078125f, 1.005859375f, 65504f, 65520f,
        65519.99f, 1e-8f, 6e-8f, 2.98e-8f, Float.MIN_VALUE, Float.MIN_NORMAL, 3.3895314e38f,
        3.39e38f, Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
        -1.00390625f, 5.9604645e-8f, 2.9802322e-8f, 0.1f, -123.456f};
    // the gradient of 0.5·SUM (x−0)² is x itself: the gradient buffer receives each value rounded
    float[] x = new float[64];
    for (int i = 0; i < x.length; i++) {
      x[i] = v[i % v.length];
    }
    for (FloatFormat gf : HALF) {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment g = a.allocate(x.length * 2L);
        ElementwiseLoss mse = dev.fusedloss.MSELoss.of(Reduction.SUM)
            .withFormats(FloatFormat.FLOAT32, FloatFormat.FLOAT32, gf);
        mse.compute(MemorySegment.ofArray(x), MemorySegment.ofArray(new float[x.length]),
            x.length, null, g, 0.5f, false);
        for (int i = 0; i < x.length; i++) {
          short want = gf.encode(x[i]);
          short got = g.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i);
          boolean nan = Float.isNaN(x[i]) && Float.isNaN(gf.decode(got));
          if (!nan && want != got) {
            throw new AssertionError(gf + " of " + x[i] + ": got 0x" + Integer.toHexString(got
                & 0xffff) + ", want 0x" + Integer.toHexString(want & 0xffff));
          }
        }
      }
    }
  }
}
