package dev.fusedloss.bench;

import static jdk.incubator.vector.VectorOperators.MAX;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import dev.fusedloss.internal.PanamaExp;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
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
 * Segmentation cross entropy on PyTorch's {@code [N, C, H, W]} layout (class axis at dim 1, no
 * transposing copy), forward + backward, MEAN over the pixels: the fused N-d call on one thread
 * against an unfused baseline of PyTorch's structure over the same layout (log_softmax over dim
 * 1 into a buffer, the NLL gather, then {@code exp(logp) − onehot} into the gradient), and its
 * floors: a copy of the same bytes (logits into the gradient buffer) and a bare vector exp over
 * the logits. {@code PyTorchSegmentationBench} runs PyTorch on the same inputs.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 4)
@Measurement(iterations = 5, time = 4)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g"})
public class SegmentationBench {
  static final VectorSpecies<Float> F = PanamaExp.species();
  static final ByteOrder NO = ByteOrder.nativeOrder();

  @State(Scope.Benchmark)
  public static class Work {
    /** N×C×H×W. */
    @Param({"8x21x512x512"})
    public String shape;

    long batch;
    long classes;
    long spatial;
    Arena arena;
    MemorySegment logits;
    MemorySegment targets;
    MemorySegment grad;
    MemorySegment logProbs;
    CrossEntropyLoss loss;
    CrossEntropyLoss twoThreads;

    @Setup(Level.Trial)
    public void setup() {
      long[] d = dims(shape);
      batch = d[0];
      classes = d[1];
      spatial = d[2] * d[3];
      arena = Arena.ofShared();
      long n = batch * classes * spatial;
      logits = BenchData.floats(arena, n);
      grad = BenchData.floats(arena, n);
      logProbs = BenchData.floats(arena, n);
      targets = arena.allocate(batch * spatial * Integer.BYTES, 64);
      fill(logits, targets, batch, classes, spatial);
      loss = CrossEntropyLoss.builder().reduction(Reduction.MEAN).build()
          .withParallelism(Parallelism.sequential());
      twoThreads = loss.withParallelism(Parallelism.threads(2));
      for (int i = 0; i < 300; i++) { // compile on a slice before the first full call
        loss.computeSpatial(logits, targets, 1, classes, 4096, null, grad, 1f, false);
        unfused(logits, targets, 1, classes, 4096, logProbs, grad);
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      arena.close();
    }
  }

  static long[] dims(String shape) {
    String[] p = shape.split("x");
    long[] d = new long[p.length];
    for (int i = 0; i < p.length; i++) {
      d[i] = Long.parseLong(p[i]);
    }
    return d;
  }

  /** Logits uniform in [−4, 4), class indices uniform; the same values for the PyTorch peer. */
  static void fill(MemorySegment logits, MemorySegment targets, long batch, long classes,
      long spatial) {
    SplittableRandom r = new SplittableRandom(11);
    for (long i = 0; i < batch * classes * spatial; i++) {
      logits.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() * 8 - 4));
    }
    for (long i = 0; i < batch * spatial; i++) {
      targets.setAtIndex(ValueLayout.JAVA_INT, i, r.nextInt((int) classes));
    }
  }

  @Benchmark
  public double fused(Work s) {
    return s.loss.computeSpatial(s.logits, s.targets, s.batch, s.classes, s.spatial, null,
        s.grad, 1f, false);
  }

  /** Positions split over two threads (bitwise the same result). */
  @Benchmark
  public double fusedTwoThreads(Work s) {
    return s.twoThreads.computeSpatial(s.logits, s.targets, s.batch, s.classes, s.spatial, null,
        s.grad, 1f, false);
  }

  @Benchmark
  public double fusedForward(Work s) {
    return s.loss.computeSpatial(s.logits, s.targets, s.batch, s.classes, s.spatial, null,
        null, 1f, false);
  }

  @Benchmark
  public double unfused(Work s) {
    return unfused(s.logits, s.targets, s.batch, s.classes, s.spatial, s.logProbs, s.grad);
  }

  @Benchmark
  public void copy(Work s) {
    MemorySegment.copy(s.logits, 0, s.grad, 0, s.batch * s.classes * s.spatial * Float.BYTES);
  }

  @Benchmark
  public double exp(Work s) {
    return UnfusedSoftmax.exp(s.logits, s.batch * s.classes * s.spatial);
  }

  /**
   * PyTorch's structure on [N, C, S], vectorised across pixels like the engine: log_softmax over
   * dim 1 written to {@code logp} (max, sum of exp and write passes over the classes), the NLL
   * gather, then the backward {@code (exp(logp) − onehot)/count} into {@code grad}.
   */
  static double unfused(MemorySegment x, MemorySegment t, long batch, long classes,
      long spatial, MemorySegment logp, MemorySegment grad) {
    int lanes = F.length();
    for (long n = 0; n < batch; n++) {
      long base = n * classes * spatial;
      // per-pixel max (built in logp plane 0, kept in grad plane 0) and Σ exp (grad plane 1)
      long mo = base;
      long so = base + spatial;
      MemorySegment.copy(x, base * 4, logp, base * 4, spatial * 4);
      for (long c = 1; c < classes; c++) {
        for (long p = 0; p < spatial; p += lanes) {
          FloatVector.fromMemorySegment(F, logp, (mo + p) * 4, NO)
              .lanewise(MAX, FloatVector.fromMemorySegment(F, x, (base + c * spatial + p) * 4, NO))
              .intoMemorySegment(logp, (mo + p) * 4, NO);
        }
      }
      MemorySegment.copy(logp, mo * 4, grad, mo * 4, spatial * 4); // keep the max
      MemorySegment.copy(Zero.SEG, 0, grad, so * 4, spatial * 4);
      for (long c = 0; c < classes; c++) {
        for (long p = 0; p < spatial; p += lanes) {
          FloatVector m = FloatVector.fromMemorySegment(F, grad, (mo + p) * 4, NO);
          FloatVector e = PanamaExp.expNonPositive(FloatVector.fromMemorySegment(F, x,
              (base + c * spatial + p) * 4, NO).sub(m));
          FloatVector.fromMemorySegment(F, grad, (so + p) * 4, NO).add(e)
              .intoMemorySegment(grad, (so + p) * 4, NO);
        }
      }
      // log Σ (per pixel, scalar log) into the sum plane
      for (long p = 0; p < spatial; p++) {
        grad.setAtIndex(ValueLayout.JAVA_FLOAT, so + p, grad.getAtIndex(ValueLayout.JAVA_FLOAT, mo
            + p) + (float) Math.log(grad.getAtIndex(ValueLayout.JAVA_FLOAT, so + p)));
      }
      for (long c = 0; c < classes; c++) { // logp = x − lse
        for (long p = 0; p < spatial; p += lanes) {
          FloatVector.fromMemorySegment(F, x, (base + c * spatial + p) * 4, NO)
              .sub(FloatVector.fromMemorySegment(F, grad, (so + p) * 4, NO))
              .intoMemorySegment(logp, (base + c * spatial + p) * 4, NO);
        }
      }
    }
    // NLL
    long count = batch * spatial;
    double loss = 0;
    for (long i = 0; i < count; i++) {
      long n = i / spatial;
      long p = i - n * spatial;
      int ti = t.getAtIndex(ValueLayout.JAVA_INT, i);
      loss -= logp.getAtIndex(ValueLayout.JAVA_FLOAT, (n * classes + ti) * spatial + p);
    }
    // backward
    float inv = 1f / count;
    long total = batch * classes * spatial;
    for (long i = 0; i < total; i += lanes) {
      PanamaExp.expNonPositive(FloatVector.fromMemorySegment(F, logp, i * 4, NO)).mul(inv)
          .intoMemorySegment(grad, i * 4, NO);
    }
    for (long i = 0; i < count; i++) {
      long n = i / spatial;
      long p = i - n * spatial;
      int ti = t.getAtIndex(ValueLayout.JAVA_INT, i);
      long at = (n * classes + ti) * spatial + p;
      grad.setAtIndex(ValueLayout.JAVA_FLOAT, at, grad.getAtIndex(ValueLayout.JAVA_FLOAT, at)
          - inv);
    }
    return loss / count;
  }

  /** A plane of zeros to clear scratch with a bulk copy. */
  static final class Zero {
    static final MemorySegment SEG = Arena.global().allocate(512L * 512 * 4 * 16, 64);
  }
}
