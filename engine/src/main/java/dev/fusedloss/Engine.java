package dev.fusedloss;

import dev.fusedloss.internal.VectorizationProvider;

/**
 * Which kernels this JVM runs. The choice is made once, on first use of any loss:
 * <ul>
 *   <li>{@code "panama"}: the Vector API kernels, when {@code jdk.incubator.vector} is readable
 *       ({@code --add-modules jdk.incubator.vector} on the class path). Their width is the CPU's
 *       preferred vector size unless {@code -Dfusedloss.vectorBits=128|256|512} chooses another;
 *       a width above the CPU's runs the Vector API's portable code (slow, same results);
 *   <li>{@code "scalar"}: portable double-precision kernels, when the module is absent or
 *       {@code -Dfusedloss.vectorization=scalar} is set.
 * </ul>
 * The engine logs the choice once (logger {@code dev.fusedloss}).
 */
public final class Engine {
  private Engine() {}

  /**
   * {@code "panama"} or {@code "scalar"}.
   *
   * @return {@code "panama"} or {@code "scalar"}
   */
  public static String implementation() {
    return VectorizationProvider.get().name();
  }

  /**
   * The float vector species of the Vector API kernels, as the JDK prints it (e.g. {@code
   * Species[float, 8, S_256_BIT]}); the empty string for the scalar kernels.
   * @return the species, or the empty string
   */
  public static String species() {
    return VectorizationProvider.get().species();
  }

  /**
   * Float lanes per vector of the kernels in use; 0 for the scalar kernels.
   *
   * @return lanes per vector, or 0
   */
  public static int floatLanes() {
    return VectorizationProvider.get().floatLanes();
  }

  /**
   * One line for logs and reports: {@code "fusedloss: panama, Species[float, 4, S_128_BIT]"} or
   * {@code "fusedloss: scalar"}.
   * @return the description line
   */
  public static String describe() {
    String s = species();
    return "fusedloss: " + implementation() + (s.isEmpty() ? "" : ", " + s);
  }
}
