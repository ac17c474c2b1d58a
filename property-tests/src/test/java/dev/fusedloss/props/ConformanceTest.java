package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fusedloss.bench.Conformance;
import dev.fusedloss.bench.Conformance.Outcome;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The PyTorch reference cases (a copy of {@code shared/conformance/pytorch-cases.jsonl}) through
 * the conformance runner, which evaluates them with the engine's public API and applies the
 * file's tolerance rule.
 */
class ConformanceTest {
  static String cases() throws IOException {
    try (InputStream in = ConformanceTest.class.getResourceAsStream("/pytorch-cases.jsonl")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void everyCasePasses() throws IOException {
    List<Outcome> outcomes = Conformance.run(new StringReader(cases()));
    assertEquals(165, outcomes.size(), "the reference file has 165 cases");
    String failures = outcomes.stream().filter(o -> !o.passed())
        .map(o -> o.id() + ": " + o.detail()).collect(Collectors.joining("\n"));
    assertTrue(failures.isEmpty(), failures);
  }

  @Test
  void everyCasePassesWithInt64ClassIndices() throws IOException {
    List<Outcome> outcomes = Conformance.run(new StringReader(cases()), true);
    assertEquals(165, outcomes.size());
    String failures = outcomes.stream().filter(o -> !o.passed())
        .map(o -> o.id() + ": " + o.detail()).collect(Collectors.joining("\n"));
    assertTrue(failures.isEmpty(), failures);
  }

  @Test
  void theRunnerPrintsTheClosingCount() throws IOException {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    int failed = Conformance.report(Conformance.run(new StringReader(cases())),
        new java.io.PrintStream(bytes, true, StandardCharsets.UTF_8));
    assertEquals(0, failed);
    assertEquals("165 passed, 0 failed", bytes.toString(StandardCharsets.UTF_8).strip());
  }

  @Test
  void aWrongReferenceFails() throws IOException {
    String first = cases().lines().filter(l -> l.contains("pub_mse_s0_mean")).findFirst().orElseThrow();
    String broken = first.replace("\"expected_loss_f64\": 0.8797238526796722",
        "\"expected_loss_f64\": 0.8797338526796722")
        .replace("\"expected_loss_f64\":0.8797238526796722", "\"expected_loss_f64\":0.8797338526796722");
    assertFalse(broken.equals(first), "the mutation applied");
    List<Outcome> outcomes = Conformance.run(new StringReader(broken));
    assertFalse(outcomes.get(0).passed(), "a loss off by 1e-5 relative must fail");
    assertTrue(outcomes.get(0).detail().startsWith("loss"), outcomes.get(0).detail());
  }

  @Test
  void anUnsupportedOptionFailsInsteadOfBeingSkipped() throws IOException {
    String first = cases().lines().filter(l -> l.contains("pub_mse_s0_mean")).findFirst().orElseThrow();
    String extra = first.replace("\"options\": {", "\"options\": {\"frobnicate\": 1, ")
        .replace("\"options\":{", "\"options\":{\"frobnicate\":1,");
    List<Outcome> outcomes = Conformance.run(new StringReader(extra));
    assertFalse(outcomes.get(0).passed());
    assertTrue(outcomes.get(0).detail().contains("frobnicate"), outcomes.get(0).detail());
  }
}
