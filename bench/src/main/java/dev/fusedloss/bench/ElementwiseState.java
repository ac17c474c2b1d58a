package dev.fusedloss.bench;

import dev.fusedloss.BCELoss;
import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.BinaryFocalLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.HuberLoss;
import dev.fusedloss.L1Loss;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import dev.fusedloss.SigmoidFocalLoss;
import dev.fusedloss.SmoothL1Loss;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/** Inputs and the configured loss for the element-wise benchmarks, allocated once per trial. */
@State(Scope.Benchmark)
public class ElementwiseState {
  @Param({"4096", "1048576", "16777216"})
  public long size;

  @Param({"mse", "l1", "smoothL1", "huber", "bce", "bceWithLogits", "sigmoidFocal", "binaryFocal"})
  public String loss;

  Arena arena;
  MemorySegment x;
  MemorySegment y;
  MemorySegment grad;
  MemorySegment tmp;
  ElementwiseLoss kernel;

  static ElementwiseLoss make(String loss) {
    Reduction r = Reduction.MEAN;
    // one thread: ParallelBench measures the multi-threaded calls
    return makeAuto(loss, r).withParallelism(Parallelism.sequential());
  }

  static ElementwiseLoss makeAuto(String loss, Reduction r) {
    return switch (loss) {
      case "mse" -> MSELoss.of(r);
      case "l1" -> L1Loss.of(r);
      case "smoothL1" -> SmoothL1Loss.of(r, 1f);
      case "huber" -> HuberLoss.of(r, 1f);
      case "bce" -> BCELoss.builder().reduction(r).build();
      case "bceWithLogits" -> BCEWithLogitsLoss.builder().reduction(r).build();
      case "sigmoidFocal" -> SigmoidFocalLoss.builder().reduction(r).alpha(0.25f).gamma(2f).build();
      case "binaryFocal" -> BinaryFocalLoss.builder().reduction(r).alpha(0.25f).gamma(2f).build();
      default -> throw new IllegalArgumentException(loss);
    };
  }

  @Setup(Level.Trial)
  public void setup() {
    arena = Arena.ofShared();
    x = BenchData.floats(arena, size);
    y = BenchData.floats(arena, size);
    grad = BenchData.floats(arena, size);
    tmp = BenchData.floats(arena, size);
    BenchData.fillInputs(loss, x, y, size, 42);
    kernel = make(loss);
    // compile the kernels on small slices first: a cold first call on 64 MiB runs interpreted
    long small = Math.min(size, 4096);
    for (int i = 0; i < 3000; i++) {
      kernel.compute(x, y, small, grad);
      Unfused.run(loss, x, y, tmp, grad, small);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    arena.close();
  }

}
