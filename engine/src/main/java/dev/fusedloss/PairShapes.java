package dev.fusedloss;

import dev.fusedloss.internal.Args;

/** Shape checks shared by the row losses over {@code rows × dim} inputs. */
final class PairShapes {
  private PairShapes() {}

  /** Checks rows ≥ 0 and 1 ≤ dim, and returns rows·dim. */
  static long rows(long rows, long dim) {
    if (rows < 0) {
      throw new IllegalArgumentException("rows must be >= 0, got " + rows);
    }
    if (dim < 1) {
      throw new IllegalArgumentException("dim must be >= 1, got " + dim);
    }
    if (rows > 0 && dim > Args.MAX_ELEMENTS / rows) {
      throw new IllegalArgumentException("rows × dim exceeds the addressable float count");
    }
    return rows * dim;
  }
}
