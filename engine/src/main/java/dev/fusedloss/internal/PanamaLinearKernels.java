package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.F;
import static dev.fusedloss.internal.PanamaSpecies.L;
import static dev.fusedloss.internal.PanamaSpecies.NATIVE;
import static jdk.incubator.vector.VectorOperators.MAX;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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

  /** K block: a packed panel of KC × 3 vectors stays in L1 (24 KB at 16 lanes). */
  static final int KC = 128;
  private static final int NR = 3 * L;

  /** Per-thread packed panel of B: KC rows of 3 vectors, contiguous. */
  private static final ThreadLocal<MemorySegment> PANEL = ThreadLocal.withInitial(() ->
      java.lang.foreign.Arena.ofAuto().allocate((long) KC * NR * Float.BYTES, 64));

  @Override
  public void gemm(int m, int n, int k, MemorySegment a, long aOff, long ars, long acs,
      MemorySegment b, long bOff, long ldb, MemorySegment c, long cOff, long ldc, boolean acc) {
    if (k == 0) {
      if (!acc) {
        for (int i = 0; i < m; i++) {
          Args.zero(c, cOff + i * ldc, n);
        }
      }
      return;
    }
    MemorySegment panel = PANEL.get();
    // K blocks: each element's FMA chain still runs in p order, its running value passing
    // through C (exactly) between blocks, so the bits do not depend on the blocking
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = Math.min(KC, k - p0);
      boolean accBlock = acc || p0 > 0;
      long aBlock = aOff + p0 * acs;
      long bBlock = bOff + p0 * ldb;
      int j = 0;
      for (; j + NR <= n; j += NR) {
        pack(b, bBlock + j, ldb, kc, panel);
        int i = 0;
        if (L == 16) {
          for (; i + 8 <= m; i += 8) {
            k8x3(kc, a, aBlock + i * ars, ars, acs, panel, 0, NR, c, cOff + i * ldc + j, ldc,
                accBlock);
          }
        }
        for (; i + 4 <= m; i += 4) {
          k4x3(kc, a, aBlock + i * ars, ars, acs, panel, 0, NR, c, cOff + i * ldc + j, ldc,
              accBlock);
        }
        for (; i < m; i++) {
          k1x3(kc, a, aBlock + i * ars, acs, panel, 0, NR, c, cOff + i * ldc + j, accBlock);
        }
      }
      if (j < n) {
        edgePanel(m, n - j, kc, a, aBlock, ars, acs, b, bBlock + j, ldb, c, cOff + j, ldc,
            accBlock, panel);
      }
    }
  }

  /** Per-thread 4-row tile for the last, partial panel of columns. */
  private static final ThreadLocal<MemorySegment> EDGE = ThreadLocal.withInitial(() ->
      java.lang.foreign.Arena.ofAuto().allocate(4L * NR * Float.BYTES, 64));

  /**
   * The last {@code cols} (&lt; 3 vectors) columns: B packed zero-padded, C staged through a
   * 4 × 3-vector tile, so the full-width kernel runs there too (the padding lanes compute
   * zeros that are never copied back).
   */
  private static void edgePanel(int m, int cols, int kc, MemorySegment a, long aBlock, long ars,
      long acs, MemorySegment b, long b0, long ldb, MemorySegment c, long c0, long ldc,
      boolean acc, MemorySegment panel) {
    VectorMask<Float> m0 = F.indexInRange(0, cols);
    VectorMask<Float> m1 = F.indexInRange(L, cols);
    VectorMask<Float> m2 = F.indexInRange(2 * L, cols);
    long src = b0;
    for (int p = 0; p < kc; p++, src += ldb) {
      long dst = (long) p * NR * Float.BYTES;
      FloatVector.fromMemorySegment(F, b, src * Float.BYTES, NATIVE, m0)
          .intoMemorySegment(panel, dst, NATIVE);
      FloatVector.fromMemorySegment(F, b, (src + L) * Float.BYTES, NATIVE, m1)
          .intoMemorySegment(panel, dst + (long) L * Float.BYTES, NATIVE);
      FloatVector.fromMemorySegment(F, b, (src + 2 * L) * Float.BYTES, NATIVE, m2)
          .intoMemorySegment(panel, dst + 2L * L * Float.BYTES, NATIVE);
    }
    MemorySegment tile = EDGE.get();
    for (int i = 0; i < m; i += 4) {
      int rows = Math.min(4, m - i);
      for (int r = 0; r < 4; r++) {
        long row = (long) r * NR;
        if (r < rows && acc) {
          MemorySegment.copy(c, (c0 + (i + r) * ldc) * Float.BYTES, tile, row * Float.BYTES,
              (long) cols * Float.BYTES);
        } else {
          Args.zero(tile, row, cols);
        }
      }
      if (rows == 4) {
        k4x3(kc, a, aBlock + i * ars, ars, acs, panel, 0, NR, tile, 0, NR, true);
      } else {
        for (int r = 0; r < rows; r++) {
          k1x3(kc, a, aBlock + (i + r) * ars, acs, panel, 0, NR, tile, (long) r * NR, true);
        }
      }
      for (int r = 0; r < rows; r++) {
        MemorySegment.copy(tile, (long) r * NR * Float.BYTES, c, (c0 + (i + r) * ldc)
            * Float.BYTES, (long) cols * Float.BYTES);
      }
    }
  }

  /** Copies kc rows of 3 vectors of B (row stride ldb) into the contiguous panel. */
  private static void pack(MemorySegment b, long b0, long ldb, int kc, MemorySegment panel) {
    long src = b0;
    long dst = 0;
    for (int p = 0; p < kc; p++, src += ldb, dst += NR) {
      load(b, src).intoMemorySegment(panel, dst * Float.BYTES, NATIVE);
      load(b, src + L).intoMemorySegment(panel, (dst + L) * Float.BYTES, NATIVE);
      load(b, src + 2 * L).intoMemorySegment(panel, (dst + 2 * L) * Float.BYTES, NATIVE);
    }
  }

  private static FloatVector load(MemorySegment s, long index) {
    return FloatVector.fromMemorySegment(F, s, index * Float.BYTES, NATIVE);
  }

  /**
   * 8 rows × 3 vectors: 24 accumulators, 3 loads of B and 8 broadcasts per 24 FMAs. Used at 16
   * lanes only, where the registers are AVX-512's 32 (at 8 lanes it would spill on AVX2).
   */
  private static void k8x3(int k, MemorySegment a, long a0, long ars, long acs,
      MemorySegment b, long b0, long ldb, MemorySegment c, long c0, long ldc, boolean acc) {
    FloatVector c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32, c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
    if (acc) {
      c00 = load(c, c0 + 0 * L);
      c01 = load(c, c0 + 1 * L);
      c02 = load(c, c0 + 2 * L);
      c10 = load(c, c0 + 1 * ldc + 0 * L);
      c11 = load(c, c0 + 1 * ldc + 1 * L);
      c12 = load(c, c0 + 1 * ldc + 2 * L);
      c20 = load(c, c0 + 2 * ldc + 0 * L);
      c21 = load(c, c0 + 2 * ldc + 1 * L);
      c22 = load(c, c0 + 2 * ldc + 2 * L);
      c30 = load(c, c0 + 3 * ldc + 0 * L);
      c31 = load(c, c0 + 3 * ldc + 1 * L);
      c32 = load(c, c0 + 3 * ldc + 2 * L);
      c40 = load(c, c0 + 4 * ldc + 0 * L);
      c41 = load(c, c0 + 4 * ldc + 1 * L);
      c42 = load(c, c0 + 4 * ldc + 2 * L);
      c50 = load(c, c0 + 5 * ldc + 0 * L);
      c51 = load(c, c0 + 5 * ldc + 1 * L);
      c52 = load(c, c0 + 5 * ldc + 2 * L);
      c60 = load(c, c0 + 6 * ldc + 0 * L);
      c61 = load(c, c0 + 6 * ldc + 1 * L);
      c62 = load(c, c0 + 6 * ldc + 2 * L);
      c70 = load(c, c0 + 7 * ldc + 0 * L);
      c71 = load(c, c0 + 7 * ldc + 1 * L);
      c72 = load(c, c0 + 7 * ldc + 2 * L);
    } else {
      c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = c40 = c41 = c42 = c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 =
          FloatVector.zero(F);
    }
    long ap = a0;
    long bp = b0;
    for (int p = 0; p < k; p++, ap += acs, bp += ldb) {
      FloatVector b0v = load(b, bp);
      FloatVector b1v = load(b, bp + L);
      FloatVector b2v = load(b, bp + 2 * L);
      FloatVector x0 = FloatVector.broadcast(F, a.getAtIndex(F32, ap));
      c00 = b0v.fma(x0, c00);
      c01 = b1v.fma(x0, c01);
      c02 = b2v.fma(x0, c02);
      FloatVector x1 = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 1 * ars));
      c10 = b0v.fma(x1, c10);
      c11 = b1v.fma(x1, c11);
      c12 = b2v.fma(x1, c12);
      FloatVector x2 = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 2 * ars));
      c20 = b0v.fma(x2, c20);
      c21 = b1v.fma(x2, c21);
      c22 = b2v.fma(x2, c22);
      FloatVector x3 = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 3 * ars));
      c30 = b0v.fma(x3, c30);
      c31 = b1v.fma(x3, c31);
      c32 = b2v.fma(x3, c32);
      FloatVector x4 = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 4 * ars));
      c40 = b0v.fma(x4, c40);
      c41 = b1v.fma(x4, c41);
      c42 = b2v.fma(x4, c42);
      FloatVector x5 = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 5 * ars));
      c50 = b0v.fma(x5, c50);
      c51 = b1v.fma(x5, c51);
      c52 = b2v.fma(x5, c52);
      FloatVector x6 = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 6 * ars));
      c60 = b0v.fma(x6, c60);
      c61 = b1v.fma(x6, c61);
      c62 = b2v.fma(x6, c62);
      FloatVector x7 = FloatVector.broadcast(F, a.getAtIndex(F32, ap + 7 * ars));
      c70 = b0v.fma(x7, c70);
      c71 = b1v.fma(x7, c71);
      c72 = b2v.fma(x7, c72);
    }
    c00.intoMemorySegment(c, (c0 + 0 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c01.intoMemorySegment(c, (c0 + 0 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c02.intoMemorySegment(c, (c0 + 0 * ldc + 2 * L) * Float.BYTES, NATIVE);
    c10.intoMemorySegment(c, (c0 + 1 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c11.intoMemorySegment(c, (c0 + 1 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c12.intoMemorySegment(c, (c0 + 1 * ldc + 2 * L) * Float.BYTES, NATIVE);
    c20.intoMemorySegment(c, (c0 + 2 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c21.intoMemorySegment(c, (c0 + 2 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c22.intoMemorySegment(c, (c0 + 2 * ldc + 2 * L) * Float.BYTES, NATIVE);
    c30.intoMemorySegment(c, (c0 + 3 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c31.intoMemorySegment(c, (c0 + 3 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c32.intoMemorySegment(c, (c0 + 3 * ldc + 2 * L) * Float.BYTES, NATIVE);
    c40.intoMemorySegment(c, (c0 + 4 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c41.intoMemorySegment(c, (c0 + 4 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c42.intoMemorySegment(c, (c0 + 4 * ldc + 2 * L) * Float.BYTES, NATIVE);
    c50.intoMemorySegment(c, (c0 + 5 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c51.intoMemorySegment(c, (c0 + 5 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c52.intoMemorySegment(c, (c0 + 5 * ldc + 2 * L) * Float.BYTES, NATIVE);
    c60.intoMemorySegment(c, (c0 + 6 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c61.intoMemorySegment(c, (c0 + 6 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c62.intoMemorySegment(c, (c0 + 6 * ldc + 2 * L) * Float.BYTES, NATIVE);
    c70.intoMemorySegment(c, (c0 + 7 * ldc + 0 * L) * Float.BYTES, NATIVE);
    c71.intoMemorySegment(c, (c0 + 7 * ldc + 1 * L) * Float.BYTES, NATIVE);
    c72.intoMemorySegment(c, (c0 + 7 * ldc + 2 * L) * Float.BYTES, NATIVE);
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

  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;

  private static FloatVector load(MemorySegment s, long index, VectorMask<Float> mask) {
    return FloatVector.fromMemorySegment(F, s, index * Float.BYTES, NATIVE, mask);
  }

  @Override
  public void tileBiasCap(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment bias,
      long biasOff, float cap) {
    if (bias == null && cap <= 0) {
      return;
    }
    for (int c = 0; c < n; c += L) {
      VectorMask<Float> mask = F.indexInRange(c, n);
      for (int j = 0; j < vt; j++) {
        long o = zOff + j * ld + c;
        FloatVector v = load(z, o, mask);
        if (bias != null) {
          v = v.add(bias.getAtIndex(F32, biasOff + j));
        }
        if (cap > 0) {
          v = PanamaTanh.tanh(v.div(cap)).mul(cap);
        }
        v.intoMemorySegment(z, o * Float.BYTES, NATIVE, mask);
      }
    }
  }

  /** Exponentials added in float for at most this many tile rows, then per lane in double. */
  private static final int FLUSH = 64;

  @Override
  public void tileStats(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment m,
      MemorySegment se, MemorySegment zs, long at) {
    for (int c = 0; c < n; c += L) {
      VectorMask<Float> mask = F.indexInRange(c, n);
      int lanes = Math.min(L, n - c);
      FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
      for (int j = 0; j < vt; j++) {
        mx = mx.lanewise(MAX, load(z, zOff + j * ld + c, mask));
      }
      FloatVector old = load(m, at + c, mask);
      FloatVector mNew = old.lanewise(MAX, mx);
      mNew.intoMemorySegment(m, (at + c) * Float.BYTES, NATIVE, mask);
      for (int l = 0; l < lanes; l++) {
        long idx = at + c + l;
        se.setAtIndex(F64, idx, ScalarLinearKernels.rescale(se.getAtIndex(F64, idx),
            old.lane(l), mNew.lane(l)));
      }
      FloatVector acc = FloatVector.zero(F);
      for (int j = 0; j < vt; j++) {
        acc = acc.add(PanamaExp.expNonPositive(load(z, zOff + j * ld + c, mask).sub(mNew)));
        if ((j + 1) % FLUSH == 0 || j == vt - 1) {
          for (int l = 0; l < lanes; l++) {
            float ml = mNew.lane(l);
            if (ml != Float.NEGATIVE_INFINITY) { // all −∞: no mass (−∞ − −∞ would be NaN)
              long idx = at + c + l;
              se.setAtIndex(F64, idx, se.getAtIndex(F64, idx) + acc.lane(l));
            }
          }
          acc = FloatVector.zero(F);
        }
      }
      if (zs != null) {
        FloatVector t = FloatVector.zero(F);
        for (int j = 0; j < vt; j++) {
          t = t.add(load(z, zOff + j * ld + c, mask));
          if ((j + 1) % 16 == 0 || j == vt - 1) {
            for (int l = 0; l < lanes; l++) {
              long idx = at + c + l;
              zs.setAtIndex(F64, idx, zs.getAtIndex(F64, idx) + t.lane(l));
            }
            t = FloatVector.zero(F);
          }
        }
      }
    }
  }

  @Override
  public void tileGrad(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment m,
      MemorySegment a, MemorySegment b, long at, float cap) {
    for (int c = 0; c < n; c += L) {
      VectorMask<Float> mask = F.indexInRange(c, n);
      FloatVector mv = load(m, at + c, mask);
      FloatVector av = load(a, at + c, mask);
      FloatVector bv = load(b, at + c, mask);
      for (int j = 0; j < vt; j++) {
        long o = zOff + j * ld + c;
        FloatVector v = load(z, o, mask);
        FloatVector g = PanamaExp.expNonPositive(v.sub(mv)).mul(av).sub(bv);
        if (cap > 0) {
          FloatVector u = v.div(cap);
          g = g.mul(PanamaSpecies.ONE.sub(u.mul(u)));
        }
        g.intoMemorySegment(z, o * Float.BYTES, NATIVE, mask);
      }
    }
  }

  @Override
  public double sum(MemorySegment z, long off, int n) {
    int j = 0;
    FloatVector acc = FloatVector.zero(F);
    double t = 0;
    int block = 0;
    for (; j + L <= n; j += L) {
      acc = acc.add(load(z, off + j));
      if (++block == 16) {
        t += lanes(acc);
        acc = FloatVector.zero(F);
        block = 0;
      }
    }
    t += lanes(acc);
    for (; j < n; j++) {
      t += z.getAtIndex(F32, off + j);
    }
    return t;
  }

  /**
   * The lanes added in lane order, in double: {@code reduceLanes(ADD)} leaves the order open, and
   * the interpreter and C2 do choose different ones, which would move last bits between JIT
   * tiers.
   */
  private static double lanes(FloatVector v) {
    double t = 0;
    for (int i = 0; i < L; i++) {
      t += v.lane(i);
    }
    return t;
  }
}
