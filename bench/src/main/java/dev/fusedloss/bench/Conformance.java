package dev.fusedloss.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks the engine against PyTorch reference cases (the JSONL format of
 * {@code shared/conformance}): every case is evaluated in float32 through the public API only,
 * and compared by the file's rule — within {@code rtol 1e-5} and {@code atol 1e-6·scale} of the
 * float64 reference (scale = max(1, largest finite |ref|)), non-finite values matched exactly;
 * where {@code f32_matches_f64} is false the float32 reference is accepted too. A case whose
 * loss or option the engine does not support fails.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp benchmarks.jar dev.fusedloss.bench.Conformance FILE</pre>
 *
 * Prints one line per failing case and ends with {@code N passed, N failed}; exits 1 if any
 * case failed, 2 if the file cannot be read.
 */
public final class Conformance {
  static final double RTOL = 1e-5;
  static final double ATOL = 1e-6;

  /** The verdict on one case: null detail when it passed. */
  public record Outcome(String id, String detail) {
    public boolean passed() {
      return detail == null;
    }
  }

  private Conformance() {}

  public static void main(String[] args) {
    boolean int64 = args.length == 2 && args[0].equals("--int64-targets");
    if (args.length != 1 && !int64) {
      System.err.println("usage: Conformance [--int64-targets] CASES.jsonl");
      System.exit(2);
    }
    String file = args[args.length - 1];
    System.out.println(dev.fusedloss.Engine.describe() // which kernels, at which width
        + (int64 ? "; class indices as int64" : ""));
    List<Outcome> outcomes;
    try (Reader r = Files.newBufferedReader(Path.of(file), StandardCharsets.UTF_8)) {
      outcomes = run(r, int64);
    } catch (IOException | RuntimeException e) {
      System.err.println("cannot read " + file + ": " + e);
      System.exit(2);
      return;
    }
    System.exit(report(outcomes, System.out) == 0 ? 0 : 1);
  }

  /** Prints failing cases and the closing count; returns the number failed. */
  public static int report(List<Outcome> outcomes, PrintStream out) {
    int failed = 0;
    for (Outcome o : outcomes) {
      if (!o.passed()) {
        failed++;
        out.println("FAIL " + o.id() + ": " + o.detail());
      }
    }
    out.println((outcomes.size() - failed) + " passed, " + failed + " failed");
    return failed;
  }

  public static List<Outcome> run(Path file) throws IOException {
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return run(r);
    }
  }

  public static List<Outcome> run(Reader reader) throws IOException {
    return run(reader, false);
  }

  /**
   * Runs every case of {@code reader}; with {@code int64}, class-index targets are passed as
   * int64 segments ({@code ClassIndexType.INT64}, PyTorch's layout) instead of int32.
   */
  public static List<Outcome> run(Reader reader, boolean int64) throws IOException {
    ObjectMapper json = new ObjectMapper();
    List<Outcome> out = new ArrayList<>();
    BufferedReader lines = new BufferedReader(reader);
    String line;
    int number = 0;
    while ((line = lines.readLine()) != null) {
      number++;
      if (line.isBlank()) {
        continue;
      }
      JsonNode node = json.readTree(line);
      String id = node.has("id") ? node.get("id").asText() : "line " + number;
      out.add(evaluate(id, node, int64));
    }
    return out;
  }

  static Outcome evaluate(String id, JsonNode node, boolean int64) {
    if (node.has("loss") && TorchSuiteCases.handles(node.get("loss").asText())) {
      try {
        return new Outcome(id, TorchSuiteCases.evaluate(node, int64));
      } catch (RuntimeException e) {
        return new Outcome(id, e.getClass().getSimpleName() + ": " + e.getMessage());
      }
    }
    if (node.has("loss") && TrainingCases.handles(node.get("loss").asText())) {
      try {
        return new Outcome(id, TrainingCases.evaluate(node, int64));
      } catch (RuntimeException e) {
        return new Outcome(id, e.getClass().getSimpleName() + ": " + e.getMessage());
      }
    }
    Case c;
    Cases.Result got;
    JsonNode error = node.get("expected_error");
    try {
      c = Case.parse(node);
      got = Cases.evaluate(c, int64);
    } catch (dev.fusedloss.NonFiniteException e) {
      if (error == null) {
        return new Outcome(id, "unexpected " + e.getMessage());
      }
      return new Outcome(id, matchesError(error, e));
    } catch (RuntimeException e) {
      return new Outcome(id, e.getClass().getSimpleName() + ": " + e.getMessage());
    }
    if (error != null) {
      return new Outcome(id, "expected a non-finite error (" + error + "), the call returned");
    }
    if (c.expectedLossF64() == null) {
      return new Outcome(id, "the case has neither expected values nor an expected error");
    }
    String lossDiff = agree(got.loss(), c.expectedLossF64(), c.expectedLoss(), c.f32MatchesF64());
    if (lossDiff != null) {
      return new Outcome(id, "loss " + lossDiff);
    }
    if (c.expectedGradF64() != null) {
      if (got.grad() == null) {
        return new Outcome(id, "no gradient computed");
      }
      String gradDiff = got.gradFormat() == dev.fusedloss.FloatFormat.FLOAT32
          ? agree(got.grad(), c.expectedGradF64(), c.expectedGrad(), c.f32MatchesF64())
          : agree16(got.grad(), c.expectedGradF64(), c.expectedGrad(), got.gradFormat());
      if (gradDiff != null) {
        return new Outcome(id, "grad " + gradDiff);
      }
    }
    return new Outcome(id, null);
  }

  /** Null when the exception names what the case expects (the lowest row or index). */
  static String matchesError(JsonNode error, dev.fusedloss.NonFiniteException e) {
    if (!error.path("kind").asText().equals("non_finite")) {
      return "unknown expected error " + error;
    }
    if (error.has("row") && e.row() != error.get("row").asLong()) {
      return "error names row " + e.row() + ", expected row " + error.get("row") + " ("
          + e.getMessage() + ")";
    }
    if (error.has("index") && e.index() != error.get("index").asLong()) {
      return "error names index " + e.index() + ", expected " + error.get("index") + " ("
          + e.getMessage() + ")";
    }
    return null;
  }

  /** Null when {@code got} matches the float64 reference (or the float32 one where allowed). */
  static String agree(double[] got, double[] f64, double[] f32, boolean f32MatchesF64) {
    String d = compare(got, f64);
    if (d == null || f32MatchesF64 || f32 == null) {
      return d;
    }
    return compare(got, f32) == null ? null : d;
  }

  /**
   * A gradient written in a 16-bit format: the expected values rounded to it, within the usual
   * tolerance plus one unit in its last place (TRAINING.md).
   */
  static String agree16(double[] got, double[] f64, double[] f32, dev.fusedloss.FloatFormat f) {
    String d = compare(got, round(f64, f), f);
    if (d == null || f32 == null) {
      return d;
    }
    return compare(got, round(f32, f), f) == null ? null : d;
  }

  private static double[] round(double[] v, dev.fusedloss.FloatFormat f) {
    double[] r = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      r[i] = f.decode(f.encode((float) v[i]));
    }
    return r;
  }

  /** One unit in the last place of {@code r} in format {@code f} (8 or 11 significant bits). */
  static double ulp16(double r, dev.fusedloss.FloatFormat f) {
    int bits = f == dev.fusedloss.FloatFormat.BFLOAT16 ? 8 : 11;
    int minExp = f == dev.fusedloss.FloatFormat.BFLOAT16 ? -126 : -14;
    int e = r == 0 ? minExp : Math.max(Math.getExponent(r), minExp);
    return Math.scalb(1.0, e - (bits - 1));
  }

  static String compare(double[] got, double[] ref) {
    return compare(got, ref, dev.fusedloss.FloatFormat.FLOAT32);
  }

  static String compare(double[] got, double[] ref, dev.fusedloss.FloatFormat f) {
    if (got.length != ref.length) {
      return "has " + got.length + " values, expected " + ref.length;
    }
    double scale = 1;
    for (double r : ref) {
      if (Double.isFinite(r)) {
        scale = Math.max(scale, Math.abs(r));
      }
    }
    for (int i = 0; i < ref.length; i++) {
      double g = got[i];
      double r = ref[i];
      String where = ref.length == 1 ? "" : "[" + i + "]";
      if (!Double.isFinite(r) || !Double.isFinite(g)) {
        boolean same = Double.isNaN(r) ? Double.isNaN(g) : g == r;
        if (!same) {
          return where + " = " + g + ", expected " + r;
        }
        continue;
      }
      double err = Math.abs(g - r);
      double tol = RTOL * Math.abs(r) + ATOL * scale
          + (f == dev.fusedloss.FloatFormat.FLOAT32 ? 0 : ulp16(r, f));
      if (!(err <= tol)) {
        return where + " = " + g + ", expected " + r + " (off by " + err + ", tolerance " + tol + ")";
      }
    }
    return null;
  }
}
