package dev.fusedloss.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Chooses, once per JVM, between the Vector API kernels and the scalar ones (the split Apache
 * Lucene uses in {@code org.apache.lucene.internal.vectorization}). The Panama implementation
 * is loaded reflectively and only when {@code jdk.incubator.vector} is in the boot layer, so a
 * class-path user who did not add the module never loads a class that refers to it.
 *
 * <p>The system property {@code fusedloss.vectorization=scalar} forces the scalar kernels.
 */
public abstract class VectorizationProvider {
  /** The property that can force the scalar implementation. */
  public static final String PROPERTY = "fusedloss.vectorization";

  /** A short name: {@code "panama"} or {@code "scalar"}. */
  public abstract String name();

  /** The element-wise kernels. */
  public abstract ElementwiseKernels elementwise();

  /** The softmax-family row kernels. */
  public abstract SoftmaxKernels softmax();

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

  private static VectorizationProvider choose() {
    System.Logger log = System.getLogger("dev.fusedloss");
    if ("scalar".equalsIgnoreCase(System.getProperty(PROPERTY, ""))) {
      log.log(System.Logger.Level.INFO,
          "fusedloss: scalar kernels (forced by -D" + PROPERTY + "=scalar)");
      return ScalarProvider.INSTANCE;
    }
    if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      log.log(System.Logger.Level.WARNING,
          "fusedloss: jdk.incubator.vector is not available; using slower scalar kernels"
              + " (add --add-modules jdk.incubator.vector to the java command line)");
      return ScalarProvider.INSTANCE;
    }
    try {
      Class<?> c = Class.forName("dev.fusedloss.internal.PanamaVectorizationProvider");
      return (VectorizationProvider) MethodHandles.lookup()
          .findConstructor(c, MethodType.methodType(void.class)).invoke();
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
    public ElementwiseKernels elementwise() {
      return ScalarElementwiseKernels.INSTANCE;
    }

    @Override
    public SoftmaxKernels softmax() {
      return ScalarSoftmaxKernels.INSTANCE;
    }
  }
}
