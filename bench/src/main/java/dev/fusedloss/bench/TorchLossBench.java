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
 * The rest of torch.nn's losses (Poisson and Gaussian NLL, hinge embedding, soft margin, margin
 * ranking, multi-label soft margin, multi-margin, multi-label margin, cosine embedding, triplet
 * margin, CTC), loss + gradient on one thread: the fused call against an unfused baseline of
 * autograd's structure (each op a pass over the data writing a temporary, then the backward
 * passes; plain Java loops, which C2 vectorises where it can) and a copy of the first input into
 * the gradient buffer (the bytes floor of the smallest fused call). Shapes in {@link
 * TorchLossState}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx3g"})
public class TorchLossBench {
  @Benchmark
  public double fused(TorchLossState s) {
    return s.fused();
  }

  @Benchmark
  public double unfused(TorchLossState s) {
    return s.unfused();
  }

  @Benchmark
  public void copy(TorchLossState s) {
    MemorySegment.copy(s.a, 0, s.ga, 0, s.n * Float.BYTES);
  }
}
