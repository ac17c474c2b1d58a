/**
 * Fused loss-and-gradient kernels over float32 {@link java.lang.foreign.MemorySegment}s: each
 * loss reads its inputs once and, in the same pass, accumulates its value (in double precision)
 * and writes its gradient into a buffer the caller provides. Semantics follow PyTorch's
 * {@code torch.nn} losses option for option; every edge behaviour is stated on each class.
 *
 * <h2>Losses</h2>
 * Notation: {@code x} prediction, {@code y} target, {@code w} weight, {@code d = x − y},
 * {@code σ} the logistic function, {@code p = softmax(x)} per row,
 * {@code lse = log Σ_c exp(x_c)} (max-shifted).
 *
 * <table class="striped">
 *   <caption>Element-wise losses ({@link dev.fusedloss.ElementwiseLoss}, {@code n} elements)</caption>
 *   <thead><tr><th scope="col">class</th><th scope="col">loss per element</th>
 *     <th scope="col">gradient</th></tr></thead>
 *   <tbody>
 *   <tr><th scope="row">{@link dev.fusedloss.MSELoss}</th><td>{@code d²}</td><td>{@code 2d}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.L1Loss}</th><td>{@code |d|}</td>
 *     <td>{@code sign(d)}, 0 at {@code d = 0}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.SmoothL1Loss}</th>
 *     <td>{@code 0.5·d²/β} if {@code |d| < β}, else {@code |d| − 0.5β}</td>
 *     <td>{@code d/β} or {@code sign(d)}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.HuberLoss}</th>
 *     <td>{@code 0.5·d²} if {@code |d| < δ}, else {@code δ(|d| − 0.5δ)}</td>
 *     <td>{@code d} or {@code δ·sign(d)}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.BCELoss}</th>
 *     <td>{@code −w[y·max(ln x, −100) + (1−y)·max(ln(1−x), −100)]}</td>
 *     <td>{@code w(x−y)/max(x(1−x), 1e-12)}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.BCEWithLogitsLoss}</th>
 *     <td>{@code w[pw·y·softplus(−x) + (1−y)·softplus(x)]}</td>
 *     <td>{@code w[(1+(pw−1)y)σ(x) − pw·y]}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.SigmoidFocalLoss}</th>
 *     <td>{@code α_t·BCEWithLogits(x, y)·(1−p_t)^γ} (torchvision)</td>
 *     <td>analytic, finite at saturation</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.BinaryFocalLoss}</th>
 *     <td>{@code −α_t(1−p_t)^γ ln p_t} on clipped probabilities</td>
 *     <td>of the clipped expression</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.KLDivLoss}</th>
 *     <td>{@code y(ln y − x)} or {@code e^y(y − x)} with log targets</td>
 *     <td>{@code −y} or {@code −e^y}</td></tr>
 *   </tbody>
 * </table>
 *
 * <table class="striped">
 *   <caption>Row losses over logits {@code [N, C]} with a row stride (fused per row)</caption>
 *   <thead><tr><th scope="col">class</th><th scope="col">loss per row</th>
 *     <th scope="col">gradient</th></tr></thead>
 *   <tbody>
 *   <tr><th scope="row">{@link dev.fusedloss.CrossEntropyLoss}</th>
 *     <td>{@code (1−ε)w_t(lse − x_t) + (ε/C)Σ_c w_c(lse − x_c) + z·lse²}</td>
 *     <td>{@code p·((1−ε)w_t + (ε/C)Σw + 2z·lse) − (1−ε)w_t·onehot − (ε/C)w}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.CrossEntropyLoss#computeSoft soft targets}</th>
 *     <td>{@code Σ_c w_c q'_c (lse − x_c)}, {@code q' = (1−ε)q + ε/C}</td>
 *     <td>{@code p·Σ w q' − w q'}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.NLLLoss}</th><td>{@code −w_t·x_t}</td>
 *     <td>{@code −w_t} at {@code t}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.LogSoftmax}</th><td>{@code x − lse} (forward)</td>
 *     <td>—</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.SoftmaxFocalLoss}</th>
 *     <td>{@code −α_t(1−p_t)^γ ln p_t}</td>
 *     <td>{@code (onehot − p)·α_t(γ p_t ln p_t (1−p_t)^(γ−1) − (1−p_t)^γ)}</td></tr>
 *   <tr><th scope="row">{@link dev.fusedloss.DistillationLoss}</th>
 *     <td>{@code T²·KL(softmax(t/T) ‖ softmax(s/T))}</td>
 *     <td>{@code T(softmax(s/T) − softmax(t/T))}</td></tr>
 *   </tbody>
 * </table>
 *
 * <h2>Training features</h2>
 * <ul>
 *   <li>{@link dev.fusedloss.OhemCrossEntropyLoss} and {@link dev.fusedloss.OhemElementwiseLoss}:
 *       online hard-example mining, the loss and gradient of the hardest rows or elements only;
 *   <li>{@link dev.fusedloss.MultiTaskLoss}: several task losses in one objective, fixed or
 *       learned-uncertainty weights applied inside each task's own fused pass;
 *   <li>{@link dev.fusedloss.GradNorm}: task weights balanced by their gradient norms;
 *   <li>{@code withFiniteCheck(true)} on element-wise losses and cross entropy: an opt-in guard
 *       that throws {@link dev.fusedloss.NonFiniteException} naming the first NaN or ±∞.
 * </ul>
 *
 * <h2>Language models, 16-bit buffers, N-d layouts and margin losses</h2>
 * <ul>
 *   <li>{@link dev.fusedloss.FusedLinearCrossEntropyLoss}: projection and cross entropy in one
 *       call, gradients for the hidden states, weight and bias, without the {@code [N, V]}
 *       logits; forward-only log-probabilities for scoring;
 *   <li>{@link dev.fusedloss.FloatFormat}: bfloat16 and float16 buffers through {@code
 *       withFormats(input, target, grad)} on the element-wise and row losses;
 *   <li>{@link dev.fusedloss.CrossEntropyLoss#computeSpatial} and {@link
 *       dev.fusedloss.NLLLoss#computeSpatial}: PyTorch's {@code [N, C, d1, …, dk]} with the class
 *       axis at dim 1, no transposing copy;
 *   <li>{@link dev.fusedloss.HingeEmbeddingLoss}, {@link dev.fusedloss.SoftMarginLoss},
 *       {@link dev.fusedloss.PoissonNLLLoss}: element-wise, with every call mode above.
 * </ul>
 *
 * <h2>The rest of {@code torch.nn}'s losses</h2>
 * Multi-input and row losses with a gradient for every float input: {@link
 * dev.fusedloss.GaussianNLLLoss} (per-element or shared variance), {@link
 * dev.fusedloss.MarginRankingLoss}, {@link dev.fusedloss.MultiLabelSoftMarginLoss}, {@link
 * dev.fusedloss.MultiMarginLoss}, {@link dev.fusedloss.MultiLabelMarginLoss}, {@link
 * dev.fusedloss.CosineEmbeddingLoss}, {@link dev.fusedloss.TripletMarginLoss}, {@link
 * dev.fusedloss.TripletMarginWithDistanceLoss} and {@link dev.fusedloss.CTCLoss}. Their gradients
 * must not overlap their inputs (each row is read several times), except multi-label soft margin
 * and multi-margin, which allow in place.
 *
 * <h2>Call modes</h2>
 * Every loss computes its value and gradient in one call; a null gradient buffer makes it
 * forward-only. A gradient scale multiplies the gradient, {@code accumulate} adds it to the
 * buffer's contents, and, for the single-input losses, the gradient may overwrite the input (in
 * place). Reductions
 * {@link dev.fusedloss.Reduction#MEAN MEAN}, {@code SUM} and {@code NONE} (with per-element or
 * per-row losses written out), and {@code BATCH_MEAN} for KL and distillation, follow PyTorch.
 * Every argument is checked before anything is written: a bad call throws
 * {@link java.lang.IllegalArgumentException} or {@link java.lang.IndexOutOfBoundsException}
 * naming the argument (and row) and leaves every output untouched.
 *
 * <h2>Threads</h2>
 * Losses are immutable and thread-safe. Large calls are split over threads as
 * {@link dev.fusedloss.Parallelism} says, in fixed chunks whose partial sums are added in a fixed
 * order, so results do not depend on the thread count. Segments of {@code Arena.ofConfined()}
 * can only be read by their owner thread: calls on them stay on the calling thread; use
 * {@code Arena.ofShared()} (or heap arrays) for calls that should split.
 *
 * <h2>Memory</h2>
 * A call on the calling thread allocates nothing on the Java heap, apart from per-thread scratch
 * buffers that some kernels allocate on a thread's first call and keep (each class says which,
 * and how large: at most tens of kilobytes, growing only with very long rows, and CTC's lattice
 * of 16 bytes per state and frame of its longest sequence). Inputs may be
 * native segments or heap arrays wrapped with {@code MemorySegment.ofArray}; indices are
 * {@code long} throughout.
 *
 * <h2>Kernels</h2>
 * {@link dev.fusedloss.Engine} reports which kernels a JVM runs: the Vector API kernels when
 * {@code jdk.incubator.vector} is resolved, at the CPU's preferred width or the one
 * {@code -Dfusedloss.vectorBits} chooses, else portable scalar kernels in double precision.
 */
package dev.fusedloss;
