package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.Parallelism;
import dev.fusedloss.internal.Workers;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Split calls run on fusedloss's own worker pool, whose daemon workers keep their thread-locals
 * between tasks: the kernels' per-thread scratch is allocated once per worker, not on every call
 * (the common ForkJoinPool's workers erase thread-locals after each task).
 */
class WorkerPoolTest {
  @Test
  void splitCallsUseTheWorkerPool() {
    assertSame(Workers.pool(), Parallelism.auto().executor());
    assertSame(Workers.pool(), Parallelism.threads(3).executor());
    assertEquals(1, Parallelism.threads(1).threadsFor(1L << 30, 100));
  }

  @Test
  void workersKeepTheirThreadLocals() throws Exception {
    AtomicInteger inits = new AtomicInteger();
    ThreadLocal<int[]> local = ThreadLocal.withInitial(() -> {
      inits.incrementAndGet();
      return new int[1];
    });
    String[] names = new String[1];
    boolean[] daemon = new boolean[1];
    int runs = 20;
    for (int i = 0; i < runs; i++) {
      CompletableFuture.runAsync(() -> {
        local.get()[0]++;
        names[0] = Thread.currentThread().getName();
        daemon[0] = Thread.currentThread().isDaemon();
      }, Workers.pool()).get();
    }
    assertTrue(names[0].startsWith("fusedloss-worker-"), names[0]);
    assertTrue(daemon[0]);
    // one initialisation per worker that ran a task, not one per task
    assertTrue(inits.get() <= Workers.parallelism(), inits.get() + " initialisations");
  }
}
