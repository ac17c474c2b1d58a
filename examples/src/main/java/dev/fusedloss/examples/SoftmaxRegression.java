package dev.fusedloss.examples;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.Engine;
import dev.fusedloss.Parallelism;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * A training loop in plain Java with fusedloss: softmax regression (a linear classifier) on
 * generated data. Each step computes the logits {@code X·Wᵀ + b}, hands them to
 * {@link CrossEntropyLoss} for the loss and {@code ∂L/∂logits} in one call (the gradient
 * overwrites the logits buffer: no second buffer), backpropagates that into {@code W} and
 * {@code b}, and takes a gradient step. All buffers are allocated once, in a shared arena, so a
 * large batch may split over threads.
 *
 * <p>Run: {@code ./mvnw -B -q -Pexamples -pl examples -am package -DskipTests} then
 * {@code java --add-modules jdk.incubator.vector -cp examples/target/examples.jar
 * dev.fusedloss.examples.SoftmaxRegression}.
 */
public final class SoftmaxRegression {
  final int n;
  final int features;
  final int classes;
  final MemorySegment x; // [n, features]
  final MemorySegment targets; // [n] int32
  final float[] w; // [classes, features]
  final float[] b; // [classes]
  final MemorySegment logits; // [n, classes], then ∂L/∂logits in place
  final CrossEntropyLoss loss;

  SoftmaxRegression(Arena arena, int n, int features, int classes, long seed) {
    this.n = n;
    this.features = features;
    this.classes = classes;
    this.x = arena.allocate(ValueLayout.JAVA_FLOAT, (long) n * features);
    this.targets = arena.allocate(ValueLayout.JAVA_INT, n);
    this.logits = arena.allocate(ValueLayout.JAVA_FLOAT, (long) n * classes);
    this.w = new float[classes * features];
    this.b = new float[classes];
    this.loss = CrossEntropyLoss.builder().labelSmoothing(0.05f).build()
        .withParallelism(Parallelism.auto());
    generate(seed);
  }

  /** Gaussian clusters: class k's points lie around a random centre of norm about 2. */
  void generate(long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] centres = new float[classes * features];
    for (int i = 0; i < centres.length; i++) {
      centres[i] = (float) (r.nextGaussian() * 2 / Math.sqrt(features));
    }
    for (int i = 0; i < n; i++) {
      int k = r.nextInt(classes);
      targets.setAtIndex(ValueLayout.JAVA_INT, i, k);
      for (int f = 0; f < features; f++) {
        float v = centres[k * features + f] + (float) (r.nextGaussian() * 0.5 / Math.sqrt(features));
        x.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * features + f, v);
      }
    }
  }

  /** One step of gradient descent; returns the loss before the step. */
  double step(float lr) {
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < classes; k++) {
        float s = b[k];
        for (int f = 0; f < features; f++) {
          s += x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * features + f) * w[k * features + f];
        }
        logits.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * classes + k, s);
      }
    }
    // loss and ∂L/∂logits (MEAN over the batch) in one fused call, in place
    double l = loss.compute(logits, targets, n, classes, logits);
    float[] gw = new float[w.length];
    float[] gb = new float[b.length];
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < classes; k++) {
        float g = logits.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * classes + k);
        gb[k] += g;
        for (int f = 0; f < features; f++) {
          gw[k * features + f] += g * x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * features + f);
        }
      }
    }
    for (int j = 0; j < w.length; j++) {
      w[j] -= lr * gw[j];
    }
    for (int k = 0; k < classes; k++) {
      b[k] -= lr * gb[k];
    }
    return l;
  }

  /** The fraction of points whose largest logit is their class (after the last step). */
  double accuracy() {
    int right = 0;
    for (int i = 0; i < n; i++) {
      int best = 0;
      float max = Float.NEGATIVE_INFINITY;
      for (int k = 0; k < classes; k++) {
        float s = b[k];
        for (int f = 0; f < features; f++) {
          s += x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * features + f) * w[k * features + f];
        }
        if (s > max) {
          max = s;
          best = k;
        }
      }
      right += best == targets.getAtIndex(ValueLayout.JAVA_INT, i) ? 1 : 0;
    }
    return (double) right / n;
  }

  /**
   * Trains for a few epochs and prints the loss falling.
   *
   * @param args unused
   */
  public static void main(String[] args) {
    System.out.println(Engine.describe());
    try (Arena arena = Arena.ofShared()) {
      SoftmaxRegression m = new SoftmaxRegression(arena, 4096, 32, 10, 42);
      for (int epoch = 0; epoch <= 40; epoch++) {
        double l = m.step(1.0f);
        if (epoch % 5 == 0) {
          System.out.printf("step %2d  loss %.4f%n", epoch, l);
        }
      }
      System.out.printf("accuracy %.3f%n", m.accuracy());
    }
  }
}
