package dev.fusedloss.bench;

import dev.fusedloss.BCELoss;
import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.BinaryFocalLoss;
import dev.fusedloss.ClassIndexType;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.DistillationLoss;
import dev.fusedloss.KLDivLoss;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.OhemCrossEntropyLoss;
import dev.fusedloss.SoftmaxFocalLoss;
import java.lang.foreign.MemorySegment;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.FloatFormat;
import dev.fusedloss.HuberLoss;
import dev.fusedloss.L1Loss;
import dev.fusedloss.LabelSmoothing;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SigmoidFocalLoss;
import dev.fusedloss.SmoothL1Loss;

/** Maps a reference case onto the engine's public API and runs it (float32 in and out). */
final class Cases {
  /** The loss (one value, or the per-element/row values for reduction none) and the gradient. */
  record Result(double[] loss, double[] grad, FloatFormat gradFormat) {
    Result(double[] loss, double[] grad) {
      this(loss, grad, FloatFormat.FLOAT32);
    }
  }

  /** The buffer format an option names ({@code input_dtype} etc.), float32 when absent. */
  static FloatFormat format(Case c, String key) {
    if (!c.options().has(key)) {
      return FloatFormat.FLOAT32;
    }
    return switch (c.options().get(key).asText()) {
      case "float32" -> FloatFormat.FLOAT32;
      case "bfloat16" -> FloatFormat.BFLOAT16;
      case "float16" -> FloatFormat.FLOAT16;
      default -> throw new UnsupportedOperationException(key + " '"
          + c.options().get(key).asText() + "'");
    };
  }

  /** The values stored in format {@code f} (each must be exact in it). */
  static MemorySegment encode(float[] v, FloatFormat f) {
    if (f == FloatFormat.FLOAT32) {
      return MemorySegment.ofArray(v.clone());
    }
    short[] s = new short[v.length];
    for (int i = 0; i < v.length; i++) {
      s[i] = f.encode(v[i]);
      if (Float.compare(f.decode(s[i]), v[i]) != 0 && !Float.isNaN(v[i])) {
        throw new IllegalArgumentException("value " + v[i] + " is not exact in " + f);
      }
    }
    return MemorySegment.ofArray(s);
  }

  /** A zeroed buffer of {@code n} values in format {@code f}. */
  static MemorySegment buffer(int n, FloatFormat f) {
    return f == FloatFormat.FLOAT32 ? MemorySegment.ofArray(new float[n])
        : MemorySegment.ofArray(new short[n]);
  }

  /** The {@code n} values of a buffer in format {@code f}, widened. */
  static double[] decode(MemorySegment s, FloatFormat f, int n) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) {
      d[i] = f == FloatFormat.FLOAT32
          ? s.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i)
          : f.decode(s.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i));
    }
    return d;
  }

  /** The loss with the case's buffer formats, when it names any. */
  static ElementwiseLoss formats(Case c, ElementwiseLoss loss) {
    return loss.withFormats(format(c, "input_dtype"), format(c, "target_dtype"),
        format(c, "grad_dtype"));
  }

  private Cases() {}

  /** The case's class indices as a segment: int32, or int64 when asked (read in place). */
  static MemorySegment indexTargets(Case c, boolean int64) {
    int[] t = c.targetInts();
    if (!int64) {
      return MemorySegment.ofArray(t);
    }
    long[] wide = new long[t.length];
    for (int i = 0; i < t.length; i++) {
      wide[i] = t[i];
    }
    return MemorySegment.ofArray(wide);
  }

  static Result evaluate(Case c, boolean int64) {
    return evaluate(c, int64, 1f);
  }

  /** As {@link #evaluate(Case, boolean)} with the gradient scaled by {@code scale}. */
  static Result evaluate(Case c, boolean int64, float scale) {
    ClassIndexType indexType = int64 ? ClassIndexType.INT64 : ClassIndexType.INT32;
    return switch (c.loss()) {
      case "mse" -> {
        c.onlyOptions("reduction", "check_finite", "input_dtype", "target_dtype", "grad_dtype");
        yield elementwise(c, formats(c, guard(c, MSELoss.of(reduction(c)))), scale);
      }
      case "l1" -> {
        c.onlyOptions("reduction");
        yield elementwise(c, L1Loss.of(reduction(c)), scale);
      }
      case "smooth_l1" -> {
        c.onlyOptions("reduction", "beta");
        yield elementwise(c, SmoothL1Loss.of(reduction(c), (float) c.option("beta", 1)), scale);
      }
      case "huber" -> {
        c.onlyOptions("reduction", "delta");
        yield elementwise(c, HuberLoss.of(reduction(c), (float) c.option("delta", 1)), scale);
      }
      case "bce" -> {
        c.onlyOptions("reduction", "input_kind", "weight", "weight_shape", "log_clamp",
            "grad_eps", "clip_eps", "origin");
        expect(c, "input_kind", "probabilities");
        BCELoss.Builder b = BCELoss.builder().reduction(reduction(c)).weight(c.floatOption("weight"));
        if (c.options().has("clip_eps")) {
          b.clipEps((float) c.option("clip_eps", 0));
        } else {
          // PyTorch's constants are the engine's; any other value is not supported
          if (c.option("log_clamp", -100) != -100 || c.option("grad_eps", 1e-12) != 1e-12) {
            throw new UnsupportedOperationException("bce log_clamp/grad_eps other than -100/1e-12");
          }
        }
        yield elementwise(c, b.build(), scale);
      }
      case "bce_with_logits" -> {
        c.onlyOptions("reduction", "input_kind", "weight", "weight_shape", "pos_weight",
            "check_finite", "input_dtype", "target_dtype", "grad_dtype");
        expect(c, "input_kind", "logits");
        yield elementwise(c, formats(c, guard(c, BCEWithLogitsLoss.builder()
            .reduction(reduction(c)).weight(c.floatOption("weight"))
            .posWeight(c.floatOption("pos_weight")).build())), scale);
      }
      case "sigmoid_focal" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "gamma", "alpha");
        expect(c, "input_kind", "logits");
        yield elementwise(c, SigmoidFocalLoss.builder().reduction(reduction(c))
            .gamma((float) c.option("gamma", 2)).alpha((float) c.option("alpha", 0.25)).build(), scale);
      }
      case "binary_focal" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "gamma", "alpha", "clip_eps",
            "origin");
        expect(c, "input_kind", "probabilities");
        yield elementwise(c, BinaryFocalLoss.builder().reduction(reduction(c))
            .gamma((float) c.option("gamma", 2)).alpha((float) c.option("alpha", 0.25))
            .clipEps((float) c.option("clip_eps", 1e-7)).build(), scale);
      }
      case "label_smoothing" -> {
        c.onlyOptions("reduction", "epsilon", "num_classes", "origin");
        float eps = (float) c.option("epsilon", 0);
        float[] smoothed = LabelSmoothing.apply(c.input(), eps, (int) c.option("num_classes", 0));
        double[] grad = new double[smoothed.length];
        java.util.Arrays.fill(grad, LabelSmoothing.derivative(eps));
        yield new Result(widen(smoothed), grad);
      }
      case "cross_entropy" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "ignore_index", "label_smoothing",
            "weight", "origin", "check_finite", "input_dtype", "target_dtype", "grad_dtype");
        expect(c, "input_kind", "logits");
        CrossEntropyLoss plain = CrossEntropyLoss.builder().reduction(reduction(c))
            .weight(c.floatOption("weight")).ignoreIndex((int) c.option("ignore_index", -100))
            .labelSmoothing((float) c.option("label_smoothing", 0)).targetType(indexType).build();
        FloatFormat fi = format(c, "input_dtype");
        FloatFormat ft = format(c, "target_dtype");
        FloatFormat fg = format(c, "grad_dtype");
        CrossEntropyLoss loss = checksFinite(c) ? plain.withFiniteCheck(true)
            : plain.withFormats(fi, ft, fg);
        String kind = c.options().has("target_kind") ? c.options().get("target_kind").asText()
            : "class_index";
        yield switch (kind) {
          case "class_index" -> rows(c, loss.reduction(), fi, fg, (x, lossOut, grad) ->
              loss.compute(x, c.columns(), indexTargets(c, int64), c.shape()[0], c.columns(),
              lossOut, grad, scale, false));
          case "probabilities" -> rows(c, loss.reduction(), fi, fg, (x, lossOut, grad) ->
              loss.computeSoft(x, c.columns(), encode(c.targetFloats(), ft), c.shape()[0],
              c.columns(), lossOut, grad, scale, false));
          default -> throw new UnsupportedOperationException("target_kind '" + kind + "'");
        };
      }
      case "ohem_cross_entropy" -> {
        c.onlyOptions("reduction", "keep", "thresh", "ignore_index", "weight", "input_kind",
            "target_kind");
        OhemCrossEntropyLoss loss = OhemCrossEntropyLoss.builder().reduction(reduction(c))
            .keep((long) c.option("keep", 0)).thresh((float) c.option("thresh", Double.NaN))
            .ignoreIndex((int) c.option("ignore_index", -100)).weight(c.floatOption("weight"))
            .targetType(indexType).build();
        yield rows(c, loss.reduction(), (x, lossOut, grad) -> loss.compute(x, c.columns(),
            indexTargets(c, int64), c.shape()[0], c.columns(), lossOut, grad, scale, false));
      }
      case "nll" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "ignore_index", "input_transform",
            "weight");
        MemorySegment targets = indexTargets(c, int64);
        int rows = c.shape()[0];
        int classes = c.columns();
        String transform = c.options().has("input_transform")
            ? c.options().get("input_transform").asText() : "none";
        if (transform.equals("log_softmax")) {
          CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(reduction(c))
              .weight(c.floatOption("weight")).ignoreIndex((int) c.option("ignore_index", -100))
              .targetType(indexType).build();
          yield rows(c, loss.reduction(), (x, lossOut, grad) -> loss.compute(x, classes, targets,
              rows, classes, lossOut, grad, scale, false));
        }
        if (!transform.equals("none")) {
          throw new UnsupportedOperationException("input_transform '" + transform + "'");
        }
        NLLLoss loss = NLLLoss.builder().reduction(reduction(c)).weight(c.floatOption("weight"))
            .ignoreIndex((int) c.option("ignore_index", -100)).targetType(indexType).build();
        yield rows(c, loss.reduction(), (x, lossOut, grad) -> loss.compute(x, classes, targets,
            rows, classes, lossOut, grad, scale, false));
      }
      case "softmax_focal" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "gamma", "alpha");
        SoftmaxFocalLoss loss = SoftmaxFocalLoss.builder().reduction(reduction(c))
            .gamma((float) c.option("gamma", 2)).alpha(c.floatOption("alpha"))
            .targetType(indexType).build();
        yield rows(c, loss.reduction(), (x, lossOut, grad) -> loss.compute(x, c.columns(),
            indexTargets(c, int64), c.shape()[0], c.columns(), lossOut, grad, scale,
            false));
      }
      case "kl_div" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "log_target");
        boolean logTarget = c.options().has("log_target") && c.options().get("log_target").asBoolean();
        KLDivLoss loss = KLDivLoss.of(reduction(c), logTarget);
        float[] x = c.input();
        float[] grad = new float[x.length];
        float[] losses = loss.reduction() == Reduction.NONE ? new float[x.length] : null;
        double v = loss.compute(MemorySegment.ofArray(x), MemorySegment.ofArray(c.targetFloats()),
            c.shape()[0], c.columns(), losses == null ? null : MemorySegment.ofArray(losses),
            MemorySegment.ofArray(grad), scale, false);
        yield new Result(losses == null ? new double[] {v} : widen(losses), widen(grad));
      }
      case "distill_kl" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "temperature", "scale");
        float t = (float) c.option("temperature", 1);
        if (c.option("scale", (double) t * t) != (double) t * t) {
          throw new UnsupportedOperationException("distill_kl scale other than temperature²");
        }
        DistillationLoss loss = DistillationLoss.of(reduction(c), t);
        yield rows(c, loss.reduction(), (x, lossOut, grad) -> loss.compute(x,
            MemorySegment.ofArray(c.targetFloats()), c.columns(), c.shape()[0], c.columns(),
            lossOut, grad, scale, false));
      }
      default -> throw new UnsupportedOperationException("no kernel for loss '" + c.loss() + "'");
    };
  }

  /** One call of a row loss: returns the reduced value, writes row losses and the gradient. */
  interface RowCall {
    double call(MemorySegment logits, MemorySegment lossOut, MemorySegment grad);
  }

  /** {@link #rows(Case, Reduction, RowCall)} with logits and gradient in the given formats. */
  static Result rows(Case c, Reduction r, FloatFormat fi, FloatFormat fg, RowCall call) {
    if (fi == FloatFormat.FLOAT32 && fg == FloatFormat.FLOAT32) {
      return rows(c, r, call);
    }
    if (c.shape().length != 2) {
      throw new UnsupportedOperationException("row losses need a [N, C] input");
    }
    float[] x = c.input();
    MemorySegment grad = buffer(x.length, fg);
    float[] losses = r == Reduction.NONE ? new float[c.shape()[0]] : null;
    double v = call.call(encode(x, fi), losses == null ? null : MemorySegment.ofArray(losses),
        grad);
    return new Result(losses == null ? new double[] {v} : widen(losses),
        decode(grad, fg, x.length), fg);
  }

  static Result rows(Case c, Reduction r, RowCall call) {
    if (c.shape().length != 2) {
      throw new UnsupportedOperationException("row losses need a [N, C] input");
    }
    float[] x = c.input();
    float[] grad = new float[x.length];
    if (r == Reduction.NONE) {
      float[] losses = new float[c.shape()[0]];
      call.call(MemorySegment.ofArray(x), MemorySegment.ofArray(losses), MemorySegment.ofArray(grad));
      return new Result(widen(losses), widen(grad));
    }
    double v = call.call(MemorySegment.ofArray(x), null, MemorySegment.ofArray(grad));
    return new Result(new double[] {v}, widen(grad));
  }

  static Result elementwise(Case c, ElementwiseLoss loss, float scale) {
    FloatFormat[] f = loss.formats();
    if (f[0] != FloatFormat.FLOAT32 || f[1] != FloatFormat.FLOAT32 || f[2] != FloatFormat.FLOAT32) {
      float[] x = c.input();
      MemorySegment grad = buffer(x.length, f[2]);
      float[] losses = loss.reduction() == Reduction.NONE ? new float[x.length] : null;
      double v = loss.compute(encode(x, f[0]), encode(c.targetFloats(), f[1]), x.length,
          losses == null ? null : MemorySegment.ofArray(losses), grad, scale, false);
      return new Result(losses == null ? new double[] {v} : widen(losses),
          decode(grad, f[2], x.length), f[2]);
    }
    float[] x = c.input();
    float[] y = c.targetFloats();
    float[] grad = new float[x.length];
    if (loss.reduction() == Reduction.NONE) {
      float[] losses = new float[x.length];
      loss.compute(x, y, losses, grad, scale, false);
      return new Result(widen(losses), widen(grad));
    }
    double v = loss.compute(x, y, null, grad, scale, false);
    return new Result(new double[] {v}, widen(grad));
  }

  /** Whether the case asks for the non-finite guard ({@code options.check_finite}). */
  static boolean checksFinite(Case c) {
    return c.options().has("check_finite") && c.options().get("check_finite").asBoolean();
  }

  static ElementwiseLoss guard(Case c, ElementwiseLoss loss) {
    return loss.withFiniteCheck(checksFinite(c));
  }

  static Reduction reduction(Case c) {
    return switch (c.reduction()) {
      case "mean" -> Reduction.MEAN;
      case "sum" -> Reduction.SUM;
      case "none" -> Reduction.NONE;
      case "batchmean" -> Reduction.BATCH_MEAN;
      default -> throw new UnsupportedOperationException(
          "reduction '" + c.reduction() + "' for " + c.loss());
    };
  }

  static void expect(Case c, String key, String value) {
    if (c.options().has(key) && !c.options().get(key).asText().equals(value)) {
      throw new UnsupportedOperationException(key + " '" + c.options().get(key).asText() + "'");
    }
  }

  static double[] widen(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }
}
