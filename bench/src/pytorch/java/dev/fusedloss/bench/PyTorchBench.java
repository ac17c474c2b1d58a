package dev.fusedloss.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
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
 * PyTorch as a peer: the same workloads as {@link ElementwiseBench}, {@link CrossEntropyBench} and
 * {@link ParallelBench}, run through libtorch's CPU kernels from the JVM with DJL, loss and
 * gradient by autograd as a training step does it.
 *
 * <p>Each invocation makes a fresh leaf that shares the input's storage ({@code detach()}, no
 * copy), computes the loss, runs {@code backward} and frees the temporaries: the gradient lands
 * in a new buffer as with PyTorch's default {@code zero_grad(set_to_none=True)}. Cross entropy
 * is {@code log_softmax} then the target gather and mean (what {@code F.cross_entropy} runs:
 * log_softmax + nll_loss); MSE is {@code (x−y)².mean()}; BCE with logits is composed as
 * {@code softplus(x) − x·y} then mean, because DJL binds no fused
 * {@code binary_cross_entropy_with_logits}; sigmoid focal is composed from the same ops the way
 * torchvision's {@code sigmoid_focal_loss} is. {@code threads} sets libtorch's intra-op threads
 * ({@code torch.set_num_threads}); inter-op threads are 1.
 *
 * <p>Each trial's setup checks that the peer computes on the same data: it evaluates both
 * fusedloss and the peer's expression on the exact benchmark inputs, prints {@code peer check
 * WORKLOAD: fusedloss X pytorch Y}, and fails the trial when they differ by more than 1e-4
 * relative. (Inputs are handed over in native byte order: {@code MemorySegment.asByteBuffer()}
 * is big-endian, and libtorch once received byte-swapped floats from it.)
 *
 * <p>libtorch allocates its temporaries and gradients per step; on VMs where first-touch page
 * faults are expensive its allocator pays for that unless jemalloc is preloaded, which {@code
 * bench/run.sh --pytorch} does ({@code LD_PRELOAD=libjemalloc.so.2}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector",
    "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_interop_threads=1",
    "--enable-native-access=ALL-UNNAMED"})
public class PyTorchBench {

  @State(Scope.Benchmark)
  public static class Work {
    /** {@code loss:size} for element-wise losses, {@code ce:rowsxclasses} for cross entropy. */
    @Param({"mse:4096", "mse:1048576", "mse:16777216", "bceWithLogits:4096",
        "bceWithLogits:1048576", "bceWithLogits:16777216", "sigmoidFocal:4096",
        "sigmoidFocal:1048576", "sigmoidFocal:16777216", "ce:4096x32000", "ce:65536x10",
        "ce:256x1000"})
    public String workload;

    @Param({"1", "2"})
    public int threads;

    NDManager manager;
    NDArray x;
    NDArray y;
    String loss;

    @Setup(Level.Trial)
    public void setup() {
      Engine.getEngine("PyTorch"); // loads libtorch before the thread count is set
      JniUtils.setNumThreads(threads);
      manager = NDManager.newBaseManager();
      String[] kv = workload.split(":");
      loss = kv[0];
      double ours;
      try (Arena arena = Arena.ofConfined()) {
        if (loss.equals("ce")) {
          String[] rc = kv[1].split("x");
          long rows = Long.parseLong(rc[0]);
          long classes = Long.parseLong(rc[1]);
          long n = rows * classes;
          MemorySegment xs = BenchData.floats(arena, n);
          MemorySegment ts = arena.allocate(rows * Integer.BYTES, 64);
          BenchData.fillRows(xs, ts, rows, classes);
          long[] t = new long[(int) rows]; // torch gathers with int64 indices
          for (int i = 0; i < rows; i++) {
            t[i] = ts.getAtIndex(ValueLayout.JAVA_INT, i);
          }
          x = manager.create(nativeFloats(xs), new Shape(rows, classes));
          y = manager.create(t, new Shape(rows, 1));
          ours = dev.fusedloss.CrossEntropyLoss.builder().build().forward(xs, ts, rows, classes);
        } else {
          long n = Long.parseLong(kv[1]);
          MemorySegment xs = BenchData.floats(arena, n);
          MemorySegment ys = BenchData.floats(arena, n);
          BenchData.fillInputs(loss, xs, ys, n, 42);
          x = manager.create(nativeFloats(xs), new Shape(n));
          y = manager.create(nativeFloats(ys), new Shape(n));
          ours = switch (loss) {
            case "mse" -> dev.fusedloss.MSELoss.of(dev.fusedloss.Reduction.MEAN).forward(xs, ys, n);
            case "bceWithLogits" -> dev.fusedloss.BCEWithLogitsLoss.builder().build()
                .forward(xs, ys, n);
            case "sigmoidFocal" -> dev.fusedloss.SigmoidFocalLoss.builder().alpha(0.25f)
                .gamma(2f).build().forward(xs, ys, n);
            default -> throw new IllegalArgumentException(loss);
          };
        }
      }
      double peer;
      try (NDManager m = manager.newSubManager()) {
        NDArray leaf = x.stopGradient();
        leaf.attach(m);
        peer = lossOf(loss, leaf, y).getFloat();
      }
      System.out.println("peer check " + workload + ": fusedloss "
          + BigDecimal.valueOf(ours).toPlainString() + " pytorch "
          + BigDecimal.valueOf(peer).toPlainString());
      double rel = Math.abs(ours - peer) / Math.max(Math.abs(ours), Math.abs(peer));
      if (!(rel <= 1e-4)) {
        throw new IllegalStateException("peer check " + workload + " failed: fusedloss " + ours
            + ", pytorch " + peer + " (relative difference " + rel + " > 1e-4)");
      }
    }

    /** The segment's floats as a buffer libtorch reads correctly: native byte order. */
    static FloatBuffer nativeFloats(MemorySegment s) {
      return s.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      manager.close();
    }
  }

  @Benchmark
  public float step(Work w) {
    try (NDManager m = w.manager.newSubManager();
        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
      NDArray leaf = w.x.stopGradient();
      leaf.attach(m);
      leaf.setRequiresGradient(true);
      NDArray loss = lossOf(w.loss, leaf, w.y);
      gc.backward(loss);
      NDArray g = leaf.getGradient();
      return loss.getFloat() + (g.getShape().size() > 0 ? 0f : 1f);
    }
  }

  /** The peer's loss expression for {@code loss} on logits {@code x} and targets {@code y}. */
  static NDArray lossOf(String loss, NDArray x, NDArray y) {
    return switch (loss) {
      case "mse" -> x.sub(y).square().mean();
      case "bceWithLogits" -> Activation.softPlus(x).sub(x.mul(y)).mean();
      case "sigmoidFocal" -> { // torchvision's sigmoid_focal_loss, α = 0.25, γ = 2
        NDArray p = Activation.sigmoid(x);
        NDArray ce = Activation.softPlus(x).sub(x.mul(y));
        NDArray notY = y.neg().add(1f);
        NDArray pt = p.mul(y).add(p.neg().add(1f).mul(notY));
        NDArray alphaT = y.mul(0.25f).add(notY.mul(0.75f));
        yield ce.mul(pt.neg().add(1f).square()).mul(alphaT).mean();
      }
      case "ce" -> x.logSoftmax(1).gather(y, 1).mean().neg();
      default -> throw new IllegalArgumentException(loss);
    };
  }

  /** Checks the peer's CE gradient against the engine's on a small case (run once by hand). */
  public static void main(String[] args) {
    try (NDManager m = NDManager.newBaseManager();
        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
      float[] logits = {1f, 2f, 3f, -1f, 0f, 4f};
      NDArray x = m.create(logits, new Shape(2, 3));
      x.setRequiresGradient(true);
      NDArray y = m.create(new long[] {2, 0}, new Shape(2, 1));
      NDArray loss = x.logSoftmax(1).gather(y, 1).mean().neg();
      gc.backward(loss);
      float[] g = new float[6];
      double ours = dev.fusedloss.CrossEntropyLoss.builder().build()
          .compute(logits, new int[] {2, 0}, 3, g);
      System.out.println("torch " + loss.getFloat() + " " + java.util.Arrays.toString(
          x.getGradient().toFloatArray()) + " type " + x.getGradient().getDataType());
      System.out.println("ours  " + ours + " " + java.util.Arrays.toString(g));
      if (DataType.FLOAT32 != x.getDataType()) {
        throw new AssertionError(x.getDataType());
      }
      float[] z = {-3f, -0.5f, 0f, 2f, 7f};
      float[] t = {0f, 1f, 1f, 0f, 1f};
      NDArray zl = m.create(z);
      NDArray y1 = m.create(t);
      NDArray p = Activation.sigmoid(zl);
      NDArray ce = Activation.softPlus(zl).sub(zl.mul(y1));
      NDArray notY = y1.neg().add(1f);
      NDArray pt = p.mul(y1).add(p.neg().add(1f).mul(notY));
      NDArray focal = ce.mul(pt.neg().add(1f).square()).mul(y1.mul(0.25f).add(notY.mul(0.75f)))
          .mean();
      System.out.println("focal torch " + focal.getFloat() + " ours "
          + dev.fusedloss.SigmoidFocalLoss.builder().alpha(0.25f).gamma(2f).build()
              .forward(z, t));
    }
  }
}
