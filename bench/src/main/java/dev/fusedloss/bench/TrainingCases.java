package dev.fusedloss.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fusedloss.GradNorm;
import dev.fusedloss.MultiTaskLoss;
import java.lang.foreign.MemorySegment;

/**
 * The reference kinds of {@code training-cases.jsonl} that are not a single loss: {@code
 * multi_task} and {@code gradnorm_step}, evaluated through the public API only. Each returns
 * null when every expected value agrees, else what did not.
 */
final class TrainingCases {
  private TrainingCases() {}

  static boolean handles(String loss) {
    return loss.equals("multi_task") || loss.equals("gradnorm_step")
        || loss.equals("fused_linear_cross_entropy");
  }

  static String evaluate(JsonNode n, boolean int64) {
    boolean f32 = !n.has("f32_matches_f64") || n.get("f32_matches_f64").asBoolean();
    return switch (n.get("loss").asText()) {
      case "multi_task" -> multiTask(n, int64, f32);
      case "gradnorm_step" -> gradNorm(n, f32);
      case "fused_linear_cross_entropy" -> fusedLinear(n, int64, f32);
      default -> throw new UnsupportedOperationException(n.get("loss").asText());
    };
  }

  static String multiTask(JsonNode n, boolean int64, boolean f32) {
    JsonNode tasks = n.get("tasks");
    int t = tasks.size();
    Case[] cases = new Case[t];
    double[][] grads = new double[t][];
    MultiTaskLoss.Task[] calls = new MultiTaskLoss.Task[t];
    for (int i = 0; i < t; i++) {
      ObjectNode task = ((ObjectNode) tasks.get(i).deepCopy());
      task.put("id", n.get("id").asText() + "/task" + i);
      task.put("expected_loss_f64", 0.0); // the Case reader wants one; not used here
      cases[i] = Case.parse(task);
      int k = i;
      calls[i] = scale -> {
        Cases.Result r = Cases.evaluate(cases[k], int64, scale);
        grads[k] = r.grad();
        return r.loss()[0];
      };
    }
    JsonNode weighting = n.get("weighting");
    double[] losses = new double[t];
    double total;
    double[] logVarGrads = null;
    switch (weighting.get("kind").asText()) {
      case "fixed" -> total = MultiTaskLoss.fixed(Case.floats(weighting.get("lambdas")))
          .compute(losses, calls);
      case "uncertainty" -> {
        JsonNode kinds = weighting.get("task_kinds");
        MultiTaskLoss.TaskKind[] k = new MultiTaskLoss.TaskKind[kinds.size()];
        for (int i = 0; i < k.length; i++) {
          k[i] = MultiTaskLoss.TaskKind.valueOf(kinds.get(i).asText().toUpperCase());
        }
        logVarGrads = new double[t];
        total = MultiTaskLoss.uncertainty(k).compute(Case.floats(weighting.get("log_vars")),
            losses, logVarGrads, calls);
      }
      default -> throw new UnsupportedOperationException("weighting " + weighting);
    }
    String d = check("loss", new double[] {total}, n, "expected_loss", f32);
    if (d == null) {
      d = check("task losses", losses, n, "expected_task_losses", f32);
    }
    for (int i = 0; d == null && i < t; i++) {
      d = Conformance.agree(grads[i], Case.doublesOrNull(n.get("expected_grads_f64").get(i)),
          Case.doublesOrNull(n.get("expected_grads").get(i)), f32);
      d = d == null ? null : "grad of task " + i + " " + d;
    }
    if (d == null && logVarGrads != null) {
      d = check("log-variance grad", logVarGrads, n, "expected_log_var_grad", f32);
    }
    return d;
  }

  static String gradNorm(JsonNode n, boolean f32) {
    JsonNode o = n.get("options");
    JsonNode shared = n.get("shared_grads");
    int t = shared.size();
    MemorySegment[] segs = new MemorySegment[t];
    long len = -1;
    for (int i = 0; i < t; i++) {
      float[] g = Case.floats(shared.get(i));
      len = g.length;
      segs[i] = MemorySegment.ofArray(g);
    }
    GradNorm gn = new GradNorm(Case.floats(n.get("weights")), Case.doublesOrNull(n.get("initial_losses")),
        (float) o.get("alpha").asDouble(), (float) o.get("lr").asDouble());
    double loss = gn.step(segs, len, Case.doublesOrNull(n.get("task_losses")));
    String d = check("grad norms", gn.gradNorms(), n, "expected_grad_norms", f32);
    if (d == null) {
      d = check("GradNorm loss", new double[] {loss}, n, "expected_gradnorm_loss", f32);
    }
    if (d == null) {
      d = check("weight grad", gn.weightGrad(), n, "expected_weight_grad", f32);
    }
    if (d == null) {
      float[] w = gn.weights();
      double[] wd = new double[w.length];
      for (int i = 0; i < w.length; i++) {
        wd[i] = w[i];
      }
      d = check("weights", wd, n, "expected_weights", f32);
    }
    return d;
  }

  /** {@code fused_linear_cross_entropy}: loss and the three gradients, through the public API. */
  static String fusedLinear(JsonNode n, boolean int64, boolean f32) {
    JsonNode o = n.path("options");
    java.util.Set<String> known = java.util.Set.of("reduction", "ignore_index", "label_smoothing",
        "softcap", "z_loss", "input_dtype");
    o.fieldNames().forEachRemaining(k -> {
      if (!known.contains(k)) {
        throw new UnsupportedOperationException("option '" + k + "'");
      }
    });
    int[] hs = Case.ints(n.get("hidden_shape"));
    int[] ws = Case.ints(n.get("weight_shape"));
    int rows = hs[0];
    int h = hs[1];
    int v = ws[0];
    if (ws[1] != h) {
      throw new IllegalArgumentException("hidden_shape and weight_shape disagree on H");
    }
    dev.fusedloss.Reduction red = switch (o.path("reduction").asText("mean")) {
      case "mean" -> dev.fusedloss.Reduction.MEAN;
      case "sum" -> dev.fusedloss.Reduction.SUM;
      case "none" -> dev.fusedloss.Reduction.NONE;
      default -> throw new UnsupportedOperationException("reduction " + o.get("reduction"));
    };
    dev.fusedloss.FloatFormat f = switch (o.path("input_dtype").asText("float32")) {
      case "float32" -> dev.fusedloss.FloatFormat.FLOAT32;
      case "bfloat16" -> dev.fusedloss.FloatFormat.BFLOAT16;
      case "float16" -> dev.fusedloss.FloatFormat.FLOAT16;
      default -> throw new UnsupportedOperationException("input_dtype " + o.get("input_dtype"));
    };
    dev.fusedloss.FusedLinearCrossEntropyLoss loss = dev.fusedloss.FusedLinearCrossEntropyLoss
        .builder().reduction(red).ignoreIndex(o.path("ignore_index").asInt(-100))
        .labelSmoothing((float) o.path("label_smoothing").asDouble(0))
        .softcap((float) o.path("softcap").asDouble(0))
        .zLoss((float) o.path("z_loss").asDouble(0)).inputFormat(f)
        .targetType(int64 ? dev.fusedloss.ClassIndexType.INT64 : dev.fusedloss.ClassIndexType.INT32)
        .build();
    float[] hidden = Case.floats(n.get("hidden"));
    float[] weight = Case.floats(n.get("lin_weight"));
    JsonNode biasNode = n.get("bias");
    float[] bias = biasNode == null || biasNode.isNull() ? null : Case.floats(biasNode);
    int[] t = Case.ints(n.get("target"));
    MemorySegment targets;
    if (int64) {
      long[] wide = new long[t.length];
      for (int i = 0; i < t.length; i++) {
        wide[i] = t[i];
      }
      targets = MemorySegment.ofArray(wide);
    } else {
      targets = MemorySegment.ofArray(t);
    }
    float[] gh = new float[rows * h];
    float[] gw = new float[v * h];
    float[] gb = bias == null ? null : new float[v];
    float[] rowLoss = red == dev.fusedloss.Reduction.NONE ? new float[rows] : null;
    double value = loss.compute(Cases.encode(hidden, f), Cases.encode(weight, f),
        bias == null ? null : MemorySegment.ofArray(bias), targets, rows, h, v,
        rowLoss == null ? null : MemorySegment.ofArray(rowLoss), MemorySegment.ofArray(gh),
        MemorySegment.ofArray(gw), gb == null ? null : MemorySegment.ofArray(gb), 1f, false);
    String d = check("loss", rowLoss == null ? new double[] {value} : Cases.widen(rowLoss), n,
        "expected_loss", f32);
    if (d == null) {
      d = check("grad_hidden", Cases.widen(gh), n, "expected_grad_hidden", f32);
    }
    if (d == null) {
      d = check("grad_weight", Cases.widen(gw), n, "expected_grad_weight", f32);
    }
    if (d == null && gb != null) {
      d = check("grad_bias", Cases.widen(gb), n, "expected_grad_bias", f32);
    }
    if (d == null && gb == null && n.has("expected_grad_bias_f64")
        && !n.get("expected_grad_bias_f64").isNull()) {
      d = "the case expects a bias gradient but has no bias";
    }
    return d;
  }

  static String check(String what, double[] got, JsonNode n, String key, boolean f32) {
    double[] f64 = Case.doublesOrNull(n.get(key + "_f64"));
    double[] f32ref = n.has(key) ? Case.doublesOrNull(n.get(key)) : null;
    String d = Conformance.agree(got, f64, f32ref, f32);
    return d == null ? null : what + " " + d;
  }
}
