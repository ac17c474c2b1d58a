#!/usr/bin/env bash
# The main job: build the benchmarks and run a quick selection (one fork, short iterations,
# about 10 minutes), writing JMH's JSON to bench/results/. Pass JMH options to override, e.g.
#   bench/run.sh 'SoftmaxBench' -p shape=4096x32000
# Run it on an otherwise idle machine: a build or a second JMH beside it halves the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/jdk.sh
./mvnw -B -q -DskipTests package
mkdir -p bench/results
out="bench/results/jmh-$(date -u +%Y%m%dT%H%M%SZ).json"
if [ $# -eq 0 ]; then
  set -- 'ElementwiseBench|ElementwiseScalarBench|StreamBench|SoftmaxBench' \
    -p loss=mse,bceWithLogits,sigmoidFocal -p size=4096,16777216 \
    -p shape=4096x32000,65536x10,256x1000 -wi 2 -i 3 -w 1 -r 1 -prof gc
fi
java --sun-misc-unsafe-memory-access=allow -jar bench/target/benchmarks.jar "$@" -rf json -rff "$out"
echo "JMH results: $out"
