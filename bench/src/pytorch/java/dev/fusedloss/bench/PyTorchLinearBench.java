package dev.fusedloss.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * PyTorch's unfused language-model head as the peer of {@code LinearCrossEntropyBench.fused}:
 * {@code z = h·Wᵀ + b} ({@code matmul}), then {@code log_softmax}, the target gather and the
 * mean, and autograd's backward to the hidden states, the weight and the bias; libtorch's
 * intra-op threads set to {@code threads}. Same inputs ({@link LinearCrossEntropyBench#fill}).
 * Its working memory holds at least the {@code [N, V]} logits, their log-softmax and their
 * gradient: 3·4·N·V bytes (393 MB at 1024×32000).
 *
 * <p>Each trial's setup prints {@code peer check linear SHAPE: fusedloss X pytorch Y} and fails
 * beyond 1e-4 relative.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 8)
@Measurement(iterations = 3, time = 8)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g",
    "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_interop_threads=1",
    "--enable-native-access=ALL-UNNAMED"})
public class PyTorchLinearBench {

  @State(Scope.Benchmark)
  public static class Work {
    @Param({"1024x1024x32000", "256x512x32000"})
    public String nhv;

    @Param({"1", "2"})
    public int threads;

    NDManager manager;
    NDArray hidden;
    NDArray weight;
    NDArray bias;
    NDArray targets;

    @Setup(Level.Trial)
    public void setup() {
      Engine.getEngine("PyTorch");
      JniUtils.setNumThreads(threads);
      manager = NDManager.newBaseManager();
      String[] p = nhv.split("x");
      int n = Integer.parseInt(p[0]);
      int h = Integer.parseInt(p[1]);
      int v = Integer.parseInt(p[2]);
      double ours;
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment hs = BenchData.floats(arena, (long) n * h);
        MemorySegment ws = BenchData.floats(arena, (long) v * h);
        MemorySegment bs = BenchData.floats(arena, v);
        MemorySegment ts = arena.allocate((long) n * Integer.BYTES, 64);
        LinearCrossEntropyBench.fill(hs, ws, bs, ts, n, h, v);
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
          t[i] = ts.getAtIndex(ValueLayout.JAVA_INT, i);
        }
        hidden = manager.create(hs.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer(),
            new Shape(n, h));
        weight = manager.create(ws.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer(),
            new Shape(v, h));
        bias = manager.create(bs.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer(),
            new Shape(v));
        targets = manager.create(t, new Shape(n, 1));
        ours = dev.fusedloss.FusedLinearCrossEntropyLoss.builder().build()
            .forward(hs, ws, bs, ts, n, h, v);
      }
      double peer;
      try (NDManager m = manager.newSubManager()) {
        NDArray l = loss(hidden, weight, bias, targets);
        l.attach(m);
        peer = l.getFloat();
      }
      System.out.println("peer check linear " + nhv + ": fusedloss "
          + BigDecimal.valueOf(ours).toPlainString() + " pytorch "
          + BigDecimal.valueOf(peer).toPlainString());
      double rel = Math.abs(ours - peer) / Math.max(Math.abs(ours), Math.abs(peer));
      if (!(rel <= 1e-4)) {
        throw new IllegalStateException("peer check linear " + nhv + " failed: fusedloss "
            + ours + ", pytorch " + peer + " (relative difference " + rel + " > 1e-4)");
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      manager.close();
    }
  }

  static NDArray loss(NDArray h, NDArray w, NDArray b, NDArray t) {
    return h.matMul(w.transpose()).add(b).logSoftmax(1).gather(t, 1).mean().neg();
  }

  /** Forward and backward: the loss and the gradients of the hidden states, weight and bias. */
  @Benchmark
  public float step(Work s) {
    try (NDManager m = s.manager.newSubManager();
        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
      NDArray h = s.hidden.stopGradient();
      NDArray w = s.weight.stopGradient();
      NDArray b = s.bias.stopGradient();
      for (NDArray a : new NDArray[] {h, w, b}) {
        a.attach(m);
        a.setRequiresGradient(true);
      }
      NDArray loss = loss(h, w, b, s.targets);
      gc.backward(loss);
      NDList grads = new NDList(h.getGradient(), w.getGradient(), b.getGradient());
      return loss.getFloat() + (grads.get(1).getShape().size() > 0 ? 0f : 1f);
    }
  }
}
