package dev.fusedloss.bench;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
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
 * One call split over 1 or 2 threads ({@link Parallelism#threads(int)}: the caller plus tasks of
 * the common pool), for the large element-wise and cross-entropy workloads. The results are the
 * same bits for either count; only the time changes.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class ParallelBench {

  @State(Scope.Benchmark)
  public static class Work {
    /** {@code loss:size} for element-wise losses, {@code ce:rowsxclasses} for cross entropy. */
    @Param({"mse:16777216", "bceWithLogits:16777216", "ce:4096x32000", "ce:65536x10"})
    public String workload;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    MemorySegment x;
    MemorySegment y;
    MemorySegment grad;
    long n;
    long rows;
    long classes;
    ElementwiseLoss elementwise;
    CrossEntropyLoss ce;

    @Setup(Level.Trial)
    public void setup() {
      String[] kv = workload.split(":");
      Parallelism p = threads == 1 ? Parallelism.sequential() : Parallelism.threads(threads);
      arena = Arena.ofShared();
      if (kv[0].equals("ce")) {
        String[] rc = kv[1].split("x");
        rows = Long.parseLong(rc[0]);
        classes = Long.parseLong(rc[1]);
        n = rows * classes;
        x = BenchData.floats(arena, n);
        grad = BenchData.floats(arena, n);
        y = arena.allocate(rows * Integer.BYTES, 64);
        BenchData.fillRows(x, y, rows, classes);
        ce = CrossEntropyLoss.builder().build().withParallelism(p);
      } else {
        n = Long.parseLong(kv[1]);
        x = BenchData.floats(arena, n);
        y = BenchData.floats(arena, n);
        grad = BenchData.floats(arena, n);
        BenchData.fillInputs(kv[0], x, y, n, 42);
        elementwise = ElementwiseState.makeAuto(kv[0], Reduction.MEAN).withParallelism(p);
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  @Benchmark
  public double fused(Work w) {
    return w.ce != null
        ? w.ce.compute(w.x, w.y, w.rows, w.classes, w.grad)
        : w.elementwise.compute(w.x, w.y, w.n, w.grad);
  }
}
