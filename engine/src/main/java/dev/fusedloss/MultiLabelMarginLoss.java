package dev.fusedloss;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.PairKernels;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.MultiLabelMarginLoss}: a multi-class multi-label hinge. Each row of C scores has
 * a row of C target class indices read up to the first −1 (PyTorch's padding); the targets
 * before it are the row's labels T, and {@code ℓ_row = (1/C)·Σ_{j∈T} Σ_{i∉T} max(0, 1 − x_j +
 * x_i)} (a label listed twice counts twice, as in PyTorch).
 *
 * <p>Gradient: for each active pair (j, i), {@code +1/C} at i and {@code −1/C} at j; with {@link
 * Reduction#MEAN} divided by the row count. As PyTorch's kernel tests {@code z > 0}, a NaN score
 * contributes nothing. Per-row losses (NONE) are {@code rows} floats.
 *
 * <p>Scores and gradient are {@code rows × classes} floats, targets {@code rows × classes} int32
 * or int64 values, each in [−1, C) (checked everywhere, as PyTorch does, naming the row). The
 * gradient must not overlap the scores (each row is swept once per label). A call uses a
 * per-thread scratch of 8 bytes per class, kept for the thread's life. Large calls are split
 * over threads by rows, with bitwise-identical results.
 */
public final class MultiLabelMarginLoss extends LossBase {
  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  private final Reduction reduction;
  private final ClassIndexType targetType;
  private final PairKernels kernels = VectorizationProvider.get().pair();

  private MultiLabelMarginLoss(Reduction reduction, ClassIndexType targetType) {
    PairArgs.reduction(reduction, null);
    if (targetType == null) {
      throw new IllegalArgumentException("targetType must not be null");
    }
    this.reduction = reduction;
    this.targetType = targetType;
  }

  /**
   * A multi-label margin loss.
   *
   * @param reduction MEAN, SUM or NONE
   * @param targetType the element type of target segments
   * @return the loss
   */
  public static MultiLabelMarginLoss of(Reduction reduction, ClassIndexType targetType) {
    return new MultiLabelMarginLoss(reduction, targetType);
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public MultiLabelMarginLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only.
   *
   * @param input rows × classes scores
   * @param targets rows × classes indices, −1-terminated
   * @param rows rows
   * @param classes classes per row
   * @return the reduced loss
   */
  public double forward(MemorySegment input, MemorySegment targets, long rows, long classes) {
    return compute(input, targets, rows, classes, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param input rows × classes scores
   * @param targets rows × classes indices in [−1, classes), a row's labels ending at its first −1
   * @param rows rows
   * @param classes classes per row, ≥ 1
   * @param lossOut rows per-row losses (NONE only), or null
   * @param grad receives {@code gradScale·∂L/∂input}, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradient's contents
   * @return the reduced loss (NONE: the sum of the per-row losses)
   */
  public double compute(MemorySegment input, MemorySegment targets, long rows, long classes,
      MemorySegment lossOut, MemorySegment grad, float gradScale, boolean accumulate) {
    long n = PairShapes.rows(rows, classes);
    if (classes > RowArgs.MAX_CLASSES) {
      throw new IllegalArgumentException("classes must be <= " + RowArgs.MAX_CLASSES);
    }
    PairArgs.reduction(reduction, lossOut);
    boolean int64 = targetType == ClassIndexType.INT64;
    Args.input("input", input, n);
    RowArgs.targets(targets, n, int64);
    PairArgs.begin().in("input", input, n).out("lossOut", lossOut, rows).out("grad", grad, n)
        .run();
    long tb = n * (int64 ? Long.BYTES : Integer.BYTES);
    Args.disjoint("grad", grad, n * Float.BYTES, "targets", targets, tb);
    Args.disjoint("lossOut", lossOut, rows * Float.BYTES, "targets", targets, tb);
    Args.finite("gradScale", gradScale);
    for (long i = 0; i < n; i++) {
      long t = RowArgs.rawTarget(targets, i, int64);
      if (t < -1 || t >= classes) {
        throw new IndexOutOfBoundsException("targets[row " + i / classes + ", " + i % classes
            + "] = " + t + " is outside [-1, " + classes + ")");
      }
    }
    double perRow = reduction == Reduction.MEAN ? (double) rows * classes : classes;
    float coef = (float) (gradScale / perRow);
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), n, rows, chunk, input, targets, lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < rows; from += chunk) {
        sum += rows(input, targets, int64, (int) classes, from, Math.min(rows, from + chunk),
            lossOut, grad, coef, accumulate);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk, (from, to) ->
          rows(input, targets, int64, (int) classes, from, to, lossOut, grad, coef, accumulate));
    }
    return reduction == Reduction.MEAN ? sum / perRow : sum / classes;
  }

  private double rows(MemorySegment x, MemorySegment targets, boolean int64, int classes,
      long from, long to, MemorySegment lossOut, MemorySegment grad, float coef, boolean acc) {
    Scratch s = SCRATCH.get().ensure(classes);
    double sum = 0;
    for (long r = from; r < to; r++) {
      long base = r * classes;
      java.util.Arrays.fill(s.notTarget, 0, classes, 1f);
      int count = 0;
      while (count < classes) {
        int t = (int) RowArgs.rawTarget(targets, base + count, int64);
        if (t < 0) {
          break;
        }
        s.labels[count++] = t;
        s.notTarget[t] = 0f;
      }
      double v = kernels.multiLabelMargin(x, base, classes, s.notTarget, s.labels, count, grad,
          coef, acc);
      if (lossOut != null) {
        lossOut.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) (v / classes));
      }
      sum += v;
    }
    return sum;
  }

  /** Per-thread row scratch: the not-a-label mask and the row's labels. */
  private static final class Scratch {
    float[] notTarget = new float[0];
    int[] labels = new int[0];

    Scratch ensure(int classes) {
      if (notTarget.length < classes) {
        notTarget = new float[classes];
        labels = new int[classes];
      }
      return this;
    }
  }
}
