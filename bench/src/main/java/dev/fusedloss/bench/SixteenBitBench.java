package dev.fusedloss.bench;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.FloatFormat;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * bfloat16 buffers against float32 ones in the same run, one thread: MSE over 16M elements
 * (input, target and gradient in bfloat16: half the bytes) and cross entropy over 4096×32000
 * bfloat16 logits (float32 or bfloat16 gradient), with the floors of their own bytes: {@code
 * copyBf16Mse} moves what bfloat16 MSE must (read 2 × 32 MB, write 32 MB), {@code copyBf16Ce}
 * what bfloat16 cross entropy must (read and write 4096×32000 × 2 bytes).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class SixteenBitBench {
  static final long N = 1L << 24;
  static final long ROWS = 4096;
  static final long CLASSES = 32000;

  @State(Scope.Benchmark)
  public static class Buffers {
    Arena arena;
    MemorySegment x32;
    MemorySegment y32;
    MemorySegment g32;
    MemorySegment x16;
    MemorySegment y16;
    MemorySegment g16;
    MemorySegment logits32;
    MemorySegment logits16;
    MemorySegment ceGrad32;
    MemorySegment ceGrad16;
    MemorySegment targets;
    ElementwiseLoss mse;
    ElementwiseLoss mse16;
    CrossEntropyLoss ce;
    CrossEntropyLoss ce16;
    CrossEntropyLoss ce16grad32;

    @Setup(Level.Trial)
    public void setup() {
      arena = Arena.ofShared();
      x32 = BenchData.floats(arena, N);
      y32 = BenchData.floats(arena, N);
      g32 = BenchData.floats(arena, N);
      BenchData.fillInputs("mse", x32, y32, N, 42);
      x16 = halves(arena, x32, N);
      y16 = halves(arena, y32, N);
      g16 = halves(arena, g32, N);
      logits32 = BenchData.floats(arena, ROWS * CLASSES);
      ceGrad32 = BenchData.floats(arena, ROWS * CLASSES);
      targets = arena.allocate(ROWS * Integer.BYTES, 64);
      BenchData.fillRows(logits32, targets, ROWS, CLASSES);
      logits16 = halves(arena, logits32, ROWS * CLASSES);
      ceGrad16 = halves(arena, ceGrad32, ROWS * CLASSES);
      Parallelism one = Parallelism.sequential();
      mse = MSELoss.of(Reduction.MEAN).withParallelism(one);
      mse16 = mse.withFormats(FloatFormat.BFLOAT16, FloatFormat.BFLOAT16, FloatFormat.BFLOAT16);
      ce = CrossEntropyLoss.builder().build().withParallelism(one);
      ce16 = ce.withFormats(FloatFormat.BFLOAT16, FloatFormat.BFLOAT16, FloatFormat.BFLOAT16);
      ce16grad32 = ce.withFormats(FloatFormat.BFLOAT16, FloatFormat.BFLOAT16,
          FloatFormat.FLOAT32);
    }

    static MemorySegment halves(Arena a, MemorySegment f, long n) {
      MemorySegment s = a.allocate(n * 2, 64);
      for (long i = 0; i < n; i++) {
        s.setAtIndex(ValueLayout.JAVA_SHORT, i,
            FloatFormat.floatToBfloat16(f.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
      }
      return s;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  @Benchmark
  public double mseFloat32(Buffers b) {
    return b.mse.compute(b.x32, b.y32, N, b.g32);
  }

  @Benchmark
  public double mseBf16(Buffers b) {
    return b.mse16.compute(b.x16, b.y16, N, b.g16);
  }

  /** The bytes bfloat16 MSE moves: two 32 MB reads and a 32 MB write (x + y into out). */
  @Benchmark
  public void copyBf16Mse(Buffers b) {
    Unfused.stream(b.x16, b.y16, b.g16, N / 2);
  }

  @Benchmark
  public double ceFloat32(Buffers b) {
    return b.ce.compute(b.logits32, b.targets, ROWS, CLASSES, b.ceGrad32);
  }

  @Benchmark
  public double ceBf16(Buffers b) {
    return b.ce16.compute(b.logits16, b.targets, ROWS, CLASSES, b.ceGrad16);
  }

  @Benchmark
  public double ceBf16GradFloat32(Buffers b) {
    return b.ce16grad32.compute(b.logits16, b.targets, ROWS, CLASSES, b.ceGrad32);
  }

  /** The bytes bfloat16 cross entropy moves: the logits read and the gradient written. */
  @Benchmark
  public void copyBf16Ce(Buffers b) {
    MemorySegment.copy(b.logits16, 0, b.ceGrad16, 0, ROWS * CLASSES * 2);
  }
}
