package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.ClassIndexType;
import dev.fusedloss.FloatFormat;
import dev.fusedloss.FusedLinearCrossEntropyLoss;
import dev.fusedloss.Parallelism;
import dev.fusedloss.Reduction;
import dev.fusedloss.internal.LinearCrossEntropyPass;
import dev.fusedloss.oracle.LinearOracle;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The fused linear + cross entropy against the double oracle ({@link LinearOracle}): shapes that
 * cross the 240-entry vocabulary tiles, the micro-kernel's 4-row and 3-vector blocks and the
 * 1024-row super-blocks; every option (bias, ignoreIndex, smoothing, soft cap, z-loss), every
 * reduction, gradient scale, accumulation, int64 targets, float32 and 16-bit inputs; the
 * oracle's own gradient against finite differences; forward-only log-probabilities; the same
 * results on any thread count; the workspace bound; and bad arguments leaving outputs untouched.
 *
 * <p>Tolerance: a float32 product of length K is off by a few ulps of {@code Σ|terms|}, not of
 * its result, so each output gets {@code 1e-5·(|ref| + Σ|terms|·(1 + M))} where M bounds the
 * logits' own term magnitudes (an error in z moves every probability by about p·Δz). A wrong
 * term, sign or factor is an O(|ref|) error and still fails.
 */
class FusedLinearProperties {
  static final ExecutorService POOL = Executors.newFixedThreadPool(3, r -> {
    Thread t = new Thread(r, "linear-test");
    t.setDaemon(true);
    return t;
  });

  @AfterAll
  static void shutdown() {
    POOL.shutdownNow();
  }

  record Problem(int n, int hs, int v, float[] h, float[] w, float[] b, int[] t, double zmag) {}

  static Problem problem(int n, int hs, int v, long seed, int flags, FloatFormat f) {
    SplittableRandom r = new SplittableRandom(seed);
    double hScale = (flags & 1) != 0 ? 8 : 1;
    float[] h = new float[n * hs];
    float[] w = new float[v * hs];
    for (int i = 0; i < h.length; i++) {
      h[i] = round((float) (r.nextGaussian() * hScale), f);
    }
    for (int i = 0; i < w.length; i++) {
      w[i] = round((float) (r.nextGaussian() / Math.sqrt(hs)), f);
    }
    float[] b = null;
    if ((flags & 2) != 0) {
      b = new float[v];
      for (int i = 0; i < v; i++) {
        b[i] = (float) r.nextGaussian();
      }
    }
    int[] t = new int[n];
    for (int i = 0; i < n; i++) {
      t[i] = (flags & 4) != 0 && r.nextInt(4) == 0 ? -100 : r.nextInt(v);
    }
    double zmag = 0;
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < v; c++) {
        double m = b == null ? 0 : Math.abs(b[c]);
        for (int k = 0; k < hs; k++) {
          m += Math.abs((double) h[i * hs + k] * w[c * hs + k]);
        }
        zmag = Math.max(zmag, m);
      }
    }
    return new Problem(n, hs, v, h, w, b, t, zmag);
  }

  static float round(float x, FloatFormat f) {
    return f == FloatFormat.FLOAT32 ? x : f.decode(f.encode(x));
  }

  static MemorySegment store(Arena a, float[] v, FloatFormat f) {
    MemorySegment s = a.allocate(Math.max(1, (long) v.length * f.bytes()), 8);
    for (int i = 0; i < v.length; i++) {
      if (f == FloatFormat.FLOAT32) {
        s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v[i]);
      } else {
        s.setAtIndex(ValueLayout.JAVA_SHORT, i, f.encode(v[i]));
      }
    }
    return s;
  }

  static float[] read(MemorySegment s, int n) {
    return s.asSlice(0, (long) n * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
  }

  static void close(String what, double got, double ref, double mag, double zmag) {
    double tol = 1e-5 * (Math.abs(ref) + mag * (1 + zmag)) + 1e-7;
    if (Double.isNaN(ref) ? !Double.isNaN(got) : !(Math.abs(got - ref) <= tol)) {
      throw new AssertionError(what + ": got " + got + ", want " + ref + " (tolerance " + tol
          + ")");
    }
  }

  @Test
  void matchesTheOracle() {
    qt().withExamples(Seeds.examples(60)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(0, 13), integers().between(1, 70), integers().between(1, 520),
            longs().all())
        .checkAssert((n, hs, v, seed) -> check(n, hs, v, seed, (int) (seed >>> 40) & 1023));
  }

  static void check(int n, int hs, int v, long seed, int flags) {
    FloatFormat f = switch ((flags >> 3) & 3) {
      case 1 -> FloatFormat.BFLOAT16;
      case 2 -> FloatFormat.FLOAT16;
      default -> FloatFormat.FLOAT32;
    };
    Problem p = problem(n, hs, v, seed, flags, f);
    double eps = (flags & 32) != 0 ? 0.1 : 0;
    float cap = (flags & 64) != 0 ? ((flags & 1) != 0 ? 5f : 30f) : 0f;
    float zl = (flags & 128) != 0 ? 1e-3f : 0f;
    Reduction red = Reduction.values()[(flags >> 8) % 3]; // MEAN, SUM, NONE
    boolean acc = (flags & 512) != 0;
    float scale = acc ? -0.75f : 1f;
    boolean int64 = (seed & 1) != 0;
    String redName = red.name().toLowerCase();
    LinearOracle.Result ref = LinearOracle.compute(p.h(), p.w(), p.b(), p.t(), n, hs, v, -100,
        eps, cap, zl, redName, scale);
    FusedLinearCrossEntropyLoss loss = FusedLinearCrossEntropyLoss.builder().reduction(red)
        .labelSmoothing((float) eps).softcap(cap).zLoss(zl).inputFormat(f)
        .targetType(int64 ? ClassIndexType.INT64 : ClassIndexType.INT32).build();
    String ctx = "n=" + n + " H=" + hs + " V=" + v + " seed=" + seed + " flags=" + flags + " "
        + f;
    try (Arena a = Arena.ofConfined()) {
      SplittableRandom r = new SplittableRandom(seed ^ 77);
      float[] gh0 = new float[n * hs];
      float[] gw0 = new float[v * hs];
      float[] gb0 = new float[v];
      if (acc) {
        for (float[] g : new float[][] {gh0, gw0, gb0}) {
          for (int i = 0; i < g.length; i++) {
            g[i] = (float) r.nextGaussian();
          }
        }
      }
      MemorySegment gh = store(a, gh0, FloatFormat.FLOAT32);
      MemorySegment gw = store(a, gw0, FloatFormat.FLOAT32);
      MemorySegment gb = p.b() == null ? null : store(a, gb0, FloatFormat.FLOAT32);
      MemorySegment rows = red == Reduction.NONE ? a.allocate(Math.max(4, n * 4L)) : null;
      MemorySegment targets = int64 ? MemorySegment.ofArray(Arrays.stream(p.t())
          .asLongStream().toArray()) : MemorySegment.ofArray(p.t());
      double got = loss.compute(store(a, p.h(), f), store(a, p.w(), f),
          p.b() == null ? null : MemorySegment.ofArray(p.b()), targets, n, hs, v, rows, gh, gw,
          gb, scale, acc);
      int kept = (int) Arrays.stream(p.t()).filter(x -> x != -100).count();
      if (red == Reduction.MEAN && kept == 0) {
        assertTrue(Double.isNaN(got), ctx + ": MEAN over no kept row is NaN");
      } else {
        close(ctx + " value", got, ref.value, n * (1 + p.zmag()), p.zmag());
      }
      if (rows != null) {
        float[] rl = read(rows, n);
        for (int i = 0; i < n; i++) {
          close(ctx + " row loss " + i, rl[i], ref.rowLoss[i], 1 + p.zmag(), p.zmag());
        }
      }
      float[] ghGot = read(gh, n * hs);
      for (int i = 0; i < ghGot.length; i++) {
        close(ctx + " gradHidden[" + i + "]", ghGot[i], ref.gh[i] + gh0[i], ref.ghMag[i] + 1e-3
            * Math.abs(gh0[i]), p.zmag());
      }
      float[] gwGot = read(gw, v * hs);
      for (int i = 0; i < gwGot.length; i++) {
        close(ctx + " gradWeight[" + i + "]", gwGot[i], ref.gw[i] + gw0[i], ref.gwMag[i] + 1e-3
            * Math.abs(gw0[i]), p.zmag());
      }
      if (gb != null) {
        float[] gbGot = read(gb, v);
        for (int i = 0; i < v; i++) {
          close(ctx + " gradBias[" + i + "]", gbGot[i], ref.gb[i] + gb0[i], n * Math.abs(scale)
              + Math.abs(gb0[i]) * 1e-3, p.zmag());
        }
      }
    }
  }

  /** Rows beyond one super-block (1024 rows at small H): dW and db add up across blocks. */
  @Test
  void severalSuperBlocksMatchTheOracle() {
    for (int flags : new int[] {2 | 4 | 32, 2 | 64 | 128 | 256, 2 | 4 | 512, 8 | 2 | 512 | 256}) {
      check(2100, 5, 260, 99 + flags, flags);
    }
  }

  @Test
  void logProbsMatchTheOracle() {
    qt().withExamples(Seeds.examples(30)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(0, 9), integers().between(1, 40), integers().between(1, 600),
            longs().all())
        .checkAssert((n, hs, v, seed) -> {
          int flags = (int) (seed >>> 40) & 127;
          Problem p = problem(n, hs, v, seed, flags, FloatFormat.FLOAT32);
          float cap = (flags & 64) != 0 ? 10f : 0f;
          LinearOracle.Result ref = LinearOracle.compute(p.h(), p.w(), p.b(), p.t(), n, hs, v,
              -100, 0.2, cap, 0.5, "sum", 1);
          // smoothing and z-loss must not change log-probabilities
          FusedLinearCrossEntropyLoss loss = FusedLinearCrossEntropyLoss.builder()
              .labelSmoothing(0.2f).zLoss(0.5f).softcap(cap).build();
          float[] out = new float[n];
          double nll = loss.logProbs(MemorySegment.ofArray(p.h()), MemorySegment.ofArray(p.w()),
              p.b() == null ? null : MemorySegment.ofArray(p.b()), MemorySegment.ofArray(p.t()),
              n, hs, v, MemorySegment.ofArray(out));
          String ctx = "n=" + n + " H=" + hs + " V=" + v + " seed=" + seed;
          close(ctx + " nll", nll, ref.nll, n * (1 + p.zmag()), p.zmag());
          for (int i = 0; i < n; i++) {
            close(ctx + " logp " + i, out[i], ref.logProb[i], 1 + p.zmag(), p.zmag());
          }
        });
  }

  /** A one-class vocabulary: p = 1, so with smoothing every gradient is exactly 0. */
  @Test
  void oneClassRowsHaveExactlyZeroGradients() {
    float[] h = {8.5f, -3f, 0.25f};
    float[] w = {0.7f};
    float[] gh = new float[3];
    float[] gw = new float[1];
    float[] gb = new float[1];
    FusedLinearCrossEntropyLoss.builder().labelSmoothing(0.1f).build().compute(
        MemorySegment.ofArray(h), MemorySegment.ofArray(w), MemorySegment.ofArray(new float[1]),
        MemorySegment.ofArray(new int[] {0, 0, 0}), 3, 1, 1, MemorySegment.ofArray(gh),
        MemorySegment.ofArray(gw), MemorySegment.ofArray(gb));
    assertTrue(Arrays.equals(gh, new float[3]) && gw[0] == 0 && gb[0] == 0,
        Arrays.toString(gh) + " " + gw[0] + " " + gb[0]);
  }

  /** The oracle's gradients are those of its loss (central differences in double). */
  @Test
  void oracleGradientsMatchFiniteDifferences() {
    Problem p = problem(3, 5, 7, 11, 2 | 4, FloatFormat.FLOAT32);
    double eps = 0.1;
    double cap = 4;
    double zl = 0.01;
    LinearOracle.Result ref = LinearOracle.compute(p.h(), p.w(), p.b(), p.t(), 3, 5, 7, -100, eps,
        cap, zl, "sum", 1);
    for (boolean ofHidden : new boolean[] {true, false}) {
      float[] h = p.h().clone();
      float[] w = p.w().clone();
      float[] v = ofHidden ? h : w;
      double[] want = ofHidden ? ref.gh : ref.gw;
      for (int i = 0; i < v.length; i++) {
        float x = v[i];
        float d = 1e-2f;
        v[i] = x + d;
        double up = LinearOracle.compute(h, w, p.b(), p.t(), 3, 5, 7, -100, eps, cap, zl, "sum",
            1).value;
        v[i] = x - d;
        double down = LinearOracle.compute(h, w, p.b(), p.t(), 3, 5, 7, -100, eps, cap, zl,
            "sum", 1).value;
        v[i] = x;
        double fd = (up - down) / ((double) (x + d) - (double) (x - d));
        assertEquals(want[i], fd, 1e-4 * (1 + Math.abs(fd)),
            (ofHidden ? "d/dh[" : "d/dw[") + i + "]");
      }
    }
  }

  /**
   * Rows split for dH, vocabulary rows for dW: the same bits on 1, 2 and 3 threads, and again on
   * one thread after the JIT has compiled everything (no lane sum with an open order).
   */
  @Test
  void anyThreadCountGivesTheSameResults() {
    int n = 150;
    int hs = 40;
    int v = 700;
    Problem p = problem(n, hs, v, 5, 2 | 4, FloatFormat.FLOAT32);
    float[][] ref = null;
    for (int threads : new int[] {1, 2, 3, 1}) {
      FusedLinearCrossEntropyLoss loss = FusedLinearCrossEntropyLoss.builder().labelSmoothing(0.1f)
          .build().withParallelism(threads == 1 ? Parallelism.sequential()
              : Parallelism.of(POOL, threads));
      float[] gh = new float[n * hs];
      float[] gw = new float[v * hs];
      float[] gb = new float[v];
      double value;
      try (Arena a = Arena.ofShared()) {
        MemorySegment ghs = store(a, gh, FloatFormat.FLOAT32);
        MemorySegment gws = store(a, gw, FloatFormat.FLOAT32);
        MemorySegment gbs = store(a, gb, FloatFormat.FLOAT32);
        value = loss.compute(store(a, p.h(), FloatFormat.FLOAT32),
            store(a, p.w(), FloatFormat.FLOAT32), store(a, p.b(), FloatFormat.FLOAT32),
            store(a, p.t()), n, hs, v, ghs, gws, gbs);
        gh = read(ghs, n * hs);
        gw = read(gws, v * hs);
        gb = read(gbs, v);
      }
      float[][] got = {new float[] {(float) value}, gh, gw, gb};
      if (ref == null) {
        ref = got;
        continue;
      }
      for (int k = 0; k < got.length; k++) {
        for (int i = 0; i < got[k].length; i++) {
          float a = ref[k][i];
          float b = got[k][i];
          assertEquals(Float.floatToIntBits(a), Float.floatToIntBits(b), "output " + k + "[" + i
              + "] with " + threads + " threads: " + b + " vs " + a);
        }
      }
    }
  }

  static MemorySegment store(Arena a, int[] t) {
    MemorySegment s = a.allocate(Math.max(4, t.length * 4L));
    for (int i = 0; i < t.length; i++) {
      s.setAtIndex(ValueLayout.JAVA_INT, i, t[i]);
    }
    return s;
  }

  /** Confined segments keep a large call on the calling thread (other threads may not read them). */
  @Test
  void confinedSegmentsStayOnTheCallingThread() {
    int n = 300;
    int hs = 64;
    int v = 2000;
    Problem p = problem(n, hs, v, 8, 2, FloatFormat.FLOAT32);
    FusedLinearCrossEntropyLoss loss = FusedLinearCrossEntropyLoss.builder().build()
        .withParallelism(Parallelism.of(POOL, 3));
    try (Arena a = Arena.ofConfined()) {
      MemorySegment gw = a.allocate((long) v * hs * 4);
      double got = loss.compute(store(a, p.h(), FloatFormat.FLOAT32),
          store(a, p.w(), FloatFormat.FLOAT32), store(a, p.b(), FloatFormat.FLOAT32),
          store(a, p.t()), n, hs, v, a.allocate((long) n * hs * 4), gw, a.allocate(v * 4L));
      assertTrue(Double.isFinite(got));
    }
  }

  /** The workspace follows its formula: the same for any V, and flat in N beyond 1024 rows. */
  @Test
  void workspaceIsBoundedIndependentlyOfNTimesV() {
    FusedLinearCrossEntropyLoss loss = FusedLinearCrossEntropyLoss.builder().build()
        .withParallelism(Parallelism.sequential());
    long[][] shapes = {{8, 16, 50}, {8, 16, 5000}, {1100, 4, 30}, {3000, 4, 30}, {3000, 4, 700}};
    long[] seen = new long[shapes.length];
    for (int s = 0; s < shapes.length; s++) {
      int n = (int) shapes[s][0];
      int hs = (int) shapes[s][1];
      int v = (int) shapes[s][2];
      Problem p = problem(n, hs, v, s, 0, FloatFormat.FLOAT32);
      loss.compute(MemorySegment.ofArray(p.h()), MemorySegment.ofArray(p.w()), null,
          MemorySegment.ofArray(p.t()), n, hs, v, MemorySegment.ofArray(new float[n * hs]),
          MemorySegment.ofArray(new float[v * hs]), null);
      seen[s] = LinearCrossEntropyPass.lastWorkspaceBytes;
      assertEquals(LinearCrossEntropyPass.workspaceBytes(n, hs, FloatFormat.FLOAT32), seen[s]);
    }
    assertEquals(seen[0], seen[1], "V does not change the workspace");
    assertEquals(seen[2], seen[3], "nor N beyond a super-block");
    assertEquals(seen[3], seen[4]);
    // the benchmark shape: under 1 % of the logits PyTorch materialises (4·N·V bytes, once)
    long ours = LinearCrossEntropyPass.workspaceBytes(1024, 1024, FloatFormat.FLOAT32);
    assertTrue(ours < 0.01 * 4L * 1024 * 32000 * 3, ours + " bytes");
  }

  @Test
  void badArgumentsThrowAndLeaveOutputsUntouched() {
    Problem p = problem(4, 8, 30, 3, 2, FloatFormat.FLOAT32);
    FusedLinearCrossEntropyLoss loss = FusedLinearCrossEntropyLoss.builder()
        .reduction(Reduction.NONE).build();
    float[] gh = new float[32];
    float[] gw = new float[240];
    float[] gb = new float[30];
    float[] rows = new float[4];
    Arrays.fill(gh, 7f);
    Arrays.fill(gw, 7f);
    Arrays.fill(gb, 7f);
    Arrays.fill(rows, 7f);
    MemorySegment h = MemorySegment.ofArray(p.h());
    MemorySegment w = MemorySegment.ofArray(p.w());
    MemorySegment b = MemorySegment.ofArray(p.b());
    MemorySegment t = MemorySegment.ofArray(p.t());
    MemorySegment ghs = MemorySegment.ofArray(gh);
    MemorySegment gws = MemorySegment.ofArray(gw);
    MemorySegment gbs = MemorySegment.ofArray(gb);
    MemorySegment rs = MemorySegment.ofArray(rows);
    // H mismatch: the hidden buffer is too small for H = 9
    Exception e = assertThrows(IndexOutOfBoundsException.class, () -> loss.compute(h, w, b, t, 4,
        9, 30, rs, ghs, gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("hidden"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> loss.compute(h, w, b, t, 4,
        1L << 40, 1L << 40, rs, ghs, gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("hiddenSize") || e.getMessage().contains("vocab"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> loss.compute(h, w, b, t, 4,
        Integer.MAX_VALUE, Integer.MAX_VALUE - 100, rs, ghs, gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("overflow"), e.getMessage());
    int[] badT = p.t().clone();
    badT[2] = 30;
    e = assertThrows(IndexOutOfBoundsException.class, () -> loss.compute(h, w, b,
        MemorySegment.ofArray(badT), 4, 8, 30, rs, ghs, gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("row 2"), e.getMessage());
    FusedLinearCrossEntropyLoss bf = FusedLinearCrossEntropyLoss.builder()
        .reduction(Reduction.NONE).inputFormat(FloatFormat.BFLOAT16).build();
    e = assertThrows(IllegalArgumentException.class, () -> bf.compute(
        MemorySegment.ofArray(new short[32]), w, b, t, 4, 8, 30, rs, ghs, gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("weight") && e.getMessage().contains("BFLOAT16"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> loss.compute(h, w, null, t, 4, 8, 30,
        rs, ghs, gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("gradBias"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> loss.compute(h, w, b, t, 4, 8, 30,
        rs, gws.asSlice(16), gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("overlap"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> loss.compute(h, w, b, t, 4, 8, 30,
        rs, h, gws, gbs, 1f, false));
    assertTrue(e.getMessage().contains("overlap"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> loss.compute(h, w, b, t, 4, 8, 30,
        rs, ghs, gws, gbs, Float.NaN, false));
    assertTrue(e.getMessage().contains("gradScale"), e.getMessage());
    for (float[] out : new float[][] {gh, gw, gb, rows}) {
      for (float x : out) {
        assertEquals(7f, x, "an output was written by a failing call");
      }
    }
  }
}
