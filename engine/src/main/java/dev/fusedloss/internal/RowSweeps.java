package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaExp.expNonPositive;
import static dev.fusedloss.internal.PanamaSpecies.*;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static jdk.incubator.vector.VectorOperators.*;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

/**
 * Sweeps over one row of the softmax family, shared by its kernels: {@code base} is the row's
 * first element index, {@code classes} its length. Each sweep is its own small method taking and
 * returning scalars, so no vector value crosses a call and C2 compiles each loop fully inlined
 * (see {@link PanamaElementwiseKernels}). Row tails narrower than a vector use masked loads and
 * stores, or the overlapping tail described below.
 */
final class RowSweeps {
  private RowSweeps() {}

  /** Bytes per float vector. */
  static final long VBYTES = (long) L * Float.BYTES;

  /**
   * max_c x_c (NaN if any x_c is NaN). Four independent accumulators: a MAX with Java's NaN
   * semantics is several dependent instructions, and one accumulator made this sweep
   * latency-bound at ~13 cycles per vector.
   */
  static float rowMax(MemorySegment x, long base, int classes) {
    FloatVector m = FloatVector.broadcast(F, NEG_INF);
    FloatVector m1 = m;
    FloatVector m2 = m;
    FloatVector m3 = m;
    int c = 0;
    for (int bound4 = classes - 4 * L + 1; c < bound4; c += 4 * L) {
      long off = (base + c) * Float.BYTES;
      m = m.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off, NATIVE));
      m1 = m1.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off + VBYTES, NATIVE));
      m2 = m2.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off + 2 * VBYTES, NATIVE));
      m3 = m3.lanewise(MAX, FloatVector.fromMemorySegment(F, x, off + 3 * VBYTES, NATIVE));
    }
    m = m.lanewise(MAX, m1).lanewise(MAX, m2.lanewise(MAX, m3));
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      m = m.lanewise(MAX, FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE));
    }
    if (c < classes) {
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE, k);
      m = m.lanewise(MAX, v.blend(NEG_INF, k.not()));
    }
    return m.reduceLanes(MAX);
  }

  // ---- overlapping tails: for rows of at least L classes that are not a multiple of L, the
  // last L elements are handled as one full vector overlapping the previous one, instead of a
  // masked load and store (a masked store is microcoded on AMD: ~35 ns a row at 10 classes).
  // Inputs of the tail are loaded before the main loop, so in-place rows read original values;
  // overlapped lanes are stored twice with the same value and counted once in sums.

  /** Whether {@code classes} takes the overlapping-tail sweeps. */
  static boolean overlapTail(int classes) {
    return classes > L && classes % L != 0;
  }

  /** {@link #gradFromStored} with an overlapping tail; requires {@link #overlapTail}. */
  static void gradFromStoredOverlap(MemorySegment grad, long base, int classes, float a, float b) {
    long tailOff = (base + classes - L) * Float.BYTES;
    FloatVector tail = FloatVector.fromMemorySegment(F, grad, tailOff, NATIVE).mul(a).sub(b);
    for (int c = 0, bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(a).sub(b)
          .intoMemorySegment(grad, off, NATIVE);
    }
    tail.intoMemorySegment(grad, tailOff, NATIVE);
  }

  /** Classes per float partial sum of {@link #rowSumExp}; a multiple of every lane count. */
  static final int SUM_CHUNK = 2048;

  /**
   * Σ_c exp(scale·x_c − m), in float over chunks of {@link #SUM_CHUNK} classes and in double
   * across them: a 131072-class row summed in float alone drifted 8.6e-6 from the tiled sums of
   * the gradient path.
   */
  static double rowSumExp(MemorySegment x, long base, int classes, float scale, float m) {
    double sum = 0;
    int c = 0;
    int bound = F.loopBound(classes);
    while (c < bound) {
      int end = Math.min(bound, c + SUM_CHUNK);
      FloatVector s = FloatVector.zero(F);
      for (; c < end; c += L) {
        FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE);
        s = s.add(expNonPositive(v.mul(scale).sub(m)));
      }
      sum += s.reduceLanes(ADD);
    }
    if (c < classes) {
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE, k);
      sum += expNonPositive(v.mul(scale).sub(m)).reduceLanes(ADD, k);
    }
    return sum;
  }

  /**
   * Σ_c exp(g_c − m), replacing each g_c by exp(g_c − m). One segment for the vector loads and
   * stores: C2 then hoists the segment's checks out of the loop, which it does not when a loop
   * stores into one segment and loads from another (measured: a 32K exp loop ran 2× slower).
   * The loop also reads one float per vector of the row at {@code ahead} of {@code x} and of
   * {@code g} — the next row to sweep — so their memory traffic starts while this row computes
   * (measured ≈ 8 % faster at 4096×32000); scalar reads, as vector loads from {@code x} brought
   * back the slow two-segment loop (246 against 150 ms).
   */
  static float rowSumExpInPlace(MemorySegment g, long base, int classes, float m,
      MemorySegment x, long ahead) {
    FloatVector s = FloatVector.zero(F);
    int touched = 0;
    boolean tail = overlapTail(classes);
    long tailOff = (base + classes - L) * Float.BYTES;
    // the overlapping tail is read before the main loop overwrites part of it
    FloatVector tx = tail ? FloatVector.fromMemorySegment(F, g, tailOff, NATIVE) : s;
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      long aoff = (ahead + c) * Float.BYTES;
      touched += Float.floatToRawIntBits(x.get(JAVA_FLOAT_UNALIGNED, aoff))
          ^ Float.floatToRawIntBits(g.get(JAVA_FLOAT_UNALIGNED, aoff));
      FloatVector e = expNonPositive(FloatVector.fromMemorySegment(F, g, off, NATIVE).sub(m));
      e.intoMemorySegment(g, off, NATIVE);
      s = s.add(e);
    }
    if (touched == 0x7fc0_0001) { // keeps the reads; no sum of float bits is ever tested
      s = s.add(0f);
    }
    if (tail) {
      FloatVector te = expNonPositive(tx.sub(m));
      te.intoMemorySegment(g, tailOff, NATIVE);
      s = s.add(te, F.indexInRange(classes - L - c, L));
    } else if (c < classes) {
      long off = (base + c) * Float.BYTES;
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector e = expNonPositive(FloatVector.fromMemorySegment(F, g, off, NATIVE, k).sub(m));
      e.intoMemorySegment(g, off, NATIVE, k);
      s = s.add(e, k);
    }
    return s.reduceLanes(ADD);
  }

  /** Σ_c w_c·x_c in double with vectors (no soft cap). */
  static double rowDot(MemorySegment x, MemorySegment w, long base, int classes) {
    DoubleVector s = DoubleVector.zero(D);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE);
      FloatVector wv = FloatVector.fromMemorySegment(F, w, (long) c * Float.BYTES, NATIVE);
      // widen before multiplying: w·x of a ±3e38 logit must not overflow float
      s = s.add(((DoubleVector) v.convertShape(F2D, D, 0)).mul((DoubleVector) wv.convertShape(F2D, D, 0)))
          .add(((DoubleVector) v.convertShape(F2D, D, 1)).mul((DoubleVector) wv.convertShape(F2D, D, 1)));
    }
    double tail = 0;
    for (; c < classes; c++) {
      tail += (double) x.get(JAVA_FLOAT_UNALIGNED, (base + c) * Float.BYTES) * w.get(JAVA_FLOAT_UNALIGNED, (long) c * Float.BYTES);
    }
    return s.reduceLanes(ADD) + tail;
  }

  /** Σ_c x_c in double with vectors. */
  static double rowSum(MemorySegment x, long base, int classes) {
    DoubleVector s = DoubleVector.zero(D);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE);
      s = s.add((DoubleVector) v.convertShape(F2D, D, 0)).add((DoubleVector) v.convertShape(F2D, D, 1));
    }
    double tail = 0;
    for (; c < classes; c++) {
      tail += x.get(JAVA_FLOAT_UNALIGNED, (base + c) * Float.BYTES);
    }
    return s.reduceLanes(ADD) + tail;
  }

  /** grad_c = e_c·a − b (e_c stored in grad by rowSumExpInPlace). */
  static void gradFromStored(MemorySegment grad, long base, int classes, float a, float b) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(a).sub(b)
          .intoMemorySegment(grad, off, NATIVE);
    }
    if (c < classes) {
      long off = (base + c) * Float.BYTES;
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector.fromMemorySegment(F, grad, off, NATIVE, k).mul(a).sub(b)
          .intoMemorySegment(grad, off, NATIVE, k);
    }
  }

  /** grad_c = e_c·a − b·w_c (e_c stored in grad). */
  static void gradFromStoredWeighted(MemorySegment grad, MemorySegment w, long base, int classes,
      float a, float b) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector wv = FloatVector.fromMemorySegment(F, w, (long) c * Float.BYTES, NATIVE);
      FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(a).sub(wv.mul(b))
          .intoMemorySegment(grad, off, NATIVE);
    }
    if (c < classes) {
      long off = (base + c) * Float.BYTES;
      VectorMask<Float> k = F.indexInRange(c, classes);
      FloatVector wv = FloatVector.fromMemorySegment(F, w, (long) c * Float.BYTES, NATIVE, k);
      FloatVector.fromMemorySegment(F, grad, off, NATIVE, k).mul(a).sub(wv.mul(b))
          .intoMemorySegment(grad, off, NATIVE, k);
    }
  }

  /**
   * grad_c (+)= exp(x_c − shift)·a − b: the general path (accumulation, or in place). Callers
   * pass shift = row max and a already divided by Σexp, so huge logits keep p exact.
   */
  static void gradRecompute(MemorySegment x, long base, int classes, float shift, float a, float b,
      MemorySegment grad, boolean acc) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector g = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift))
          .mul(a).sub(b);
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    for (; c < classes; c++) {
      gradScalar(x, null, base, c, shift, a, b, grad, acc);
    }
  }

  /** grad_c (+)= exp(x_c − shift)·a − b·w_c. */
  static void gradRecomputeWeighted(MemorySegment x, MemorySegment w, long base, int classes,
      float shift, float a, float b, MemorySegment grad, boolean acc) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector wv = FloatVector.fromMemorySegment(F, w, (long) c * Float.BYTES, NATIVE);
      FloatVector g = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift))
          .mul(a).sub(wv.mul(b));
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    for (; c < classes; c++) {
      gradScalar(x, w, base, c, shift, a, b, grad, acc);
    }
  }

  /** One element of the gradient in double; w may be null. */
  static void gradScalar(MemorySegment x, MemorySegment w, long base, long c, float shift,
      float a, float b, MemorySegment grad, boolean acc) {
    long off = (base + c) * Float.BYTES;
    double wc = w == null ? 1 : at(w, c);
    float gv = (float) (Math.exp(x.get(JAVA_FLOAT_UNALIGNED, off) - shift) * a - b * wc);
    if (acc) {
      gv += grad.get(JAVA_FLOAT_UNALIGNED, off);
    }
    grad.set(JAVA_FLOAT_UNALIGNED, off, gv);
  }

  static void zeroRow(MemorySegment grad, long base, int classes) {
    FloatVector z = FloatVector.zero(F);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      z.intoMemorySegment(grad, (base + c) * Float.BYTES, NATIVE);
    }
    for (; c < classes; c++) {
      grad.set(JAVA_FLOAT_UNALIGNED, (base + c) * Float.BYTES, 0f);
    }
  }

  /** An ignored row: loss 0 and a zero gradient row (left as it is when accumulating). */
  static void ignoredRow(MemorySegment loss, MemorySegment grad, long r, long base, int cls,
      boolean acc) {
    if (loss != null) {
      loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, 0f);
    }
    if (grad != null && !acc) {
      zeroRow(grad, base, cls);
    }
  }

  static void addAt(MemorySegment grad, long i, double v) {
    long off = i * Float.BYTES;
    grad.set(JAVA_FLOAT_UNALIGNED, off, (float) (grad.get(JAVA_FLOAT_UNALIGNED, off) + v));
  }

  static float at(MemorySegment s, long i) {
    return s.get(JAVA_FLOAT_UNALIGNED, i * Float.BYTES);
  }

  /**
   * o_c = (o_c − m) − logS in place: exact for huge logits, where m + log S would round log S
   * away.
   */
  static void shiftInPlace(MemorySegment o, long base, int classes, float m, float logS) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector.fromMemorySegment(F, o, off, NATIVE).sub(m).sub(logS)
          .intoMemorySegment(o, off, NATIVE);
    }
    for (; c < classes; c++) {
      long off = (base + c) * Float.BYTES;
      o.set(JAVA_FLOAT_UNALIGNED, off, (o.get(JAVA_FLOAT_UNALIGNED, off) - m) - logS);
    }
  }
}
