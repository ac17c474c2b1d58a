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
 * PyTorch 1.13's own criterion tests (a copy of {@code shared/conformance/torch-suite-cases.jsonl})
 * through the conformance runner and the public API, int32 and int64 class indices: all 127 cases
 * of its 16 modules pass, N-d, no-batch and multi-input layouts included (a case the runner cannot
 * map counts as failed).
 */
class TorchSuiteConformanceTest {
  static String cases() throws IOException {
    try (InputStream in = TorchSuiteConformanceTest.class
        .getResourceAsStream("/torch-suite-cases.jsonl")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void everyCasePasses() throws IOException {
    for (boolean int64 : new boolean[] {false, true}) {
      List<Outcome> outcomes = Conformance.run(new StringReader(cases()), int64);
      assertEquals(127, outcomes.size());
      String failures = outcomes.stream().filter(o -> !o.passed())
          .map(o -> o.id() + ": " + o.detail()).collect(Collectors.joining("\n"));
      assertTrue(failures.isEmpty(), (int64 ? "int64: " : "") + failures);
    }
  }
}
