package dev.fusedloss.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/** The scalar baseline for {@link CrossEntropyBench}: the engine's scalar kernels, in a forked JVM. */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector",
    "-Dfusedloss.vectorization=scalar"})
public class CrossEntropyScalarBench {
  @Benchmark
  public double scalar(CrossEntropyState s) {
    return s.loss.compute(s.logits, s.targets, s.rows, s.classes, s.grad);
  }
}
