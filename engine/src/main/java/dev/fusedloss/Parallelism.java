package dev.fusedloss;

import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;

/**
 * How a loss call may spread its work over threads.
 *
 * <p>A call cuts its work into fixed chunks — {@value #CHUNK_ELEMENTS} elements for element-wise
 * losses, whole rows of about that many elements for row losses — whose bounds depend only on the
 * call's shape, never on the thread count. Each chunk's partial loss is kept apart, and the
 * partials are added in chunk order on the calling thread. The result, the gradient and the
 * per-element losses are therefore bitwise identical for every thread count, executor and run on
 * the same JVM and implementation (see the caveat below).
 *
 * <p>The calling thread always takes part and waits only for chunks that some thread has begun,
 * so a busy or saturated executor slows a call down but cannot deadlock it, and a call made from
 * inside the executor's own pool is safe. A call that fits in one chunk, or whose segments are
 * confined to the calling thread ({@code Arena.ofConfined()}), runs on the calling thread.
 * Splitting a call allocates a few small objects (the tasks and an array of partial sums); a call
 * on the calling thread allocates nothing.
 *
 * <p>Caveat: on the Vector API path the JDK evaluates its vector {@code log}, {@code log1p},
 * {@code tanh} and {@code exp} with different approximations before and after the JIT compiles
 * a kernel (they differ in the last bit of a few per cent of the values), and may add a vector's
 * lanes in another order. (The softmax kernels, unweighted BCE with logits and sigmoid focal
 * compute exp from IEEE operations instead, whose bits do not depend on the JIT; they still use
 * the JDK's lane sums, and log or tanh where they need them.) Tasks
 * reach a kernel through another call path than the calling thread's loop, which the JIT compiles
 * on its own schedule. So until the JIT has compiled a kernel on both paths — the first calls of
 * a JVM — results may differ in the last bits between runs and thread counts; from then on they
 * are fixed. The scalar implementation has no such step: its bits never depend on the JIT, the
 * run or the thread count (tested bit for bit). A NaN result is NaN for every thread count, but
 * its sign and payload bits are not specified (they follow
 * operand order, which the JIT may commute).
 */
public final class Parallelism {
  /** Elements per chunk of work (rows are grouped to about this many elements). */
  public static final long CHUNK_ELEMENTS = 1L << 16;

  /** Work, in elements, below which {@link #auto()} stays on the calling thread. */
  public static final long AUTO_THRESHOLD = 1L << 18;

  private static final Parallelism SEQUENTIAL = new Parallelism(null, 1, Long.MAX_VALUE);
  private static final Parallelism AUTO = new Parallelism(null, 0, AUTO_THRESHOLD);

  private final Executor executor;
  private final int threads;
  private final long threshold;

  private Parallelism(Executor executor, int threads, long threshold) {
    this.executor = executor;
    this.threads = threads;
    this.threshold = threshold;
  }

  /**
   * The default: calls of at least {@value #AUTO_THRESHOLD} elements of work use the calling
   * thread and fusedloss's worker pool (daemon threads, one fewer than the processors, created
   * on first use; not the common {@link ForkJoinPool}, whose workers drop their thread-locals
   * after every task, so the kernels' per-thread scratch would be allocated on every call);
   * smaller calls stay on the calling thread.
   * @return the default parallelism
   */
  public static Parallelism auto() {
    return AUTO;
  }

  /**
   * Every call runs on the calling thread.
   *
   * @return the single-thread parallelism
   */
  public static Parallelism sequential() {
    return SEQUENTIAL;
  }

  /**
   * Up to {@code threads} threads (the caller and {@code threads − 1} tasks of fusedloss's worker
   * pool, see {@link #auto()}) for any call of more than one chunk.
   *
   * @throws IllegalArgumentException if {@code threads < 1}
   * @param threads the most threads a call may use, ≥ 1
   * @return a parallelism on fusedloss's worker pool
   */
  public static Parallelism threads(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    return threads == 1 ? SEQUENTIAL : new Parallelism(null, threads, 0);
  }

  /**
   * Up to {@code threads} threads: the caller and {@code threads − 1} tasks submitted to {@code
   * executor}, for any call of more than one chunk. A task the executor rejects is left to the
   * calling thread.
   *
   * @throws IllegalArgumentException if {@code executor} is null or {@code threads < 1}
   * @param executor receives the tasks of split calls
   * @param threads the most threads a call may use, ≥ 1
   * @return the loss
   */
  public static Parallelism of(Executor executor, int threads) {
    if (executor == null) {
      throw new IllegalArgumentException("executor must not be null");
    }
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    return threads == 1 ? SEQUENTIAL : new Parallelism(executor, threads, 0);
  }

  /**
   * The number of threads a call with {@code work} elements cut into {@code chunks} chunks uses:
   * 1 (the calling thread) up to the configured count.
   * @param work the call's elements of work
   * @param chunks the number of chunks the call is cut into
   * @return the thread count, ≥ 1
   */
  public int threadsFor(long work, long chunks) {
    if (chunks < 2 || work < threshold) {
      return 1;
    }
    int t = threads > 0 ? threads : dev.fusedloss.internal.Workers.parallelism() + 1;
    return (int) Math.min(t, chunks);
  }

  /**
   * The executor that receives the tasks of a split call.
   *
   * @return the executor
   */
  public Executor executor() {
    return executor != null ? executor : dev.fusedloss.internal.Workers.pool();
  }

  /**
   * A description of this parallelism.
   */
  @Override
  public String toString() {
    if (this == SEQUENTIAL) {
      return "Parallelism.sequential()";
    }
    if (this == AUTO) {
      return "Parallelism.auto()";
    }
    return executor == null ? "Parallelism.threads(" + threads + ")"
        : "Parallelism.of(" + executor + ", " + threads + ")";
  }
}
