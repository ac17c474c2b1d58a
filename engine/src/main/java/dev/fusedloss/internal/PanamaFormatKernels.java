package dev.fusedloss.internal;

import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.AND;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.I2S;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.OR;
import static jdk.incubator.vector.VectorOperators.ZERO_EXTEND_S2I;

import dev.fusedloss.FloatFormat;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector conversions: one 16-bit vector of L lanes (half the float shape) widens to one float
 * vector. bfloat16 is a shift; float16 is decoded with integer operations (its bits shifted into
 * float position and rescaled by 2^112, exact for subnormals too, with ∞/NaN given the float's
 * all-ones exponent). Encoding float16 stays with {@link Float#floatToFloat16}, a single
 * instruction where the CPU has F16C.
 */
final class PanamaFormatKernels implements FormatKernels {
  private static final VectorSpecies<Float> F = PanamaSpecies.F;
  private static final int L = PanamaSpecies.L;
  private static final VectorSpecies<Integer> I =
      VectorSpecies.of(int.class, VectorShape.forBitSize(F.vectorBitSize()));
  private static final VectorSpecies<Short> S =
      VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
  private static final ByteOrder NATIVE = PanamaSpecies.NATIVE;
  private static final ScalarFormatKernels TAIL = ScalarFormatKernels.INSTANCE;

  @Override
  public void decode(FloatFormat f, MemorySegment src, long from, MemorySegment dst, long dstAt,
      int len) {
    int i = 0;
    int bound = len - (len % L);
    switch (f) {
      case FLOAT32 -> {
        MemorySegment.copy(src, from * 4, dst, dstAt * 4, (long) len * 4);
        return;
      }
      case BFLOAT16 -> {
        for (; i < bound; i += L) {
          IntVector w = (IntVector) ShortVector.fromMemorySegment(S, src, (from + i) * 2, NATIVE)
              .convertShape(ZERO_EXTEND_S2I, I, 0);
          w.lanewise(LSHL, 16).reinterpretAsFloats().intoMemorySegment(dst, (dstAt + i) * 4, NATIVE);
        }
      }
      case FLOAT16 -> {
        FloatVector scale = FloatVector.broadcast(F, 0x1p112f);
        for (; i < bound; i += L) {
          IntVector h = (IntVector) ShortVector.fromMemorySegment(S, src, (from + i) * 2, NATIVE)
              .convertShape(ZERO_EXTEND_S2I, I, 0);
          IntVector sign = h.lanewise(AND, 0x8000).lanewise(LSHL, 16);
          IntVector em = h.lanewise(AND, 0x7fff);
          IntVector shifted = em.lanewise(LSHL, 13);
          VectorMask<Integer> special = em.compare(GE, 0x7c00);
          FloatVector mag = shifted.reinterpretAsFloats().mul(scale);
          IntVector bits = mag.reinterpretAsInts()
              .blend(shifted.lanewise(OR, 0x7f800000), special);
          bits.lanewise(OR, sign).reinterpretAsFloats()
              .intoMemorySegment(dst, (dstAt + i) * 4, NATIVE);
        }
      }
    }
    if (i < len) {
      ScalarFormatKernels.decodeRange(f, src, from + i, dst, dstAt + i, len - i);
    }
  }

  @Override
  public void encode(FloatFormat f, MemorySegment src, long srcAt, MemorySegment dst, long at,
      int len, boolean acc) {
    if (f != FloatFormat.BFLOAT16) {
      if (f == FloatFormat.FLOAT32 && acc) {
        int i = 0;
        for (int bound = len - (len % L); i < bound; i += L) {
          FloatVector.fromMemorySegment(F, dst, (at + i) * 4, NATIVE)
              .add(FloatVector.fromMemorySegment(F, src, (srcAt + i) * 4, NATIVE))
              .intoMemorySegment(dst, (at + i) * 4, NATIVE);
        }
        for (; i < len; i++) {
          long o = (at + i) * 4;
          dst.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, o,
              dst.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, o)
                  + src.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, (srcAt + i) * 4));
        }
        return;
      }
      TAIL.encode(f, src, srcAt, dst, at, len, acc);
      return;
    }
    int i = 0;
    for (int bound = len - (len % L); i < bound; i += L) {
      FloatVector v = FloatVector.fromMemorySegment(F, src, (srcAt + i) * 4, NATIVE);
      if (acc) {
        IntVector old = (IntVector) ShortVector.fromMemorySegment(S, dst, (at + i) * 2, NATIVE)
            .convertShape(ZERO_EXTEND_S2I, I, 0);
        v = v.add(old.lanewise(LSHL, 16).reinterpretAsFloats());
      }
      IntVector b = v.reinterpretAsInts();
      IntVector rounded = b.add(b.lanewise(LSHR, 16).lanewise(AND, 1)).lanewise(ADD, 0x7fff)
          .lanewise(LSHR, 16);
      IntVector quiet = b.lanewise(LSHR, 16).lanewise(OR, 0x40);
      // NaN: magnitude bits above the infinity's (an integer compare: no mask conversion)
      rounded = rounded.blend(quiet, b.lanewise(AND, 0x7fffffff).compare(GT, 0x7f800000));
      ((ShortVector) rounded.convertShape(I2S, S, 0))
          .intoMemorySegment(dst, (at + i) * 2, NATIVE);
    }
    if (i < len) {
      ScalarFormatKernels.encodeRange(f, src, srcAt + i, dst, at + i, len - i, acc);
    }
  }

  private static final ThreadLocal<float[]> HALF = ThreadLocal.withInitial(() -> new float[L]);

  @Override
  public int pointwiseLanes() {
    return L;
  }

  @Override
  public double pointwise(float[] shape, FloatFormat fx, MemorySegment x, FloatFormat fy,
      MemorySegment y, long from, long to, MemorySegment loss, FloatFormat fg,
      MemorySegment grad, float coef, boolean acc) {
    int kind = (int) shape[0];
    float[] half = HALF.get();
    float thr = shape[1];
    float div = shape[2];
    float b = shape[3];
    float c = shape[4];
    float gb = b * coef;
    float c2 = 2f * coef;
    FloatVector zero = FloatVector.zero(F);
    jdk.incubator.vector.DoubleVector s =
        jdk.incubator.vector.DoubleVector.zero(PanamaSpecies.D);
    // every conversion written out in the loop: a helper returning or taking a vector would be
    // inlined or not at C2's discretion, and a vector crossing a call is boxed
    for (long i = from; i < to; i += L) {
      FloatVector xv;
      if (fx == FloatFormat.FLOAT32) {
        xv = FloatVector.fromMemorySegment(F, x, i * 4, NATIVE);
      } else {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, x, i * 2, NATIVE)
            .convertShape(ZERO_EXTEND_S2I, I, 0);
        if (fx == FloatFormat.BFLOAT16) {
          xv = h.lanewise(LSHL, 16).reinterpretAsFloats();
        } else {
          IntVector em = h.lanewise(AND, 0x7fff);
          IntVector sh = em.lanewise(LSHL, 13);
          xv = sh.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
              .blend(sh.lanewise(OR, 0x7f800000), em.compare(GE, 0x7c00))
              .lanewise(OR, h.lanewise(AND, 0x8000).lanewise(LSHL, 16)).reinterpretAsFloats();
        }
      }
      FloatVector yv;
      if (fy == FloatFormat.FLOAT32) {
        yv = FloatVector.fromMemorySegment(F, y, i * 4, NATIVE);
      } else {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, y, i * 2, NATIVE)
            .convertShape(ZERO_EXTEND_S2I, I, 0);
        if (fy == FloatFormat.BFLOAT16) {
          yv = h.lanewise(LSHL, 16).reinterpretAsFloats();
        } else {
          IntVector em = h.lanewise(AND, 0x7fff);
          IntVector sh = em.lanewise(LSHL, 13);
          yv = sh.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
              .blend(sh.lanewise(OR, 0x7f800000), em.compare(GE, 0x7c00))
              .lanewise(OR, h.lanewise(AND, 0x8000).lanewise(LSHL, 16)).reinterpretAsFloats();
        }
      }
      FloatVector d = xv.sub(yv);
      FloatVector l;
      FloatVector g;
      // the formulas of PanamaElementwiseKernels.mse / l1 / robust
      if (kind == 0) {
        l = d.mul(d);
        g = d.mul(c2);
      } else if (kind == 1) {
        l = d.lanewise(jdk.incubator.vector.VectorOperators.ABS);
        g = zero.blend(coef, d.compare(GT, 0f))
            .blend(-coef, d.compare(jdk.incubator.vector.VectorOperators.LT, 0f))
            .blend(d, d.test(jdk.incubator.vector.VectorOperators.IS_NAN));
      } else {
        FloatVector ad = d.lanewise(jdk.incubator.vector.VectorOperators.ABS);
        VectorMask<Float> quad = ad.compare(jdk.incubator.vector.VectorOperators.LT, thr);
        FloatVector q = d.div(div);
        l = ad.sub(c).mul(b).blend(q.mul(0.5f).mul(d), quad);
        g = zero.blend(gb, d.compare(GT, 0f))
            .blend(-gb, d.compare(jdk.incubator.vector.VectorOperators.LT, 0f))
            .blend(d, d.test(jdk.incubator.vector.VectorOperators.IS_NAN))
            .blend(q.mul(coef), quad);
      }
      s = s.add((jdk.incubator.vector.DoubleVector) l.convertShape(
          jdk.incubator.vector.VectorOperators.F2D, PanamaSpecies.D, 0))
          .add((jdk.incubator.vector.DoubleVector) l.convertShape(
              jdk.incubator.vector.VectorOperators.F2D, PanamaSpecies.D, 1));
      if (loss != null) {
        l.intoMemorySegment(loss, i * 4, NATIVE);
      }
      if (grad != null) {
        if (fg == FloatFormat.FLOAT32) {
          if (acc) {
            g = g.add(FloatVector.fromMemorySegment(F, grad, i * 4, NATIVE));
          }
          g.intoMemorySegment(grad, i * 4, NATIVE);
        } else {
          if (acc) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, grad, i * 2, NATIVE)
                .convertShape(ZERO_EXTEND_S2I, I, 0);
            FloatVector old;
            if (fg == FloatFormat.BFLOAT16) {
              old = h.lanewise(LSHL, 16).reinterpretAsFloats();
            } else {
              IntVector em = h.lanewise(AND, 0x7fff);
              IntVector sh = em.lanewise(LSHL, 13);
              old = sh.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                  .blend(sh.lanewise(OR, 0x7f800000), em.compare(GE, 0x7c00))
                  .lanewise(OR, h.lanewise(AND, 0x8000).lanewise(LSHL, 16))
                  .reinterpretAsFloats();
            }
            g = g.add(old);
          }
          if (fg == FloatFormat.BFLOAT16) {
            IntVector bits = g.reinterpretAsInts();
            IntVector r = bits.add(bits.lanewise(LSHR, 16).lanewise(AND, 1)).lanewise(ADD, 0x7fff)
                .lanewise(LSHR, 16)
                .blend(bits.lanewise(LSHR, 16).lanewise(OR, 0x40),
                    bits.lanewise(AND, 0x7fffffff).compare(GT, 0x7f800000));
            ((ShortVector) r.convertShape(I2S, S, 0)).intoMemorySegment(grad, i * 2, NATIVE);
          } else {
            g.intoArray(half, 0); // lane(i) with a variable i is no intrinsic: it allocates
            for (int lane = 0; lane < L; lane++) { // float16: F16C, lane by lane
              grad.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i + lane,
                  Float.floatToFloat16(half[lane]));
            }
          }
        }
      }
    }
    return s.reduceLanes(ADD);
  }
}
