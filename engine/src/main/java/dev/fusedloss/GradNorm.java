package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.ElementwiseKernels;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * GradNorm (Chen et al. 2018): task weights {@code w_i} for a multi-task objective
 * {@code Σ w_i·L_i}, updated so that the tasks' gradient norms on a shared layer train at
 * rates balanced by their relative inverse training rates.
 *
 * <p>One {@link #step}: {@code g_i = ‖∇_shared L_i‖₂} (the gradient of the <em>unweighted</em>
 * task loss), {@code G_i = w_i·g_i}, {@code Ḡ = mean_i G_i}, {@code r_i = (L_i(t)/L_i(0)) /
 * mean_j (L_j(t)/L_j(0))}, {@code L_grad = Σ_i |G_i − Ḡ·r_i^α|} with {@code Ḡ·r_i^α} held
 * constant, {@code ∂L_grad/∂w_i = sign(G_i − Ḡ·r_i^α)·g_i}; then {@code w' = w − lr·∂L_grad/∂w}
 * renormalised to {@code w'' = T·w'/Σ w'}. The initial losses {@code L_i(0)} are those of the
 * first step unless given.
 *
 * <p>The norms come from one pass over the T gradient segments, summed in double in fixed
 * chunks (split over threads as {@link Parallelism} allows, with the same bits on any thread
 * count). A step that would leave a weight ≤ 0 or non-finite throws
 * {@link IllegalStateException} and changes nothing. Not thread-safe: one state per training
 * loop.
 */
public final class GradNorm {
  private final float alpha;
  private final float lr;
  private final double[] weights;
  private double[] initialLosses;
  private final double[] norms;
  private final double[] weightGrad;
  private Parallelism parallelism = Parallelism.auto();
  private final ElementwiseKernels kernels = VectorizationProvider.get().elementwise();

  /**
   * A state with every weight 1; the first step's losses become the initial losses.
   *
   * @param tasks the number of tasks T ≥ 1
   * @param alpha the asymmetry α, finite and ≥ 0
   * @param lr the weights' learning rate, finite and &gt; 0
   * @throws IllegalArgumentException if an argument is out of range
   */
  public GradNorm(int tasks, float alpha, float lr) {
    this(ones(tasks), null, alpha, lr);
  }

  /**
   * A state with the given weights and, if not null, initial losses (to resume training).
   *
   * @param weights the current weights, finite and &gt; 0 (copied)
   * @param initialLosses {@code L_i(0)}, finite and &gt; 0, or null to take the first step's
   * @param alpha the asymmetry α, finite and ≥ 0
   * @param lr the weights' learning rate, finite and &gt; 0
   * @throws IllegalArgumentException if an argument is out of range
   */
  public GradNorm(float[] weights, double[] initialLosses, float alpha, float lr) {
    if (weights == null || weights.length == 0) {
      throw new IllegalArgumentException("at least one task is needed");
    }
    if (!(alpha >= 0) || Float.isInfinite(alpha)) {
      throw new IllegalArgumentException("alpha must be finite and >= 0, got " + alpha);
    }
    if (!(lr > 0) || Float.isInfinite(lr)) {
      throw new IllegalArgumentException("lr must be finite and > 0, got " + lr);
    }
    this.weights = new double[weights.length];
    for (int i = 0; i < weights.length; i++) {
      if (!(weights[i] > 0) || Float.isInfinite(weights[i])) {
        throw new IllegalArgumentException("weights[" + i + "] must be finite and > 0, got "
            + weights[i]);
      }
      this.weights[i] = weights[i];
    }
    if (initialLosses != null) {
      checkLosses("initialLosses", initialLosses, weights.length);
      this.initialLosses = initialLosses.clone();
    }
    this.alpha = alpha;
    this.lr = lr;
    this.norms = new double[weights.length];
    this.weightGrad = new double[weights.length];
  }

  private static float[] ones(int tasks) {
    if (tasks < 1) {
      throw new IllegalArgumentException("tasks must be >= 1, got " + tasks);
    }
    float[] w = new float[tasks];
    Arrays.fill(w, 1f);
    return w;
  }

  private static void checkLosses(String name, double[] l, int tasks) {
    if (l == null || l.length != tasks) {
      throw new IllegalArgumentException(name + " must hold one value per task (" + tasks + ")");
    }
    for (int i = 0; i < tasks; i++) {
      if (!(l[i] > 0) || Double.isInfinite(l[i])) {
        throw new IllegalArgumentException(name + "[" + i + "] must be finite and > 0, got "
            + l[i]);
      }
    }
  }

  /**
   * How the norm pass may use threads (default {@link Parallelism#auto()}).
   *
   * @param parallelism the parallelism
   * @return this state
   * @throws IllegalArgumentException if {@code parallelism} is null
   */
  public GradNorm parallelism(Parallelism parallelism) {
    if (parallelism == null) {
      throw new IllegalArgumentException("parallelism must not be null");
    }
    this.parallelism = parallelism;
    return this;
  }

  /**
   * The current weights, summing to T.
   *
   * @return a copy of the weights
   */
  public float[] weights() {
    float[] w = new float[weights.length];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) weights[i];
    }
    return w;
  }

  /**
   * The gradient norms {@code g_i} of the last step.
   *
   * @return a copy (zeros before the first step)
   */
  public double[] gradNorms() {
    return norms.clone();
  }

  /**
   * {@code ∂L_grad/∂w_i} of the last step.
   *
   * @return a copy (zeros before the first step)
   */
  public double[] weightGrad() {
    return weightGrad.clone();
  }

  /**
   * One GradNorm update.
   *
   * @param sharedGrads per task, the gradient of its unweighted loss with respect to the shared
   *     parameters: {@code n} floats each
   * @param n the number of shared parameters
   * @param taskLosses the tasks' current losses {@code L_i(t)}, finite and &gt; 0
   * @return the GradNorm loss {@code L_grad} before the update
   * @throws IllegalArgumentException if the counts or lengths do not match, or a loss is not
   *     finite and positive
   * @throws IllegalStateException if the update would leave a weight ≤ 0 or non-finite (nothing
   *     changes then)
   */
  public double step(MemorySegment[] sharedGrads, long n, double[] taskLosses) {
    int t = weights.length;
    if (sharedGrads == null || sharedGrads.length != t) {
      throw new IllegalArgumentException("expected " + t + " gradient segments, got "
          + (sharedGrads == null ? 0 : sharedGrads.length));
    }
    Args.count("n", n);
    for (int i = 0; i < t; i++) {
      Args.input("sharedGrads[" + i + "]", sharedGrads[i], n);
    }
    checkLosses("taskLosses", taskLosses, t);
    double[] l0 = initialLosses != null ? initialLosses : taskLosses;
    double[] g = new double[t];
    for (int i = 0; i < t; i++) {
      g[i] = Math.sqrt(sumSquares(sharedGrads[i], n));
    }
    double meanG = 0;
    double meanRatio = 0;
    for (int i = 0; i < t; i++) {
      meanG += weights[i] * g[i];
      meanRatio += taskLosses[i] / l0[i];
    }
    meanG /= t;
    meanRatio /= t;
    double loss = 0;
    double[] next = new double[t];
    double[] dw = new double[t];
    double sum = 0;
    for (int i = 0; i < t; i++) {
      double target = meanG * Math.pow(taskLosses[i] / l0[i] / meanRatio, alpha);
      double diff = weights[i] * g[i] - target;
      loss += Math.abs(diff);
      dw[i] = Math.signum(diff) * g[i];
      next[i] = weights[i] - lr * dw[i];
      sum += next[i];
    }
    for (int i = 0; i < t; i++) {
      next[i] = t * next[i] / sum;
      if (!(next[i] > 0) || Double.isInfinite(next[i])) {
        throw new IllegalStateException("GradNorm step would make weight " + i + " " + next[i]
            + " (lr " + lr + " too large for gradient norms " + Arrays.toString(g)
            + "); nothing changed");
      }
    }
    System.arraycopy(next, 0, weights, 0, t);
    System.arraycopy(g, 0, norms, 0, t);
    System.arraycopy(dw, 0, weightGrad, 0, t);
    if (initialLosses == null) {
      initialLosses = taskLosses.clone();
    }
    return loss;
  }

  private double sumSquares(MemorySegment s, long n) {
    long chunk = Split.elementChunk(n);
    int threads = Split.threads(parallelism, n, n, chunk, s, null, null, null);
    if (threads == 1) {
      double sum = 0;
      for (long from = 0; from < n; from += chunk) {
        sum += kernels.sumSquares(s, from, Math.min(n, from + chunk));
      }
      return sum;
    }
    return Split.parallel(parallelism.executor(), threads, n, chunk,
        (from, to) -> kernels.sumSquares(s, from, to));
  }
}
