/**
 * fusedloss: fused, single-pass loss-and-gradient kernels over off-heap float32 buffers.
 *
 * <p>On the module path the Vector API module is required, so the vectorized kernels are always
 * used. On the class path the engine detects whether {@code jdk.incubator.vector} was added
 * ({@code --add-modules jdk.incubator.vector}) and falls back to scalar kernels otherwise.
 */
module dev.fusedloss {
  requires jdk.incubator.vector;

  exports dev.fusedloss;
}
