package dev.fusedloss;

/**
 * What every loss shares: how its calls may be split over threads. Losses stay immutable to
 * their users; {@link #copyWith} sets the parallelism once, on a fresh clone.
 */
abstract class LossBase implements Cloneable {
  // written once, on a fresh clone, before the copy is returned; a racy reader may see null:
  // auto() then, which changes only the speed, never the result
  private Parallelism parallelism = Parallelism.auto();

  LossBase() {}

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
