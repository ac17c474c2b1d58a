package dev.fusedloss.bench;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.DistillationLoss;
import dev.fusedloss.KLDivLoss;
import dev.fusedloss.LogSoftmax;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftmaxFocalLoss;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Inputs of the other softmax-family losses (NLL, cross entropy with soft targets, softmax
 * focal, KL, distillation, log-softmax), allocated once per trial; {@link #run()} makes one
 * loss + gradient call.
 */
@State(Scope.Benchmark)
public class RowLossState {
  @Param({"1024x32000", "65536x10"})
  public String shape;

  @Param({"nll", "softCE", "softmaxFocal", "klDiv", "distillation", "logSoftmax"})
  public String loss;

  long rows;
  long classes;
  Arena arena;
  MemorySegment x;
  MemorySegment second;
  MemorySegment targets;
  MemorySegment grad;
  NLLLoss nll;
  SoftmaxFocalLoss focal;
  KLDivLoss kl;
  DistillationLoss distill;
  CrossEntropyLoss softCe;

  @Setup(Level.Trial)
  public void setup() {
    String[] p = shape.split("x");
    rows = Long.parseLong(p[0]);
    classes = Long.parseLong(p[1]);
    long n = rows * classes;
    arena = Arena.ofShared();
    x = BenchData.floats(arena, n);
    second = BenchData.floats(arena, n);
    grad = BenchData.floats(arena, n);
    targets = arena.allocate(rows * Integer.BYTES, 64);
    SplittableRandom r = new SplittableRandom(3);
    for (long i = 0; i < n; i++) {
      x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() * 8 - 4));
      second.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() * 8 - 4));
    }
    for (long i = 0; i < rows; i++) {
      targets.setAtIndex(ValueLayout.JAVA_INT, i, r.nextInt((int) classes));
    }
    if (loss.equals("nll") || loss.equals("klDiv")) {
      LogSoftmax.apply(x, classes, rows, classes, x); // these take log-probabilities
    }
    if (loss.equals("klDiv") || loss.equals("softCE")) {
      LogSoftmax.apply(second, classes, rows, classes, second);
    }
    if (loss.equals("softCE")) { // target probabilities: softmax rows
      for (long i = 0; i < n; i++) {
        second.setAtIndex(ValueLayout.JAVA_FLOAT, i,
            (float) Math.exp(second.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
      }
    }
    Parallelism one = Parallelism.sequential(); // ParallelBench measures threads
    nll = NLLLoss.builder().build().withParallelism(one);
    focal = SoftmaxFocalLoss.builder().gamma(2f).build().withParallelism(one);
    kl = KLDivLoss.of(Reduction.BATCH_MEAN, true).withParallelism(one);
    distill = DistillationLoss.of(Reduction.BATCH_MEAN, 2f).withParallelism(one);
    softCe = CrossEntropyLoss.builder().labelSmoothing(0.1f).build().withParallelism(one);
    for (int i = 0; i < 200; i++) { // compile on the whole buffer is slow: warm up first
      run(Math.min(rows, Math.max(1, 65536 / classes)));
    }
  }

  double run() {
    return run(rows);
  }

  private double run(long n) {
    return switch (loss) {
      case "nll" -> nll.compute(x, classes, targets, n, classes, null, grad, 1f, false);
      case "softmaxFocal" -> focal.compute(x, classes, targets, n, classes, null, grad, 1f, false);
      case "softCE" ->
          softCe.computeSoft(x, classes, second, n, classes, null, grad, 1f, false);
      case "klDiv" -> kl.compute(x, second, n, classes, null, grad, 1f, false);
      case "distillation" -> distill.compute(x, second, classes, n, classes, null, grad, 1f, false);
      case "logSoftmax" -> {
        LogSoftmax.apply(x, classes, n, classes, grad, Parallelism.sequential());
        yield 0;
      }
      default -> throw new IllegalArgumentException(loss);
    };
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    arena.close();
  }
}
