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

  /** A row loss's call: (input, target, lossOut, grad) → value. */
  interface RowCall {
    double call(MemorySegment x, MemorySegment t, MemorySegment lossOut, MemorySegment grad);
  }

  /**
   * NLL, softmax focal, distillation and KL divergence on 16-bit buffers give what the float32
   * call gives on the values they stand for (the same kernel runs on widened tiles): values and
   * row losses to 1e-6 relative, a float32 gradient to the usual tolerance, a 16-bit gradient to
   * one unit of its format.
   */
  @TestFactory
  Stream<DynamicTest> otherRowLossesMatchTheirFloat32Calls() {
    String[] kinds = {"nll", "focal", "distill", "kl"};
    return Stream.of(kinds).flatMap(kind -> Stream.of(HALF).map(f -> DynamicTest.dynamicTest(
        kind + " " + f, () -> qt().withExamples(Seeds.examples(20)).withFixedSeed(Seeds.seed())
            .forAll(integers().between(0, 30), integers().between(1, 600), longs().all(),
                integers().between(0, 3))
            .checkAssert((rows, classes, seed, flags) ->
                otherRowLoss(kind, f, rows, classes, seed, flags)))));
  }

  static void otherRowLoss(String kind, FloatFormat f, int rows, int classes, long seed,
      int flags) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int n = rows * classes;
    float[] x = new float[n];
    float[] y = new float[n];
    int[] t = new int[rows];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (rnd.nextGaussian() * 3 - (kind.equals("nll") ? 5 : 0));
      y[i] = kind.equals("kl") ? (float) rnd.nextDouble() : (float) (rnd.nextGaussian() * 3);
    }
    for (int r = 0; r < rows; r++) {
      t[r] = rnd.nextInt(classes);
    }
    x = round(x, f);
    y = round(y, f);
    FloatFormat gf = (flags & 1) != 0 ? f : FloatFormat.FLOAT32;
    Reduction red = (flags & 2) != 0 ? Reduction.NONE : Reduction.SUM;
    RowCall plain;
    RowCall half;
    MemorySegment tSeg = MemorySegment.ofArray(t);
    switch (kind) {
      case "nll" -> {
        dev.fusedloss.NLLLoss l = dev.fusedloss.NLLLoss.builder().reduction(red).build();
        dev.fusedloss.NLLLoss h = l.withFormats(f, f, gf);
        plain = (xs, ts, lo, g) -> l.compute(xs, classes, tSeg, rows, classes, lo, g, 1f, false);
        half = (xs, ts, lo, g) -> h.compute(xs, classes, tSeg, rows, classes, lo, g, 1f, false);
      }
      case "focal" -> {
        dev.fusedloss.SoftmaxFocalLoss l = dev.fusedloss.SoftmaxFocalLoss.builder().reduction(red)
            .gamma(2f).build();
        dev.fusedloss.SoftmaxFocalLoss h = l.withFormats(f, f, gf);
        plain = (xs, ts, lo, g) -> l.compute(xs, classes, tSeg, rows, classes, lo, g, 1f, false);
        half = (xs, ts, lo, g) -> h.compute(xs, classes, tSeg, rows, classes, lo, g, 1f, false);
      }
      case "distill" -> {
        dev.fusedloss.DistillationLoss l = dev.fusedloss.DistillationLoss.of(red, 2f);
        dev.fusedloss.DistillationLoss h = l.withFormats(f, f, gf);
        plain = (xs, ts, lo, g) -> l.compute(xs, ts, classes, rows, classes, lo, g, 1f, false);
        half = (xs, ts, lo, g) -> h.compute(xs, ts, classes, rows, classes, lo, g, 1f, false);
      }
      default -> {
        dev.fusedloss.KLDivLoss l = dev.fusedloss.KLDivLoss.of(red, false);
        dev.fusedloss.KLDivLoss h = l.withFormats(f, f, gf);
        plain = (xs, ts, lo, g) -> l.compute(xs, ts, rows, classes, lo, g, 1f, false);
        half = (xs, ts, lo, g) -> h.compute(xs, ts, rows, classes, lo, g, 1f, false);
      }
    }
    int losses = red == Reduction.NONE ? (kind.equals("kl") ? n : rows) : 0;
    String ctx = kind + " " + f + " grad " + gf + " " + red + " rows=" + rows + " classes="
        + classes + " seed=" + seed;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment l32 = a.allocate(Math.max(4, losses * 4L));
      MemorySegment g32 = a.allocate(Math.max(4, n * 4L));
      double v32 = plain.call(store(a, x, FloatFormat.FLOAT32), store(a, y, FloatFormat.FLOAT32),
          losses > 0 ? l32 : null, g32);
      MemorySegment l16 = a.allocate(Math.max(4, losses * 4L));
      MemorySegment g16 = store(a, new float[n], gf);
      double v16 = half.call(store(a, x, f), store(a, y, f), losses > 0 ? l16 : null, g16);
      if (Math.abs(v16 - v32) > 1e-6 * Math.max(1, Math.abs(v32))) {
        throw new AssertionError(ctx + ": value " + v16 + " vs float32 " + v32);
      }
      float[] want = load(l32, FloatFormat.FLOAT32, losses);
      float[] got = load(l16, FloatFormat.FLOAT32, losses);
      for (int i = 0; i < losses; i++) {
        check(ctx + " loss[" + i + "]", got[i], want[i], 1, FloatFormat.FLOAT32);
      }
      float[] gw = load(g32, FloatFormat.FLOAT32, n);
      float[] gg = load(g16, gf, n);
      for (int i = 0; i < n; i++) {
        check(ctx + " grad[" + i + "]", gg[i], gw[i], 1, gf);
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
