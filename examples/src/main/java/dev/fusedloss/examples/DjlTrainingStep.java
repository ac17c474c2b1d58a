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
import java.lang.foreign.MemorySegment;

/**
 * fusedloss's cross entropy inside a DJL (PyTorch engine) training step. DJL computes the
 * logits of a linear model under autograd; fusedloss reads them through a view of the tensor's
 * memory ({@code NDArray.toByteBuffer(true)}, a direct buffer over the tensor on the PyTorch
 * engine) and writes the loss and {@code g = ∂L/∂logits} in one fused pass straight into a
 * tensor's memory the same way: no copy either way. The gradient goes back into
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
    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
      NDArray logits = x.matMul(w.transpose()).add(b);
      int rows = (int) logits.getShape().get(0);
      int classes = (int) logits.getShape().get(1);
      // views of the tensors' own memory (toByteBuffer(true) on the PyTorch engine): fusedloss
      // reads the logits and writes the gradient in place, with no copy either way
      MemorySegment view = MemorySegment.ofBuffer(logits.toByteBuffer(true));
      NDArray g = m.zeros(new Shape(rows, classes));
      MemorySegment grad = MemorySegment.ofBuffer(g.toByteBuffer(true));
      double loss = CrossEntropyLoss.builder().build().compute(view, MemorySegment.ofArray(labels),
          rows, classes, grad);
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
      java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
      float[] xs = gaussians(r, rows * features, 1);
      float[] ws = gaussians(r, classes * features, 0.5);
      float[] bs = gaussians(r, classes, 0.1);
      int[] labels = new int[rows];
      for (int i = 0; i < rows; i++) {
        labels[i] = r.nextInt(classes);
      }
      NDArray x = m.create(xs, new Shape(rows, features));
      // each step gets its own parameter tensors: gradients accumulate across backward passes
      NDArray w = m.create(ws, new Shape(classes, features));
      NDArray b = m.create(bs, new Shape(classes));
      w.setRequiresGradient(true);
      b.setRequiresGradient(true);
      Grads ours = withFusedloss(m, x, w, b, labels);
      NDArray w2 = m.create(ws, new Shape(classes, features));
      NDArray b2 = m.create(bs, new Shape(classes));
      w2.setRequiresGradient(true);
      b2.setRequiresGradient(true);
      Grads theirs = withDjl(m, x, w2, b2, labels);
      return new Grads[] {ours, theirs};
    }
  }

  static float[] gaussians(java.util.SplittableRandom r, int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (r.nextGaussian() * scale);
    }
    return a;
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
