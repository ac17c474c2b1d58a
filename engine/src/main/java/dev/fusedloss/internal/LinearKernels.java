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
   * {@code z[off + j] += bias[biasOff + j]} (bias may be null), then, when {@code cap > 0},
   * {@code z ← cap·tanh(z/cap)}, for j &lt; n.
   */
  void biasCap(MemorySegment z, long off, int n, MemorySegment bias, long biasOff, float cap);

  /** The largest of {@code z[off, off + n)} (NaN if any is NaN), n ≥ 1. */
  float max(MemorySegment z, long off, int n);

  /** {@code Σ exp(z_j − m)} in double, for values ≤ m. */
  double sumExp(MemorySegment z, long off, int n, float m);

  /** {@code Σ z_j} in double. */
  double sum(MemorySegment z, long off, int n);

  /**
   * In place: {@code z_j ← a·exp(z_j − m) − b}, then times {@code 1 − (z_j/cap)²} (the soft cap's
   * derivative at the capped logit z_j) when {@code cap > 0}.
   */
  void softmaxGrad(MemorySegment z, long off, int n, float m, float a, float b, float cap);
}
