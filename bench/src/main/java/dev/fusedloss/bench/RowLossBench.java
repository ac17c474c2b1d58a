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
 * NLL, softmax focal, KL, distillation and log-softmax (loss + gradient): the fused call against
 * a same-bytes copy (read the input, write the gradient). Compare with
 * {@link RowLossScalarBench} (the scalar kernels) and, for the exp floor, {@link CrossEntropyBench#exp}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class RowLossBench {
  @Benchmark
  public double fused(RowLossState s) {
    return s.run();
  }

  @Benchmark
  public void copy(RowLossState s) {
    MemorySegment.copy(s.x, 0, s.grad, 0, s.rows * s.classes * Float.BYTES);
  }
}
