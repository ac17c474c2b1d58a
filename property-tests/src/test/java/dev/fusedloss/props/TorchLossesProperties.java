package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.CTCLoss;
import dev.fusedloss.ClassIndexType;
import dev.fusedloss.CosineEmbeddingLoss;
import dev.fusedloss.GaussianNLLLoss;
import dev.fusedloss.MarginRankingLoss;
import dev.fusedloss.MultiLabelMarginLoss;
import dev.fusedloss.MultiLabelSoftMarginLoss;
import dev.fusedloss.MultiMarginLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.TripletMarginLoss;
import dev.fusedloss.TripletMarginWithDistanceLoss;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The multi-input and row losses (margin ranking, cosine embedding, triplet margin with p-norms
 * and the cosine distance, Gaussian NLL with per-element and shared variances, multi-label soft
 * margin, multi-margin, multi-label margin, CTC) against an independent double-precision oracle
 * of their per-item losses, PyTorch's formulas written out plainly (CTC by enumerating every
 * alignment of short sequences). Every reduction, random shapes crossing the vector width, a
 * gradient scale of either sign, accumulation and per-item losses.
 *
 * <p>Gradients are checked against central finite differences of the oracle's reduced loss in
 * double (so no hand-derived gradient is trusted): {@code |got − fd| ≤ 1e-3·|fd| + 1e-4·s}, s the
 * largest |fd| of the call (≥ 1). A float32 gradient is within ~1e-6 relative of the truth; the
 * difference quotient (step 1e-4 relative, error O(h²)) within ~1e-7; the bound is far below any
 * formula mistake (a wrong factor, sign or branch is an O(1) error). Coordinates where the step
 * crosses a hinge's kink (the quotients at h and h/2 disagree) are skipped.
 */
class TorchLossesProperties {
  /** One loss configuration: its oracle and its call. */
  interface Case {
    /** The differentiable inputs, each flat. */
    float[][] inputs();

    /** Per-item losses in double (items: elements, rows or sequences). */
    double[] items(double[][] in);

    /** The reduction of the items as the loss defines it. */
    default double reduce(double[] items, Reduction r, double meanCount) {
      double s = 0;
      for (double v : items) {
        s += v;
      }
      return r == Reduction.MEAN ? s / meanCount : s;
    }

    /** MEAN's divisor. */
    double meanCount();

    /**
     * The magnitude each item's float32 value is computed from (its error scales with it), or
     * null when that is the item itself: a triplet's hinge subtracts two distances, each a
     * float32 sum over the row, so its error is relative to the distances, not to the result.
     */
    default double[] itemScales(double[][] in) {
      return null;
    }

    /** The fusedloss call: fills lossOut (NONE) and grads, returns the reduced loss. */
    double call(Reduction r, MemorySegment[] in, MemorySegment lossOut, MemorySegment[] grads,
        float gradScale, boolean acc);
  }

  static final Reduction[] REDUCTIONS = {Reduction.MEAN, Reduction.SUM, Reduction.NONE};

  @TestFactory
  Stream<DynamicTest> matchesOracle() {
    String[] names = {"marginRanking", "cosineEmbedding", "triplet(p=2)", "triplet(p=1,swap)",
        "triplet(p=3)", "tripletCosine(swap)", "gaussian", "gaussianShared",
        "multiLabelSoftMargin", "multiMargin(p=1)", "multiMargin(p=2,w)", "multiLabelMargin",
        "ctc"};
    return Stream.of(names).flatMap(name -> Stream.of(REDUCTIONS).map(r ->
        DynamicTest.dynamicTest(name + " " + r, () -> qt().withExamples(Seeds.examples(25))
            .withFixedSeed(Seeds.seed())
            .forAll(integers().between(0, 40), longs().all(), integers().between(0, 63))
            .checkAssert((size, seed, flags) -> check(make(name, size, seed), r, seed, flags,
                name + " " + r + " size=" + size + " seed=" + seed + " flags=" + flags)))));
  }

  static void check(Case c, Reduction r, long seed, int flags, String ctx) {
    float[][] in = c.inputs();
    float gradScale = new float[] {1f, -2.5f, 0.5f, 1e-3f}[flags & 3];
    boolean acc = (flags & 4) != 0;
    SplittableRandom rnd = new SplittableRandom(seed ^ 77);
    double[][] din = new double[in.length][];
    for (int k = 0; k < in.length; k++) {
      din[k] = widen(in[k]);
    }
    double[] items = c.items(din);
    double want = c.reduce(items, r, c.meanCount());
    MemorySegment[] segs = new MemorySegment[in.length];
    MemorySegment[] grads = new MemorySegment[in.length];
    float[][] g = new float[in.length][];
    float[][] g0 = new float[in.length][];
    for (int k = 0; k < in.length; k++) {
      segs[k] = MemorySegment.ofArray(in[k].clone());
      g[k] = new float[in[k].length];
      if (acc) {
        for (int i = 0; i < g[k].length; i++) {
          g[k][i] = (float) rnd.nextGaussian();
        }
      }
      g0[k] = g[k].clone();
      grads[k] = MemorySegment.ofArray(g[k]);
    }
    float[] out = r == Reduction.NONE ? new float[items.length] : null;
    double got = c.call(r, segs, out == null ? null : MemorySegment.ofArray(out), grads,
        gradScale, acc);
    double[] scales = c.itemScales(din);
    if (scales == null) {
      String m = Tolerance.compare(got, want, Math.max(1, Math.abs(want)));
      assertTrue(m == null, ctx + " value: " + m);
      if (out != null) {
        Tolerance.assertVector(ctx + " losses", out, items);
      }
    } else {
      double total = c.reduce(scales, r, c.meanCount());
      assertTrue(Math.abs(got - want) <= Tolerance.RTOL * Math.max(1, total), ctx + " value: got "
          + got + ", want " + want + " (scale " + total + ")");
      for (int i = 0; out != null && i < items.length; i++) {
        assertTrue(Math.abs(out[i] - items[i]) <= Tolerance.RTOL * Math.max(1, scales[i]), ctx
            + " loss " + i + ": got " + out[i] + ", want " + items[i]);
      }
    }
    for (int k = 0; k < in.length; k++) {
      assertTrue(Arrays.equals(in[k], segs[k].toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT)),
          ctx + " input " + k + " changed");
    }
    // gradients against finite differences of the oracle's reduced loss
    for (int k = 0; k < in.length; k++) {
      int n = in[k].length;
      int[] coords = new int[Math.min(n, 12)];
      for (int i = 0; i < coords.length; i++) {
        coords[i] = n <= 12 ? i : rnd.nextInt(n);
      }
      double[] fd = new double[coords.length];
      boolean[] kink = new boolean[coords.length];
      double s = 1;
      for (int i = 0; i < coords.length; i++) {
        double h = 1e-4 * Math.max(1, Math.abs(din[k][coords[i]]));
        double d1 = quotient(c, din, k, coords[i], h, r);
        double d2 = quotient(c, din, k, coords[i], h / 2, r);
        kink[i] = !(Math.abs(d1 - d2) <= 1e-5 * Math.max(1, Math.abs(d1)));
        fd[i] = (4 * d2 - d1) / 3; // Richardson: O(h⁴)
        if (!kink[i] && Double.isFinite(fd[i])) {
          s = Math.max(s, Math.abs(fd[i]));
        }
      }
      for (int i = 0; i < coords.length; i++) {
        if (kink[i] || !Double.isFinite(fd[i])) {
          continue;
        }
        double expect = g0[k][coords[i]] + gradScale * fd[i];
        double gotG = g[k][coords[i]];
        double tol = 1e-3 * Math.abs(gradScale * fd[i]) + 1e-4 * Math.abs(gradScale) * s
            + (acc ? 1e-6 * Math.abs(g0[k][coords[i]]) : 0);
        assertTrue(Math.abs(gotG - expect) <= tol, ctx + " grad of input " + k + "["
            + coords[i] + "]: got " + gotG + ", want " + expect + " (fd " + fd[i] + ")");
      }
    }
  }

  static double quotient(Case c, double[][] in, int k, int i, double h, Reduction r) {
    double x = in[k][i];
    in[k][i] = x + h;
    double up = c.reduce(c.items(in), r, c.meanCount());
    in[k][i] = x - h;
    double down = c.reduce(c.items(in), r, c.meanCount());
    in[k][i] = x;
    return (up - down) / (2 * h);
  }

  static double[] widen(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  static float[] gaussian(SplittableRandom r, int n, double scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (r.nextGaussian() * scale);
    }
    return v;
  }

  static float[] signs(SplittableRandom r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = r.nextBoolean() ? 1f : -1f;
    }
    return v;
  }

  static double norm(double[] a, int o, double[] b, int d, double eps, double p) {
    double s = 0;
    for (int i = 0; i < d; i++) {
      s += Math.pow(Math.abs(a[o + i] - b[o + i] + eps), p);
    }
    return Math.pow(s, 1 / p);
  }

  static double cosineSimilarity(double[] a, int o, double[] b, int d, double eps) {
    double ab = 0;
    double aa = 0;
    double bb = 0;
    for (int i = 0; i < d; i++) {
      ab += a[o + i] * b[o + i];
      aa += a[o + i] * a[o + i];
      bb += b[o + i] * b[o + i];
    }
    return ab / (Math.max(Math.sqrt(aa), eps) * Math.max(Math.sqrt(bb), eps));
  }

  static Case make(String name, int size, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int rows = 1 + size % 7;
    int dim = 1 + (size * 5 + (int) (seed & 15)) % 37;
    return switch (name) {
      case "marginRanking" -> {
        int n = size * 3;
        float[] x1 = gaussian(r, n, 1);
        float[] x2 = gaussian(r, n, 1);
        float[] y = signs(r, n);
        float margin = (float) r.nextDouble();
        yield new Case() {
          public float[][] inputs() {
            return new float[][] {x1, x2};
          }

          public double[] items(double[][] in) {
            double[] l = new double[n];
            for (int i = 0; i < n; i++) {
              l[i] = Math.max(0, -y[i] * (in[0][i] - in[1][i]) + margin);
            }
            return l;
          }

          public double meanCount() {
            return n;
          }

          public double call(Reduction red, MemorySegment[] in, MemorySegment out,
              MemorySegment[] g, float s, boolean acc) {
            return MarginRankingLoss.of(red, margin).compute(in[0], in[1],
                MemorySegment.ofArray(y), n, out, g[0], g[1], s, acc);
          }
        };
      }
      case "cosineEmbedding" -> {
        float[] x1 = gaussian(r, rows * dim, 1);
        float[] x2 = gaussian(r, rows * dim, 1);
        float[] y = signs(r, rows);
        float margin = (float) (r.nextDouble() - 0.5);
        yield new Case() {
          public float[][] inputs() {
            return new float[][] {x1, x2};
          }

          public double[] items(double[][] in) {
            double[] l = new double[rows];
            for (int k = 0; k < rows; k++) {
              double ab = 0;
              double aa = 1e-12;
              double bb = 1e-12;
              for (int i = 0; i < dim; i++) {
                double a = in[0][k * dim + i];
                double b = in[1][k * dim + i];
                ab += a * b;
                aa += a * a;
                bb += b * b;
              }
              double cos = ab / Math.sqrt(aa * bb);
              l[k] = y[k] == 1 ? 1 - cos : Math.max(0, cos - margin);
            }
            return l;
          }

          public double meanCount() {
            return rows;
          }

          public double call(Reduction red, MemorySegment[] in, MemorySegment out,
              MemorySegment[] g, float s, boolean acc) {
            return CosineEmbeddingLoss.of(red, margin).compute(in[0], in[1],
                MemorySegment.ofArray(y), rows, dim, out, g[0], g[1], s, acc);
          }
        };
      }
      case "triplet(p=2)", "triplet(p=1,swap)", "triplet(p=3)", "tripletCosine(swap)" -> {
        boolean cosine = name.startsWith("tripletCosine");
        float p = name.contains("p=1") ? 1f : name.contains("p=3") ? 3f : 2f;
        boolean swap = name.contains("swap");
        float eps = cosine ? 0f : 1e-6f;
        float margin = (float) (r.nextDouble() * 2);
        float[][] xs = {gaussian(r, rows * dim, 1), gaussian(r, rows * dim, 1),
            gaussian(r, rows * dim, 1)};
        yield new Case() {
          public float[][] inputs() {
            return xs;
          }

          double dist(double[] a, double[] b, int o) {
            return cosine ? 1 - cosineSimilarity(a, o, b, dim, 1e-8) : norm(a, o, b, dim, eps, p);
          }

          public double[] items(double[][] in) {
            double[] l = new double[rows];
            for (int k = 0; k < rows; k++) {
              int o = k * dim;
              double neg = dist(in[0], in[2], o);
              if (swap) {
                neg = Math.min(neg, dist(in[1], in[2], o));
              }
              l[k] = Math.max(0, margin + dist(in[0], in[1], o) - neg);
            }
            return l;
          }

          public double meanCount() {
            return rows;
          }

          @Override
          public double[] itemScales(double[][] in) {
            double[] sc = new double[rows];
            for (int k = 0; k < rows; k++) {
              int o = k * dim;
              sc[k] = Math.abs(margin) + dist(in[0], in[1], o) + dist(in[0], in[2], o)
                  + (swap ? dist(in[1], in[2], o) : 0);
            }
            return sc;
          }

          public double call(Reduction red, MemorySegment[] in, MemorySegment out,
              MemorySegment[] g, float s, boolean acc) {
            if (cosine) {
              return TripletMarginWithDistanceLoss.of(red,
                  TripletMarginWithDistanceLoss.Distance.COSINE, margin, swap)
                  .compute(in[0], in[1], in[2], rows, dim, out, g[0], g[1], g[2], s, acc);
            }
            return TripletMarginLoss.of(red, margin, p, eps, swap)
                .compute(in[0], in[1], in[2], rows, dim, out, g[0], g[1], g[2], s, acc);
          }
        };
      }
      case "gaussian", "gaussianShared" -> {
        boolean shared = name.equals("gaussianShared");
        boolean full = r.nextBoolean();
        float[] x = gaussian(r, rows * dim, 2);
        float[] t = gaussian(r, rows * dim, 2);
        float[] v = new float[shared ? rows : rows * dim];
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) (0.05 + r.nextDouble() * 3);
        }
        float eps = 1e-6f;
        yield new Case() {
          public float[][] inputs() {
            return new float[][] {x, v};
          }

          public double[] items(double[][] in) {
            double[] l = new double[rows * dim];
            for (int i = 0; i < l.length; i++) {
              double w = Math.max(in[1][shared ? i / dim : i], eps);
              double d = in[0][i] - t[i];
              l[i] = 0.5 * (Math.log(w) + d * d / w) + (full ? 0.5 * Math.log(2 * Math.PI) : 0);
            }
            return l;
          }

          public double meanCount() {
            return rows * dim;
          }

          public double call(Reduction red, MemorySegment[] in, MemorySegment out,
              MemorySegment[] g, float s, boolean acc) {
            return GaussianNLLLoss.of(red, full, eps).compute(in[0], MemorySegment.ofArray(t),
                in[1], rows, dim, shared, out, g[0], g[1], s, acc);
          }
        };
      }
      case "multiLabelSoftMargin" -> {
        float[] x = gaussian(r, rows * dim, 3);
        float[] y = new float[rows * dim];
        for (int i = 0; i < y.length; i++) {
          y[i] = r.nextInt(3) == 0 ? (float) r.nextDouble() : r.nextInt(2);
        }
        float[] w = r.nextBoolean() ? null : gaussian(r, dim, 1);
        yield new Case() {
          public float[][] inputs() {
            return new float[][] {x};
          }

          public double[] items(double[][] in) {
            double[] l = new double[rows];
            for (int k = 0; k < rows; k++) {
              double s = 0;
              for (int c = 0; c < dim; c++) {
                double z = in[0][k * dim + c];
                double logSig = -Math.log1p(Math.exp(-z));
                double logSigNeg = -Math.log1p(Math.exp(z));
                s -= (w == null ? 1 : w[c]) * (y[k * dim + c] * logSig
                    + (1 - y[k * dim + c]) * logSigNeg);
              }
              l[k] = s / dim;
            }
            return l;
          }

          public double meanCount() {
            return rows;
          }

          public double call(Reduction red, MemorySegment[] in, MemorySegment out,
              MemorySegment[] g, float s, boolean acc) {
            return MultiLabelSoftMarginLoss.of(red, w).compute(in[0], MemorySegment.ofArray(y),
                rows, dim, out, g[0], s, acc);
          }
        };
      }
      case "multiMargin(p=1)", "multiMargin(p=2,w)" -> {
        boolean two = name.contains("p=2");
        float[] x = gaussian(r, rows * dim, 1);
        int[] t = new int[rows];
        for (int k = 0; k < rows; k++) {
          t[k] = r.nextInt(dim);
        }
        float[] w = two ? gaussian(r, dim, 1) : null;
        float margin = (float) (r.nextDouble() * 2);
        yield new Case() {
          public float[][] inputs() {
            return new float[][] {x};
          }

          public double[] items(double[][] in) {
            double[] l = new double[rows];
            for (int k = 0; k < rows; k++) {
              double s = 0;
              for (int i = 0; i < dim; i++) {
                if (i != t[k]) {
                  double z = Math.max(0, margin - in[0][k * dim + t[k]] + in[0][k * dim + i]);
                  s += (w == null ? 1 : w[t[k]]) * (two ? z * z : z);
                }
              }
              l[k] = s / dim;
            }
            return l;
          }

          public double meanCount() {
            return rows;
          }

          public double call(Reduction red, MemorySegment[] in, MemorySegment out,
              MemorySegment[] g, float s, boolean acc) {
            return MultiMarginLoss.builder().reduction(red).p(two ? 2 : 1).margin(margin)
                .weight(w).build().compute(in[0], MemorySegment.ofArray(t), rows, dim, out, g[0],
                    s, acc);
          }
        };
      }
      case "multiLabelMargin" -> {
        float[] x = gaussian(r, rows * dim, 1);
        int[] t = new int[rows * dim];
        Arrays.fill(t, -1);
        for (int k = 0; k < rows; k++) {
          int count = r.nextInt(dim + 1);
          for (int j = 0; j < count; j++) {
            t[k * dim + j] = r.nextInt(dim); // duplicates allowed, as in PyTorch
          }
          if (count < dim && r.nextBoolean()) {
            for (int j = count + 1; j < dim; j++) {
              t[k * dim + j] = r.nextInt(dim); // after the −1: ignored
            }
          }
        }
        yield new Case() {
          public float[][] inputs() {
            return new float[][] {x};
          }

          public double[] items(double[][] in) {
            double[] l = new double[rows];
            for (int k = 0; k < rows; k++) {
              boolean[] label = new boolean[dim];
              int count = 0;
              while (count < dim && t[k * dim + count] >= 0) {
                label[t[k * dim + count++]] = true;
              }
              double s = 0;
              for (int j = 0; j < count; j++) {
                double xt = in[0][k * dim + t[k * dim + j]];
                for (int i = 0; i < dim; i++) {
                  if (!label[i]) {
                    s += Math.max(0, 1 - xt + in[0][k * dim + i]);
                  }
                }
              }
              l[k] = s / dim;
            }
            return l;
          }

          public double meanCount() {
            return rows;
          }

          public double call(Reduction red, MemorySegment[] in, MemorySegment out,
              MemorySegment[] g, float s, boolean acc) {
            return MultiLabelMarginLoss.of(red, ClassIndexType.INT32).compute(in[0],
                MemorySegment.ofArray(t), rows, dim, out, g[0], s, acc);
          }
        };
      }
      case "ctc" -> Ctc.make(r, size);
      default -> throw new IllegalArgumentException(name);
    };
  }

  /** CTC against every alignment of short sequences, on log-softmax outputs of random logits. */
  static final class Ctc {
    static Case make(SplittableRandom r, int size) {
      int time = 1 + size % 6;
      int batch = 1 + size % 3;
      int classes = 2 + size % 3;
      int blank = r.nextInt(classes);
      boolean padded = r.nextBoolean();
      int stride = padded ? 4 : 0;
      long[] inLen = new long[batch];
      long[] tgtLen = new long[batch];
      int[][] labels = new int[batch][];
      int total = 0;
      for (int b = 0; b < batch; b++) {
        inLen[b] = r.nextInt(time + 1);
        tgtLen[b] = r.nextInt(Math.min(4, (int) inLen[b] + 2));
        labels[b] = new int[(int) tgtLen[b]];
        for (int j = 0; j < tgtLen[b]; j++) {
          int c = r.nextInt(classes - 1);
          labels[b][j] = c >= blank ? c + 1 : c;
        }
        total += (int) tgtLen[b];
      }
      int[] targets = new int[padded ? batch * stride : total];
      int at = 0;
      for (int b = 0; b < batch; b++) {
        int start = padded ? b * stride : at;
        for (int j = 0; j < labels[b].length; j++) {
          targets[start + j] = labels[b][j];
        }
        at += labels[b].length;
      }
      if (padded) {
        for (int i = 0; i < targets.length; i++) {
          if (i % stride >= labels[i / stride].length) {
            targets[i] = r.nextInt(classes); // padding: never read
          }
        }
      }
      // log-softmax rows of random logits, as a network hands them over
      float[] lp = new float[time * batch * classes];
      for (int f = 0; f < time * batch; f++) {
        double[] z = new double[classes];
        double m = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < classes; c++) {
          z[c] = r.nextGaussian() * 2;
          m = Math.max(m, z[c]);
        }
        double s = 0;
        for (int c = 0; c < classes; c++) {
          s += Math.exp(z[c] - m);
        }
        for (int c = 0; c < classes; c++) {
          lp[f * classes + c] = (float) (z[c] - m - Math.log(s));
        }
      }
      boolean zeroInf = r.nextBoolean();
      return new Case() {
        public float[][] inputs() {
          return new float[][] {lp};
        }

        /** −log Σ over every path of length T_b that collapses to the labels. */
        public double[] items(double[][] in) {
          double[] l = new double[batch];
          for (int b = 0; b < batch; b++) {
            int tn = (int) inLen[b];
            // the gradient is PyTorch's, with respect to logits under a log-softmax: renormalise
            double[][] logp = new double[tn][classes];
            for (int t = 0; t < tn; t++) {
              double m = Double.NEGATIVE_INFINITY;
              for (int c = 0; c < classes; c++) {
                m = Math.max(m, in[0][(t * batch + b) * classes + c]);
              }
              double s = 0;
              for (int c = 0; c < classes; c++) {
                s += Math.exp(in[0][(t * batch + b) * classes + c] - m);
              }
              for (int c = 0; c < classes; c++) {
                logp[t][c] = in[0][(t * batch + b) * classes + c] - m - Math.log(s);
              }
            }
            double p = 0;
            int[] path = new int[tn];
            long paths = (long) Math.pow(classes, tn);
            for (long k = 0; k < paths; k++) {
              long v = k;
              double lpPath = 0;
              for (int t = 0; t < tn; t++) {
                path[t] = (int) (v % classes);
                v /= classes;
                lpPath += logp[t][path[t]];
              }
              if (collapses(path, labels[b], blank)) {
                p += Math.exp(lpPath);
              }
            }
            double nll = -Math.log(p);
            if (zeroInf && Double.isInfinite(nll)) {
              nll = 0;
            }
            l[b] = nll;
          }
          return l;
        }

        @Override
        public double reduce(double[] items, Reduction red, double meanCount) {
          double s = 0;
          for (int b = 0; b < batch; b++) {
            s += red == Reduction.MEAN ? items[b] / Math.max(1, tgtLen[b]) : items[b];
          }
          return red == Reduction.MEAN ? s / batch : s;
        }

        public double meanCount() {
          return batch;
        }

        public double call(Reduction red, MemorySegment[] in, MemorySegment out,
            MemorySegment[] g, float s, boolean acc) {
          return CTCLoss.builder().reduction(red).blank(blank).zeroInfinity(zeroInf).build()
              .compute(in[0], time, batch, classes, MemorySegment.ofArray(targets), stride,
                  inLen, tgtLen, out, g[0], s, acc);
        }
      };
    }

    static boolean collapses(int[] path, int[] labels, int blank) {
      int j = 0;
      int prev = -1;
      for (int c : path) {
        if (c != prev && c != blank) {
          if (j >= labels.length || labels[j] != c) {
            return false;
          }
          j++;
        }
        prev = c;
      }
      return j == labels.length;
    }
  }
}
