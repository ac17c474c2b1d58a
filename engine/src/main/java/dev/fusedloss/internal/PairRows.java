package dev.fusedloss.internal;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;

/**
 * Row loops of the embedding losses (cosine embedding, triplet margin): each row's distances come
 * from {@link PairKernels} reductions over its {@code dim} floats, then its gradients are written
 * as scaled combinations of the rows (every row is read a few times while it is in cache).
 */
public final class PairRows {
  /** PyTorch's cosine_embedding_loss adds this to each squared magnitude. */
  static final double COSINE_EMBEDDING_EPS = 1e-12;
  /** PyTorch's cosine_similarity clamps each norm to at least this. */
  static final double COSINE_SIMILARITY_EPS = 1e-8;

  private final PairKernels k;

  public PairRows(PairKernels k) {
    this.k = k;
  }

  private static float get(MemorySegment s, long i) {
    return s.get(JAVA_FLOAT_UNALIGNED, i * Float.BYTES);
  }

  /** Cosine embedding rows [from, to): returns the sum of the row losses. */
  public double cosineEmbedding(MemorySegment x1, MemorySegment x2, MemorySegment y, long dim,
      long from, long to, float margin, MemorySegment lossOut, MemorySegment g1,
      MemorySegment g2, float coef, boolean acc) {
    double sum = 0;
    for (long r = from; r < to; r++) {
      long o = r * dim;
      double ab = (float) k.dot(x1, o, x2, o, dim);
      double aa = (float) k.dot(x1, o, x1, o, dim) + COSINE_EMBEDDING_EPS;
      double bb = (float) k.dot(x2, o, x2, o, dim) + COSINE_EMBEDDING_EPS;
      double denom = Math.sqrt(aa * bb);
      double cos = ab / denom;
      float t = get(y, r);
      double l = 0;
      double s = 0; // ∂ℓ/∂cos
      if (t == 1) {
        l = 1 - cos;
        s = -1;
      } else if (t == -1) {
        double z = cos - margin;
        l = Math.max(0, z);
        s = z >= 0 ? 1 : 0;
      }
      float lf = (float) l;
      if (lossOut != null) {
        lossOut.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, lf);
      }
      sum += lf;
      double c = coef * s;
      // ∂cos/∂x1 = x2/denom − cos·x1/aa, and symmetrically for x2
      if (g1 != null && g2 != null && s != 0) { // both in one pass over the rows
        k.combinePair(g1, g2, x1, x2, o, dim, (float) (-c * cos / aa), (float) (c / denom),
            (float) (-c * cos / bb), (float) (c / denom), acc);
        continue;
      }
      if (g1 != null) {
        rowGrad(g1, o, x1, (float) (-c * cos / aa), x2, (float) (c / denom), dim, s == 0, acc);
      }
      if (g2 != null) {
        rowGrad(g2, o, x2, (float) (-c * cos / bb), x1, (float) (c / denom), dim, s == 0, acc);
      }
    }
    return sum;
  }

  /** out (+)= ca·a + cb·b over one row; a row without gradient is zeroed (or left, accumulating). */
  private void rowGrad(MemorySegment out, long o, MemorySegment a, float ca, MemorySegment b,
      float cb, long dim, boolean none, boolean acc) {
    if (none) {
      if (!acc) {
        Args.zero(out, o, dim);
      }
      return;
    }
    k.combine(out, o, a, o, ca, b, o, cb, dim, acc);
  }

  /** A triplet distance: the p-norm of {@code a − b + eps}, or 1 − cosine similarity. */
  public record Distance(boolean cosine, float p, float eps) {}

  /** d(a, b) of rows at offset o. */
  double distance(Distance d, MemorySegment a, MemorySegment b, long o, long dim) {
    if (d.cosine) {
      double ab = (float) k.dot(a, o, b, o, dim);
      double na = Math.max(Math.sqrt((float) k.dot(a, o, a, o, dim)), COSINE_SIMILARITY_EPS);
      double nb = Math.max(Math.sqrt((float) k.dot(b, o, b, o, dim)), COSINE_SIMILARITY_EPS);
      return 1 - ab / (na * nb);
    }
    double s = (float) k.distance(a, o, b, o, dim, d.eps, d.p);
    return d.p == 2 ? Math.sqrt(s) : d.p == 1 ? s : Math.pow(s, 1 / (double) d.p);
  }

  /**
   * out (+)= c·∂d(a, b)/∂a (c·∂d(a, b)/∂b when {@code second}); {@code dist} is d(a, b). A p-norm
   * of 0 has gradient 0 (as PyTorch's norm backward). Returns whether {@code out} now holds a
   * value to add to: {@code acc} when the term is zero and nothing was written, else true.
   */
  boolean distanceGrad(Distance d, MemorySegment out, MemorySegment a, MemorySegment b, long o,
      long dim, double dist, double c, boolean second, boolean acc) {
    if (c == 0 || out == null) {
      return acc;
    }
    if (d.cosine) {
      MemorySegment u = second ? b : a;
      MemorySegment v = second ? a : b;
      double uv = (float) k.dot(u, o, v, o, dim);
      double nu2 = (float) k.dot(u, o, u, o, dim);
      double nu = Math.sqrt(nu2);
      double nv = Math.max(Math.sqrt((float) k.dot(v, o, v, o, dim)), COSINE_SIMILARITY_EPS);
      // d = 1 − uv/(max(‖u‖, ε)·‖v‖'); a clamped norm is a constant
      double cu = nu > COSINE_SIMILARITY_EPS ? c * uv / (nu2 * nu * nv) : 0;
      double cv = -c / (Math.max(nu, COSINE_SIMILARITY_EPS) * nv);
      k.combine(out, o, u, o, (float) cu, v, o, (float) cv, dim, acc);
      return true;
    }
    if (dist == 0) {
      return acc;
    }
    double scale = d.p == 2 ? 1 / dist : d.p == 1 ? 1 : 1 / Math.pow(dist, d.p - 1);
    k.distanceGrad(out, o, a, o, b, o, dim, d.eps, d.p, (float) (second ? -c * scale : c * scale),
        acc);
    return true;
  }

  /** Triplet rows [from, to): returns the sum of the row losses. */
  public double triplet(Distance d, float margin, boolean swap, MemorySegment an,
      MemorySegment po, MemorySegment ne, long dim, long from, long to, MemorySegment lossOut,
      MemorySegment ga, MemorySegment gp, MemorySegment gn, float coef, boolean acc) {
    double sum = 0;
    for (long r = from; r < to; r++) {
      long o = r * dim;
      double dPos = distance(d, an, po, o, dim);
      double dNeg = distance(d, an, ne, o, dim);
      double dSwap = swap ? distance(d, po, ne, o, dim) : Double.NaN;
      // torch.min's gradient: to the smaller, halved on a tie
      double wNeg = 1;
      double wSwap = 0;
      double neg = dNeg;
      if (swap) {
        if (dSwap < dNeg) {
          wNeg = 0;
          wSwap = 1;
          neg = dSwap;
        } else if (dSwap == dNeg) {
          wNeg = 0.5;
          wSwap = 0.5;
        } else if (Double.isNaN(dSwap)) {
          neg = dSwap;
        }
      }
      double z = margin + dPos - neg;
      float lf = (float) Math.max(0, z);
      if (lossOut != null) {
        lossOut.set(JAVA_FLOAT_UNALIGNED, r * Float.BYTES, lf);
      }
      sum += lf;
      double c = z >= 0 ? coef : 0;
      if (c != 0 && !d.cosine && d.p == 2 && wSwap == 0 && dPos > 0 && dNeg > 0) {
        // the common case, 2-norms without the swap taken: all three gradients in one pass
        k.tripletGrad(an, po, ne, o, dim, d.eps, (float) (c / dPos), (float) (c * wNeg / dNeg),
            ga, gp, gn, acc);
        continue;
      }
      // the first term written overwrites (unless accumulating), later ones add; a gradient
      // row no term reached is zeroed
      boolean wa = distanceGrad(d, ga, an, po, o, dim, dPos, c, false, acc);
      wa = distanceGrad(d, ga, an, ne, o, dim, dNeg, -c * wNeg, false, wa);
      boolean wp = distanceGrad(d, gp, an, po, o, dim, dPos, c, true, acc);
      wp = distanceGrad(d, gp, po, ne, o, dim, dSwap, -c * wSwap, false, wp);
      boolean wn = distanceGrad(d, gn, an, ne, o, dim, dNeg, -c * wNeg, true, acc);
      wn = distanceGrad(d, gn, po, ne, o, dim, dSwap, -c * wSwap, true, wn);
      zeroUnless(wa, ga, o, dim);
      zeroUnless(wp, gp, o, dim);
      zeroUnless(wn, gn, o, dim);
    }
    return sum;
  }

  private static void zeroUnless(boolean written, MemorySegment s, long o, long dim) {
    if (!written && s != null) {
      Args.zero(s, o, dim);
    }
  }
}
