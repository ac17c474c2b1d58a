package dev.fusedloss.props;

import dev.fusedloss.CrossEntropyLoss;
import dev.fusedloss.Engine;

/**
 * A user program for {@link ModulePathTest}: run on the class path with fusedloss on the module
 * path, it prints which kernels it got and one cross-entropy value.
 */
public final class ModulePathMain {
  private ModulePathMain() {}

  public static void main(String[] args) {
    System.out.println(Engine.describe());
    float[] logits = {1f, 2f, 3f, -1f, 0f, 4f};
    float[] grad = new float[6];
    double loss = CrossEntropyLoss.builder().build().compute(logits, new int[] {2, 0}, 3, grad);
    System.out.println("loss " + loss);
    System.out.println("module " + Engine.class.getModule().getName());
  }
}
