package dev.fusedloss.bench;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.GradNorm;
import dev.fusedloss.MSELoss;
import dev.fusedloss.MultiTaskLoss;
import dev.fusedloss.OhemCrossEntropyLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import dev.fusedloss.SmoothL1Loss;
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
 * The training features against their plain counterparts, in one JMH run, one thread:
 * <ul>
 *   <li>{@code ohem} (cross entropy keeping a quarter of the rows) against {@code plainCe}, the
 *       same cross entropy over every row (target: at most 1.3×);
 *   <li>{@code multiTask} (cross entropy 4096×1000 plus smooth L1 over 1M box values, uncertainty
 *       weighting) against {@code tasksAlone}, the two calls made directly (target: 1.05×);
 *   <li>{@code guardedCe}, {@code guardedMse}: the non-finite guard against {@code plainCe},
 *       {@code plainMse} (target: at most 1.1×);
 *   <li>{@code gradNorm} (one step over 3 tasks × 16M shared parameters) against
 *       {@code readThree}, a bare vector read of the same 192 MB (target: 80 % of it).
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class TrainingBench {

  /** Cross entropy inputs for the OHEM comparison. */
  @State(Scope.Benchmark)
  public static class Rows {
    @Param({"4096x32000", "65536x10"})
    public String shape;

    long rows;
    long classes;
    Arena arena;
    MemorySegment logits;
    MemorySegment targets;
    MemorySegment grad;
    CrossEntropyLoss plain;
    CrossEntropyLoss guarded;
    OhemCrossEntropyLoss ohem;

    @Setup(Level.Trial)
    public void setup() {
      String[] p = shape.split("x");
      rows = Long.parseLong(p[0]);
      classes = Long.parseLong(p[1]);
      arena = Arena.ofShared();
      logits = BenchData.floats(arena, rows * classes);
      grad = BenchData.floats(arena, rows * classes);
      targets = arena.allocate(rows * Integer.BYTES, 64);
      BenchData.fillRows(logits, targets, rows, classes);
      Parallelism one = Parallelism.sequential();
      plain = CrossEntropyLoss.builder().build().withParallelism(one);
      ohem = OhemCrossEntropyLoss.builder().keep(rows / 4).build().withParallelism(one);
      guarded = plain.withFiniteCheck(true);
      long few = Math.min(rows, Math.max(16, 65536 / classes));
      for (int i = 0; i < 2000; i++) {
        plain.compute(logits, targets, few, classes, grad);
        ohem.compute(logits, targets, few, classes, grad);
        guarded.compute(logits, targets, few, classes, grad);
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  @Benchmark
  public double plainCe(Rows s) {
    return s.plain.compute(s.logits, s.targets, s.rows, s.classes, s.grad);
  }

  @Benchmark
  public double ohem(Rows s) {
    return s.ohem.compute(s.logits, s.targets, s.rows, s.classes, s.grad);
  }

  @Benchmark
  public double guardedCe(Rows s) {
    return s.guarded.compute(s.logits, s.targets, s.rows, s.classes, s.grad);
  }

  /** MSE over 16M elements, plain and guarded. */
  @State(Scope.Benchmark)
  public static class Elements {
    static final long N = 1 << 24;
    Arena arena;
    MemorySegment x;
    MemorySegment y;
    MemorySegment grad;
    dev.fusedloss.ElementwiseLoss plain;
    dev.fusedloss.ElementwiseLoss guarded;

    @Setup(Level.Trial)
    public void setup() {
      arena = Arena.ofShared();
      x = BenchData.floats(arena, N);
      y = BenchData.floats(arena, N);
      grad = BenchData.floats(arena, N);
      BenchData.fillInputs("mse", x, y, N, 5);
      plain = MSELoss.of(Reduction.MEAN).withParallelism(Parallelism.sequential());
      guarded = plain.withFiniteCheck(true);
      for (int i = 0; i < 2000; i++) {
        plain.compute(x, y, 65536, grad);
        guarded.compute(x, y, 65536, grad);
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  @Benchmark
  public double plainMse(Elements s) {
    return s.plain.compute(s.x, s.y, Elements.N, s.grad);
  }

  @Benchmark
  public double guardedMse(Elements s) {
    return s.guarded.compute(s.x, s.y, Elements.N, s.grad);
  }

  /** Two tasks: classification cross entropy and box smooth L1, as the seed's detector. */
  @State(Scope.Benchmark)
  public static class Tasks {
    static final long ROWS = 4096;
    static final long CLASSES = 1000;
    static final long BOXES = 1 << 20;
    Arena arena;
    MemorySegment logits;
    MemorySegment labels;
    MemorySegment gradCls;
    MemorySegment boxes;
    MemorySegment boxTargets;
    MemorySegment gradBox;
    CrossEntropyLoss ce;
    SmoothL1Loss sl1;
    MultiTaskLoss mt;
    MultiTaskLoss.Task[] tasks;
    final float[] logVars = {-0.3f, 0.2f};
    final double[] losses = new double[2];
    final double[] logVarGrads = new double[2];

    @Setup(Level.Trial)
    public void setup() {
      arena = Arena.ofShared();
      logits = BenchData.floats(arena, ROWS * CLASSES);
      gradCls = BenchData.floats(arena, ROWS * CLASSES);
      labels = arena.allocate(ROWS * Integer.BYTES, 64);
      BenchData.fillRows(logits, labels, ROWS, CLASSES);
      boxes = BenchData.floats(arena, BOXES);
      boxTargets = BenchData.floats(arena, BOXES);
      gradBox = BenchData.floats(arena, BOXES);
      BenchData.fillInputs("smoothL1", boxes, boxTargets, BOXES, 3);
      Parallelism one = Parallelism.sequential();
      ce = CrossEntropyLoss.builder().build().withParallelism(one);
      sl1 = (SmoothL1Loss) SmoothL1Loss.of(Reduction.MEAN, 1f / 9).withParallelism(one);
      mt = MultiTaskLoss.uncertainty(MultiTaskLoss.TaskKind.CLASSIFICATION,
          MultiTaskLoss.TaskKind.REGRESSION);
      tasks = new MultiTaskLoss.Task[] {
          scale -> ce.compute(logits, CLASSES, labels, ROWS, CLASSES, null, gradCls, scale, false),
          scale -> sl1.compute(boxes, boxTargets, BOXES, null, gradBox, scale, false)};
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  @Benchmark
  public double multiTask(Tasks s) {
    return s.mt.compute(s.logVars, s.losses, s.logVarGrads, s.tasks);
  }

  @Benchmark
  public double tasksAlone(Tasks s) {
    return s.ce.compute(s.logits, Tasks.CLASSES, s.labels, Tasks.ROWS, Tasks.CLASSES, null,
        s.gradCls, 1.35f, false)
        + s.sl1.compute(s.boxes, s.boxTargets, Tasks.BOXES, null, s.gradBox, 0.41f, false);
  }

  /** Three tasks' shared-layer gradients of 16M floats each. */
  @State(Scope.Benchmark)
  public static class Shared {
    static final long N = 1 << 24;
    Arena arena;
    MemorySegment[] grads;
    GradNorm gradNorm;
    final double[] taskLosses = {1.2, 0.8, 0.5};

    @Setup(Level.Trial)
    public void setup() {
      arena = Arena.ofShared();
      grads = new MemorySegment[3];
      for (int t = 0; t < 3; t++) {
        grads[t] = BenchData.floats(arena, N);
        BenchData.fillInputs("mse", grads[t], grads[t], N, 11 + t);
      }
      gradNorm = new GradNorm(new float[] {1f, 1f, 1f}, new double[] {2, 1, 0.6}, 1.5f, 1e-9f)
          .parallelism(Parallelism.sequential());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  @Benchmark
  public double gradNorm(Shared s) {
    return s.gradNorm.step(s.grads, Shared.N, s.taskLosses);
  }

  @Benchmark
  public double readThree(Shared s) {
    return Unfused.readSum(s.grads[0], Shared.N) + Unfused.readSum(s.grads[1], Shared.N)
        + Unfused.readSum(s.grads[2], Shared.N);
  }
}
