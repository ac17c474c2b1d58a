package dev.fusedloss.props;

import java.util.SplittableRandom;

/**
 * Deterministic test data from a seed, so QuickTheories can shrink (size, seed, flags) tuples
 * while the arrays stay cheap to make. Edge values are mixed in on purpose: ±0, subnormals,
 * exact targets, huge magnitudes, exact 0/1 probabilities and, when asked, NaN and ±∞.
 */
public final class Data {
  private Data() {}

  /** What the values of an array mean. */
  public enum Domain { REAL, PROBABILITY, LOGIT, TARGET01, HARD01, SIGN, COUNT }

  public static float[] make(Domain domain, int n, long seed, boolean edges) {
    SplittableRandom r = new SplittableRandom(seed);
    double scale = switch (r.nextInt(3)) {
      case 0 -> 1e-3;
      case 1 -> 1;
      default -> 30;
    };
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = switch (domain) {
        case REAL -> real(r, scale, edges);
        case PROBABILITY -> probability(r, edges);
        case LOGIT -> logit(r, scale, edges);
        case TARGET01 -> r.nextInt(4) == 0 ? r.nextInt(2) : (float) r.nextDouble();
        case HARD01 -> r.nextInt(2);
        case SIGN -> r.nextBoolean() ? 1f : -1f; // PyTorch's ±1 labels
        case COUNT -> count(r, edges); // Poisson targets
      };
    }
    return v;
  }

  private static float real(SplittableRandom r, double scale, boolean edges) {
    int k = r.nextInt(100);
    if (k < 85 || !edges) {
      return (float) (gaussian(r) * scale);
    }
    return switch (k) {
      case 85, 86 -> 0f;
      case 87, 88 -> -0f;
      case 89, 90 -> Float.MIN_VALUE * (1 + r.nextInt(1000));
      case 91, 92 -> -Float.MIN_NORMAL / (2 + r.nextInt(8));
      case 93 -> 1e30f;
      case 94 -> -1e30f;
      default -> (float) (gaussian(r) * 1e4);
    };
  }

  private static float count(SplittableRandom r, boolean edges) {
    int k = r.nextInt(100);
    if (k < 85 || !edges) {
      return r.nextInt(30);
    }
    return switch (k % 5) {
      case 0 -> 1f;
      case 1 -> Math.nextUp(1f);
      case 2 -> 1e6f;
      case 3 -> 0.5f;
      default -> 2.5f;
    };
  }

  private static float probability(SplittableRandom r, boolean edges) {
    int k = r.nextInt(100);
    if (k < 80 || !edges) {
      return (float) r.nextDouble();
    }
    return switch (k % 6) {
      case 0 -> 0f;
      case 1 -> 1f;
      case 2 -> Float.MIN_VALUE * (1 + r.nextInt(100));
      case 3 -> Math.nextDown(1f);
      case 4 -> 1e-30f;
      default -> 0.5f;
    };
  }

  private static float logit(SplittableRandom r, double scale, boolean edges) {
    int k = r.nextInt(100);
    if (k < 85 || !edges) {
      return (float) (gaussian(r) * Math.max(scale, 1) * 3);
    }
    return switch (k) {
      case 85, 86 -> 0f;
      case 87 -> -0f;
      case 88 -> 1e4f;
      case 89 -> -1e4f;
      case 90 -> 3e38f;
      case 91 -> -3e38f;
      case 92, 93 -> Float.MIN_VALUE * (1 + r.nextInt(100));
      case 94, 95 -> 90f;
      case 96, 97 -> -90f;
      default -> (float) (gaussian(r) * 40);
    };
  }

  private static double gaussian(SplittableRandom r) {
    double u = r.nextDouble();
    double v = r.nextDouble();
    return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
  }

  /** Puts a few NaN and ±∞ values into {@code v}. */
  public static void sprinkleNonFinite(float[] v, long seed) {
    if (v.length == 0) {
      return;
    }
    SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
    float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
    for (int k = 0; k < 3; k++) {
      v[r.nextInt(v.length)] = specials[k];
    }
  }

  /** Makes about one element in ten have {@code x == y} exactly. */
  public static void tieSome(float[] x, float[] y, long seed) {
    SplittableRandom r = new SplittableRandom(seed * 31 + 7);
    for (int i = 0; i < x.length; i++) {
      if (r.nextInt(10) == 0) {
        x[i] = y[i];
      }
    }
  }
}
