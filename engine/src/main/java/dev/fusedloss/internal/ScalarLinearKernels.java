package dev.fusedloss.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** The plain loops: a triple-loop product (fused multiply-adds in p order) and scalar sweeps. */
final class ScalarLinearKernels implements LinearKernels {
  static final ScalarLinearKernels INSTANCE = new ScalarLinearKernels();
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

  @Override
  public void gemm(int m, int n, int k, MemorySegment a, long aOff, long ars, long acs,
      MemorySegment b, long bOff, long ldb, MemorySegment c, long cOff, long ldc, boolean acc) {
    for (int i = 0; i < m; i++) {
      long ai = aOff + i * ars;
      long ci = cOff + i * ldc;
      for (int j = 0; j < n; j++) {
        float s = acc ? c.getAtIndex(F32, ci + j) : 0f;
        for (int p = 0; p < k; p++) {
          s = Math.fma(a.getAtIndex(F32, ai + p * acs), b.getAtIndex(F32, bOff + p * ldb + j), s);
        }
        c.setAtIndex(F32, ci + j, s);
      }
    }
  }

  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;

  @Override
  public void tileBiasCap(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment bias,
      long biasOff, float cap) {
    for (int j = 0; j < vt; j++) {
      float bj = bias == null ? 0f : bias.getAtIndex(F32, biasOff + j);
      for (int c = 0; c < n; c++) {
        long o = zOff + j * ld + c;
        float v = z.getAtIndex(F32, o) + bj;
        if (cap > 0) {
          v = (float) (cap * Math.tanh((double) v / cap));
        }
        z.setAtIndex(F32, o, v);
      }
    }
  }

  @Override
  public void tileStats(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment m,
      MemorySegment se, MemorySegment zs, long at) {
    for (int c = 0; c < n; c++) {
      float old = m.getAtIndex(F32, at + c);
      float mx = Float.NEGATIVE_INFINITY;
      double sz = 0;
      for (int j = 0; j < vt; j++) {
        float v = z.getAtIndex(F32, zOff + j * ld + c);
        mx = Float.isNaN(v) || Float.isNaN(mx) ? Float.NaN : Math.max(mx, v);
        sz += v;
      }
      float mNew = Float.isNaN(old) || Float.isNaN(mx) ? Float.NaN : Math.max(old, mx);
      double s = rescale(se.getAtIndex(F64, at + c), old, mNew);
      if (mNew != Float.NEGATIVE_INFINITY) {
        for (int j = 0; j < vt; j++) {
          s += Math.exp((double) z.getAtIndex(F32, zOff + j * ld + c) - mNew);
        }
      }
      m.setAtIndex(F32, at + c, mNew);
      se.setAtIndex(F64, at + c, s);
      if (zs != null) {
        zs.setAtIndex(F64, at + c, zs.getAtIndex(F64, at + c) + sz);
      }
    }
  }

  /** A running sum of exponentials after the max moves from {@code old} to {@code m}. */
  static double rescale(double se, float old, float m) {
    if (Float.isNaN(m)) {
      return Double.NaN;
    }
    return old == Float.NEGATIVE_INFINITY ? 0 : old == m ? se : se * Math.exp((double) old - m);
  }

  @Override
  public void tileGrad(MemorySegment z, long zOff, long ld, int vt, int n, MemorySegment m,
      MemorySegment a, MemorySegment b, long at, float cap) {
    for (int c = 0; c < n; c++) {
      float mc = m.getAtIndex(F32, at + c);
      float ac = a.getAtIndex(F32, at + c);
      float bc = b.getAtIndex(F32, at + c);
      for (int j = 0; j < vt; j++) {
        long o = zOff + j * ld + c;
        float v = z.getAtIndex(F32, o);
        float g = ac * (float) Math.exp(v - mc) - bc;
        if (cap > 0) {
          float u = v / cap;
          g *= 1f - u * u;
        }
        z.setAtIndex(F32, o, g);
      }
    }
  }

  @Override
  public double sum(MemorySegment z, long off, int n) {
    double s = 0;
    for (int j = 0; j < n; j++) {
      s += z.getAtIndex(F32, off + j);
    }
    return s;
  }
}
