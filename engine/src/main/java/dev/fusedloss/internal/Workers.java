package dev.fusedloss.internal;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * fusedloss's own worker pool, the default executor of split calls: daemon threads, one fewer
 * than the processors (the calling thread is the other), created on first use. Not the common
 * {@link ForkJoinPool}: its workers erase their thread-locals after every task, so the kernels'
 * per-thread scratch would be allocated anew on every split call; these workers keep theirs
 * until they retire after a minute idle.
 */
public final class Workers {
  private Workers() {}

  private static final class Holder {
    static final ForkJoinPool POOL = create();
  }

  private static ForkJoinPool create() {
    AtomicInteger n = new AtomicInteger();
    ForkJoinPool.ForkJoinWorkerThreadFactory factory = pool -> {
      ForkJoinWorkerThread t = new ForkJoinWorkerThread(null, pool, true) {};
      t.setName("fusedloss-worker-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
    return new ForkJoinPool(parallelism(), factory, null, true);
  }

  /** The pool (created on the first call). */
  public static ForkJoinPool pool() {
    return Holder.POOL;
  }

  /** The pool's thread count, without creating it. */
  public static int parallelism() {
    return Math.max(1, Runtime.getRuntime().availableProcessors() - 1);
  }
}
