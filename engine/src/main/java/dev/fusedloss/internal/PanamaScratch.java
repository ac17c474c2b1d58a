package dev.fusedloss.internal;

import static dev.fusedloss.internal.PanamaSpecies.L;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The per-thread scratch of the softmax row kernels. Each kind is allocated on a thread's first
 * call that needs it and kept for the thread's life, so later calls allocate nothing:
 * <ul>
 *   <li>{@link Tiles}: the tile maxima and sums of wide-row cross entropy and softmax focal
 *       (arrays of 64 tiles, grown for rows over 131072 classes);
 *   <li>{@link FewClasses}: two blocks of L packed rows for few-class cross entropy (about
 *       2·32·L floats twice, 8 KB at 16 lanes);
 *   <li>{@link Rows}: a 64-byte aligned native segment for a row pair of soft-target cross
 *       entropy and distillation (at least 16 KB, grown to the longest pair seen).
 * </ul>
 */
final class PanamaScratch {
  private PanamaScratch() {}

  /** Per-thread tile maxima and sums of {@link CrossEntropyTiles}; grows with the row. */
  static final class Tiles {
    float[] max = new float[64];
    double[] sum = new double[64];
    /** The row maximum left by {@link CrossEntropyTiles#tileSweeps}. */
    float m;

    void atLeast(int tiles) {
      if (max.length < tiles) {
        max = new float[tiles];
        sum = new double[tiles];
      }
    }
  }

  static final ThreadLocal<Tiles> TILES = ThreadLocal.withInitial(Tiles::new);

  /** Per-thread scratch of {@link CrossEntropyFewClasses}, for two blocks of L rows. */
  static final class FewClasses {
    final float[] columns = new float[2 * CrossEntropyFewClasses.SMALL_C * L];
    final float[] rows = new float[2 * CrossEntropyFewClasses.SMALL_C * L];
    final float[] targetLogit = new float[2 * L];
    final float[] ignored = new float[2 * L];
    final float[] max = new float[2 * L];
    final float[] scale = new float[2 * L];
    final float[] sum = new float[2 * L];
    final int[] target = new int[2 * L];
    final float[] rowLoss = new float[2 * L];
  }

  static final ThreadLocal<FewClasses> FEW_CLASSES = ThreadLocal.withInitial(FewClasses::new);

  /** Per-thread row-pair scratch of {@link SoftTargetRows}; grows to the longest pair seen. */
  static final class Rows {
    MemorySegment seg = MemorySegment.NULL;
    final float[] sums = new float[3];

    MemorySegment atLeast(long floats) {
      if (seg.byteSize() < floats * Float.BYTES) {
        seg = Arena.ofAuto().allocate(Math.max(floats, 4096) * Float.BYTES, 64);
      }
      return seg;
    }
  }

  static final ThreadLocal<Rows> ROWS = ThreadLocal.withInitial(Rows::new);
}
