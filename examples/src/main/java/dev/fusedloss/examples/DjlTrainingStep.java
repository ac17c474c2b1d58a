package dev.fusedloss.examples;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.Loss;
import dev.fusedloss.CrossEntropyLoss;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * fusedloss's cross entropy inside a DJL (PyTorch engine) training step. DJL computes the
 * logits of a linear model under autograd; fusedloss reads them through a view of the tensor's
 * memory where DJL hands one out ({@link NDArray#toByteBuffer()} on the PyTorch engine), and
 * writes the loss and {@code g = ∂L/∂logits} in one fused pass. The gradient goes back into
 * autograd by backpropagating the surrogate {@code sum(logits ⊙ g)}, whose gradient with respect
 * to the logits is exactly {@code g}: the parameters then receive the same gradients as from
 * DJL's own {@code SoftmaxCrossEntropyLoss}, which {@link #compareWithDjl} checks.
 *
 * <p>Run: {@code ./mvnw -B -q -Pexamples -pl examples -am package -DskipTests} then
 * {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
 * -Dai.djl.offline=true -cp examples/target/examples.jar dev.fusedloss.examples.DjlTrainingStep}.
 */
public final class DjlTrainingStep {
  private DjlTrainingStep() {}

  /** The parameters' gradients of one step: {@code {dW, db}} as flat float arrays. */
  record Grads(float[] w, float[] b, double loss) {}

  /** One training step's gradients with fusedloss computing the loss. */
  static Grads withFusedloss(NDManager m, NDArray x, NDArray w, NDArray b, int[] labels) {
    try (GradientCollector gc = Engine.getInstance().newGradientCollector();
        Arena arena = Arena.ofConfined()) {
      NDArray logits = x.matMul(w.transpose()).add(b);
      int rows = (int) logits.getShape().get(0);
      int classes = (int) logits.getShape().get(1);
      // a view of the tensor's memory, in native byte order (no copy on the PyTorch engine)
      MemorySegment view = MemorySegment.ofBuffer(logits.toByteBuffer().order(ByteOrder.nativeOrder()));
      MemorySegment grad = arena.allocate(ValueLayout.JAVA_FLOAT, (long) rows * classes);
      double loss = CrossEntropyLoss.builder().build().compute(view, MemorySegment.ofArray(labels),
          rows, classes, grad);
      NDArray g = m.create(grad.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer(),
          new Shape(rows, classes));
      gc.backward(logits.mul(g).sum()); // ∂/∂logits of sum(logits ⊙ g) is g
      return new Grads(w.getGradient().toFloatArray(), b.getGradient().toFloatArray(), loss);
    }
  }

  /** The same step with DJL's SoftmaxCrossEntropyLoss (sparse labels, from logits, mean). */
  static Grads withDjl(NDManager m, NDArray x, NDArray w, NDArray b, int[] labels) {
    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
      NDArray logits = x.matMul(w.transpose()).add(b);
      NDArray loss = Loss.softmaxCrossEntropyLoss().evaluate(
          new NDList(m.create(labels).toType(DataType.INT64, false)), new NDList(logits));
      gc.backward(loss);
      return new Grads(w.getGradient().toFloatArray(), b.getGradient().toFloatArray(),
          loss.getFloat());
    }
  }

  /**
   * Both steps on the same generated batch and parameters.
   *
   * @param seed seeds the batch and the parameters
   * @return {fusedloss's step, DJL's step}
   */
  static Grads[] compareWithDjl(long seed) {
    try (NDManager m = NDManager.newBaseManager()) {
      int rows = 64;
      int features = 12;
      int classes = 7;
      Engine.getInstance().setRandomSeed((int) seed);
      NDArray x = m.randomNormal(new Shape(rows, features));
      NDArray w = m.randomNormal(new Shape(classes, features)).mul(0.5f);
      NDArray b = m.randomNormal(new Shape(classes)).mul(0.1f);
      w.setRequiresGradient(true);
      b.setRequiresGradient(true);
      int[] labels = new int[rows];
      java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
      for (int i = 0; i < rows; i++) {
        labels[i] = r.nextInt(classes);
      }
      Grads ours = withFusedloss(m, x, w, b, labels);
      w.setRequiresGradient(true); // fresh gradients for the second step
      b.setRequiresGradient(true);
      Grads theirs = withDjl(m, x, w, b, labels);
      return new Grads[] {ours, theirs};
    }
  }

  /**
   * Runs both steps and prints their losses and the largest gradient difference.
   *
   * @param args unused
   */
  public static void main(String[] args) {
    Grads[] g = compareWithDjl(42);
    double worst = 0;
    for (int i = 0; i < g[0].w().length; i++) {
      worst = Math.max(worst, Math.abs(g[0].w()[i] - g[1].w()[i]));
    }
    System.out.printf("loss fusedloss %.7f, DJL %.7f; largest |dW difference| %.3g%n",
        g[0].loss(), g[1].loss(), worst);
  }
}
