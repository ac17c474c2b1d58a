package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/** Argument checks shared by every kernel entry point; each message names the argument. */
public final class Args {
  private static final MemorySegment ZEROS = MemorySegment.ofArray(new float[2048]);

  /** Writes {@code count} float zeros from element {@code from} (bulk copies, no allocation). */
  public static void zero(MemorySegment s, long from, long count) {
    if (count <= 256) { // a bulk copy costs tens of ns to set up: short runs store directly
      for (long i = from, end = from + count; i < end; i++) {
        s.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i * Float.BYTES, 0f);
      }
      return;
    }
    long off = from * Float.BYTES;
    long left = count * Float.BYTES;
    while (left > 0) {
      long n = Math.min(left, ZEROS.byteSize());
      MemorySegment.copy(ZEROS, 0, s, off, n);
      off += n;
      left -= n;
    }
  }

  private Args() {}

  /** Largest element count whose byte size fits in a long. */
  public static final long MAX_ELEMENTS = Long.MAX_VALUE / Float.BYTES;

  public static void count(String name, long n) {
    if (n < 0) {
      throw new IllegalArgumentException(name + " must be >= 0, got " + n);
    }
    if (n > MAX_ELEMENTS) {
      throw new IllegalArgumentException(name + " = " + n + " exceeds the addressable float count");
    }
  }

  /** An input segment that must hold at least {@code n} floats and be readable by this thread. */
  public static void input(String name, MemorySegment seg, long n) {
    if (seg == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
    accessible(name, seg);
    long floats = seg.byteSize() / Float.BYTES;
    if (floats < n) {
      throw new IndexOutOfBoundsException(
          name + " holds " + floats + " floats but " + n + " are needed");
    }
  }

  /** An input segment holding at least {@code n} values of format {@code f}. */
  public static void input(String name, MemorySegment seg, long n, dev.fusedloss.FloatFormat f) {
    if (f == dev.fusedloss.FloatFormat.FLOAT32) {
      input(name, seg, n);
      return;
    }
    if (seg == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
    accessible(name, seg);
    long values = seg.byteSize() / f.bytes();
    if (values < n) {
      throw new IndexOutOfBoundsException(name + " holds " + values + " " + f.name().toLowerCase()
          + " values but " + n + " are needed");
    }
  }

  /** An optional output segment of format {@code f}. */
  public static void output(String name, MemorySegment seg, long n, dev.fusedloss.FloatFormat f) {
    if (seg == null) {
      return;
    }
    input(name, seg, n, f);
    if (seg.isReadOnly()) {
      throw new IllegalArgumentException(name + " is read-only");
    }
  }

  /** The formats a call takes must be given. */
  public static void formats(dev.fusedloss.FloatFormat... f) {
    for (dev.fusedloss.FloatFormat x : f) {
      if (x == null) {
        throw new IllegalArgumentException("formats must not be null");
      }
    }
  }

  /**
   * {@link #pointwise} for buffers in the given formats: the gradient may alias an input of the
   * same format exactly (each tile is read before it is written), nothing may overlap partially.
   */
  public static void pointwise(MemorySegment input, dev.fusedloss.FloatFormat fi,
      MemorySegment target, dev.fusedloss.FloatFormat ft, long n, MemorySegment lossOut,
      MemorySegment grad, dev.fusedloss.FloatFormat fg, boolean none, float gradScale) {
    input("input", input, n, fi);
    input("target", target, n, ft);
    output("grad", grad, n, fg);
    output("lossOut", lossOut, n);
    if (lossOut != null && !none) {
      throw new IllegalArgumentException("lossOut is only written with reduction NONE");
    }
    finite("gradScale", gradScale);
    long bi = n * fi.bytes();
    long bt = n * ft.bytes();
    long bg = n * fg.bytes();
    long bl = n * Float.BYTES;
    inPlace("grad", grad, bg, "input", input, bi);
    inPlace("grad", grad, bg, "target", target, bt);
    inPlace("lossOut", lossOut, bl, "input", input, bi);
    inPlace("lossOut", lossOut, bl, "target", target, bt);
    disjoint("lossOut", lossOut, bl, "grad", grad, bg);
  }

  /** Exact aliasing of equal sizes, or no overlap. */
  private static void inPlace(String outName, MemorySegment out, long outBytes, String inName,
      MemorySegment in, long inBytes) {
    if (outBytes == inBytes) {
      noPartialOverlap(outName, out, outBytes, inName, in, inBytes);
    } else {
      disjoint(outName, out, outBytes, inName, in, inBytes);
    }
  }

  /** An optional output segment: null, or writable and holding at least {@code n} floats. */
  public static void output(String name, MemorySegment seg, long n) {
    if (seg == null) {
      return;
    }
    input(name, seg, n);
    if (seg.isReadOnly()) {
      throw new IllegalArgumentException(name + " is read-only");
    }
  }

  private static void accessible(String name, MemorySegment seg) {
    if (!seg.scope().isAlive()) {
      throw new IllegalArgumentException(name + " belongs to an arena that is already closed");
    }
    if (!seg.isAccessibleBy(Thread.currentThread())) {
      throw new IllegalArgumentException(name + " is confined to another thread");
    }
  }

  /**
   * An output may be the very same region as an input (in-place use) but must not partially
   * overlap it: elements are read and written in one sweep, so a shifted overlap would read
   * values the sweep already overwrote.
   */
  public static void noPartialOverlap(
      String outName, MemorySegment out, long outBytes, String inName, MemorySegment in, long inBytes) {
    if (overlap(out, outBytes, in, inBytes) == Overlap.PARTIAL) {
      throw new IllegalArgumentException(
          outName + " partially overlaps " + inName + " (only exact in-place aliasing is allowed)");
    }
  }

  /** Whether the first {@code bytes} of the two segments share any byte. */
  public static boolean overlaps(MemorySegment a, MemorySegment b, long bytes) {
    return overlap(a, bytes, b, bytes) != Overlap.NONE;
  }

  /** Two outputs must not overlap at all. */
  public static void disjoint(
      String aName, MemorySegment a, long aBytes, String bName, MemorySegment b, long bBytes) {
    if (overlap(a, aBytes, b, bBytes) != Overlap.NONE) {
      throw new IllegalArgumentException(aName + " and " + bName + " must not overlap");
    }
  }

  enum Overlap { NONE, SAME, PARTIAL }

  /** How the first {@code aBytes} of a and the first {@code bBytes} of b overlap. */
  static Overlap overlap(MemorySegment a, long aBytes, MemorySegment b, long bBytes) {
    if (a == null || b == null || aBytes == 0 || bBytes == 0 || a.isNative() != b.isNative()) {
      return Overlap.NONE;
    }
    if (a.isNative()) {
      // addresses only: no allocation on the native path
      long a0 = a.address();
      long b0 = b.address();
      if (a0 + aBytes <= b0 || b0 + bBytes <= a0) {
        return Overlap.NONE;
      }
      return a0 == b0 && aBytes == bBytes ? Overlap.SAME : Overlap.PARTIAL;
    }
    MemorySegment as = a.asSlice(0, aBytes);
    MemorySegment bs = b.asSlice(0, bBytes);
    long shared = as.asOverlappingSlice(bs).map(MemorySegment::byteSize).orElse(0L);
    if (shared == 0) {
      return Overlap.NONE;
    }
    return aBytes == bBytes && shared == aBytes ? Overlap.SAME : Overlap.PARTIAL;
  }

  /**
   * The checks of a point-wise call: {@code input} and {@code target} of {@code n} floats, an
   * optional gradient and (only when {@code none}) per-element losses, each of which may alias
   * an input exactly but not partially, and which must not overlap each other.
   */
  public static void pointwise(MemorySegment input, MemorySegment target, long n,
      MemorySegment lossOut, MemorySegment grad, boolean none, float gradScale) {
    input("input", input, n);
    input("target", target, n);
    output("grad", grad, n);
    output("lossOut", lossOut, n);
    if (lossOut != null && !none) {
      throw new IllegalArgumentException("lossOut is only written with reduction NONE");
    }
    finite("gradScale", gradScale);
    long bytes = n * Float.BYTES;
    noPartialOverlap("grad", grad, bytes, "input", input, bytes);
    noPartialOverlap("grad", grad, bytes, "target", target, bytes);
    noPartialOverlap("lossOut", lossOut, bytes, "input", input, bytes);
    noPartialOverlap("lossOut", lossOut, bytes, "target", target, bytes);
    disjoint("lossOut", lossOut, bytes, "grad", grad, bytes);
  }

  public static float finite(String name, float v) {
    if (!Float.isFinite(v)) {
      throw new IllegalArgumentException(name + " must be finite, got " + v);
    }
    return v;
  }

  public static float[] finiteArray(String name, float[] v) {
    if (v == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
    if (v.length == 0) {
      throw new IllegalArgumentException(name + " must not be empty");
    }
    for (int i = 0; i < v.length; i++) {
      if (!Float.isFinite(v[i])) {
        throw new IllegalArgumentException(name + "[" + i + "] must be finite, got " + v[i]);
      }
    }
    return v.clone();
  }
}
