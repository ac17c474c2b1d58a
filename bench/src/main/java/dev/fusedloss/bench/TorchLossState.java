package dev.fusedloss.bench;

import dev.fusedloss.CTCLoss;
import dev.fusedloss.CosineEmbeddingLoss;
import dev.fusedloss.GaussianNLLLoss;
import dev.fusedloss.HingeEmbeddingLoss;
import dev.fusedloss.MarginRankingLoss;
import dev.fusedloss.MultiLabelMarginLoss;
import dev.fusedloss.MultiLabelSoftMarginLoss;
import dev.fusedloss.MultiMarginLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.PoissonNLLLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftMarginLoss;
import dev.fusedloss.TripletMarginLoss;
import dev.fusedloss.ClassIndexType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Inputs of {@link TorchLossBench}, about 4M floats per input (16 MB), allocated once per trial:
 * element-wise losses over 4,194,304 elements; row losses over 4096 × 1024 (multi-label margin
 * 4096 × 128 with 8 labels per row); embeddings 16384 × 256; CTC T = 200, N = 16, C = 64, target
 * length 40. The unfused baselines read heap copies of the same values.
 */
@State(Scope.Benchmark)
public class TorchLossState {
  @Param({"poissonNll", "gaussianNll", "hingeEmbedding", "softMargin", "marginRanking",
      "multiLabelSoftMargin", "multiMargin", "multiLabelMargin", "cosineEmbedding", "triplet",
      "ctc"})
  public String loss;

  static final int ELEMENTS = 1 << 22;

  Arena arena;
  long n;
  int rows;
  int dim;
  MemorySegment a;
  MemorySegment b;
  MemorySegment c;
  MemorySegment y;
  MemorySegment t;
  MemorySegment ga;
  MemorySegment gb;
  MemorySegment gc;
  float[] ah;
  float[] bh;
  float[] ch;
  float[] yh;
  int[] th;
  float[] t1;
  float[] t2;
  float[] t3;
  float[] g1;
  float[] g2;
  float[] g3;
  float[] r1;
  float[] r2;
  float[] r3;
  long[] inLen;
  long[] tgtLen;
  Runner fusedCall;

  interface Runner {
    double run();
  }

  @Setup(Level.Trial)
  public void setup() {
    arena = Arena.ofShared();
    SplittableRandom r = new SplittableRandom(3);
    switch (loss) {
      case "multiLabelSoftMargin", "multiMargin" -> {
        rows = 4096;
        dim = 1024;
      }
      case "multiLabelMargin" -> {
        rows = 4096;
        dim = 128;
      }
      case "cosineEmbedding", "triplet" -> {
        rows = 16384;
        dim = 256;
      }
      case "ctc" -> {
        rows = 200 * 16; // frames × batch
        dim = 64;
      }
      default -> {
        rows = ELEMENTS;
        dim = 1;
      }
    }
    n = (long) rows * dim;
    ah = gaussian(r, (int) n);
    bh = gaussian(r, (int) n);
    ch = gaussian(r, (int) n);
    if (loss.equals("gaussianNll")) {
      for (int i = 0; i < n; i++) {
        ch[i] = 0.1f + Math.abs(ch[i]);
      }
    }
    if (loss.equals("poissonNll")) {
      for (int i = 0; i < n; i++) {
        bh[i] = r.nextInt(8);
      }
    }
    int items = dim == 1 ? (int) n : rows;
    yh = new float[(int) n];
    for (int i = 0; i < n; i++) {
      yh[i] = loss.equals("multiLabelSoftMargin") ? r.nextInt(2) : r.nextBoolean() ? 1f : -1f;
    }
    th = new int[loss.equals("multiLabelMargin") ? (int) n : items];
    if (loss.equals("multiLabelMargin")) {
      java.util.Arrays.fill(th, -1);
      for (int k = 0; k < rows; k++) {
        for (int j = 0; j < 8; j++) {
          th[k * dim + j] = r.nextInt(dim);
        }
      }
    } else {
      for (int i = 0; i < th.length; i++) {
        th[i] = r.nextInt(Math.max(1, dim));
      }
    }
    a = seg(ah);
    b = seg(bh);
    c = seg(ch);
    y = seg(yh);
    t = arena.allocate((long) th.length * Integer.BYTES, 64);
    MemorySegment.copy(MemorySegment.ofArray(th), 0, t, 0, (long) th.length * Integer.BYTES);
    ga = BenchData.floats(arena, n);
    gb = BenchData.floats(arena, n);
    gc = BenchData.floats(arena, n);
    t1 = new float[(int) n];
    t2 = new float[(int) n];
    t3 = new float[(int) n];
    g1 = new float[(int) n];
    g2 = new float[(int) n];
    g3 = new float[(int) n];
    r1 = new float[rows];
    r2 = new float[rows];
    r3 = new float[rows];
    fusedCall = makeFused();
    if (loss.equals("ctc")) {
      ctcSetup(r);
    }
    for (int i = 0; i < 3; i++) {
      fused();
      unfused();
    }
  }

  private void ctcSetup(SplittableRandom r) {
    int time = 200;
    int batch = 16;
    int classes = 64;
    for (int f = 0; f < time * batch; f++) { // log-softmax rows
      double m = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < classes; k++) {
        m = Math.max(m, ah[f * classes + k]);
      }
      double s = 0;
      for (int k = 0; k < classes; k++) {
        s += Math.exp(ah[f * classes + k] - m);
      }
      for (int k = 0; k < classes; k++) {
        ah[f * classes + k] = (float) (ah[f * classes + k] - m - Math.log(s));
      }
    }
    MemorySegment.copy(MemorySegment.ofArray(ah), 0, a, 0, n * Float.BYTES);
    int len = 40;
    int[] tg = new int[batch * len];
    for (int i = 0; i < tg.length; i++) {
      tg[i] = 1 + r.nextInt(classes - 1);
    }
    t = arena.allocate((long) tg.length * Integer.BYTES, 64);
    MemorySegment.copy(MemorySegment.ofArray(tg), 0, t, 0, (long) tg.length * Integer.BYTES);
    inLen = new long[batch];
    tgtLen = new long[batch];
    java.util.Arrays.fill(inLen, time);
    java.util.Arrays.fill(tgtLen, len);
  }

  private MemorySegment seg(float[] h) {
    MemorySegment s = BenchData.floats(arena, h.length);
    MemorySegment.copy(MemorySegment.ofArray(h), 0, s, 0, (long) h.length * Float.BYTES);
    return s;
  }

  private static float[] gaussian(SplittableRandom r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  private Runner makeFused() {
    Parallelism seq = Parallelism.sequential();
    Reduction m = Reduction.MEAN;
    return switch (loss) {
      case "poissonNll" -> {
        PoissonNLLLoss l = PoissonNLLLoss.of(m).withParallelism(seq);
        yield () -> l.compute(a, b, n, ga);
      }
      case "gaussianNll" -> {
        GaussianNLLLoss l = GaussianNLLLoss.of(m, false, 1e-6f).withParallelism(seq);
        yield () -> l.compute(a, b, c, rows, dim, false, null, ga, gc, 1f, false);
      }
      case "hingeEmbedding" -> {
        HingeEmbeddingLoss l = HingeEmbeddingLoss.of(m, 1f).withParallelism(seq);
        yield () -> l.compute(a, y, n, ga);
      }
      case "softMargin" -> {
        SoftMarginLoss l = SoftMarginLoss.of(m).withParallelism(seq);
        yield () -> l.compute(a, y, n, ga);
      }
      case "marginRanking" -> {
        MarginRankingLoss l = MarginRankingLoss.of(m, 0.1f).withParallelism(seq);
        yield () -> l.compute(a, b, y, n, null, ga, gb, 1f, false);
      }
      case "multiLabelSoftMargin" -> {
        MultiLabelSoftMarginLoss l = MultiLabelSoftMarginLoss.of(m, null).withParallelism(seq);
        yield () -> l.compute(a, y, rows, dim, null, ga, 1f, false);
      }
      case "multiMargin" -> {
        MultiMarginLoss l = MultiMarginLoss.builder().build().withParallelism(seq);
        yield () -> l.compute(a, t, rows, dim, null, ga, 1f, false);
      }
      case "multiLabelMargin" -> {
        MultiLabelMarginLoss l = MultiLabelMarginLoss.of(m, ClassIndexType.INT32)
            .withParallelism(seq);
        yield () -> l.compute(a, t, rows, dim, null, ga, 1f, false);
      }
      case "cosineEmbedding" -> {
        CosineEmbeddingLoss l = CosineEmbeddingLoss.of(m, 0.1f).withParallelism(seq);
        yield () -> l.compute(a, b, y, rows, dim, null, ga, gb, 1f, false);
      }
      case "triplet" -> {
        TripletMarginLoss l = TripletMarginLoss.of(m).withParallelism(seq);
        yield () -> l.compute(a, b, c, rows, dim, null, ga, gb, gc, 1f, false);
      }
      case "ctc" -> {
        CTCLoss l = CTCLoss.builder().blank(0).build().withParallelism(seq);
        yield () -> l.compute(a, 200, 16, 64, t, 0, inLen, tgtLen, null, ga, 1f, false);
      }
      default -> throw new IllegalArgumentException(loss);
    };
  }

  double fused() {
    return fusedCall.run();
  }

  /** Autograd's structure: forward ops each writing a temporary, a reduction, backward ops. */
  double unfused() {
    int len = (int) n;
    float inv = 1f / (dim == 1 ? len : rows);
    double sum = 0;
    switch (loss) {
      case "poissonNll" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = (float) Math.exp(ah[i]);
        }
        for (int i = 0; i < len; i++) {
          t2[i] = t1[i] - bh[i] * ah[i];
        }
        for (int i = 0; i < len; i++) {
          sum += t2[i];
        }
        for (int i = 0; i < len; i++) {
          g1[i] = (t1[i] - bh[i]) * inv;
        }
      }
      case "gaussianNll" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = Math.max(ch[i], 1e-6f);
        }
        for (int i = 0; i < len; i++) {
          t2[i] = ah[i] - bh[i];
        }
        for (int i = 0; i < len; i++) {
          t3[i] = 0.5f * ((float) Math.log(t1[i]) + t2[i] * t2[i] / t1[i]);
        }
        for (int i = 0; i < len; i++) {
          sum += t3[i];
        }
        for (int i = 0; i < len; i++) {
          g1[i] = t2[i] / t1[i] * inv;
        }
        for (int i = 0; i < len; i++) {
          g3[i] = 0.5f * (1 / t1[i] - t2[i] * t2[i] / (t1[i] * t1[i])) * inv;
        }
      }
      case "hingeEmbedding" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = Math.max(0, 1 - ah[i]);
        }
        for (int i = 0; i < len; i++) {
          t2[i] = yh[i] == 1 ? ah[i] : t1[i];
        }
        for (int i = 0; i < len; i++) {
          sum += t2[i];
        }
        for (int i = 0; i < len; i++) {
          g1[i] = (yh[i] == 1 ? 1 : 1 - ah[i] >= 0 ? -1 : 0) * inv;
        }
      }
      case "softMargin" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = -yh[i] * ah[i];
        }
        for (int i = 0; i < len; i++) {
          t2[i] = (float) (Math.max(t1[i], 0) + Math.log1p(Math.exp(-Math.abs(t1[i]))));
        }
        for (int i = 0; i < len; i++) {
          sum += t2[i];
        }
        for (int i = 0; i < len; i++) {
          g1[i] = (float) (-yh[i] / (1 + Math.exp(-t1[i]))) * inv;
        }
      }
      case "marginRanking" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = -yh[i] * (ah[i] - bh[i]) + 0.1f;
        }
        for (int i = 0; i < len; i++) {
          t2[i] = Math.max(0, t1[i]);
        }
        for (int i = 0; i < len; i++) {
          sum += t2[i];
        }
        for (int i = 0; i < len; i++) {
          t3[i] = t1[i] >= 0 ? yh[i] * inv : 0;
        }
        for (int i = 0; i < len; i++) {
          g1[i] = -t3[i];
        }
        for (int i = 0; i < len; i++) {
          g2[i] = t3[i];
        }
      }
      case "multiLabelSoftMargin" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = (float) -Math.log1p(Math.exp(-ah[i])); // logsigmoid(x)
        }
        for (int i = 0; i < len; i++) {
          t2[i] = (float) -Math.log1p(Math.exp(ah[i])); // logsigmoid(−x)
        }
        for (int i = 0; i < len; i++) {
          t3[i] = -(yh[i] * t1[i] + (1 - yh[i]) * t2[i]);
        }
        for (int k = 0; k < rows; k++) {
          float s = 0;
          for (int j = 0; j < dim; j++) {
            s += t3[k * dim + j];
          }
          r1[k] = s / dim;
          sum += r1[k];
        }
        float gs = inv / dim;
        for (int i = 0; i < len; i++) {
          g1[i] = (float) (1 / (1 + Math.exp(-ah[i])) - yh[i]) * gs;
        }
      }
      case "multiMargin" -> {
        for (int k = 0; k < rows; k++) {
          float xt = ah[k * dim + th[k]];
          for (int j = 0; j < dim; j++) {
            t1[k * dim + j] = 1 - xt + ah[k * dim + j];
          }
        }
        for (int i = 0; i < len; i++) {
          t2[i] = Math.max(0, t1[i]);
        }
        for (int k = 0; k < rows; k++) {
          float s = -t2[k * dim + th[k]];
          for (int j = 0; j < dim; j++) {
            s += t2[k * dim + j];
          }
          sum += s / dim;
        }
        float gs = inv / dim;
        for (int i = 0; i < len; i++) {
          g1[i] = t1[i] > 0 ? gs : 0;
        }
        for (int k = 0; k < rows; k++) {
          float s = 0;
          g1[k * dim + th[k]] = 0;
          for (int j = 0; j < dim; j++) {
            s += g1[k * dim + j];
          }
          g1[k * dim + th[k]] = -s;
        }
      }
      case "multiLabelMargin" -> {
        float gs = inv / dim;
        for (int k = 0; k < rows; k++) {
          int o = k * dim;
          java.util.Arrays.fill(t3, o, o + dim, 1f);
          int count = 0;
          while (count < dim && th[o + count] >= 0) {
            t3[o + th[o + count++]] = 0;
          }
          java.util.Arrays.fill(g1, o, o + dim, 0f);
          for (int j = 0; j < count; j++) {
            int tj = th[o + j];
            float xt = ah[o + tj];
            for (int i = 0; i < dim; i++) { // the hinge matrix row, then its mask and sum
              t1[o + i] = Math.max(0, 1 - xt + ah[o + i]) * t3[o + i];
            }
            float s = 0;
            for (int i = 0; i < dim; i++) {
              s += t1[o + i];
              if (t1[o + i] > 0) {
                g1[o + i] += gs;
                g1[o + tj] -= gs;
              }
            }
            sum += s / dim;
          }
        }
      }
      case "cosineEmbedding" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = ah[i] * bh[i];
        }
        for (int i = 0; i < len; i++) {
          t2[i] = ah[i] * ah[i];
        }
        for (int i = 0; i < len; i++) {
          t3[i] = bh[i] * bh[i];
        }
        for (int k = 0; k < rows; k++) {
          float ab = 0;
          float aa = 1e-12f;
          float bb = 1e-12f;
          for (int j = 0; j < dim; j++) {
            ab += t1[k * dim + j];
            aa += t2[k * dim + j];
            bb += t3[k * dim + j];
          }
          r1[k] = (float) Math.sqrt(aa * bb);
          r2[k] = ab / r1[k];
          r3[k] = aa;
          float l = yh[k] == 1 ? 1 - r2[k] : Math.max(0, r2[k] - 0.1f);
          sum += l;
        }
        for (int k = 0; k < rows; k++) {
          float s = (yh[k] == 1 ? -1 : r2[k] - 0.1f >= 0 ? 1 : 0) * inv;
          float aa = r3[k];
          for (int j = 0; j < dim; j++) {
            int i = k * dim + j;
            g1[i] = s * (bh[i] / r1[k] - r2[k] * ah[i] / aa);
          }
          float bb = r1[k] * r1[k] / aa;
          for (int j = 0; j < dim; j++) {
            int i = k * dim + j;
            g2[i] = s * (ah[i] / r1[k] - r2[k] * bh[i] / bb);
          }
        }
      }
      case "triplet" -> {
        for (int i = 0; i < len; i++) {
          t1[i] = ah[i] - bh[i] + 1e-6f;
        }
        for (int i = 0; i < len; i++) {
          t2[i] = ah[i] - ch[i] + 1e-6f;
        }
        for (int k = 0; k < rows; k++) {
          float sp = 0;
          float sn = 0;
          for (int j = 0; j < dim; j++) {
            sp += t1[k * dim + j] * t1[k * dim + j];
            sn += t2[k * dim + j] * t2[k * dim + j];
          }
          r1[k] = (float) Math.sqrt(sp);
          r2[k] = (float) Math.sqrt(sn);
          float z = 1 + r1[k] - r2[k];
          r3[k] = z >= 0 ? inv : 0;
          sum += Math.max(0, z);
        }
        for (int k = 0; k < rows; k++) {
          float cp = r3[k] / r1[k];
          float cn = r3[k] / r2[k];
          for (int j = 0; j < dim; j++) {
            int i = k * dim + j;
            g1[i] = cp * t1[i] - cn * t2[i];
            g2[i] = -cp * t1[i];
            g3[i] = cn * t2[i];
          }
        }
      }
      // CTC is one op in PyTorch too (ctc_loss and its backward): the report shows no unfused
      // figure for it; this measures the fused call again
      case "ctc" -> sum = fused();
      default -> throw new IllegalArgumentException(loss);
    }
    return sum * inv;
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    arena.close();
  }
}
