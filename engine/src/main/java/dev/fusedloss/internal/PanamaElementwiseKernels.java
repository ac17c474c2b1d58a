package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.ATANH0;
import static dev.fusedloss.internal.PanamaSpecies.ATANH1;
import static dev.fusedloss.internal.PanamaSpecies.ATANH2;
import static dev.fusedloss.internal.PanamaSpecies.ATANH3;
import static dev.fusedloss.internal.PanamaSpecies.ATANH4;
import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.EXP;
import static jdk.incubator.vector.VectorOperators.F2D;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.IS_NAN;
import static jdk.incubator.vector.VectorOperators.LOG;
import static jdk.incubator.vector.VectorOperators.LOG1P;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.NE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels. Each loss is one loop over whole vectors, its loss and gradient computed
 * from registers and stored in the same iteration, with the ragged tail handed to the scalar
 * kernel. Per-element losses are widened to double before they are summed.
 *
 * <p>Written to inline fully (no vector boxing): one loop per kernel and no Java-level choice
 * between two vector values inside a loop (a phi C2 cannot scalarize); per-call options are
 * loop invariants or mask blends. Loop bodies call only Vector API methods, which are
 * force-inlined: a helper of our own taking vector arguments stops being inlined once a large
 * body reaches C2's node-count cutoff (seen with BCE-with-logits), and its arguments are then
 * boxed on every iteration. Hence the repeated store blocks below.
 */
final class PanamaElementwiseKernels implements ElementwiseKernels {
  static final VectorSpecies<Float> F = PanamaSpecies.F;
  static final VectorSpecies<Double> D = PanamaSpecies.D;
  static final int L = PanamaSpecies.L;
  static final ByteOrder NATIVE = PanamaSpecies.NATIVE;
  private static final ScalarElementwiseKernels TAIL = ScalarElementwiseKernels.INSTANCE;

  /** Index where the current run of contiguous weight indices ends. */
  static long runEnd(long i, long to, Periodic w, Periodic pw) {
    long a = i + (w.period - i % w.period);
    long b = i + (pw.period - i % pw.period);
    return Math.min(to, Math.min(a, b));
  }

  @Override
  public double mse(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    float c2 = 2f * coef;
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = FloatVector.fromMemorySegment(F, x, off, NATIVE)
          .sub(FloatVector.fromMemorySegment(F, y, off, NATIVE));
      FloatVector l = d.mul(d);
      FloatVector g = d.mul(c2);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.mse(x, y, i, to, loss, grad, coef, acc);
  }

  @Override
  public double l1(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    FloatVector zero = FloatVector.zero(F);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = FloatVector.fromMemorySegment(F, x, off, NATIVE)
          .sub(FloatVector.fromMemorySegment(F, y, off, NATIVE));
      FloatVector l = d.lanewise(ABS);
      // coef·sign(d): 0 at d = 0, NaN kept
      FloatVector g = zero.blend(coef, d.compare(GT, 0f)).blend(-coef, d.compare(LT, 0f))
          .blend(d, d.test(IS_NAN));
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.l1(x, y, i, to, loss, grad, coef, acc);
  }

  @Override
  public double hingeEmbedding(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, float margin) {
    FloatVector zero = FloatVector.zero(F);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector xv = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector yv = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      VectorMask<Float> notPos = yv.compare(NE, 1f);
      VectorMask<Float> notNeg = yv.compare(NE, -1f);
      FloatVector m = xv.neg().add(margin);
      // max(0, m) keeping NaN; the derivative −1 where m ≥ 0, NaN where m is NaN
      FloatVector hinge = m.lanewise(jdk.incubator.vector.VectorOperators.MAX, zero);
      FloatVector dh = zero.blend(-1f, m.compare(GE, 0f)).blend(m, m.test(IS_NAN));
      FloatVector l = zero.blend(hinge, notPos).add(zero.blend(xv, notNeg));
      FloatVector g = zero.blend(dh, notPos).add(zero.blend(1f, notNeg)).mul(coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.hingeEmbedding(x, y, i, to, loss, grad, coef, acc, margin);
  }

  @Override
  public double poissonNll(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, boolean logInput,
      boolean full, float eps) {
    FloatVector zero = FloatVector.zero(F);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector xv = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector yv = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector l;
      FloatVector g;
      if (logInput) {
        FloatVector e = xv.lanewise(EXP);
        l = e.sub(yv.mul(xv));
        g = e.sub(yv);
      } else {
        FloatVector xe = xv.add(eps);
        l = xv.sub(yv.mul(xe.lanewise(LOG)));
        g = yv.div(xe).neg().add(1f);
      }
      if (full) {
        FloatVector st = yv.mul(yv.lanewise(LOG)).sub(yv)
            .add(yv.mul((float) (2 * Math.PI)).lanewise(LOG).mul(0.5f));
        l = l.add(st.blend(zero, yv.compare(jdk.incubator.vector.VectorOperators.LE, 1f)));
      }
      g = g.mul(coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD)
        + TAIL.poissonNll(x, y, i, to, loss, grad, coef, acc, logInput, full, eps);
  }

  @Override
  public double softMargin(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector yv = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector z = FloatVector.fromMemorySegment(F, x, off, NATIVE).mul(yv).neg();
      FloatVector e = z.lanewise(ABS).neg().lanewise(EXP);
      FloatVector l = z.lanewise(jdk.incubator.vector.VectorOperators.MAX, 0f)
          .add(e.lanewise(LOG1P));
      FloatVector den = one.add(e);
      FloatVector sig = e.div(den).blend(one.div(den), z.compare(GE, 0f)); // σ(z)
      FloatVector g = sig.mul(yv).neg().mul(coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.softMargin(x, y, i, to, loss, grad, coef, acc);
  }

  @Override
  public double robust(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float thr, float div, float b, float c) {
    float gb = b * coef;
    FloatVector zero = FloatVector.zero(F);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector d = FloatVector.fromMemorySegment(F, x, off, NATIVE)
          .sub(FloatVector.fromMemorySegment(F, y, off, NATIVE));
      FloatVector ad = d.lanewise(ABS);
      VectorMask<Float> quad = ad.compare(LT, thr);
      // d/div, not d·(1/div): 1/β overflows for a subnormal β, and |d/β| < 1 on this branch
      FloatVector q = d.div(div);
      FloatVector l = ad.sub(c).mul(b).blend(q.mul(0.5f).mul(d), quad); // ½q exact
      FloatVector g = zero.blend(gb, d.compare(GT, 0f)).blend(-gb, d.compare(LT, 0f))
          .blend(d, d.test(IS_NAN)).blend(q.mul(coef), quad);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.robust(x, y, i, to, loss, grad, coef, acc, thr, div, b, c);
  }

  @Override
  public double bce(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, w);
      long wi = i % w.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L) {
        long off = i * Float.BYTES;
        FloatVector p = FloatVector.fromMemorySegment(F, x, off, NATIVE);
        FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
        FloatVector wv = FloatVector.fromMemorySegment(F, w.tile, wi * Float.BYTES, NATIVE);
        FloatVector lp = p.lanewise(LOG).max(-100f);
        FloatVector lq = p.neg().lanewise(LOG1P).max(-100f);
        FloatVector l = t.mul(lp).add(one.sub(t).mul(lq)).mul(wv.neg());
        FloatVector den = p.mul(one.sub(p)).max(1e-12f);
        FloatVector g = p.sub(t).mul(wv.mul(coef)).div(den);
        s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
        if (loss != null) {
          l.intoMemorySegment(loss, off, NATIVE);
        }
        if (grad != null) {
          if (acc) {
            g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
          } else {
            g.intoMemorySegment(grad, off, NATIVE);
          }
        }
      }
      tail += TAIL.bce(x, y, i, end, loss, grad, coef, acc, w);
      i = end;
    }
    return s.reduceLanes(ADD) + tail;
  }

  @Override
  public double bceClipped(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w,
      float lo, float hi) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    double tail = 0;
    long i = from;
    while (i < to) {
      long end = runEnd(i, to, w, w);
      long wi = i % w.period;
      for (long bound = i + F.loopBound(end - i); i < bound; i += L, wi += L) {
        long off = i * Float.BYTES;
        FloatVector p = FloatVector.fromMemorySegment(F, x, off, NATIVE);
        FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
        FloatVector wv = FloatVector.fromMemorySegment(F, w.tile, wi * Float.BYTES, NATIVE);
        FloatVector pc = p.max(lo).min(hi);
        FloatVector lp = pc.lanewise(LOG);
        FloatVector lq = pc.neg().lanewise(LOG1P);
        FloatVector l = t.mul(lp).add(one.sub(t).mul(lq)).mul(wv.neg());
        // the clamp passes no gradient outside [lo, hi]; NaN compares false and propagates
        FloatVector g = pc.sub(t).mul(wv.mul(coef)).div(pc.mul(one.sub(pc)))
            .blend(0f, p.compare(LT, lo).or(p.compare(GT, hi)));
        s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
        if (loss != null) {
          l.intoMemorySegment(loss, off, NATIVE);
        }
        if (grad != null) {
          if (acc) {
            g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
          } else {
            g.intoMemorySegment(grad, off, NATIVE);
          }
        }
      }
      tail += TAIL.bceClipped(x, y, i, end, loss, grad, coef, acc, w, lo, hi);
      i = end;
    }
    return s.reduceLanes(ADD) + tail;
  }

  @Override
  public double bceWithLogits(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w, Periodic pw) {
    // through the scratch blocks; without weights (the common case) no weight is copied or read
    int kind = w.ones && pw.ones ? KIND_BCE_LOGITS : KIND_BCE_LOGITS_WEIGHTED;
    return blocks(kind, x, y, from, to, loss, grad, coef, acc, w, pw, 0, 0, 0);
  }

  /** Vectors whose losses are summed in float before widening (see bceWithLogitsBlock). */
  static final int SUM_RUN = 16;

  /** Elements per block of the scratch-segment kernels. */
  static final int BLOCK = 2048;

  /**
   * Per-thread scratch of five blocks (z, y, the gradient to add to, two weights), for kernels
   * that copy their inputs in and outputs out in bulk so that the vector loop loads and stores
   * one segment. C2 hoists a segment's checks
   * out of such a loop; when a loop stores into one segment and loads from another it repeats
   * them every iteration, which measured twice as slow as the arithmetic of a 32K exp loop.
   */
  static final ThreadLocal<MemorySegment> SCRATCH =
      ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(5L * BLOCK * Float.BYTES, 64));

  static final int KIND_BCE_LOGITS = 0;
  static final int KIND_SIGMOID_FOCAL = 1;
  static final int KIND_BCE_LOGITS_WEIGHTED = 2;

  /** Copies weights {@code p} of elements [i, i + len) to {@code dst} in the scratch. */
  static void copyWeights(Periodic p, long i, int len, MemorySegment sc, long dst) {
    for (long pos = 0; pos < len; ) {
      long at = (i + pos) % p.period;
      long run = Math.min(len - pos, p.period - at);
      MemorySegment.copy(p.tile, at * Float.BYTES, sc, dst + pos * Float.BYTES,
          run * Float.BYTES);
      pos += run;
    }
  }

  /**
   * Runs a block kernel over [from, to) through {@link #SCRATCH}: z and y are copied in, the
   * kernel writes the gradient over z and the losses over y, and they are copied out. Each
   * block's loop also reads one float per vector of the next block of z and y, so their memory
   * traffic overlaps this block's arithmetic (BCE with logits at 16M elements: 44 → 39 ms). The
   * kernel is chosen by {@code kind} (a switch, not a lambda: nothing is allocated per call);
   * {@code p0..p2} are its parameters, {@code w} and {@code pw} BCE's weights (copied into the
   * scratch per block for the weighted kernel; the unweighted one does not read them).
   * The ragged end goes to the scalar kernel.
   */
  private static double blocks(int kind, MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, Periodic w, Periodic pw,
      float p0, float p1, float p2) {
    MemorySegment sc = SCRATCH.get();
    double total = 0;
    long i = from;
    long vecEnd = from + F.loopBound(to - from);
    boolean addInto = acc && grad != null;
    while (i < vecEnd) {
      int len = (int) Math.min(BLOCK, vecEnd - i);
      long bytes = (long) len * Float.BYTES;
      MemorySegment.copy(x, i * Float.BYTES, sc, 0, bytes);
      MemorySegment.copy(y, i * Float.BYTES, sc, BLOCK * Float.BYTES, bytes);
      if (addInto) {
        MemorySegment.copy(grad, i * Float.BYTES, sc, 2L * BLOCK * Float.BYTES, bytes);
      }
      long ahead = Math.max(from, Math.min(i + len, vecEnd - BLOCK)) * Float.BYTES;
      if (kind == KIND_BCE_LOGITS_WEIGHTED) {
        copyWeights(w, i, len, sc, 3L * BLOCK * Float.BYTES);
        copyWeights(pw, i, len, sc, 4L * BLOCK * Float.BYTES);
      }
      total += kind == KIND_SIGMOID_FOCAL
          ? sigmoidFocalBlock(sc, len, coef, addInto, x, y, ahead, p0, p1, p2)
          : bceWithLogitsBlock(sc, len, coef, addInto, x, y, ahead,
              kind == KIND_BCE_LOGITS_WEIGHTED);
      if (grad != null) {
        MemorySegment.copy(sc, 0, grad, i * Float.BYTES, bytes);
      }
      if (loss != null) {
        MemorySegment.copy(sc, BLOCK * Float.BYTES, loss, i * Float.BYTES, bytes);
      }
      i += len;
    }
    if (kind != KIND_SIGMOID_FOCAL) {
      return total + TAIL.bceWithLogits(x, y, i, to, loss, grad, coef, acc, w, pw);
    }
    return total + TAIL.sigmoidFocal(x, y, i, to, loss, grad, coef, acc, p0, p1, p2);
  }

  /**
   * One block of BCE with logits in the scratch segment ({@link #blocks}): z at 0, y at BLOCK,
   * the gradient to add at 2·BLOCK when accumulating, and when {@code weighted} the weights at
   * 3·BLOCK and 4·BLOCK. Writes the gradient over z and the loss over y. The flag is loop
   * invariant: C2 unswitches the loop into an unweighted and a weighted copy (checked with -prof
   * gc: 0 B/op for both), so the unweighted case loads no weight and takes its gradient as
   * (σ − y)·coef. The exp is inline ({@link PanamaExp}: SVML's EXP is a call, and every vector
   * live across it goes through the stack).
   */
  private static double bceWithLogitsBlock(MemorySegment sc, int len, float coef, boolean acc,
      MemorySegment x, MemorySegment y, long aheadOff, boolean weighted) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    double redone = 0;
    int touched = 0;
    // losses are summed in float over runs of SUM_RUN vectors, each run's sum then in double:
    // widening every vector cost ~20 % of this loop, and a float sum of 16 terms per lane is
    // within 16 ulps (1e-6) of the sum of their magnitudes
    for (int run = 0; run < len; run += SUM_RUN * L) {
      FloatVector fs = FloatVector.zero(F);
      int runEnd = Math.min(len, run + SUM_RUN * L);
      for (int j = run; j < runEnd; j += L) {
        long ao = aheadOff + (long) j * Float.BYTES;
        touched += Float.floatToRawIntBits(x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, ao))
            ^ Float.floatToRawIntBits(y.get(ValueLayout.JAVA_FLOAT_UNALIGNED, ao));
        long zo = (long) j * Float.BYTES;
        long yo = zo + BLOCK * Float.BYTES;
        FloatVector z = FloatVector.fromMemorySegment(F, sc, zo, NATIVE);
        FloatVector t = FloatVector.fromMemorySegment(F, sc, yo, NATIVE);
        FloatVector a = z.lanewise(ABS);
        FloatVector na = a.neg();
        // e = exp(−|z|): PanamaExp.expNonPositive written out (a helper call boxes here)
        FloatVector nb = na.fma(PanamaSpecies.LOG2E, PanamaSpecies.MAGIC);
        FloatVector n = nb.sub(PanamaSpecies.MAGIC);
        FloatVector r = n.fma(PanamaSpecies.LN2_LO, n.fma(PanamaSpecies.LN2_HI, na));
        FloatVector p = r.fma(PanamaSpecies.P0, PanamaSpecies.P1).fma(r, PanamaSpecies.P2).fma(r, PanamaSpecies.P3)
            .fma(r, PanamaSpecies.P4).fma(r, PanamaSpecies.P5).fma(r, one).fma(r, one);
        FloatVector scale = nb.reinterpretAsInts().lanewise(LSHL, 23).reinterpretAsFloats();
        FloatVector e = p.mul(scale).mul(0x1p-24f).blend(0f, na.compare(LT, PanamaSpecies.CUTOFF));
        VectorMask<Float> nonNeg = z.compare(GE, 0f);
        FloatVector inv = one.div(e.add(1f)); // 1/(1 + e)
        FloatVector sig = e.mul(inv).blend(inv, nonNeg);
        // log1p(e) = 2·atanh(u), u = e/(2 + e) ≤ 1/3, by a minimax polynomial in u² (relative
        // error 4e-9 before rounding)
        FloatVector u = e.div(e.add(2f));
        FloatVector u2 = u.mul(u);
        FloatVector log1pE = u2.fma(ATANH4, ATANH3).fma(u2, ATANH2).fma(u2, ATANH1)
            .fma(u2, ATANH0).mul(u);
        FloatVector l;
        FloatVector g;
        if (weighted) {
          FloatVector wv =
              FloatVector.fromMemorySegment(F, sc, zo + 3L * BLOCK * Float.BYTES, NATIVE);
          FloatVector pt =
              FloatVector.fromMemorySegment(F, sc, zo + 4L * BLOCK * Float.BYTES, NATIVE).mul(t);
          FloatVector softplusNeg = log1pE.add(a.blend(0f, nonNeg)); // −ln σ(z)
          FloatVector softplusPos = log1pE.add(FloatVector.zero(F).blend(a, nonNeg));
          // w·[pw·t·softplus(−z) + (1 − t)·softplus(z)] with the weights applied to bounded
          // factors first: no cancellation, and no overflow unless the loss itself overflows
          l = wv.mul(pt).mul(softplusNeg).add(wv.mul(one.sub(t)).mul(softplusPos));
          g = pt.add(one).sub(t).mul(sig).sub(pt).mul(wv.mul(coef));
        } else {
          // t·softplus(−z) + (1 − t)·softplus(z) = log1p(e) + |z|·(z ≥ 0 ? 1 − t : t): both
          // terms non-negative for t in [0, 1]; ±∞ with t at 1 or 0 gives ∞·0 = NaN, as the
          // two-term form does
          l = a.mul(t.blend(one.sub(t), nonNeg)).add(log1pE);
          g = sig.sub(t).mul(coef);
        }
        fs = fs.add(l);
        l.intoMemorySegment(sc, yo, NATIVE);
        if (acc) {
          g = g.add(FloatVector.fromMemorySegment(F, sc, zo + 2L * BLOCK * Float.BYTES, NATIVE));
        }
        g.intoMemorySegment(sc, zo, NATIVE);
      }
      // a lane whose float sum overflowed (losses near 3e38) is summed again in double from
      // the stored losses; x − x is NaN exactly for ±∞ and NaN
      VectorMask<Float> redo = fs.sub(fs).compare(NE, 0f);
      FloatVector kept = fs.blend(0f, redo);
      s = s.add((DoubleVector) kept.convertShape(F2D, D, 0))
          .add((DoubleVector) kept.convertShape(F2D, D, 1));
      if (redo.anyTrue()) {
        redone += sumLanes(sc, BLOCK + run, runEnd - run, redo.toLong());
      }
    }
    if (touched == 0x7fc0_0001) { // keeps the reads; no sum of float bits is ever tested
      s = s.add(0.0);
    }
    return s.reduceLanes(ADD) + redone;
  }

  /**
   * Σ in double of the floats at {@code from + k} of {@code sc} (element index) for k in [0, n)
   * whose lane k mod L is set in {@code lanes}. Scalar: it runs only after a float overflow.
   */
  static double sumLanes(MemorySegment sc, int from, int n, long lanes) {
    double sum = 0;
    for (int k = 0; k < n; k++) {
      if ((lanes >>> (k % L) & 1) != 0) {
        sum += sc.getAtIndex(ValueLayout.JAVA_FLOAT, from + k);
      }
    }
    return sum;
  }

  @Override
  public double sigmoidFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0) {
    return blocks(KIND_SIGMOID_FOCAL, x, y, from, to, loss, grad, coef, acc, null, null, gamma,
        a1, a0);
  }

  /** One block of sigmoid focal loss in the scratch segment ({@link #blocks}). */
  private static double sigmoidFocalBlock(MemorySegment sc, int len, float coef, boolean acc,
      MemorySegment x, MemorySegment y, long aheadOff, float gamma, float a1, float a0) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    float zeroPow = gamma == 0 ? 1f : 0f;
    // γ = 2 (the default) is a multiplication; the flag is loop-invariant, so C2 unswitches the
    // loop into two copies and no vector phi survives (checked with -prof gc: 0 B/op)
    boolean square = gamma == 2f;
    DoubleVector s = DoubleVector.zero(D);
    int touched = 0;
    for (int j = 0; j < len; j += L) {
      long zo = (long) j * Float.BYTES;
      long yo = zo + BLOCK * Float.BYTES;
      long ao = aheadOff + zo;
      touched += Float.floatToRawIntBits(x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, ao))
          ^ Float.floatToRawIntBits(y.get(ValueLayout.JAVA_FLOAT_UNALIGNED, ao));
      FloatVector z = FloatVector.fromMemorySegment(F, sc, zo, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, sc, yo, NATIVE);
      FloatVector na = z.lanewise(ABS).neg();
      // e = exp(−|z|): PanamaExp.expNonPositive written out (a helper call boxes here)
      FloatVector nb = na.fma(PanamaSpecies.LOG2E, PanamaSpecies.MAGIC);
      FloatVector n = nb.sub(PanamaSpecies.MAGIC);
      FloatVector rr = n.fma(PanamaSpecies.LN2_LO, n.fma(PanamaSpecies.LN2_HI, na));
      FloatVector pp = rr.fma(PanamaSpecies.P0, PanamaSpecies.P1).fma(rr, PanamaSpecies.P2)
          .fma(rr, PanamaSpecies.P3).fma(rr, PanamaSpecies.P4).fma(rr, PanamaSpecies.P5).fma(rr, one)
          .fma(rr, one);
      FloatVector scale = nb.reinterpretAsInts().lanewise(LSHL, 23).reinterpretAsFloats();
      FloatVector e = pp.mul(scale).mul(0x1p-24f).blend(0f, na.compare(LT, PanamaSpecies.CUTOFF));
      FloatVector r = one.div(e.add(1f));
      FloatVector er = e.mul(r);
      VectorMask<Float> nonNeg = z.compare(GE, 0f);
      FloatVector p = er.blend(r, nonNeg);
      FloatVector pm = r.blend(er, nonNeg); // 1 − p without cancellation
      FloatVector u = one.sub(t);
      FloatVector uu = e.div(e.add(2f)); // log1p(e) by the atanh polynomial, as in BCE
      FloatVector u2 = uu.mul(uu);
      FloatVector log1pE = u2.fma(ATANH4, ATANH3).fma(u2, ATANH2).fma(u2, ATANH1)
          .fma(u2, ATANH0).mul(uu);
      // BCE with logits as t·softplus(−z) + (1−t)·softplus(z): non-negative terms only
      FloatVector ce = t.mul(log1pE.add(z.neg().max(0f))).add(u.mul(log1pE.add(z.max(0f))));
      FloatVector q = t.mul(pm).add(u.mul(p)); // 1 − p_t
      // q^γ as exp(γ·ln q): POW is not intrinsified on every CPU (it fell back and boxed on
      // AVX2); q = 0 gives exp(−∞) = 0, and for γ = 0 the blend restores 0^0 = 1
      FloatVector qg = square ? q.mul(q)
          : q.lanewise(LOG).mul(gamma).lanewise(EXP).blend(zeroPow, q.compare(EQ, 0f));
      FloatVector at = t.mul(a1).add(a0);
      // p(1−p)/(1−p_t) ≤ 1 replaces (1−p_t)^(γ−1), which is ∞ at saturation
      FloatVector ratio = p.mul(pm).div(q).blend(0f, q.compare(EQ, 0f));
      FloatVector l = at.mul(ce).mul(qg);
      // bounded factors first (ratio·qg ≤ 1): only a truly huge gradient can overflow
      // γ·(1 − 2t), not γ − 2γ·t: 2γ overflows for γ near Float.MAX_VALUE, and ∞·0 is NaN
      FloatVector focus = ratio.mul(qg).mul(one.sub(t.mul(2f)).mul(gamma)).mul(ce);
      FloatVector g = qg.mul(p.mul(u).sub(t.mul(pm))).add(focus).mul(at).mul(coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      l.intoMemorySegment(sc, yo, NATIVE);
      if (acc) {
        g = g.add(FloatVector.fromMemorySegment(F, sc, zo + 2L * BLOCK * Float.BYTES, NATIVE));
      }
      g.intoMemorySegment(sc, zo, NATIVE);
    }
    if (touched == 0x7fc0_0001) { // keeps the reads; no sum of float bits is ever tested
      s = s.add(0.0);
    }
    return s.reduceLanes(ADD);
  }

  @Override
  public double binaryFocal(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc,
      float gamma, float a1, float a0, float lo, float hi) {
    FloatVector one = FloatVector.broadcast(F, 1f);
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector p = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector pc = p.max(lo).min(hi);
      FloatVector u = one.sub(t);
      FloatVector qc = one.sub(pc);
      FloatVector pt = t.mul(pc).add(u.mul(qc));
      FloatVector om = t.mul(qc).add(u.mul(pc)); // 1 − p_t, ≥ lo > 0
      FloatVector lp = pt.lanewise(LOG);
      FloatVector qg = om.lanewise(LOG).mul(gamma).lanewise(EXP); // om > 0: see sigmoidFocal
      FloatVector at = t.mul(a1).add(a0);
      FloatVector l = at.mul(qg).mul(lp).neg();
      // (qg·γ)·ln p_t/(1 − p_t) − qg/p_t: qg·γ ≤ γ stays finite, and qg = 0 (a huge γ) gives 0
      // where γ·ln p_t would be −∞ and ∞·0 NaN
      FloatVector dpt = at.mul(qg.mul(gamma).mul(lp).div(om).sub(qg.div(pt)));
      FloatVector g = dpt.mul(t.mul(2f).sub(1f)).mul(coef)
          .blend(0f, p.compare(LT, lo).or(p.compare(GT, hi)));
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD)
        + TAIL.binaryFocal(x, y, i, to, loss, grad, coef, acc, gamma, a1, a0, lo, hi);
  }

  @Override
  public long firstNaN(MemorySegment x, long from, long to) {
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, i * Float.BYTES, NATIVE);
      if (v.compare(NE, v).anyTrue()) {
        break; // the scalar scan below names the lane
      }
    }
    return TAIL.firstNaN(x, i, to);
  }

  @Override
  public long firstNonFinite(MemorySegment x, long from, long to) {
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, i * Float.BYTES, NATIVE);
      if (v.sub(v).compare(NE, 0f).anyTrue()) { // x − x is NaN exactly for NaN and ±∞
        break;
      }
    }
    return TAIL.firstNonFinite(x, i, to);
  }

  @Override
  public long firstBad(MemorySegment x, MemorySegment y, MemorySegment g, long from, long to) {
    long i = from;
    long bound = from + F.loopBound(to - from);
    if (g == null) {
      for (; i < bound; i += L) {
        long off = i * Float.BYTES;
        FloatVector a = FloatVector.fromMemorySegment(F, x, off, NATIVE);
        FloatVector b = FloatVector.fromMemorySegment(F, y, off, NATIVE);
        if (a.add(b).compare(NE, a.add(b)).anyTrue()) { // NaN + anything is NaN
          break;
        }
      }
    } else {
      for (; i < bound; i += L) {
        long off = i * Float.BYTES;
        FloatVector a = FloatVector.fromMemorySegment(F, x, off, NATIVE);
        FloatVector b = FloatVector.fromMemorySegment(F, y, off, NATIVE);
        FloatVector c = FloatVector.fromMemorySegment(F, g, off, NATIVE);
        // a + b is NaN when an input is NaN (or +∞ meets −∞, which the scalar scan below
        // passes over), g − g exactly when g is NaN or ±∞
        FloatVector s = a.add(b).add(c.sub(c));
        if (s.compare(NE, s).anyTrue()) {
          break;
        }
      }
    }
    return TAIL.firstBad(x, y, g, i, to); // the scalar scan names the exact lane
  }

  @Override
  public void addInto(MemorySegment dst, MemorySegment src, long from, long to) {
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector.fromMemorySegment(F, dst, off, NATIVE)
          .add(FloatVector.fromMemorySegment(F, src, off, NATIVE)).intoMemorySegment(dst, off, NATIVE);
    }
    TAIL.addInto(dst, src, i, to);
  }

  @Override
  public double sumSquares(MemorySegment x, long from, long to) {
    // four independent double accumulators, so the fma latency chain does not bound the loop
    DoubleVector s0 = DoubleVector.zero(D);
    DoubleVector s1 = s0;
    DoubleVector s2 = s0;
    DoubleVector s3 = s0;
    long i = from;
    for (long bound = from + ((to - from) / (2L * L)) * (2L * L); i < bound; i += 2L * L) {
      FloatVector v = FloatVector.fromMemorySegment(F, x, i * Float.BYTES, NATIVE);
      FloatVector w = FloatVector.fromMemorySegment(F, x, (i + L) * Float.BYTES, NATIVE);
      DoubleVector a = (DoubleVector) v.convertShape(F2D, D, 0);
      DoubleVector b = (DoubleVector) v.convertShape(F2D, D, 1);
      DoubleVector c = (DoubleVector) w.convertShape(F2D, D, 0);
      DoubleVector d = (DoubleVector) w.convertShape(F2D, D, 1);
      s0 = a.fma(a, s0);
      s1 = b.fma(b, s1);
      s2 = c.fma(c, s2);
      s3 = d.fma(d, s3);
    }
    return s0.add(s1).add(s2.add(s3)).reduceLanes(ADD) + TAIL.sumSquares(x, i, to);
  }

  @Override
  public double klDiv(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc, boolean logTarget) {
    return logTarget
        ? klDivLogTarget(x, y, from, to, loss, grad, coef, acc)
        : klDivProb(x, y, from, to, loss, grad, coef, acc);
  }

  private static double klDivProb(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector lp = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector ylogy = t.mul(t.lanewise(LOG)).blend(0f, t.compare(EQ, 0f)); // 0·ln 0 = 0
      FloatVector l = ylogy.sub(t.mul(lp));
      FloatVector g = t.mul(-coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.klDiv(x, y, i, to, loss, grad, coef, acc, false);
  }

  private static double klDivLogTarget(MemorySegment x, MemorySegment y, long from, long to,
      MemorySegment loss, MemorySegment grad, float coef, boolean acc) {
    DoubleVector s = DoubleVector.zero(D);
    long i = from;
    for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
      long off = i * Float.BYTES;
      FloatVector lp = FloatVector.fromMemorySegment(F, x, off, NATIVE);
      FloatVector t = FloatVector.fromMemorySegment(F, y, off, NATIVE);
      FloatVector et = t.lanewise(EXP);
      FloatVector l = et.mul(t.sub(lp));
      FloatVector g = et.mul(-coef);
      s = s.add((DoubleVector) l.convertShape(F2D, D, 0)).add((DoubleVector) l.convertShape(F2D, D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, off, NATIVE);
      }
      if (grad != null) {
        if (acc) {
          g.add(FloatVector.fromMemorySegment(F, grad, off, NATIVE)).intoMemorySegment(grad, off, NATIVE);
        } else {
          g.intoMemorySegment(grad, off, NATIVE);
        }
      }
    }
    return s.reduceLanes(ADD) + TAIL.klDiv(x, y, i, to, loss, grad, coef, acc, true);
  }
}
