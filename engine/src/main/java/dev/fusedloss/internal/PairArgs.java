package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/**
 * Checks of the multi-input losses: every input holds its floats, every (optional) output is
 * writable, holds its floats and overlaps no input and no other output (these kernels read a
 * row's inputs several times, so no output may alias an input, not even exactly).
 */
public final class PairArgs {
  private PairArgs() {}

  /** Runs the checks; {@code floats[i]} is the float count segment i must hold. */
  public static void check(String[] inNames, MemorySegment[] ins, long[] inFloats,
      String[] outNames, MemorySegment[] outs, long[] outFloats) {
    for (int i = 0; i < ins.length; i++) {
      Args.input(inNames[i], ins[i], inFloats[i]);
    }
    for (int i = 0; i < outs.length; i++) {
      Args.output(outNames[i], outs[i], outFloats[i]);
    }
    for (int i = 0; i < outs.length; i++) {
      long ob = outFloats[i] * Float.BYTES;
      for (int j = 0; j < ins.length; j++) {
        Args.disjoint(outNames[i], outs[i], ob, inNames[j], ins[j], inFloats[j] * Float.BYTES);
      }
      for (int j = i + 1; j < outs.length; j++) {
        Args.disjoint(outNames[i], outs[i], ob, outNames[j], outs[j], outFloats[j] * Float.BYTES);
      }
    }
  }

  /** Reduction MEAN/SUM/NONE, and per-item losses only with NONE. */
  public static void reduction(dev.fusedloss.Reduction r, MemorySegment lossOut) {
    if (r == null || r == dev.fusedloss.Reduction.BATCH_MEAN) {
      throw new IllegalArgumentException("reduction must be MEAN, SUM or NONE, got " + r);
    }
    if (lossOut != null && r != dev.fusedloss.Reduction.NONE) {
      throw new IllegalArgumentException("lossOut is only written with reduction NONE");
    }
  }

  /** A non-null, non-empty float array of {@code n} values, as an array segment. */
  public static MemorySegment array(String name, float[] a, long n, boolean required) {
    if (a == null) {
      if (required) {
        throw new IllegalArgumentException(name + " must not be null");
      }
      return null;
    }
    if (a.length != n) {
      throw new IllegalArgumentException(name + " has length " + a.length + " but " + n
          + " values are needed");
    }
    return MemorySegment.ofArray(a);
  }
}
