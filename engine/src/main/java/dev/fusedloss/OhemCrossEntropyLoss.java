package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.SelectionScratch;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.SoftmaxKernels;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.TopK;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Cross entropy with online hard-example mining (OHEM) over rows: only the hardest rows of a
 * batch contribute to the loss and receive a gradient.
 *
 * <h2>Selection</h2>
 * A row is valid when its target is not {@code ignoreIndex}. Its loss is
 * {@code ℓ_i = w[t_i]·(lse_i − x_i,t)} (as {@link CrossEntropyLoss}, no smoothing) and its target
 * probability {@code p_i = softmax(x_i)[t_i]}.
 * <ul>
 *   <li>Without a threshold: the {@code min(keep, valid rows)} valid rows with the largest
 *       {@code ℓ_i} are kept.
 *   <li>With {@code thresh}: every valid row with {@code p_i < thresh} is kept, together with
 *       the {@code min(keep, valid rows)} valid rows of smallest {@code p_i} (at least
 *       {@code keep} rows, as mmsegmentation's OHEM sampler).
 *   <li>Ties go to the lower row index. A NaN loss counts as the hardest. The selection is
 *       exact and deterministic (a radix select on the float keys, expected and worst-case
 *       O(rows)), the same on any thread count.
 * </ul>
 *
 * <h2>Reduction and gradient</h2>
 * SUM is {@code Σ_kept ℓ_i}; MEAN divides it by {@code Σ_kept w[t_i]} (the count without
 * weights; nothing kept gives NaN, as PyTorch's mean over nothing); NONE writes {@code ℓ_i} for
 * kept rows and 0 for the others. The selection is a constant for the gradient: kept rows get
 * the cross-entropy gradient {@code w[t]·(softmax − onehot)} scaled like their loss, every other
 * row (ignored ones included) exactly 0 — left as it is when accumulating.
 *
 * <h2>How it runs</h2>
 * One fused cross-entropy pass yields every row's loss and, unless accumulating, its gradient
 * (for a MEAN without weights or threshold already with the final scale, since the kept count is
 * known up front); the selection runs on the row losses; a last pass zeroes the rows not kept
 * (and, with weights or a threshold, scales the kept ones). When accumulating, the first pass is
 * forward only and the kept rows' gradients are added by a second pass over those rows alone.
 *
 * <h2>Memory</h2>
 * The row losses and selection flags live in a per-thread scratch (about 18 bytes per row plus
 * 8 KB), allocated by a thread's first call and grown by a call with more rows, then kept for
 * the thread's life; nothing else is allocated. Rows are limited to 2³¹ − 9 (Java arrays).
 * Calls, checks, layouts (including int64 targets) and threads as for
 * {@link CrossEntropyLoss}.
 */
public final class OhemCrossEntropyLoss extends LossBase {
  private final Reduction reduction;
  private final long keep;
  private final float thresh;
  private final int ignoreIndex;
  private final float[] weight;
  private final MemorySegment weightSeg;
  private final ClassIndexType targetType;
  private final SoftmaxKernels.CrossEntropy plain32;
  private final SoftmaxKernels.CrossEntropy plain64;
  private final SoftmaxKernels.CrossEntropy weighted32;
  private final SoftmaxKernels.CrossEntropy weighted64;
  private final SoftmaxKernels kernels;

  private OhemCrossEntropyLoss(Builder b) {
    if (b.reduction == null || b.reduction == Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + b.reduction);
    }
    if (b.keep < 0) {
      throw new IllegalArgumentException("keep must be >= 0, got " + b.keep);
    }
    if (!Float.isNaN(b.thresh) && !(b.thresh > 0 && b.thresh <= 1)) {
      throw new IllegalArgumentException("thresh must be in (0, 1], got " + b.thresh);
    }
    if (b.targetType == null) {
      throw new IllegalArgumentException("targetType must not be null");
    }
    this.reduction = b.reduction;
    this.keep = b.keep;
    this.thresh = b.thresh;
    this.ignoreIndex = b.ignoreIndex;
    this.weight = b.weight == null ? null : Args.finiteArray("weight", b.weight);
    this.weightSeg = weight == null ? null : MemorySegment.ofArray(weight);
    this.targetType = b.targetType;
    this.plain32 = new SoftmaxKernels.CrossEntropy(null, 0, 0f, ignoreIndex, 0f, false);
    this.plain64 = new SoftmaxKernels.CrossEntropy(null, 0, 0f, ignoreIndex, 0f, true);
    this.weighted32 = new SoftmaxKernels.CrossEntropy(weightSeg, 0, 0f, ignoreIndex, 0f, false);
    this.weighted64 = new SoftmaxKernels.CrossEntropy(weightSeg, 0, 0f, ignoreIndex, 0f, true);
    this.kernels = VectorizationProvider.get().softmax();
  }

  /**
   * A builder: MEAN, {@code keep} 0 (set it), no threshold, ignoreIndex −100, no weight.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * This loss with another parallelism.
   *
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   * @throws IllegalArgumentException if {@code parallelism} is null
   */
  public OhemCrossEntropyLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The reduction.
   *
   * @return MEAN, SUM or NONE
   */
  public Reduction reduction() {
    return reduction;
  }

  /**
   * The least number of rows kept.
   *
   * @return keep, ≥ 0
   */
  public long keep() {
    return keep;
  }

  /**
   * The probability threshold.
   *
   * @return thresh in (0, 1], or NaN when rows are chosen by loss alone
   */
  public float thresh() {
    return thresh;
  }

  /**
   * Loss and gradient (scale 1, overwriting) for packed rows.
   *
   * @param logits {@code rows} rows of {@code classes} floats, packed
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param rows the number of rows N
   * @param classes the number of classes C
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss
   */
  public double compute(MemorySegment logits, MemorySegment targets, long rows, long classes,
      MemorySegment grad) {
    return compute(logits, classes, targets, rows, classes, null, grad, 1f, false);
  }

  /**
   * The full call.
   *
   * @param logits {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param targets {@code rows} class indices (or {@code ignoreIndex}), int32 or int64 as
   *     {@link Builder#targetType} says
   * @param rows the number of rows N (at most 2³¹ − 9)
   * @param classes the number of classes C per row
   * @param lossOut receives one loss per row (0 for rows not kept); only with NONE, may be null
   * @param grad receives the gradient, or null for the loss only
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with NONE, the sum of the kept rows' losses
   */
  public double compute(MemorySegment logits, long rowStride, MemorySegment targets, long rows,
      long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    boolean int64 = targetType == ClassIndexType.INT64;
    RowArgs.classIndexCall(logits, "logits", rowStride, targets, int64, rows, classes, "weight",
        weight, gradScale, lossOut, grad, reduction == Reduction.NONE);
    if (rows > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("rows must be at most " + (Integer.MAX_VALUE - 8)
          + " for hard-example mining, got " + rows);
    }
    int n = (int) rows;
    SelectionScratch sc = SelectionScratch.get(n);
    boolean unweighted = weight == null && Float.isNaN(thresh);
    long valid = 0;
    for (int i = 0; i < n; i++) { // every class index checked, before anything is written
      long t = RowArgs.rawTarget(targets, i, int64);
      RowArgs.checkTarget(t, i, classes, ignoreIndex);
      sc.valid[i] = t != ignoreIndex;
      valid += sc.valid[i] ? 1 : 0;
    }
    long k = Math.min(keep, valid);
    // pass 1: every row's unweighted loss and, overwriting, its gradient (p − onehot)·c0
    boolean gradNow = grad != null && !accumulate;
    // without weights or threshold the kept count is known: the final scale at once
    float c0 = !unweighted ? 1f : reduction != Reduction.MEAN ? gradScale
        : k == 0 ? 0f : (float) (gradScale / (double) k);
    // the cross-entropy kernels directly: every argument has been checked above
    SoftmaxKernels.CrossEntropy opt = int64 ? plain64 : plain32;
    MemorySegment g1 = gradNow ? grad : null;
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logits, targets,
        sc.lossSeg, g1);
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        kernels.crossEntropy(logits, targets, rowStride, classes, r, Math.min(rows, r + chunk),
            sc.lossSeg, g1, c0, false, 0f, opt);
      }
    } else {
      Split.parallel(parallelism().executor(), threads, rows, chunk, (r0, r1) ->
          kernels.crossEntropy(logits, targets, rowStride, classes, r0, r1, sc.lossSeg, g1, c0,
              false, 0f, opt));
    }
    MemorySegment.copy(sc.lossSeg, ValueLayout.JAVA_FLOAT, 0, sc.loss, 0, n);
    // selection
    Arrays.fill(sc.kept, 0, n, false);
    if (unweighted) { // the hardness is the row loss itself: no keys to form
      TopK.markLargest(sc.loss, sc.valid, n, k, sc.kept, sc.hist, sc.order, sc.cand);
    } else if (Float.isNaN(thresh)) {
      for (int i = 0; i < n; i++) {
        sc.keys[i] = sc.valid[i] ? (float) (w(i, targets, int64) * sc.loss[i]) : 0f;
      }
      TopK.markLargest(sc.keys, sc.valid, n, k, sc.kept, sc.hist, sc.order, sc.cand);
    } else {
      for (int i = 0; i < n; i++) {
        float p = (float) Math.exp(-(double) sc.loss[i]); // p_t from the unweighted loss
        sc.keys[i] = -p; // the largest −p is the smallest p
        if (sc.valid[i] && p < thresh) {
          sc.kept[i] = true;
        }
      }
      TopK.markLargest(sc.keys, sc.valid, n, k, sc.kept, sc.hist, sc.order, sc.cand);
    }
    double sum = 0;
    double norm = 0;
    for (int i = 0; i < n; i++) { // no branch on the (random) selection
      double wt = sc.kept[i] ? w(i, targets, int64) : 0;
      float l = (float) (wt * sc.loss[i]);
      l = sc.kept[i] ? l : 0f; // an unkept NaN row loss stays out
      norm += wt;
      sc.loss[i] = l;
      sum += l;
    }
    float coef = reduction == Reduction.MEAN ? RowArgs.meanCoef(gradScale, norm) : gradScale;
    if (grad != null) {
      if (gradNow) {
        finishGradient(grad, rowStride, classes, targets, int64, n, sc, !unweighted, coef);
      } else {
        addKeptGradients(logits, rowStride, targets, int64, classes, n, sc, grad, coef);
      }
    }
    if (lossOut != null) {
      MemorySegment.copy(sc.loss, 0, lossOut, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
    }
    return reduction == Reduction.MEAN ? sum / norm : sum; // nothing kept: 0/0 = NaN
  }

  private double w(int row, MemorySegment targets, boolean int64) {
    return weight == null ? 1 : weight[RowArgs.target(targets, row, int64)];
  }

  /**
   * Rows not kept to exactly 0; with {@code rescale}, kept rows (written with scale 1) times
   * w[t]·coef, else they already have their final scale.
   */
  private void finishGradient(MemorySegment grad, long stride, long classes, MemorySegment targets,
      boolean int64, int n, SelectionScratch sc, boolean rescale, float coef) {
    for (int i = 0; i < n; ) {
      if (!sc.kept[i]) {
        int j = i + 1;
        while (j < n && !sc.kept[j]) {
          j++;
        }
        if (stride == classes) { // packed rows: one bulk write for the whole run
          Args.zero(grad, i * stride, (j - i) * classes);
        } else {
          for (int r = i; r < j; r++) {
            Args.zero(grad, r * stride, classes);
          }
        }
        i = j;
        continue;
      }
      if (rescale) {
        long base = i * stride;
        float f = (float) (w(i, targets, int64) * coef);
        for (long c = 0; c < classes; c++) {
          long off = (base + c) * Float.BYTES;
          grad.set(ValueLayout.JAVA_FLOAT_UNALIGNED, off,
              grad.get(ValueLayout.JAVA_FLOAT_UNALIGNED, off) * f);
        }
      }
      i++;
    }
  }

  /** Accumulating: the kept rows' weighted gradients added, run by run of consecutive rows. */
  private void addKeptGradients(MemorySegment logits, long stride, MemorySegment targets,
      boolean int64, long classes, int n, SelectionScratch sc, MemorySegment grad, float coef) {
    SoftmaxKernels.CrossEntropy opt = int64 ? weighted64 : weighted32;
    for (int i = 0; i < n; ) {
      if (!sc.kept[i]) {
        i++;
        continue;
      }
      int j = i;
      while (j < n && sc.kept[j]) {
        j++;
      }
      kernels.crossEntropy(logits, targets, stride, classes, i, j, null, grad, coef, true, 0f,
          opt);
      i = j;
    }
  }

  /**
   * {@code float[]} form: packed rows, scale 1, overwriting.
   *
   * @param logits packed rows of {@code classes} logits
   * @param targets one class index (or {@code ignoreIndex}) per row
   * @param classes the number of classes C
   * @param grad receives the gradient, or null
   * @return the reduced loss
   */
  public double compute(float[] logits, int[] targets, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(logits, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logits), classes, MemorySegment.ofArray(targets), rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /** Configures an {@link OhemCrossEntropyLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private long keep;
    private float thresh = Float.NaN;
    private int ignoreIndex = -100;
    private float[] weight;
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
     * The number of hardest rows kept (at least that many with a threshold).
     *
     * @param keep ≥ 0
     * @return this builder
     */
    public Builder keep(long keep) {
      this.keep = keep;
      return this;
    }

    /**
     * Also keep every row whose target probability is below this (mmsegmentation's OHEM).
     *
     * @param thresh in (0, 1]; NaN (the default) for none
     * @return this builder
     */
    public Builder thresh(float thresh) {
      this.thresh = thresh;
      return this;
    }

    /**
     * Rows whose target equals this are never kept (default −100).
     *
     * @param ignoreIndex the ignored class index
     * @return this builder
     */
    public Builder ignoreIndex(int ignoreIndex) {
      this.ignoreIndex = ignoreIndex;
      return this;
    }

    /**
     * Per-class weights (copied): they weight each row's loss, hence its hardness.
     *
     * @param weight finite per-class weights, one per class, or null for none
     * @return this builder
     */
    public Builder weight(float[] weight) {
      this.weight = weight == null ? null : weight.clone();
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
     * Builds the loss.
     *
     * @return the loss
     * @throws IllegalArgumentException if an option is out of range
     */
    public OhemCrossEntropyLoss build() {
      return new OhemCrossEntropyLoss(this);
    }
  }
}
