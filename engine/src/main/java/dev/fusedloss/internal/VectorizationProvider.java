package dev.fusedloss.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Chooses, once per JVM, between the Vector API kernels and the scalar ones (the split Apache
 * Lucene uses in {@code org.apache.lucene.internal.vectorization}). The Panama implementation
 * is loaded reflectively and only when {@code jdk.incubator.vector} is in the boot layer, so a
 * class-path user who did not add the module never loads a class that refers to it.
 *
 * <p>The system property {@code fusedloss.vectorization=scalar} forces the scalar kernels, and
 * {@code fusedloss.vectorBits=128|256|512} chooses the Vector API kernels' width (default: the
 * CPU's preferred one). The choice is logged once, at INFO (a fallback at WARNING).
 */
public abstract class VectorizationProvider {
  /** The property that can force the scalar implementation. */
  public static final String PROPERTY = "fusedloss.vectorization";

  /** The property that chooses the vector width in bits: 128, 256 or 512. */
  public static final String BITS_PROPERTY = "fusedloss.vectorBits";

  private static final System.Logger LOG = System.getLogger("dev.fusedloss");

  private static final String VECTOR_MODULE = "jdk.incubator.vector";

  /** A short name: {@code "panama"} or {@code "scalar"}. */
  public abstract String name();

  /** The float species of the vector kernels, e.g. {@code Species[float, 8, S_256_BIT]}; "" if scalar. */
  public abstract String species();

  /** Float lanes per vector of the vector kernels; 0 if scalar. */
  public abstract int floatLanes();

  /** The element-wise kernels. */
  public abstract ElementwiseKernels elementwise();

  /** The softmax-family row kernels. */
  public abstract SoftmaxKernels softmax();

  /** Conversions between storage formats and float32 tiles. */
  public abstract FormatKernels formats();

  /** The matrix product and row sweeps of the fused linear + cross entropy. */
  public abstract LinearKernels linear();

  /** The kernels of the multi-input and row-margin losses. */
  public abstract PairKernels pair();

  /** The provider in use, chosen on first call. */
  public static VectorizationProvider get() {
    return Holder.INSTANCE;
  }

  /** The scalar provider, whatever {@link #get()} chose. */
  public static VectorizationProvider scalar() {
    return ScalarProvider.INSTANCE;
  }

  private static final class Holder {
    static final VectorizationProvider INSTANCE = choose();
  }

  private static final class Bits {
    static final int REQUESTED = parseBits();
  }

  /**
   * The width {@code -Dfusedloss.vectorBits} asks for, or 0 for the preferred species (also when
   * the value is not 128, 256 or 512: that is logged once and ignored).
   */
  public static int requestedVectorBits() {
    return Bits.REQUESTED;
  }

  private static int parseBits() {
    String v = System.getProperty(BITS_PROPERTY, "").trim();
    if (v.isEmpty()) {
      return 0;
    }
    switch (v) {
      case "128", "256", "512" -> {
        return Integer.parseInt(v);
      }
      default -> {
        LOG.log(System.Logger.Level.WARNING, "fusedloss: ignoring -D" + BITS_PROPERTY + "=" + v
            + " (allowed: 128, 256, 512); using the preferred vector width");
        return 0;
      }
    }
  }

  private static VectorizationProvider choose() {
    System.Logger log = LOG;
    if ("scalar".equalsIgnoreCase(System.getProperty(PROPERTY, ""))) {
      log.log(System.Logger.Level.INFO,
          "fusedloss: scalar kernels (forced by -D" + PROPERTY + "=scalar)");
      return ScalarProvider.INSTANCE;
    }
    java.util.Optional<Module> vector = ModuleLayer.boot().findModule(VECTOR_MODULE);
    if (vector.isEmpty()) {
      boolean inRuntime = java.lang.module.ModuleFinder.ofSystem().find(VECTOR_MODULE).isPresent();
      log.log(System.Logger.Level.WARNING, inRuntime
          ? "fusedloss: jdk.incubator.vector is not resolved; using slower scalar kernels"
              + " (add --add-modules jdk.incubator.vector to the java command line)"
          : "fusedloss: this Java runtime has no jdk.incubator.vector module; using slower"
              + " scalar kernels");
      return ScalarProvider.INSTANCE;
    }
    Module self = VectorizationProvider.class.getModule();
    if (self.isNamed() && !self.canRead(vector.get())) {
      // requires static gives readability only when the module was resolved with ours; in a
      // layer of its own, add it (a module may add reads edges from itself)
      self.addReads(vector.get());
    }
    try {
      Class<?> c = Class.forName("dev.fusedloss.internal.PanamaVectorizationProvider");
      VectorizationProvider p = (VectorizationProvider) MethodHandles.lookup()
          .findConstructor(c, MethodType.methodType(void.class)).invoke();
      log.log(System.Logger.Level.INFO, "fusedloss: Vector API kernels, " + p.species());
      return p;
    } catch (Throwable t) {
      log.log(System.Logger.Level.WARNING,
          "fusedloss: the Vector API kernels could not be loaded (" + t
              + "); using slower scalar kernels");
      return ScalarProvider.INSTANCE;
    }
  }

  static final class ScalarProvider extends VectorizationProvider {
    static final ScalarProvider INSTANCE = new ScalarProvider();

    @Override
    public String name() {
      return "scalar";
    }

    @Override
    public String species() {
      return "";
    }

    @Override
    public int floatLanes() {
      return 0;
    }

    @Override
    public ElementwiseKernels elementwise() {
      return ScalarElementwiseKernels.INSTANCE;
    }

    @Override
    public SoftmaxKernels softmax() {
      return ScalarSoftmaxKernels.INSTANCE;
    }

    @Override
    public FormatKernels formats() {
      return ScalarFormatKernels.INSTANCE;
    }

    @Override
    public LinearKernels linear() {
      return ScalarLinearKernels.INSTANCE;
    }

    @Override
    public PairKernels pair() {
      return ScalarPairKernels.INSTANCE;
    }
  }
}
