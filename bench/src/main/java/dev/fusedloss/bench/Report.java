package dev.fusedloss.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * Turns a JMH JSON result file into the benchmark report: a Markdown page (machine, JDK, vector
 * species, and per workload the time, the bytes per second, the ratios to the copy and exp
 * floors, to the scalar and unfused baselines and to PyTorch when its peer ran, 1 vs 2 threads,
 * and JMH's gc profiler column with any allocating kernel flagged) and throughput plots with the
 * memory stream drawn as the roof. Optionally rewrites the summary block of the top-level README
 * between {@code <!-- bench:start -->} and {@code <!-- bench:end -->}.
 *
 * <pre>Report results.json outDir [--readme README.md] [--note "text"]...</pre>
 */
public final class Report {
  /** Bytes per op above the workload's copy/stream reference that count as allocating. */
  static final double ALLOC_SLACK = 16;

  /**
   * One JMH result; {@code iterationUs} is its measurement iteration time (NaN if the file does
   * not say).
   */
  record Result(String cls, String method, Map<String, String> params, double us, double err,
      double bytesPerOp, double iterationUs) {
    String p(String k) {
      return params.getOrDefault(k, "");
    }
  }

  private final List<Result> results = new ArrayList<>();
  private final JsonNode first;
  private final List<String> flags = new ArrayList<>();

  Report(JsonNode root) {
    first = root.size() > 0 ? root.get(0) : null;
    for (JsonNode n : root) {
      String b = n.get("benchmark").asText();
      String[] parts = b.split("\\.");
      Map<String, String> params = new TreeMap<>();
      JsonNode ps = n.get("params");
      if (ps != null) {
        for (Map.Entry<String, JsonNode> e : ps.properties()) {
          params.put(e.getKey(), e.getValue().asText());
        }
      }
      JsonNode pm = n.get("primaryMetric");
      double scale = switch (pm.get("scoreUnit").asText()) {
        case "ns/op" -> 1e-3;
        case "ms/op" -> 1e3;
        case "s/op" -> 1e6;
        default -> 1;
      };
      double err = pm.get("scoreError").asDouble();
      JsonNode gc = n.path("secondaryMetrics").path("gc.alloc.rate.norm").path("score");
      results.add(new Result(parts[parts.length - 2], parts[parts.length - 1], params,
          pm.get("score").asDouble() * scale, Double.isNaN(err) ? 0 : err * scale,
          gc.isMissingNode() ? Double.NaN : gc.asDouble(),
          micros(n.path("measurementTime").asText(""))));
    }
  }

  Result find(String cls, String method, String... kv) {
    outer:
    for (Result r : results) {
      if (!r.cls.equals(cls) || !r.method.equals(method)) {
        continue;
      }
      for (int i = 0; i < kv.length; i += 2) {
        if (!r.p(kv[i]).equals(kv[i + 1])) {
          continue outer;
        }
      }
      return r;
    }
    return null;
  }

  /** Values of one parameter of one benchmark class, in first-seen order. */
  Set<String> values(String cls, String param) {
    Set<String> out = new LinkedHashSet<>();
    for (Result r : results) {
      if (r.cls.equals(cls) && r.params.containsKey(param)) {
        out.add(r.p(param));
      }
    }
    return out;
  }

  static String f(double v) {
    if (Double.isNaN(v)) {
      return "—";
    }
    double a = Math.abs(v);
    String fmt = a >= 1000 ? "%.0f" : a >= 100 ? "%.1f" : a >= 10 ? "%.2f" : "%.3f";
    return String.format(Locale.ROOT, fmt, v);
  }

  static String time(Result r) {
    return r == null ? "—" : f(r.us) + " ± " + f(r.err);
  }

  /** {@code a.us / b.us} formatted as a factor, or a dash. */
  static String ratio(Result a, Result b) {
    return a == null || b == null ? "—" : String.format(Locale.ROOT, "%.2f×", a.us / b.us);
  }

  /** "2.05× faster" or "1.16× slower": how the fused time {@code b} compares with {@code a}. */
  static String faster(Result a, Result b) {
    if (a == null || b == null) {
      return "—";
    }
    return a.us >= b.us ? String.format(Locale.ROOT, "%.2f× faster", a.us / b.us)
        : String.format(Locale.ROOT, "%.2f× slower", b.us / a.us);
  }

  static String gbps(double bytes, Result r) {
    return r == null ? "—" : String.format(Locale.ROOT, "%.1f", bytes / (r.us * 1e3));
  }

  /**
   * JMH's own bytes per call of {@code r}, estimated from {@code ref}'s. With a known iteration
   * time T, an iteration holds a whole number of calls: at most ⌊T/ref⌋ + 1 of the reference,
   * at least max(1, ⌊T/r⌋) of {@code r}, so the share is bounded by ref B/op·(⌊T/ref⌋ + 1) /
   * max(1, ⌊T/r⌋) (a 130 ms call in 500 ms iterations runs 3 or 4 times: its share can be 28 %
   * above the proportional estimate). Without T, the proportional estimate ref B/op·r/ref.
   */
  static double jmhShare(Result r, Result ref) {
    double t = r.iterationUs;
    if (Double.isNaN(t) || t != ref.iterationUs) {
      return ref.bytesPerOp * r.us / ref.us;
    }
    return ref.bytesPerOp * (Math.floor(t / ref.us) + 1) / Math.max(1, Math.floor(t / r.us));
  }

  /** JMH's "500 ms", "2 s", "1 min" as µs; NaN if unreadable. */
  static double micros(String time) {
    String[] p = time.trim().split("\\s+");
    if (p.length != 2) {
      return Double.NaN;
    }
    double unit = switch (p[1]) {
      case "ns" -> 1e-3;
      case "us", "µs" -> 1;
      case "ms" -> 1e3;
      case "s" -> 1e6;
      case "min" -> 60e6;
      default -> Double.NaN;
    };
    try {
      return Double.parseDouble(p[0]) * unit;
    } catch (NumberFormatException e) {
      return Double.NaN;
    }
  }

  /**
   * The B/op cell. JMH allocates a fixed number of bytes per iteration itself, which shows up
   * divided by the calls in an iteration: a kernel k times slower than its reference shows k
   * times the reference's B/op without allocating anything. A kernel is flagged when its B/op
   * exceeds that expectation by more than {@link #ALLOC_SLACK}.
   */
  String alloc(Result r, Result reference) {
    if (r == null || Double.isNaN(r.bytesPerOp)) {
      return "—";
    }
    double expected = reference == null || Double.isNaN(reference.bytesPerOp) ? 0
        : jmhShare(r, reference);
    String s = f(r.bytesPerOp);
    if (r.bytesPerOp > expected + ALLOC_SLACK) {
      flags.add(r.cls + "." + r.method + " " + r.params + ": " + f(r.bytesPerOp)
          + " B/op (JMH's own share, from the reference: " + f(expected) + ")");
      return s + " ⚠";
    }
    return s;
  }

  static long[] shape(String s) {
    String[] p = s.split("x");
    long[] out = new long[p.length];
    for (int i = 0; i < p.length; i++) {
      out[i] = Long.parseLong(p[i]);
    }
    return out;
  }

  static String slurp(String path) {
    try {
      return Files.readString(Path.of(path));
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  static String machine() {
    String cpu = "unknown CPU";
    boolean avx512 = false;
    boolean avx2 = false;
    for (String line : slurp("/proc/cpuinfo").split("\n")) {
      if (line.startsWith("model name")) {
        cpu = line.substring(line.indexOf(':') + 1).trim();
      } else if (line.startsWith("flags")) {
        avx512 |= line.contains(" avx512f");
        avx2 |= line.contains(" avx2");
      }
    }
    String mem = "";
    for (String line : slurp("/proc/meminfo").split("\n")) {
      if (line.startsWith("MemTotal")) {
        long kb = Long.parseLong(line.replaceAll("\\D", ""));
        mem = String.format(Locale.ROOT, ", %.0f GiB RAM", kb / 1048576.0);
      }
    }
    return cpu + ", " + Runtime.getRuntime().availableProcessors() + " CPUs"
        + (avx512 ? ", AVX-512" : avx2 ? ", AVX2 (no AVX-512)" : "") + mem;
  }

  static String species() {
    try {
      Class<?> fv = Class.forName("jdk.incubator.vector.FloatVector");
      Object s = fv.getField("SPECIES_PREFERRED").get(null);
      Object length = Class.forName("jdk.incubator.vector.VectorSpecies").getMethod("length")
          .invoke(s);
      return s + " (" + length + " floats per vector)";
    } catch (ReflectiveOperationException | LinkageError e) {
      return "unknown (run the report with --add-modules jdk.incubator.vector)";
    }
  }

  String markdown(List<String> notes, String jsonName) {
    StringBuilder md = new StringBuilder();
    String date = LocalDate.now(ZoneOffset.UTC).toString();
    md.append("# Benchmark report — ").append(date).append("\n\n");
    md.append("Generated by `bench/run.sh` from `").append(jsonName).append("` (raw JMH JSON, ")
        .append("beside this file) by `dev.fusedloss.bench.Report`.\n\n");
    md.append("| | |\n| --- | --- |\n");
    md.append("| machine | ").append(machine()).append(" |\n");
    if (first != null) {
      md.append("| JDK | ").append(first.path("vmName").asText()).append(' ')
          .append(first.path("vmVersion").asText()).append(" (").append(first.path("jdkVersion")
              .asText()).append(") |\n");
      md.append("| JMH | ").append(first.path("jmhVersion").asText()).append(", ")
          .append(first.path("forks").asText()).append(" fork, ")
          .append(first.path("warmupIterations").asText()).append(" × ")
          .append(first.path("warmupTime").asText()).append(" warm-up, ")
          .append(first.path("measurementIterations").asText()).append(" × ")
          .append(first.path("measurementTime").asText()).append(" measured; ± is JMH's 99.9 % ")
          .append("interval |\n");
    }
    md.append("| vector species | ").append(species()).append(" |\n");
    md.append("| threads | one benchmark thread; kernels on one thread except in the threads ")
        .append("table (fusedloss `Parallelism.threads(n)`, PyTorch `torch.set_num_threads(n)`)")
        .append(" |\n");
    for (String n : notes) {
      md.append("| note | ").append(n).append(" |\n");
    }
    md.append("\nTimes are µs per call (loss + gradient). GB/s counts the bytes a fused call must ")
        .append("move (element-wise: read 2 floats, write 1; cross entropy: read the logits and ")
        .append("the targets, write the gradient). `÷ copy` and `÷ exp` are the kernel's time over ")
        .append("the memory floor (a vector loop moving the same bytes) and the compute floor (a ")
        .append("bare vector exp over the same elements, with the kernels' own inline exp); ")
        .append("`×` columns are how many times faster the fused kernel is than that baseline ")
        .append("(above 1 = fused is faster). The cross-entropy unfused baseline uses the ")
        .append("kernels' exp and loop shapes, so its column measures fusion alone; the ")
        .append("element-wise one uses the JDK's vector EXP/LOG1P, so its column also counts ")
        .append("the kernels' cheaper inline math. B/op is JMH's ")
        .append("`gc.alloc.rate.norm`, which includes JMH's own bytes per iteration divided by ")
        .append("the calls in it (so slow calls show more); ⚠ marks a kernel whose B/op exceeds ")
        .append("that share, estimated from the workload's copy reference (allowing for the ")
        .append("whole number of calls in an iteration), by more than ")
        .append(f(ALLOC_SLACK)).append(" bytes.\n");

    elementwise(md);
    softmax(md);
    rowLosses(md);
    sixteenBit(md);
    linear(md);
    segmentation(md);
    torchLosses(md);
    threads(md);
    md.append("\n## Allocation\n\n");
    if (flags.isEmpty()) {
      md.append("No kernel allocates above its reference (≈ 0 B/op).\n");
    } else {
      md.append("Flagged:\n\n");
      for (String fl : flags) {
        md.append("- ").append(fl).append('\n');
      }
    }
    return md.toString();
  }

  void elementwise(StringBuilder md) {
    Set<String> losses = values("ElementwiseBench", "loss");
    if (losses.isEmpty()) {
      return;
    }
    md.append("\n## Element-wise losses (MEAN, loss + gradient)\n\n")
        .append("![element-wise throughput](elementwise.png)\n\n")
        .append("| loss | n | fused µs | GB/s | ÷ copy | ÷ exp | × unfused | × scalar | × PyTorch ")
        .append("| B/op |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (String loss : losses) {
      for (String size : values("ElementwiseBench", "size")) {
        Result fused = find("ElementwiseBench", "fused", "loss", loss, "size", size);
        if (fused == null) {
          continue;
        }
        Result stream = find("StreamBench", "stream", "size", size);
        Result exp = find("StreamBench", "exp", "size", size);
        Result torch = find("PyTorchBench", "step", "workload", loss + ":" + size, "threads", "1");
        md.append("| ").append(loss).append(" | ").append(size).append(" | ").append(time(fused))
            .append(" | ").append(gbps(12.0 * Long.parseLong(size), fused))
            .append(" | ").append(ratio(fused, stream)).append(" | ").append(ratio(fused, exp))
            .append(" | ").append(ratio(find("ElementwiseBench", "unfused", "loss", loss, "size",
                size), fused))
            .append(" | ").append(ratio(find("ElementwiseScalarBench", "scalar", "loss", loss,
                "size", size), fused))
            .append(" | ").append(ratio(torch, fused))
            .append(" | ").append(alloc(fused, stream)).append(" |\n");
      }
    }
  }

  void softmax(StringBuilder md) {
    Set<String> shapes = values("CrossEntropyBench", "shape");
    if (shapes.isEmpty()) {
      return;
    }
    md.append("\n## Cross entropy with class indices (MEAN, loss + gradient)\n\n")
        .append("![cross-entropy throughput](cross-entropy.png)\n\n")
        .append("| shape | fused µs | GB/s | ÷ copy | ÷ exp | ÷ max(copy, exp) | × unfused ")
        .append("| × scalar | × PyTorch | B/op |\n")
        .append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (String shape : shapes) {
      Result fused = find("CrossEntropyBench", "fused", "shape", shape);
      if (fused == null) {
        continue;
      }
      long[] rc = shape(shape);
      Result copy = find("CrossEntropyBench", "copy", "shape", shape);
      Result exp = find("CrossEntropyBench", "exp", "shape", shape);
      Result floor = copy == null ? exp : exp == null ? copy : copy.us >= exp.us ? copy : exp;
      md.append("| ").append(shape).append(" | ").append(time(fused)).append(" | ")
          .append(gbps(8.0 * rc[0] * rc[1] + 4.0 * rc[0], fused)).append(" | ")
          .append(ratio(fused, copy)).append(" | ").append(ratio(fused, exp)).append(" | ")
          .append(ratio(fused, floor)).append(" | ")
          .append(ratio(find("CrossEntropyBench", "unfused", "shape", shape), fused)).append(" | ")
          .append(ratio(find("CrossEntropyScalarBench", "scalar", "shape", shape), fused)).append(" | ")
          .append(ratio(find("PyTorchBench", "step", "workload", "ce:" + shape, "threads", "1"),
              fused))
          .append(" | ").append(alloc(fused, copy)).append(" |\n");
    }
  }

  void rowLosses(StringBuilder md) {
    Set<String> losses = values("RowLossBench", "loss");
    if (losses.isEmpty()) {
      return;
    }
    md.append("\n## Other row losses (loss + gradient; log-softmax forward)\n\n")
        .append("| loss | shape | fused µs | ÷ copy | × scalar | B/op |\n")
        .append("| --- | --- | ---: | ---: | ---: | ---: |\n");
    for (String loss : losses) {
      for (String shape : values("RowLossBench", "shape")) {
        Result fused = find("RowLossBench", "fused", "loss", loss, "shape", shape);
        if (fused == null) {
          continue;
        }
        Result copy = find("RowLossBench", "copy", "loss", loss, "shape", shape);
        md.append("| ").append(loss).append(" | ").append(shape).append(" | ").append(time(fused))
            .append(" | ").append(ratio(fused, copy)).append(" | ")
            .append(ratio(find("RowLossScalarBench", "scalar", "loss", loss, "shape", shape),
                fused))
            .append(" | ").append(alloc(fused, copy)).append(" |\n");
      }
    }
  }

  void segmentation(StringBuilder md) {
    Set<String> shapes = values("SegmentationBench", "shape");
    if (shapes.isEmpty()) {
      return;
    }
    md.append("\n## Segmentation cross entropy, class axis at dim 1 (loss + gradient, one thread)"
        + "\n\n`[N, C, H, W]` logits and `[N, H, W]` class indices as PyTorch holds them, MEAN "
        + "over the pixels. Floors: a copy of the logits into the gradient buffer (the bytes a "
        + "fused call must move) and a bare vector exp over the logits (its compute). Unfused: "
        + "PyTorch's structure on the same layout (log_softmax over dim 1 into a buffer, gather, "
        + "backward), vectorised like the engine. PyTorch: libtorch through DJL, log_softmax + "
        + "gather + mean and autograd, on 1 and 2 intra-op threads.\n\n")
        .append("| N×C×H×W | fused ms | forward only ms | ÷ max(copy, exp) | copy ms | exp ms |"
            + " unfused ÷ fused | PyTorch 1 thread ÷ fused | fused 2 threads ms |"
            + " PyTorch 2 threads ÷ fused 2 threads |\n")
        .append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (String shape : shapes) {
      Result fused = find("SegmentationBench", "fused", "shape", shape);
      Result copy = find("SegmentationBench", "copy", "shape", shape);
      Result exp = find("SegmentationBench", "exp", "shape", shape);
      Result floor = copy == null ? exp : exp == null ? copy : copy.us >= exp.us ? copy : exp;
      md.append("| ").append(shape).append(" | ").append(ms(fused)).append(" | ")
          .append(ms(find("SegmentationBench", "fusedForward", "shape", shape))).append(" | ")
          .append(ratio(fused, floor)).append(" | ").append(ms(copy)).append(" | ")
          .append(ms(exp)).append(" | ")
          .append(ratio(find("SegmentationBench", "unfused", "shape", shape), fused)).append(" | ")
          .append(ratio(find("PyTorchSegmentationBench", "step", "shape", shape, "threads", "1"),
              fused)).append(" | ")
          .append(ms(find("SegmentationBench", "fusedTwoThreads", "shape", shape))).append(" | ")
          .append(ratio(find("PyTorchSegmentationBench", "step", "shape", shape, "threads", "2"),
              find("SegmentationBench", "fusedTwoThreads", "shape", shape))).append(" |\n");
    }
  }

  void torchLosses(StringBuilder md) {
    Set<String> losses = values("TorchLossBench", "loss");
    if (losses.isEmpty()) {
      return;
    }
    md.append("\n## The rest of torch.nn's losses (loss + gradient, one thread)\n\n")
        .append("Shapes in `TorchLossState` (about 4M floats per input). Unfused: autograd's "
            + "structure, each op a pass writing a temporary, in plain Java loops (CTC has none: "
            + "it is one op in PyTorch too). Copy: the first input into the gradient buffer. "
            + "PyTorch: the module's formula composed from DJL's ops, forward and autograd, where "
            + "DJL can express it (it binds none of these modules and no `ctc_loss`).\n\n")
        .append("| loss | fused µs | ÷ copy | unfused ÷ fused | PyTorch ÷ fused | B/op |\n")
        .append("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (String loss : losses) {
      Result fused = find("TorchLossBench", "fused", "loss", loss);
      if (fused == null) {
        continue;
      }
      Result copy = find("TorchLossBench", "copy", "loss", loss);
      md.append("| ").append(loss).append(" | ").append(time(fused)).append(" | ")
          .append(ratio(fused, copy)).append(" | ")
          .append(loss.equals("ctc") ? "—"
              : ratio(find("TorchLossBench", "unfused", "loss", loss), fused)).append(" | ")
          .append(ratio(find("PyTorchTorchLossBench", "step", "loss", loss), fused)).append(" | ")
          .append(alloc(fused, copy)).append(" |\n");
    }
  }

  static String ms(Result r) {
    return r == null ? "—" : String.format(Locale.ROOT, "%.1f", r.us / 1e3);
  }

  void sixteenBit(StringBuilder md) {
    Result mse32 = find("SixteenBitBench", "mseFloat32");
    Result mse16 = find("SixteenBitBench", "mseBf16");
    if (mse32 == null || mse16 == null) {
      return;
    }
    Result copyMse = find("SixteenBitBench", "copyBf16Mse");
    Result ce32 = find("SixteenBitBench", "ceFloat32");
    Result ce16 = find("SixteenBitBench", "ceBf16");
    Result ce16g32 = find("SixteenBitBench", "ceBf16GradFloat32");
    Result copyCe = find("SixteenBitBench", "copyBf16Ce");
    md.append("\n## bfloat16 buffers against float32 (one thread)\n\n")
        .append("`copy` floors move the bytes of the bfloat16 call: MSE reads two 32 MB ")
        .append("buffers and writes one; cross entropy reads the 262 MB of logits and writes ")
        .append("as many. The cross-entropy exp floor is the float32 one (same element count).")
        .append("\n\n| workload | µs | × float32 (faster) | ÷ copy of its bytes | B/op |\n")
        .append("| --- | ---: | ---: | ---: | ---: |\n");
    md.append("| MSE 16M float32 | ").append(time(mse32)).append(" | 1.00× | — | ")
        .append(alloc(mse32, copyMse)).append(" |\n");
    md.append("| MSE 16M bfloat16 in, bfloat16 gradient | ").append(time(mse16)).append(" | ")
        .append(ratio(mse32, mse16)).append(" | ").append(ratio(mse16, copyMse)).append(" | ")
        .append(alloc(mse16, copyMse)).append(" |\n");
    if (ce32 != null) {
      Result exp = find("CrossEntropyBench", "exp", "shape", "4096x32000");
      md.append("| CE 4096×32000 float32 | ").append(time(ce32)).append(" | 1.00× | — | ")
          .append(alloc(ce32, copyCe)).append(" |\n");
      md.append("| CE 4096×32000 bfloat16, bfloat16 gradient | ").append(time(ce16))
          .append(" | ").append(ratio(ce32, ce16)).append(" | ").append(ratio(ce16, copyCe))
          .append(exp == null ? "" : " (÷ exp " + ratio(ce16, exp) + ")").append(" | ")
          .append(alloc(ce16, copyCe)).append(" |\n");
      md.append("| CE 4096×32000 bfloat16, float32 gradient | ").append(time(ce16g32))
          .append(" | ").append(ratio(ce32, ce16g32)).append(" | — | ")
          .append(alloc(ce16g32, copyCe)).append(" |\n");
    }
  }

  /** Flops of one product at shape N×H×V. */
  static double productFlops(String shape) {
    long[] s = shape(shape);
    return 2.0 * s[0] * s[1] * s[2];
  }

  static String gflops(double flops, Result r) {
    return r == null ? "—" : f(flops / (r.us * 1e3));
  }

  void linear(StringBuilder md) {
    Set<String> shapes = values("LinearCrossEntropyBench", "nhv");
    if (shapes.isEmpty()) {
      return;
    }
    Result peak = find("LinearCrossEntropyBench", "fmaPeak");
    double peakGf = peak == null ? Double.NaN
        : 24.0 * lanes() * LinearCrossEntropyBench.ITER / (peak.us * 1e3);
    md.append("\n## Fused linear + cross entropy (language-model head, one thread)\n\n")
        .append("![GFLOP/s against the FMA roof](linear-gflops.png)\n\n")
        .append("Shapes are N × H × V (rows, hidden size, vocabulary). One product is 2·N·H·V ")
        .append("flops; `fused` (forward and backward, all three gradients) computes four: the ")
        .append("logits twice (a log-sum-exp sweep, then the gradient sweep), dH and dW. ")
        .append("`threeGemms` runs the unfused path's three products with our kernel on full ")
        .append("matrices (it holds the N·V logits). GFLOP/s = the call's product flops ÷ time. ")
        .append("FMA roof: ").append(f(peakGf)).append(" GFLOP/s (12 independent FMA chains in ")
        .append("registers).\n\n")
        .append("| shape | gemm µs | gemm GFLOP/s | 3 GEMMs µs | fused µs | fused GFLOP/s (4 ")
        .append("products) | fused ÷ 3 GEMMs | fused bf16 µs | forward only µs | PyTorch 1 ")
        .append("thread µs | × PyTorch | fused 2 threads µs | PyTorch 2 threads µs | 2 threads: ")
        .append("× PyTorch |\n")
        .append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: ")
        .append("| ---: | ---: |\n");
    for (String shape : shapes) {
      double fl = productFlops(shape);
      Result gemm = find("LinearCrossEntropyBench", "gemm", "nhv", shape);
      Result three = find("LinearCrossEntropyBench", "threeGemms", "nhv", shape);
      Result fused = find("LinearCrossEntropyBench", "fused", "nhv", shape);
      Result bf16 = find("LinearCrossEntropyBench", "fusedBf16", "nhv", shape);
      Result fwd = find("LinearCrossEntropyBench", "forwardOnly", "nhv", shape);
      Result t1 = find("PyTorchLinearBench", "step", "nhv", shape, "threads", "1");
      Result t2 = find("PyTorchLinearBench", "step", "nhv", shape, "threads", "2");
      Result two = find("LinearCrossEntropyBench", "fusedTwoThreads", "nhv", shape);
      md.append("| ").append(shape).append(" | ").append(time(gemm)).append(" | ")
          .append(gflops(fl, gemm)).append(" | ").append(time(three)).append(" | ")
          .append(time(fused)).append(" | ").append(gflops(4 * fl, fused)).append(" | ")
          .append(ratio(fused, three)).append(" | ").append(time(bf16)).append(" | ")
          .append(time(fwd)).append(" | ").append(time(t1)).append(" | ")
          .append(ratio(t1, fused)).append(" | ").append(time(two)).append(" | ")
          .append(time(t2)).append(" | ").append(ratio(t2, two)).append(" |\n");
    }
    md.append("\nWorking memory of the fused call: the workspace formula of ")
        .append("`LinearCrossEntropyPass.workspaceBytes` (")
        .append(f(dev.fusedloss.internal.LinearCrossEntropyPass.workspaceBytes(1024, 1024,
            dev.fusedloss.FloatFormat.FLOAT32) / 1e6))
        .append(" MB at N = H = 1024, any V); PyTorch's unfused path holds at least the logits, ")
        .append("their log-softmax and their gradient, 3·4·N·V bytes (")
        .append(f(12.0 * 1024 * 32000 / 1e6)).append(" MB at 1024 × 32000).\n");
  }

  /** Float lanes of the run's species, parsed from the JMH JVM arguments or this JVM. */
  static int lanes() {
    String sp = species();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("float, (\\d+)").matcher(sp);
    return m.find() ? Integer.parseInt(m.group(1)) : 16;
  }

  void threads(StringBuilder md) {
    Set<String> workloads = values("ParallelBench", "workload");
    if (workloads.isEmpty()) {
      return;
    }
    md.append("\n## One call on 1 and 2 threads\n\n")
        .append("fusedloss splits a call into fixed chunks and adds their sums in a fixed order, ")
        .append("so both counts give the same bits. PyTorch columns: the same workload with ")
        .append("`torch.set_num_threads(n)`.\n\n")
        .append("| workload | 1 thread µs | 2 threads µs | speed-up | PyTorch 1 thread µs ")
        .append("| PyTorch 2 threads µs | 2 threads: × PyTorch 2 threads |\n")
        .append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (String w : workloads) {
      Result one = find("ParallelBench", "fused", "workload", w, "threads", "1");
      Result two = find("ParallelBench", "fused", "workload", w, "threads", "2");
      Result t1 = find("PyTorchBench", "step", "workload", w, "threads", "1");
      Result t2 = find("PyTorchBench", "step", "workload", w, "threads", "2");
      md.append("| ").append(w).append(" | ").append(time(one)).append(" | ").append(time(two))
          .append(" | ").append(ratio(one, two)).append(" | ").append(time(t1)).append(" | ")
          .append(time(t2)).append(" | ").append(ratio(t2, two)).append(" |\n");
    }
  }

  /** The few ratios the top-level README quotes. */
  String summary(String date) {
    StringBuilder s = new StringBuilder();
    s.append("Measured ").append(date).append(" on ").append(machine())
        .append(" (one run of `bench/run.sh`; full report in `bench/results/README.md`)")
        .append(values("PyTorchBench", "workload").isEmpty() ? ""
            : "; PyTorch is libtorch's CPU build through DJL, on one thread like fusedloss")
        .append(":\n\n");
    Result mse = find("ElementwiseBench", "fused", "loss", "mse", "size", "16777216");
    Result stream = find("StreamBench", "stream", "size", "16777216");
    if (mse != null && stream != null) {
      s.append(String.format(Locale.ROOT, "- MSE, 16M elements: %.0f %% of the memory stream; ",
          100 * stream.us / mse.us));
      s.append(faster(find("ElementwiseBench", "unfused", "loss", "mse", "size", "16777216"),
          mse)).append(" than the unfused baseline");
      Result t = find("PyTorchBench", "step", "workload", "mse:16777216", "threads", "1");
      if (t != null) {
        s.append(", ").append(faster(t, mse)).append(" than PyTorch");
      }
      s.append(".\n");
    }
    Result bce = find("ElementwiseBench", "fused", "loss", "bceWithLogits", "size", "16777216");
    if (bce != null && stream != null) {
      s.append(String.format(Locale.ROOT,
          "- BCE with logits, 16M elements: %.0f %% of the memory stream", 100 * stream.us / bce.us));
      Result t = find("PyTorchBench", "step", "workload", "bceWithLogits:16777216", "threads", "1");
      if (t != null) {
        s.append(", ").append(faster(t, bce)).append(" than PyTorch");
      }
      s.append(".\n");
    }
    Result focal = find("ElementwiseBench", "fused", "loss", "sigmoidFocal", "size", "4096");
    Result focalScalar = find("ElementwiseScalarBench", "scalar", "loss", "sigmoidFocal", "size",
        "4096");
    if (focal != null && focalScalar != null) {
      s.append("- Sigmoid focal, 4K elements: ").append(faster(focalScalar, focal))
          .append(" than the scalar baseline.\n");
    }
    for (String shape : values("CrossEntropyBench", "shape")) {
      Result fused = find("CrossEntropyBench", "fused", "shape", shape);
      Result copy = find("CrossEntropyBench", "copy", "shape", shape);
      Result exp = find("CrossEntropyBench", "exp", "shape", shape);
      if (fused == null || copy == null || exp == null) {
        continue;
      }
      s.append("- Cross entropy ").append(shape).append(": ")
          .append(ratio(fused, copy.us >= exp.us ? copy : exp)).append(" the time of max(copy, exp); ")
          .append(faster(find("CrossEntropyBench", "unfused", "shape", shape), fused))
          .append(" than the unfused baseline");
      Result t = find("PyTorchBench", "step", "workload", "ce:" + shape, "threads", "1");
      if (t != null) {
        s.append(", ").append(faster(t, fused)).append(" than PyTorch");
      }
      s.append(".\n");
    }
    for (String w : values("ParallelBench", "workload")) {
      Result one = find("ParallelBench", "fused", "workload", w, "threads", "1");
      Result two = find("ParallelBench", "fused", "workload", w, "threads", "2");
      if (one != null && two != null) {
        s.append("- ").append(w).append(": 2 threads ").append(faster(one, two)).append(" than one.\n");
      }
    }
    Result mse32 = find("SixteenBitBench", "mseFloat32");
    Result mse16 = find("SixteenBitBench", "mseBf16");
    if (mse32 != null && mse16 != null) {
      s.append("- bfloat16 MSE, 16M elements, bfloat16 gradient: ").append(faster(mse32, mse16))
          .append(" than float32");
      Result ce32 = find("SixteenBitBench", "ceFloat32");
      Result ce16 = find("SixteenBitBench", "ceBf16");
      if (ce32 != null && ce16 != null) {
        s.append("; bfloat16 cross entropy 4096x32000: ").append(ratio(ce16, ce32))
            .append(" the float32 time");
      }
      s.append(".\n");
    }
    for (String shape : values("LinearCrossEntropyBench", "nhv")) {
      Result fused = find("LinearCrossEntropyBench", "fused", "nhv", shape);
      Result three = find("LinearCrossEntropyBench", "threeGemms", "nhv", shape);
      if (fused == null) {
        continue;
      }
      s.append("- Fused linear + cross entropy ").append(shape).append(" (N×H×V): ")
          .append(gflops(4 * productFlops(shape), fused)).append(" GFLOP/s, ")
          .append(ratio(fused, three)).append(" the time of three GEMMs");
      Result t = find("PyTorchLinearBench", "step", "nhv", shape, "threads", "1");
      if (t != null) {
        s.append(", ").append(faster(t, fused)).append(" than PyTorch's unfused head");
      }
      s.append(".\n");
    }
    for (String shape : values("SegmentationBench", "shape")) {
      Result fused = find("SegmentationBench", "fused", "shape", shape);
      Result copy = find("SegmentationBench", "copy", "shape", shape);
      Result exp = find("SegmentationBench", "exp", "shape", shape);
      if (fused == null || copy == null || exp == null) {
        continue;
      }
      s.append("- Segmentation cross entropy ").append(shape).append(" (N×C×H×W, class axis at "
          + "dim 1): ").append(ratio(fused, copy.us >= exp.us ? copy : exp))
          .append(" the time of max(copy, exp)");
      Result t = find("PyTorchSegmentationBench", "step", "shape", shape, "threads", "1");
      if (t != null) {
        s.append(", ").append(faster(t, fused)).append(" than PyTorch");
      }
      s.append(".\n");
    }
    s.append("- Allocation: ").append(flags.isEmpty() ? "no kernel above ≈ 0 B/op."
        : flags.size() + " flagged (see the report).").append('\n');
    return s.toString();
  }

  // ---- plots ----

  void plots(Path dir) throws IOException {
    Set<String> losses = values("ElementwiseBench", "loss");
    if (!losses.isEmpty()) {
      XYSeriesCollection data = new XYSeriesCollection();
      XYSeries roof = new XYSeries("memory stream (roof)");
      for (String size : values("StreamBench", "size")) {
        Result r = find("StreamBench", "stream", "size", size);
        if (r != null) {
          roof.add(Double.parseDouble(size), 12.0 * Double.parseDouble(size) / (r.us * 1e3));
        }
      }
      data.addSeries(roof);
      XYSeries expFloor = new XYSeries("exp floor (compute roof)");
      for (String size : values("StreamBench", "size")) {
        Result r = find("StreamBench", "exp", "size", size);
        if (r != null) {
          expFloor.add(Double.parseDouble(size), 12.0 * Double.parseDouble(size) / (r.us * 1e3));
        }
      }
      if (expFloor.getItemCount() > 0) {
        data.addSeries(expFloor);
      }
      for (String loss : losses) {
        XYSeries s = new XYSeries(loss);
        XYSeries t = new XYSeries(loss + " (PyTorch)");
        for (String size : values("ElementwiseBench", "size")) {
          double bytes = 12.0 * Double.parseDouble(size);
          Result r = find("ElementwiseBench", "fused", "loss", loss, "size", size);
          if (r != null) {
            s.add(Double.parseDouble(size), bytes / (r.us * 1e3));
          }
          Result p = find("PyTorchBench", "step", "workload", loss + ":" + size, "threads", "1");
          if (p != null) {
            t.add(Double.parseDouble(size), bytes / (p.us * 1e3));
          }
        }
        data.addSeries(s);
        if (t.getItemCount() > 0) {
          data.addSeries(t);
        }
      }
      save(dir.resolve("elementwise.png"), "Element-wise losses: loss + gradient, one thread",
          "elements", data);
    }
    Set<String> shapes = values("CrossEntropyBench", "shape");
    if (!shapes.isEmpty()) {
      // the shapes are unrelated workloads, not points of one series: grouped bars per shape
      DefaultCategoryDataset data = new DefaultCategoryDataset();
      String[] names = {"copy (roof)", "exp floor (compute roof)", "fused", "unfused", "scalar",
          "PyTorch"};
      for (String shape : shapes) {
        long[] rc = shape(shape);
        double bytes = 8.0 * rc[0] * rc[1] + 4.0 * rc[0];
        Result[] rs = {find("CrossEntropyBench", "copy", "shape", shape),
            find("CrossEntropyBench", "exp", "shape", shape),
            find("CrossEntropyBench", "fused", "shape", shape),
            find("CrossEntropyBench", "unfused", "shape", shape),
            find("CrossEntropyScalarBench", "scalar", "shape", shape),
            find("PyTorchBench", "step", "workload", "ce:" + shape, "threads", "1")};
        for (int i = 0; i < rs.length; i++) {
          if (rs[i] != null) {
            data.addValue(bytes / (rs[i].us * 1e3), names[i], shape + " (rows × classes)");
          }
        }
      }
      bars(dir.resolve("cross-entropy.png"), "Cross entropy: loss + gradient, one thread (higher "
          + "is faster)", "shape", "GB/s (bytes a fused call moves ÷ time)", data, names,
          new Color[] {Color.BLACK, Color.GRAY, new Color(0xD62728), new Color(0x1F77B4),
              new Color(0xFF7F0E), new Color(0x8C564B)}, 900, 520);
    }
    Set<String> linearShapes = values("LinearCrossEntropyBench", "nhv");
    if (!linearShapes.isEmpty()) {
      Result peak = find("LinearCrossEntropyBench", "fmaPeak");
      DefaultCategoryDataset data = new DefaultCategoryDataset();
      String[] names = {"FMA roof", "gemm", "three GEMMs", "fused (4 products)",
          "fused bfloat16", "PyTorch 1 thread (3 products)", "PyTorch 2 threads (3 products)"};
      for (String shape : linearShapes) {
        double fl = productFlops(shape);
        if (peak != null) {
          data.addValue(24.0 * lanes() * LinearCrossEntropyBench.ITER / (peak.us * 1e3),
              names[0], shape);
        }
        Object[][] rows = {
            {find("LinearCrossEntropyBench", "gemm", "nhv", shape), 1.0},
            {find("LinearCrossEntropyBench", "threeGemms", "nhv", shape), 3.0},
            {find("LinearCrossEntropyBench", "fused", "nhv", shape), 4.0},
            {find("LinearCrossEntropyBench", "fusedBf16", "nhv", shape), 4.0},
            {find("PyTorchLinearBench", "step", "nhv", shape, "threads", "1"), 3.0},
            {find("PyTorchLinearBench", "step", "nhv", shape, "threads", "2"), 3.0}};
        for (int i = 0; i < rows.length; i++) {
          Result r = (Result) rows[i][0];
          if (r != null) {
            data.addValue((double) rows[i][1] * fl / (r.us * 1e3), names[i + 1], shape);
          }
        }
      }
      bars(dir.resolve("linear-gflops.png"), "Fused linear + cross entropy: GFLOP/s against "
          + "the FMA roof (one thread unless noted)", "shape (N × H × V)",
          "GFLOP/s (products' flops ÷ time)", data, names, new Color[] {Color.BLACK, Color.GRAY,
              new Color(0x1F77B4), new Color(0xD62728), new Color(0xFF7F0E),
              new Color(0x8C564B), new Color(0xC49C94)}, 1000, 540);
    }
  }

  /** A grouped bar chart, series coloured by their position in {@code names}. */
  static void bars(Path file, String title, String xLabel, String yLabel,
      DefaultCategoryDataset data, String[] names, Color[] palette, int width, int height)
      throws IOException {
    JFreeChart chart = ChartFactory.createBarChart(title, xLabel, yLabel, data,
        PlotOrientation.VERTICAL, true, false, false);
    CategoryPlot plot = chart.getCategoryPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    BarRenderer r = (BarRenderer) plot.getRenderer();
    r.setBarPainter(new StandardBarPainter());
    r.setShadowVisible(false);
    r.setItemMargin(0.02);
    for (int i = 0; i < data.getRowCount(); i++) {
      String key = data.getRowKey(i).toString();
      for (int k = 0; k < names.length; k++) {
        if (names[k].equals(key)) {
          r.setSeriesPaint(i, palette[k]);
        }
      }
    }
    ChartUtils.saveChartAsPNG(file.toFile(), chart, width, height);
  }

  static void save(Path file, String title, String xLabel, XYSeriesCollection data)
      throws IOException {
    JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, "GB/s (bytes a fused call "
        + "moves ÷ time)", data, PlotOrientation.VERTICAL, true, false, false);
    XYPlot plot = chart.getXYPlot();
    LogAxis x = new LogAxis(xLabel);
    x.setBase(10);
    x.setSmallestValue(1);
    x.setNumberFormatOverride(java.text.NumberFormat.getIntegerInstance(Locale.ROOT));
    plot.setDomainAxis(x);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    LogAxis y = new LogAxis(plot.getRangeAxis().getLabel());
    y.setBase(10);
    y.setNumberFormatOverride(new java.text.DecimalFormat("#,##0.##"));
    plot.setRangeAxis(y);
    Color[] palette = {new Color(0xD62728), new Color(0x1F77B4), new Color(0x2CA02C),
        new Color(0x9467BD), new Color(0xFF7F0E), new Color(0x8C564B), new Color(0xE377C2)};
    XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
    int next = 0;
    for (int i = 0; i < data.getSeriesCount(); i++) {
      String key = data.getSeriesKey(i).toString();
      float[] dash = key.contains("PyTorch") ? new float[] {3f, 3f} : null;
      if (key.contains("roof")) {
        r.setSeriesPaint(i, key.startsWith("exp") ? Color.GRAY : Color.BLACK);
        r.setSeriesStroke(i, new BasicStroke(2.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER,
            10f, new float[] {8f, 6f}, 0f));
        continue;
      }
      if (key.contains("PyTorch") && i > 0 && data.getSeriesKey(i - 1).toString()
          .equals(key.replace(" (PyTorch)", ""))) {
        r.setSeriesPaint(i, r.getSeriesPaint(i - 1)); // the same colour as its fused series
      } else {
        r.setSeriesPaint(i, palette[next++ % palette.length]);
      }
      r.setSeriesStroke(i, dash == null ? new BasicStroke(2f)
          : new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, dash, 0f));
    }
    plot.setRenderer(r);
    chart.setBackgroundPaint(Color.WHITE);
    ChartUtils.saveChartAsPNG(file.toFile(), chart, 1000, 560);
  }

  static String replaceBlock(String readme, String block) {
    String start = "<!-- bench:start -->";
    String end = "<!-- bench:end -->";
    int a = readme.indexOf(start);
    int b = readme.indexOf(end);
    if (a < 0 || b < a) {
      return null;
    }
    return readme.substring(0, a + start.length()) + "\n" + block + readme.substring(b);
  }

  public static void main(String[] args) throws IOException {
    if (args.length < 2) {
      System.err.println("usage: Report results.json outDir [--readme README.md] [--note text]...");
      System.exit(2);
    }
    System.setProperty("java.awt.headless", "true");
    Path json = Path.of(args[0]);
    Path out = Path.of(args[1]);
    Path readme = null;
    List<String> notes = new ArrayList<>();
    for (int i = 2; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--readme" -> readme = Path.of(args[i + 1]);
        case "--note" -> notes.add(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Report report = new Report(new ObjectMapper().readTree(json.toFile()));
    Files.createDirectories(out);
    String md = report.markdown(notes, json.getFileName().toString());
    Files.writeString(out.resolve("README.md"), md);
    try {
      report.plots(out);
    } catch (RuntimeException | LinkageError | InternalError e) {
      // headless AWT needs fontconfig and a font to draw text; the tables do not
      System.err.println("plots skipped (" + e + "); on Debian: apt-get install fontconfig "
          + "fonts-dejavu-core");
    }
    System.out.println("report: " + out.resolve("README.md"));
    if (readme != null) {
      String date = LocalDate.now(ZoneOffset.UTC).toString();
      String updated = replaceBlock(Files.readString(readme), report.summary(date));
      if (updated == null) {
        System.err.println("no <!-- bench:start --> / <!-- bench:end --> block in " + readme);
      } else {
        Files.writeString(readme, updated);
        System.out.println("summary: " + readme);
      }
    }
  }
}
