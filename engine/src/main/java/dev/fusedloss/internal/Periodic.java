package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A weight vector broadcast along the flattened input: element {@code i} uses
 * {@code values[i % length]}. That is PyTorch broadcasting of a {@code [C]} weight over an
 * {@code [N, C]} input (period C) and of a full {@code [N, C]} weight (period N·C).
 *
 * <p>Short weights are stored tiled to a period that is a multiple of 16 and at least 1024
 * floats, so that vector loops run over long contiguous stretches instead of restarting at
 * every row; element {@code i} still gets {@code values[i % length]} because the tiled period
 * is a multiple of the original one.
 */
public final class Periodic {
  private static final int MIN_TILE = 1024;
  private static final int MAX_TILED_LENGTH = 1 << 16;

  /** The weights as given (for messages and validation). */
  public final int length;
  /** The tiled weights, {@link #period} floats. */
  public final MemorySegment tile;
  /** The period of {@link #tile}: a multiple of {@link #length}. */
  public final long period;
  /** True for the absent weight ({@link #ones()}): kernels may skip it. */
  public final boolean ones;

  private Periodic(int length, float[] tiled, boolean ones) {
    this.ones = ones;
    this.length = length;
    this.tile = MemorySegment.ofArray(tiled);
    this.period = tiled.length;
  }

  /** Validates (non-empty, finite) and tiles a copy of {@code values}. */
  public static Periodic of(String name, float[] values) {
    float[] v = Args.finiteArray(name, values);
    int len = v.length;
    int reps = 16 / gcd(len, 16);
    if ((long) len * reps > MAX_TILED_LENGTH) {
      return new Periodic(len, v, false);
    }
    while ((long) len * reps < MIN_TILE) {
      reps *= 2;
    }
    float[] tiled = new float[len * reps];
    for (int r = 0; r < reps; r++) {
      System.arraycopy(v, 0, tiled, r * len, len);
    }
    return new Periodic(len, tiled, false);
  }

  /** A weight of all ones (the absent weight). */
  public static Periodic ones() {
    float[] one = new float[MIN_TILE];
    Arrays.fill(one, 1f);
    return new Periodic(1, one, true);
  }

  /**
   * An empty window of {@code capacity} values (period {@code capacity}), to be filled by {@link
   * #window(long, int, Periodic)}; owned by one thread.
   */
  static Periodic window(int capacity) {
    return new Periodic(capacity, new float[capacity], false);
  }

  /**
   * The weights of elements {@code [origin, origin + len)} as a weight that a kernel run over
   * {@code [0, len)} reads correctly: this itself when it is all ones, else {@code into} filled
   * with them ({@code len} ≤ its capacity).
   */
  public Periodic window(long origin, int len, Periodic into) {
    if (ones) {
      return this;
    }
    long at = origin % period;
    int done = 0;
    while (done < len) {
      int run = (int) Math.min(len - done, period - at);
      MemorySegment.copy(tile, at * Float.BYTES, into.tile, (long) done * Float.BYTES,
          (long) run * Float.BYTES);
      done += run;
      at = 0;
    }
    return into;
  }

  /** The weight of element {@code i}. */
  public float at(long i) {
    return tile.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i % period);
  }

  /** Checks that the weights broadcast over {@code n} elements. */
  public void checkBroadcast(String name, long n) {
    if (n % length != 0) {
      throw new IllegalArgumentException(
          name + " has " + length + " values, which does not divide the element count " + n
              + " (weights broadcast along the last dimension)");
    }
  }

  private static int gcd(int a, int b) {
    while (b != 0) {
      int t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
}
