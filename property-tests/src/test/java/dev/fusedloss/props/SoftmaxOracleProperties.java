package dev.fusedloss.props;

import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.ClassIndexType;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.DistillationLoss;
import dev.fusedloss.KLDivLoss;
import dev.fusedloss.LogSoftmax;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SoftmaxFocalLoss;
import dev.fusedloss.oracle.SoftmaxOracle;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The softmax family against the double-precision oracle, on both implementations: rows 0…40,
 * classes 1…70 and now and then a few hundred (most not a multiple of the vector length), row
 * strides with NaN padding (a kernel reading padding fails), odd offsets, masked (−∞), tied,
 * huge (±3e38, ±1e4) and tiny rows, ignored rows, and every option.
 */
class SoftmaxOracleProperties {
  /** What one configuration must produce: the value, per-row (or element) losses, gradient. */
  record Want(double value, double[] rowLosses, double[] grad, double valueTol) {}

  /** One configuration: runs the engine on the layout and computes the oracle's expectation. */
  interface Config {
    Result run(Arena arena, float[] x, Object target, int rows, int classes, int stride,
        int offset, Reduction r, float gradScale);

    Want want(float[] x, Object target, int rows, int classes, Reduction r, float gradScale);

    Object target(float[] x, int rows, int classes, long seed);

    List<Reduction> reductions();
  }

  record Result(double value, float[] rowLosses, float[] grad) {}

  static final List<Reduction> MSN = List.of(Reduction.MEAN, Reduction.SUM, Reduction.NONE);

  static double[] weights(int classes, long seed) {
    java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
    double[] w = new double[classes];
    for (int c = 0; c < classes; c++) {
      w[c] = r.nextInt(6) == 0 ? 0 : 0.25 + 2 * r.nextDouble();
    }
    return w;
  }

  static float[] toFloat(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  /**
   * Class indices as int64 (PyTorch's) for an odd row count, else int32: both layouts through
   * every class-index configuration.
   */
  static ClassIndexType indexType(int[] t) {
    return t.length % 2 == 1 ? ClassIndexType.INT64 : ClassIndexType.INT32;
  }

  /** The targets as an int32 or int64 heap segment. */
  static MemorySegment indexSegmentAs(int[] t, boolean int64) {
    if (!int64) {
      return MemorySegment.ofArray(t);
    }
    long[] wide = new long[t.length];
    for (int i = 0; i < t.length; i++) {
      wide[i] = t[i];
    }
    return MemorySegment.ofArray(wide);
  }

  /** The targets in the segment layout {@link #indexType} names (a heap segment: no copy). */
  static MemorySegment indexSegment(int[] t) {
    return indexSegmentAs(t, indexType(t) == ClassIndexType.INT64);
  }

  /** Class-index cross entropy with the given options (weights made per class count). */
  static Config crossEntropy(boolean weighted, int ignore, float eps, float z, float cap) {
    return new Config() {
      @Override
      public Object target(float[] x, int rows, int classes, long seed) {
        return Rows.targets(x, rows, classes, seed, ignore);
      }

      float[] w(int classes) {
        return weighted ? toFloat(weights(classes, classes * 31L)) : null;
      }

      CrossEntropyLoss loss(Reduction r, int classes, int[] t) {
        return CrossEntropyLoss.builder().reduction(r).weight(w(classes)).ignoreIndex(ignore)
            .labelSmoothing(eps).zLoss(z).softcap(cap).targetType(indexType(t)).build();
      }

      @Override
      public Result run(Arena arena, float[] x, Object target, int rows, int classes, int stride,
          int offset, Reduction r, float gradScale) {
        int[] t = (int[]) target;
        return call(arena, x, rows, classes, stride, offset, r, (xs, ls, gs) -> loss(r, classes, t)
            .compute(xs, stride, indexSegment(t), rows, classes, ls, gs, gradScale, false));
      }

      @Override
      public Want want(float[] x, Object target, int rows, int classes, Reduction r,
          float gradScale) {
        int[] t = (int[]) target;
        float[] w = w(classes);
        double[] g0 = new double[x.length];
        double[] gz = new double[x.length];
        double[] ce = SoftmaxOracle.crossEntropy(x, t, classes, w, ignore, eps, 0, cap, g0);
        double[] all = SoftmaxOracle.crossEntropy(x, t, classes, w, ignore, eps, z, cap, gz);
        double norm = 0;
        double kept = 0;
        for (int ti : t) {
          if (ti != ignore) {
            kept++;
            norm += w == null ? 1 : w[ti];
          }
        }
        double ceScale = r == Reduction.MEAN ? 1 / norm : 1;
        double zScale = r == Reduction.MEAN ? 1 / kept : 1;
        // the engine folds the z-loss into each row as z·(norm/kept)·lse² under MEAN, rounds the
        // row to float32 and divides the sum by norm: model exactly that
        double zRow = r == Reduction.MEAN ? z * norm / kept : z;
        double value = 0;
        for (int i = 0; i < rows; i++) {
          if (t[i] == ignore) {
            continue;
          }
          double lse = SoftmaxOracle.logSumExp(SoftmaxOracle.row(x, i, classes, cap));
          value += Tolerance.float32Range(ce[i] + zRow * lse * lse) * ceScale;
        }
        if (r == Reduction.MEAN && kept == 0) {
          value = Double.NaN; // a mean over no rows, as PyTorch
        }
        double[] grad = new double[x.length];
        for (int i = 0; i < x.length; i++) {
          if (t[i / classes] != ignore) { // ignored rows: exactly 0
            // kept rows whose weights sum to 0 under MEAN: 0/0, NaN as in PyTorch
            grad[i] = r == Reduction.MEAN && norm == 0 ? Double.NaN
                : gradScale * (g0[i] * ceScale + (gz[i] - g0[i]) * zScale);
          }
        }
        return new Want(value, all, grad, tol(all, ceScale));
      }

      @Override
      public List<Reduction> reductions() {
        return MSN;
      }
    };
  }

  /** Tolerance of a reduced value from per-row references (the README rule, summed). */
  static double tol(double[] rows, double scale) {
    double s = Tolerance.scale(rows);
    double t = 0;
    for (double v : rows) {
      t += Tolerance.RTOL * Math.abs(v) + Tolerance.ATOL * s;
    }
    return t * Math.abs(scale);
  }

  interface Body {
    double call(MemorySegment x, MemorySegment lossOut, MemorySegment grad);
  }

  static Result call(Arena arena, float[] x, int rows, int classes, int stride, int offset,
      Reduction r, Body body) {
    MemorySegment xs = Rows.strided(arena, x, rows, classes, stride, offset, Float.NaN);
    MemorySegment gs = Rows.strided(arena, new float[x.length], rows, classes, stride, offset + 1,
        Rows.PAD_OUT);
    MemorySegment ls = r == Reduction.NONE ? arena.allocate(Math.max(1, rows) * 4L) : null;
    double v = body.call(xs, ls, gs);
    float[] grad = Rows.packed(gs, rows, classes, stride, Rows.PAD_OUT);
    return new Result(v, ls == null ? null : Rows.floats(ls, rows), grad);
  }

  /** Reduces oracle row (or element) losses and derivatives the simple way: MEAN by {@code denom}. */
  static Want reduce(double[] rows, double[] deriv, Reduction r, double denom, float gradScale) {
    double scale = r == Reduction.MEAN || r == Reduction.BATCH_MEAN ? 1 / denom : 1;
    double value = 0;
    for (double v : rows) {
      value += Tolerance.float32Range(v);
    }
    value *= scale;
    if (scale == Double.POSITIVE_INFINITY) {
      value = Double.NaN;
    }
    double[] grad = new double[deriv.length];
    for (int i = 0; i < deriv.length; i++) {
      grad[i] = deriv[i] == 0 ? 0 : deriv[i] * scale * gradScale;
    }
    return new Want(value, rows, grad, tol(rows, scale));
  }

  static int kept(int[] t, int ignore) {
    int k = 0;
    for (int v : t) {
      k += v == ignore ? 0 : 1;
    }
    return k;
  }

  /** Configurations whose second input is a float array in the logits layout. */
  abstract static class FloatTarget implements Config {
    @Override
    public Object target(float[] x, int rows, int classes, long seed) {
      return Rows.probabilities(rows, classes, seed);
    }

    @Override
    public List<Reduction> reductions() {
      return MSN;
    }
  }

  static Config softCrossEntropy(boolean weighted, float eps) {
    return new FloatTarget() {
      float[] w(int classes) {
        return weighted ? toFloat(weights(classes, classes * 7L)) : null;
      }

      @Override
      public Result run(Arena arena, float[] x, Object target, int rows, int classes, int stride,
          int offset, Reduction r, float gradScale) {
        CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(r).weight(w(classes))
            .labelSmoothing(eps).build();
        MemorySegment q = Rows.strided(arena, (float[]) target, rows, classes, stride, 2, Float.NaN);
        return call(arena, x, rows, classes, stride, offset, r,
            (xs, ls, gs) -> loss.computeSoft(xs, stride, q, rows, classes, ls, gs, gradScale, false));
      }

      @Override
      public Want want(float[] x, Object target, int rows, int classes, Reduction r,
          float gradScale) {
        double[] g = new double[x.length];
        double[] l = SoftmaxOracle.softCrossEntropy(x, (float[]) target, classes, w(classes), eps, g);
        return reduce(l, g, r, rows, gradScale);
      }
    };
  }

  static Config distillation(float temperature) {
    return new FloatTarget() {
      @Override
      public Object target(float[] x, int rows, int classes, long seed) {
        if (temperature < 1) {
          // x/T of a huge logit overflows float32 for T < 1 (in any float32 kernel): keep the
          // student's huge rows out of this configuration
          for (int i = 0; i < x.length; i++) {
            if (Math.abs(x[i]) > 1e37f && Float.isFinite(x[i])) {
              x[i] = Math.copySign(1e4f, x[i]);
            }
          }
        }
        return Rows.logits(rows, classes, seed * 5 + 1, false);
      }

      @Override
      public List<Reduction> reductions() {
        return List.of(Reduction.BATCH_MEAN, Reduction.SUM, Reduction.NONE);
      }

      @Override
      public Result run(Arena arena, float[] x, Object target, int rows, int classes, int stride,
          int offset, Reduction r, float gradScale) {
        DistillationLoss loss = DistillationLoss.of(r, temperature);
        MemorySegment t = Rows.strided(arena, (float[]) target, rows, classes, stride, 2, Float.NaN);
        return call(arena, x, rows, classes, stride, offset, r,
            (xs, ls, gs) -> loss.compute(xs, t, stride, rows, classes, ls, gs, gradScale, false));
      }

      @Override
      public Want want(float[] x, Object target, int rows, int classes, Reduction r,
          float gradScale) {
        double[] g = new double[x.length];
        double[] l = SoftmaxOracle.distillation(x, (float[]) target, classes, temperature, g);
        return reduce(l, g, r, rows, gradScale);
      }
    };
  }

  /** Configurations with class-index targets whose MEAN divides by a row count or weight sum. */
  static Config indexed(String kind, boolean weighted, int ignore, float gamma) {
    return new Config() {
      @Override
      public Object target(float[] x, int rows, int classes, long seed) {
        return Rows.targets(x, rows, classes, seed, ignore);
      }

      @Override
      public List<Reduction> reductions() {
        return MSN;
      }

      float[] w(int classes) {
        return weighted ? toFloat(weights(classes, classes * 11L)) : null;
      }

      float[] input(float[] x, int classes) {
        if (!kind.equals("nll")) {
          return x;
        }
        float[] lp = new float[x.length]; // NLL takes log-probabilities
        for (int r = 0; r < x.length / classes; r++) {
          double[] row = SoftmaxOracle.logSoftmax(SoftmaxOracle.row(x, r, classes, 0));
          for (int c = 0; c < classes; c++) {
            lp[r * classes + c] = (float) row[c];
          }
        }
        return lp;
      }

      @Override
      public Result run(Arena arena, float[] x, Object target, int rows, int classes, int stride,
          int offset, Reduction r, float gradScale) {
        int[] ti = (int[]) target;
        MemorySegment t = indexSegment(ti);
        float[] in = input(x, classes);
        if (kind.equals("nll")) {
          NLLLoss loss = NLLLoss.builder().reduction(r).weight(w(classes)).ignoreIndex(ignore)
              .targetType(indexType(ti)).build();
          return call(arena, in, rows, classes, stride, offset, r,
              (xs, ls, gs) -> loss.compute(xs, stride, t, rows, classes, ls, gs, gradScale, false));
        }
        SoftmaxFocalLoss loss = SoftmaxFocalLoss.builder().reduction(r).gamma(gamma)
            .alpha(w(classes)).ignoreIndex(ignore).targetType(indexType(ti)).build();
        return call(arena, in, rows, classes, stride, offset, r,
            (xs, ls, gs) -> loss.compute(xs, stride, t, rows, classes, ls, gs, gradScale, false));
      }

      @Override
      public Want want(float[] x, Object target, int rows, int classes, Reduction r,
          float gradScale) {
        int[] t = (int[]) target;
        double[] g = new double[x.length];
        float[] w = w(classes);
        if (kind.equals("nll")) {
          double[] l = SoftmaxOracle.nll(input(x, classes), t, classes, w, ignore, g);
          double norm = 0;
          for (int ti : t) {
            norm += ti == ignore ? 0 : w == null ? 1 : w[ti];
          }
          Want want = reduce(l, g, r, norm, gradScale);
          if (r == Reduction.MEAN && norm == 0 && kept(t, ignore) > 0) {
            for (int i = 0; i < g.length; i++) {
              if (i % classes == t[i / classes]) {
                want.grad()[i] = Double.NaN;
              }
            }
          }
          return want;
        }
        double[] l = SoftmaxOracle.softmaxFocal(x, t, classes, gamma, w, ignore, g);
        return reduce(l, g, r, kept(t, ignore), gradScale);
      }
    };
  }

  static Config klDiv(boolean logTarget) {
    return new FloatTarget() {
      @Override
      public List<Reduction> reductions() {
        return List.of(Reduction.BATCH_MEAN, Reduction.MEAN, Reduction.SUM, Reduction.NONE);
      }

      float[] logp(float[] x, int classes) {
        float[] lp = new float[x.length];
        for (int r = 0; r < x.length / classes; r++) {
          double[] row = SoftmaxOracle.logSoftmax(SoftmaxOracle.row(x, r, classes, 0));
          for (int c = 0; c < classes; c++) {
            lp[r * classes + c] = (float) row[c];
          }
        }
        return lp;
      }

      float[] target(Object target) {
        float[] q = (float[]) target;
        if (!logTarget) {
          return q;
        }
        float[] lq = new float[q.length];
        for (int i = 0; i < q.length; i++) {
          lq[i] = (float) Math.log(q[i]);
        }
        return lq;
      }

      @Override
      public Result run(Arena arena, float[] x, Object target, int rows, int classes, int stride,
          int offset, Reduction r, float gradScale) {
        KLDivLoss loss = KLDivLoss.of(r, logTarget);
        float[] in = logp(x, classes);
        float[] y = target(target);
        MemorySegment xs = arena.allocate(Math.max(1, in.length) * 4L);
        MemorySegment.copy(in, 0, xs, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, in.length);
        MemorySegment gs = arena.allocate(Math.max(1, in.length) * 4L);
        MemorySegment ls = r == Reduction.NONE ? arena.allocate(Math.max(1, in.length) * 4L) : null;
        double v = loss.compute(xs, MemorySegment.ofArray(y), rows, classes, ls, gs, gradScale, false);
        return new Result(v, ls == null ? null : Rows.floats(ls, in.length), Rows.floats(gs, in.length));
      }

      @Override
      public Want want(float[] x, Object target, int rows, int classes, Reduction r,
          float gradScale) {
        float[] in = logp(x, classes);
        double[] g = new double[in.length];
        double[] l = SoftmaxOracle.klDiv(in, target(target), logTarget, g);
        double denom = r == Reduction.BATCH_MEAN ? rows : in.length;
        return reduce(l, g, r, denom, gradScale);
      }
    };
  }

  /** One configuration under test and the name its tests carry. */
  record Named(String name, Config config) {}

  static List<Named> configs() {
    return List.of(
        new Named("ce", crossEntropy(false, -100, 0, 0, 0)),
        new Named("ce weight", crossEntropy(true, -100, 0, 0, 0)),
        new Named("ce ignore=1", crossEntropy(false, 1, 0, 0, 0)),
        new Named("ce ε=0.1", crossEntropy(false, -100, 0.1f, 0, 0)),
        new Named("ce weight ε=0.3 ignore=2", crossEntropy(true, 2, 0.3f, 0, 0)),
        new Named("ce weight ε z-loss", crossEntropy(true, -100, 0.05f, 1e-3f, 0)),
        new Named("ce softcap", crossEntropy(false, -100, 0, 0, 30f)),
        new Named("ce all options", crossEntropy(true, -100, 0.1f, 1e-4f, 15f)),
        new Named("soft ce", softCrossEntropy(false, 0)),
        new Named("soft ce weight ε=0.2", softCrossEntropy(true, 0.2f)),
        new Named("nll weight ignore=1", indexed("nll", true, 1, 0)),
        new Named("focal γ=2", indexed("focal", false, -100, 2f)),
        new Named("focal γ=0.5 α ignore=0", indexed("focal", true, 0, 0.5f)),
        new Named("focal γ=0", indexed("focal", false, -100, 0f)),
        new Named("kl", klDiv(false)),
        new Named("kl logTarget", klDiv(true)),
        new Named("distill T=2", distillation(2f)),
        new Named("distill T=0.5", distillation(0.5f)));
  }

  @TestFactory
  Stream<DynamicTest> matchesOracle() {
    List<DynamicTest> tests = new ArrayList<>();
    for (Named n : configs()) {
      for (Reduction r : n.config().reductions()) {
        tests.add(DynamicTest.dynamicTest(n.name() + " " + r, () -> property(n.config(), r)));
      }
    }
    return tests.stream();
  }

  static void property(Config cfg, Reduction r) {
    qt().withExamples(Seeds.examples(40)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(0, 40), integers().between(1, 80), longs().all(),
            integers().between(0, 63))
        .checkAssert((rows0, c0, seed, flags) -> {
          // mostly narrow rows; some of a few hundred classes, and a few rows of 4096 to 9201
          // classes, which cross entropy takes in tiles of 2048 (few rows: the oracle is slow)
          boolean wide = (flags & 32) != 0 && c0 > 74;
          int classes = (flags & 32) != 0 && c0 < 10 ? 250 + c0 * 13
              : wide ? 4096 + (c0 - 75) * 1021 : c0;
          int rows = wide ? Math.min(rows0, 4) : rows0;
          int stride = classes + (flags & 3);
          int offset = (flags >> 2) & 3;
          boolean edges = (flags & 16) != 0;
          float gradScale = (flags & 1) != 0 ? -0.5f : 1f;
          float[] x = Rows.logits(rows, classes, seed, edges);
          Object target = cfg.target(x, rows, classes, seed);
          String ctx = r + " rows=" + rows + " classes=" + classes + " stride=" + stride
              + " seed=" + seed + " flags=" + flags;
          Result got;
          try (Arena arena = Arena.ofConfined()) {
            got = cfg.run(arena, x, target, rows, classes, stride, offset, r, gradScale);
          }
          Want want = cfg.want(x, target, rows, classes, r, gradScale);
          check(ctx, got, want, r);
        });
  }

  static void check(String ctx, Result got, Want want, Reduction r) {
    double v = want.value();
    if (!Double.isFinite(v) || Double.isNaN(got.value())) {
      boolean same = Double.isNaN(v) ? Double.isNaN(got.value()) : got.value() == v;
      if (!same) {
        throw new AssertionError(ctx + " value: got " + got.value() + ", want " + v);
      }
    } else if (!(Math.abs(got.value() - v) <= want.valueTol())) {
      throw new AssertionError(ctx + " value: got " + got.value() + ", want " + v
          + " (tolerance " + want.valueTol() + ")");
    }
    if (r == Reduction.NONE) {
      Tolerance.assertVector(ctx + " row losses", got.rowLosses(), want.rowLosses());
    }
    Tolerance.assertVector(ctx + " grad", got.grad(), want.grad());
  }
}
