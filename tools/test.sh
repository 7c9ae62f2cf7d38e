#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit tests (CTest), the nginx
# corpus, the side-by-side conformance runs against real nginx (configs, HTTP, stream),
# and a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
status=0
(cd build && ctest --output-on-failure -j"$(nproc)") || status=1
echo "== nginx corpus: ngxlite -t against nginx's recorded verdicts"
../shared/corpus/check.sh build/ngxlite || status=1
echo "== conformance: ngxlite -t beside nginx -t"
conformance/t_conformance.sh build/ngxlite ../shared/corpus testdata/t || status=1
echo "== conformance: every directive in a wrong context and with too many arguments"
matrix=$(mktemp -d /tmp/ngxlite-matrix.XXXXXX)
mkdir -p "$matrix/registry"
python3 conformance/registry_matrix.py ../shared/reference/nginx-1.22.1-directives.tsv "$matrix/registry"
conformance/t_conformance.sh build/ngxlite "$matrix/registry" | tail -n 40 || status=1
rm -rf "$matrix"
echo "== conformance: HTTP requests through nginx and ngxlite side by side"
python3 conformance/http_conformance.py build/ngxlite testdata/http || status=1
echo "== fuzz seeds: testdata/http-seeds as the hostile-* cases send them"
seeds=$(mktemp -d /tmp/ngxlite-seeds.XXXXXX)
python3 conformance/http_conformance.py --write-seeds "$seeds" testdata/http/hostile-*
for seed in "$seeds"/*; do
    cmp -s "$seed" "testdata/http-seeds/${seed##*/}" || { echo "stale seed: ${seed##*/} (rerun --write-seeds)"; status=1; }
done
rm -rf "$seeds"
echo "== conformance: stream {} sessions through nginx and ngxlite side by side"
python3 conformance/stream_conformance.py build/ngxlite testdata/stream || status=1
echo "== lint: ngxlite -t --lint on weak and sound TLS settings"
conformance/lint_test.sh build/ngxlite || status=1
echo "== process: pid file, reload, reopen, quit, stop, daemon, worker_connections, user, a killed serving process, reloads under load"
python3 conformance/process_test.py build/ngxlite || status=1
echo "== fuzz: grammar and registry, bounded run"
tools/fuzz.sh 60 || status=1
exit $status
