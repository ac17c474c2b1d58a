package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaExp.expNonPositive;
import static dev.fusedloss.internal.PanamaSpecies.F;
import static dev.fusedloss.internal.PanamaSpecies.L;
import static dev.fusedloss.internal.PanamaSpecies.NATIVE;
import static dev.fusedloss.internal.PanamaSpecies.NEG_INF;
import static dev.fusedloss.internal.RowSweeps.at;
import static dev.fusedloss.internal.RowSweeps.gradFromStored;
import static dev.fusedloss.internal.RowSweeps.gradFromStoredOverlap;
import static dev.fusedloss.internal.RowSweeps.gradFromStoredWeighted;
import static dev.fusedloss.internal.RowSweeps.gradRecompute;
import static dev.fusedloss.internal.RowSweeps.gradRecomputeWeighted;
import static dev.fusedloss.internal.RowSweeps.ignoredRow;
import static dev.fusedloss.internal.RowSweeps.overlapTail;
import static dev.fusedloss.internal.RowSweeps.rowDot;
import static dev.fusedloss.internal.RowSweeps.rowMax;
import static dev.fusedloss.internal.RowSweeps.rowSum;
import static dev.fusedloss.internal.RowSweeps.rowSumExp;
import static dev.fusedloss.internal.RowSweeps.rowSumExpInPlace;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.MAX;

import dev.fusedloss.internal.SoftmaxKernels.CrossEntropy;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * Cross entropy with class indices, one row at a time: every option (class weights, smoothing,
 * z-loss, soft cap, accumulation). A row is swept while it sits in cache: (1) its maximum, (2)
 * Σ exp(x − max) and (3) the gradient. When the gradient overwrites its buffer and no soft cap is
 * set, the row is first copied into its gradient row in bulk and all three sweeps run there in
 * place, (2) storing each exp(x − max) for (3) to scale (one exp per element in all): C2
 * compiles a loop that loads and stores one segment much better than one that stores into a
 * second segment (see {@link RowSweeps#rowSumExpInPlace}). Otherwise (3) recomputes the
 * exponentials.
 *
 * <p>Soft-capped logits {@code cap·tanh(x/cap)} are evaluated by {@link PanamaTanh} in every
 * sweep, vector body and scalar tail alike, so each logit is capped to the same bits wherever
 * it is read (the row maximum, the target logit, the sums and the gradient).
 */
final class CrossEntropyRows {
  private CrossEntropyRows() {}

  static double crossEntropy(MemorySegment x, MemorySegment targets, long stride, int cls,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float zScale, CrossEntropy opt) {
    double total = 0;
    float cap = opt.softcap();
    float inv = cap > 0 ? 1f / cap : 0f;
    double eps = opt.smoothing();
    double epsC = eps / cls;
    double wsum = opt.weight() == null ? cls : opt.weightSum();
    MemorySegment w = opt.weight();
    boolean store = grad != null && !acc && cap == 0;
    boolean tail = overlapTail(cls);
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      int t = RowArgs.target(targets, r, opt.int64());
      if (t == opt.ignoreIndex()) {
        ignoredRow(loss, grad, r, base, cls, acc);
        continue;
      }
      double xt = at(x, base + t);
      float chainT = 1f;
      if (cap > 0) { // capped exactly as the sweeps cap it: the row max must not differ by an ulp
        float th = PanamaTanh.tanh((float) xt * inv);
        xt = th * cap;
        chainT = 1f - th * th;
      }
      double sumWx = 0;
      if (eps > 0) { // read before the row may be overwritten in place
        sumWx = cap > 0 ? rowWeightedSumCapped(x, w, base, cls, cap, inv)
            : w == null ? rowSum(x, base, cls) : rowDot(x, w, base, cls);
      }
      // the target's own gradient is formed at the end, in double; accumulation adds it here
      float old = acc && grad != null ? grad.get(JAVA_FLOAT_UNALIGNED, (base + t) * Float.BYTES)
          : 0f;
      if (store && x != grad) {
        // the row is copied into its gradient row and swept there in place: loops that load
        // and store one segment run twice as fast as loops across two (rowSumExpInPlace)
        MemorySegment.copy(x, base * Float.BYTES, grad, base * Float.BYTES,
            (long) cls * Float.BYTES);
      }
      float m = cap > 0 ? rowMaxCapped(x, base, cls, cap, inv)
          : store ? rowMax(grad, base, cls) : rowMax(x, base, cls);
      double s;
      if (cap > 0) {
        s = rowSumExpCapped(x, base, cls, cap, inv, m);
      } else if (store) {
        s = rowSumExpInPlace(grad, base, cls, m, x, r + 1 < r1 ? base + stride : base);
      } else {
        s = rowSumExp(x, base, cls, 1f, m);
      }
      double logS = Math.log(s);
      double lse = m + logS;
      double wt = w == null ? 1 : at(w, t);
      // (m − x_t) + log S, not lse − x_t: at |x| ~ 3e38 lse has lost log S to rounding
      double l = (1 - eps) * wt * ((m - xt) + logS) + zScale * lse * lse;
      if (eps > 0) {
        l += epsC * (wsum * logS + (wsum * m - sumWx)); // Σ w(m − x) first, as above
      }
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      if (grad == null) {
        continue;
      }
      double a = ((1 - eps) * wt + epsC * wsum + 2 * zScale * lse) * coef;
      float b = (float) (epsC * coef);
      float as = (float) (a / s);
      boolean unweighted = w == null || b == 0;
      if (store) {
        if (tail && unweighted) {
          gradFromStoredOverlap(grad, base, cls, as, b);
        } else if (unweighted) {
          gradFromStored(grad, base, cls, as, b);
        } else {
          gradFromStoredWeighted(grad, w, base, cls, as, b);
        }
      } else if (cap == 0) {
        if (unweighted) {
          gradRecompute(x, base, cls, m, as, b, grad, acc);
        } else {
          gradRecomputeWeighted(x, w, base, cls, m, as, b, grad, acc);
        }
      } else {
        gradRecomputeCapped(x, unweighted ? null : w, base, cls, cap, inv, m, as, b, grad, acc);
      }
      // p_t·A − w_t(ε/C + 1 − ε)·coef in one double expression, replacing what the sweep wrote
      // at t: the two terms cancel as p_t → 1 (a one-class row's gradient is exactly 0)
      double gt = (Math.exp(xt - m) * (a / s) - (epsC * wt + (1 - eps) * wt) * coef) * chainT;
      grad.set(JAVA_FLOAT_UNALIGNED, (base + t) * Float.BYTES, (float) gt + old);
    }
    return total;
  }

  // ---- soft-capped sweeps: x' = cap·tanh(x·inv), inv = 1/cap. Vector bodies and scalar tails
  // use PanamaTanh's two forms, which give the same bits.

  /** cap·tanh(x·inv) of one element: the scalar twin of the vector sweeps' expression. */
  static float capped(float x, float cap, float inv) {
    return PanamaTanh.tanh(x * inv) * cap;
  }

  /** max_c x'_c (NaN if any x_c is NaN). */
  static float rowMaxCapped(MemorySegment x, long base, int classes, float cap, float inv) {
    FloatVector m = FloatVector.broadcast(F, NEG_INF);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE);
      m = m.lanewise(MAX, PanamaTanh.tanh(v.mul(inv)).mul(cap));
    }
    float mt = m.reduceLanes(MAX);
    for (; c < classes; c++) {
      mt = Math.max(mt, capped(at(x, base + c), cap, inv)); // NaN stays NaN, as MAX
    }
    return mt;
  }

  /** Σ_c exp(x'_c − m). */
  static double rowSumExpCapped(MemorySegment x, long base, int classes, float cap, float inv,
      float m) {
    FloatVector s = FloatVector.zero(F);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, (base + c) * Float.BYTES, NATIVE);
      s = s.add(expNonPositive(PanamaTanh.tanh(v.mul(inv)).mul(cap).sub(m)));
    }
    double sum = s.reduceLanes(ADD);
    for (; c < classes; c++) {
      sum += expNonPositive(capped(at(x, base + c), cap, inv) - m);
    }
    return sum;
  }

  /** Σ_c w_c·x'_c in double (w null: ones). */
  static double rowWeightedSumCapped(MemorySegment x, MemorySegment w, long base, int classes,
      float cap, float inv) {
    double s = 0;
    for (int c = 0; c < classes; c++) {
      s += (w == null ? 1 : at(w, c)) * (double) capped(at(x, base + c), cap, inv);
    }
    return s;
  }

  /**
   * grad_c (+)= (exp(x'_c − shift)·a − b·w_c)·(1 − th_c²), th_c = tanh(x_c·inv): the chain rule
   * of the cap. {@code w} null means ones.
   */
  static void gradRecomputeCapped(MemorySegment x, MemorySegment w, long base, int classes,
      float cap, float inv, float shift, float a, float b, MemorySegment grad, boolean acc) {
    int c = 0;
    if (w == null) {
      for (int bound = F.loopBound(classes); c < bound; c += L) {
        long off = (base + c) * Float.BYTES;
        FloatVector th = PanamaTanh.tanh(FloatVector.fromMemorySegment(F, x, off, NATIVE).mul(inv));
        FloatVector g = expNonPositive(th.mul(cap).sub(shift)).mul(a).sub(b)
            .mul(th.mul(th).neg().add(1f));
        if (acc) {
          g = g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE));
        }
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    // the ragged end, and every element with class weights (a rare combination with a cap)
    for (; c < classes; c++) {
      long off = (base + c) * Float.BYTES;
      float th = PanamaTanh.tanh(x.get(JAVA_FLOAT_UNALIGNED, off) * inv);
      float bw = w == null ? b : b * at(w, c);
      float g = (expNonPositive(th * cap - shift) * a - bw) * (1f - th * th);
      if (acc) {
        g += grad.get(JAVA_FLOAT_UNALIGNED, off);
      }
      grad.set(JAVA_FLOAT_UNALIGNED, off, g);
    }
  }
}
