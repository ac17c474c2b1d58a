package dev.fusedloss.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread float32 tiles for calls on 16-bit buffers: the inputs of one tile are widened here,
 * the existing float32 kernel runs on them, and its outputs are rounded out to the caller's
 * buffers. Element-wise tiles are {@link #TILE} values (8 KB per buffer, L1-resident); row tiles
 * hold whole rows and grow with the longest row seen. Kept for the thread's life.
 */
public final class FormatScratch {
  /** Values per element-wise tile. */
  public static final int TILE = 2048;
  /** Floats a row tile aims at: rows are grouped up to this size (one row if longer). */
  public static final int ROW_TILE_FLOATS = 8192;

  public MemorySegment x = MemorySegment.NULL;
  public MemorySegment y = MemorySegment.NULL;
  public MemorySegment loss = MemorySegment.NULL;
  public MemorySegment grad = MemorySegment.NULL;
  /** Weight windows of the weighted element-wise losses: {@code TILE} values, period TILE. */
  public final Periodic w = Periodic.window(TILE);
  public final Periodic pw = Periodic.window(TILE);
  private long floats;
  private long rows;

  private static final ThreadLocal<FormatScratch> SCRATCH =
      ThreadLocal.withInitial(FormatScratch::new);

  private FormatScratch() {}

  /** This thread's scratch with room for {@code floats} values per buffer and {@code rows} losses. */
  public static FormatScratch get(long floats, long rows) {
    FormatScratch s = SCRATCH.get();
    if (s.floats < floats || s.rows < rows) {
      long f = Math.max(Math.max(floats, s.floats), TILE);
      long r = Math.max(Math.max(rows, s.rows), TILE);
      Arena a = Arena.ofAuto();
      s.x = a.allocate(f * Float.BYTES, 64);
      s.y = a.allocate(f * Long.BYTES, 64); // also holds int64 class indices of a row tile
      s.grad = a.allocate(f * Float.BYTES, 64);
      s.loss = a.allocate(r * Float.BYTES, 64);
      s.floats = f;
      s.rows = r;
    }
    return s;
  }

  /** Rows per tile for rows of {@code classes} values: a multiple of 16 when rows are short. */
  public static long tileRows(long classes) {
    long r = Math.max(1, ROW_TILE_FLOATS / classes);
    return r >= 16 ? r / 16 * 16 : r;
  }
}
