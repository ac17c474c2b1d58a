package dev.fusedloss;

import dev.fusedloss.internal.Args;
import dev.fusedloss.internal.RowArgs;
import dev.fusedloss.internal.RowTiles;
import dev.fusedloss.internal.Split;
import dev.fusedloss.internal.SoftmaxKernels;
import dev.fusedloss.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * Temperature distillation (Hinton et al.): per row
 * {@code ℓ_i = T²·KL(softmax(teacher_i/T) ‖ softmax(student_i/T))
 *        = T²·Σ_c q_ic·(ln q_ic − log_softmax(student_i/T)_c)}, {@code q = softmax(teacher/T)},
 * fused per row: both log-sum-exps, the loss and the gradient without materialising either
 * distribution in caller memory. (Without {@code accumulate}, the Vector API path copies each
 * row pair into a per-thread scratch buffer and keeps its exponentials there: two exps per
 * element instead of five. A thread's first call, and its first call with longer rows,
 * allocate that buffer, which it keeps for its life.)
 *
 * <p>Gradient with respect to the student logits: {@code T·(softmax(student/T) − q)}, divided by
 * the rows for {@link Reduction#BATCH_MEAN} (the default: PyTorch's
 * {@code kl_div(..., reduction="batchmean")·T²}); SUM adds; NONE writes one value per row. No
 * gradient flows to the teacher.
 *
 * <p>Edges: masked teacher classes ({@code −∞}, q = 0) contribute 0 ({@code 0·ln 0 = 0}); a
 * masked student class where the teacher puts mass gives {@code +∞}. Logits are divided by T in
 * float32, so {@code |x|/T} must stay below 3.4e38 (a huge logit with T &lt; 1 overflows to ∞ and
 * gives NaN, as in any float32 implementation). Above T = 8 the Vector API path computes the rows
 * in double precision, as the scalar path always does: T²·KL tends to a finite limit while its
 * float32 terms (logarithms of sums of values near 1) keep their absolute rounding error, which
 * T² magnifies (measured in float32: 6e-5 relative at T = 100, a negative loss at T = 1e5; in
 * double: within 1e-6 up to T = 1e6). Layout (both inputs share
 * {@code rowStride}), calls and checks as in {@link CrossEntropyLoss}.
 */
public final class DistillationLoss extends LossBase {
  private final Reduction reduction;
  private final float temperature;
  private final SoftmaxKernels kernels;

  private DistillationLoss(Reduction reduction, float temperature) {
    if (reduction == null || reduction == Reduction.MEAN) {
      throw new IllegalArgumentException("reduction must be BATCH_MEAN, SUM or NONE, got " + reduction);
    }
    if (!(temperature > 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be finite and > 0, got " + temperature);
    }
    this.reduction = reduction;
    this.temperature = temperature;
    this.kernels = VectorizationProvider.get().softmax();
  }

  /**
   * Distillation with the given temperature and reduction (usually BATCH_MEAN).
   *
   * @param reduction MEAN, SUM or NONE
   * @param temperature the temperature T, finite and > 0
   * @return the loss
   */
  public static DistillationLoss of(Reduction reduction, float temperature) {
    return new DistillationLoss(reduction, temperature);
  }

  /**
   * This loss reading its inputs and writing the gradient in the given formats (all {@link
   * FloatFormat#FLOAT32} by default). With a 16-bit format, whole rows are widened into a
   * per-thread float32 scratch (about 8192 values at a time, one row when longer; kept for the
   * thread's life), the float32 kernel runs there and the gradient rows are rounded to {@code
   * grad}'s format (nearest even; accumulating, the float32 sum is rounded once). Row losses
   * are float32; sizes are checked in values of each buffer's format.
   *
   * @param input the format of the input rows
   * @param target the format of the teacher logits
   * @param grad the format of the gradient
   * @return a copy of this loss with those formats
   * @throws IllegalArgumentException if a format is null
   */
  public DistillationLoss withFormats(FloatFormat input, FloatFormat target, FloatFormat grad) {
    return copyWithFormats(input, target, grad);
  }

  /**
   * This loss with another parallelism.
   *
   * @throws IllegalArgumentException if {@code parallelism} is null
   * @param parallelism how calls may be split over threads
   * @return a copy of this loss using {@code parallelism}
   */
  public DistillationLoss withParallelism(Parallelism parallelism) {
    return copyWith(parallelism);
  }

  /**
   * The reduction.
   *
   * @return the reduction
   */
  public Reduction reduction() {
    return reduction;
  }

  /**
   * The temperature T.
   *
   * @return T
   */
  public float temperature() {
    return temperature;
  }

  /**
   * The full call: loss and gradient with respect to the student.
   *
   * @param student student logits, {@code rows} rows of {@code classes} floats
   * @param teacher teacher logits in the same layout
   * @param lossOut one value per row; only with NONE, may be null
   * @param grad {@code gradScale·∂L/∂student} in the student layout (may be student itself), or
   *     null
   * @return the reduced loss; with NONE, the sum of the row losses
   * @param rowStride floats from one row to the next (≥ {@code classes})
   * @param rows the number of rows N (≥ 0)
   * @param classes the number of classes C per row (≥ 1)
   * @param gradScale finite factor applied to the gradient
   * @param accumulate add the gradient to {@code grad}'s contents instead of overwriting them
   */
  public double compute(MemorySegment student, MemorySegment teacher, long rowStride, long rows,
      long classes, MemorySegment lossOut, MemorySegment grad, float gradScale,
      boolean accumulate) {
    long span = RowArgs.shape(rows, classes, rowStride);
    if (formatted) {
      RowTiles.check(student, "student", inputFormat, span, rows, teacher,
          span * targetFormat.bytes(), targetFormat, lossOut, grad, gradFormat,
          reduction == Reduction.NONE, gradScale);
    } else {
      Args.input("student", student, span);
      Args.input("teacher", teacher, span);
      Args.finite("gradScale", gradScale);
      RowArgs.outputs(student, "student", teacher, "teacher", span * Float.BYTES, span, rows,
          lossOut, grad, reduction == Reduction.NONE);
      if (grad != null) {
        // the gradient sweep reads the teacher row after writing: only the student may alias
        Args.disjoint("grad", grad, span * Float.BYTES, "teacher", teacher, span * Float.BYTES);
      }
    }
    double denom = reduction == Reduction.BATCH_MEAN ? rows : 1;
    float coef = (float) (gradScale / denom);
    if (formatted) {
      RowTiles.Kernel k = (x, t, st, c, r0, r1, l, g, cf, acc) ->
          kernels.distillation(x, t, st, c, r0, r1, l, g, cf, acc, temperature);
      return RowTiles.run(new RowTiles.Call(k, inputFormat, student, rowStride, rows, classes,
          teacher, 0, targetFormat, lossOut, grad, gradFormat), coef, accumulate, parallelism(),
          VectorizationProvider.get().formats()) / denom;
    }
    long chunk = Split.rowChunk(rows, classes);
    int threads = Split.threads(parallelism(), rows * classes, rows, chunk, student, teacher, lossOut,
        grad);
    double sum = 0;
    if (threads == 1) {
      for (long r = 0; r < rows; r += chunk) {
        sum += kernels.distillation(student, teacher, rowStride, classes, r, Math.min(rows, r + chunk), lossOut, grad, coef, accumulate, temperature);
      }
    } else {
      sum = Split.parallel(parallelism().executor(), threads, rows, chunk,
          (r0, r1) -> kernels.distillation(student, teacher, rowStride, classes, r0, r1, lossOut, grad, coef, accumulate, temperature));
    }
    return sum / denom;
  }

  /**
   * {@code float[]} form: packed rows, scale 1, overwriting.
   *
   * @param student student logits: {@code rows} rows of {@code classes} floats, {@code rowStride} apart
   * @param teacher teacher logits in the student's layout
   * @param classes the number of classes C per row (≥ 1)
   * @param grad receives the gradient, or null for the loss only
   * @return the reduced loss; with NONE, the sum of the per-row (per-element) losses
   */
  public double compute(float[] student, float[] teacher, int classes, float[] grad) {
    long rows = CrossEntropyLoss.packedRows(student, classes, grad);
    if (teacher == null || teacher.length != student.length) {
      throw new IllegalArgumentException("teacher must have the length of student");
    }
    return compute(MemorySegment.ofArray(student), MemorySegment.ofArray(teacher), classes, rows,
        classes, null, grad == null ? null : MemorySegment.ofArray(grad), 1f, false);
  }
}
