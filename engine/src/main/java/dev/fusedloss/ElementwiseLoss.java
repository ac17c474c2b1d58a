package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.ElementwiseKernels;
import dev.fusedloss.internal.FormatKernels;
import dev.fusedloss.internal.FormatScratch;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * A loss over {@code n} (prediction, target) pairs of float32 values, computed together with its
 * gradient in one pass: every element is read once, its loss added to a double-precision sum,
 * and its gradient written in the same sweep.
 *
 * <h2>Calls</h2>
 *
 * <ul>
 *   <li>{@link #compute(MemorySegment, MemorySegment, long, MemorySegment)}: reduced loss and
 *       gradient of the reduced loss.
 *   <li>{@link #forward(MemorySegment, MemorySegment, long)}: the loss only; nothing is written.
 *   <li>{@link #compute(MemorySegment, MemorySegment, long, MemorySegment, MemorySegment, float,
 *       boolean)}: everything — per-element losses (reduction {@link Reduction#NONE} only), an
 *       optional gradient, a gradient scale and accumulation.
 *   <li>{@code float[]} overloads wrap the arrays with {@link MemorySegment#ofArray(float[])}.
 * </ul>
 *
 * <h2>Gradient</h2>
 *
 * The gradient written is {@code gradScale · ∂L/∂input}, where L is the reduced loss: for
 * {@link Reduction#MEAN} that is the per-element derivative divided by {@code n}; for
 * {@link Reduction#SUM} and {@link Reduction#NONE} (the gradient of the sum of the per-element
 * losses, i.e. upstream ones) it is the per-element derivative itself. {@code gradScale} fuses
 * an upstream gradient or a multi-task weight; with {@code accumulate} the gradient is added to
 * what the segment holds instead of overwriting it. The gradient segment may be the input
 * segment itself (in place): each element is read before its gradient is stored.
 *
 * <h2>Segments</h2>
 *
 * Float32 values in native byte order, {@code n} of them from the start of each segment (slice a
 * segment to start elsewhere); a segment may be larger than {@code n} floats and need not be
 * aligned. Outputs may alias an input exactly but must not partially overlap one, and the loss
 * and gradient outputs must not overlap each other.
 *
 * <h2>Errors</h2>
 *
 * Every argument is checked before anything is written: a null input, a negative {@code n}, a
 * segment holding fewer than {@code n} floats, a read-only or closed or foreign-thread segment, a
 * non-finite {@code gradScale}, a loss segment with a reduction other than NONE, a partial
 * overlap or a weight that does not broadcast throws {@link IllegalArgumentException} or {@link
 * IndexOutOfBoundsException} naming the argument, and every output is left untouched. Non-finite
 * input values are not errors: they propagate as in PyTorch.
 *
 * <h2>Threads</h2>
 *
 * Large calls are split over threads as {@link #parallelism()} allows (by default {@link
 * Parallelism#auto()}); the results are bitwise identical for every thread count.
 *
 * <p>Instances are immutable and safe to share between threads; a call on the calling thread
 * allocates nothing, except that the first call on each thread of some vectorized kernels
 * (BCE with logits, sigmoid focal) allocates that thread's 40 KB scratch buffer, kept for the
 * thread's life (so with virtual threads, once per virtual thread).
 */
public abstract sealed class ElementwiseLoss extends LossBase
    permits MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss,
        SigmoidFocalLoss, BinaryFocalLoss, HingeEmbeddingLoss, SoftMarginLoss, PoissonNLLLoss {

  private final Reduction reduction;
  private final ElementwiseKernels kernels;
  private final FormatKernels formats;
  private boolean checkFinite; // set only on a fresh copy, by withFiniteCheck

  ElementwiseLoss(Reduction reduction) {
    if (reduction == null || reduction == Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + reduction);
    }
    this.reduction = reduction;
    this.kernels = VectorizationProvider.get().elementwise();
    this.formats = VectorizationProvider.get().formats();
  }

  /**
   * The reduction this loss applies.
   *
   * @return the reduction
   */
  public final Reduction reduction() {
    return reduction;
  }

  /**
   * This loss with another parallelism (subclasses return their own type).
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   */
  public ElementwiseLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * This loss with the non-finite guard on or off (off by default: PyTorch's semantics, NaN
   * propagates). A guarded call throws {@link NonFiniteException} naming the lowest element
   * index where an input or target is NaN, or a loss term or gradient element is NaN or ±∞.
   * Without accumulation or aliasing, a guarded call runs on the calling thread in chunks of
   * 16384 elements, checking each chunk's inputs and outputs while they are in cache (a loss
   * term is non-finite exactly when the chunk's sum of float terms is); after an exception the
   * gradient's and per-element losses' contents are unspecified. Accumulating or in place, the
   * losses and gradient are computed into a per-thread scratch (8 bytes per element, kept for
   * the thread's life) and checked before anything is written, so every buffer then holds
   * exactly what it held before the call.
   *
   * @param on whether calls are checked
   * @return a copy of this loss with the guard set
   */
  public ElementwiseLoss withFiniteCheck(boolean on) {
    ElementwiseLoss copy = copyWith(parallelism());
    copy.checkFinite = on;
    return copy;
  }

  /**
   * This loss reading and writing buffers in the given formats (all {@link FloatFormat#FLOAT32}
   * by default). With a 16-bit format anywhere, a call works through tiles of 2048 values: the
   * input and target tiles are widened into a per-thread float32 scratch (32 KB, kept for the
   * thread's life), the float32 kernel runs there, and the gradient tile is rounded to {@code
   * grad}'s format (nearest even; with {@code accumulate}, the float32 sum of the stored value
   * and the new gradient is rounded once). Per-element losses are float32. Sizes are checked in
   * values of each buffer's format. A guarded call ({@link #withFiniteCheck}) on 16-bit buffers
   * first checks every tile without writing (the stored, rounded gradient must be finite), then
   * computes: it takes about twice as long and never leaves partial output.
   *
   * @param input the format of {@code input}
   * @param target the format of {@code target}
   * @param grad the format of {@code grad}
   * @return a copy of this loss with those formats
   * @throws IllegalArgumentException if a format is null
   */
  public ElementwiseLoss withFormats(FloatFormat input, FloatFormat target, FloatFormat grad) {
    return copyWithFormats(input, target, grad);
  }

  /**
   * Whether calls are checked for non-finite values.
   *
   * @return true when the guard is on
   */
  public final boolean checksFinite() {
    return checkFinite;
  }

  /**
   * Computes the reduced loss and writes its gradient (scale 1, overwriting).
   *
   * @param input predictions, {@code n} floats
   * @param target targets, {@code n} floats
   * @param n number of elements
   * @param grad receives ∂L/∂input ({@code n} floats), or null for the loss only
   * @return the reduced loss; with {@link Reduction#NONE}, the sum of the per-element losses
   */
  public final double compute(MemorySegment input, MemorySegment target, long n, MemorySegment grad) {
    return compute(input, target, n, null, grad, 1f, false);
  }

  /**
   * Computes the loss only. Equal to the value {@link #compute(MemorySegment, MemorySegment,
   * long, MemorySegment)} returns.
   * @param input predictions
   * @param target targets, in the layout of {@code input}
   * @param n the number of elements
   * @return the reduced loss
   */
  public final double forward(MemorySegment input, MemorySegment target, long n) {
    return compute(input, target, n, null, null, 1f, false);
  }

  /**
   * The full call.
   *
   * @param input predictions, {@code n} floats
   * @param target targets, {@code n} floats
   * @param n number of elements
   * @param lossOut receives the {@code n} per-element losses; only with {@link Reduction#NONE},
   *     and may be null there too
   * @param grad receives {@code gradScale · ∂L/∂input}, or null for no gradient
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with {@link Reduction#NONE}, the sum of the per-element losses
   */
  public final double compute(MemorySegment input, MemorySegment target, long n,
      MemorySegment lossOut, MemorySegment grad, float gradScale, boolean accumulate) {
    Args.count("n", n);
    if (formatted) {
      return computeFormatted(input, target, n, lossOut, grad, gradScale, accumulate);
    }
    Args.pointwise(input, target, n, lossOut, grad, reduction == Reduction.NONE, gradScale);
    checkShape(n);

    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) n) : gradScale;
    if (checkFinite) {
      return guarded(input, target, n, lossOut, grad, coef, accumulate);
    }
    long chunk = Split.elementChunk(n);
    int threads = Split.threads(parallelism(), n, n, chunk, input, target, lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < n; from += chunk) {
        sum += kernel(kernels, input, target, from, Math.min(n, from + chunk), lossOut, grad, coef,
            accumulate);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, n, chunk,
          (from, to) -> kernel(kernels, input, target, from, to, lossOut, grad, coef, accumulate));
    }
    return reduction == Reduction.MEAN ? sum / n : sum;
  }

  /**
   * {@code float[]} form of {@link #compute(MemorySegment, MemorySegment, long, MemorySegment)}.
   *
   * @param input predictions
   * @param target targets, in the layout of {@code input}
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public final double compute(float[] input, float[] target, float[] grad) {
    return compute(input, target, null, grad, 1f, false);
  }

  /**
   * {@code float[]} form of {@link #forward(MemorySegment, MemorySegment, long)}.
   *
   * @param input predictions
   * @param target targets, in the layout of {@code input}
   * @return the reduced loss
   */
  public final double forward(float[] input, float[] target) {
    return compute(input, target, null, null, 1f, false);
  }

  /**
   * {@code float[]} form of the full call; {@code n = input.length}, and every other non-null
   * array must have that length.
   * @param input predictions
   * @param target targets, in the layout of {@code input}
   * @param lossOut receives one loss per row (per element for element-wise losses); only with {@link Reduction#NONE}, may be null
   * @param grad receives the gradient, or null for the loss only
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public final double compute(float[] input, float[] target, float[] lossOut, float[] grad,
      float gradScale, boolean accumulate) {
    if (input == null) {
      throw new IllegalArgumentException("input must not be null");
    }
    int n = input.length;
    sameLength("target", target, n, true);
    sameLength("lossOut", lossOut, n, false);
    sameLength("grad", grad, n, false);
    return compute(MemorySegment.ofArray(input), MemorySegment.ofArray(target), n,
        lossOut == null ? null : MemorySegment.ofArray(lossOut),
        grad == null ? null : MemorySegment.ofArray(grad), gradScale, accumulate);
  }

  private static void sameLength(String name, float[] a, int n, boolean required) {
    if (a == null) {
      if (required) {
        throw new IllegalArgumentException(name + " must not be null");
      }
      return;
    }
    if (a.length != n) {
      throw new IllegalArgumentException(
          name + " has length " + a.length + " but input has length " + n);
    }
  }

  /** The call on buffers with a 16-bit format (see {@link #withFormats}). */
  private double computeFormatted(MemorySegment input, MemorySegment target, long n,
      MemorySegment lossOut, MemorySegment grad, float gradScale, boolean accumulate) {
    Args.pointwise(input, inputFormat, target, targetFormat, n, lossOut, grad, gradFormat,
        reduction == Reduction.NONE, gradScale);
    checkShape(n);
    float coef = reduction == Reduction.MEAN ? (float) (gradScale / (double) n) : gradScale;
    if (checkFinite) {
      tiles(input, target, 0, n, lossOut, grad, coef, accumulate, true);
    }
    long chunk = Split.ceilDiv(Split.elementChunk(n), FormatScratch.TILE) * FormatScratch.TILE;
    int threads = Split.threads(parallelism(), n, n, chunk, input, target, lossOut, grad);
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < n; from += chunk) {
        sum += tiles(input, target, from, Math.min(n, from + chunk), lossOut, grad, coef,
            accumulate, false);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, n, chunk, (from, to) ->
          tiles(input, target, from, to, lossOut, grad, coef, accumulate, false));
    }
    return reduction == Reduction.MEAN ? sum / n : sum;
  }

  /**
   * The shape of a memory-bound point-wise loss for the fused 16-bit loop ({kind, thr, div, b,
   * c}, see {@link FormatKernels#pointwise}), or null: those losses read and write 16-bit values
   * in registers, where the round trip through a tile would cost more than the bytes saved.
   */
  float[] pointwiseShape() {
    return null;
  }

  /**
   * [from, to) tile by tile through float32 scratch (or, for a memory-bound point-wise loss on
   * the Vector API path, in one fused loop); with {@code check}, nothing is written and the
   * first non-finite value throws.
   */
  private double tiles(MemorySegment input, MemorySegment target, long from, long to,
      MemorySegment lossOut, MemorySegment grad, float coef, boolean acc, boolean check) {
    float[] shape = pointwiseShape();
    int lanes = formats.pointwiseLanes();
    if (!check && shape != null && lanes > 0) {
      long end = from + (to - from) / lanes * lanes;
      double sum = formats.pointwise(shape, inputFormat, input, targetFormat, target, from, end,
          lossOut, gradFormat, grad, coef, acc);
      return end == to ? sum : sum + scratchTiles(input, target, end, to, lossOut, grad, coef,
          acc, false);
    }
    return scratchTiles(input, target, from, to, lossOut, grad, coef, acc, check);
  }

  /** [from, to) through the float32 scratch tiles (see {@link #tiles}). */
  private double scratchTiles(MemorySegment input, MemorySegment target, long from, long to,
      MemorySegment lossOut, MemorySegment grad, float coef, boolean acc, boolean check) {
    FormatScratch s = FormatScratch.get(FormatScratch.TILE, FormatScratch.TILE);
    FormatKernels fk = formats;
    double sum = 0;
    for (long t = from; t < to; t += FormatScratch.TILE) {
      int len = (int) Math.min(FormatScratch.TILE, to - t);
      fk.decode(inputFormat, input, t, s.x, len);
      fk.decode(targetFormat, target, t, s.y, len);
      MemorySegment l = lossOut != null || check ? s.loss : null;
      MemorySegment g = grad != null ? s.grad : null;
      double part = kernelTile(kernels, s, t, len, l, g, coef);
      if (check) {
        checkTile(s, t, len, g);
      } else {
        if (lossOut != null) {
          MemorySegment.copy(s.loss, 0, lossOut, t * Float.BYTES, (long) len * Float.BYTES);
        }
        if (grad != null) {
          fk.encode(gradFormat, s.grad, grad, t, len, acc);
        }
      }
      sum += part;
    }
    return sum;
  }

  /** Throws for the lowest bad index of a computed tile starting at {@code t}. */
  private void checkTile(FormatScratch s, long t, int len, MemorySegment g) {
    long[] at = {kernels.firstNaN(s.x, 0, len), kernels.firstNaN(s.y, 0, len),
        kernels.firstNonFinite(s.loss, 0, len), -1};
    if (g != null) {
      if (gradFormat != FloatFormat.FLOAT32) { // the stored value must be finite
        formats.encode(gradFormat, g, s.y, 0, len, false);
        formats.decode(gradFormat, s.y, 0, g, len);
      }
      at[3] = kernels.firstNonFinite(g, 0, len);
    }
    MemorySegment[] src = {s.x, s.y, s.loss, g};
    int worst = -1;
    for (int k = 0; k < 4; k++) {
      if (at[k] >= 0 && (worst < 0 || at[k] < at[worst])) {
        worst = k;
      }
    }
    if (worst >= 0) {
      float v = worst == 1 ? Float.NaN : src[worst].getAtIndex(JAVA_FLOAT_U, at[worst]);
      throw NonFiniteException.element(t + at[worst], v, NonFiniteException.Source.values()[worst]);
    }
  }

  /**
   * The kernel over one scratch tile of {@code len} values that starts at element {@code origin}
   * of the call (weighted losses shift their weights by it).
   */
  double kernelTile(ElementwiseKernels k, FormatScratch s, long origin, int len,
      MemorySegment loss, MemorySegment grad, float coef) {
    return kernel(k, s.x, s.y, 0, len, loss, grad, coef, false);
  }

  /** Checks per-loss shape constraints (weights that must broadcast over n). */
  void checkShape(long n) {}

  /** Elements per chunk of a guarded call: its inputs and outputs stay in L2 for the checks. */
  static final long GUARD_CHUNK = 1 << 14;

  /**
   * The guarded call without accumulation or aliasing: chunk by chunk on the calling thread, the
   * kernel's outputs go straight to the caller and are checked while the chunk is in cache. A
   * loss term is non-finite exactly when the chunk's sum of float terms is (a double cannot
   * overflow on finite floats); only then is the chunk recomputed to find the term.
   */
  private double guardedDirect(MemorySegment input, MemorySegment target, long n,
      MemorySegment lossOut, MemorySegment grad, float coef) {
    double sum = 0;
    for (long from = 0; from < n; from += GUARD_CHUNK) {
      long to = Math.min(n, from + GUARD_CHUNK);
      double s = kernel(kernels, input, target, from, to, lossOut, grad, coef, false);
      long first = kernels.firstBad(input, target, grad, from, to); // one pass, in cache
      if (first >= 0 || !Double.isFinite(s)) {
        throw chunkFailure(input, target, grad, from, to, coef, first);
      }
      sum += s;
    }
    return reduction == Reduction.MEAN ? sum / n : sum;
  }

  private static final java.lang.foreign.ValueLayout.OfFloat JAVA_FLOAT_U =
      java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

  /**
   * The failure path of a chunk: its loss terms recomputed into a temporary buffer, and the
   * exception for the lowest offending index ({@code first}: the first bad input, target or
   * gradient element, or −1); at one index an input or target comes before its loss term, the
   * loss term before the gradient.
   */
  private NonFiniteException chunkFailure(MemorySegment input, MemorySegment target,
      MemorySegment grad, long from, long to, float coef, long first) {
    try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
      MemorySegment terms = a.allocate(to * Float.BYTES, 64); // indexed as the kernel indexes
      kernel(kernels, input, target, from, to, terms, null, coef, false);
      long term = kernels.firstNonFinite(terms, from, to);
      if (first >= 0) {
        if (Float.isNaN(input.getAtIndex(JAVA_FLOAT_U, first))) {
          return NonFiniteException.element(first, Float.NaN, NonFiniteException.Source.INPUT);
        }
        if (Float.isNaN(target.getAtIndex(JAVA_FLOAT_U, first))) {
          return NonFiniteException.element(first, Float.NaN, NonFiniteException.Source.TARGET);
        }
      }
      if (term >= 0 && (first < 0 || term <= first)) {
        return NonFiniteException.element(term, terms.getAtIndex(JAVA_FLOAT_U, term),
            NonFiniteException.Source.LOSS);
      }
      return NonFiniteException.element(first, grad.getAtIndex(JAVA_FLOAT_U, first),
          NonFiniteException.Source.GRADIENT);
    }
  }

  /** The guarded call: everything into scratch, checked, then committed (see withFiniteCheck). */
  private double guarded(MemorySegment input, MemorySegment target, long n,
      MemorySegment lossOut, MemorySegment grad, float coef, boolean accumulate) {
    boolean aliased = grad != null && (Args.overlaps(grad, input, n * Float.BYTES)
        || Args.overlaps(grad, target, n * Float.BYTES));
    if (!accumulate && !aliased) {
      return guardedDirect(input, target, n, lossOut, grad, coef);
    }
    GuardScratch gs = GUARD.get().atLeast(n);
    // accumulating or in place: the caller's buffers must survive a failure, so everything goes
    // to scratch first
    MemorySegment g = grad == null ? null : gs.grad;
    long chunk = Split.elementChunk(n);
    int threads = Split.threads(parallelism(), n, n, chunk, input, target, gs.loss, g);
    double sum = 0;
    if (threads == 1) {
      for (long from = 0; from < n; from += chunk) {
        sum += kernel(kernels, input, target, from, Math.min(n, from + chunk), gs.loss, g, coef,
            false);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, n, chunk,
          (from, to) -> kernel(kernels, input, target, from, to, gs.loss, g, coef, false));
    }
    long[] at = {kernels.firstNaN(input, 0, n), kernels.firstNaN(target, 0, n),
        kernels.firstNonFinite(gs.loss, 0, n), g == null ? -1 : kernels.firstNonFinite(g, 0, n)};
    MemorySegment[] from = {input, target, gs.loss, g};
    int worst = -1;
    for (int k = 0; k < 4; k++) { // the lowest index; at one index, inputs before outputs
      if (at[k] >= 0 && (worst < 0 || at[k] < at[worst])) {
        worst = k;
      }
    }
    if (worst >= 0) {
      float v = from[worst].get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
          at[worst] * Float.BYTES);
      throw NonFiniteException.element(at[worst], v, NonFiniteException.Source.values()[worst]);
    }
    if (grad != null) {
      if (accumulate) {
        kernels.addInto(grad, g, 0, n);
      } else {
        MemorySegment.copy(g, 0, grad, 0, n * Float.BYTES);
      }
    }
    if (lossOut != null) {
      MemorySegment.copy(gs.loss, 0, lossOut, 0, n * Float.BYTES);
    }
    return reduction == Reduction.MEAN ? sum / n : sum;
  }

  /** Per-thread scratch of guarded calls: losses and gradient, native, grown to the largest. */
  static final class GuardScratch {
    MemorySegment loss = MemorySegment.NULL;
    MemorySegment grad = MemorySegment.NULL;

    GuardScratch atLeast(long n) {
      if (loss.byteSize() < n * Float.BYTES) {
        long size = Math.max(n, 1024) * Float.BYTES;
        java.lang.foreign.Arena a = java.lang.foreign.Arena.ofAuto();
        loss = a.allocate(size, 64);
        grad = a.allocate(size, 64);
      }
      return this;
    }
  }

  static final ThreadLocal<GuardScratch> GUARD = ThreadLocal.withInitial(GuardScratch::new);

  /** The kernels this loss runs (for the losses that wrap it). */
  ElementwiseKernels kernels() {
    return kernels;
  }

  /** Runs this loss's kernel over [from, to) and returns the sum of the losses. */
  abstract double kernel(ElementwiseKernels k, MemorySegment x, MemorySegment y, long from,
      long to, MemorySegment loss, MemorySegment grad, float coef, boolean acc);
}
