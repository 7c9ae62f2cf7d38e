#!/usr/bin/env bash
# fuzz.sh [SECONDS]: builds the libFuzzer target with clang, ASan and UBSan into
# build-fuzz/ and runs it for SECONDS (default 60) on a seed corpus of real configs.
# CI runs it briefly; for a long run: tools/fuzz.sh 3600 (findings land in build-fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DNGXLITE_FUZZ=ON -DNGXLITE_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build-fuzz config_fuzzer
seeds=build-fuzz/seeds
mkdir -p "$seeds" build-fuzz/findings
find testdata ../shared/corpus -name '*.conf' -size -64k 2>/dev/null | while read -r f; do
  cp "$f" "$seeds/$(echo "$f" | md5sum | cut -c1-16)"
done
cd build-fuzz
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tools/config_fuzzer -max_total_time="$seconds" \
  -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 -artifact_prefix=findings/ \
  seeds 2>&1 | tail -n 12
