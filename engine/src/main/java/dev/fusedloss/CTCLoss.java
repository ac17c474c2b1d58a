package dev.fusedloss;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.CtcLattice;
import dev.fusedloss.internal.PairArgs;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.Split;
import java.lang.foreign.MemorySegment;

/**
 * {@code torch.nn.CTCLoss}: connectionist temporal classification over log-probabilities {@code
 * [T, N, C]} (time-major, PyTorch's layout; {@code N = 1} is the no-batch {@code [T, C]}). Each
 * sequence n has {@code inputLengths[n] ≤ T} frames and {@code targetLengths[n]} labels, none of
 * them the blank; its loss is {@code −log Σ_paths Π_t p_t(path_t)} over the alignments that
 * collapse (merging repeats, then dropping blanks) to its labels.
 *
 * <p>Targets are padded {@code [N, targetStride]} rows (labels first, the rest ignored), or, with
 * {@code targetStride = 0}, concatenated (sequence n's labels follow sequence n−1's), int32 or
 * int64 ({@link ClassIndexType}).
 *
 * <p>Reductions, as PyTorch's: NONE gives one loss per sequence, SUM their sum, MEAN the mean
 * over the batch of each loss divided by {@code max(targetLength, 1)}. An impossible alignment
 * (input too short for the labels and their repeats) has loss +∞; with {@code zeroInfinity} it
 * is 0 and its gradient 0.
 *
 * <p>Gradient: PyTorch's, {@code exp(lp) − exp(log Σ_{s: l'(s)=c} α_t(s)β_t(s) + nll − lp)} per
 * frame t &lt; inputLength, times the reduction's factor and {@code gradScale}; 0 for later
 * frames. This is the gradient with respect to the logits when {@code lp = log_softmax(logits)},
 * exactly the values PyTorch's autograd reports for the log-probabilities. An infinite loss
 * without {@code zeroInfinity} gives NaN gradients, as in PyTorch.
 *
 * <p>The α/β recursion runs in double precision and is scalar (its steps depend on each other
 * along time, and the lattice has 2·L+1 states); sequences are split over threads, with
 * bitwise-identical results. Per-thread scratch of 16 bytes per lattice entry is kept for the
 * thread's life. Every argument is checked before anything is written: lengths out of range, a
 * label outside [0, C) or equal to the blank throw, naming the sequence.
 */
public final class CTCLoss extends LossBase {
  private final Reduction reduction;
  private final int blank;
  private final boolean zeroInfinity;
  private final ClassIndexType targetType;

  private CTCLoss(Builder b) {
    PairArgs.reduction(b.reduction, null);
    if (b.blank < 0) {
      throw new IllegalArgumentException("blank must be >= 0, got " + b.blank);
    }
    if (b.targetType == null) {
      throw new IllegalArgumentException("targetType must not be null");
    }
    this.reduction = b.reduction;
    this.blank = b.blank;
    this.zeroInfinity = b.zeroInfinity;
    this.targetType = b.targetType;
  }

  /**
   * A builder with PyTorch's defaults: blank 0, MEAN, zeroInfinity false, int32 targets.
   *
   * @return a builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy using it
   */
  public CTCLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The loss only.
   *
   * @param logProbs [T, N, C] log-probabilities
   * @param time T
   * @param batch N
   * @param classes C
   * @param targets padded or concatenated labels
   * @param targetStride the padded row length, or 0 for concatenated targets
   * @param inputLengths N values in [0, T]
   * @param targetLengths N values ≥ 0
   * @return the reduced loss
   */
  public double forward(MemorySegment logProbs, long time, long batch, long classes,
      MemorySegment targets, long targetStride, long[] inputLengths, long[] targetLengths) {
    return compute(logProbs, time, batch, classes, targets, targetStride, inputLengths,
        targetLengths, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param logProbs [T, N, C] log-probabilities
   * @param time T
   * @param batch N
   * @param classes C (the blank is one of them)
   * @param targets padded {@code [N, targetStride]} or concatenated labels
   * @param targetStride the padded row length (≥ every target length), or 0 for concatenated
   * @param inputLengths N values in [0, T]
   * @param targetLengths N values ≥ 0 (≤ targetStride when padded)
   * @param lossOut N per-sequence losses (NONE only), or null
   * @param grad receives {@code gradScale·∂L/∂logProbs} in the [T, N, C] layout, or null
   * @param gradScale finite gradient factor
   * @param accumulate add to the gradient's contents
   * @return the reduced loss (NONE: the sum of the per-sequence losses)
   */
  public double compute(MemorySegment logProbs, long time, long batch, long classes,
      MemorySegment targets, long targetStride, long[] inputLengths, long[] targetLengths,
      MemorySegment lossOut, MemorySegment grad, float gradScale, boolean accumulate) {
    if (time < 0 || batch < 0) {
      throw new IllegalArgumentException("time and batch must be >= 0, got " + time + ", "
          + batch);
    }
    if (classes < 1 || classes > RowArgs.MAX_CLASSES) {
      throw new IllegalArgumentException("classes must be in [1, " + RowArgs.MAX_CLASSES
          + "], got " + classes);
    }
    if (blank >= classes) {
      throw new IllegalArgumentException("blank " + blank + " is not a class (classes = "
          + classes + ")");
    }
    if (targetStride < 0) {
      throw new IllegalArgumentException("targetStride must be >= 0, got " + targetStride);
    }
    long max = dev.fusedloss.internal.Args.MAX_ELEMENTS;
    if (batch > 0 && (batch > max / classes || time > max / (batch * classes))) {
      throw new IllegalArgumentException("time × batch × classes exceeds the addressable float "
          + "count");
    }
    long n = time * batch * classes;
    PairArgs.reduction(reduction, lossOut);
    lengths("inputLengths", inputLengths, batch);
    lengths("targetLengths", targetLengths, batch);
    boolean int64 = targetType == ClassIndexType.INT64;
    long totalTargets = 0;
    for (int b = 0; b < batch; b++) {
      if (inputLengths[b] < 0 || inputLengths[b] > time) {
        throw new IllegalArgumentException("inputLengths[" + b + "] = " + inputLengths[b]
            + " is outside [0, " + time + "]");
      }
      if (targetLengths[b] < 0 || (targetStride > 0 && targetLengths[b] > targetStride)) {
        throw new IllegalArgumentException("targetLengths[" + b + "] = " + targetLengths[b]
            + " is outside [0, " + (targetStride > 0 ? targetStride : "∞") + "]");
      }
      if (targetLengths[b] > Integer.MAX_VALUE / 2 - 1) {
        throw new IllegalArgumentException("targetLengths[" + b + "] is too large");
      }
      totalTargets += targetLengths[b];
    }
    long targetCount = targetStride > 0 ? batch * targetStride : totalTargets;
    RowArgs.targets(targets, targetCount, int64);
    long off = 0;
    for (int b = 0; b < batch; b++) {
      long start = targetStride > 0 ? b * targetStride : off;
      for (long j = 0; j < targetLengths[b]; j++) {
        long c = RowArgs.rawTarget(targets, start + j, int64);
        if (c < 0 || c >= classes || c == blank) {
          throw new IndexOutOfBoundsException("targets[sequence " + b + ", " + j + "] = " + c
              + (c == blank ? " is the blank" : " is outside [0, " + classes + ")"));
        }
      }
      off += targetLengths[b];
    }
    PairArgs.begin().in("logProbs", logProbs, n).out("lossOut", lossOut, batch)
        .out("grad", grad, n).run();
    long tb = targetCount * (int64 ? Long.BYTES : Integer.BYTES);
    Args.disjoint("grad", grad, n * Float.BYTES, "targets", targets, tb);
    Args.disjoint("lossOut", lossOut, batch * Float.BYTES, "targets", targets, tb);
    Args.finite("gradScale", gradScale);

    long work = Math.max(1, time * classes);
    int threads = Split.threads(parallelism(), batch * work * 4, batch, 1, logProbs, targets,
        lossOut, grad);
    double sum;
    if (threads == 1) {
      sum = 0;
      for (long b = 0; b < batch; b++) {
        sum += sequences(logProbs, time, batch, (int) classes, targets, targetStride, int64,
            inputLengths, targetLengths, b, b + 1, lossOut, grad, gradScale, accumulate);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, batch, 1, (from, to) ->
          sequences(logProbs, time, batch, (int) classes, targets, targetStride, int64, inputLengths,
              targetLengths, from, to, lossOut, grad, gradScale, accumulate));
    }
    return reduction == Reduction.MEAN ? sum / batch : sum;
  }

  /** Sequences [from, to): their losses as the reduction adds them (MEAN: over target length). */
  private double sequences(MemorySegment lp, long time, long batch, int classes,
      MemorySegment targets, long stride, boolean int64, long[] inLen, long[] tgtLen, long from,
      long to, MemorySegment lossOut, MemorySegment grad, float gradScale, boolean acc) {
    CtcLattice lattice = CtcLattice.get();
    long start = 0; // concatenated targets: where sequence `from` starts
    for (int b = 0; stride == 0 && b < from; b++) {
      start += tgtLen[b];
    }
    double sum = 0;
    for (long b = from; b < to; b++) {
      int i = (int) b;
      long at = stride > 0 ? b * stride : start;
      start += tgtLen[i];
      double div = reduction == Reduction.MEAN ? Math.max(tgtLen[i], 1) * (double) batch : 1;
      float gscale = (float) (gradScale / div);
      double nll = lattice.sequence(lp, time, batch, classes, b, (int) inLen[i], targets,
          at, int64, (int) tgtLen[i], blank, zeroInfinity, grad, gscale, acc);
      if (lossOut != null) {
        lossOut.set(JAVA_FLOAT_UNALIGNED, b * Float.BYTES, (float) nll);
      }
      sum += reduction == Reduction.MEAN ? nll / Math.max(tgtLen[i], 1) : nll;
    }
    return sum;
  }

  private static void lengths(String name, long[] v, long batch) {
    if (v == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
    if (v.length != batch) {
      throw new IllegalArgumentException(name + " has " + v.length + " values but batch is "
          + batch);
    }
  }

  /** Options of a {@link CTCLoss}, PyTorch's names. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private int blank;
    private boolean zeroInfinity;
    private ClassIndexType targetType = ClassIndexType.INT32;

    private Builder() {}

    /**
     * The reduction (default MEAN).
     *
     * @param reduction MEAN, SUM or NONE
     * @return this builder
     */
    public Builder reduction(Reduction reduction) {
      this.reduction = reduction;
      return this;
    }

    /**
     * The blank's class index (default 0).
     *
     * @param blank a class index
     * @return this builder
     */
    public Builder blank(int blank) {
      this.blank = blank;
      return this;
    }

    /**
     * Whether infinite losses (impossible alignments) and their gradients become 0 (default
     * false).
     *
     * @param on zero infinities
     * @return this builder
     */
    public Builder zeroInfinity(boolean on) {
      this.zeroInfinity = on;
      return this;
    }

    /**
     * The element type of target segments (default INT32).
     *
     * @param type INT32 or INT64
     * @return this builder
     */
    public Builder targetType(ClassIndexType type) {
      this.targetType = type;
      return this;
    }

    /**
     * The loss.
     *
     * @return a new loss
     * @throws IllegalArgumentException for a negative blank
     */
    public CTCLoss build() {
      return new CTCLoss(this);
    }
  }
}
