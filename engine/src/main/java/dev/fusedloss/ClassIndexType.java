package dev.fusedloss;

/**
 * The element type of a class-index target segment: PyTorch's {@code LongTensor} targets are
 * {@link #INT64}; {@link #INT32} is the default. Either is read in place, without a copy.
 */
public enum ClassIndexType {
  /** One {@code int} (4 bytes, native byte order) per row. */
  INT32,
  /** One {@code long} (8 bytes, native byte order) per row, as PyTorch's int64 targets. */
  INT64
}
