package dev.fusedloss;

import dev.fusedloss.internal.Args;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The label-smoothing target transform {@code y' = y·(1−ε) + ε/K} over {@code K} classes.
 *
 * <p>Its derivative with respect to {@code y} is the constant {@code 1−ε}. The softmax losses fuse
 * smoothing without materialising {@code y'}; this utility is for callers who want the smoothed
 * targets themselves (for example to feed a soft-target loss). {@code out} may be {@code y}
 * itself. Checks happen before anything is written.
 */
public final class LabelSmoothing {
  private LabelSmoothing() {}

  /**
   * Writes {@code y[i]·(1−epsilon) + epsilon/numClasses} to {@code out[i]} for {@code i < n}.
   *
   * @param epsilon smoothing in [0, 1]
   * @param numClasses K ≥ 1
   * @param y the targets
   * @param n the number of elements
   * @param out receives the result
   */
  public static void apply(MemorySegment y, long n, float epsilon, int numClasses, MemorySegment out) {
    Args.count("n", n);
    Args.input("y", y, n);
    if (out == null) {
      throw new IllegalArgumentException("out must not be null");
    }
    Args.output("out", out, n);
    if (!(epsilon >= 0 && epsilon <= 1)) {
      throw new IllegalArgumentException("epsilon must be in [0, 1], got " + epsilon);
    }
    if (numClasses < 1) {
      throw new IllegalArgumentException("numClasses must be >= 1, got " + numClasses);
    }
    Args.noPartialOverlap("out", out, n * Float.BYTES, "y", y, n * Float.BYTES);
    float keep = 1f - epsilon;
    float add = epsilon / numClasses;
    for (long i = 0; i < n; i++) {
      float v = y.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
      out.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v * keep + add);
    }
  }

  /**
   * The derivative of the transform with respect to {@code y}: {@code 1 − epsilon}.
   *
   * @param epsilon the smoothing ε in [0, 1]
   * @return {@code 1 − ε}, the derivative of the smoothed target
   */
  public static float derivative(float epsilon) {
    return 1f - epsilon;
  }

  /**
   * {@code float[]} form: returns a new array with the smoothed targets.
   *
   * @param y the targets
   * @param epsilon the smoothing ε in [0, 1]
   * @param numClasses the number of classes K
   * @return the smoothed targets, a new array
   */
  public static float[] apply(float[] y, float epsilon, int numClasses) {
    if (y == null) {
      throw new IllegalArgumentException("y must not be null");
    }
    float[] out = new float[y.length];
    apply(MemorySegment.ofArray(y), y.length, epsilon, numClasses, MemorySegment.ofArray(out));
    return out;
  }
}
