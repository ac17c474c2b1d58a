package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.F;
import static dev.fusedloss.internal.PanamaSpecies.L;
import static dev.fusedloss.internal.PanamaSpecies.NATIVE;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.MAX;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The Vector API product: a register-blocked micro-kernel of 4 rows × 3 vectors (12
 * accumulators, 3 loads of B and 4 broadcasts of A per step: 16 registers, so it fits AVX2 as
 * well as AVX-512), streaming B's rows in p order; narrower edge kernels (1 row, 1 vector, a
 * masked last vector) compute every element with the same chain of FMAs in p order, so a split
 * of the rows never changes a bit. No packing: the caller hands B as contiguous rows (the fused
 * loss packs the transposed weight tile once per tile).
 */
final class PanamaLinearKernels implements LinearKernels {
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
  private static final ScalarLinearKernels SCALAR = ScalarLinearKernels.INSTANCE;

  @Override
  public void gemm(int m, int n, int k, MemorySegment a, long aOff, long ars, long acs,
      MemorySegment b, long bOff, long ldb, MemorySegment c, long cOff, long ldc, boolean acc) {
    int j = 0;
    for (; j + 3 * L <= n; j += 3 * L) {
      int i = 0;
      for (; i + 4 <= m; i += 4) {
        k4x3(k, a, aOff + i * ars, ars, acs, b, bOff + j, ldb, c, cOff + i * ldc + j, ldc, acc);
      }
      for (; i < m; i++) {
        k1x3(k, a, aOff + i * ars, acs, b, bOff + j, ldb, c, cOff + i * ldc + j, acc);
      }
    }
    for (; j + L <= n; j += L) {
      for (int i = 0; i < m; i++) {
        k1x1(k, a, aOff + i * ars, acs, b, bOff + j, ldb, c, cOff + i * ldc + j, acc,
            F.maskAll(true));
      }
    }
    if (j < n) {
      VectorMask<Float> tail = F.indexInRange(0, n - j);
      for (int i = 0; i < m; i++) {
        k1x1(k, a, aOff + i * ars, acs, b, bOff + j, ldb, c, cOff + i * ldc + j, acc, tail);
      }
    }
  }

  private static FloatVector load(MemorySegment s, long index) {
    return FloatVector.fromMemorySegment(F, s, index * Float.BYTES, NATIVE);
  }

  private static void k4x3(int k, MemorySegment a, long a0, long ars, long acs,
      MemorySegment b, long b0, long ldb, MemorySegment c, long c0, long ldc, boolean acc) {
    FloatVector c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
    if (acc) {
      c00 = load(c, c0);
      c01 = load(c, c0 + L);
      c02 = load(c, c0 + 2 * L);
      c10 = load(c, c0 + ldc);
      c11 = load(c, c0 + ldc + L);
      c12 = load(c, c0 + ldc + 2 * L);
      c20 = load(c, c0 + 2 * ldc);
      c21 = load(c, c0 + 2 * ldc + L);
      c22 = load(c, c0 + 2 * ldc + 2 * L);
      c30 = load(c, c0 + 3 * ldc);
      c31 = load(c, c0 + 3 * ldc + L);
      c32 = load(c, c0 + 3 * ldc + 2 * L);
    } else {
      c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 =
          FloatVector.zero(F);
    }
    long ap = a0;
    long bp = b0;
    for (int p = 0; p < k; p++, ap += acs, bp += ldb) {
      FloatVector b0v = load(b, bp);
      FloatVector b1v = load(b, bp + L);
      FloatVector b2v = load(b, bp + 2 * L);
      FloatVector x = FloatVector.broadcast(F, a.getAtIndex(F32, ap));
      c00 = b0v.fma(x, c00);
      c01 = b1v.fma(x, c01);
      c02 = b2v.fma(x, c02);
      x = FloatVector.broadcast(F, a.getAtIndex(F32, ap + ars));
      c10 = b0v.fma(x, c10);
      c11 = b1v.fma(x, c11);
      c12 = b2v.fma(x, c12);
      x = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 2 * ars));
      c20 = b0v.fma(x, c20);
      c21 = b1v.fma(x, c21);
      c22 = b2v.fma(x, c22);
      x = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 3 * ars));
      c30 = b0v.fma(x, c30);
      c31 = b1v.fma(x, c31);
      c32 = b2v.fma(x, c32);
    }
    long o = c0 * Float.BYTES;
    long row = ldc * Float.BYTES;
    long v = (long) L * Float.BYTES;
    c00.intoMemorySegment(c, o, NATIVE);
    c01.intoMemorySegment(c, o + v, NATIVE);
    c02.intoMemorySegment(c, o + 2 * v, NATIVE);
    c10.intoMemorySegment(c, o + row, NATIVE);
    c11.intoMemorySegment(c, o + row + v, NATIVE);
    c12.intoMemorySegment(c, o + row + 2 * v, NATIVE);
    c20.intoMemorySegment(c, o + 2 * row, NATIVE);
    c21.intoMemorySegment(c, o + 2 * row + v, NATIVE);
    c22.intoMemorySegment(c, o + 2 * row + 2 * v, NATIVE);
    c30.intoMemorySegment(c, o + 3 * row, NATIVE);
    c31.intoMemorySegment(c, o + 3 * row + v, NATIVE);
    c32.intoMemorySegment(c, o + 3 * row + 2 * v, NATIVE);
  }

  private static void k1x3(int k, MemorySegment a, long a0, long acs, MemorySegment b, long b0,
      long ldb, MemorySegment c, long c0, boolean acc) {
    FloatVector c0v = acc ? load(c, c0) : FloatVector.zero(F);
    FloatVector c1v = acc ? load(c, c0 + L) : FloatVector.zero(F);
    FloatVector c2v = acc ? load(c, c0 + 2 * L) : FloatVector.zero(F);
    long ap = a0;
    long bp = b0;
    for (int p = 0; p < k; p++, ap += acs, bp += ldb) {
      FloatVector x = FloatVector.broadcast(F, a.getAtIndex(F32, ap));
      c0v = load(b, bp).fma(x, c0v);
      c1v = load(b, bp + L).fma(x, c1v);
      c2v = load(b, bp + 2 * L).fma(x, c2v);
    }
    c0v.intoMemorySegment(c, c0 * Float.BYTES, NATIVE);
    c1v.intoMemorySegment(c, (c0 + L) * Float.BYTES, NATIVE);
    c2v.intoMemorySegment(c, (c0 + 2 * L) * Float.BYTES, NATIVE);
  }

  private static void k1x1(int k, MemorySegment a, long a0, long acs, MemorySegment b, long b0,
      long ldb, MemorySegment c, long c0, boolean acc, VectorMask<Float> mask) {
    FloatVector cv = acc
        ? FloatVector.fromMemorySegment(F, c, c0 * Float.BYTES, NATIVE, mask)
        : FloatVector.zero(F);
    long ap = a0;
    long bp = b0;
    for (int p = 0; p < k; p++, ap += acs, bp += ldb) {
      FloatVector x = FloatVector.broadcast(F, a.getAtIndex(F32, ap));
      cv = FloatVector.fromMemorySegment(F, b, bp * Float.BYTES, NATIVE, mask).fma(x, cv);
    }
    cv.intoMemorySegment(c, c0 * Float.BYTES, NATIVE, mask);
  }

  @Override
  public void biasCap(MemorySegment z, long off, int n, MemorySegment bias, long biasOff,
      float cap) {
    int j = 0;
    if (cap > 0) {
      for (; j + L <= n; j += L) {
        FloatVector v = load(z, off + j);
        if (bias != null) {
          v = v.add(load(bias, biasOff + j));
        }
        PanamaTanh.tanh(v.div(cap)).mul(cap).intoMemorySegment(z, (off + j) * Float.BYTES,
            NATIVE);
      }
      for (; j < n; j++) {
        float v = z.getAtIndex(F32, off + j);
        if (bias != null) {
          v += bias.getAtIndex(F32, biasOff + j);
        }
        z.setAtIndex(F32, off + j, cap * PanamaTanh.tanh(v / cap));
      }
      return;
    }
    if (bias == null) {
      return;
    }
    for (; j + L <= n; j += L) {
      load(z, off + j).add(load(bias, biasOff + j)).intoMemorySegment(z,
          (off + j) * Float.BYTES, NATIVE);
    }
    for (; j < n; j++) {
      z.setAtIndex(F32, off + j, z.getAtIndex(F32, off + j) + bias.getAtIndex(F32, biasOff + j));
    }
  }

  @Override
  public float max(MemorySegment z, long off, int n) {
    FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    int j = 0;
    for (; j + L <= n; j += L) {
      mv = mv.lanewise(MAX, load(z, off + j));
    }
    float m = mv.reduceLanes(MAX);
    for (; j < n; j++) {
      m = Math.max(m, z.getAtIndex(F32, off + j));
    }
    return m;
  }

  @Override
  public double sumExp(MemorySegment z, long off, int n, float m) {
    FloatVector mv = FloatVector.broadcast(F, m);
    FloatVector acc = FloatVector.zero(F);
    int j = 0;
    // float partial sums of at most 64 terms ≤ 1 per lane, then double
    double s = 0;
    int block = 0;
    for (; j + L <= n; j += L) {
      acc = acc.add(PanamaExp.expNonPositive(load(z, off + j).sub(mv)));
      if (++block == 64) {
        s += lanes(acc);
        acc = FloatVector.zero(F);
        block = 0;
      }
    }
    s += lanes(acc);
    for (; j < n; j++) {
      s += PanamaExp.expNonPositive(z.getAtIndex(F32, off + j) - m);
    }
    return s;
  }

  @Override
  public double sum(MemorySegment z, long off, int n) {
    int j = 0;
    DoubleVector s = DoubleVector.zero(PanamaSpecies.D);
    for (; j + L <= n; j += L) {
      FloatVector v = load(z, off + j);
      s = s.add((DoubleVector) v.convertShape(jdk.incubator.vector.VectorOperators.F2D,
          PanamaSpecies.D, 0)).add((DoubleVector) v.convertShape(
              jdk.incubator.vector.VectorOperators.F2D, PanamaSpecies.D, 1));
    }
    double t = 0;
    for (int i = 0; i < s.length(); i++) {
      t += s.lane(i);
    }
    for (; j < n; j++) {
      t += z.getAtIndex(F32, off + j);
    }
    return t;
  }

  /**
   * The lanes added in lane order, in double: {@code reduceLanes(ADD)} leaves the order open, and
   * the interpreter and C2 do choose different ones, which would move the log-sum-exp's last bits
   * between JIT tiers.
   */
  private static double lanes(FloatVector v) {
    double t = 0;
    for (int i = 0; i < L; i++) {
      t += v.lane(i);
    }
    return t;
  }

  @Override
  public void softmaxGrad(MemorySegment z, long off, int n, float m, float a, float b, float cap) {
    FloatVector mv = FloatVector.broadcast(F, m);
    FloatVector av = FloatVector.broadcast(F, a);
    FloatVector bv = FloatVector.broadcast(F, b);
    int j = 0;
    if (cap > 0) {
      float inv = 1f / cap;
      for (; j + L <= n; j += L) {
        FloatVector v = load(z, off + j);
        FloatVector u = v.mul(inv);
        PanamaExp.expNonPositive(v.sub(mv)).mul(av).sub(bv).mul(PanamaSpecies.ONE.sub(u.mul(u)))
            .intoMemorySegment(z, (off + j) * Float.BYTES, NATIVE);
      }
      for (; j < n; j++) {
        float v = z.getAtIndex(F32, off + j);
        float u = v * inv;
        z.setAtIndex(F32, off + j,
            (PanamaExp.expNonPositive(v - m) * a - b) * (1f - u * u));
      }
      return;
    }
    for (; j + L <= n; j += L) {
      PanamaExp.expNonPositive(load(z, off + j).sub(mv)).mul(av).sub(bv)
          .intoMemorySegment(z, (off + j) * Float.BYTES, NATIVE);
    }
    for (; j < n; j++) {
      z.setAtIndex(F32, off + j, PanamaExp.expNonPositive(z.getAtIndex(F32, off + j) - m) * a - b);
    }
  }
}
