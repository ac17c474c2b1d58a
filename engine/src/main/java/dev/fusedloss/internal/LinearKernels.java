package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;

/**
 * The matrix product and the row sweeps of the fused linear + cross entropy, on float32
 * segments. Offsets and strides count floats.
 */
public interface LinearKernels {
  /**
   * {@code C[i][j] = (acc ? C[i][j] : 0) + Σ_p A(i, p)·B[p][j]} for i &lt; m, j &lt; n, p &lt; k,
   * where {@code A(i, p) = a[aOff + i·ars + p·acs]} (so a transposed A is a stride swap),
   * {@code B[p][j] = b[bOff + p·ldb + j]} and {@code C[i][j] = c[cOff + i·ldc + j]}. Each
   * element is one chain of fused multiply-adds in p order, so splitting the rows or columns of
   * a call between threads does not change any bit.
   */
  void gemm(int m, int n, int k, MemorySegment a, long aOff, long ars, long acs,
      MemorySegment b, long bOff, long ldb, MemorySegment c, long cOff, long ldc, boolean acc);

  /**
   * The column sweeps of a logits tile held transposed, {@code z[j][c] = z[zOff + j·ld + c]} for
   * vocabulary entries j &lt; vt and rows c &lt; n of the batch (each row one lane): adds
   * {@code bias[biasOff + j]} (bias may be null) and applies the soft cap when {@code cap > 0}.
   */
  void tileBiasCap(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment bias,
      long biasOff, float cap);

  /**
   * Folds a tile into each row's running statistics (arrays indexed from {@code at}): max
   * {@code m} (float), sum of exponentials {@code se} (double, rescaled when the max grows) and,
   * when {@code zs} is non-null, the sum of logits (double).
   */
  void tileStats(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment m,
      MemorySegment se, MemorySegment zs, long at);

  /**
   * In place: {@code z[j][c] ← a_c·exp(z[j][c] − m_c) − b_c}, times {@code 1 − (z/cap)²} at the
   * capped logit when {@code cap > 0} (m, a, b float arrays indexed from {@code at}).
   */
  void tileGrad(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment m,
      MemorySegment a, MemorySegment b, long at, float cap);

  /** {@code Σ z[off, off + n)} in double, in a fixed order. */
  double sum(MemorySegment z, long off, int n);
}
