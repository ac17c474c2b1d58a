package dev.fusedloss.bench;

import dev.fusedloss.BCELoss;
import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.BinaryFocalLoss;
import dev.fusedloss.ElementwiseLoss;
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
  record Result(double[] loss, double[] grad) {}

  private Cases() {}

  static Result evaluate(Case c) {
    return switch (c.loss()) {
      case "mse" -> {
        c.onlyOptions("reduction");
        yield elementwise(c, MSELoss.of(reduction(c)));
      }
      case "l1" -> {
        c.onlyOptions("reduction");
        yield elementwise(c, L1Loss.of(reduction(c)));
      }
      case "smooth_l1" -> {
        c.onlyOptions("reduction", "beta");
        yield elementwise(c, SmoothL1Loss.of(reduction(c), (float) c.option("beta", 1)));
      }
      case "huber" -> {
        c.onlyOptions("reduction", "delta");
        yield elementwise(c, HuberLoss.of(reduction(c), (float) c.option("delta", 1)));
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
        yield elementwise(c, b.build());
      }
      case "bce_with_logits" -> {
        c.onlyOptions("reduction", "input_kind", "weight", "weight_shape", "pos_weight");
        expect(c, "input_kind", "logits");
        yield elementwise(c, BCEWithLogitsLoss.builder().reduction(reduction(c))
            .weight(c.floatOption("weight")).posWeight(c.floatOption("pos_weight")).build());
      }
      case "sigmoid_focal" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "gamma", "alpha");
        expect(c, "input_kind", "logits");
        yield elementwise(c, SigmoidFocalLoss.builder().reduction(reduction(c))
            .gamma((float) c.option("gamma", 2)).alpha((float) c.option("alpha", 0.25)).build());
      }
      case "binary_focal" -> {
        c.onlyOptions("reduction", "input_kind", "target_kind", "gamma", "alpha", "clip_eps",
            "origin");
        expect(c, "input_kind", "probabilities");
        yield elementwise(c, BinaryFocalLoss.builder().reduction(reduction(c))
            .gamma((float) c.option("gamma", 2)).alpha((float) c.option("alpha", 0.25))
            .clipEps((float) c.option("clip_eps", 1e-7)).build());
      }
      case "label_smoothing" -> {
        c.onlyOptions("reduction", "epsilon", "num_classes", "origin");
        float eps = (float) c.option("epsilon", 0);
        float[] smoothed = LabelSmoothing.apply(c.input(), eps, (int) c.option("num_classes", 0));
        double[] grad = new double[smoothed.length];
        java.util.Arrays.fill(grad, LabelSmoothing.derivative(eps));
        yield new Result(widen(smoothed), grad);
      }
      default -> throw new UnsupportedOperationException("no kernel for loss '" + c.loss() + "'");
    };
  }

  static Result elementwise(Case c, ElementwiseLoss loss) {
    float[] x = c.input();
    float[] y = c.targetFloats();
    float[] grad = new float[x.length];
    if (loss.reduction() == Reduction.NONE) {
      float[] losses = new float[x.length];
      loss.compute(x, y, losses, grad, 1f, false);
      return new Result(widen(losses), widen(grad));
    }
    double v = loss.compute(x, y, grad);
    return new Result(new double[] {v}, widen(grad));
  }

  static Reduction reduction(Case c) {
    return switch (c.reduction()) {
      case "mean" -> Reduction.MEAN;
      case "sum" -> Reduction.SUM;
      case "none" -> Reduction.NONE;
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
