package dev.fusedloss;

/**
 * What every loss shares: how its calls may be split over threads. Losses stay immutable to
 * their users; {@link #copyWith} sets the parallelism once, on a fresh clone.
 */
abstract class LossBase implements Cloneable {
  // written once, on a fresh clone, before the copy is returned; a racy reader may see null:
  // auto() then, which changes only the speed, never the result
  private Parallelism parallelism = Parallelism.auto();

  // the buffers' formats, set only on a fresh clone by copyWithFormats
  FloatFormat inputFormat = FloatFormat.FLOAT32;
  FloatFormat targetFormat = FloatFormat.FLOAT32;
  FloatFormat gradFormat = FloatFormat.FLOAT32;
  /** True when any format is 16-bit: calls then go through float32 tiles. */
  boolean formatted;

  LossBase() {}

  /** A copy of this loss with the given buffer formats. */
  final <T extends LossBase> T copyWithFormats(FloatFormat input, FloatFormat target,
      FloatFormat grad) {
    dev.fusedloss.internal.Args.formats(input, target, grad);
    T copy = copyWith(parallelism());
    LossBase b = copy;
    b.inputFormat = input;
    b.targetFormat = target;
    b.gradFormat = grad;
    b.formatted = input != FloatFormat.FLOAT32 || target != FloatFormat.FLOAT32
        || grad != FloatFormat.FLOAT32;
    return copy;
  }

  /**
   * The formats of the input, target and gradient buffers (see {@link FloatFormat}).
   *
   * @return {input, target, grad}; all FLOAT32 unless set with {@code withFormats}
   */
  public final FloatFormat[] formats() {
    return new FloatFormat[] {inputFormat, targetFormat, gradFormat};
  }

  /**
   * How calls may be split over threads (bitwise-identical results for any thread count).
   *
   * @return the parallelism (default {@link Parallelism#auto()})
   */
  public final Parallelism parallelism() {
    Parallelism p = parallelism;
    return p == null ? Parallelism.auto() : p;
  }

  /** A copy of this loss with another parallelism; each loss exposes it with its own type. */
  @SuppressWarnings("unchecked")
  final <T extends LossBase> T copyWith(Parallelism parallelism) {
    if (parallelism == null) {
      throw new IllegalArgumentException("parallelism must not be null");
    }
    try {
      LossBase copy = (LossBase) super.clone();
      copy.parallelism = parallelism;
      return (T) copy;
    } catch (CloneNotSupportedException e) {
      throw new AssertionError(e);
    }
  }
}
