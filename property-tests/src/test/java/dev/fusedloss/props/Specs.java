package dev.fusedloss.props;

import dev.fusedloss.BCELoss;
import dev.fusedloss.BCEWithLogitsLoss;
import dev.fusedloss.BinaryFocalLoss;
import dev.fusedloss.ElementwiseLoss;
import dev.fusedloss.HuberLoss;
import dev.fusedloss.L1Loss;
import dev.fusedloss.MSELoss;
import dev.fusedloss.Reduction;
import dev.fusedloss.SigmoidFocalLoss;
import dev.fusedloss.SmoothL1Loss;
import dev.fusedloss.oracle.Oracle;
import dev.fusedloss.props.Data.Domain;
import java.util.List;
import java.util.function.Function;

/** Every element-wise kernel configuration under test, with its oracle and input domains. */
public final class Specs {
  private Specs() {}

  /** Per-element losses of the oracle; fills the per-element derivatives. */
  public interface OracleFn {
    double[] apply(float[] x, float[] y, double[] grad);
  }

  /**
   * @param columns when > 0, the element count is rounded to a multiple of it (weights broadcast
   *     along columns)
   */
  public record Spec(String name, Function<Reduction, ElementwiseLoss> make, OracleFn oracle,
      Domain x, Domain y, int columns) {
    @Override
    public String toString() {
      return name;
    }
  }

  /** The reductions every element-wise loss takes. */
  public static final Reduction[] REDUCTIONS = {Reduction.MEAN, Reduction.SUM, Reduction.NONE};

  static final float[] COL_W = {0.5f, 2f, 1.25f, 0f, 3f};
  static final float[] POS_W = {2.5f, 0.25f, 1f, 4f, 1.5f};
  static final float CLIP = 1e-4f;
  static final float FOCAL_CLIP = 1e-6f;

  public static List<Spec> all() {
    return List.of(
        new Spec("mse", MSELoss::of, Oracle::mse, Domain.REAL, Domain.REAL, 0),
        new Spec("l1", L1Loss::of, Oracle::l1, Domain.REAL, Domain.REAL, 0),
        new Spec("smoothL1(1)", r -> SmoothL1Loss.of(r, 1f),
            (x, y, g) -> Oracle.smoothL1(x, y, 1.0, g), Domain.REAL, Domain.REAL, 0),
        new Spec("smoothL1(0.25)", r -> SmoothL1Loss.of(r, 0.25f),
            (x, y, g) -> Oracle.smoothL1(x, y, 0.25f, g), Domain.REAL, Domain.REAL, 0),
        new Spec("smoothL1(0)", r -> SmoothL1Loss.of(r, 0f), Oracle::l1,
            Domain.REAL, Domain.REAL, 0),
        new Spec("huber(1)", r -> HuberLoss.of(r, 1f),
            (x, y, g) -> Oracle.huber(x, y, 1.0, g), Domain.REAL, Domain.REAL, 0),
        new Spec("huber(2.5)", r -> HuberLoss.of(r, 2.5f),
            (x, y, g) -> Oracle.huber(x, y, 2.5, g), Domain.REAL, Domain.REAL, 0),
        new Spec("bce", r -> BCELoss.builder().reduction(r).build(),
            (x, y, g) -> Oracle.bce(x, y, null, g), Domain.PROBABILITY, Domain.TARGET01, 0),
        new Spec("bce[weight C]", r -> BCELoss.builder().reduction(r).weight(COL_W).build(),
            (x, y, g) -> Oracle.bce(x, y, COL_W, g), Domain.PROBABILITY, Domain.TARGET01, 5),
        new Spec("bce clip", r -> BCELoss.builder().reduction(r).clipEps(CLIP).build(),
            (x, y, g) -> Oracle.bceClipped(x, y, null, CLIP, 1f - CLIP, g),
            Domain.PROBABILITY, Domain.TARGET01, 0),
        new Spec("bceWithLogits", r -> BCEWithLogitsLoss.builder().reduction(r).build(),
            (x, y, g) -> Oracle.bceWithLogits(x, y, null, null, g),
            Domain.LOGIT, Domain.TARGET01, 0),
        new Spec("bceWithLogits[weight, posWeight]",
            r -> BCEWithLogitsLoss.builder().reduction(r).weight(COL_W).posWeight(POS_W).build(),
            (x, y, g) -> Oracle.bceWithLogits(x, y, COL_W, POS_W, g),
            Domain.LOGIT, Domain.TARGET01, 5),
        new Spec("sigmoidFocal(0.25, 2)",
            r -> SigmoidFocalLoss.builder().reduction(r).alpha(0.25f).gamma(2f).build(),
            (x, y, g) -> Oracle.sigmoidFocal(x, y, 0.25, 2, g), Domain.LOGIT, Domain.HARD01, 0),
        new Spec("sigmoidFocal(-1, 0.5) soft",
            r -> SigmoidFocalLoss.builder().reduction(r).alpha(-1f).gamma(0.5f).build(),
            (x, y, g) -> Oracle.sigmoidFocal(x, y, -1, 0.5, g), Domain.LOGIT, Domain.TARGET01, 0),
        new Spec("sigmoidFocal(0.75, 5)",
            r -> SigmoidFocalLoss.builder().reduction(r).alpha(0.75f).gamma(5f).build(),
            (x, y, g) -> Oracle.sigmoidFocal(x, y, 0.75, 5, g), Domain.LOGIT, Domain.HARD01, 0),
        new Spec("binaryFocal(0.25, 2)",
            r -> BinaryFocalLoss.builder().reduction(r).alpha(0.25f).gamma(2f)
                .clipEps(FOCAL_CLIP).build(),
            (x, y, g) -> Oracle.binaryFocal(x, y, 0.25, 2, FOCAL_CLIP, 1f - FOCAL_CLIP, g),
            Domain.PROBABILITY, Domain.HARD01, 0),
        new Spec("binaryFocal(-1, 0.5)",
            r -> BinaryFocalLoss.builder().reduction(r).alpha(-1f).gamma(0.5f)
                .clipEps(FOCAL_CLIP).build(),
            (x, y, g) -> Oracle.binaryFocal(x, y, -1, 0.5, FOCAL_CLIP, 1f - FOCAL_CLIP, g),
            Domain.PROBABILITY, Domain.HARD01, 0),
        new Spec("hingeEmbedding(1)", r -> dev.fusedloss.HingeEmbeddingLoss.of(r, 1f),
            (x, y, g) -> Oracle.hingeEmbedding(x, y, 1, g), Domain.REAL, Domain.SIGN, 0),
        new Spec("hingeEmbedding(0.5)", r -> dev.fusedloss.HingeEmbeddingLoss.of(r, 0.5f),
            (x, y, g) -> Oracle.hingeEmbedding(x, y, 0.5f, g), Domain.REAL, Domain.SIGN, 0),
        new Spec("softMargin", dev.fusedloss.SoftMarginLoss::of, Oracle::softMargin,
            Domain.LOGIT, Domain.SIGN, 0),
        new Spec("poissonNll(log)", dev.fusedloss.PoissonNLLLoss::of,
            (x, y, g) -> Oracle.poissonNll(x, y, true, false, 1e-8, g), Domain.REAL,
            Domain.COUNT, 0),
        new Spec("poissonNll(log, full)", r -> dev.fusedloss.PoissonNLLLoss.of(r, true, true,
            1e-8f), (x, y, g) -> Oracle.poissonNll(x, y, true, true, 1e-8, g), Domain.REAL,
            Domain.COUNT, 0),
        new Spec("poissonNll(rate, full)", r -> dev.fusedloss.PoissonNLLLoss.of(r, false, true,
            1e-3f), (x, y, g) -> Oracle.poissonNll(x, y, false, true, 1e-3, g),
            Domain.PROBABILITY, Domain.COUNT, 0));
  }
}
