package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.LinearCrossEntropyPass;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * A final projection and cross entropy in one call, for language-model heads: logits
 * {@code z = h·Wᵀ + b} of hidden states {@code h [N, H]} over a vocabulary {@code W [V, H]} (with
 * an optional bias {@code b [V]}), then cross entropy against class indices, without ever
 * holding the {@code [N, V]} logits or their gradient.
 *
 * <h2>Formula</h2>
 *
 * With the soft cap on, {@code z ← cap·tanh(z/cap)} first. Row loss, for a row whose target t is
 * not {@code ignoreIndex}: {@code lse − (1−ε)·z_t − (ε/V)·Σ_c z_c + zLoss·lse²} with {@code lse =
 * log Σ_c exp(z_c)} and ε the label smoothing (PyTorch's {@code cross_entropy(label_smoothing=ε)}
 * plus the z-loss of PaLM); ignored rows give 0. {@link Reduction#MEAN} divides the sum by the
 * number of rows not ignored (NaN when there is none, as PyTorch), SUM adds, NONE gives the row
 * losses.
 *
 * <h2>Gradients</h2>
 *
 * With {@code dz_c = gradScale·s·(p_c·(1 + 2·zLoss·lse) − ε/V − (1−ε)·[c = t])} (times {@code 1 −
 * (z_c/cap)²} under the cap; s = 1/kept rows for MEAN, else 1; 0 on ignored rows): {@code dH =
 * dz·W}, {@code dW = dzᵀ·h}, {@code db = Σ_rows dz}, each written in float32 (or added to the
 * buffer's contents with {@code accumulate}, as training accumulates micro-batches). Any
 * gradient buffer may be null.
 *
 * <h2>How, and the memory bound</h2>
 *
 * Rows go in blocks of S rows, S = min(N, max(64, min(1024, 2^19/H))), whose hidden states are
 * transposed once; for each block the vocabulary is swept twice in tiles of 240 entries: once
 * for every row's log-sum-exp, once to form the tile's {@code dz} and apply {@code dH +=
 * dz·W_tile} and {@code dW_tile += dzᵀ·h}. The logits are thus computed twice: four matrix
 * products of {@code 2·N·H·V} operations in all, against three for an unfused forward and
 * backward that keeps the logits. The workspace, allocated per call from an arena closed before
 * it returns, is {@code 4·(S·H + 240·S) + 44·S} bytes, plus {@code 4·(240·H + S·H)} for 16-bit
 * inputs (which are widened tile by tile): it never depends on V, nor on N beyond S rows (2.6 MB
 * at N = H = 1024, against {@code 4·N·V} bytes for the logits alone); the product kernel keeps
 * about 27 KB of packed operands per thread. The products are a packed, register-blocked Vector
 * API kernel (4 rows × 3 vectors of fused multiply-adds); without the Vector API, plain loops.
 *
 * <h2>Formats</h2>
 *
 * {@code hidden} and {@code weight} are in {@link Builder#inputFormat} (float32 by default,
 * bfloat16 or float16); bias, row losses and all gradients are float32.
 *
 * <h2>Threads</h2>
 *
 * Rows are split between threads for the logits and {@code dH}, vocabulary rows for {@code dW}
 * and {@code db}; every value is formed in one fixed order, so the results are bitwise identical
 * for every thread count.
 *
 * <h2>Errors</h2>
 *
 * Every argument is checked before anything is written: a null or too-small buffer (sizes
 * counted in values of the buffer's format), {@code N < 0}, {@code H < 1}, {@code V < 1}, a
 * {@code V·H} or {@code N·H} beyond the addressable range, a target outside {@code [0, V)} that
 * is not {@code ignoreIndex} (naming the row), a {@code gradBias} without a bias, outputs that
 * overlap an input or each other, or a non-finite {@code gradScale} throws {@link
 * IllegalArgumentException} or {@link IndexOutOfBoundsException}, and no output is touched.
 * Non-finite inputs propagate.
 */
public final class FusedLinearCrossEntropyLoss extends LossBase {
  private final Reduction reduction;
  private final ClassIndexType targetType;
  private final FloatFormat format;
  private final LinearCrossEntropyPass.Options options;

  private FusedLinearCrossEntropyLoss(Builder b) {
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
      throw new IllegalArgumentException("softcap must be finite and >= 0 (0 = off), got "
          + b.softcap);
    }
    if (b.targetType == null || b.format == null) {
      throw new IllegalArgumentException("targetType and inputFormat must not be null");
    }
    this.reduction = b.reduction;
    this.targetType = b.targetType;
    this.format = b.format;
    this.options = new LinearCrossEntropyPass.Options(b.ignoreIndex, b.smoothing, b.softcap,
        b.zLoss, b.targetType == ClassIndexType.INT64);
  }

  /**
   * A builder with PyTorch's defaults: MEAN, ignoreIndex −100, no smoothing, no cap, no z-loss,
   * int32 targets, float32 inputs.
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
   * @return a copy using it
   */
  public FusedLinearCrossEntropyLoss withParallelism(Parallelism parallelism) {
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
   * The format of the hidden states and the weight.
   *
   * @return the input format
   */
  public FloatFormat inputFormat() {
    return format;
  }

  /**
   * Loss and all gradients (scale 1, overwriting).
   *
   * @param hidden hidden states, {@code rows × hiddenSize} values
   * @param weight the projection, {@code vocab × hiddenSize} values
   * @param bias {@code vocab} float32 values, or null
   * @param targets {@code rows} class indices (or ignoreIndex), int32 or int64 as the builder
   *     says
   * @param rows N
   * @param hiddenSize H
   * @param vocab V
   * @param gradHidden receives ∂L/∂hidden (float32, rows × hiddenSize), or null
   * @param gradWeight receives ∂L/∂weight (float32, vocab × hiddenSize), or null
   * @param gradBias receives ∂L/∂bias (float32, vocab), or null
   * @return the reduced loss (with NONE, the sum of the row losses)
   */
  public double compute(MemorySegment hidden, MemorySegment weight, MemorySegment bias,
      MemorySegment targets, long rows, long hiddenSize, long vocab, MemorySegment gradHidden,
      MemorySegment gradWeight, MemorySegment gradBias) {
    return compute(hidden, weight, bias, targets, rows, hiddenSize, vocab, null, gradHidden,
        gradWeight, gradBias, 1f, false);
  }

  /**
   * The loss only: no gradient buffer is needed.
   *
   * @param hidden hidden states, {@code rows × hiddenSize} values
   * @param weight the projection, {@code vocab × hiddenSize} values
   * @param bias {@code vocab} float32 values, or null
   * @param targets {@code rows} class indices
   * @param rows N
   * @param hiddenSize H
   * @param vocab V
   * @return the reduced loss
   */
  public double forward(MemorySegment hidden, MemorySegment weight, MemorySegment bias,
      MemorySegment targets, long rows, long hiddenSize, long vocab) {
    return compute(hidden, weight, bias, targets, rows, hiddenSize, vocab, null, null, null, null,
        1f, false);
  }

  /**
   * The full call.
   *
   * @param hidden hidden states, {@code rows × hiddenSize} values
   * @param weight the projection, {@code vocab × hiddenSize} values
   * @param bias {@code vocab} float32 values, or null
   * @param targets {@code rows} class indices
   * @param rows N
   * @param hiddenSize H
   * @param vocab V
   * @param lossOut receives the row losses (float32); only with NONE, may be null
   * @param gradHidden receives ∂L/∂hidden, or null
   * @param gradWeight receives ∂L/∂weight, or null
   * @param gradBias receives ∂L/∂bias, or null (must be null without a bias)
   * @param gradScale finite factor applied to every gradient
   * @param accumulate add the gradients to the buffers' contents instead of overwriting them
   * @return the reduced loss (with NONE, the sum of the row losses)
   */
  public double compute(MemorySegment hidden, MemorySegment weight, MemorySegment bias,
      MemorySegment targets, long rows, long hiddenSize, long vocab, MemorySegment lossOut,
      MemorySegment gradHidden, MemorySegment gradWeight, MemorySegment gradBias,
      float gradScale, boolean accumulate) {
    if (lossOut != null && reduction != Reduction.NONE) {
      throw new IllegalArgumentException("lossOut is only written with reduction NONE");
    }
    long kept = check(hidden, weight, bias, targets, rows, hiddenSize, vocab, lossOut, gradHidden,
        gradWeight, gradBias, gradScale);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) kept) : gradScale;
    if (reduction == Reduction.MEAN && kept == 0) {
      coef = 0f; // every row ignored: nothing flows back
    }
    double sum = LinearCrossEntropyPass.run(new LinearCrossEntropyPass.Call(hidden, weight,
        format, bias, targets, rows, hiddenSize, vocab, lossOut, false, gradHidden, gradWeight,
        gradBias, coef, accumulate, options), parallelism(), VectorizationProvider.get().linear(),
        VectorizationProvider.get().formats());
    return reduction == Reduction.MEAN ? sum / kept : sum;
  }

  /**
   * Forward only, for scoring: each row's log-probability of its target, {@code z_t − lse} (the
   * soft cap applies; smoothing and z-loss do not), and the summed negative log-likelihood of
   * the rows not ignored. Perplexity is {@code exp(returned / kept rows)}.
   *
   * @param hidden hidden states, {@code rows × hiddenSize} values
   * @param weight the projection, {@code vocab × hiddenSize} values
   * @param bias {@code vocab} float32 values, or null
   * @param targets {@code rows} class indices
   * @param rows N
   * @param hiddenSize H
   * @param vocab V
   * @param logProbOut receives the rows' log-probabilities (0 for ignored rows), or null
   * @return {@code −Σ log p} over the rows not ignored
   */
  public double logProbs(MemorySegment hidden, MemorySegment weight, MemorySegment bias,
      MemorySegment targets, long rows, long hiddenSize, long vocab, MemorySegment logProbOut) {
    check(hidden, weight, bias, targets, rows, hiddenSize, vocab, logProbOut, null, null, null,
        1f);
    return LinearCrossEntropyPass.run(new LinearCrossEntropyPass.Call(hidden, weight, format,
        bias, targets, rows, hiddenSize, vocab, logProbOut, true, null, null, null, 0f, false,
        options), parallelism(), VectorizationProvider.get().linear(),
        VectorizationProvider.get().formats());
  }

  /** Validates everything; returns the number of rows not ignored. */
  private long check(MemorySegment hidden, MemorySegment weight, MemorySegment bias,
      MemorySegment targets, long rows, long h, long v, MemorySegment lossOut,
      MemorySegment gradHidden, MemorySegment gradWeight, MemorySegment gradBias,
      float gradScale) {
    if (rows < 0) {
      throw new IllegalArgumentException("rows must be >= 0, got " + rows);
    }
    if (h < 1 || h > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("hiddenSize must be in [1, 2^31), got " + h);
    }
    if (v < 1 || v > RowArgs.MAX_CLASSES) {
      throw new IllegalArgumentException("vocab must be in [1, " + RowArgs.MAX_CLASSES + "], got "
          + v);
    }
    if (v > Args.MAX_ELEMENTS / h) {
      throw new IllegalArgumentException("vocab × hiddenSize = " + v + " × " + h
          + " overflows the addressable element count");
    }
    if (rows > Args.MAX_ELEMENTS / h) {
      throw new IllegalArgumentException("rows × hiddenSize = " + rows + " × " + h
          + " overflows the addressable element count");
    }
    Args.finite("gradScale", gradScale);
    Args.input("hidden", hidden, rows * h, format);
    weightSize(weight, v * h);
    if (bias != null) {
      Args.input("bias", bias, v);
    }
    if (gradBias != null && bias == null) {
      throw new IllegalArgumentException("gradBias is given but there is no bias");
    }
    boolean int64 = targetType == ClassIndexType.INT64;
    RowArgs.targets(targets, rows, int64);
    Args.output("lossOut", lossOut, rows);
    Args.output("gradHidden", gradHidden, rows * h);
    Args.output("gradWeight", gradWeight, v * h);
    Args.output("gradBias", gradBias, v);
    MemorySegment[] outs = {lossOut, gradHidden, gradWeight, gradBias};
    String[] outNames = {"lossOut", "gradHidden", "gradWeight", "gradBias"};
    long[] outBytes = {rows * 4, rows * h * 4, v * h * 4, v * 4};
    MemorySegment[] ins = {hidden, weight, bias, targets};
    String[] inNames = {"hidden", "weight", "bias", "targets"};
    long[] inBytes = {rows * h * format.bytes(), v * h * format.bytes(), v * 4,
        rows * (int64 ? 8 : 4)};
    for (int i = 0; i < outs.length; i++) {
      for (int j = 0; j < ins.length; j++) {
        Args.disjoint(outNames[i], outs[i], outBytes[i], inNames[j], ins[j], inBytes[j]);
      }
      for (int j = i + 1; j < outs.length; j++) {
        Args.disjoint(outNames[i], outs[i], outBytes[i], outNames[j], outs[j], outBytes[j]);
      }
    }
    return (long) RowArgs.normalizer(targets, int64, rows, v, options.ignoreIndex(), null);
  }

  private void weightSize(MemorySegment weight, long values) {
    if (weight != null && format != FloatFormat.FLOAT32
        && weight.byteSize() == values * Float.BYTES) {
      // not an error by size alone, but nearly always a float32 weight handed to a 16-bit loss
      throw new IllegalArgumentException("weight holds exactly " + values + " float32 values, "
          + "but this loss reads " + format + " (set Builder.inputFormat to FLOAT32, or convert)");
    }
    try {
      Args.input("weight", weight, values, format);
    } catch (IndexOutOfBoundsException e) {
      if (format == FloatFormat.FLOAT32 && weight.byteSize() >= values * 2) {
        throw new IndexOutOfBoundsException(e.getMessage() + " (a 16-bit weight? set "
            + "Builder.inputFormat)");
      }
      throw e;
    }
  }

  /** Configures a {@link FusedLinearCrossEntropyLoss}. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private int ignoreIndex = -100;
    private float smoothing;
    private float zLoss;
    private float softcap;
    private ClassIndexType targetType = ClassIndexType.INT32;
    private FloatFormat format = FloatFormat.FLOAT32;

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
     * The target value whose rows are skipped (default −100).
     *
     * @param ignoreIndex the index
     * @return this builder
     */
    public Builder ignoreIndex(int ignoreIndex) {
      this.ignoreIndex = ignoreIndex;
      return this;
    }

    /**
     * Label smoothing ε in [0, 1] (default 0).
     *
     * @param epsilon ε
     * @return this builder
     */
    public Builder labelSmoothing(float epsilon) {
      this.smoothing = epsilon;
      return this;
    }

    /**
     * The z-loss weight: adds {@code zLoss·lse²} per row not ignored (default 0).
     *
     * @param scale ≥ 0
     * @return this builder
     */
    public Builder zLoss(float scale) {
      this.zLoss = scale;
      return this;
    }

    /**
     * Soft cap of the logits, {@code z ← cap·tanh(z/cap)} (0, the default, is off).
     *
     * @param cap ≥ 0
     * @return this builder
     */
    public Builder softcap(float cap) {
      this.softcap = cap;
      return this;
    }

    /**
     * The target element type (default INT32).
     *
     * @param type INT32 or INT64
     * @return this builder
     */
    public Builder targetType(ClassIndexType type) {
      this.targetType = type;
      return this;
    }

    /**
     * The format of {@code hidden} and {@code weight} (default FLOAT32).
     *
     * @param format FLOAT32, BFLOAT16 or FLOAT16
     * @return this builder
     */
    public Builder inputFormat(FloatFormat format) {
      this.format = format;
      return this;
    }

    /**
     * The loss.
     *
     * @return a new loss
     * @throws IllegalArgumentException for an option out of range
     */
    public FusedLinearCrossEntropyLoss build() {
      return new FusedLinearCrossEntropyLoss(this);
    }
  }
}
