package dev.fusedloss.bench;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cross entropy with class indices, forward + backward (MEAN): the fused engine call against
 * the unfused PyTorch-structured baseline, a same-bytes copy (read the logits, write the
 * gradient) and a bare vector exp over the same elements. The scalar baseline is
 * {@link CrossEntropyScalarBench}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class CrossEntropyBench {
  @Benchmark
  public double fused(CrossEntropyState s) {
    return s.loss.compute(s.logits, s.targets, s.rows, s.classes, s.grad);
  }

  @Benchmark
  public double unfused(CrossEntropyState s) {
    return UnfusedSoftmax.crossEntropy(s.logits, s.targets, s.rows, s.classes, s.logProbs, s.grad);
  }

  @Benchmark
  public void copy(CrossEntropyState s) {
    MemorySegment.copy(s.logits, 0, s.grad, 0, s.rows * s.classes * Float.BYTES);
  }

  @Benchmark
  public double exp(CrossEntropyState s) {
    return UnfusedSoftmax.exp(s.logits, s.rows * s.classes);
  }
}
