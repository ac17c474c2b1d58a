package dev.fusedloss.internal;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/**
 * CTC's forward-backward over one sequence's label lattice, in log space and double precision
 * (PyTorch's CPU algorithm: α and β both include the emission at t). Scratch is per thread and
 * grows to the largest lattice seen.
 */
public final class CtcLattice {
  private static final ThreadLocal<CtcLattice> LOCAL = ThreadLocal.withInitial(CtcLattice::new);
  private static final double NEG_INF = Double.NEGATIVE_INFINITY;

  private double[] alpha = new double[0];
  private double[] beta = new double[0];
  private double[] perClass = new double[0];
  private int[] labels = new int[0];

  private CtcLattice() {}

  public static CtcLattice get() {
    return LOCAL.get();
  }

  /** log(exp(a) + exp(b)) without overflow; −∞ stays −∞. */
  static double lse(double a, double b) {
    if (a == NEG_INF) {
      return b;
    }
    if (b == NEG_INF) {
      return a;
    }
    double m = Math.max(a, b);
    return m + Math.log1p(Math.exp(-Math.abs(a - b)));
  }

  /**
   * The negative log likelihood of sequence {@code n}, and (when {@code grad} is non-null)
   * {@code gscale·(exp(lp) − exp(log Σ_{s: l'(s)=c} αβ + nll − lp))} for its {@code t < tn}
   * (PyTorch's gradient, that of the logits under a log-softmax) and 0 for {@code t ≥ tn}; with
   * {@code zeroInfinity} an infinite loss gives 0 and a zero gradient.
   *
   * @param lp log-probabilities [T, N, C]
   * @param targets the sequence's labels at element {@code tOff} ({@code tl} of them)
   */
  public double sequence(MemorySegment lp, long bigT, long batch, int classes, long n, int tn,
      MemorySegment targets, long tOff, boolean int64, int tl, int blank, boolean zeroInfinity,
      MemorySegment grad, float gscale, boolean acc) {
    int s = 2 * tl + 1;
    ensure((long) Math.max(tn, 1) * s, classes, tl);
    for (int j = 0; j < tl; j++) {
      labels[j] = (int) RowArgs.rawTarget(targets, tOff + j, int64);
    }
    double nll;
    if (tn == 0) {
      nll = tl == 0 ? 0 : Double.POSITIVE_INFINITY;
    } else {
      forward(lp, batch, classes, n, tn, s, blank);
      long last = (long) (tn - 1) * s;
      double ll = alpha[(int) (last + s - 1)];
      if (tl > 0) {
        ll = lse(ll, alpha[(int) (last + s - 2)]);
      }
      nll = -ll;
    }
    boolean zeroed = zeroInfinity && nll == Double.POSITIVE_INFINITY;
    if (grad != null) {
      if (zeroed || tn == 0) {
        for (long t = 0; t < bigT; t++) {
          store(grad, (t * batch + n) * classes, classes, acc);
        }
      } else {
        backward(lp, batch, classes, n, tn, s, blank);
        gradient(lp, bigT, batch, classes, n, tn, s, blank, nll, grad, gscale, acc);
      }
    }
    return zeroed ? 0 : nll;
  }

  private static void store(MemorySegment grad, long off, int classes, boolean acc) {
    if (!acc) {
      Args.zero(grad, off, classes);
    }
  }

  private int label(int s, int blank) {
    return (s & 1) == 0 ? blank : labels[s >> 1];
  }

  private static double lp(MemorySegment lp, long t, long batch, int classes, long n, int c) {
    return lp.get(JAVA_FLOAT_UNALIGNED, ((t * batch + n) * classes + c) * Float.BYTES);
  }

  private void forward(MemorySegment lp, long batch, int classes, long n, int tn, int s,
      int blank) {
    for (int i = 0; i < s; i++) {
      alpha[i] = NEG_INF;
    }
    alpha[0] = lp(lp, 0, batch, classes, n, blank);
    if (s > 1) {
      alpha[1] = lp(lp, 0, batch, classes, n, labels[0]);
    }
    for (int t = 1; t < tn; t++) {
      int prev = (t - 1) * s;
      int cur = t * s;
      for (int i = 0; i < s; i++) {
        int c = label(i, blank);
        double a = alpha[prev + i];
        if (i > 0) {
          a = lse(a, alpha[prev + i - 1]);
        }
        if (i > 1 && c != blank && c != label(i - 2, blank)) {
          a = lse(a, alpha[prev + i - 2]);
        }
        alpha[cur + i] = a == NEG_INF ? NEG_INF : a + lp(lp, t, batch, classes, n, c);
      }
    }
  }

  private void backward(MemorySegment lp, long batch, int classes, long n, int tn, int s,
      int blank) {
    int last = (tn - 1) * s;
    for (int i = 0; i < s; i++) {
      beta[last + i] = NEG_INF;
    }
    beta[last + s - 1] = lp(lp, tn - 1, batch, classes, n, blank);
    if (s > 1) {
      beta[last + s - 2] = lp(lp, tn - 1, batch, classes, n, labels[(s - 2) >> 1]);
    }
    for (int t = tn - 2; t >= 0; t--) {
      int next = (t + 1) * s;
      int cur = t * s;
      for (int i = 0; i < s; i++) {
        int c = label(i, blank);
        double b = beta[next + i];
        if (i < s - 1) {
          b = lse(b, beta[next + i + 1]);
        }
        if (i < s - 2 && c != blank && c != label(i + 2, blank)) {
          b = lse(b, beta[next + i + 2]);
        }
        beta[cur + i] = b == NEG_INF ? NEG_INF : b + lp(lp, t, batch, classes, n, c);
      }
    }
  }

  private void gradient(MemorySegment lp, long bigT, long batch, int classes, long n, int tn,
      int s, int blank, double nll, MemorySegment grad, float gscale, boolean acc) {
    for (long t = 0; t < bigT; t++) {
      long off = (t * batch + n) * classes;
      if (t >= tn) {
        store(grad, off, classes, acc);
        continue;
      }
      for (int c = 0; c < classes; c++) {
        perClass[c] = NEG_INF;
      }
      int row = (int) t * s;
      for (int i = 0; i < s; i++) {
        int c = label(i, blank);
        perClass[c] = lse(perClass[c], alpha[row + i] + beta[row + i]);
      }
      for (int c = 0; c < classes; c++) {
        double l = lp.get(JAVA_FLOAT_UNALIGNED, (off + c) * Float.BYTES);
        float g = (float) ((Math.exp(l) - Math.exp(perClass[c] + nll - l)) * gscale);
        if (acc) {
          g += grad.get(JAVA_FLOAT_UNALIGNED, (off + c) * Float.BYTES);
        }
        grad.set(JAVA_FLOAT_UNALIGNED, (off + c) * Float.BYTES, g);
      }
    }
  }

  private void ensure(long lattice, int classes, int tl) {
    if (lattice > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("the CTC lattice of input length × (2·target length + 1)"
          + " = " + lattice + " exceeds 2^31 entries");
    }
    if (alpha.length < lattice) {
      alpha = new double[(int) lattice];
      beta = new double[(int) lattice];
    }
    if (perClass.length < classes) {
      perClass = new double[classes];
    }
    if (labels.length < tl) {
      labels = new int[tl];
    }
  }
}
