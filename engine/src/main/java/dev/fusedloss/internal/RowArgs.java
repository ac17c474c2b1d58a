package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/** Checks for row-layout calls: {@code rows} rows of {@code classes} floats, {@code stride} apart. */
public final class RowArgs {
  /** Rows may be long (rows × classes beyond 2³¹ is fine); one row's class count fits an int. */
  public static final long MAX_CLASSES = Integer.MAX_VALUE - 64;

  private RowArgs() {}

  /** Checks the shape and returns the number of floats the layout spans. */
  public static long shape(long rows, long classes, long stride) {
    if (rows < 0) {
      throw new IllegalArgumentException("rows must be >= 0, got " + rows);
    }
    if (classes < 1 || classes > MAX_CLASSES) {
      throw new IllegalArgumentException(
          "classes must be in [1, " + MAX_CLASSES + "], got " + classes);
    }
    if (stride < classes) {
      throw new IllegalArgumentException(
          "rowStride must be >= classes (" + classes + "), got " + stride);
    }
    if (rows == 0) {
      return 0;
    }
    if (rows - 1 > (Args.MAX_ELEMENTS - classes) / stride) {
      throw new IllegalArgumentException("rows × rowStride exceeds the addressable float count");
    }
    return (rows - 1) * stride + classes;
  }

  /**
   * Checks an N-d shape {@code [batch, classes, spatial]} (class axis at dim 1) and returns its
   * row count {@code batch·spatial}.
   */
  public static long spatial(long batch, long classes, long spatial) {
    if (batch < 0) {
      throw new IllegalArgumentException("batch must be >= 0, got " + batch);
    }
    if (classes < 1 || classes > MAX_CLASSES) {
      throw new IllegalArgumentException(
          "classes must be in [1, " + MAX_CLASSES + "], got " + classes);
    }
    if (spatial < 1) {
      throw new IllegalArgumentException("spatial must be >= 1, got " + spatial);
    }
    if (batch > 0 && (spatial > Args.MAX_ELEMENTS / classes
        || batch > Args.MAX_ELEMENTS / (classes * spatial))) {
      throw new IllegalArgumentException("batch × classes × spatial exceeds the addressable "
          + "float count");
    }
    return batch * spatial;
  }

  /** A target segment holding at least {@code rows} int32 (or, with {@code int64}, int64) values. */
  public static void targets(MemorySegment targets, long rows, boolean int64) {
    if (targets == null) {
      throw new IllegalArgumentException("targets must not be null");
    }
    if (!targets.scope().isAlive()) {
      throw new IllegalArgumentException("targets belongs to an arena that is already closed");
    }
    if (!targets.isAccessibleBy(Thread.currentThread())) {
      throw new IllegalArgumentException("targets is confined to another thread");
    }
    long count = targets.byteSize() / (int64 ? Long.BYTES : Integer.BYTES);
    if (count < rows) {
      throw new IndexOutOfBoundsException("targets holds " + count + (int64 ? " int64" : " int32")
          + " values but " + rows + " rows need one each");
    }
  }

  /**
   * The checks of a row loss with int32 class targets: layout, input, targets, a per-class
   * vector, gradScale and the outputs (see {@link #outputs}).
   */
  public static void classIndexCall(MemorySegment logits, String logitsName, long stride,
      MemorySegment targets, boolean int64, long rows, long classes, String perClassName,
      float[] perClass, float gradScale, MemorySegment lossOut, MemorySegment grad,
      boolean none) {
    long span = shape(rows, classes, stride);
    Args.input(logitsName, logits, span);
    targets(targets, rows, int64);
    perClass(perClassName, perClass, classes);
    Args.finite("gradScale", gradScale);
    outputs(logits, logitsName, targets, "targets", rows * (int64 ? Long.BYTES : Integer.BYTES),
        span, rows, lossOut,
        grad, none);
  }

  /**
   * gradScale / norm for a MEAN over a weight sum; a zero sum with rows kept is 0/0, so NaN
   * gradients as in PyTorch (not ±∞ or 0).
   */
  public static float meanCoef(float gradScale, double norm) {
    return norm == 0 ? Float.NaN : (float) (gradScale / norm);
  }

  /**
   * Reads target {@code r} of a validated call ({@link #normalizer} has checked that an int64
   * value fits: it is a class index or ignoreIndex).
   */
  public static int target(MemorySegment targets, long r, boolean int64) {
    return int64 ? (int) rawTarget(targets, r, true)
        : targets.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, r * Integer.BYTES);
  }

  /** Target {@code r} as stored, int32 or int64, before any check. */
  public static long rawTarget(MemorySegment targets, long r, boolean int64) {
    return int64 ? targets.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, r * Long.BYTES)
        : targets.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, r * Integer.BYTES);
  }

  /**
   * Validates every class index and returns the MEAN normaliser: Σ weight[t] over the rows not
   * ignored, or their count when {@code weight} is null.
   */
  public static double normalizer(MemorySegment targets, boolean int64, long rows, long classes,
      int ignoreIndex, float[] weight) {
    double norm = 0;
    for (long r = 0; r < rows; r++) {
      long t = rawTarget(targets, r, int64);
      checkTarget(t, r, classes, ignoreIndex);
      if (t != ignoreIndex) {
        norm += weight == null ? 1 : weight[(int) t];
      }
    }
    return norm;
  }

  /** Checks that a per-class vector has one value per class. */
  public static void perClass(String name, float[] values, long classes) {
    if (values != null && values.length != classes) {
      throw new IllegalArgumentException(
          name + " has " + values.length + " values but there are " + classes + " classes");
    }
  }

  /** Throws for a class index outside [0, classes) that is not {@code ignoreIndex}. */
  public static void checkTarget(long t, long r, long classes, int ignoreIndex) {
    if (t != ignoreIndex && (t < 0 || t >= classes)) {
      throw new IndexOutOfBoundsException("targets[row " + r + "] = " + t
          + " is outside [0, " + classes + ") and is not ignoreIndex (" + ignoreIndex + ")");
    }
  }

  /**
   * Output checks shared by the row losses: gradient in the logits layout (it may be the logits
   * or, given, the soft targets themselves, but not a shifted view), row losses only with NONE
   * and overlapping nothing.
   */
  public static void outputs(MemorySegment logits, String logitsName, MemorySegment other,
      String otherName, long otherBytes, long span, long rows, MemorySegment lossOut,
      MemorySegment grad, boolean noneReduction) {
    Args.output("grad", grad, span);
    Args.output("lossOut", lossOut, rows);
    if (lossOut != null && !noneReduction) {
      throw new IllegalArgumentException("lossOut is only written with reduction NONE");
    }
    long bytes = span * Float.BYTES;
    Args.noPartialOverlap("grad", grad, bytes, logitsName, logits, bytes);
    if (other != null) {
      if (otherBytes == bytes) {
        Args.noPartialOverlap("grad", grad, bytes, otherName, other, otherBytes);
      } else {
        Args.disjoint("grad", grad, bytes, otherName, other, otherBytes);
      }
      Args.disjoint("lossOut", lossOut, rows * Float.BYTES, otherName, other, otherBytes);
    }
    Args.disjoint("lossOut", lossOut, rows * Float.BYTES, logitsName, logits, bytes);
    Args.disjoint("lossOut", lossOut, rows * Float.BYTES, "grad", grad, bytes);
  }
}
