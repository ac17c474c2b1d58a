package dev.fusedloss.props;

import dev.fusedloss.Engine;

/**
 * The QuickTheories seed: fixed so that CI is reproducible, overridable with
 * {@code -Dfusedloss.seed=N} to explore further. Also the example counts, which shrink when the
 * kernels run at a vector width the CPU does not have.
 */
final class Seeds {
  /**
   * Examples are divided by this at an emulated width: the Vector API's portable code is some
   * 50–100 times slower than the intrinsics, and the fixed boundary shapes
   * ({@code BoundaryShapesTest}) cover every strategy at every width in full anyway.
   */
  static final int EMULATED_DIVISOR = 8;

  private Seeds() {}

  static long seed() {
    return Long.getLong("fusedloss.seed", 0x2026_1126L);
  }

  /** {@code n}, or a fraction of it (at least 2) when the vector width is emulated. */
  static int examples(int n) {
    return emulated() ? Math.max(2, n / EMULATED_DIVISOR) : n;
  }

  /** Whether the Vector API kernels run wider than the CPU's preferred species. */
  static boolean emulated() {
    int lanes = Engine.floatLanes();
    return lanes > 0 && lanes > Preferred.LANES;
  }

  /** Loaded only on the Vector API path: the class path run has no jdk.incubator.vector. */
  private static final class Preferred {
    static final int LANES = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
  }
}
