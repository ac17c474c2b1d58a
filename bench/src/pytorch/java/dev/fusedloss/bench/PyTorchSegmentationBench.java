package dev.fusedloss.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
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
 * PyTorch as the peer of {@code SegmentationBench.fused}: {@code [N, C, H, W]} logits, {@code
 * log_softmax} over dim 1, the target gather along dim 1 and the mean (the ops
 * {@code F.cross_entropy} runs on this layout), then autograd's backward to the logits; libtorch's
 * intra-op threads set to {@code threads}. Same inputs ({@link SegmentationBench#fill}).
 *
 * <p>Each trial's setup prints {@code peer check segmentation SHAPE: fusedloss X pytorch Y} and
 * fails beyond 1e-5 relative.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 4)
@Measurement(iterations = 5, time = 4)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g",
    "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_interop_threads=1",
    "--enable-native-access=ALL-UNNAMED"})
public class PyTorchSegmentationBench {

  @State(Scope.Benchmark)
  public static class Work {
    @Param({"8x21x512x512"})
    public String shape;

    @Param({"1", "2"})
    public int threads;

    NDManager manager;
    NDArray logits;
    NDArray targets;

    @Setup(Level.Trial)
    public void setup() {
      Engine.getEngine("PyTorch");
      JniUtils.setNumThreads(threads);
      manager = NDManager.newBaseManager();
      long[] d = SegmentationBench.dims(shape);
      long spatial = d[2] * d[3];
      double ours;
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment xs = BenchData.floats(arena, d[0] * d[1] * spatial);
        MemorySegment ts = arena.allocate(d[0] * spatial * Integer.BYTES, 64);
        SegmentationBench.fill(xs, ts, d[0], d[1], spatial);
        long[] t = new long[(int) (d[0] * spatial)];
        for (int i = 0; i < t.length; i++) {
          t[i] = ts.getAtIndex(ValueLayout.JAVA_INT, i);
        }
        logits = manager.create(xs.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer(),
            new Shape(d));
        targets = manager.create(t, new Shape(d[0], 1, d[2], d[3]));
        ours = dev.fusedloss.CrossEntropyLoss.builder().build()
            .computeSpatial(xs, ts, d[0], d[1], spatial, null, null, 1f, false);
      }
      double peer;
      try (NDManager m = manager.newSubManager()) {
        NDArray l = loss(logits, targets);
        l.attach(m);
        peer = l.getFloat();
      }
      System.out.println("peer check segmentation " + shape + ": fusedloss "
          + BigDecimal.valueOf(ours).toPlainString() + " pytorch "
          + BigDecimal.valueOf(peer).toPlainString());
      double rel = Math.abs(ours - peer) / Math.max(Math.abs(ours), Math.abs(peer));
      if (!(rel <= 1e-5)) {
        throw new IllegalStateException("peer check segmentation " + shape + " failed: fusedloss "
            + ours + ", pytorch " + peer + " (relative difference " + rel + " > 1e-5)");
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      manager.close();
    }
  }

  static NDArray loss(NDArray x, NDArray t) {
    return x.logSoftmax(1).gather(t, 1).mean().neg();
  }

  /** Forward and backward: the loss and the gradient of the logits. */
  @Benchmark
  public float step(Work s) {
    try (NDManager m = s.manager.newSubManager();
        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
      NDArray x = s.logits.stopGradient();
      x.attach(m);
      x.setRequiresGradient(true);
      NDArray loss = loss(x, s.targets);
      gc.backward(loss);
      return loss.getFloat() + x.getGradient().getFloat(0, 0, 0, 0) * 0f;
    }
  }
}
