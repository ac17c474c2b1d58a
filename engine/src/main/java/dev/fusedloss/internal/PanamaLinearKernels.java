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
 * The Vector API product: per K block of 128, A is packed into quads of rows and B into panels
 * of 3 vectors (per-thread arrays, so the inner loop indexes without segment checks), and a
 * register-blocked micro-kernel of 4 rows × 3 vectors runs over them (12 accumulators, 3 loads
 * of B and 4 broadcasts of A per step: 16 registers, so it fits AVX2 as well as AVX-512; a wider
 * 8 × 3 kernel was dropped because C1 cannot compile it). Partial tiles go through a padded
 * staging tile with the same kernel, so every element is the same chain of FMAs in p order and
 * a split of the rows or the blocking never changes a bit. The tile sweeps of the fused linear
 * loss follow: one batch row per lane, exp written out, lanes read through arrays.
 */
final class PanamaLinearKernels implements LinearKernels {
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

  /** K block: a packed panel of KC × 3 vectors of B stays in L1 (24 KB at 16 lanes). */
  static final int KC = 128;
  private static final int NR = 3 * L;

  /** Per-thread packing buffers: arrays, so the inner loop indexes them without range checks. */
  private static final class Packs {
    float[] a = new float[4 * KC * 64];
    final float[] b = new float[KC * NR];
    /** Native like C: a heap segment here would make the kernel's C accesses polymorphic. */
    final MemorySegment tile = java.lang.foreign.Arena.ofAuto().allocate(4L * NR * Float.BYTES,
        64);

    float[] a(int m, int kc) {
      int need = ((m + 3) / 4) * 4 * kc;
      if (a.length < need) {
        a = new float[need];
      }
      return a;
    }
  }

  private static final ThreadLocal<Packs> PACKS = ThreadLocal.withInitial(Packs::new);

  /**
   * Per-thread arrays that vectors are stored into to read single lanes: {@code lane(i)} with a
   * variable i is not an intrinsic, and its fallback allocates an array per call.
   */
  private static final ThreadLocal<float[][]> LANES = ThreadLocal.withInitial(() ->
      new float[4][L]);

  @Override
  public void gemm(int m, int n, int k, MemorySegment a, long aOff, long ars, long acs,
      MemorySegment b, long bOff, long ldb, MemorySegment c, long cOff, long ldc, boolean acc) {
    if (k == 0 || m == 0 || n == 0) {
      if (!acc) {
        for (int i = 0; i < m; i++) {
          Args.zero(c, cOff + i * ldc, n);
        }
      }
      return;
    }
    Packs packs = PACKS.get();
    float[] bp = packs.b;
    // K blocks: each element's FMA chain still runs in p order, its running value passing
    // through C (exactly) between blocks, so the bits depend neither on the blocking nor on
    // how the rows are split
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = Math.min(KC, k - p0);
      boolean accBlock = acc || p0 > 0;
      float[] ap = packs.a(m, kc);
      packA(a, aOff + p0 * acs, ars, acs, m, kc, ap);
      long bBlock = bOff + p0 * ldb;
      for (int j = 0; j < n; j += NR) {
        int cols = Math.min(NR, n - j);
        packB(b, bBlock + j, ldb, kc, cols, bp);
        for (int i = 0; i < m; i += 4) {
          int rows = Math.min(4, m - i);
          if (rows == 4 && cols == NR) {
            k4x3(kc, ap, i * kc, bp, c, cOff + i * ldc + j, ldc, accBlock);
          } else {
            edge(kc, ap, i * kc, bp, c, cOff + i * ldc + j, ldc, accBlock, rows, cols,
                packs.tile);
          }
        }
      }
    }
  }

  /**
   * A's rows [0, m) × columns [0, kc) as quads of rows, p-major within a quad: {@code ap[q·4·kc
   * + p·4 + r] = A(4q + r, p)}; rows past m are zero.
   */
  private static void packA(MemorySegment a, long a0, long ars, long acs, int m, int kc,
      float[] ap) {
    for (int q = 0; q < m; q += 4) {
      int base = q * kc;
      for (int r = 0; r < 4; r++) {
        int row = q + r;
        if (row >= m) {
          for (int p = 0; p < kc; p++) {
            ap[base + p * 4 + r] = 0f;
          }
          continue;
        }
        long src = a0 + row * ars;
        for (int p = 0; p < kc; p++) {
          ap[base + p * 4 + r] = a.getAtIndex(F32, src + p * acs);
        }
      }
    }
  }

  /** B's rows [0, kc) × columns [0, cols) (cols ≤ 3 vectors), zero-padded to 3 vectors. */
  private static void packB(MemorySegment b, long b0, long ldb, int kc, int cols, float[] bp) {
    long src = b0;
    if (cols == NR) {
      for (int p = 0; p < kc; p++, src += ldb) {
        int dst = p * NR;
        FloatVector.fromMemorySegment(F, b, src * Float.BYTES, NATIVE).intoArray(bp, dst);
        FloatVector.fromMemorySegment(F, b, (src + L) * Float.BYTES, NATIVE)
            .intoArray(bp, dst + L);
        FloatVector.fromMemorySegment(F, b, (src + 2 * L) * Float.BYTES, NATIVE)
            .intoArray(bp, dst + 2 * L);
      }
      return;
    }
    VectorMask<Float> m0 = F.indexInRange(0, cols);
    VectorMask<Float> m1 = F.indexInRange(L, cols);
    VectorMask<Float> m2 = F.indexInRange(2 * L, cols);
    for (int p = 0; p < kc; p++, src += ldb) {
      int dst = p * NR;
      FloatVector.fromMemorySegment(F, b, src * Float.BYTES, NATIVE, m0).intoArray(bp, dst);
      FloatVector.fromMemorySegment(F, b, (src + L) * Float.BYTES, NATIVE, m1)
          .intoArray(bp, dst + L);
      FloatVector.fromMemorySegment(F, b, (src + 2 * L) * Float.BYTES, NATIVE, m2)
          .intoArray(bp, dst + 2 * L);
    }
  }

  /**
   * A partial tile (fewer than 4 rows or 3 vectors): C staged through a 4 × 3-vector array, the
   * full kernel run there (padding rows and lanes compute values that are never copied back).
   */
  private static void edge(int kc, float[] ap, int a0, float[] bp, MemorySegment c, long c0,
      long ldc, boolean acc, int rows, int cols, MemorySegment tile) {
    tile.fill((byte) 0);
    if (acc) {
      for (int r = 0; r < rows; r++) {
        MemorySegment.copy(c, (c0 + r * ldc) * Float.BYTES, tile, (long) r * NR * Float.BYTES,
            (long) cols * Float.BYTES);
      }
    }
    k4x3(kc, ap, a0, bp, tile, 0, NR, true);
    for (int r = 0; r < rows; r++) {
      MemorySegment.copy(tile, (long) r * NR * Float.BYTES, c, (c0 + r * ldc) * Float.BYTES,
          (long) cols * Float.BYTES);
    }
  }

  /** 4 rows × 3 vectors of C from packed A (quad at a0) and packed B: 12 accumulators. */
  private static void k4x3(int kc, float[] ap, int a0, float[] bp, MemorySegment c, long c0,
      long ldc, boolean acc) {
    FloatVector c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
    long o = c0 * Float.BYTES;
    long row = ldc * Float.BYTES;
    long v = (long) L * Float.BYTES;
    if (acc) {
      c00 = FloatVector.fromMemorySegment(F, c, o, NATIVE);
      c01 = FloatVector.fromMemorySegment(F, c, o + v, NATIVE);
      c02 = FloatVector.fromMemorySegment(F, c, o + 2 * v, NATIVE);
      c10 = FloatVector.fromMemorySegment(F, c, o + row, NATIVE);
      c11 = FloatVector.fromMemorySegment(F, c, o + row + v, NATIVE);
      c12 = FloatVector.fromMemorySegment(F, c, o + row + 2 * v, NATIVE);
      c20 = FloatVector.fromMemorySegment(F, c, o + 2 * row, NATIVE);
      c21 = FloatVector.fromMemorySegment(F, c, o + 2 * row + v, NATIVE);
      c22 = FloatVector.fromMemorySegment(F, c, o + 2 * row + 2 * v, NATIVE);
      c30 = FloatVector.fromMemorySegment(F, c, o + 3 * row, NATIVE);
      c31 = FloatVector.fromMemorySegment(F, c, o + 3 * row + v, NATIVE);
      c32 = FloatVector.fromMemorySegment(F, c, o + 3 * row + 2 * v, NATIVE);
    } else {
      c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 =
          FloatVector.zero(F);
    }
    for (int p = 0, ai = a0, bi = 0; p < kc; p++, ai += 4, bi += NR) {
      FloatVector b0v = FloatVector.fromArray(F, bp, bi);
      FloatVector b1v = FloatVector.fromArray(F, bp, bi + L);
      FloatVector b2v = FloatVector.fromArray(F, bp, bi + 2 * L);
      FloatVector x = FloatVector.broadcast(F, ap[ai]);
      c00 = b0v.fma(x, c00);
      c01 = b1v.fma(x, c01);
      c02 = b2v.fma(x, c02);
      x = FloatVector.broadcast(F, ap[ai + 1]);
      c10 = b0v.fma(x, c10);
      c11 = b1v.fma(x, c11);
      c12 = b2v.fma(x, c12);
      x = FloatVector.broadcast(F, ap[ai + 2]);
      c20 = b0v.fma(x, c20);
      c21 = b1v.fma(x, c21);
      c22 = b2v.fma(x, c22);
      x = FloatVector.broadcast(F, ap[ai + 3]);
      c30 = b0v.fma(x, c30);
      c31 = b1v.fma(x, c31);
      c32 = b2v.fma(x, c32);
    }
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

  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;

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
        FloatVector v = FloatVector.fromMemorySegment(F, z, (o) * Float.BYTES, NATIVE, mask);
        if (bias != null) {
          v = v.add(bias.getAtIndex(F32, biasOff + j));
        }
        if (cap > 0) {
          // cap·tanh(v/cap), PanamaTanh.tanh written out (same operations, same bits): a
          // helper taking a vector may be compiled apart, and its vectors are then boxed
          FloatVector y = v.div(cap);
          FloatVector ay = y.lanewise(jdk.incubator.vector.VectorOperators.ABS);
          FloatVector sq = y.mul(y);
          FloatVector poly = sq.mul(PanamaTanh.T0).add(PanamaTanh.T1).fma(sq,
              FloatVector.broadcast(F, PanamaTanh.T2)).fma(sq,
              FloatVector.broadcast(F, PanamaTanh.T3)).fma(sq,
              FloatVector.broadcast(F, PanamaTanh.T4));
          FloatVector small = poly.mul(sq).fma(y, y).blend(y,
              ay.compare(jdk.incubator.vector.VectorOperators.EQ, 0f));
          FloatVector arg = ay.mul(-2f);
          FloatVector nb = arg.fma(PanamaSpecies.LOG2E, PanamaSpecies.MAGIC);
          FloatVector nn = nb.sub(PanamaSpecies.MAGIC);
          FloatVector rr = nn.fma(PanamaSpecies.LN2_LO, nn.fma(PanamaSpecies.LN2_HI, arg));
          FloatVector pp = rr.fma(PanamaSpecies.P0, PanamaSpecies.P1).fma(rr, PanamaSpecies.P2)
              .fma(rr, PanamaSpecies.P3).fma(rr, PanamaSpecies.P4).fma(rr, PanamaSpecies.P5)
              .fma(rr, PanamaSpecies.ONE).fma(rr, PanamaSpecies.ONE);
          FloatVector e = pp.mul(nb.reinterpretAsInts().lanewise(
              jdk.incubator.vector.VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(0x1p-24f)
              .blend(0f, arg.compare(jdk.incubator.vector.VectorOperators.LT, PanamaSpecies.CUTOFF));
          FloatVector big = PanamaSpecies.ONE.sub(e).div(PanamaSpecies.ONE.add(e));
          FloatVector t = big.blend(big.neg(), y.compare(jdk.incubator.vector.VectorOperators.LT, 0f))
              .blend(small, ay.compare(jdk.incubator.vector.VectorOperators.LT, PanamaTanh.LIMIT));
          v = t.mul(cap);
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
    // one sweep per method: small methods compile at every JIT tier (C1 runs out of registers
    // on a method holding all three, and the uncompiled Vector API code allocates)
    float[][] lanesOf = LANES.get();
    for (int c = 0; c < n; c += L) {
      int lanes = Math.min(L, n - c);
      tileMax(z, zOff + c, ld, vt, lanes, m, se, at + c, lanesOf[0], lanesOf[1]);
      tileSumExp(z, zOff + c, ld, vt, lanes, m, se, at + c, lanesOf[2]);
      if (zs != null) {
        tileSum(z, zOff + c, ld, vt, lanes, zs, at + c, lanesOf[2]);
      }
    }
  }

  /** Sweep 1 over L columns: the new running max, and the sums of exps rescaled to it. */
  private static void tileMax(MemorySegment z, long zOff, long ld, int vt, int lanes,
      MemorySegment m, MemorySegment se, long at, float[] oldL, float[] newL) {
    VectorMask<Float> mask = F.indexInRange(0, lanes);
    FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    for (int j = 0; j < vt; j++) {
      mx = mx.lanewise(MAX, FloatVector.fromMemorySegment(F, z, (zOff + j * ld) * Float.BYTES,
          NATIVE, mask));
    }
    FloatVector old = FloatVector.fromMemorySegment(F, m, at * Float.BYTES, NATIVE, mask);
    FloatVector mNew = old.lanewise(MAX, mx);
    mNew.intoMemorySegment(m, at * Float.BYTES, NATIVE, mask);
    old.intoArray(oldL, 0);
    mNew.intoArray(newL, 0);
    for (int l = 0; l < lanes; l++) {
      se.setAtIndex(F64, at + l, ScalarLinearKernels.rescale(se.getAtIndex(F64, at + l),
          oldL[l], newL[l]));
    }
  }

  /** Sweep 2 over L columns: Σ exp(z − m), in float per 64 rows, then per lane in double. */
  private static void tileSumExp(MemorySegment z, long zOff, long ld, int vt, int lanes,
      MemorySegment m, MemorySegment se, long at, float[] accL) {
    VectorMask<Float> mask = F.indexInRange(0, lanes);
    FloatVector mNew = FloatVector.fromMemorySegment(F, m, at * Float.BYTES, NATIVE, mask);
    FloatVector acc = FloatVector.zero(F);
    for (int j = 0; j < vt; j++) {
      FloatVector arg = FloatVector.fromMemorySegment(F, z, (zOff + j * ld) * Float.BYTES,
          NATIVE, mask).sub(mNew);
      // exp(arg) for arg ≤ 0, PanamaExp.expNonPositive written out: a helper taking a
      // vector may be compiled apart and not inlined, and its vectors are then boxed
      FloatVector nb = arg.fma(PanamaSpecies.LOG2E, PanamaSpecies.MAGIC);
      FloatVector nn = nb.sub(PanamaSpecies.MAGIC);
      FloatVector rr = nn.fma(PanamaSpecies.LN2_LO, nn.fma(PanamaSpecies.LN2_HI, arg));
      FloatVector pp = rr.fma(PanamaSpecies.P0, PanamaSpecies.P1).fma(rr, PanamaSpecies.P2)
          .fma(rr, PanamaSpecies.P3).fma(rr, PanamaSpecies.P4).fma(rr, PanamaSpecies.P5)
          .fma(rr, PanamaSpecies.ONE).fma(rr, PanamaSpecies.ONE);
      FloatVector e = pp.mul(nb.reinterpretAsInts().lanewise(
          jdk.incubator.vector.VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(0x1p-24f)
          .blend(0f, arg.compare(jdk.incubator.vector.VectorOperators.LT, PanamaSpecies.CUTOFF));
      acc = acc.add(e);
      if ((j + 1) % FLUSH == 0 || j == vt - 1) {
        acc.intoArray(accL, 0);
        for (int l = 0; l < lanes; l++) {
          // all −∞: no mass (−∞ − −∞ would be NaN)
          if (m.getAtIndex(F32, at + l) != Float.NEGATIVE_INFINITY) {
            se.setAtIndex(F64, at + l, se.getAtIndex(F64, at + l) + accL[l]);
          }
        }
        acc = FloatVector.zero(F);
      }
    }
  }

  /** Sweep 3 over L columns: Σ z, in float per 16 rows, then per lane in double. */
  private static void tileSum(MemorySegment z, long zOff, long ld, int vt, int lanes,
      MemorySegment zs, long at, float[] accL) {
    VectorMask<Float> mask = F.indexInRange(0, lanes);
    FloatVector t = FloatVector.zero(F);
    for (int j = 0; j < vt; j++) {
      t = t.add(FloatVector.fromMemorySegment(F, z, (zOff + j * ld) * Float.BYTES, NATIVE,
          mask));
      if ((j + 1) % 16 == 0 || j == vt - 1) {
        t.intoArray(accL, 0);
        for (int l = 0; l < lanes; l++) {
          zs.setAtIndex(F64, at + l, zs.getAtIndex(F64, at + l) + accL[l]);
        }
        t = FloatVector.zero(F);
      }
    }
  }

  @Override
  public void tileGrad(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment m,
      MemorySegment a, MemorySegment b, long at, float cap) {
    for (int c = 0; c < n; c += L) {
      VectorMask<Float> mask = F.indexInRange(c, n);
      FloatVector mv = FloatVector.fromMemorySegment(F, m, (at + c) * Float.BYTES, NATIVE, mask);
      FloatVector av = FloatVector.fromMemorySegment(F, a, (at + c) * Float.BYTES, NATIVE, mask);
      FloatVector bv = FloatVector.fromMemorySegment(F, b, (at + c) * Float.BYTES, NATIVE, mask);
      for (int j = 0; j < vt; j++) {
        long o = zOff + j * ld + c;
        FloatVector v = FloatVector.fromMemorySegment(F, z, (o) * Float.BYTES, NATIVE, mask);
        FloatVector arg = v.sub(mv);
        // exp(arg) for arg ≤ 0, PanamaExp.expNonPositive written out: a helper taking a
        // vector may be compiled apart and not inlined, and its vectors are then boxed
        FloatVector nb = arg.fma(PanamaSpecies.LOG2E, PanamaSpecies.MAGIC);
        FloatVector nn = nb.sub(PanamaSpecies.MAGIC);
        FloatVector rr = nn.fma(PanamaSpecies.LN2_LO, nn.fma(PanamaSpecies.LN2_HI, arg));
        FloatVector pp = rr.fma(PanamaSpecies.P0, PanamaSpecies.P1).fma(rr, PanamaSpecies.P2)
            .fma(rr, PanamaSpecies.P3).fma(rr, PanamaSpecies.P4).fma(rr, PanamaSpecies.P5)
            .fma(rr, PanamaSpecies.ONE).fma(rr, PanamaSpecies.ONE);
        FloatVector e = pp.mul(nb.reinterpretAsInts().lanewise(
            jdk.incubator.vector.VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(0x1p-24f)
            .blend(0f, arg.compare(jdk.incubator.vector.VectorOperators.LT, PanamaSpecies.CUTOFF));
        FloatVector g = e.mul(av).sub(bv);
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
    float[] accL = LANES.get()[3];
    int j = 0;
    FloatVector acc = FloatVector.zero(F);
    double t = 0;
    int block = 0;
    for (; j + L <= n; j += L) {
      acc = acc.add(FloatVector.fromMemorySegment(F, z, (off + j) * Float.BYTES, NATIVE));
      if (++block == 16 || j + 2 * L > n) {
        // lane by lane in lane order: reduceLanes(ADD) leaves the order open, and the
        // interpreter and C2 choose different ones (last bits would move between JIT tiers)
        acc.intoArray(accL, 0);
        for (int l = 0; l < L; l++) {
          t += accL[l];
        }
        acc = FloatVector.zero(F);
        block = 0;
      }
    }
    for (; j < n; j++) {
      t += z.getAtIndex(F32, off + j);
    }
    return t;
  }


}
