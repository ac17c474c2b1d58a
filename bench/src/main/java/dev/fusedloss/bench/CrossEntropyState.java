package dev.fusedloss.bench;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/** Logits, targets and buffers for the cross-entropy benchmarks, allocated once per trial. */
@State(Scope.Benchmark)
public class CrossEntropyState {
  /** rows × classes. */
  @Param({"4096x32000", "1024x128256", "65536x10", "256x1000"})
  public String shape;

  long rows;
  long classes;
  Arena arena;
  MemorySegment logits;
  MemorySegment targets;
  MemorySegment grad;
  MemorySegment logProbs;
  CrossEntropyLoss loss;

  @Setup(Level.Trial)
  public void setup() {
    String[] p = shape.split("x");
    rows = Long.parseLong(p[0]);
    classes = Long.parseLong(p[1]);
    long n = rows * classes;
    arena = Arena.ofShared();
    logits = BenchData.floats(arena, n);
    grad = BenchData.floats(arena, n);
    logProbs = BenchData.floats(arena, n);
    targets = arena.allocate(rows * Integer.BYTES, 64);
    BenchData.fillRows(logits, targets, rows, classes);
    loss = CrossEntropyLoss.builder().reduction(Reduction.MEAN).build()
        .withParallelism(Parallelism.sequential()); // ParallelBench measures threads
    // compile the kernels on a few rows before the first measured call on the whole buffer
    long few = Math.min(rows, Math.max(1, 65536 / classes));
    for (int i = 0; i < 2000; i++) {
      loss.compute(logits, targets, few, classes, grad);
      UnfusedSoftmax.crossEntropy(logits, targets, few, classes, logProbs, grad);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    arena.close();
  }
}
