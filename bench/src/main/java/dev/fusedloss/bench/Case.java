package dev.fusedloss.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;

/** One parsed reference case; numbers as the file states them ("NaN", "Infinity" accepted). */
record Case(String id, String loss, JsonNode options, int[] shape, int[] targetShape,
    float[] input, JsonNode target, double[] expectedLoss, double[] expectedGrad,
    double[] expectedLossF64, double[] expectedGradF64, boolean f32MatchesF64) {

  static Case parse(JsonNode n) {
    return new Case(
        text(n, "id"), text(n, "loss"), required(n, "options"),
        ints(required(n, "shape")), ints(required(n, "target_shape")),
        floats(required(n, "input")), required(n, "target"),
        doublesOrNull(n.get("expected_loss")), doublesOrNull(n.get("expected_grad")),
        doublesOrNull(n.get("expected_loss_f64")), doublesOrNull(n.get("expected_grad_f64")),
        !n.has("f32_matches_f64") || n.get("f32_matches_f64").asBoolean());
  }

  long numel() {
    long k = 1;
    for (int d : shape) {
      k *= d;
    }
    return k;
  }

  /** Number of columns (last dimension); 1 for a 1-d input. */
  int columns() {
    return shape.length < 2 ? 1 : shape[shape.length - 1];
  }

  String reduction() {
    return options.has("reduction") ? options.get("reduction").asText() : "mean";
  }

  double option(String key, double fallback) {
    JsonNode v = options.get(key);
    return v == null || v.isNull() ? fallback : number(v);
  }

  float[] floatOption(String key) {
    JsonNode v = options.get(key);
    return v == null || v.isNull() ? null : floats(v);
  }

  float[] targetFloats() {
    return floats(target);
  }

  int[] targetInts() {
    return ints(target);
  }

  /** Fails on an option this evaluator does not know for the loss. */
  void onlyOptions(String... known) {
    java.util.List<String> allowed = java.util.List.of(known);
    for (Map.Entry<String, JsonNode> e : options.properties()) {
      if (!allowed.contains(e.getKey())) {
        throw new UnsupportedOperationException(
            "option '" + e.getKey() + "' of " + loss + " is not supported");
      }
    }
  }

  static JsonNode required(JsonNode n, String key) {
    JsonNode v = n.get(key);
    if (v == null) {
      throw new IllegalArgumentException("missing field '" + key + "'");
    }
    return v;
  }

  static String text(JsonNode n, String key) {
    return required(n, key).asText();
  }

  static double number(JsonNode v) {
    return v.isTextual() ? Double.parseDouble(v.asText()) : v.asDouble();
  }

  static double[] doublesOrNull(JsonNode v) {
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isArray()) {
      return new double[] {number(v)};
    }
    double[] d = new double[v.size()];
    for (int i = 0; i < d.length; i++) {
      d[i] = number(v.get(i));
    }
    return d;
  }

  static float[] floats(JsonNode v) {
    double[] d = doublesOrNull(v);
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  static int[] ints(JsonNode v) {
    int[] a = new int[v.size()];
    for (int i = 0; i < a.length; i++) {
      a[i] = v.get(i).asInt();
    }
    return a;
  }
}
