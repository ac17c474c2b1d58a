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

  @Override
  public void biasCap(MemorySegment z, long off, int n, MemorySegment bias, long biasOff,
      float cap) {
    for (int j = 0; j < n; j++) {
      float v = z.getAtIndex(F32, off + j);
      if (bias != null) {
        v += bias.getAtIndex(F32, biasOff + j);
      }
      if (cap > 0) {
        v = (float) (cap * Math.tanh((double) v / cap));
      }
      z.setAtIndex(F32, off + j, v);
    }
  }

  @Override
  public float max(MemorySegment z, long off, int n) {
    float m = Float.NEGATIVE_INFINITY;
    for (int j = 0; j < n; j++) {
      m = Math.max(m, z.getAtIndex(F32, off + j));
    }
    return m;
  }

  @Override
  public double sumExp(MemorySegment z, long off, int n, float m) {
    double s = 0;
    for (int j = 0; j < n; j++) {
      s += Math.exp((double) z.getAtIndex(F32, off + j) - m);
    }
    return s;
  }

  @Override
  public double sum(MemorySegment z, long off, int n) {
    double s = 0;
    for (int j = 0; j < n; j++) {
      s += z.getAtIndex(F32, off + j);
    }
    return s;
  }

  @Override
  public void softmaxGrad(MemorySegment z, long off, int n, float m, float a, float b, float cap) {
    for (int j = 0; j < n; j++) {
      float v = z.getAtIndex(F32, off + j);
      float g = a * (float) Math.exp(v - m) - b;
      if (cap > 0) {
        float u = v / cap;
        g *= 1f - u * u;
      }
      z.setAtIndex(F32, off + j, g);
    }
  }
}
