package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * Every training-side reference case (a copy of {@code shared/conformance/training-cases.jsonl}:
 * hard-example mining, multi-task weighting, GradNorm, the non-finite guard, 16-bit inputs and
 * the fused linear + cross entropy) through the conformance runner and the public API, with
 * int32 and int64 class indices.
 */
class TrainingConformanceTest {
  static String cases() throws IOException {
    try (InputStream in = TrainingConformanceTest.class
        .getResourceAsStream("/training-cases.jsonl")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void everyCasePasses() throws IOException {
    for (boolean int64 : new boolean[] {false, true}) {
      List<Outcome> outcomes = Conformance.run(new StringReader(cases()), int64);
      assertEquals(44, outcomes.size(), "13 OHEM, 6 multi-task, 2 GradNorm, 7 guard, 8 16-bit "
          + "and 8 fused linear cases");
      String failures = outcomes.stream().filter(o -> !o.passed())
          .map(o -> o.id() + ": " + o.detail()).collect(Collectors.joining("\n"));
      assertTrue(failures.isEmpty(), (int64 ? "int64: " : "") + failures);
    }
  }
}
