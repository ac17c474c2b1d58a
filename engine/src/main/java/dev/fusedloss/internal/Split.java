package dev.fusedloss.internal;

import dev.fusedloss.Parallelism;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fixed chunking of a call's index range and the multi-threaded run over it. The sequential loop
 * lives at each call site (a lambda there would allocate on every call); it must add the chunk
 * sums from 0 in chunk order, exactly as {@link #parallel} does, for the bits to match.
 */
public final class Split {
  /** Never hold more partial sums than this in one call; larger calls use bigger chunks. */
  private static final long MAX_CHUNKS = 1L << 20;

  /** A thread whose identity no segment is confined to: probes for shared access. */
  private static final Thread STRANGER = Thread.ofPlatform().unstarted(() -> {});

  private Split() {}

  /** A chunk body: the sum of the losses of indices [from, to). */
  @FunctionalInterface
  public interface Body {
    double run(long from, long to);
  }

  /** Chunk length, in elements, of an element-wise call over {@code n} elements. */
  public static long elementChunk(long n) {
    return Math.max(Parallelism.CHUNK_ELEMENTS, ceilDiv(n, MAX_CHUNKS));
  }

  /**
   * Chunk length, in rows, of a row call: about {@link Parallelism#CHUNK_ELEMENTS} elements, a
   * multiple of 16 rows when rows are short (the few-class kernels work on blocks of one row per
   * vector lane).
   */
  public static long rowChunk(long rows, long classes) {
    long c = Math.max(1, Parallelism.CHUNK_ELEMENTS / Math.max(1, classes));
    if (c >= 16) {
      c = ceilDiv(c, 16) * 16;
    }
    return Math.max(c, ceilDiv(rows, MAX_CHUNKS));
  }

  public static long ceilDiv(long a, long b) {
    return a == 0 ? 0 : (a - 1) / b + 1;
  }

  /**
   * The threads to use for {@code count} indices in chunks of {@code chunk}, {@code work}
   * elements in all: 1 unless the parallelism allows more and every segment given (nulls are
   * skipped) can be read by other threads.
   */
  public static int threads(Parallelism p, long work, long count, long chunk, MemorySegment a,
      MemorySegment b, MemorySegment c, MemorySegment d) {
    int t = p.threadsFor(work, ceilDiv(count, chunk));
    if (t > 1 && !(shared(a) && shared(b) && shared(c) && shared(d))) {
      return 1;
    }
    return t;
  }

  /** Whether every segment given (nulls skipped) can be read by other threads. */
  public static boolean shared(MemorySegment... segments) {
    for (MemorySegment s : segments) {
      if (!shared(s)) {
        return false;
      }
    }
    return true;
  }

  private static boolean shared(MemorySegment s) {
    return s == null || s.isAccessibleBy(STRANGER);
  }

  /**
   * Runs {@code body} over the chunks of [0, count) on {@code threads} threads (the caller
   * included) and returns the chunk sums added in chunk order. A failure in any chunk, or of
   * the executor's {@code execute} (other than a rejection, which leaves the task to the
   * caller), is rethrown once every started chunk has finished; no chunk starts after that.
   */
  public static double parallel(Executor executor, int threads, long count, long chunk,
      Body body) {
    Job job = new Job(count, chunk, body);
    for (int i = 1; i < threads; i++) {
      try {
        executor.execute(job::work);
      } catch (RejectedExecutionException e) {
        break; // the caller does the rest
      } catch (RuntimeException | Error e) {
        // A broken executor: the call fails. Tasks it already accepted may still run; the
        // failure makes every chunk they claim a no-op, and the caller claims all that are
        // left below, so nothing is written after this call has thrown.
        job.fail(e);
        break;
      }
    }
    job.work();
    boolean interrupted = false;
    while (true) {
      try {
        job.done.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (job.failure != null) {
      if (job.failure instanceof RuntimeException r) {
        throw r;
      }
      if (job.failure instanceof Error e) {
        throw e;
      }
      throw new IllegalStateException(job.failure);
    }
    double sum = 0;
    for (double p : job.partial) {
      sum += p;
    }
    return sum;
  }

  private static final class Job {
    final long count;
    final long chunk;
    final Body body;
    final double[] partial;
    final AtomicLong next = new AtomicLong();
    final CountDownLatch done;
    volatile Throwable failure;

    Job(long count, long chunk, Body body) {
      this.count = count;
      this.chunk = chunk;
      this.body = body;
      int chunks = Math.toIntExact(ceilDiv(count, chunk));
      this.partial = new double[chunks];
      this.done = new CountDownLatch(chunks);
    }

    synchronized void fail(Throwable t) {
      if (failure == null) {
        failure = t;
      }
    }

    void work() {
      for (long i; (i = next.getAndIncrement()) < partial.length; ) {
        try {
          if (failure == null) {
            long from = i * chunk;
            partial[(int) i] = body.run(from, Math.min(count, from + chunk));
          }
        } catch (Throwable t) {
          fail(t);
        } finally {
          done.countDown();
        }
      }
    }
  }
}
