package dev.fusedloss;

/**
 * The storage format of a floating-point buffer handed to a loss. Kernels always compute in
 * float32 (sums in double); a 16-bit input is widened exactly on load, and a 16-bit gradient is
 * rounded from the float32 gradient to nearest, ties to even, on store.
 *
 * <p>Losses take formats with {@code withFormats(...)}: for example
 * {@code MSELoss.of(Reduction.MEAN).withFormats(FloatFormat.BFLOAT16, FloatFormat.BFLOAT16,
 * FloatFormat.BFLOAT16)} reads bfloat16 predictions and targets and writes a bfloat16 gradient.
 * Element counts stay counts of values: a buffer of {@code n} bfloat16 values holds
 * {@code 2n} bytes. Per-element and per-row losses are always written as float32.
 */
public enum FloatFormat {
  /** IEEE binary32, 4 bytes. */
  FLOAT32(4),
  /**
   * bfloat16, 2 bytes: the upper half of a float32 (8 exponent bits, 8 significant bits). Decoding
   * is exact; encoding rounds to nearest even, keeps ±∞ and turns a NaN into a quiet NaN.
   */
  BFLOAT16(2),
  /**
   * IEEE binary16, 2 bytes (5 exponent bits, 11 significant bits), as {@link
   * Float#float16ToFloat}/{@link Float#floatToFloat16}: values beyond 65504 round to ±∞ on store.
   */
  FLOAT16(2);

  private final int bytes;

  FloatFormat(int bytes) {
    this.bytes = bytes;
  }

  /**
   * Bytes per value.
   *
   * @return 4 or 2
   */
  public int bytes() {
    return bytes;
  }

  /**
   * The float a stored 16-bit value stands for (FLOAT32 is not a 16-bit format).
   *
   * @param bits the stored value
   * @return its float value, exact
   * @throws IllegalStateException for FLOAT32
   */
  public float decode(short bits) {
    return switch (this) {
      case BFLOAT16 -> bfloat16ToFloat(bits);
      case FLOAT16 -> Float.float16ToFloat(bits);
      case FLOAT32 -> throw new IllegalStateException("FLOAT32 is not a 16-bit format");
    };
  }

  /**
   * A float rounded to this 16-bit format (nearest, ties to even).
   *
   * @param v the value
   * @return the stored bits
   * @throws IllegalStateException for FLOAT32
   */
  public short encode(float v) {
    return switch (this) {
      case BFLOAT16 -> floatToBfloat16(v);
      case FLOAT16 -> Float.floatToFloat16(v);
      case FLOAT32 -> throw new IllegalStateException("FLOAT32 is not a 16-bit format");
    };
  }

  /**
   * The float of a bfloat16 value: its bits are the float's upper 16 bits.
   *
   * @param bits the bfloat16 bits
   * @return the float, exact
   */
  public static float bfloat16ToFloat(short bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  /**
   * A float rounded to bfloat16, nearest with ties to even; ±∞ stay ±∞, a NaN stays a (quiet) NaN,
   * finite values beyond the largest bfloat16 (about 3.39e38) round to ±∞.
   *
   * @param v the value
   * @return the bfloat16 bits
   */
  public static short floatToBfloat16(float v) {
    int b = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) {
      return (short) ((b >>> 16) | 0x40);
    }
    return (short) ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
  }
}
