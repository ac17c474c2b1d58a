package dev.fusedloss.props;

/**
 * The QuickTheories seed: fixed so that CI is reproducible, overridable with
 * {@code -Dfusedloss.seed=N} to explore further.
 */
final class Seeds {
  private Seeds() {}

  static long seed() {
    return Long.getLong("fusedloss.seed", 0x2026_1126L);
  }
}
