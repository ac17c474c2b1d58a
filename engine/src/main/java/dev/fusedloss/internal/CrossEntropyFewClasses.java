package dev.fusedloss.internal;

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
 * Plain cross entropy of rows with at most {@link #SMALL_C} classes, one row per vector lane; see
 * {@link #crossEntropySmall}.
 */
final class CrossEntropyFewClasses {
  private CrossEntropyFewClasses() {}

  /** Rows of at most this many classes take the row-per-lane path of plain cross entropy. */
  static final int SMALL_C = 32;

  /** GATHER[c][i] = i·c: lane i of a gather at column offset k reads element k of packed row i. */
  static final int[][] GATHER = new int[SMALL_C + 1][];
  /**
   * ROW_OF[c][j·L + l] = (j·L + l) / c: the row of lane l of packed vector j, so a vector holding
   * one value per row (lane = row) spreads over the packed layout with one rearrange.
   */
  @SuppressWarnings("unchecked")
  static final VectorShuffle<Float>[][] ROW_OF =
      (VectorShuffle<Float>[][]) new VectorShuffle<?>[SMALL_C + 1][];

  /**
   * UNGATHER[c][j·L + l] = (p mod c)·L + p / c with p = j·L + l: where the column layout holds
   * lane l of packed vector j, so a gather with it turns columns back into packed rows.
   */
  static final int[][] UNGATHER = new int[SMALL_C + 1][];

  static {
    for (int c = 1; c <= SMALL_C; c++) {
      UNGATHER[c] = new int[c * L];
      for (int p = 0; p < c * L; p++) {
        UNGATHER[c][p] = (p % c) * L + p / c;
      }
      GATHER[c] = new int[L];
      for (int i = 0; i < L; i++) {
        GATHER[c][i] = i * c;
      }
      ROW_OF[c] = shuffles(c);
      int[] row = new int[L];
      for (int j = 0; j < c; j++) {
        for (int l = 0; l < L; l++) {
          row[l] = (j * L + l) / c;
        }
        ROW_OF[c][j] = VectorShuffle.fromArray(F, row, 0);
      }
    }
  }

  @SuppressWarnings("unchecked")
  private static VectorShuffle<Float>[] shuffles(int n) {
    return (VectorShuffle<Float>[]) new VectorShuffle<?>[n];
  }

  /** Copies 2L rows from {@code rb} into a packed row-major array (one bulk copy if unpadded). */
  static void copyIn(MemorySegment x, long rb, long stride, int cls, float[] rows) {
    if (stride == cls) {
      MemorySegment.copy(x, JAVA_FLOAT_UNALIGNED, rb * stride * Float.BYTES, rows, 0, 2 * L * cls);
      return;
    }
    for (int i = 0; i < 2 * L; i++) {
      MemorySegment.copy(x, JAVA_FLOAT_UNALIGNED, (rb + i) * stride * Float.BYTES, rows, i * cls, cls);
    }
  }

  /** The inverse of {@link #copyIn}: packed rows back to the strided layout. */
  static void copyOut(float[] rows, MemorySegment out, long rb, long stride, int cls) {
    if (stride == cls) {
      MemorySegment.copy(rows, 0, out, JAVA_FLOAT_UNALIGNED, rb * stride * Float.BYTES, 2 * L * cls);
      return;
    }
    for (int i = 0; i < 2 * L; i++) {
      MemorySegment.copy(rows, i * cls, out, JAVA_FLOAT_UNALIGNED, (rb + i) * stride * Float.BYTES, cls);
    }
  }

  /**
   * The gradient of a block pair in its packed rows: exp(x − m)·coef/S, then −coef at each
   * target (ignored rows: exactly 0, even where the row holds NaN or ∞). The exponentials are
   * the ones {@link #pairSumExp} summed, gathered back from the column layout (a gather costs
   * less than recomputing an exp); each row's coef/S ({@code scale[b·L]} for block b) reaches
   * its lanes with one rearrange. Block b's vector j goes to {@code rows[b·cls·L + j·L]}.
   */
  static void smallGrad(PanamaScratch.FewClasses sc, int cls, float coef, int ignore) {
    float[] rows = sc.rows;
    VectorShuffle<Float>[] rowOf = ROW_OF[cls];
    int n = cls * L;
    int[] back = UNGATHER[cls];
    float[] col = sc.columns;
    FloatVector k = FloatVector.fromArray(F, sc.scale, 0);
    FloatVector k1 = FloatVector.fromArray(F, sc.scale, L);
    for (int j = 0; j < cls; j++) {
      VectorShuffle<Float> row = rowOf[j];
      FloatVector e = FloatVector.fromArray(F, col, 0, back, j * L);
      FloatVector e1 = FloatVector.fromArray(F, col, n, back, j * L);
      e.mul(k.rearrange(row)).intoArray(rows, j * L);
      e1.mul(k1.rearrange(row)).intoArray(rows, n + j * L);
    }
    for (int i = 0; i < 2 * L; i++) {
      if (sc.target[i] != ignore) {
        rows[i * cls + sc.target[i]] -= coef;
      } else {
        java.util.Arrays.fill(rows, i * cls, (i + 1) * cls, 0f);
      }
    }
  }

  /**
   * Σ_c exp(col − m) of both blocks of a pair, from the gathered columns and the maxima in
   * {@code sc.max}, into {@code sc.sum}; each exp(col − m) replaces its column for
   * {@link #smallGrad}. The two exponentials are written out by hand (see
   * {@link PanamaExp}): with two calls in this loop C2 inlined only the first, and the second
   * boxed its vectors (1.3 KB a pair).
   */
  static void pairSumExp(PanamaScratch.FewClasses sc, int cls) {
    float[] col = sc.columns;
    int n = cls * L;
    FloatVector m = FloatVector.fromArray(F, sc.max, 0);
    FloatVector m1 = FloatVector.fromArray(F, sc.max, L);
    FloatVector s = FloatVector.zero(F);
    FloatVector s1 = s;
    for (int c = 0; c < cls; c++) {
      FloatVector v = FloatVector.fromArray(F, col, c * L).sub(m);
      FloatVector v1 = FloatVector.fromArray(F, col, n + c * L).sub(m1);
      FloatVector nb = v.fma(LOG2E, MAGIC);
      FloatVector nb1 = v1.fma(LOG2E, MAGIC);
      FloatVector k = nb.sub(MAGIC);
      FloatVector k1 = nb1.sub(MAGIC);
      FloatVector r = k.fma(LN2_LO, k.fma(LN2_HI, v));
      FloatVector r1 = k1.fma(LN2_LO, k1.fma(LN2_HI, v1));
      FloatVector p = r.fma(P0, P1).fma(r, P2).fma(r, P3)
          .fma(r, P4).fma(r, P5).fma(r, ONE).fma(r, ONE);
      FloatVector p1 = r1.fma(P0, P1).fma(r1, P2)
          .fma(r1, P3).fma(r1, P4).fma(r1, P5)
          .fma(r1, ONE).fma(r1, ONE);
      FloatVector sc0 = nb.reinterpretAsInts().lanewise(LSHL, 23).reinterpretAsFloats();
      FloatVector sc1 = nb1.reinterpretAsInts().lanewise(LSHL, 23).reinterpretAsFloats();
      FloatVector e = p.mul(sc0).mul(0x1p-24f).blend(0f, v.compare(LT, CUTOFF));
      FloatVector e1 = p1.mul(sc1).mul(0x1p-24f).blend(0f, v1.compare(LT, CUTOFF));
      e.intoArray(col, c * L);
      e1.intoArray(col, n + c * L);
      s = s.add(e);
      s1 = s1.add(e1);
    }
    s.intoArray(sc.sum, 0);
    s1.intoArray(sc.sum, L);
  }

  /**
   * Plain cross entropy (no weight, smoothing, z-loss, soft cap or accumulation) of rows with
   * at most {@link #SMALL_C} classes: {@code pairs} pairs of blocks of L rows from {@code r0}.
   * A pair is bulk-copied into a per-thread packed scratch (2L rows of {@code cls} floats:
   * block b's rows are exactly {@code cls} vectors from {@code b·cls·L}). Gathers read each block
   * column by column, one row per lane, so the max, Σexp, log and loss of L rows are one vector
   * op each instead of two horizontal reductions and a scalar log per row. The gradient
   * {@code exp(x − m)·coef/S − coef·[c = t]} is then formed in the packed layout from the
   * summed exponentials, gathered back (see {@link #smallGrad}). Two blocks go through each
   * loop side by side: one block's steps are chains of dependent operations (gather, max, exp,
   * sum, log), and a second independent one fills the wait.
   */
  static double crossEntropySmall(MemorySegment x, MemorySegment targets, long stride, int cls,
      long r0, long pairs, MemorySegment loss, MemorySegment grad, float coef, int ignore, boolean int64) {
    PanamaScratch.FewClasses sc = PanamaScratch.FEW_CLASSES.get();
    float[] col = sc.columns;
    float[] rows = sc.rows;
    int[] gather = GATHER[cls];
    int n = cls * L;
    double total = 0;
    for (long b = 0; b < pairs; b++) {
      long rb = r0 + b * 2 * L;
      copyIn(x, rb, stride, cls, rows);
      FloatVector m = FloatVector.broadcast(F, NEG_INF);
      FloatVector m1 = m;
      for (int c = 0; c < cls; c++) {
        FloatVector v = FloatVector.fromArray(F, rows, c, gather, 0);
        FloatVector v1 = FloatVector.fromArray(F, rows, n + c, gather, 0);
        v.intoArray(col, c * L);
        v1.intoArray(col, n + c * L);
        m = m.lanewise(MAX, v);
        m1 = m1.lanewise(MAX, v1);
      }
      m.intoArray(sc.max, 0);
      m1.intoArray(sc.max, L);
      pairSumExp(sc, cls);
      FloatVector s = FloatVector.fromArray(F, sc.sum, 0);
      FloatVector s1 = FloatVector.fromArray(F, sc.sum, L);
      for (int i = 0; i < 2 * L; i++) {
        int t = RowArgs.target(targets, rb + i, int64);
        sc.target[i] = t;
        boolean skip = t == ignore;
        sc.ignored[i] = skip ? 1f : 0f;
        sc.targetLogit[i] = skip ? 0f : rows[i * cls + t];
      }
      VectorMask<Float> skip = FloatVector.fromArray(F, sc.ignored, 0).compare(NE, 0f);
      VectorMask<Float> skip1 = FloatVector.fromArray(F, sc.ignored, L).compare(NE, 0f);
      // (m − x_t) + log S: exact for huge logits, as in the per-row path
      FloatVector l = m.sub(FloatVector.fromArray(F, sc.targetLogit, 0)).add(s.lanewise(LOG))
          .blend(0f, skip);
      FloatVector l1 = m1.sub(FloatVector.fromArray(F, sc.targetLogit, L)).add(s1.lanewise(LOG))
          .blend(0f, skip1);
      if (loss != null) {
        // through a scratch and a bulk copy: a vector store into a heap lossOut (a caller's
        // MemorySegment.ofArray) made C2 box these vectors, 393 KB a call at 65536×10
        l.intoArray(sc.rowLoss, 0);
        l1.intoArray(sc.rowLoss, L);
        MemorySegment.copy(sc.rowLoss, 0, loss, JAVA_FLOAT_UNALIGNED, rb * Float.BYTES, 2 * L);
      }
      // a scalar running total: a vector carried across this loop boxed in some compilations
      total += ((DoubleVector) l.convertShape(F2D, D, 0))
          .add((DoubleVector) l.convertShape(F2D, D, 1))
          .add((DoubleVector) l1.convertShape(F2D, D, 0))
          .add((DoubleVector) l1.convertShape(F2D, D, 1)).reduceLanes(ADD);
      if (grad == null) {
        continue;
      }
      // per-row scale coef/S (0 for ignored rows), passed as scalars: a vector crossing the call
      // boxes
      FloatVector coefV = FloatVector.broadcast(F, coef);
      coefV.div(s).blend(0f, skip).intoArray(sc.scale, 0);
      coefV.div(s1).blend(0f, skip1).intoArray(sc.scale, L);
      smallGrad(sc, cls, coef, ignore);
      copyOut(rows, grad, rb, stride, cls);
    }
    return total;
  }
}
