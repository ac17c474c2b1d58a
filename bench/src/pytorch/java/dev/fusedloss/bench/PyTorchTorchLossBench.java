package dev.fusedloss.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.math.BigDecimal;
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
 * PyTorch as the peer of {@code TorchLossBench.fused} for the losses DJL can compose from its
 * ops (DJL binds none of these modules, nor {@code ctc_loss}): the module's formula as PyTorch's
 * functional code writes it (clamps as {@code relu}), forward and autograd's backward to every
 * float input, one libtorch intra-op thread. Same inputs ({@link TorchLossState}).
 *
 * <p>Each trial's setup prints {@code peer check LOSS: fusedloss X pytorch Y} and fails beyond
 * 1e-4 relative.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx3g",
    "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_interop_threads=1",
    "--enable-native-access=ALL-UNNAMED"})
public class PyTorchTorchLossBench {

  @State(Scope.Benchmark)
  public static class Work {
    @Param({"poissonNll", "gaussianNll", "softMargin", "marginRanking", "cosineEmbedding",
        "triplet"})
    public String loss;

    NDManager manager;
    NDArray a;
    NDArray b;
    NDArray c;
    NDArray y;

    @Setup(Level.Trial)
    public void setup() {
      Engine.getEngine("PyTorch");
      JniUtils.setNumThreads(1);
      manager = NDManager.newBaseManager();
      TorchLossState s = new TorchLossState();
      s.loss = loss;
      s.setup();
      double ours = s.fused();
      Shape shape = s.dim == 1 ? new Shape(s.n) : new Shape(s.rows, s.dim);
      a = manager.create(s.ah, shape);
      b = manager.create(s.bh, shape);
      c = manager.create(s.ch, shape);
      float[] yv = s.dim == 1 ? s.yh : java.util.Arrays.copyOf(s.yh, s.rows);
      y = manager.create(yv, s.dim == 1 ? shape : new Shape(s.rows));
      s.tearDown();
      double peer;
      try (NDManager m = manager.newSubManager()) {
        NDArray l = loss(a, b, c, y);
        l.attach(m);
        peer = l.getFloat();
      }
      System.out.println("peer check " + loss + ": fusedloss "
          + BigDecimal.valueOf(ours).toPlainString() + " pytorch "
          + BigDecimal.valueOf(peer).toPlainString());
      double rel = Math.abs(ours - peer) / Math.max(Math.abs(ours), Math.abs(peer));
      if (!(rel <= 1e-4)) {
        throw new IllegalStateException("peer check " + loss + " failed: fusedloss " + ours
            + ", pytorch " + peer + " (relative difference " + rel + " > 1e-4)");
      }
    }

    /** PyTorch's functional formula for the loss, MEAN reduction, options as TorchLossState's. */
    NDArray loss(NDArray x1, NDArray x2, NDArray x3, NDArray t) {
      return switch (loss) {
        case "poissonNll" -> x1.exp().sub(x2.mul(x1)).mean();
        case "gaussianNll" -> {
          NDArray v = x3.maximum(1e-6f);
          NDArray d = x1.sub(x2);
          yield v.log().add(d.mul(d).div(v)).mul(0.5f).mean();
        }
        case "softMargin" -> x1.mul(t).neg().exp().add(1f).log().mean(); // DJL has no log1p
        case "marginRanking" -> Activation.relu(t.neg().mul(x1.sub(x2)).add(0.1f)).mean();
        case "cosineEmbedding" -> {
          NDArray ab = x1.mul(x2).sum(new int[] {1});
          NDArray aa = x1.mul(x1).sum(new int[] {1}).add(1e-12f);
          NDArray bb = x2.mul(x2).sum(new int[] {1}).add(1e-12f);
          NDArray cos = ab.div(aa.mul(bb).sqrt());
          NDArray pos = cos.neg().add(1f).mul(t.eq(1f).toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
          NDArray neg = Activation.relu(cos.sub(0.1f))
              .mul(t.eq(-1f).toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
          yield pos.add(neg).mean();
        }
        case "triplet" -> {
          NDArray dp = x1.sub(x2).add(1e-6f).pow(2f).sum(new int[] {1}).sqrt();
          NDArray dn = x1.sub(x3).add(1e-6f).pow(2f).sum(new int[] {1}).sqrt();
          yield Activation.relu(dp.sub(dn).add(1f)).mean();
        }
        default -> throw new IllegalArgumentException(loss);
      };
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      manager.close();
    }
  }

  /** Forward and backward to every float input. */
  @Benchmark
  public float step(Work s) {
    try (NDManager m = s.manager.newSubManager();
        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
      NDArray[] in = {s.a.stopGradient(), s.b.stopGradient(), s.c.stopGradient()};
      for (NDArray x : in) {
        x.attach(m);
        x.setRequiresGradient(true);
      }
      NDArray loss = s.loss(in[0], in[1], in[2], s.y);
      gc.backward(loss);
      return loss.getFloat() + (in[0].getGradient().getShape().size() > 0 ? 0f : 1f);
    }
  }
}
