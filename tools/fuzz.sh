#!/usr/bin/env bash
# fuzz.sh [SECONDS]: builds the libFuzzer targets with clang, ASan and UBSan into
# build-fuzz/ and runs each for a third of SECONDS (default 60): config_fuzzer on a seed
# corpus of real configs, request_fuzzer on testdata/http-seeds and the requests of
# testdata/http, dns_fuzzer (the resolver's answer reader) from nothing.
# CI runs it briefly; for a long run: tools/fuzz.sh 3600 (findings land in build-fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1  # as build.sh: a fresh clone reuses compiles
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DNGXLITE_FUZZ=ON -DNGXLITE_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build-fuzz config_fuzzer request_fuzzer dns_fuzzer
seeds=build-fuzz/seeds
request_seeds=build-fuzz/request-seeds
mkdir -p "$seeds" "$request_seeds" build-fuzz/dns-seeds build-fuzz/findings
find testdata ../shared/corpus -name '*.conf' -size -64k 2>/dev/null | while read -r f; do
  cp "$f" "$seeds/$(echo "$f" | md5sum | cut -c1-16)"
done
# The request parser's seeds: the hostile corpus's exact bytes, then each connection of
# a case's requests ("----" between them), with CRLF line ends.
cp testdata/http-seeds/* "$request_seeds"/
python3 - "$request_seeds" testdata/http/*/requests <<'PY'
import hashlib, re, sys
for path in sys.argv[2:]:
    for conn in open(path, encoding="utf-8", errors="replace").read().split("\n----\n"):
        data = re.sub(r"\{\{[^}]*\}\}", "", conn).replace("\n", "\r\n").encode()
        open(f"{sys.argv[1]}/{hashlib.md5(data).hexdigest()[:16]}", "wb").write(data)
PY
cd build-fuzz
run() {  # $1 = target, $2 = seeds, $3 = max_len
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tools/"$1" \
    -max_total_time=$(( (seconds + 2) / 3 )) -timeout=10 -rss_limit_mb=2048 -max_len="$3" -print_final_stats=1 \
    -artifact_prefix=findings/"$1"- "$2" 2>&1 | tail -n 12
}
run config_fuzzer seeds 16384
run request_fuzzer request-seeds 40000
run dns_fuzzer dns-seeds 4096
