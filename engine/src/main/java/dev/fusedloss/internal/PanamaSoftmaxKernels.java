package dev.fusedloss.internal;

import static dev.fusedloss.internal.CrossEntropyTiles.TILE;
import static dev.fusedloss.internal.CrossEntropyTiles.tileScale;
import static dev.fusedloss.internal.CrossEntropyTiles.tileSweeps;
import static dev.fusedloss.internal.PanamaSpecies.L;
import static dev.fusedloss.internal.RowSweeps.addAt;
import static dev.fusedloss.internal.RowSweeps.at;
import static dev.fusedloss.internal.RowSweeps.gradFromStored;
import static dev.fusedloss.internal.RowSweeps.gradRecompute;
import static dev.fusedloss.internal.RowSweeps.ignoredRow;
import static dev.fusedloss.internal.RowSweeps.rowMax;
import static dev.fusedloss.internal.RowSweeps.rowSumExp;
import static dev.fusedloss.internal.RowSweeps.rowSumExpInPlace;
import static dev.fusedloss.internal.RowSweeps.shiftInPlace;
import static dev.fusedloss.internal.RowSweeps.zeroRow;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API row kernels: chooses a strategy per call and runs the small losses itself.
 * Cross entropy with class indices takes one of three paths:
 * <ul>
 *   <li>{@link CrossEntropyFewClasses}: at most 32 classes and no option but ignoreIndex, one row
 *       per vector lane;
 *   <li>{@link CrossEntropyTiles}: rows of at least two tiles (4096 classes), no weight or
 *       smoothing, gradient overwritten;
 *   <li>{@link CrossEntropyRows}: everything else, one row at a time.
 * </ul>
 * Soft targets and distillation are in {@link SoftTargetRows}; the sweeps they share in
 * {@link RowSweeps}, the per-thread scratch in {@link PanamaScratch}. Every kernel is static, and
 * no vector crosses a call, so C2 inlines each loop whole.
 */
final class PanamaSoftmaxKernels implements SoftmaxKernels {
  @Override
  public double crossEntropy(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float zScale, CrossEntropy opt) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    boolean plain = opt.softcap() == 0 && opt.weight() == null && opt.smoothing() == 0;
    if (plain && !acc && zScale == 0 && cls <= CrossEntropyFewClasses.SMALL_C) {
      // pairs of blocks of L rows, one row per lane. The last rows (fewer than 2L) go to the
      // scalar kernel: the per-row vector sweeps would run only there, too rarely to be
      // compiled, and interpreted vector code boxes (~2 KB a row).
      long pairs = (r1 - r0) / (2 * L);
      double total = CrossEntropyFewClasses.crossEntropySmall(x, targets, stride, cls, r0, pairs,
          loss, grad, coef, opt.ignoreIndex(), opt.int64());
      long rest = r0 + pairs * 2 * L;
      return total + ScalarSoftmaxKernels.INSTANCE.crossEntropy(x, targets, stride, classes, rest,
          r1, loss, grad, coef, acc, zScale, opt);
    }
    if (plain && grad != null && !acc && cls >= 2 * TILE) {
      return CrossEntropyTiles.crossEntropyTiled(x, targets, stride, cls, r0, r1, loss, grad,
          coef, zScale, opt.ignoreIndex(), opt.int64());
    }
    return CrossEntropyRows.crossEntropy(x, targets, stride, cls, r0, r1, loss, grad, coef, acc,
        zScale, opt);
  }

  @Override
  public double softCrossEntropy(MemorySegment x, MemorySegment q, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, float smoothing) {
    return SoftTargetRows.softCrossEntropy(x, q, stride, classes, r0, r1, loss, grad, coef, acc,
        weight, smoothing);
  }

  @Override
  public double distillation(MemorySegment s, MemorySegment t, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float temperature) {
    return SoftTargetRows.distillation(s, t, stride, classes, r0, r1, loss, grad, coef, acc,
        temperature);
  }

  @Override
  public double softmaxFocal(MemorySegment x, MemorySegment targets, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, MemorySegment alpha, int ignoreIndex, boolean int64) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    double total = 0;
    boolean store = grad != null && !acc;
    boolean tiled = store && cls >= 2 * TILE;
    PanamaScratch.Tiles ts = tiled ? PanamaScratch.TILES.get() : null;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = RowArgs.target(targets, r, int64);
      if (t == ignoreIndex) {
        ignoredRow(loss, grad, r, base, cls, acc);
        continue;
      }
      double xt = at(x, base + t);
      float m;
      double s;
      if (tiled) { // wide rows in tiles, as cross entropy (see CrossEntropyTiles)
        s = tileSweeps(x, grad, base, cls, r + 1 < r1 ? base + stride : base, ts);
        m = ts.m;
      } else if (store) {
        // in place in the gradient row, as cross entropy does (see rowSumExpInPlace)
        if (x != grad) {
          MemorySegment.copy(x, base * Float.BYTES, grad, base * Float.BYTES, classes * Float.BYTES);
        }
        m = rowMax(grad, base, cls);
        s = rowSumExpInPlace(grad, base, cls, m, x, r + 1 < r1 ? base + stride : base);
      } else {
        m = rowMax(x, base, cls);
        s = rowSumExp(x, base, cls, 1f, m);
      }
      double lpt = (xt - m) - Math.log(s);
      double pt = Math.exp(lpt);
      double om = -Math.expm1(lpt); // 1 − p_t without cancellation
      double at = alpha == null ? 1 : at(alpha, t);
      double og = Math.pow(om, gamma);
      double l = -at * og * lpt;
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      if (grad == null) {
        continue;
      }
      // dℓ/dx_c = (δ_ct − p_c)·F, F = α_t·(γ·p_t·ln p_t·(1−p_t)^(γ−1) − (1−p_t)^γ), where
      // ln p_t/(1 − p_t) → −1 as p_t → 1 keeps F finite for γ < 1
      double ratio = om > 0 ? lpt / om : -1;
      double f = at * (gamma * pt * ratio * og - og) * coef;
      if (tiled) {
        tileScale(grad, base, cls, -f / s, ts);
      } else if (store) {
        gradFromStored(grad, base, cls, (float) (-f / s), 0f);
      } else {
        gradRecompute(x, base, cls, m, (float) (-f / s), 0f, grad, acc);
      }
      addAt(grad, base + t, f);
    }
    return total;
  }


  @Override
  public double nll(MemorySegment x, MemorySegment targets, long stride, long classes, long r0,
      long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, int ignoreIndex, boolean int64) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = RowArgs.target(targets, r, int64);
      boolean ignored = t == ignoreIndex;
      double wt = ignored ? 0 : (weight == null ? 1 : at(weight, t));
      double l = ignored ? 0 : -wt * at(x, base + t);
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      if (grad != null) {
        if (!acc) {
          zeroRow(grad, base, cls);
        }
        if (!ignored) {
          long off = (base + t) * Float.BYTES;
          float g = (float) (-wt * coef);
          grad.set(JAVA_FLOAT_UNALIGNED, off, acc ? grad.get(JAVA_FLOAT_UNALIGNED, off) + g : g);
        }
      }
    }
    return total;
  }

  @Override
  public void logSoftmax(MemorySegment x, long stride, long classes, long r0, long r1,
      MemorySegment out) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      // the row is copied into its output row and swept there, as cross entropy does: loops
      // over one segment compile better (see rowSumExpInPlace)
      if (out != x) {
        MemorySegment.copy(x, base * Float.BYTES, out, base * Float.BYTES, classes * Float.BYTES);
      }
      float m = rowMax(out, base, cls);
      double s = rowSumExp(out, base, cls, 1f, m);
      shiftInPlace(out, base, cls, m, (float) Math.log(s));
    }
  }

  @Override
  public double spatialCrossEntropy(MemorySegment x, MemorySegment targets, MemorySegment q,
      long classes, long spatial, long r0, long r1, MemorySegment loss, MemorySegment grad,
      float coef, boolean acc, float zScale, CrossEntropy opt) {
    return SpatialRows.crossEntropy(x, targets, q, (int) classes, spatial, r0, r1, loss, grad,
        coef, acc, zScale, opt);
  }

  @Override
  public double spatialNll(MemorySegment x, MemorySegment targets, long classes, long spatial,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, int ignoreIndex, boolean int64) {
    return ScalarSoftmaxKernels.spatialNllRows(x, targets, classes, spatial, r0, r1, loss, grad,
        coef, acc, weight, ignoreIndex, int64);
  }
}
