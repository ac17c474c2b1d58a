package dev.fusedloss.props;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fusedloss.Engine;
import dev.fusedloss.internal.VectorizationProvider;
import org.junit.jupiter.api.Test;

/**
 * The build runs this module twice: with {@code --add-modules jdk.incubator.vector} and on a
 * plain class path. This pins which implementation each run exercises, so the two runs cannot
 * silently test the same code.
 */
class ImplementationTest {
  @Test
  void theExpectedImplementationIsInUse() {
    String expected = System.getProperty("fusedloss.test.expect");
    assumeTrue(expected != null, "run outside the Maven build: no expectation set");
    assertEquals(expected, VectorizationProvider.get().name());
  }

  @Test
  void theExpectedVectorWidthIsInUse() {
    String bits = System.getProperty("fusedloss.test.expectBits");
    assumeTrue(bits != null, "no width expected in this run");
    assertEquals(Integer.parseInt(bits), Engine.floatLanes() * Float.SIZE);
    assertEquals("fusedloss: panama, Species[float, " + Engine.floatLanes() + ", S_" + bits
        + "_BIT]", Engine.describe());
  }

  @Test
  void vectorModulePresenceMatches() {
    String expected = System.getProperty("fusedloss.test.expect");
    assumeTrue(expected != null, "run outside the Maven build: no expectation set");
    boolean present = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    assertEquals(expected.equals("panama"), present);
  }
}
