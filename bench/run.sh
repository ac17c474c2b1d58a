#!/usr/bin/env bash
# The main job: builds the benchmarks, runs them with JMH and writes the report to bench/results/
# (README.md, elementwise.png, cross-entropy.png, jmh-result.json) and the summary block of the
# top-level README.
#
#   bench/run.sh                 quick selection, about 5 minutes
#   bench/run.sh --full          every benchmark with its full settings (about 100 minutes;
#                                adds the row losses, training features, 16-bit buffers, the
#                                fused linear + cross entropy, whose long calls need the full
#                                warm-up, segmentation cross entropy and the rest of torch.nn's
#                                losses)
#   bench/run.sh --pytorch       add PyTorch through DJL as a peer (first build downloads
#                                libtorch's CPU jar, about 110 MB); combine with --full
#   bench/run.sh -- ARGS...      your own JMH selection and options instead of the quick one
#
# Run it on an otherwise idle machine: a build or a second JMH beside it halves the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/jdk.sh

full=0
peer=0
custom=()
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --pytorch) peer=1 ;;
    --) shift; custom=("$@"); break ;;
    *) echo "unknown option $1 (see the top of bench/run.sh)" >&2; exit 2 ;;
  esac
  shift
done

profile=()
notes=()
# name the machine in the report, e.g. BENCH_MACHINE="our CI runner (shared, 2 vCPUs)"
[ -n "${BENCH_MACHINE:-}" ] && notes+=(--note "machine: $BENCH_MACHINE")
include='ElementwiseBench|ElementwiseScalarBench|StreamBench|CrossEntropyBench|CrossEntropyScalarBench|ParallelBench'
if [ $peer = 1 ]; then
  profile=(-Ppytorch)
  include="$include|PyTorchBench"
  # libtorch allocates its temporaries and gradients on every step; glibc's allocator hands
  # large blocks back to the kernel, so each step pays first-touch page faults again (7x slower
  # on these VMs). jemalloc with decay off keeps the pages, as a long-running PyTorch would.
  jemalloc=""
  for f in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
    [ -e "$f" ] && jemalloc="$f" && break
  done
  if [ -n "$jemalloc" ]; then
    export LD_PRELOAD="$jemalloc"
    export MALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1"
    notes+=(--note "PyTorch peer: libtorch 2.7.1 CPU through DJL 0.36.0, jemalloc preloaded (LD_PRELOAD=$jemalloc, MALLOC_CONF=$MALLOC_CONF) for the whole JMH run; inter-op threads 1; each torch op is one JNI call of a few µs, which weighs on the small workloads")
  else
    echo "WARNING: libjemalloc.so.2 not found (Debian: apt-get install libjemalloc2); PyTorch runs with glibc malloc and pays page faults" >&2
    notes+=(--note "PyTorch peer: libtorch 2.7.1 CPU through DJL 0.36.0, glibc malloc (jemalloc not installed: its figures include page faults)")
  fi
fi

echo "[1/3] building benchmarks.jar ${profile[*]:-}"
./mvnw -B -q -DskipTests "${profile[@]}" package

mkdir -p bench/results
json=bench/results/jmh-result.json
log=bench/results/jmh-output.log
if [ ${#custom[@]} -gt 0 ]; then
  set -- "${custom[@]}"
elif [ $full = 1 ]; then
  extra="|RowLossBench|RowLossScalarBench|TrainingBench|LinearCrossEntropyBench|SixteenBitBench"
  extra="$extra|SegmentationBench|TorchLossBench"
  [ $peer = 1 ] && extra="$extra|PyTorchLinearBench|PyTorchSegmentationBench|PyTorchTorchLossBench"
  set -- "$include$extra" -prof gc
else
  set -- "$include" -p loss=mse,bceWithLogits,sigmoidFocal -p size=4096,1048576,16777216 \
    -p shape=4096x32000,65536x10,256x1000 -p threads=1,2 \
    -f 1 -wi 2 -i 3 -w 500ms -r 500ms -prof gc
fi

echo "[2/3] running JMH (full output in $log)"
# progress: one line per benchmark run, from JMH's own progress and parameter lines
java --sun-misc-unsafe-memory-access=allow -jar bench/target/benchmarks.jar "$@" \
    -rf json -rff "$json" 2>&1 | tee "$log" | awk '
  /^# Benchmark:/ { b = $3; sub(/^dev\.fusedloss\.bench\./, "", b); q = "" }
  /^# Parameters:/ { $1 = ""; $2 = ""; q = $0 }
  /^# Run progress:/ { printf "  [%s done, ETA %s] %s%s\n", $4, $NF, b, q; fflush() }
  /^Benchmark / { table = 1 }
  table { print; fflush() }'

echo "[3/3] writing the report"
java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.fusedloss.bench.Report \
    "$json" bench/results --readme README.md "${notes[@]}" 2>&1 | grep -v '^WARNING: Using incubator'
