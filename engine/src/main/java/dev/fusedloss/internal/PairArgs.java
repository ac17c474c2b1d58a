package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/**
 * Checks of the multi-input losses: every input holds its floats, every (optional) output is
 * writable, holds its floats and overlaps no input and no other output (these kernels read a
 * row's inputs several times, so no output may alias an input, not even exactly).
 */
public final class PairArgs {
  private PairArgs() {}

  private static final ThreadLocal<Check> CHECK = ThreadLocal.withInitial(Check::new);

  /**
   * Starts the checks of one call on this thread's reusable checker (nothing is allocated per
   * call): add the inputs, then the outputs, then {@link Check#run}.
   */
  public static Check begin() {
    Check c = CHECK.get();
    c.inputs = 0;
    c.outputs = 0;
    return c;
  }

  /** The inputs and (optional) outputs of one call, up to four of each. */
  public static final class Check {
    private final String[] inNames = new String[4];
    private final MemorySegment[] ins = new MemorySegment[4];
    private final long[] inFloats = new long[4];
    private final String[] outNames = new String[4];
    private final MemorySegment[] outs = new MemorySegment[4];
    private final long[] outFloats = new long[4];
    private int inputs;
    private int outputs;

    private Check() {}

    /** An input that must hold {@code floats} floats. */
    public Check in(String name, MemorySegment s, long floats) {
      inNames[inputs] = name;
      ins[inputs] = s;
      inFloats[inputs++] = floats;
      return this;
    }

    /** An optional output of {@code floats} floats. */
    public Check out(String name, MemorySegment s, long floats) {
      outNames[outputs] = name;
      outs[outputs] = s;
      outFloats[outputs++] = floats;
      return this;
    }

    /** Runs the checks, then clears the references it held. */
    public void run() {
      try {
        for (int i = 0; i < inputs; i++) {
          Args.input(inNames[i], ins[i], inFloats[i]);
        }
        for (int i = 0; i < outputs; i++) {
          Args.output(outNames[i], outs[i], outFloats[i]);
        }
        for (int i = 0; i < outputs; i++) {
          long ob = outFloats[i] * Float.BYTES;
          for (int j = 0; j < inputs; j++) {
            Args.disjoint(outNames[i], outs[i], ob, inNames[j], ins[j], inFloats[j] * Float.BYTES);
          }
          for (int j = i + 1; j < outputs; j++) {
            Args.disjoint(outNames[i], outs[i], ob, outNames[j], outs[j],
                outFloats[j] * Float.BYTES);
          }
        }
      } finally {
        java.util.Arrays.fill(ins, null); // no segment kept alive by the thread
        java.util.Arrays.fill(outs, null);
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
