package dev.fusedloss;

/**
 * Several task losses combined into one objective, each task with its own inputs, targets and
 * gradient buffer, each computed by its own fused call.
 *
 * <ul>
 *   <li>{@link #fixed fixed} weights: {@code total = Σ_i λ_i·L_i};
 *   <li>{@link #uncertainty learned uncertainty} (Kendall, Gal and Cipolla 2018), with
 *       log-variances {@code s_i}: {@code total = Σ_i c_i·e^(−s_i)·L_i + ½·s_i}, {@code c_i = ½}
 *       for a regression task and 1 for a classification task.
 * </ul>
 *
 * <p>A task's weight depends only on λ or {@code s}, never on its loss, so it is known before
 * the task runs: each task's gradient is scaled inside its own fused pass (its {@code gradScale}
 * is the weight times the caller's scale) and nothing is read or written a second time. The call
 * returns the total, fills the per-task losses and, for uncertainty weighting, {@code ∂total/∂s_i
 * = ½ − c_i·e^(−s_i)·L_i} for the caller's optimiser. A task whose weight is 0 still runs (its
 * loss is reported) and writes a zero gradient.
 *
 * <pre>{@code
 * MultiTaskLoss mt = MultiTaskLoss.uncertainty(TaskKind.CLASSIFICATION, TaskKind.REGRESSION);
 * double total = mt.compute(logVars, losses, logVarGrads,
 *     scale -> ce.compute(logits, C, labels, n, C, null, gradCls, scale, false),
 *     scale -> smoothL1.compute(boxes, boxTargets, 4 * n, null, gradBox, scale, false));
 * }</pre>
 *
 * Immutable and thread-safe; a call allocates nothing beyond what its tasks do.
 */
public final class MultiTaskLoss {
  /** Whether a task is a regression ({@code c = ½}) or a classification ({@code c = 1}). */
  public enum TaskKind {
    /** A regression task (Gaussian likelihood): {@code c = ½}. */
    REGRESSION,
    /** A classification task (softmax likelihood): {@code c = 1}. */
    CLASSIFICATION
  }

  /** One task's fused call: it computes its loss and writes {@code gradScale ×} its gradient. */
  @FunctionalInterface
  public interface Task {
    /**
     * Runs the task's loss.
     *
     * @param gradScale the factor its gradient must be written with
     * @return the task's loss {@code L_i}
     */
    double compute(float gradScale);
  }

  private final float[] lambdas;
  private final TaskKind[] kinds;

  private MultiTaskLoss(float[] lambdas, TaskKind[] kinds) {
    this.lambdas = lambdas;
    this.kinds = kinds;
  }

  /**
   * Fixed weights.
   *
   * @param lambdas one finite weight per task
   * @return the objective
   * @throws IllegalArgumentException if there is no task or a weight is not finite
   */
  public static MultiTaskLoss fixed(float... lambdas) {
    if (lambdas == null || lambdas.length == 0) {
      throw new IllegalArgumentException("at least one task is needed");
    }
    for (int i = 0; i < lambdas.length; i++) {
      if (!Float.isFinite(lambdas[i])) {
        throw new IllegalArgumentException("lambdas[" + i + "] must be finite, got " + lambdas[i]);
      }
    }
    return new MultiTaskLoss(lambdas.clone(), null);
  }

  /**
   * Learned uncertainty weighting.
   *
   * @param kinds the kind of each task
   * @return the objective
   * @throws IllegalArgumentException if there is no task or a kind is null
   */
  public static MultiTaskLoss uncertainty(TaskKind... kinds) {
    if (kinds == null || kinds.length == 0) {
      throw new IllegalArgumentException("at least one task is needed");
    }
    for (int i = 0; i < kinds.length; i++) {
      if (kinds[i] == null) {
        throw new IllegalArgumentException("kinds[" + i + "] must not be null");
      }
    }
    return new MultiTaskLoss(null, kinds.clone());
  }

  /**
   * The number of tasks.
   *
   * @return T ≥ 1
   */
  public int tasks() {
    return lambdas != null ? lambdas.length : kinds.length;
  }

  /**
   * Runs every task with fixed weights.
   *
   * @param taskLosses receives each task's loss {@code L_i}, or null
   * @param tasks the tasks, in the order of the weights
   * @return {@code Σ λ_i·L_i}
   * @throws IllegalArgumentException if the counts differ or this objective learns its weights
   */
  public double compute(double[] taskLosses, Task... tasks) {
    if (lambdas == null) {
      throw new IllegalArgumentException("uncertainty weighting needs the log-variances");
    }
    check(tasks, taskLosses, null);
    double total = 0;
    for (int i = 0; i < tasks.length; i++) {
      double l = tasks[i].compute(lambdas[i]);
      if (taskLosses != null) {
        taskLosses[i] = l;
      }
      total += lambdas[i] * l;
    }
    return total;
  }

  /**
   * Runs every task with learned uncertainty weights.
   *
   * @param logVars the log-variances {@code s_i}, finite
   * @param taskLosses receives each task's loss {@code L_i}, or null
   * @param logVarGrads receives {@code ∂total/∂s_i}, or null
   * @param tasks the tasks, in the order of the kinds
   * @return {@code Σ c_i·e^(−s_i)·L_i + ½·s_i}
   * @throws IllegalArgumentException if the counts differ, a log-variance is not finite or its
   *     weight {@code c·e^(−s)} overflows float, or this objective has fixed weights
   */
  public double compute(float[] logVars, double[] taskLosses, double[] logVarGrads,
      Task... tasks) {
    if (kinds == null) {
      throw new IllegalArgumentException("fixed weights take no log-variances");
    }
    check(tasks, taskLosses, logVarGrads);
    if (logVars == null || logVars.length != kinds.length) {
      throw new IllegalArgumentException("logVars must hold one value per task (" + kinds.length
          + ")");
    }
    for (int i = 0; i < logVars.length; i++) {
      double w = weight(i, logVars[i]);
      if (!Float.isFinite(logVars[i]) || !Float.isFinite((float) w)) {
        throw new IllegalArgumentException("logVars[" + i + "] = " + logVars[i]
            + " gives no finite task weight");
      }
    }
    double total = 0;
    for (int i = 0; i < tasks.length; i++) {
      double w = weight(i, logVars[i]);
      double l = tasks[i].compute((float) w);
      if (taskLosses != null) {
        taskLosses[i] = l;
      }
      if (logVarGrads != null) {
        logVarGrads[i] = 0.5 - w * l;
      }
      total += w * l + 0.5 * logVars[i];
    }
    return total;
  }

  private double weight(int i, float logVar) {
    return (kinds[i] == TaskKind.REGRESSION ? 0.5 : 1.0) * Math.exp(-(double) logVar);
  }

  private void check(Task[] tasks, double[] taskLosses, double[] logVarGrads) {
    int t = tasks();
    if (tasks == null || tasks.length != t) {
      throw new IllegalArgumentException("expected " + t + " tasks, got "
          + (tasks == null ? 0 : tasks.length));
    }
    for (int i = 0; i < t; i++) {
      if (tasks[i] == null) {
        throw new IllegalArgumentException("tasks[" + i + "] must not be null");
      }
    }
    if (taskLosses != null && taskLosses.length != t) {
      throw new IllegalArgumentException("taskLosses must hold " + t + " values");
    }
    if (logVarGrads != null && logVarGrads.length != t) {
      throw new IllegalArgumentException("logVarGrads must hold " + t + " values");
    }
  }
}
