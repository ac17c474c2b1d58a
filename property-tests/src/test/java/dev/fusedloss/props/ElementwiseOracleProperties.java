package dev.fusedloss.props;

import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.props.Data.Domain;
import dev.fusedloss.props.Specs.Spec;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every element-wise kernel × reduction against the double-precision oracle: sizes 0…5000 (most
 * not a multiple of the vector length), regions at odd element offsets and odd byte offsets
 * inside larger segments, edge values, non-finite inputs, gradient scales of either sign.
 * Checks the returned value, the per-element losses (NONE), the gradient, and that nothing
 * outside the regions or in the inputs changed.
 */
class ElementwiseOracleProperties {
  static final float[] SCALES = {1f, 0.5f, -3f, 1e-3f};

  @TestFactory
  Stream<DynamicTest> matchesOracle() {
    return Specs.all().stream().flatMap(spec -> Stream.of(Specs.REDUCTIONS)
        .map(r -> DynamicTest.dynamicTest(spec + " " + r, () -> property(spec, r))));
  }

  static void property(Spec spec, Reduction r) {
    ElementwiseLoss loss = spec.make().apply(r);
    qt().withExamples(Seeds.examples(60)).withFixedSeed(Seeds.seed())
        .forAll(integers().between(0, 5000), longs().all(), integers().between(0, 255))
        .checkAssert((size, seed, flags) -> check(spec, loss, r, size, seed, flags));
  }

  static void check(Spec spec, ElementwiseLoss loss, Reduction r, int size, long seed, int flags) {
    int n = spec.columns() > 0 ? size - size % spec.columns() : size;
    boolean edges = (flags & 1) != 0;
    boolean nonFinite = (flags & 2) != 0 && (flags & 4) != 0;
    int misalign = (flags & 8) != 0 ? 1 + (flags >> 6) % 3 : 0;
    int offset = (flags >> 4) & 3;
    float gradScale = SCALES[(flags >> 6) & 3];
    float[] x = Data.make(spec.x(), n, seed, edges);
    float[] y = Data.make(spec.y(), n, seed + 1, edges);
    if (spec.x() == Domain.REAL) {
      Data.tieSome(x, y, seed);
    }
    if (nonFinite) {
      Data.sprinkleNonFinite(x, seed);
    }
    double[] refG = new double[n];
    double[] refL = spec.oracle().apply(x, y, refG);
    Run.Result res = Run.call(loss, x, y, offset, misalign, true, gradScale, null);
    String ctx = spec + " " + r + " n=" + n + " seed=" + seed + " flags=" + flags;
    Expect.value(ctx + " value", res.value(), refL, r);
    if (r == Reduction.NONE) {
      Tolerance.assertVector(ctx + " losses", res.losses(), refL);
    }
    Expect.grad(ctx + " grad", res.grad(), refG, r, gradScale, null);
  }
}
