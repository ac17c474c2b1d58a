package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fusedloss.Engine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * fusedloss on the module path: {@code requires static jdk.incubator.vector} lets a program run
 * where the incubator module is not observable ({@code --limit-modules}, as in a jlink image of
 * java.base) or not added, on the scalar kernels with one log line saying why, and on the vector
 * kernels once the module is added. Each case starts a JVM running {@link ModulePathMain}.
 */
class ModulePathTest {
  /** CE of the two rows of ModulePathMain, from the double oracle: (−log p_2, −log p_0). */
  static final double WANT = 0.5 * (0.4076059644443804 + 5.024744890138822);

  record Run(int exit, String out, String err) {}

  static Run run(String... jvmArgs) throws IOException, InterruptedException {
    Path engine = Path.of(Engine.class.getProtectionDomain().getCodeSource().getLocation()
        .getPath());
    Path tests = Path.of(ModulePathMain.class.getProtectionDomain().getCodeSource().getLocation()
        .getPath());
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("--module-path");
    cmd.add(engine.toString());
    cmd.add("--add-modules");
    cmd.add("dev.fusedloss");
    cmd.addAll(List.of(jvmArgs));
    cmd.add("-cp");
    cmd.add(tests.toString());
    cmd.add(ModulePathMain.class.getName());
    Process p = new ProcessBuilder(cmd).start();
    p.getOutputStream().close();
    byte[] out = p.getInputStream().readAllBytes();
    byte[] err = p.getErrorStream().readAllBytes();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + cmd);
    return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8),
        new String(err, StandardCharsets.UTF_8));
  }

  static void assumeOnce() {
    // the JVMs it starts do not depend on this run's implementation: once per build
    String expect = System.getProperty("fusedloss.test.expect");
    assumeTrue(expect == null || expect.equals("scalar"), "run in the scalar pass only");
  }

  static void checkLoss(Run r) {
    assertEquals(0, r.exit(), r.out() + r.err());
    String line = r.out().lines().filter(l -> l.startsWith("loss ")).findFirst().orElseThrow();
    double loss = Double.parseDouble(line.substring(5));
    assertEquals(WANT, loss, 1e-6 * WANT, r.out());
    assertTrue(r.out().contains("module dev.fusedloss"), "not run as a named module: " + r.out());
  }

  @Test
  void withoutTheIncubatorModuleObservable() throws Exception {
    assumeOnce();
    Run r = run("--limit-modules", "dev.fusedloss");
    checkLoss(r);
    assertTrue(r.out().startsWith("fusedloss: scalar"), r.out());
    assertTrue(r.err().contains("jdk.incubator.vector"), "no log line says why: " + r.err());
    assertTrue(!r.err().contains("Using incubator modules"), r.err());
  }

  @Test
  void withoutTheIncubatorModuleAdded() throws Exception {
    assumeOnce();
    Run r = run();
    checkLoss(r);
    assertTrue(r.out().startsWith("fusedloss: scalar"), r.out());
    assertTrue(r.err().contains("--add-modules jdk.incubator.vector"), r.err());
  }

  @Test
  void withTheIncubatorModule() throws Exception {
    assumeOnce();
    Run r = run("--add-modules", "jdk.incubator.vector");
    checkLoss(r);
    assertTrue(r.out().startsWith("fusedloss: panama, Species[float, "), r.out());
  }
}
