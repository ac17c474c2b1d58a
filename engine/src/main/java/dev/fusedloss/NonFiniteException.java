package dev.fusedloss;

/**
 * Thrown by a loss call made with the non-finite guard on ({@code withFiniteCheck(true)}) when
 * an input or target is NaN, or a loss term or a gradient element would be non-finite. It names
 * the lowest offending place: the element index of an element-wise loss, or the row and column
 * of a row loss; the value found there; and where it came from.
 */
public final class NonFiniteException extends ArithmeticException {
  private static final long serialVersionUID = 1L;

  /** Where the non-finite value was found. */
  public enum Source {
    /** An input (prediction or logit) is NaN. */
    INPUT,
    /** A target is NaN. */
    TARGET,
    /** A loss term is NaN or ±∞. */
    LOSS,
    /** A gradient element is NaN or ±∞. */
    GRADIENT
  }

  /** The element index, or −1. */
  private final long index;
  /** The row, or −1. */
  private final long row;
  /** The column, or −1. */
  private final long column;
  /** The offending value. */
  private final double value;
  /** Where it was found. */
  private final Source source;

  NonFiniteException(long index, long row, long column, double value, Source source,
      String message) {
    super(message);
    this.index = index;
    this.row = row;
    this.column = column;
    this.value = value;
    this.source = source;
  }

  static NonFiniteException element(long index, double value, Source source) {
    return new NonFiniteException(index, -1, -1, value, source, "non-finite " + describe(source)
        + " at element " + index + ": " + value);
  }

  static NonFiniteException row(long row, long column, double value, Source source) {
    return new NonFiniteException(-1, row, column, value, source, "non-finite " + describe(source)
        + " at row " + row + (column >= 0 ? ", column " + column : "") + ": " + value);
  }

  private static String describe(Source s) {
    return switch (s) {
      case INPUT -> "input";
      case TARGET -> "target";
      case LOSS -> "loss term";
      case GRADIENT -> "gradient";
    };
  }

  /**
   * The element index (element-wise losses).
   *
   * @return the index, or −1 for a row loss
   */
  public long index() {
    return index;
  }

  /**
   * The row (row losses).
   *
   * @return the row, or −1 for an element-wise loss
   */
  public long row() {
    return row;
  }

  /**
   * The column within the row (row losses): the first NaN logit, the target class for a loss
   * term, the first non-finite gradient element.
   *
   * @return the column, or −1 for an element-wise loss
   */
  public long column() {
    return column;
  }

  /**
   * The offending value.
   *
   * @return NaN or ±∞
   */
  public double value() {
    return value;
  }

  /**
   * Where it was found.
   *
   * @return the source
   */
  public Source source() {
    return source;
  }
}
