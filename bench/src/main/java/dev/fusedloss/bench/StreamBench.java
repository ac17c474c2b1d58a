package dev.fusedloss.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
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
 * The memory reference for element-wise kernels: a vector loop that reads two float arrays and
 * writes one ({@code out = x + y}), the same bytes a fused loss-and-gradient call streams; and
 * the compute floor, a bare vector exp over the same elements (the engine's inline exp).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class StreamBench {
  @Param({"4096", "1048576", "16777216"})
  public long size;

  Arena arena;
  MemorySegment x;
  MemorySegment y;
  MemorySegment out;

  @Setup(Level.Trial)
  public void setup() {
    arena = Arena.ofShared();
    x = BenchData.floats(arena, size);
    y = BenchData.floats(arena, size);
    out = BenchData.floats(arena, size);
    BenchData.fillInputs("mse", x, y, size, 42);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    arena.close();
  }

  @Benchmark
  public void stream() {
    Unfused.stream(x, y, out, size);
  }

  /** The compute floor of the transcendental losses: a bare vector exp over the elements. */
  @Benchmark
  public double exp() {
    return UnfusedSoftmax.exp(x, size);
  }
}
