package dev.fusedloss.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The per-thread scratch of hard-example mining: the losses (a native segment the kernels
 * write, and a heap copy the selection reads), selection keys and flags, and {@link TopK}'s
 * work arrays. About 18 bytes per row or element plus 8 KB, allocated by a thread's first call
 * and grown by a larger one, kept for the thread's life.
 */
public final class SelectionScratch {
  /** Losses as the selection reads them. */
  public float[] loss = new float[0];
  /** Selection keys (row losses weighted, or −p with a threshold). */
  public float[] keys = new float[0];
  /** Which entries may be chosen. */
  public boolean[] valid = new boolean[0];
  /** Every entry may be chosen (element-wise mining). */
  public boolean[] all = new boolean[0];
  /** The chosen entries. */
  public boolean[] kept = new boolean[0];
  /** TopK's histogram. */
  public final int[] hist = new int[2048];
  /** TopK's order keys. */
  public int[] order = new int[0];
  /** TopK's candidates. */
  public int[] cand = new int[0];
  /**
   * The kernels' loss output: native, not a heap view of {@link #loss}, since a heap segment
   * among the kernels' native ones made C2 box their vector stores (393 KB a call at 65536×10,
   * and slower plain calls in the same JVM).
   */
  public MemorySegment lossSeg = MemorySegment.NULL;

  private static final ThreadLocal<SelectionScratch> SCRATCH =
      ThreadLocal.withInitial(SelectionScratch::new);

  private SelectionScratch() {}

  /**
   * This thread's scratch, holding at least {@code n} entries.
   *
   * @param n the entries a call needs
   * @return the scratch
   */
  public static SelectionScratch get(int n) {
    SelectionScratch s = SCRATCH.get();
    if (s.loss.length < n || s.lossSeg.byteSize() == 0) {
      int size = Math.max(n, 1024);
      s.loss = new float[size];
      s.keys = new float[size];
      s.valid = new boolean[size];
      s.all = new boolean[size];
      Arrays.fill(s.all, true);
      s.kept = new boolean[size];
      s.order = new int[size];
      s.cand = new int[size];
      s.lossSeg = Arena.ofAuto().allocate((long) size * Float.BYTES, 64);
    }
    return s;
  }
}
