/**
 * fusedloss: fused, single-pass loss-and-gradient kernels over off-heap float32 buffers.
 *
 * <p>The Vector API module is optional ({@code requires static}): when
 * {@code jdk.incubator.vector} is resolved ({@code --add-modules jdk.incubator.vector}, on the
 * module path as on the class path) the vectorized kernels are used; otherwise the engine logs
 * one line saying why and uses its scalar kernels. A runtime without the module at all (a jlink
 * image of {@code java.base}) therefore runs fusedloss too. See {@link dev.fusedloss.Engine}.
 */
module dev.fusedloss {
  requires static jdk.incubator.vector;

  exports dev.fusedloss;
}
