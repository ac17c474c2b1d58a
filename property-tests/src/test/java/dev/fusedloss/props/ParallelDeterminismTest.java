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
 * <p>Bit for bit on the scalar implementation; within a few ulps on the Vector API path, where
 * the JIT's tiers move last bits (see {@link #EXACT}).
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

    /**
     * Within float rounding of the JIT's tiers: an ulp of exp moves a loss by ~1e-7 of itself
     * and a gradient element by ~1e-7 of the largest in its array (softmax − one-hot cancels).
     */
    boolean close(Out o) {
      return near(value, o.value, 1e-6 * Math.max(Math.abs(value), 1))
          && near(grad, o.grad) && near(loss, o.loss);
    }

    static boolean near(double a, double b, double tol) {
      return Double.compare(a, b) == 0 || Math.abs(a - b) <= tol
          || Double.isNaN(a) && Double.isNaN(b);
    }

    static boolean near(float[] a, float[] b) {
      if (a == null || b == null) {
        return a == b;
      }
      if (a.length != b.length) {
        return false;
      }
      double scale = 0;
      for (float v : a) {
        if (Float.isFinite(v)) {
          scale = Math.max(scale, Math.abs(v));
        }
      }
      for (int i = 0; i < a.length; i++) {
        if (!near(a[i], b[i], 1e-6 * scale + ULPS * Math.ulp(Math.abs(a[i])))) {
          return false;
        }
      }
      return true;
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

    /** The first bitwise difference (with a tolerance, the first may still be within it). */
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

  /**
   * The scalar implementation uses only {@code java.lang.Math} and IEEE arithmetic, which give
   * the same bits in every JIT tier: there every call must give the first call's bits. On the
   * Vector API path the JDK's exp/log/tanh and lane sums change by an ulp when the JIT compiles
   * a kernel, and tasks reach a kernel through another compiled path than the sequential loop,
   * so there calls must agree within {@link #ULPS} ulps (a wrong chunking or a race is off by far
   * more); the bits themselves are pinned down on the scalar path, which shares the chunking.
   */
  static final boolean EXACT = "scalar".equals(System.getProperty("fusedloss.test.expect"));

  static final int ULPS = 8;

  /** Checks that {@code call} gives the sequential result with 1, 2, 3 and 7 threads. */
  static void sameBits(String what, Function<Parallelism, Out> call) {
    Out ref = call.apply(Parallelism.sequential());
    for (int t : new int[] {1, 2, 3, 7, 1}) {
      Out got = call.apply(t == 1 ? Parallelism.sequential() : Parallelism.of(POOL, t));
      if (EXACT ? !got.same(ref) : !got.close(ref)) {
        throw new AssertionError(what + ", " + t + " threads" + (EXACT ? ", bitwise" : "")
            + ": " + ref.firstDifference(got));
      }
    }
  }

  @Test
  void elementwiseLossesGiveTheSameBitsOnAnyThreadCount() {
    for (Spec spec : Specs.all()) {
      for (Reduction red : Specs.REDUCTIONS) {
        ElementwiseLoss base = spec.make().apply(red);
        qt().withExamples(Seeds.examples(3)).withShrinkCycles(0).withFixedSeed(Seeds.seed())
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
    qt().withExamples(Seeds.examples(2)).withShrinkCycles(0).withFixedSeed(Seeds.seed()).forAll(longs().all()).checkAssert(seed -> {
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
      Out a = new Out(want, g, null);
      Out b = new Out(got, gs.toArray(ValueLayout.JAVA_FLOAT), null);
      assertEquals(true, EXACT ? a.same(b) : a.close(b), () -> a.firstDifference(b));
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
    for (double got : new double[] {rejected, neverRun}) {
      Out a = new Out(want, new float[0], null);
      Out b = new Out(got, new float[0], null);
      assertEquals(true, EXACT ? a.same(b) : a.close(b), () -> a.firstDifference(b));
    }
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
