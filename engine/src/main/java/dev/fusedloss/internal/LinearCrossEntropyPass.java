package dev.fusedloss.internal;

import dev.fusedloss.FloatFormat;
import dev.fusedloss.Parallelism;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The fused linear + cross entropy over validated arguments. Rows are taken in super-blocks of
 * at most {@link #superRows} rows, whose hidden states are transposed once into {@code hᵀ [H,
 * S]}; for each super-block the vocabulary is swept twice in tiles of {@link #VT} entries, the
 * tile's logits held transposed, {@code zᵀ = W_tile·hᵀ [VT, S]}, so that the row statistics
 * run with one batch row per vector lane. Pass 1 folds each tile into every row's running max
 * and sum of exponentials (and target logit, logit sum). Pass 2 recomputes the tile, turns it
 * into {@code dzᵀ} in place and applies the two other products: {@code dH += dz·W_tile} (rows
 * split between threads) and {@code dW_tile (+)= dzᵀ·h} with {@code db} (vocabulary rows split
 * between threads). Nothing of size N·V exists: the workspace is {@link #workspaceBytes}.
 */
public final class LinearCrossEntropyPass {
  /** Vocabulary entries per tile: a multiple of 3 vectors at 4, 8 and 16 lanes. */
  public static final int VT = 240;
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
  /** Bytes of per-row state: max, a, b (float); sum of exps, logit sum, target logit, lse. */
  private static final int ROW_STATE = 3 * Float.BYTES + 4 * Double.BYTES;
  /**
   * Granule of the batch-row chunks of a threaded phase (3 vectors of 16 lanes), and of the
   * vocabulary-row chunks of the weight-gradient phase. Each thread takes one chunk of about
   * its share: the fewer the calls, the less each product repacks its operands, and no value
   * depends on where the chunks end.
   */
  private static final int ROW_CHUNK = 48;
  private static final int VOCAB_CHUNK = 24;

  /** Bytes the last call on any thread allocated (for the memory-bound test). */
  public static volatile long lastWorkspaceBytes;

  private LinearCrossEntropyPass() {}

  /** The options of one call. */
  public record Options(int ignoreIndex, float smoothing, float softcap, float zLoss,
      boolean int64) {}

  /** Rows per super-block for hidden size {@code h}: 64 to 1024, about 512K floats of hᵀ. */
  public static long superRows(long rows, long h) {
    long s = Math.max(64, Math.min(1024, (1L << 19) / Math.max(1, h)));
    return Math.min(rows, s);
  }

  /**
   * The workspace of a call, in bytes: the transposed hidden states of a super-block (S·H
   * floats), its transposed logits tile (240·S floats), per-row state (44 bytes per row), and,
   * for 16-bit inputs, the widened weight tile (240·H floats) and hidden rows (S·H floats).
   * S ≤ 1024 (about 2^19/H), so this never depends on V and stops growing with N at S rows. The
   * matrix kernel's per-thread panels (27 KB at 16 lanes) come on top, once per thread.
   */
  public static long workspaceBytes(long rows, long h, FloatFormat f) {
    long s = superRows(rows, h);
    long bytes = s * h * Float.BYTES + (long) VT * s * Float.BYTES + s * ROW_STATE;
    if (f != FloatFormat.FLOAT32) {
      bytes += (long) VT * h * Float.BYTES + s * h * Float.BYTES;
    }
    return bytes;
  }

  /** The inputs, outputs and options of one call. */
  public record Call(MemorySegment hidden, MemorySegment weight, FloatFormat format,
      MemorySegment bias, MemorySegment targets, long rows, long h, long v,
      MemorySegment lossOut, boolean logProbs, MemorySegment gradHidden,
      MemorySegment gradWeight, MemorySegment gradBias, float coef, boolean accumulate,
      Options opt) {}

  /**
   * Runs a call; returns Σ row losses (or, for log-probabilities, Σ −log p of the kept rows),
   * writing the row values and gradients asked for.
   */
  public static double run(Call c, Parallelism p, LinearKernels lk, FormatKernels fk) {
    boolean gradients = c.gradHidden() != null || c.gradWeight() != null
        || c.gradBias() != null;
    if (c.rows() == 0) {
      if (gradients && !c.accumulate()) {
        if (c.gradWeight() != null) {
          Args.zero(c.gradWeight(), 0, c.v() * c.h());
        }
        if (c.gradBias() != null) {
          Args.zero(c.gradBias(), 0, c.v());
        }
      }
      lastWorkspaceBytes = 0;
      return 0;
    }
    long s = superRows(c.rows(), c.h());
    int threads = p.threadsFor(c.rows() * c.v() * c.h() / 64,
        Math.max(Split.ceilDiv(s, ROW_CHUNK), VT / VOCAB_CHUNK));
    if (threads > 1 && !Split.shared(c.hidden(), c.weight(), c.bias(), c.targets(), c.lossOut(),
        c.gradHidden(), c.gradWeight(), c.gradBias())) {
      threads = 1; // a confined segment: only its owner thread may touch it
    }
    long bytes = workspaceBytes(c.rows(), c.h(), c.format());
    try (Arena arena = threads > 1 ? Arena.ofShared() : Arena.ofConfined()) {
      Work w = new Work(c, arena, lk, fk, threads, p);
      lastWorkspaceBytes = bytes;
      double sum = 0;
      for (long n0 = 0; n0 < c.rows(); n0 += w.s) {
        long n1 = Math.min(c.rows(), n0 + w.s);
        sum += w.superBlock(n0, n1, gradients);
      }
      return sum;
    }
  }

  /** The workspace and the sweeps of one call. */
  private static final class Work {
    final Call c;
    final LinearKernels lk;
    final FormatKernels fk;
    final int threads;
    final Parallelism p;
    final int s; // rows per super-block: the leading dimension of hᵀ and zᵀ
    final int h;
    final MemorySegment hT;
    final MemorySegment zT;
    final MemorySegment m;
    final MemorySegment a;
    final MemorySegment b;
    final MemorySegment se;
    final MemorySegment zs;
    final MemorySegment zt;
    final MemorySegment lse;
    final MemorySegment wTile; // widened weight tile (16-bit inputs only)
    final MemorySegment hBlock; // widened hidden rows (16-bit inputs only)
    MemorySegment hs; // the super-block's float32 hidden rows
    long hsOff;

    Work(Call c, Arena arena, LinearKernels lk, FormatKernels fk, int threads, Parallelism p) {
      this.c = c;
      this.lk = lk;
      this.fk = fk;
      this.threads = threads;
      this.p = p;
      this.s = (int) superRows(c.rows(), c.h());
      this.h = (int) c.h();
      hT = arena.allocate((long) s * h * Float.BYTES, 64);
      zT = arena.allocate((long) VT * s * Float.BYTES, 64);
      m = arena.allocate((long) s * Float.BYTES, 64);
      a = arena.allocate((long) s * Float.BYTES, 64);
      b = arena.allocate((long) s * Float.BYTES, 64);
      se = arena.allocate((long) s * Double.BYTES, 64);
      zs = arena.allocate((long) s * Double.BYTES, 64);
      zt = arena.allocate((long) s * Double.BYTES, 64);
      lse = arena.allocate((long) s * Double.BYTES, 64);
      boolean half = c.format() != FloatFormat.FLOAT32;
      wTile = half ? arena.allocate((long) VT * h * Float.BYTES, 64) : null;
      hBlock = half ? arena.allocate((long) s * h * Float.BYTES, 64) : null;
    }

    long rowChunk(int rows) {
      return share(rows, ROW_CHUNK);
    }

    /** A thread's share of {@code count}, rounded up to a multiple of {@code granule}. */
    long share(long count, int granule) {
      return Math.max(granule, Split.ceilDiv(Split.ceilDiv(count, threads), granule) * granule);
    }

    int target(long row) {
      return RowArgs.target(c.targets(), row, c.opt().int64());
    }

    double superBlock(long n0, long n1, boolean gradients) {
      int rows = (int) (n1 - n0);
      if (hBlock != null) {
        fk.decode(c.format(), c.hidden(), n0 * h, hBlock, 0, rows * h);
        hs = hBlock;
        hsOff = 0;
      } else {
        hs = c.hidden();
        hsOff = n0 * h;
      }
      transpose(rows);
      for (int r = 0; r < rows; r++) {
        m.setAtIndex(F32, r, Float.NEGATIVE_INFINITY);
        se.setAtIndex(F64, r, 0);
        zs.setAtIndex(F64, r, 0);
        zt.setAtIndex(F64, r, Double.NaN);
      }
      Options o = c.opt();
      boolean sums = o.smoothing() > 0 && !c.logProbs();
      for (long v0 = 0; v0 < c.v(); v0 += VT) {
        int vt = (int) Math.min(VT, c.v() - v0);
        long fv0 = v0;
        long wOff = weightTile(v0, vt);
        MemorySegment wSrc = wTile != null ? wTile : c.weight();
        run(rows, rowChunk(rows), (r0, r1) -> {
          logits(r0, r1, vt, fv0, wSrc, wOff);
          lk.tileStats(zT, r0, s, vt, (int) (r1 - r0), m, se, sums ? zs : null, r0);
          for (long r = r0; r < r1; r++) {
            int t = target(n0 + r);
            if (t >= fv0 && t < fv0 + vt) {
              zt.setAtIndex(F64, r, zT.getAtIndex(F32, (t - fv0) * s + r));
            }
          }
          return 0;
        });
      }
      double eps = o.smoothing();
      double sum = 0;
      for (int r = 0; r < rows; r++) {
        double l = m.getAtIndex(F32, r) + Math.log(se.getAtIndex(F64, r));
        lse.setAtIndex(F64, r, l);
        int t = target(n0 + r);
        float value;
        if (t == o.ignoreIndex()) {
          value = 0f;
        } else {
          double ztr = zt.getAtIndex(F64, r);
          if (c.logProbs()) {
            value = (float) (ztr - l);
            sum -= ztr - l;
          } else {
            double loss = l - (1 - eps) * ztr - eps / c.v() * zs.getAtIndex(F64, r)
                + o.zLoss() * l * l;
            value = (float) loss;
            sum += loss;
          }
        }
        if (c.lossOut() != null) {
          c.lossOut().setAtIndex(F32, n0 + r, value);
        }
      }
      if (gradients) {
        backward(n0, rows);
      }
      return sum;
    }

    /** hᵀ[k][r] = h[r][k] for the super-block's rows, in 64 × 64 blocks. */
    void transpose(int rows) {
      for (int r0 = 0; r0 < rows; r0 += 64) {
        int r1 = Math.min(rows, r0 + 64);
        for (int k0 = 0; k0 < h; k0 += 64) {
          int k1 = Math.min(h, k0 + 64);
          for (int r = r0; r < r1; r++) {
            long src = hsOff + (long) r * h;
            for (int k = k0; k < k1; k++) {
              hT.setAtIndex(F32, (long) k * s + r, hs.getAtIndex(F32, src + k));
            }
          }
        }
      }
    }

    /** The float32 weight rows [v0, v0 + vt): their offset in the caller's weight or wTile. */
    long weightTile(long v0, int vt) {
      if (wTile == null) {
        return v0 * h;
      }
      fk.decode(c.format(), c.weight(), v0 * h, wTile, 0, vt * h);
      return 0;
    }

    /** zᵀ columns [r0, r1) of the tile: W_tile·hᵀ, plus bias, capped. */
    void logits(long r0, long r1, int vt, long v0, MemorySegment wSrc, long wOff) {
      int n = (int) (r1 - r0);
      lk.gemm(vt, n, h, wSrc, wOff, h, 1, hT, r0, s, zT, r0, s, false);
      lk.tileBiasCap(zT, r0, s, vt, n, c.bias(), v0, c.opt().softcap());
    }

    void backward(long n0, int rows) {
      Options o = c.opt();
      double eps = o.smoothing();
      float bAll = (float) (c.coef() * eps / c.v());
      double targetTerm = c.coef() * ((1 - eps) + eps / c.v());
      for (int r = 0; r < rows; r++) {
        boolean ignored = target(n0 + r) == o.ignoreIndex();
        double l = lse.getAtIndex(F64, r);
        double ad = c.coef() * (1 + 2 * (double) o.zLoss() * l) / se.getAtIndex(F64, r);
        a.setAtIndex(F32, r, ignored ? 0f : (float) ad);
        b.setAtIndex(F32, r, ignored ? 0f : bAll);
      }
      for (long v0 = 0; v0 < c.v(); v0 += VT) {
        int vt = (int) Math.min(VT, c.v() - v0);
        long fv0 = v0;
        long wOff = weightTile(v0, vt);
        MemorySegment wSrc = wTile != null ? wTile : c.weight();
        boolean firstTile = v0 == 0;
        run(rows, rowChunk(rows), (r0, r1) -> {
          int n = (int) (r1 - r0);
          logits(r0, r1, vt, fv0, wSrc, wOff);
          lk.tileGrad(zT, r0, s, vt, n, m, a, b, r0, o.softcap());
          for (long r = r0; r < r1; r++) {
            int t = target(n0 + r);
            if (t != o.ignoreIndex() && t >= fv0 && t < fv0 + vt) {
              // in double: a one-class row gets exactly 0
              double ztr = zt.getAtIndex(F64, r);
              double ad = c.coef() * (1 + 2 * (double) o.zLoss() * lse.getAtIndex(F64, r))
                  / se.getAtIndex(F64, r);
              double g = ad * Math.exp(ztr - m.getAtIndex(F32, r)) - targetTerm;
              if (o.softcap() > 0) {
                double u = ztr / o.softcap();
                g *= 1 - u * u;
              }
              zT.setAtIndex(F32, (t - fv0) * s + r, (float) g);
            }
          }
          if (c.gradHidden() != null) {
            lk.gemm(n, h, vt, zT, r0, 1, s, wSrc, wOff, h, c.gradHidden(), (n0 + r0) * h, h,
                c.accumulate() || !firstTile);
          }
          return 0;
        });
        boolean accW = c.accumulate() || n0 > 0;
        run(vt, share(vt, VOCAB_CHUNK), (j0, j1) -> {
          if (c.gradWeight() != null) {
            lk.gemm((int) (j1 - j0), h, rows, zT, j0 * s, s, 1, hs, hsOff, h, c.gradWeight(),
                (fv0 + j0) * h, h, accW);
          }
          if (c.gradBias() != null) {
            for (long j = j0; j < j1; j++) {
              double sum = lk.sum(zT, j * s, rows);
              float old = accW ? c.gradBias().getAtIndex(F32, fv0 + j) : 0f;
              c.gradBias().setAtIndex(F32, fv0 + j, (float) (old + sum));
            }
          }
          return 0;
        });
      }
    }

    /** Runs body over [0, count) in chunks, on the call's threads (same bits on any count). */
    void run(long count, long chunk, Split.Body body) {
      if (threads == 1 || count <= chunk) {
        for (long i = 0; i < count; i += chunk) {
          body.run(i, Math.min(count, i + chunk));
        }
        return;
      }
      Split.parallel(p.executor(), (int) Math.min(threads, Split.ceilDiv(count, chunk)), count,
          chunk, body);
    }
  }
}
