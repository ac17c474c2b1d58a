package dev.fusedloss.bench;

import dev.fusedloss.FloatFormat;
import dev.fusedloss.FusedLinearCrossEntropyLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.internal.LinearKernels;
import dev.fusedloss.internal.PanamaExp;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The fused linear + cross entropy against its floors, one thread, shapes {@code N×H×V}:
 * <ul>
 *   <li>{@code fmaPeak}: 12 independent FMA chains in registers, 2·12·L·ITER flops: the roof;
 *   <li>{@code gemm}: our product kernel on {@code [N, H] × [H, V]} (the forward product), whose
 *       GFLOP/s the report sets against the roof;
 *   <li>{@code threeGemms}: the three products of an unfused forward and backward ({@code z =
 *       h·Wᵀ}, {@code dH = dz·W}, {@code dW = dzᵀ·h}) with our kernel on full matrices (this
 *       holds the {@code [N, V]} logits: 4·N·V bytes);
 *   <li>{@code fused}: the loss, forward and backward (all three gradients), and {@code
 *       fusedBf16} with bfloat16 hidden states and weight;
 *   <li>{@code forwardOnly}: per-token log-probabilities, no gradient.
 * </ul>
 * Flops per call: 2·N·H·V per product. The report turns times into GFLOP/s.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 8)
@Measurement(iterations = 3, time = 8)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g"})
public class LinearCrossEntropyBench {
  /** FMA steps per {@code fmaPeak} call. */
  public static final int ITER = 1 << 20;

  @State(Scope.Benchmark)
  public static class Shape {
    @Param({"1024x1024x32000", "256x512x32000"})
    public String nhv;

    int n;
    int h;
    int v;
    Arena arena;
    MemorySegment hidden;
    MemorySegment weight;
    MemorySegment weightT; // [H, V] for the plain products
    MemorySegment hiddenBf16;
    MemorySegment weightBf16;
    MemorySegment bias;
    MemorySegment targets;
    MemorySegment gh;
    MemorySegment gw;
    MemorySegment gb;
    MemorySegment logits; // [N, V]: the unfused path's buffer
    MemorySegment rowOut;
    FusedLinearCrossEntropyLoss loss;
    FusedLinearCrossEntropyLoss lossBf16;
    FusedLinearCrossEntropyLoss lossTwoThreads;
    LinearKernels lk;

    @Setup(Level.Trial)
    public void setup() {
      String[] p = nhv.split("x");
      n = Integer.parseInt(p[0]);
      h = Integer.parseInt(p[1]);
      v = Integer.parseInt(p[2]);
      arena = Arena.ofShared();
      hidden = BenchData.floats(arena, (long) n * h);
      weight = BenchData.floats(arena, (long) v * h);
      weightT = BenchData.floats(arena, (long) v * h);
      hiddenBf16 = arena.allocate((long) n * h * 2, 64);
      weightBf16 = arena.allocate((long) v * h * 2, 64);
      bias = BenchData.floats(arena, v);
      targets = arena.allocate((long) n * Integer.BYTES, 64);
      gh = BenchData.floats(arena, (long) n * h);
      gw = BenchData.floats(arena, (long) v * h);
      gb = BenchData.floats(arena, v);
      logits = BenchData.floats(arena, (long) n * v);
      rowOut = BenchData.floats(arena, n);
      fill(hidden, weight, bias, targets, n, h, v);
      for (long i = 0; i < (long) n * h; i++) {
        hiddenBf16.setAtIndex(ValueLayout.JAVA_SHORT, i,
            FloatFormat.floatToBfloat16(hidden.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
      }
      for (long i = 0; i < (long) v * h; i++) {
        float w = weight.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        weightBf16.setAtIndex(ValueLayout.JAVA_SHORT, i, FloatFormat.floatToBfloat16(w));
      }
      for (long j = 0; j < v; j++) {
        for (long k = 0; k < h; k++) {
          weightT.setAtIndex(ValueLayout.JAVA_FLOAT, k * v + j,
              weight.getAtIndex(ValueLayout.JAVA_FLOAT, j * h + k));
        }
      }
      Parallelism one = Parallelism.sequential();
      loss = FusedLinearCrossEntropyLoss.builder().build().withParallelism(one);
      lossBf16 = FusedLinearCrossEntropyLoss.builder().inputFormat(FloatFormat.BFLOAT16).build()
          .withParallelism(one);
      lossTwoThreads = FusedLinearCrossEntropyLoss.builder().build()
          .withParallelism(Parallelism.threads(2));
      lk = VectorizationProvider.get().linear();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  /**
   * The inputs every peer uses: hidden ~ N(0, 1), weight ~ N(0, 1/H), bias ~ N(0, 0.1²), targets
   * uniform, from one seeded stream in that order.
   */
  static void fill(MemorySegment hidden, MemorySegment weight, MemorySegment bias,
      MemorySegment targets, int n, int h, int v) {
    SplittableRandom r = new SplittableRandom(11);
    for (long i = 0; i < (long) n * h; i++) {
      hidden.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
    }
    double s = 1 / Math.sqrt(h);
    for (long i = 0; i < (long) v * h; i++) {
      weight.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextGaussian() * s));
    }
    for (long i = 0; i < v; i++) {
      bias.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextGaussian() * 0.1));
    }
    for (long i = 0; i < n; i++) {
      targets.setAtIndex(ValueLayout.JAVA_INT, i, r.nextInt(v));
    }
  }

  @Benchmark
  public double fused(Shape s) {
    return s.loss.compute(s.hidden, s.weight, s.bias, s.targets, s.n, s.h, s.v, s.gh, s.gw, s.gb);
  }

  /** {@code fused} on two threads (rows split for dH, vocabulary rows for dW; same bits). */
  @Benchmark
  public double fusedTwoThreads(Shape s) {
    return s.lossTwoThreads.compute(s.hidden, s.weight, s.bias, s.targets, s.n, s.h, s.v, s.gh,
        s.gw, s.gb);
  }

  @Benchmark
  public double fusedBf16(Shape s) {
    return s.lossBf16.compute(s.hiddenBf16, s.weightBf16, s.bias, s.targets, s.n, s.h, s.v, s.gh,
        s.gw, s.gb);
  }

  @Benchmark
  public double forwardOnly(Shape s) {
    return s.loss.logProbs(s.hidden, s.weight, s.bias, s.targets, s.n, s.h, s.v, s.rowOut);
  }

  /** The forward product alone, {@code [N, H] × [H, V]}: 2·N·H·V flops. */
  @Benchmark
  public float gemm(Shape s) {
    s.lk.gemm(s.n, s.v, s.h, s.hidden, 0, s.h, 1, s.weightT, 0, s.v, s.logits, 0, s.v, false);
    return s.logits.getAtIndex(ValueLayout.JAVA_FLOAT, 0);
  }

  /**
   * The unfused path's three products on full matrices (the logits buffer stands in for dz):
   * {@code z = h·Wᵀ}, {@code dH = dz·W}, {@code dW = dzᵀ·h}; 6·N·H·V flops.
   */
  @Benchmark
  public float threeGemms(Shape s) {
    s.lk.gemm(s.n, s.v, s.h, s.hidden, 0, s.h, 1, s.weightT, 0, s.v, s.logits, 0, s.v, false);
    s.lk.gemm(s.n, s.h, s.v, s.logits, 0, s.v, 1, s.weight, 0, s.h, s.gh, 0, s.h, false);
    s.lk.gemm(s.v, s.h, s.n, s.logits, 0, 1, s.v, s.hidden, 0, s.h, s.gw, 0, s.h, false);
    return s.gw.getAtIndex(ValueLayout.JAVA_FLOAT, 0);
  }

  /** 12 independent chains of {@code ITER} FMAs on L lanes: 24·L·ITER flops, no memory. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public float fmaPeak() {
    VectorSpecies<Float> f = PanamaExp.species();
    FloatVector m = FloatVector.broadcast(f, 0.999999f);
    FloatVector a = FloatVector.broadcast(f, 1e-7f);
    FloatVector c0 = FloatVector.broadcast(f, 1f);
    FloatVector c1 = c0.add(1f);
    FloatVector c2 = c0.add(2f);
    FloatVector c3 = c0.add(3f);
    FloatVector c4 = c0.add(4f);
    FloatVector c5 = c0.add(5f);
    FloatVector c6 = c0.add(6f);
    FloatVector c7 = c0.add(7f);
    FloatVector c8 = c0.add(8f);
    FloatVector c9 = c0.add(9f);
    FloatVector c10 = c0.add(10f);
    FloatVector c11 = c0.add(11f);
    for (int i = 0; i < ITER; i++) {
      c0 = c0.fma(m, a);
      c1 = c1.fma(m, a);
      c2 = c2.fma(m, a);
      c3 = c3.fma(m, a);
      c4 = c4.fma(m, a);
      c5 = c5.fma(m, a);
      c6 = c6.fma(m, a);
      c7 = c7.fma(m, a);
      c8 = c8.fma(m, a);
      c9 = c9.fma(m, a);
      c10 = c10.fma(m, a);
      c11 = c11.fma(m, a);
    }
    return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10)
        .add(c11).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
  }
}
