package dev.fusedloss.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report's arithmetic, flags and README block on a small hand-made JMH result file. */
class ReportTest {
  static String result(String bench, String params, double us, double bytesPerOp) {
    return """
        {"benchmark": "dev.fusedloss.bench.%s", "params": {%s}, "jmhVersion": "1.37",
         "primaryMetric": {"score": %s, "scoreError": 0.5, "scoreUnit": "us/op"},
         "secondaryMetrics": {"gc.alloc.rate.norm": {"score": %s}}}"""
        .formatted(bench, params, us, bytesPerOp);
  }

  static Report report() throws Exception {
    String json = "[" + String.join(",", List.of(
        result("StreamBench.stream", "\"size\": \"4096\"", 1.0, 0.5),
        result("StreamBench.exp", "\"size\": \"4096\"", 3.0, 0.5),
        result("ElementwiseBench.fused", "\"loss\": \"mse\", \"size\": \"4096\"", 2.0, 1.2),
        result("ElementwiseBench.unfused", "\"loss\": \"mse\", \"size\": \"4096\"", 5.0, 0),
        result("ElementwiseBench.fused", "\"loss\": \"bce\", \"size\": \"4096\"", 4.0, 100),
        result("CrossEntropyBench.copy", "\"shape\": \"2x3\"", 1.0, 0),
        result("CrossEntropyBench.exp", "\"shape\": \"2x3\"", 2.0, 0),
        result("CrossEntropyBench.fused", "\"shape\": \"2x3\"", 3.0, 0),
        result("PyTorchBench.step", "\"workload\": \"ce:2x3\", \"threads\": \"1\"", 9.0, 0),
        result("ParallelBench.fused", "\"workload\": \"mse:4096\", \"threads\": \"1\"", 4.0, 0),
        result("ParallelBench.fused", "\"workload\": \"mse:4096\", \"threads\": \"2\"", 2.5, 0)))
        + "]";
    return new Report(new ObjectMapper().readTree(json));
  }

  @Test
  void tablesCarryTheRatiosOfOneRun() throws Exception {
    String md = report().markdown(List.of("a note"), "x.json");
    // fused 2 µs moving 12·4096 bytes: 24.6 GB/s; 2× the stream's time, 0.67× the exp's
    assertTrue(md.contains("| mse | 4096 | 2.000 ± 0.500 | 24.6 | 2.00× | 0.67× | 2.50× | — | — |"),
        md);
    // softmax: the floor is the slower of copy and exp; PyTorch 3× slower than fused
    assertTrue(md.contains("| 2x3 | 3.000 ± 0.500 |"), md);
    assertTrue(md.contains("| 3.00× | 1.50× | 1.50× | — | — | 3.00× |"), md);
    assertTrue(md.contains("| mse:4096 | 4.000 ± 0.500 | 2.500 ± 0.500 | 1.60× |"), md);
    assertTrue(md.contains("| note | a note |"), md);
  }

  @Test
  void allocationIsFlaggedOnlyAboveJmhsOwnShare() throws Exception {
    Report r = report();
    String md = r.markdown(List.of(), "x.json");
    // mse: 1.2 B/op against 0.5 × 2 (twice the stream's time) expected: not flagged;
    // bce: 100 B/op against 0.5 × 4 = 2 expected: flagged
    assertTrue(md.contains("| 1.200 |"), md);
    assertTrue(md.contains("| 100.0 ⚠ |"), md);
    assertTrue(md.contains("- ElementwiseBench.fused {loss=bce, size=4096}: 100.0 B/op"), md);
    assertFalse(md.contains("loss=mse, size=4096}:"), md);
  }

  @Test
  void slowCallsGetTheShareOfAWholeNumberOfCallsPerIteration() {
    var p = java.util.Map.<String, String>of();
    // 500 ms iterations: the reference runs 6 times (84 ms), the kernel 3 or 4 times (130 ms),
    // so its share of JMH's bytes can be (5 + 1)/3 = 2× the reference's, not 130/84 = 1.55×
    Report.Result ref = new Report.Result("B", "copy", p, 84_000, 0, 1000, 500_000);
    Report.Result slow = new Report.Result("B", "fused", p, 130_000, 0, 1900, 500_000);
    assertEquals(2000, Report.jmhShare(slow, ref), 1e-9);
    assertEquals(500_000, Report.micros("500 ms"));
    assertEquals(2_000_000, Report.micros("2 s"));
    assertTrue(Double.isNaN(Report.micros("soon")));
    // without iteration times: proportional
    Report.Result ref2 = new Report.Result("B", "copy", p, 84_000, 0, 1000, Double.NaN);
    Report.Result slow2 = new Report.Result("B", "fused", p, 168_000, 0, 1900, Double.NaN);
    assertEquals(2000, Report.jmhShare(slow2, ref2), 1e-9);
  }

  @Test
  void summaryReplacesOnlyTheMarkedBlock(@TempDir Path dir) throws Exception {
    String summary = report().summary("2026-01-01");
    assertTrue(summary.contains("- mse:4096: 2 threads 1.60× faster than one."), summary);
    assertTrue(summary.contains("- Cross entropy 2x3: 1.50× the time of max(copy, exp)"), summary);
    String readme = "intro\n<!-- bench:start -->\nold numbers\n<!-- bench:end -->\ntail\n";
    assertEquals("intro\n<!-- bench:start -->\nnew\n<!-- bench:end -->\ntail\n",
        Report.replaceBlock(readme, "new\n"));
    assertNull(Report.replaceBlock("no markers here", "new\n"));
    Path json = dir.resolve("r.json");
    Files.writeString(json, "[" + result("StreamBench.stream", "\"size\": \"4096\"", 1, 0) + ","
        + result("ElementwiseBench.fused", "\"loss\": \"mse\", \"size\": \"4096\"", 2, 0) + "]");
    Report.main(new String[] {json.toString(), dir.resolve("out").toString()});
    assertTrue(Files.readString(dir.resolve("out/README.md")).contains("| mse | 4096 |"));
    assumeTrue(fonts(), "no fonts for headless AWT on this machine: the plot is skipped");
    assertTrue(Files.size(dir.resolve("out/elementwise.png")) > 1000, "a PNG plot was written");
  }

  static boolean fonts() {
    try {
      return java.awt.GraphicsEnvironment.getLocalGraphicsEnvironment()
          .getAvailableFontFamilyNames().length > 0;
    } catch (RuntimeException | LinkageError | InternalError e) {
      return false;
    }
  }
}
