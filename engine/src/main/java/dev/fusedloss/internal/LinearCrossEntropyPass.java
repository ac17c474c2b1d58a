package dev.fusedloss.internal;

import dev.fusedloss.FloatFormat;
import dev.fusedloss.Parallelism;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The fused linear + cross entropy over validated arguments. Rows are taken in super-blocks of
 * at most {@link #superRows} rows; for each, the vocabulary is swept twice in tiles of {@link
 * #VT} entries. Pass 1 computes each tile's logits {@code z = h·W_tileᵀ (+ bias, soft cap)} and
 * folds them into every row's running max and sum of exponentials (and target logit, logit
 * sum). Pass 2 recomputes the tile's logits, turns them into {@code dz} in place and applies the
 * two other products: {@code dH += dz·W_tile} (rows split between threads) and {@code dW_tile
 * (+)= dzᵀ·h} with {@code db} (vocabulary rows split between threads). Nothing of size N·V
 * exists: the workspace is {@link #workspaceBytes}.
 */
public final class LinearCrossEntropyPass {
  /** Vocabulary entries per tile: a multiple of 3 vectors at 4, 8 and 16 lanes. */
  public static final int VT = 240;
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
  /** Bytes of per-row state: max (as double), sum of exps, target logit, logit sum, lse. */
  private static final int ROW_STATE = 5 * Double.BYTES;
  /** Rows per chunk of a threaded phase (a multiple of the micro-kernel's 4 rows). */
  private static final int ROW_CHUNK = 32;
  /** Vocabulary rows per chunk of the weight-gradient phase. */
  private static final int VOCAB_CHUNK = 24;

  /** Bytes the last call on any thread allocated (for the memory-bound test). */
  public static volatile long lastWorkspaceBytes;

  private LinearCrossEntropyPass() {}

  /** The options of one call. */
  public record Options(int ignoreIndex, float smoothing, float softcap, float zLoss,
      boolean int64) {}

  /** Rows per super-block for hidden size {@code h}: 64 to 1024, about 1M floats of hidden. */
  public static long superRows(long rows, long h) {
    long s = Math.max(64, Math.min(1024, (1L << 20) / Math.max(1, h)));
    return Math.min(rows, s);
  }

  /**
   * The workspace of a call, in bytes: the transposed weight tile (H·VT floats), the logits tile
   * of a super-block (S·VT floats), per-row state (40 bytes per row of a super-block), and, for
   * bfloat16/float16 inputs, the widened weight tile (VT·H floats) and super-block of hidden
   * states (S·H floats). S ≤ 1024, so this never depends on V and stops growing with N at 1024
   * rows.
   */
  public static long workspaceBytes(long rows, long h, FloatFormat f) {
    long s = superRows(rows, h);
    long bytes = h * VT * Float.BYTES + s * VT * Float.BYTES + s * ROW_STATE;
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
    int threads = c.rows() == 0 ? 1 : p.threadsFor(c.rows() * c.v(), Math.max(
        Split.ceilDiv(superRows(c.rows(), c.h()), ROW_CHUNK), VT / VOCAB_CHUNK));
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
    final long s;
    final int h;
    final MemorySegment wt;
    final MemorySegment z;
    final MemorySegment state;
    final MemorySegment wTile; // widened weight tile (16-bit inputs only)
    final MemorySegment hBlock; // widened hidden rows (16-bit inputs only)
    MemorySegment hs; // the super-block's float32 hidden rows
    long hsOff;

    Work(Call c, Arena a, LinearKernels lk, FormatKernels fk, int threads, Parallelism p) {
      this.c = c;
      this.lk = lk;
      this.fk = fk;
      this.threads = threads;
      this.p = p;
      this.s = superRows(c.rows(), c.h());
      this.h = (int) c.h();
      wt = a.allocate(c.h() * VT * Float.BYTES, 64);
      z = a.allocate(s * VT * Float.BYTES, 64);
      state = a.allocate(s * ROW_STATE, 64);
      boolean half = c.format() != FloatFormat.FLOAT32;
      wTile = half ? a.allocate((long) VT * h * Float.BYTES, 64) : null;
      hBlock = half ? a.allocate(s * h * Float.BYTES, 64) : null;
    }

    // per-row state, indexed by the row within the super-block
    double max(long r) {
      return state.getAtIndex(F64, r * 5);
    }

    double sumExp(long r) {
      return state.getAtIndex(F64, r * 5 + 1);
    }

    double lse(long r) {
      return state.getAtIndex(F64, r * 5 + 4);
    }

    int target(long row) {
      return RowArgs.target(c.targets(), row, c.opt().int64());
    }

    double superBlock(long n0, long n1, boolean gradients) {
      int rows = (int) (n1 - n0);
      if (hBlock != null) {
        fk.decode(c.format(), c.hidden(), n0 * h, hBlock, 0, (int) ((long) rows * h));
        hs = hBlock;
        hsOff = 0;
      } else {
        hs = c.hidden();
        hsOff = n0 * h;
      }
      for (int r = 0; r < rows; r++) {
        long o = (long) r * 5;
        state.setAtIndex(F64, o, Double.NEGATIVE_INFINITY);
        state.setAtIndex(F64, o + 1, 0);
        state.setAtIndex(F64, o + 2, Double.NaN);
        state.setAtIndex(F64, o + 3, 0);
      }
      for (long v0 = 0; v0 < c.v(); v0 += VT) {
        int vt = (int) Math.min(VT, c.v() - v0);
        MemorySegment wSrc = weightTile(v0, vt);
        long wOff = wTile != null ? 0 : v0 * h;
        packTransposed(wSrc, wOff, vt);
        long fv0 = v0;
        run(rows, ROW_CHUNK, (r0, r1) -> {
          logits(r0, r1, vt, fv0);
          for (long r = r0; r < r1; r++) {
            forwardRow(n0, r, vt, fv0);
          }
          return 0;
        });
      }
      Options o = c.opt();
      double eps = o.smoothing();
      double sum = 0;
      for (int r = 0; r < rows; r++) {
        long st = (long) r * 5;
        double lse = state.getAtIndex(F64, st) + Math.log(state.getAtIndex(F64, st + 1));
        state.setAtIndex(F64, st + 4, lse);
        int t = target(n0 + r);
        float value;
        if (t == o.ignoreIndex()) {
          value = 0f;
        } else {
          double zt = state.getAtIndex(F64, st + 2);
          if (c.logProbs()) {
            double lp = zt - lse;
            value = (float) lp;
            sum -= lp;
          } else {
            double loss = lse - (1 - eps) * zt - eps / c.v() * state.getAtIndex(F64, st + 3)
                + o.zLoss() * lse * lse;
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

    /** The weight rows [v0, v0 + vt) as float32 (the caller's memory, or widened). */
    MemorySegment weightTile(long v0, int vt) {
      if (wTile == null) {
        return c.weight();
      }
      fk.decode(c.format(), c.weight(), v0 * h, wTile, 0, vt * h);
      return wTile;
    }

    /** wt[p][j] = W[j][p] for the tile: the product's B rows become contiguous. */
    void packTransposed(MemorySegment w, long off, int vt) {
      for (int p0 = 0; p0 < h; p0 += 64) {
        int p1 = Math.min(h, p0 + 64);
        for (int j = 0; j < vt; j++) {
          long src = off + (long) j * h;
          for (int q = p0; q < p1; q++) {
            wt.setAtIndex(F32, (long) q * VT + j, w.getAtIndex(F32, src + q));
          }
        }
      }
    }

    /** z rows [r0, r1) of the tile: h·W_tileᵀ, plus bias, capped. */
    void logits(long r0, long r1, int vt, long v0) {
      lk.gemm((int) (r1 - r0), vt, h, hs, hsOff + r0 * h, h, 1, wt, 0, VT, z, r0 * VT, VT, false);
      for (long r = r0; r < r1; r++) {
        lk.biasCap(z, r * VT, vt, c.bias(), v0, c.opt().softcap());
      }
    }

    void forwardRow(long n0, long r, int vt, long v0) {
      long zo = r * VT;
      long st = r * 5;
      double m = state.getAtIndex(F64, st);
      double tileMax = lk.max(z, zo, vt);
      double se = state.getAtIndex(F64, st + 1);
      if (tileMax > m || Double.isNaN(tileMax)) {
        se = m == Double.NEGATIVE_INFINITY ? 0 : se * Math.exp(m - tileMax);
        m = tileMax;
      }
      if (!Double.isNaN(m) && m != Double.NEGATIVE_INFINITY) {
        se += lk.sumExp(z, zo, vt, (float) m);
      } else if (Double.isNaN(m)) {
        se = Double.NaN;
      }
      state.setAtIndex(F64, st, m);
      state.setAtIndex(F64, st + 1, se);
      if (c.opt().smoothing() > 0) {
        state.setAtIndex(F64, st + 3, state.getAtIndex(F64, st + 3) + lk.sum(z, zo, vt));
      }
      int t = target(n0 + r);
      if (t >= v0 && t < v0 + vt) {
        state.setAtIndex(F64, st + 2, z.getAtIndex(F32, zo + t - v0));
      }
    }

    void backward(long n0, int rows) {
      Options o = c.opt();
      float b = (float) (c.coef() * o.smoothing() / c.v());
      for (long v0 = 0; v0 < c.v(); v0 += VT) {
        int vt = (int) Math.min(VT, c.v() - v0);
        MemorySegment wSrc = weightTile(v0, vt);
        long wOff = wTile != null ? 0 : v0 * h;
        packTransposed(wSrc, wOff, vt);
        long fv0 = v0;
        boolean firstTile = v0 == 0;
        run(rows, ROW_CHUNK, (r0, r1) -> {
          logits(r0, r1, vt, fv0);
          for (long r = r0; r < r1; r++) {
            gradRow(n0, r, vt, fv0, b);
          }
          if (c.gradHidden() != null) {
            lk.gemm((int) (r1 - r0), h, vt, z, r0 * VT, VT, 1, wSrc, wOff, h, c.gradHidden(),
                (n0 + r0) * h, h, c.accumulate() || !firstTile);
          }
          return 0;
        });
        boolean accW = c.accumulate() || n0 > 0;
        run(vt, VOCAB_CHUNK, (j0, j1) -> {
          if (c.gradWeight() != null) {
            lk.gemm((int) (j1 - j0), h, rows, z, j0, 1, VT, hs, hsOff, h, c.gradWeight(),
                (fv0 + j0) * h, h, accW);
          }
          if (c.gradBias() != null) {
            for (long j = j0; j < j1; j++) {
              double sum = 0;
              for (long r = 0; r < rows; r++) {
                sum += z.getAtIndex(F32, r * VT + j);
              }
              float old = accW ? c.gradBias().getAtIndex(F32, fv0 + j) : 0f;
              c.gradBias().setAtIndex(F32, fv0 + j, (float) (old + sum));
            }
          }
          return 0;
        });
      }
    }

    /** dz of row r in place: coef·(p·(1 + 2·zLoss·lse) − ε/V − (1−ε)[target]), chained through the cap. */
    void gradRow(long n0, long r, int vt, long v0, float b) {
      long zo = r * VT;
      Options o = c.opt();
      int t = target(n0 + r);
      if (t == o.ignoreIndex()) {
        Args.zero(z, zo, vt);
        return;
      }
      long st = r * 5;
      double m = state.getAtIndex(F64, st);
      double lse = state.getAtIndex(F64, st + 4);
      double se = state.getAtIndex(F64, st + 1);
      double a = c.coef() * (1 + 2 * o.zLoss() * lse) / se;
      boolean here = t >= v0 && t < v0 + vt;
      float zt = here ? z.getAtIndex(F32, zo + t - v0) : 0f;
      lk.softmaxGrad(z, zo, vt, (float) m, (float) a, b, o.softcap());
      if (here) {
        // in double throughout: a one-class row then gets exactly 0
        double eps = o.smoothing();
        double g = a * Math.exp(zt - m) - c.coef() * (eps / c.v()) - c.coef() * (1 - eps);
        if (o.softcap() > 0) {
          double u = zt / (double) o.softcap();
          g *= 1 - u * u;
        }
        z.setAtIndex(F32, zo + t - v0, (float) g);
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
