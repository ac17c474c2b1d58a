package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaExp.expNonPositive;
import static dev.fusedloss.internal.PanamaSpecies.*;
import static dev.fusedloss.internal.RowSweeps.*;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static jdk.incubator.vector.VectorOperators.*;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

/**
 * The softmax losses whose target is a distribution over the classes: cross entropy with soft
 * targets and temperature distillation. Without accumulation each row pair is copied into the
 * per-thread row scratch ({@link PanamaScratch.Rows}) and swept there.
 */
final class SoftTargetRows {
  private SoftTargetRows() {}

  static double softCrossEntropy(MemorySegment x, MemorySegment q, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      MemorySegment weight, float smoothing) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    double total = 0;
    double eps = smoothing;
    float epsC = (float) (eps / classes);
    float keep = (float) (1 - eps);
    if (weight == null && !acc) {
      return softCrossEntropyInScratch(x, q, stride, cls, r0, r1, loss, grad, coef, keep, epsC);
    }
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      // Σ w q' and Σ w q' x for this row (read before an in-place gradient overwrites x)
      double wq = 0;
      double wqx = 0;
      for (int c = 0; c < classes; c++) {
        double qc = (weight == null ? 1 : at(weight, c)) * (keep * at(q, base + c) + epsC);
        wq += qc;
        wqx += qc * at(x, base + c);
      }
      float m = rowMax(x, base, cls);
      double s = rowSumExp(x, base, cls, 1f, m);
      double logS = Math.log(s);
      double l = wq * logS + (wq * m - wqx);
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      if (grad != null) {
        softGrad(x, q, weight, base, cls, m, (float) (wq * coef / s), keep, epsC, coef,
            grad, acc);
      }
    }
    return total;
  }

  /**
   * Soft-target cross entropy without class weights or accumulation, each row pair copied into
   * the per-thread row scratch (logits at 0, targets at {@code pad}) so every sweep loads and
   * stores one segment (see {@link #distillationInScratch}): the max, then one pass storing
   * e = exp(x − m) with Σe, Σq' and Σ q'·(m − x) (q' = keep·q + epsC), then the gradient
   * e·(Σq'·coef/Σe) − q'·coef in the scratch, copied out. The loss Σq'·log Σe + Σ q'·(m − x) sums
   * non-negative terms (no cancellation); a row whose float Σ q'·(m − x) is not finite is summed
   * again in double from the inputs. Inputs are read in full before anything is written, so the
   * gradient may alias either input.
   */
  static double softCrossEntropyInScratch(MemorySegment x, MemorySegment q, long stride, int cls,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, float keep,
      float epsC) {
    int pad = (cls + 15) & ~15; // the targets' row starts 64-byte aligned
    PanamaScratch.Rows rs = PanamaScratch.ROWS.get();
    MemorySegment sc = rs.atLeast(2L * pad);
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      MemorySegment.copy(x, base * Float.BYTES, sc, 0, (long) cls * Float.BYTES);
      MemorySegment.copy(q, base * Float.BYTES, sc, (long) pad * Float.BYTES, (long) cls * Float.BYTES);
      float m = rowMax(sc, 0, cls);
      softExps(sc, cls, pad, m, keep, epsC, rs.sums);
      float se = rs.sums[0];
      double wq = rs.sums[1];
      double cross = rs.sums[2];
      if (!Float.isFinite(rs.sums[2])) {
        // m − x or the float sum overflowed (logits near ±3.4e38), or an input is NaN/∞: the
        // sum again in double from the inputs, which nothing has overwritten yet
        cross = 0;
        for (int c = 0; c < cls; c++) {
          cross += (keep * (double) at(q, base + c) + epsC) * ((double) m - at(x, base + c));
        }
      }
      double l = wq * Math.log(se) + cross;
      if (loss != null) {
        loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, (float) l);
      }
      total += (float) l;
      if (grad != null) {
        pairGradOut(sc, cls, pad, (float) (wq * coef / se), keep * coef, epsC * coef, grad, base);
      }
    }
    return total;
  }

  /**
   * The gradient of a row pair in the row scratch, a·e − (b·q + c) (e at 0, q at {@code pad}),
   * formed over e and copied out to the gradient row at {@code base}. Shared by soft-target cross
   * entropy and distillation.
   */
  static void pairGradOut(MemorySegment sc, int cls, int pad, float a, float b, float c,
      MemorySegment grad, long base) {
    for (int i = 0; i < cls; i += L) { // the padding lanes are scratch: never copied out
      long off = (long) i * Float.BYTES;
      FloatVector.fromMemorySegment(F, sc, off, NATIVE).mul(a)
          .sub(FloatVector.fromMemorySegment(F, sc, off + (long) pad * Float.BYTES, NATIVE).fma(b, c))
          .intoMemorySegment(sc, off, NATIVE);
    }
    MemorySegment.copy(sc, 0, grad, base * Float.BYTES, (long) cls * Float.BYTES);
  }

  /**
   * e = exp(x − m) in place over the logits in the scratch (at 0), with Σe, Σq' and Σq'·(m − x)
   * written to {@code sums} (targets q at {@code pad}, q' = keep·q + epsC).
   */
  static void softExps(MemorySegment sc, int cls, int pad, float m, float keep, float epsC,
      float[] sums) {
    FloatVector se = FloatVector.zero(F);
    FloatVector sq = se;
    FloatVector cross = se;
    int c = 0;
    for (int bound = F.loopBound(cls); c < bound; c += L) {
      long off = (long) c * Float.BYTES;
      FloatVector d = FloatVector.fromMemorySegment(F, sc, off, NATIVE).sub(m);
      FloatVector qc = FloatVector.fromMemorySegment(F, sc, off + (long) pad * Float.BYTES, NATIVE).fma(keep, epsC);
      FloatVector e = expNonPositive(d);
      e.intoMemorySegment(sc, off, NATIVE);
      se = se.add(e);
      sq = sq.add(qc);
      cross = cross.sub(qc.mul(d));
    }
    // the ragged end element by element, as in distillExps (a masked tail boxed there)
    float te = 0;
    float tq = 0;
    float tc = 0;
    for (; c < cls; c++) {
      long off = (long) c * Float.BYTES;
      float d = sc.get(JAVA_FLOAT_UNALIGNED, off) - m;
      float qc = keep * sc.get(JAVA_FLOAT_UNALIGNED, off + (long) pad * Float.BYTES) + epsC;
      float e = (float) Math.exp(d);
      sc.set(JAVA_FLOAT_UNALIGNED, off, e);
      te += e;
      tq += qc;
      tc -= qc * d;
    }
    sums[0] = se.reduceLanes(ADD) + te;
    sums[1] = sq.reduceLanes(ADD) + tq;
    sums[2] = cross.reduceLanes(ADD) + tc;
  }

  /**
   * grad_c (+)= e_c·a − w_c·q'_c·coef with e_c = exp(x_c − shift), q'_c = keep·q_c + epsC and
   * a = Σ w q' · coef / Σexp; {@code w} null means ones (then {@code wq} is 1 per class).
   */
  static void softGrad(MemorySegment x, MemorySegment q, MemorySegment w, long base, int classes,
      float shift, float a, float keep, float epsC, float coef, MemorySegment grad, boolean acc) {
    if (w != null) {
      softGradWeighted(x, q, w, base, classes, shift, a, keep, epsC, coef, grad, acc);
      return;
    }
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector p = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift));
      FloatVector qc = FloatVector.fromMemorySegment(F, q, off, NATIVE).mul(keep).add(epsC);
      FloatVector g = p.mul(a).sub(qc.mul(coef));
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    softGradTail(x, q, null, base, c, classes, shift, a, keep, epsC, coef, grad, acc);
  }

  static void softGradWeighted(MemorySegment x, MemorySegment q, MemorySegment w, long base,
      int classes, float shift, float a, float keep, float epsC, float coef, MemorySegment grad,
      boolean acc) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector p = expNonPositive(FloatVector.fromMemorySegment(F, x, off, NATIVE).sub(shift));
      FloatVector qc = FloatVector.fromMemorySegment(F, q, off, NATIVE).mul(keep).add(epsC);
      FloatVector wv = FloatVector.fromMemorySegment(F, w, (long) c * Float.BYTES, NATIVE);
      FloatVector g = p.mul(a).sub(wv.mul(qc).mul(coef));
      if (acc) {
        g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
      } else {
        g.intoMemorySegment(grad, off, NATIVE);
      }
    }
    softGradTail(x, q, w, base, c, classes, shift, a, keep, epsC, coef, grad, acc);
  }

  static void softGradTail(MemorySegment x, MemorySegment q, MemorySegment w, long base, long c,
      int classes, float shift, float a, float keep, float epsC, float coef, MemorySegment grad,
      boolean acc) {
    for (; c < classes; c++) {
      long off = (base + c) * Float.BYTES;
      double p = Math.exp(x.get(JAVA_FLOAT_UNALIGNED, off) - shift);
      double qc = (w == null ? 1 : at(w, c)) * (keep * q.get(JAVA_FLOAT_UNALIGNED, off) + epsC);
      float gv = (float) (p * a - qc * coef);
      if (acc) {
        gv += grad.get(JAVA_FLOAT_UNALIGNED, off);
      }
      grad.set(JAVA_FLOAT_UNALIGNED, off, gv);
    }
  }

  /**
   * Above this temperature distillation runs in double precision (the scalar kernel). T²·KL
   * shrinks toward a limit while its float32 terms, ln Σexp of values near 1, keep their absolute
   * rounding: measured against the double kernel on N(0, 3) logits, the float path's relative
   * error was ≤ 2e-7 up to T = 8, 2e-6 at 16, 6e-5 at 100, and the loss went negative at 1e5.
   */
  static final float MAX_FLOAT_TEMPERATURE = 8f;

  static double distillation(MemorySegment s, MemorySegment t, long stride, long classes,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float temperature) {
    int cls = (int) classes; // RowArgs caps classes below 2^31: int loops stay counted
    if (temperature > MAX_FLOAT_TEMPERATURE) {
      return ScalarSoftmaxKernels.INSTANCE.distillation(s, t, stride, classes, r0, r1, loss, grad,
          coef, acc, temperature);
    }
    if (!acc) {
      return distillationInScratch(s, t, stride, cls, r0, r1, loss, grad, coef, temperature);
    }
    double total = 0;
    float inv = 1f / temperature;
    double t2 = (double) temperature * temperature;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      float ms = rowMax(s, base, cls) * inv;
      float mt = rowMax(t, base, cls) * inv;
      double ss = rowSumExp(s, base, cls, inv, ms);
      double st = rowSumExp(t, base, cls, inv, mt);
      // Σ q_c (t_c − s_c)/T with q = softmax(t/T); masked teacher classes (q = 0) add nothing
      double cross = distillCross(s, t, base, cls, inv, ms, mt, (float) (1 / st));
      if (!Double.isFinite(cross)) { // a float lane overflowed: again in double, as above
        cross = 0;
        for (int c = 0; c < cls; c++) {
          double q = Math.exp(at(t, base + c) * inv - mt) / st;
          if (q > 0) {
            cross += q * (((double) at(t, base + c) * inv - mt)
                - ((double) at(s, base + c) * inv - ms));
          }
        }
      }
      total += distillRowLoss(t2, cross, ss, st, loss, r);
      if (grad != null) {
        float k = temperature * coef;
        distillGradAdd(s, t, base, cls, inv, ms, mt, (float) (k / ss), (float) (k / st), grad);
      }
    }
    return total;
  }

  /**
   * Σ_c q_c·((t_c/T − mt) − (s_c/T − ms)) with q_c = exp(t_c/T − mt)·invSt — the shifted values
   * the exponentials use, so identical rows give exactly 0; terms with q_c = 0 count 0.
   */
  static double distillCross(MemorySegment s, MemorySegment t, long base, int classes, float inv,
      float ms, float mt, float invSt) {
    FloatVector acc = FloatVector.zero(F);
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector tv = FloatVector.fromMemorySegment(F, t, off, NATIVE).mul(inv).sub(mt);
      FloatVector sv = FloatVector.fromMemorySegment(F, s, off, NATIVE).mul(inv).sub(ms);
      FloatVector q = expNonPositive(tv).mul(invSt);
      FloatVector term = q.mul(tv.sub(sv));
      acc = acc.add(term.blend(0f, q.compare(EQ, 0f)));
    }
    double tail = 0;
    for (; c < classes; c++) {
      double tc = at(t, base + c) * inv - mt;
      double q = Math.exp(tc) * invSt;
      if (q > 0) {
        tail += q * (tc - (at(s, base + c) * inv - ms));
      }
    }
    return acc.reduceLanes(ADD) + tail;
  }

  /** T²·(cross + ln Σp̃ − ln Σq̃) as a float, stored as row r's loss when {@code loss} is given. */
  static float distillRowLoss(double t2, double cross, double ss, double st, MemorySegment loss,
      long r) {
    float l = (float) (t2 * (cross + (Math.log(ss) - Math.log(st))));
    if (loss != null) {
      loss.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, l);
    }
    return l;
  }

  /**
   * Distillation without accumulation, each row pair copied into a per-thread scratch (student
   * at 0, teacher at {@code pad}) so every sweep loads and stores one segment: the maxima, then
   * one pass storing p̃ = exp(s/T − ms) and q̃ = exp(t/T − mt) with their sums and Σ q̃·(u − v),
   * then the gradient p̃·k/Σp̃ − q̃·k/Σq̃ in the scratch, copied out. Two exps per element where
   * the streaming form takes five. The first call on a thread, and the first with a longer row,
   * allocate the scratch (two rows, at least 16 KB), kept for the thread's life.
   */
  static double distillationInScratch(MemorySegment s, MemorySegment t, long stride, int cls,
      long r0, long r1, MemorySegment loss, MemorySegment grad, float coef, float temperature) {
    float inv = 1f / temperature;
    double t2 = (double) temperature * temperature;
    int pad = (cls + 15) & ~15; // the teacher's row starts 64-byte aligned
    PanamaScratch.Rows rs = PanamaScratch.ROWS.get();
    MemorySegment sc = rs.atLeast(2L * pad);
    double total = 0;
    for (long r = r0; r < r1; r++) {
      long base = r * stride;
      MemorySegment.copy(s, base * Float.BYTES, sc, 0, (long) cls * Float.BYTES);
      MemorySegment.copy(t, base * Float.BYTES, sc, (long) pad * Float.BYTES, (long) cls * Float.BYTES);
      float ms = rowMax(sc, 0, cls) * inv;
      float mt = rowMax(sc, pad, cls) * inv;
      distillExps(sc, cls, pad, inv, ms, mt, rs.sums);
      float ss = rs.sums[0];
      float st = rs.sums[1];
      // Σ q_c (t_c − s_c)/T with q = softmax(t/T); masked teacher classes (q = 0) add nothing
      double cross = rs.sums[2];
      if (!Float.isFinite(rs.sums[2])) {
        // the float sum overflowed (logits near ±3.4e38), or an input is NaN/∞: summed again in
        // double from the inputs, which nothing has overwritten yet, and the stored exps
        cross = distillCrossDouble(s, t, sc, base, cls, pad, inv, ms, mt);
      }
      cross /= st;
      total += distillRowLoss(t2, cross, ss, st, loss, r);
      if (grad != null) {
        float k = temperature * coef;
        // −0 keeps q̃·kt's bits (x + −0 = x, also for x = −0)
        pairGradOut(sc, cls, pad, k / ss, k / st, -0f, grad, base);
      }
    }
    return total;
  }

  /**
   * Σ_c q̃_c·(u_c − v_c) in double (u = t·inv − mt, v = s·inv − ms) from the inputs and the
   * teacher's exps q̃ stored in the scratch at {@code pad}; terms with q̃ = 0 count 0.
   */
  static double distillCrossDouble(MemorySegment s, MemorySegment t, MemorySegment sc, long base,
      int cls, int pad, float inv, float ms, float mt) {
    double cross = 0;
    for (int c = 0; c < cls; c++) {
      double q = sc.get(JAVA_FLOAT_UNALIGNED, (long) (pad + c) * Float.BYTES);
      if (q > 0) {
        cross += q * (((double) at(t, base + c) * inv - mt) - ((double) at(s, base + c) * inv - ms));
      }
    }
    return cross;
  }

  /**
   * The exponentials of a row pair in the scratch, in place: p̃ over the student (at 0), q̃ over
   * the teacher (at {@code pad}); writes Σp̃, Σq̃ and Σ q̃·(u − v) (u = t/T − mt, v = s/T − ms,
   * terms with q̃ = 0 left out) to {@code sums}.
   */
  static void distillExps(MemorySegment sc, int cls, int pad, float inv, float ms, float mt,
      float[] sums) {
    FloatVector sp = FloatVector.zero(F);
    FloatVector sq = sp;
    FloatVector cross = sp;
    int c = 0;
    for (int bound = F.loopBound(cls); c < bound; c += L) {
      long so = (long) c * Float.BYTES;
      long to = so + (long) pad * Float.BYTES;
      FloatVector v = FloatVector.fromMemorySegment(F, sc, so, NATIVE).mul(inv).sub(ms);
      FloatVector u = FloatVector.fromMemorySegment(F, sc, to, NATIVE).mul(inv).sub(mt);
      FloatVector p = expNonPositive(v);
      FloatVector q = expNonPositive(u);
      p.intoMemorySegment(sc, so, NATIVE);
      q.intoMemorySegment(sc, to, NATIVE);
      sp = sp.add(p);
      sq = sq.add(q);
      cross = cross.add(q.mul(u.sub(v)).blend(0f, q.compare(EQ, 0f)));
    }
    // the ragged end element by element: a masked vector tail here made this method too large
    // for C2 to inline the exps, and they boxed (256 B a row at 10 classes)
    float tp = 0;
    float tq = 0;
    float tc = 0;
    for (; c < cls; c++) {
      long so = (long) c * Float.BYTES;
      long to = so + (long) pad * Float.BYTES;
      float v = sc.get(JAVA_FLOAT_UNALIGNED, so) * inv - ms;
      float u = sc.get(JAVA_FLOAT_UNALIGNED, to) * inv - mt;
      float p = (float) Math.exp(v);
      float q = (float) Math.exp(u);
      sc.set(JAVA_FLOAT_UNALIGNED, so, p);
      sc.set(JAVA_FLOAT_UNALIGNED, to, q);
      tp += p;
      tq += q;
      if (q != 0) {
        tc += q * (u - v);
      }
    }
    sums[0] = sp.reduceLanes(ADD) + tp;
    sums[1] = sq.reduceLanes(ADD) + tq;
    sums[2] = cross.reduceLanes(ADD) + tc;
  }

  /**
   * grad_c += exp(s_c/T − ms)·ks − exp(t_c/T − mt)·kt (k·(p_c − q_c) with k/Σexp folded in):
   * the accumulating path; without accumulation {@link #distillationInScratch} runs instead.
   */
  static void distillGradAdd(MemorySegment s, MemorySegment t, long base, int classes, float inv,
      float ms, float mt, float ks, float kt, MemorySegment grad) {
    int c = 0;
    for (int bound = F.loopBound(classes); c < bound; c += L) {
      long off = (base + c) * Float.BYTES;
      FloatVector p = expNonPositive(FloatVector.fromMemorySegment(F, s, off, NATIVE).mul(inv).sub(ms));
      FloatVector q = expNonPositive(FloatVector.fromMemorySegment(F, t, off, NATIVE).mul(inv).sub(mt));
      p.mul(ks).sub(q.mul(kt)).add(FloatVector.fromMemorySegment(F, grad, off, NATIVE))
          .intoMemorySegment(grad, off, NATIVE);
    }
    for (; c < classes; c++) {
      long off = (base + c) * Float.BYTES;
      double p = Math.exp(s.get(JAVA_FLOAT_UNALIGNED, off) * (double) inv - ms);
      double q = Math.exp(t.get(JAVA_FLOAT_UNALIGNED, off) * (double) inv - mt);
      grad.set(JAVA_FLOAT_UNALIGNED, off,
          (float) (p * ks - q * kt) + grad.get(JAVA_FLOAT_UNALIGNED, off));
    }
  }
}
