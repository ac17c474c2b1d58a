package dev.fusedloss.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Element-wise kernels: the fused engine call (MEAN, loss + gradient) against the unfused
 * three-pass baseline ({@link Unfused}). The scalar baseline is {@link ElementwiseScalarBench}
 * (same call, scalar engine) and the memory reference {@link StreamBench}; compare them at the
 * same {@code size} in one run.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class ElementwiseBench {
  @Benchmark
  public double fused(ElementwiseState s) {
    return s.kernel.compute(s.x, s.y, s.size, s.grad);
  }

  @Benchmark
  public double unfused(ElementwiseState s) {
    return Unfused.run(s.loss, s.x, s.y, s.tmp, s.grad, s.size);
  }
}
