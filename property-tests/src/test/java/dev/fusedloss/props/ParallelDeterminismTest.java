package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.DistillationLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.KLDivLoss;
import dev.fusedloss.LogSoftmax;
import dev.fusedloss.MSELoss;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftmaxFocalLoss;
import dev.fusedloss.props.Specs.Spec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Multi-threaded calls give the same bits as single-threaded ones: the value, the gradient and
 * the per-element losses, for 1, 2, 3 and 7 threads, every element-wise kernel and every row
 * loss, sizes of several chunks with ragged ends.
 *
 * <p>The JIT can change the bits of the Vector API's exp/log/tanh by one ulp when it compiles a
 * kernel (see {@link Parallelism}), so each side is taken once two consecutive calls agree, and
 * a mismatch is retried once. Thread counts themselves never move a bit, so a real fault (a
 * chunking that depends on the thread count, a race) fails every time.
 */
class ParallelDeterminismTest {
  static final int[] THREADS = {2, 3, 7};
  static final ExecutorService POOL = Executors.newFixedThreadPool(7, r -> {
    Thread t = new Thread(r, "determinism-test");
    t.setDaemon(true);
    return t;
  });
  static final long CHUNK = Parallelism.CHUNK_ELEMENTS;

  @AfterAll
  static void shutdown() {
    POOL.shutdownNow();
  }

  /**
   * One call's outputs, compared bit for bit, except that any NaN equals any NaN: the sign and
   * payload of a NaN follow operand order, which the JIT may commute differently in different
   * compilations of one kernel (inlined into the sequential loop or called from a task).
   */
  record Out(double value, float[] grad, float[] loss) {
    boolean same(Out o) {
      return Double.doubleToLongBits(value) == Double.doubleToLongBits(o.value)
          && bits(grad, o.grad) && bits(loss, o.loss);
    }

    static boolean bits(float[] a, float[] b) {
      if (a == null || b == null) {
        return a == b;
      }
      if (a.length != b.length) {
        return false;
      }
      for (int i = 0; i < a.length; i++) {
        if (Float.floatToIntBits(a[i]) != Float.floatToIntBits(b[i])) {
          return false;
        }
      }
      return true;
    }

    String firstDifference(Out o) {
      if (Double.doubleToLongBits(value) != Double.doubleToLongBits(o.value)) {
        return "value " + value + " vs " + o.value;
      }
      for (int i = 0; i < grad.length; i++) {
        if (Float.floatToIntBits(grad[i]) != Float.floatToIntBits(o.grad[i])) {
          return "grad[" + i + "] " + grad[i] + " vs " + o.grad[i];
        }
      }
      return "per-element losses";
    }
  }

  /** Checks that {@code call} gives the sequential bits with 2, 3 and 7 threads. */
  static void sameBits(String what, Function<Parallelism, Out> call) {
    Out ref = settle(what, call, Parallelism.sequential());
    for (int t : THREADS) {
      Parallelism p = Parallelism.of(POOL, t);
      Out got = settle(what, call, p);
      if (!got.same(ref)) {
        // the JIT may have compiled a kernel in between: settle both once more
        ref = settle(what, call, Parallelism.sequential());
        got = settle(what, call, p);
        if (!got.same(ref)) {
          throw new AssertionError(what + ", " + t + " threads: " + ref.firstDifference(got));
        }
      }
    }
  }

  /**
   * A result two consecutive calls agree on. Tasks enter a kernel through another call path
   * than the sequential loop, which the JIT compiles separately: until both are compiled, the
   * Vector API's exp/log of one may still be the interpreter's.
   */
  static Out settle(String what, Function<Parallelism, Out> call, Parallelism p) {
    Out a = call.apply(p);
    for (int i = 1; i <= 200; i++) {
      Out b = call.apply(p);
      if (b.same(a)) {
        return b;
      }
      a = b;
      if (i % 20 == 0) {
        sleep(); // let a busy compiler queue (two cores) catch up with a recompilation
      }
    }
    throw new AssertionError(what + ": calls on " + p + " never settled on one result: "
        + a.firstDifference(call.apply(p)));
  }

  static void sleep() {
    try {
      Thread.sleep(200);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void elementwiseLossesGiveTheSameBitsOnAnyThreadCount() {
    for (Spec spec : Specs.all()) {
      for (Reduction red : Specs.REDUCTIONS) {
        ElementwiseLoss base = spec.make().apply(red);
        qt().withExamples(3).withShrinkCycles(0).withFixedSeed(Seeds.seed())
            .forAll(integers().between(2, 9), integers().between(0, 1000), longs().all())
            .checkAssert((chunks, extra, seed) -> {
              int n = (int) ((chunks - 1) * CHUNK + extra * 61L + 1);
              if (spec.columns() > 0) {
                n -= n % spec.columns();
              }
              float[] x = Data.make(spec.x(), n, seed, true);
              float[] y = Data.make(spec.y(), n, seed + 1, true);
              if ((seed & 1) == 0) {
                Data.sprinkleNonFinite(x, seed);
              }
              boolean none = red == Reduction.NONE;
              sameBits(spec + " " + red + " n=" + n, p -> {
                float[] g = new float[x.length];
                float[] l = none ? new float[x.length] : null;
                double v = base.withParallelism(p).compute(x, y, l, g, 0.75f, false);
                return new Out(v, g, l);
              });
            });
      }
    }
  }

  /** Row shapes of 2 to 9 chunks with a ragged last chunk, from few to many classes. */
  static List<int[]> shapes(long seed) {
    List<int[]> out = new ArrayList<>();
    java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
    for (int classes : new int[] {3, 10, 37, 1000, 4099}) {
      long perChunk = Math.max(1, CHUNK / classes);
      if (perChunk >= 16) {
        perChunk = (perChunk + 15) / 16 * 16;
      }
      int rows = (int) (perChunk * (2 + r.nextInt(8)) + r.nextInt((int) perChunk));
      out.add(new int[] {rows, classes});
    }
    return out;
  }

  @Test
  void rowLossesGiveTheSameBitsOnAnyThreadCount() {
    qt().withExamples(2).withShrinkCycles(0).withFixedSeed(Seeds.seed()).forAll(longs().all()).checkAssert(seed -> {
      for (int[] shape : shapes(seed)) {
        int rows = shape[0];
        int classes = shape[1];
        float[] x = Rows.logits(rows, classes, seed, true);
        float[] teacher = Rows.logits(rows, classes, seed + 5, false);
        float[] q = Rows.probabilities(rows, classes, seed + 7);
        int[] t = Rows.targets(x, rows, classes, seed, -100);
        float[] w = new float[classes];
        for (int c = 0; c < classes; c++) {
          w[c] = 0.25f + (c % 7) * 0.5f;
        }
        String at = " " + rows + "x" + classes + " seed " + seed;
        for (Reduction red : Specs.REDUCTIONS) {
          boolean none = red == Reduction.NONE;
          List<CrossEntropyLoss> ces = List.of(
              CrossEntropyLoss.builder().reduction(red).build(),
              CrossEntropyLoss.builder().reduction(red).weight(w).labelSmoothing(0.1f).build(),
              CrossEntropyLoss.builder().reduction(red).zLoss(1e-4f).softcap(30f).build());
          for (CrossEntropyLoss ce : ces) {
            sameBits("cross-entropy " + red + at, p -> rowCall(rows, classes, none,
                (l, g) -> ce.withParallelism(p).compute(seg(x), classes, seg(t), rows, classes,
                    l, g, 1.5f, false)));
          }
          for (CrossEntropyLoss ce : ces.subList(0, 2)) {
            sameBits("soft cross-entropy " + red + at, p -> rowCall(rows, classes, none,
                (l, g) -> ce.withParallelism(p).computeSoft(seg(x), classes, seg(q), rows,
                    classes, l, g, 1f, false)));
          }
          NLLLoss nll = NLLLoss.builder().reduction(red).weight(w).build();
          sameBits("nll " + red + at, p -> rowCall(rows, classes, none,
              (l, g) -> nll.withParallelism(p).compute(seg(x), classes, seg(t), rows, classes,
                  l, g, 1f, false)));
          SoftmaxFocalLoss focal = SoftmaxFocalLoss.builder().reduction(red).gamma(2f).build();
          sameBits("softmax focal " + red + at, p -> rowCall(rows, classes, none,
              (l, g) -> focal.withParallelism(p).compute(seg(x), classes, seg(t), rows, classes,
                  l, g, 1f, false)));
        }
        for (Reduction red : new Reduction[] {Reduction.BATCH_MEAN, Reduction.SUM}) {
          DistillationLoss kd = DistillationLoss.of(red, 2f);
          sameBits("distillation " + red + at, p -> rowCall(rows, classes, false,
              (l, g) -> kd.withParallelism(p).compute(seg(x), seg(teacher), classes, rows,
                  classes, null, g, 1f, false)));
          KLDivLoss kl = KLDivLoss.of(red, false);
          float[] logp = LogSoftmax.apply(teacher, classes);
          sameBits("kl " + red + at, p -> rowCall(rows, classes, false,
              (l, g) -> kl.withParallelism(p).compute(seg(logp), seg(q), rows, classes, null, g,
                  1f, false)));
        }
        sameBits("log-softmax" + at, p -> {
          float[] out = new float[x.length];
          LogSoftmax.apply(seg(x), classes, rows, classes, seg(out), p);
          return new Out(0, out, null);
        });
      }
    });
  }

  interface RowBody {
    double call(MemorySegment loss, MemorySegment grad);
  }

  static Out rowCall(int rows, int classes, boolean none, RowBody body) {
    float[] g = new float[rows * classes];
    float[] l = none ? new float[rows] : null;
    double v = body.call(l == null ? null : seg(l), seg(g));
    return new Out(v, g, l);
  }

  static MemorySegment seg(float[] a) {
    return MemorySegment.ofArray(a);
  }

  static MemorySegment seg(int[] a) {
    return MemorySegment.ofArray(a);
  }

  @Test
  void confinedSegmentsStayOnTheCallingThreadWithTheSameBits() {
    int n = (int) (5 * CHUNK + 3);
    float[] x = Data.make(Data.Domain.REAL, n, 1, true);
    float[] y = Data.make(Data.Domain.REAL, n, 2, true);
    MSELoss mse = MSELoss.of(Reduction.MEAN);
    float[] g = new float[n];
    double want = mse.withParallelism(Parallelism.sequential()).compute(x, y, null, g, 1f, false);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
      MemorySegment ys = arena.allocateFrom(ValueLayout.JAVA_FLOAT, y);
      MemorySegment gs = arena.allocate((long) n * Float.BYTES);
      double got = mse.withParallelism(Parallelism.of(POOL, 7)).compute(xs, ys, n, gs);
      assertEquals(Double.doubleToLongBits(want), Double.doubleToLongBits(got));
      assertEquals(true, Arrays.equals(g, gs.toArray(ValueLayout.JAVA_FLOAT)));
    }
  }

  @Test
  void aCallCompletesWhenTheExecutorRejectsOrNeverRunsItsTasks() {
    int n = (int) (4 * CHUNK + 11);
    float[] x = Data.make(Data.Domain.REAL, n, 3, false);
    float[] y = Data.make(Data.Domain.REAL, n, 4, false);
    MSELoss mse = MSELoss.of(Reduction.SUM);
    double want = mse.withParallelism(Parallelism.sequential()).forward(x, y);
    List<Runnable> parked = new ArrayList<>();
    double rejected = mse.withParallelism(Parallelism.of(task -> {
      throw new RejectedExecutionException("full");
    }, 4)).forward(x, y);
    double neverRun = mse.withParallelism(Parallelism.of(parked::add, 4)).forward(x, y);
    assertEquals(want, rejected);
    assertEquals(want, neverRun);
    assertEquals(3, parked.size());
    parked.forEach(Runnable::run); // late tasks find no chunk left and return
  }

  @Test
  void parallelismArgumentsAreChecked() {
    assertThrows(IllegalArgumentException.class, () -> Parallelism.threads(0));
    assertThrows(IllegalArgumentException.class, () -> Parallelism.of(null, 2));
    assertThrows(IllegalArgumentException.class,
        () -> MSELoss.of(Reduction.MEAN).withParallelism(null));
    assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.builder().build().withParallelism(null));
    assertEquals(1, Parallelism.sequential().threadsFor(1L << 40, 1000));
    assertEquals(1, Parallelism.auto().threadsFor(Parallelism.AUTO_THRESHOLD - 1, 1000));
    assertEquals(3, Parallelism.threads(7).threadsFor(10, 3));
  }
}
