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
 * The scalar baseline: the same engine call as {@link ElementwiseBench#fused} in a JVM where the
 * engine is forced onto its scalar kernels ({@code -Dfusedloss.vectorization=scalar}), i.e. what
 * a class-path user without the Vector API module gets.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector",
    "-Dfusedloss.vectorization=scalar"})
public class ElementwiseScalarBench {
  @Benchmark
  public double scalar(ElementwiseState s) {
    return s.kernel.compute(s.x, s.y, s.size, s.grad);
  }
}
