package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.SoftmaxKernels;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * Row-wise log-softmax, a forward kernel: {@code out_ic = x_ic − log Σ_c exp(x_ic)}, max-shifted
 * so logits up to ±3.4e38 stay finite. {@code −∞} logits give {@code −∞}; a row of all {@code −∞},
 * or one with NaN or {@code +∞}, gives NaN (PyTorch). {@code out} uses the input layout and may be
 * the input itself; it must not partially overlap it. Checks happen before anything is written.
 */
public final class LogSoftmax {
  private LogSoftmax() {}

  /**
   * Writes the log-probabilities of {@code rows} rows of {@code classes} floats, splitting large
   * calls over threads as {@link Parallelism#auto()} allows.
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param out receives the result
   */
  public static void apply(MemorySegment logits, long rowStride, long rows, long classes,
      MemorySegment out) {
    apply(logits, rowStride, rows, classes, out, Parallelism.auto());
  }

  /**
   * Writes the log-probabilities of {@code rows} rows of {@code classes} floats, on the threads
   * {@code parallelism} allows (the bits do not depend on the thread count).
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param out receives the result
   * @param parallelism how calls may be split over threads
   */
  public static void apply(MemorySegment logits, long rowStride, long rows, long classes,
      MemorySegment out, Parallelism parallelism) {
    if (parallelism == null) {
      throw new IllegalArgumentException("parallelism must not be null");
    }
    long span = RowArgs.shape(rows, classes, rowStride);
    Args.input("logits", logits, span);
    if (out == null) {
      throw new IllegalArgumentException("out must not be null");
    }
    Args.output("out", out, span);
    Args.noPartialOverlap("out", out, span * Float.BYTES, "logits", logits, span * Float.BYTES);
    SoftmaxKernels k = VectorizationProvider.get().softmax();
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism, rows * classes, rows, chunk, logits, out, null, null);
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        k.logSoftmax(logits, rowStride, classes, r, Math.min(rows, r + chunk), out);
      }
    } else {
      Split.parallel(parallelism.executor(), threads, rows, chunk, (r0, r1) -> {
        k.logSoftmax(logits, rowStride, classes, r0, r1, out);
        return 0;
      });
    }
  }

  /**
   * {@code float[]} form: packed rows, returns a new array.
   *
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param classes the number of classes C per row (≥ 1)
   * @return the log-probabilities, a new array
   */
  public static float[] apply(float[] logits, int classes) {
    long rows = CrossEntropyLoss.packedRows(logits, classes, null);
    float[] out = new float[logits.length];
    apply(MemorySegment.ofArray(logits), classes, rows, classes, MemorySegment.ofArray(out));
    return out;
  }
}
