package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.ElementwiseKernels;
import dev.fusedloss.internal.FormatKernels;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.RowTiles;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.SoftmaxKernels;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Softmax cross entropy from logits, {@code torch.nn.CrossEntropyLoss}, fused per row: the
 * log-sum-exp, the loss and the gradient come from sweeps over each row while it is in cache,
 * and no probabilities or log-probabilities are materialised.
 *
 * <h2>Layout</h2>
 * {@code rows} rows of {@code classes} float32 logits, {@code rowStride} floats apart (≥
 * classes, for padded vocabularies); the gradient and soft targets use the same layout. Class
 * targets are int32, one per row. Counts are {@code long}: rows × classes may exceed 2³¹ (one
 * row's class count is at most 2³¹ − 65).
 *
 * <h2>Class-index targets</h2>
 * With {@code lse_i = log Σ_c exp(x_ic)} (max-shifted), for a row with {@code t_i ≠ ignoreIndex}:
 * <pre>ℓ_i = (1−ε)·w[t_i]·(lse_i − x_i,t) + (ε/C)·Σ_c w[c]·(lse_i − x_ic) + z·lse_i²</pre>
 * Gradient: {@code ∂ℓ_i/∂x_ic = p_ic·((1−ε)w[t] + (ε/C)Σw + 2z·lse_i) − (1−ε)w[t]·[c = t] −
 * (ε/C)·w[c]}, with {@code p = softmax(x_i)}; without weights, smoothing or z-loss that is
 * {@code softmax − onehot}. Ignored rows have loss 0 and gradient 0 (written as zeros, or left
 * as they are when accumulating). {@code ignoreIndex} may be any int, including a valid class.
 * <ul>
 *   <li>MEAN divides by {@code Σ_{rows not ignored} w[t_i]} (both the plain and the smoothing
 *       term, as PyTorch); every row ignored gives NaN, as PyTorch. The z-loss part is divided by
 *       the number of rows not ignored (Liger-Kernel's convention). SUM adds; NONE writes
 *       {@code ℓ_i} per row.
 *   <li>{@code zLoss} (Liger's {@code lse_square_scale}) adds {@code z·lse²} per row.
 *   <li>{@code softcap} &gt; 0 replaces each logit by {@code cap·tanh(x/cap)} first (Liger); the
 *       gradient includes the chain rule {@code 1 − tanh²(x/cap)}. The Vector API path evaluates
 *       tanh from IEEE operations (within 2 ulps) identically in every sweep, so a capped logit
 *       has one value per call and a one-class row's gradient is exactly 0.
 * </ul>
 *
 * <h2>Soft targets</h2>
 * {@link #computeSoft}: {@code q' = (1−ε)q + ε/C}, {@code ℓ_i = Σ_c w[c]·q'_ic·(lse_i − x_ic)},
 * gradient {@code p_ic·Σ_k w[k]q'_ik − w[c]q'_ic}; MEAN divides by {@code rows} (not by a weight
 * sum, as PyTorch). {@code zLoss}, {@code softcap} and {@code ignoreIndex} do not apply.
 *
 * <h2>Edges</h2>
 * {@code −∞} logits are masked classes: probability 0 and gradient 0 as long as the row keeps a
 * finite logit; with ε &gt; 0 the smoothing term makes the loss {@code +∞} while the gradient stays
 * finite (PyTorch). Logits up to ±3.4e38 stay finite (max-shifted log-sum-exp; row sums of logits
 * are accumulated in double). {@code C = 1} gives loss 0 and gradient 0. A row containing NaN or
 * {@code +∞} gives NaN. With soft targets, {@code q = 0} at a {@code −∞} logit gives NaN
 * ({@code 0·∞}, as PyTorch).
 *
 * <h2>Calls and checks</h2>
 * As for {@link ElementwiseLoss}: forward-only when {@code grad} is null; {@code gradScale} and
 * {@code accumulate}; the gradient may be the logits segment itself (in place). Every argument
 * and every class index is checked before anything is written; a class index outside
 * {@code [0, C)} that is not {@code ignoreIndex} throws {@link IndexOutOfBoundsException} naming
 * the row and the value, and leaves every output untouched. Immutable and thread-safe; a call on
 * the calling thread allocates nothing, except for per-thread scratch kept for the thread's life:
 * the first call on a thread with at most 32 classes (or at least 4096) allocates small scratch
 * arrays (for rows over 131072 classes they grow with the row), and on the
 * Vector API path the first soft-target call without class weights or {@code accumulate} (and
 * the first with longer rows) allocates a buffer for one logits row and one target row, at least
 * 16 KB, in which each row pair is computed before the gradient row is copied out. Large calls
 * are split over threads as {@link #parallelism()} allows, with bitwise-identical results (see
 * {@link Parallelism}).
 */
public final class CrossEntropyLoss extends LossBase {
  private final Reduction reduction;
  private final float[] weight;
  private final MemorySegment weightSeg;
  private final double weightSum;
  private final int ignoreIndex;
  private final float smoothing;
  private final float zLoss;
  private final float softcap;
  private final SoftmaxKernels kernels;
  private final FormatKernels formats;
  private final ClassIndexType targetType;
  private final SoftmaxKernels.CrossEntropy options;
  private final SoftmaxKernels.CrossEntropy options64;
  private boolean checkFinite; // set only on a fresh copy, by withFiniteCheck

  private CrossEntropyLoss(Builder b) {
    if (b.reduction == null || b.reduction == Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + b.reduction);
    }
    if (!(b.smoothing >= 0 && b.smoothing <= 1)) {
      throw new IllegalArgumentException("labelSmoothing must be in [0, 1], got " + b.smoothing);
    }
    if (!(b.zLoss >= 0) || Float.isInfinite(b.zLoss)) {
      throw new IllegalArgumentException("zLoss must be finite and >= 0, got " + b.zLoss);
    }
    if (!(b.softcap >= 0) || Float.isInfinite(b.softcap)) {
      throw new IllegalArgumentException("softcap must be finite and >= 0 (0 = off), got " + b.softcap);
    }
    this.reduction = b.reduction;
    this.weight = b.weight == null ? null : Args.finiteArray("weight", b.weight);
    this.weightSeg = weight == null ? null : MemorySegment.ofArray(weight);
    double ws = 0;
    if (weight != null) {
      for (float v : weight) {
        ws += v;
      }
    }
    this.weightSum = ws;
    this.ignoreIndex = b.ignoreIndex;
    this.smoothing = b.smoothing;
    this.zLoss = b.zLoss;
    this.softcap = b.softcap;
    this.kernels = VectorizationProvider.get().softmax();
    this.formats = VectorizationProvider.get().formats();
    if (b.targetType == null) {
      throw new IllegalArgumentException("targetType must not be null");
    }
    this.targetType = b.targetType;
    this.options = new SoftmaxKernels.CrossEntropy(weightSeg, weightSum, smoothing, ignoreIndex,
        softcap, false);
    this.options64 = new SoftmaxKernels.CrossEntropy(weightSeg, weightSum, smoothing, ignoreIndex,
        softcap, true);
  }

  /**
   * A builder with PyTorch's defaults: MEAN, no weight, ignoreIndex −100, no smoothing.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * This loss with another parallelism.
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   */
  public CrossEntropyLoss withParallelism(Parallelism parallelism) {
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
   * The element type of the target segments this loss reads.
   *
   * @return INT32 (the default) or INT64
   */
  public ClassIndexType targetType() {
    return targetType;
  }

  /**
   * Loss and gradient (scale 1, overwriting) for packed rows ({@code rowStride = classes}).
   *
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(MemorySegment logits, MemorySegment targets, long rows, long classes,
      MemorySegment grad) {
    return compute(logits, classes, targets, rows, classes, null, grad, 1f, false);
  }

  /**
   * The loss only, for packed rows: per-token scoring without a gradient buffer.
   *
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @return the reduced loss
   */
  public double forward(MemorySegment logits, MemorySegment targets, long rows, long classes) {
    return compute(logits, classes, targets, rows, classes, null, null, 1f, false);
  }

  /**
   * The full call with class-index targets.
   *
   * @param logits {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets {@code rows} class indices (or {@code ignoreIndex}), int32 or int64 as
   *     {@link Builder#targetType} says
   * @param lossOut receives one loss per row; only with {@link Reduction#NONE}, may be null
   * @param grad receives {@code gradScale·∂L/∂logits} in the logits layout, or null
   * @return the reduced loss; with NONE, the sum of the row losses
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   */
  public double compute(MemorySegment logits, long rowStride, MemorySegment targets, long rows,
      long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    return compute(logits, rowStride, targets, targetType == ClassIndexType.INT64, rows, classes,
        lossOut, grad, gradScale, accumulate);
  }

  private double compute(MemorySegment logits, long rowStride, MemorySegment targets,
      boolean int64, long rows, long classes, MemorySegment lossOut, MemorySegment grad,
      float gradScale, boolean accumulate) {
    if (formatted) {
      long span = RowArgs.shape(rows, classes, rowStride);
      RowArgs.targets(targets, rows, int64);
      RowArgs.perClass("weight", weight, classes);
      RowTiles.check(logits, "logits", inputFormat, span, rows, targets,
          rows * (int64 ? Long.BYTES : Integer.BYTES), null, lossOut, grad, gradFormat,
          reduction == Reduction.NONE, gradScale);
    } else {
      RowArgs.classIndexCall(logits, "logits", rowStride, targets, int64, rows, classes, "weight",
          weight, gradScale, lossOut, grad, reduction == Reduction.NONE);
    }
    double norm = RowArgs.normalizer(targets, int64, rows, classes, ignoreIndex, weight);
    double kept = zLoss > 0 && weight != null
        ? RowArgs.normalizer(targets, int64, rows, classes, ignoreIndex, null) : norm;
    SoftmaxKernels.CrossEntropy options = int64 ? options64 : this.options;
    float coef = reduction == Reduction.MEAN ? RowArgs.meanCoef(gradScale, norm) : gradScale;
    // MEAN divides the z-loss by the kept rows, the rest by the weight sum: fold the ratio in
    float zScale = reduction == Reduction.MEAN && zLoss > 0 ? (float) (zLoss * norm / kept) : zLoss;
    if (checkFinite) {
      return guarded(logits, rowStride, targets, int64, rows, classes, lossOut, grad, coef,
          accumulate, zScale, options, norm);
    }
    if (formatted) {
      RowTiles.Kernel k = (x, t, st, c, r0, r1, l, g, cf, acc) ->
          kernels.crossEntropy(x, t, st, c, r0, r1, l, g, cf, acc, zScale, options);
      double sum = RowTiles.run(new RowTiles.Call(k, inputFormat, logits, rowStride, rows, classes,
          targets, int64 ? Long.BYTES : Integer.BYTES, null, lossOut, grad, gradFormat), coef,
          accumulate, parallelism(), formats);
      return reduction == Reduction.MEAN ? sum / norm : sum;
    }
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logits, targets, lossOut,
        grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.crossEntropy(logits, targets, rowStride, classes, r, Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, zScale, options);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk,
          (r0, r1) -> kernels.crossEntropy(logits, targets, rowStride, classes, r0, r1, lossOut, grad, coef, accumulate, zScale, options));
    }
    return reduction == Reduction.MEAN ? sum / norm : sum;
  }

  /**
   * The guarded call: row losses, and the gradient when it would overwrite the logits or be
   * added to, into per-thread scratch; rows checked in order; outputs written after.
   */
  private double guarded(MemorySegment logits, long stride, MemorySegment targets,
      boolean int64, long rows, long classes, MemorySegment lossOut, MemorySegment grad,
      float coef, boolean accumulate, float zScale, SoftmaxKernels.CrossEntropy options,
      double norm) {
    long span = rows == 0 ? 0 : (rows - 1) * stride + classes;
    boolean viaScratch = grad != null
        && (accumulate || Args.overlaps(grad, logits, span * Float.BYTES));
    GuardScratch gs = GUARD.get().atLeast(rows, viaScratch ? span : 0);
    MemorySegment g = grad == null ? null : viaScratch ? gs.grad : grad;
    long chunk = Split.rowChunk(rows, classes);
    ElementwiseKernels ek = VectorizationProvider.get().elementwise();
    double sum = 0;
    if (!viaScratch) {
      // straight to the caller's buffers, chunk by chunk, each checked while it is in cache
      for (long r = 0; r < rows; r += chunk) {
        long r1 = Math.min(rows, r + chunk);
        sum += kernels.crossEntropy(logits, targets, stride, classes, r, r1, gs.loss, g, coef,
            false, zScale, options);
        checkRows(logits, stride, targets, int64, classes, r, r1, gs.loss, g, ek);
      }
    } else {
      int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logits, targets,
          gs.loss, g);
      if (threads == 1) {
        for (long r = 0; r < rows; r += chunk) {
          sum += kernels.crossEntropy(logits, targets, stride, classes, r,
              Math.min(rows, r + chunk), gs.loss, g, coef, false, zScale, options);
        }
      } else {
        sum = Split.parallel(parallelism().executor(), threads, rows, chunk, (r0, r1) ->
            kernels.crossEntropy(logits, targets, stride, classes, r0, r1, gs.loss, g, coef, false,
                zScale, options));
      }
      checkRows(logits, stride, targets, int64, classes, 0, rows, gs.loss, g, ek);
    }
    if (viaScratch) {
      for (long r = 0; r < rows; r++) {
        long base = r * stride;
        if (accumulate) {
          ek.addInto(grad, g, base, base + classes);
        } else {
          MemorySegment.copy(g, base * Float.BYTES, grad, base * Float.BYTES,
              classes * Float.BYTES);
        }
      }
    }
    if (lossOut != null) {
      MemorySegment.copy(gs.loss, 0, lossOut, 0, rows * Float.BYTES);
    }
    return reduction == Reduction.MEAN ? sum / norm : sum;
  }

  /** Throws for the lowest of rows [r0, r1) with a NaN logit, a non-finite loss or gradient. */
  private void checkRows(MemorySegment logits, long stride, MemorySegment targets, boolean int64,
      long classes, long r0, long r1, MemorySegment loss, MemorySegment g,
      ElementwiseKernels ek) {
    for (long r = r0; r < r1; r++) {
      int t = RowArgs.target(targets, r, int64);
      if (t == ignoreIndex) {
        continue; // an ignored row's values take no part
      }
      long base = r * stride;
      float l = loss.getAtIndex(ValueLayout.JAVA_FLOAT, r);
      if (Float.isFinite(l) && ek.firstBad(logits, logits, g, base, base + classes) < 0) {
        continue; // the common case: one pass over the row's logits and gradient, in cache
      }
      long c = ek.firstNaN(logits, base, base + classes);
      if (c >= 0) {
        throw NonFiniteException.row(r, c - base, Float.NaN, NonFiniteException.Source.INPUT);
      }
      if (!Float.isFinite(l)) {
        throw NonFiniteException.row(r, t, l, NonFiniteException.Source.LOSS);
      }
      if (g != null) {
        c = ek.firstNonFinite(g, base, base + classes);
        if (c >= 0) {
          throw NonFiniteException.row(r, c - base,
              g.get(ValueLayout.JAVA_FLOAT_UNALIGNED, c * Float.BYTES),
              NonFiniteException.Source.GRADIENT);
        }
      }
    }
  }

  /** Per-thread scratch of guarded calls: row losses and, when needed, a gradient. */
  private static final class GuardScratch {
    MemorySegment loss = MemorySegment.NULL;
    MemorySegment grad = MemorySegment.NULL;

    GuardScratch atLeast(long rows, long span) {
      java.lang.foreign.Arena a = java.lang.foreign.Arena.ofAuto();
      if (loss.byteSize() < rows * Float.BYTES) {
        loss = a.allocate(Math.max(rows, 1024) * Float.BYTES, 64);
      }
      if (grad.byteSize() < span * Float.BYTES) {
        grad = a.allocate(span * Float.BYTES, 64);
      }
      return this;
    }
  }

  private static final ThreadLocal<GuardScratch> GUARD = ThreadLocal.withInitial(GuardScratch::new);

  /**
   * This loss with the non-finite guard on or off (off by default: PyTorch's semantics, NaN
   * propagates). A guarded call throws {@link NonFiniteException} naming the lowest row (and its
   * column) where a logit is NaN, the row's loss is NaN or ±∞, or a gradient element is; −∞
   * logits off the target are masks, not errors, and ignored rows are not checked. When
   * accumulating or in place, every buffer then holds exactly what it held before the call (the
   * gradient is computed into a per-thread scratch as large as the logits, kept for the thread's
   * life); otherwise the call runs on the calling thread, checking each chunk of rows while it is
   * in cache, and the gradient's contents are unspecified after the exception.
   *
   * @param on whether calls are checked
   * @return a copy of this loss with the guard set
   */
  public CrossEntropyLoss withFiniteCheck(boolean on) {
    if (on && formatted) {
      throw new IllegalStateException("the non-finite guard takes float32 buffers only");
    }
    CrossEntropyLoss copy = copyWith(parallelism());
    copy.checkFinite = on;
    return copy;
  }

  /**
   * This loss reading logits (and soft targets) and writing the gradient in the given formats
   * (all {@link FloatFormat#FLOAT32} by default). With a 16-bit format, whole rows are widened,
   * about 8192 values at a time (one row when longer), into a per-thread float32 scratch (three
   * buffers of at least 8 KB, growing with the longest row, kept for the thread's life); the
   * float32 kernel runs there and the gradient rows are rounded to {@code grad}'s format (nearest
   * even; accumulating, the float32 sum is rounded once). Row losses are float32; sizes are
   * checked in values of each buffer's format. Not combinable with {@link #withFiniteCheck}.
   *
   * @param input the format of the logits
   * @param target the format of soft targets ({@link #computeSoft}); class indices ignore it
   * @param grad the format of the gradient
   * @return a copy of this loss with those formats
   * @throws IllegalArgumentException if a format is null
   * @throws IllegalStateException if this loss has the non-finite guard on
   */
  public CrossEntropyLoss withFormats(FloatFormat input, FloatFormat target, FloatFormat grad) {
    if (checkFinite) {
      throw new IllegalStateException("the non-finite guard takes float32 buffers only");
    }
    return copyWithFormats(input, target, grad);
  }

  /**
   * The full call with soft targets (class probabilities in the logits layout).
   *
   * @return the reduced loss (MEAN divides by rows); with NONE, the sum of the row losses
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param targetProbs target probabilities in the logits layout
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param lossOut receives one loss per row (per element for element-wise losses); only with {@link Reduction#NONE}, may be null
   * @param grad receives the gradient, or null for the loss only
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   */
  public double computeSoft(MemorySegment logits, long rowStride, MemorySegment targetProbs,
      long rows, long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    if (zLoss > 0 || softcap > 0) {
      throw new IllegalArgumentException("zLoss and softcap apply to class-index targets only");
    }
    long span = RowArgs.shape(rows, classes, rowStride);
    RowArgs.perClass("weight", weight, classes);
    if (formatted) {
      RowTiles.check(logits, "logits", inputFormat, span, rows, targetProbs,
          span * targetFormat.bytes(), targetFormat, lossOut, grad, gradFormat,
          reduction == Reduction.NONE, gradScale);
    } else {
      Args.input("logits", logits, span);
      Args.input("targetProbs", targetProbs, span);
      Args.finite("gradScale", gradScale);
      RowArgs.outputs(logits, "logits", targetProbs, "targetProbs", span * Float.BYTES, span, rows,
          lossOut, grad, reduction == Reduction.NONE);
    }
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) rows) : gradScale;
    if (formatted) {
      RowTiles.Kernel k = (x, t, st, c, r0, r1, l, g, cf, acc) ->
          kernels.softCrossEntropy(x, t, st, c, r0, r1, l, g, cf, acc, weightSeg, smoothing);
      double sum = RowTiles.run(new RowTiles.Call(k, inputFormat, logits, rowStride, rows, classes,
          targetProbs, 0, targetFormat, lossOut, grad, gradFormat), coef, accumulate,
          parallelism(), formats);
      return reduction == Reduction.MEAN ? sum / rows : sum;
    }
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logits, targetProbs, lossOut,
        grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.softCrossEntropy(logits, targetProbs, rowStride, classes, r, Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, weightSeg, smoothing);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk,
          (r0, r1) -> kernels.softCrossEntropy(logits, targetProbs, rowStride, classes, r0, r1, lossOut, grad, coef, accumulate, weightSeg, smoothing));
    }
    return reduction == Reduction.MEAN ? sum / rows : sum;
  }

  /**
   * The full call for PyTorch's N-d layout, the class axis at dim 1: logits {@code [N, C, d1, …,
   * dk]} as {@code batch × classes × spatial} floats ({@code spatial = d1·…·dk}, 1 for plain
   * {@code [N, C]}; {@code batch = 1} for the no-batch forms {@code [C, d1, …]} and {@code [C]}),
   * class-index targets {@code [N, d1, …, dk]} ({@code batch·spatial} values, int32 or int64 as
   * {@link Builder#targetType} says). Every position is a row whose classes lie {@code spatial}
   * floats apart; the Vector API kernel runs one position per lane, each class one contiguous
   * load, so no transposing copy is made. Row losses ({@code lossOut}, NONE) are {@code [N, d1,
   * …, dk]}; the gradient has the logits' layout and may be the logits themselves. Weights,
   * ignoreIndex, label smoothing and z-loss as {@link #compute(MemorySegment, long,
   * MemorySegment, long, long, MemorySegment, MemorySegment, float, boolean)} (MEAN divides by
   * the summed weights of the positions not ignored); the soft cap, 16-bit formats and the
   * non-finite guard are not available here.
   *
   * @param logits {@code batch × classes × spatial} floats
   * @param targets {@code batch × spatial} class indices (or ignoreIndex)
   * @param batch N (≥ 0)
   * @param classes C (≥ 1)
   * @param spatial d1·…·dk (≥ 1)
   * @param lossOut receives the {@code batch × spatial} row losses; only with NONE, may be null
   * @param grad receives the gradient in the logits layout, or null
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with NONE, the sum of the row losses
   * @throws IllegalStateException if this loss has a soft cap, 16-bit formats or the guard
   */
  public double computeSpatial(MemorySegment logits, MemorySegment targets, long batch,
      long classes, long spatial, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    boolean int64 = targetType == ClassIndexType.INT64;
    spatialOnly();
    long rows = RowArgs.spatial(batch, classes, spatial);
    long span = rows * classes;
    Args.input("logits", logits, span);
    RowArgs.targets(targets, rows, int64);
    RowArgs.perClass("weight", weight, classes);
    Args.finite("gradScale", gradScale);
    RowArgs.outputs(logits, "logits", targets, "targets", rows * (int64 ? Long.BYTES
        : Integer.BYTES), span, rows, lossOut, grad, reduction == Reduction.NONE);
    double norm = RowArgs.normalizer(targets, int64, rows, classes, ignoreIndex, weight);
    double kept = zLoss > 0 && weight != null
        ? RowArgs.normalizer(targets, int64, rows, classes, ignoreIndex, null) : norm;
    float coef = reduction == Reduction.MEAN ? RowArgs.meanCoef(gradScale, norm) : gradScale;
    float zScale = reduction == Reduction.MEAN && zLoss > 0 ? (float) (zLoss * norm / kept) : zLoss;
    SoftmaxKernels.CrossEntropy opt = int64 ? options64 : options;
    double sum = spatialRun(logits, targets, null, classes, spatial, rows, lossOut, grad, coef,
        accumulate, zScale, opt);
    return reduction == Reduction.MEAN ? sum / norm : sum;
  }

  /**
   * Soft targets in the N-d layout: {@code targetProbs} has the logits' shape {@code [N, C, d1,
   * …, dk]}; MEAN divides by {@code batch·spatial}. Otherwise as {@link #computeSpatial}.
   *
   * @param logits {@code batch × classes × spatial} floats
   * @param targetProbs target probabilities in the logits layout
   * @param batch N (≥ 0)
   * @param classes C (≥ 1)
   * @param spatial d1·…·dk (≥ 1)
   * @param lossOut receives the row losses; only with NONE, may be null
   * @param grad receives the gradient in the logits layout, or null
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with NONE, the sum of the row losses
   */
  public double computeSoftSpatial(MemorySegment logits, MemorySegment targetProbs, long batch,
      long classes, long spatial, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    spatialOnly();
    if (zLoss > 0) {
      throw new IllegalArgumentException("zLoss applies to class-index targets only");
    }
    long rows = RowArgs.spatial(batch, classes, spatial);
    long span = rows * classes;
    Args.input("logits", logits, span);
    Args.input("targetProbs", targetProbs, span);
    RowArgs.perClass("weight", weight, classes);
    Args.finite("gradScale", gradScale);
    RowArgs.outputs(logits, "logits", targetProbs, "targetProbs", span * Float.BYTES, span, rows,
        lossOut, grad, reduction == Reduction.NONE);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) rows) : gradScale;
    double sum = spatialRun(logits, null, targetProbs, classes, spatial, rows, lossOut, grad,
        coef, accumulate, 0f, options);
    return reduction == Reduction.MEAN ? sum / rows : sum;
  }

  private void spatialOnly() {
    if (softcap > 0 || formatted || checkFinite) {
      throw new IllegalStateException("the N-d layout takes no soft cap, 16-bit formats or "
          + "non-finite guard");
    }
  }

  private double spatialRun(MemorySegment logits, MemorySegment targets, MemorySegment q,
      long classes, long spatial, long rows, MemorySegment lossOut, MemorySegment grad,
      float coef, boolean acc, float zScale, SoftmaxKernels.CrossEntropy opt) {
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, logits,
        targets != null ? targets : q, lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.spatialCrossEntropy(logits, targets, q, classes, spatial, r,
            Math.min(rows, r + chunk), lossOut, grad, coef, acc, zScale, opt);
      }
      return sum;
    }
    return Split.parallel(parallelism().executor(), threads, rows, chunk, (r0, r1) ->
        kernels.spatialCrossEntropy(logits, targets, q, classes, spatial, r0, r1, lossOut, grad,
            coef, acc, zScale, opt));
  }

  /**
   * {@code float[]} form: packed rows, {@code rows = logits.length / classes}.
   *
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targets one class index per row (or {@code ignoreIndex})
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(float[] logits, int[] targets, int classes, float[] grad) {
    long rows = packedRows(logits, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logits), classes, MemorySegment.ofArray(targets), rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /**
   * {@code long[]} form (PyTorch's int64 targets, read in place whatever {@link #targetType}
   * says): packed rows, {@code rows = logits.length / classes}.
   *
   * @param logits packed rows of {@code classes} logits
   * @param targets one class index (or {@code ignoreIndex}) per row
   * @param classes the number of classes C
   * @param grad receives the gradient (scale 1, overwritten), or null
   * @return the reduced loss
   */
  public double compute(float[] logits, long[] targets, int classes, float[] grad) {
    long rows = packedRows(logits, classes, grad);
    if (targets == null || targets.length != rows) {
      throw new IllegalArgumentException("targets must hold one index per row (" + rows + ")");
    }
    return compute(MemorySegment.ofArray(logits), classes, MemorySegment.ofArray(targets), true,
        rows, classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  /**
   * {@code float[]} form of {@link #computeSoft}: packed rows.
   *
   * @param logits logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param targetProbs target probabilities in the logits layout
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the row losses
   */
  public double computeSoft(float[] logits, float[] targetProbs, int classes, float[] grad) {
    long rows = packedRows(logits, classes, grad);
    if (targetProbs == null || targetProbs.length != logits.length) {
      throw new IllegalArgumentException("targetProbs must have the length of logits");
    }
    return computeSoft(MemorySegment.ofArray(logits), classes, MemorySegment.ofArray(targetProbs),
        rows, classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }

  static long packedRows(float[] logits, int classes, float[] grad) {
    if (logits == null) {
      throw new IllegalArgumentException("logits must not be null");
    }
    if (classes < 1 || logits.length % classes != 0) {
      throw new IllegalArgumentException(
          "logits length " + logits.length + " is not a multiple of classes " + classes);
    }
    if (grad != null && grad.length != logits.length) {
      throw new IllegalArgumentException("grad must have the length of logits");
    }
    return logits.length / classes;
  }

  /** Configures a {@link CrossEntropyLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private float[] weight;
    private int ignoreIndex = -100;
    private float smoothing;
    private float zLoss;
    private float softcap;
    private ClassIndexType targetType = ClassIndexType.INT32;

    private Builder() {}

    /**
     * The element type of target segments: {@link ClassIndexType#INT32} (default) or
     * {@link ClassIndexType#INT64}, PyTorch's.
     *
     * @param type the index type
     * @return this builder
     */
    public Builder targetType(ClassIndexType type) {
      this.targetType = type;
      return this;
    }

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
     * Finite per-class weights, one per class (copied).
     *
     * @param weight finite per-class weights, one per class (copied), or null for none
     * @return this builder
     */
    public Builder weight(float[] weight) {
      this.weight = weight == null ? null : weight.clone();
      return this;
    }

    /**
     * Rows whose target equals this are ignored (default −100).
     *
     * @param ignoreIndex rows whose target equals this are ignored (default −100)
     * @return this builder
     */
    public Builder ignoreIndex(int ignoreIndex) {
      this.ignoreIndex = ignoreIndex;
      return this;
    }

    /**
     * Label smoothing ε in [0, 1], fused: no smoothed target buffer is made.
     *
     * @param epsilon the smoothing ε in [0, 1]
     * @return this builder
     */
    public Builder labelSmoothing(float epsilon) {
      this.smoothing = epsilon;
      return this;
    }

    /**
     * z-loss scale (Liger's {@code lse_square_scale}), ≥ 0.
     *
     * @param scale the z-loss scale, finite and ≥ 0
     * @return this builder
     */
    public Builder zLoss(float scale) {
      this.zLoss = scale;
      return this;
    }

    /**
     * Logit soft cap {@code cap·tanh(x/cap)}; 0 (default) is off.
     *
     * @param cap the soft cap, finite and ≥ 0 (0: off)
     * @return this builder
     */
    public Builder softcap(float cap) {
      this.softcap = cap;
      return this;
    }

    /**
     * Builds the loss.
     *
     * @return the loss
     * @throws IllegalArgumentException if an option is out of range
     */
    public CrossEntropyLoss build() {
      return new CrossEntropyLoss(this);
    }
  }
}
