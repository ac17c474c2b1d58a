package dev.fusedloss.bench;

import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.ABS;
import static jdk.incubator.vector.VectorOperators.MAX;

import dev.fusedloss.internal.PanamaExp;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Baselines for softmax cross entropy, vectorized like the engine — the engine's exp
 * ({@link PanamaExp}) and its loop shapes, so that a ratio to them measures fusion, not a better
 * exp or better compiled loops:
 * <ul>
 *   <li>{@link #crossEntropy}: PyTorch's CPU structure — log_softmax written to a buffer, NLL
 *       read from it, then the backward pass exp(logp) − onehot written to the gradient. Each
 *       pass that writes a buffer first copies its input row there in bulk and works in place,
 *       as the engine does: C2 compiles a loop over one segment much better than a loop that
 *       loads from one and stores into another;
 *   <li>{@link #exp}: a bare vector exp (and sum) over the same elements, the compute floor.
 * </ul>
 * The copy floor is {@link MemorySegment#copy} of the logits into the gradient buffer.
 */
final class UnfusedSoftmax {
  static final VectorSpecies<Float> F = PanamaExp.species();
  static final ByteOrder NO = ByteOrder.nativeOrder();

  private UnfusedSoftmax() {}

  static double crossEntropy(MemorySegment x, MemorySegment t, long rows, long classes,
      MemorySegment logp, MemorySegment grad) {
    // forward 1: log_softmax into a buffer
    for (long r = 0; r < rows; r++) {
      logSoftmaxRow(x, logp, r * classes, classes);
    }
    // forward 2: NLL
    double loss = 0;
    for (long r = 0; r < rows; r++) {
      int tr = t.getAtIndex(ValueLayout.JAVA_INT, r);
      loss -= logp.getAtIndex(ValueLayout.JAVA_FLOAT, r * classes + tr);
    }
    // backward: (exp(logp) − onehot) / N
    float inv = 1f / rows;
    for (long r = 0; r < rows; r++) {
      long base = r * classes;
      MemorySegment.copy(logp, base * 4, grad, base * 4, classes * 4);
      long c = 0;
      for (long bound = F.loopBound(classes); c < bound; c += F.length()) {
        PanamaExp.expNonPositive(FloatVector.fromMemorySegment(F, grad, (base + c) * 4, NO))
            .mul(inv).intoMemorySegment(grad, (base + c) * 4, NO);
      }
      for (; c < classes; c++) {
        grad.setAtIndex(ValueLayout.JAVA_FLOAT, base + c,
            (float) Math.exp(grad.getAtIndex(ValueLayout.JAVA_FLOAT, base + c)) * inv);
      }
      int tr = t.getAtIndex(ValueLayout.JAVA_INT, r);
      grad.setAtIndex(ValueLayout.JAVA_FLOAT, base + tr,
          grad.getAtIndex(ValueLayout.JAVA_FLOAT, base + tr) - inv);
    }
    return loss / rows;
  }

  static void logSoftmaxRow(MemorySegment x, MemorySegment out, long base, long classes) {
    FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    long c = 0;
    for (long bound = F.loopBound(classes); c < bound; c += F.length()) {
      m = m.lanewise(MAX, FloatVector.fromMemorySegment(F, x, (base + c) * 4, NO));
    }
    float max = m.reduceLanes(MAX);
    for (; c < classes; c++) {
      max = Math.max(max, x.getAtIndex(ValueLayout.JAVA_FLOAT, base + c));
    }
    FloatVector s = FloatVector.zero(F);
    c = 0;
    for (long bound = F.loopBound(classes); c < bound; c += F.length()) {
      s = s.add(PanamaExp.expNonPositive(
          FloatVector.fromMemorySegment(F, x, (base + c) * 4, NO).sub(max)));
    }
    double sum = s.reduceLanes(ADD);
    for (; c < classes; c++) {
      sum += Math.exp(x.getAtIndex(ValueLayout.JAVA_FLOAT, base + c) - max);
    }
    float lse = (float) (max + Math.log(sum));
    MemorySegment.copy(x, base * 4, out, base * 4, classes * 4);
    c = 0;
    for (long bound = F.loopBound(classes); c < bound; c += F.length()) {
      FloatVector.fromMemorySegment(F, out, (base + c) * 4, NO).sub(lse)
          .intoMemorySegment(out, (base + c) * 4, NO);
    }
    for (; c < classes; c++) {
      out.setAtIndex(ValueLayout.JAVA_FLOAT, base + c, out.getAtIndex(ValueLayout.JAVA_FLOAT, base + c) - lse);
    }
  }

  /** exp(−|x|) of every element, summed: the transcendental work of one softmax pass. */
  static double exp(MemorySegment x, long n) {
    FloatVector s = FloatVector.zero(F);
    long i = 0;
    for (long bound = F.loopBound(n); i < bound; i += F.length()) {
      // exp(−|x|): valid for any input, and the same operations as the kernels' exp
      s = s.add(PanamaExp.expNonPositive(
          FloatVector.fromMemorySegment(F, x, i * 4, NO).lanewise(ABS).neg()));
    }
    double tail = 0;
    for (; i < n; i++) {
      tail += Math.exp(-Math.abs(x.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
    }
    return s.reduceLanes(ADD) + tail;
  }
}
