package dev.fusedloss.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fusedloss.BCELoss;
import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.ClassIndexType;
import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.HuberLoss;
import dev.fusedloss.KLDivLoss;
import dev.fusedloss.L1Loss;
import dev.fusedloss.MSELoss;
import dev.fusedloss.NLLLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SmoothL1Loss;
import dev.fusedloss.CTCLoss;
import dev.fusedloss.CosineEmbeddingLoss;
import dev.fusedloss.MarginRankingLoss;
import dev.fusedloss.MultiLabelMarginLoss;
import dev.fusedloss.MultiLabelSoftMarginLoss;
import dev.fusedloss.MultiMarginLoss;
import dev.fusedloss.PoissonNLLLoss;
import dev.fusedloss.TripletMarginLoss;
import java.lang.foreign.MemorySegment;
import java.util.Set;

/**
 * The {@code torch_module} cases of {@code torch-suite-cases.jsonl} (PyTorch 1.13's own criterion
 * tests, see {@code TORCH-SUITE.md}) through the public API: the module and its options map onto
 * a fusedloss loss, the input's shape onto its layout (class axis at dim 1 for cross entropy and
 * NLL, no-batch forms included). A module fusedloss does not have throws, so the case counts as
 * failed.
 */
final class TorchSuiteCases {
  private TorchSuiteCases() {}

  static boolean handles(String loss) {
    return loss.equals("torch_module");
  }

  /** Null when the loss and the input's gradient agree with the references, else what did not. */
  static String evaluate(JsonNode n, boolean int64) {
    String module = n.get("module").asText();
    JsonNode o = n.get("options");
    JsonNode inputs = n.get("inputs");
    JsonNode in = inputs.get(0);
    int[] shape = in.get("shape").isArray() ? Case.ints(in.get("shape")) : new int[0];
    float[] x = Case.floats(in.get("values"));
    float[] x2 = inputs.size() > 1 ? Case.floats(inputs.get(1).get("values")) : null;
    float[] grad2 = x2 == null ? null : new float[x2.length];
    if (inputs.size() > 2) {
      throw new UnsupportedOperationException(module + " with " + inputs.size() + " inputs");
    }
    JsonNode tn = n.get("target");
    // rows × dim of a row loss: [rows, dim], or [dim] without a batch
    long rows = shape.length <= 1 ? 1 : shape[0];
    long dim = shape.length == 0 ? 1 : shape[shape.length - 1];
    Reduction red = switch (o.path("reduction").asText("mean")) {
      case "mean" -> Reduction.MEAN;
      case "sum" -> Reduction.SUM;
      case "none" -> Reduction.NONE;
      default -> throw new UnsupportedOperationException("reduction " + o.get("reduction"));
    };
    float[] grad = new float[x.length];
    double[] loss;
    switch (module) {
      case "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss",
          "HingeEmbeddingLoss", "SoftMarginLoss", "PoissonNLLLoss" -> {
        only(o, module, "reduction", "beta", "delta", "weight", "pos_weight", "margin",
            "log_input", "full", "eps");
        ElementwiseLoss l = switch (module) {
          case "MSELoss" -> MSELoss.of(red);
          case "L1Loss" -> L1Loss.of(red);
          case "SmoothL1Loss" -> SmoothL1Loss.of(red, (float) o.path("beta").asDouble(1));
          case "HuberLoss" -> HuberLoss.of(red, (float) o.path("delta").asDouble(1));
          case "HingeEmbeddingLoss" -> dev.fusedloss.HingeEmbeddingLoss.of(red,
              (float) o.path("margin").asDouble(1));
          case "SoftMarginLoss" -> dev.fusedloss.SoftMarginLoss.of(red);
          case "PoissonNLLLoss" -> PoissonNLLLoss.of(red, o.path("log_input").asBoolean(true),
              o.path("full").asBoolean(false), (float) o.path("eps").asDouble(1e-8));
          case "BCELoss" -> BCELoss.builder().reduction(red).weight(tensor(o, "weight")).build();
          default -> BCEWithLogitsLoss.builder().reduction(red).weight(tensor(o, "weight"))
              .posWeight(tensor(o, "pos_weight")).build();
        };
        float[] y = Case.floats(tn.get("values"));
        float[] out = red == Reduction.NONE ? new float[x.length] : null;
        double v = l.compute(x, y, out, grad, 1f, false);
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      case "KLDivLoss" -> {
        only(o, module, "reduction", "log_target");
        KLDivLoss l = KLDivLoss.of(red, o.path("log_target").asBoolean(false));
        float[] y = Case.floats(tn.get("values"));
        float[] out = red == Reduction.NONE ? new float[x.length] : null;
        long klRows = shape.length == 0 ? 1 : shape[0];
        long cols = x.length / Math.max(1, klRows);
        double v = l.compute(MemorySegment.ofArray(x), MemorySegment.ofArray(y), klRows, cols,
            out == null ? null : MemorySegment.ofArray(out), MemorySegment.ofArray(grad), 1f,
            false);
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      case "CrossEntropyLoss", "NLLLoss" -> {
        only(o, module, "reduction", "ignore_index", "label_smoothing", "weight");
        // [N, C, d1, …] with targets [N, d1, …]; [C] with a scalar target (no batch)
        long batch;
        long classes;
        long spatial = 1;
        int[] tshape = ints(tn.get("shape"));
        boolean probs = tn.get("dtype").asText().equals("float");
        if (shape.length == 1) {
          batch = 1;
          classes = shape[0];
        } else if (!probs && tshape.length == shape.length) {
          throw new UnsupportedOperationException("class-index targets of the input's rank");
        } else {
          batch = shape[0];
          classes = shape[1];
          for (int i = 2; i < shape.length; i++) {
            spatial *= shape[i];
          }
        }
        int ceRows = (int) (batch * spatial);
        float[] out = red == Reduction.NONE ? new float[ceRows] : null;
        MemorySegment outSeg = out == null ? null : MemorySegment.ofArray(out);
        int ignore = o.path("ignore_index").asInt(-100);
        double v;
        if (module.equals("NLLLoss")) {
          NLLLoss l = NLLLoss.builder().reduction(red).ignoreIndex(ignore)
              .weight(tensor(o, "weight"))
              .targetType(int64 ? ClassIndexType.INT64 : ClassIndexType.INT32).build();
          v = l.computeSpatial(MemorySegment.ofArray(x), targets(tn, int64), batch, classes,
              spatial, outSeg, MemorySegment.ofArray(grad), 1f, false);
        } else {
          CrossEntropyLoss l = CrossEntropyLoss.builder().reduction(red).ignoreIndex(ignore)
              .labelSmoothing((float) o.path("label_smoothing").asDouble(0))
              .weight(tensor(o, "weight"))
              .targetType(int64 ? ClassIndexType.INT64 : ClassIndexType.INT32).build();
          v = probs
              ? l.computeSoftSpatial(MemorySegment.ofArray(x),
                  MemorySegment.ofArray(Case.floats(tn.get("values"))), batch, classes, spatial,
                  outSeg, MemorySegment.ofArray(grad), 1f, false)
              : l.computeSpatial(MemorySegment.ofArray(x), targets(tn, int64), batch, classes,
                  spatial, outSeg, MemorySegment.ofArray(grad), 1f, false);
        }
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      case "MarginRankingLoss" -> {
        only(o, module, "reduction", "margin");
        float[] y = Case.floats(tn.get("values"));
        float[] out = red == Reduction.NONE ? new float[x.length] : null;
        double v = MarginRankingLoss.of(red, (float) o.path("margin").asDouble(0))
            .compute(x, x2, y, out, grad, grad2, 1f, false);
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      case "CosineEmbeddingLoss", "TripletMarginLoss" -> {
        only(o, module, "reduction", "margin", "p", "eps", "swap");
        float[] third = floatValues(tn);
        float[] out = red == Reduction.NONE ? new float[(int) rows] : null;
        MemorySegment outSeg = seg(out);
        double v;
        if (module.equals("CosineEmbeddingLoss")) {
          v = CosineEmbeddingLoss.of(red, (float) o.path("margin").asDouble(0)).compute(
              seg(x), seg(x2), seg(third), rows, dim, outSeg, seg(grad), seg(grad2), 1f, false);
        } else {
          v = TripletMarginLoss.of(red, (float) o.path("margin").asDouble(1),
              (float) o.path("p").asDouble(2), (float) o.path("eps").asDouble(1e-6),
              o.path("swap").asBoolean(false)).compute(seg(x), seg(x2), seg(third), rows, dim,
              outSeg, seg(grad), seg(grad2), null, 1f, false);
        }
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      case "MultiLabelSoftMarginLoss" -> {
        only(o, module, "reduction", "weight");
        float[] out = red == Reduction.NONE ? new float[(int) rows] : null;
        double v = MultiLabelSoftMarginLoss.of(red, tensor(o, "weight")).compute(seg(x),
            seg(Case.floats(tn.get("values"))), rows, dim, seg(out), seg(grad), 1f, false);
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      case "MultiMarginLoss", "MultiLabelMarginLoss" -> {
        only(o, module, "reduction", "margin", "p", "weight");
        float[] out = red == Reduction.NONE ? new float[(int) rows] : null;
        ClassIndexType type = int64 ? ClassIndexType.INT64 : ClassIndexType.INT32;
        double v = module.equals("MultiMarginLoss")
            ? MultiMarginLoss.builder().reduction(red).p(o.path("p").asInt(1))
                .margin((float) o.path("margin").asDouble(1)).weight(tensor(o, "weight"))
                .targetType(type).build()
                .compute(seg(x), targets(tn, int64), rows, dim, seg(out), seg(grad), 1f, false)
            : MultiLabelMarginLoss.of(red, type)
                .compute(seg(x), targets(tn, int64), rows, dim, seg(out), seg(grad), 1f, false);
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      case "CTCLoss" -> {
        only(o, module, "reduction", "blank", "zero_infinity");
        // [T, N, C] (or [T, C]); padded [N, S] (or concatenated 1-d) targets
        long time = shape[0];
        long batch = shape.length == 3 ? shape[1] : 1;
        long classes = shape[shape.length - 1];
        int[] tshape = ints(tn.get("shape"));
        long stride = tshape.length == 2 ? tshape[1] : 0;
        JsonNode extra = n.get("extra_args");
        long[] inLen = longs(extra.get(0).get("values"));
        long[] tgtLen = longs(extra.get(1).get("values"));
        float[] out = red == Reduction.NONE ? new float[(int) batch] : null;
        double v = CTCLoss.builder().reduction(red).blank(o.path("blank").asInt(0))
            .zeroInfinity(o.path("zero_infinity").asBoolean(false))
            .targetType(int64 ? ClassIndexType.INT64 : ClassIndexType.INT32).build()
            .compute(seg(x), time, batch, classes, targets(tn, int64), stride, inLen, tgtLen,
                seg(out), seg(grad), 1f, false);
        loss = out == null ? new double[] {v} : Cases.widen(out);
      }
      default -> throw new UnsupportedOperationException("no fusedloss loss for torch.nn."
          + module);
    }
    boolean f32 = !n.has("f32_matches_f64") || n.get("f32_matches_f64").asBoolean();
    String d = Conformance.agree(loss, Case.doublesOrNull(n.get("expected_loss_f64")),
        Case.doublesOrNull(n.get("expected_loss")), f32);
    if (d != null) {
      return "loss " + d;
    }
    float[][] grads = {grad, grad2};
    for (int k = 0; k < grads.length && grads[k] != null; k++) {
      JsonNode g64 = n.path("expected_grads_f64").path(k);
      JsonNode g32 = n.path("expected_grads").path(k);
      if (g64.isMissingNode()) {
        continue;
      }
      d = Conformance.agree(Cases.widen(grads[k]), Case.doublesOrNull(g64),
          g32.isMissingNode() ? null : Case.doublesOrNull(g32), f32);
      if (d != null) {
        return "grad " + (k + 1) + " " + d;
      }
    }
    return null;
  }

  private static MemorySegment seg(float[] a) {
    return a == null ? null : MemorySegment.ofArray(a);
  }

  /** Float values of a tensor given as floats or integers (a scalar included). */
  private static float[] floatValues(JsonNode t) {
    JsonNode v = t.get("values");
    if (!v.isArray()) {
      return new float[] {(float) v.asDouble()};
    }
    return Case.floats(v);
  }

  private static long[] longs(JsonNode v) {
    int[] i = ints(v);
    long[] l = new long[i.length];
    for (int k = 0; k < i.length; k++) {
      l[k] = i[k];
    }
    return l;
  }

  private static void only(JsonNode o, String module, String... allowed) {
    Set<String> ok = Set.of(allowed);
    o.fieldNames().forEachRemaining(k -> {
      if (!ok.contains(k)) {
        throw new UnsupportedOperationException(module + " option '" + k + "'");
      }
    });
  }

  /** A tensor option ({@code {shape, dtype, values}}) as floats, or null when absent. */
  private static float[] tensor(JsonNode o, String key) {
    JsonNode t = o.get(key);
    if (t == null || t.isNull()) {
      return null;
    }
    return Case.floats(t.get("values"));
  }

  /** Integer values, a scalar (shape []) included. */
  private static int[] ints(JsonNode v) {
    return v.isArray() ? Case.ints(v) : new int[] {v.asInt()};
  }

  private static MemorySegment targets(JsonNode tn, boolean int64) {
    int[] t = ints(tn.get("values"));
    if (!int64) {
      return MemorySegment.ofArray(t);
    }
    long[] w = new long[t.length];
    for (int i = 0; i < t.length; i++) {
      w[i] = t[i];
    }
    return MemorySegment.ofArray(w);
  }
}
