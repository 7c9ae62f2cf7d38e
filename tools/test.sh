#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit tests (CTest), the nginx
# corpus, the side-by-side conformance runs against real nginx (configs, HTTP, stream,
# the hostile request corpus, the process model), nginx's own test suite on both; then the same unit tests, corpus and
# side-by-side suites again on an ASan + UBSan build, failing on any sanitizer report;
# and a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
status=0

# The side-by-side suites and the corpus, on binary $1.
suites() {
  local bin=$1
  echo "== nginx corpus: ngxlite -t against nginx's recorded verdicts"
  ../shared/corpus/check.sh "$bin" || status=1
  echo "== conformance: ngxlite -t beside nginx -t"
  conformance/t_conformance.sh "$bin" ../shared/corpus testdata/t || status=1
  echo "== conformance: HTTP requests through nginx and ngxlite side by side (hostile-* included)"
  python3 conformance/http_conformance.py "$bin" testdata/http || status=1
  echo "== conformance: stream {} sessions through nginx and ngxlite side by side"
  python3 conformance/stream_conformance.py "$bin" testdata/stream || status=1
  echo "== process: pid file, reload, reopen, quit, stop, daemon, worker_connections, user, a killed serving process, reloads under load"
  python3 conformance/process_test.py "$bin" || status=1
}

(cd build && ctest --output-on-failure -j"$(nproc)") || status=1
suites build/ngxlite
echo "== conformance: every directive in a wrong context and with too many arguments"
matrix=$(mktemp -d /tmp/ngxlite-matrix.XXXXXX)
mkdir -p "$matrix/registry"
python3 conformance/registry_matrix.py ../shared/reference/nginx-1.22.1-directives.tsv "$matrix/registry"
conformance/t_conformance.sh build/ngxlite "$matrix/registry" | tail -n 40 || status=1
rm -rf "$matrix"
echo "== fuzz seeds: testdata/http-seeds as the hostile-* cases send them"
seeds=$(mktemp -d /tmp/ngxlite-seeds.XXXXXX)
python3 conformance/http_conformance.py --write-seeds "$seeds" testdata/http/hostile-*
for seed in "$seeds"/*; do
    cmp -s "$seed" "testdata/http-seeds/${seed##*/}" || { echo "stale seed: ${seed##*/} (rerun --write-seeds)"; status=1; }
done
rm -rf "$seeds"
echo "== support table: parser/directive_table.inc is what parser/support.tsv and the reference make"
python3 tools/gen_directive_table.py ../shared/reference/nginx-1.22.1-directives.tsv parser/support.tsv |
  cmp -s - parser/directive_table.inc || { echo "stale parser/directive_table.inc (rerun tools/gen_directive_table.py)"; status=1; }
python3 tools/gen_directive_table.py --names ../shared/reference/nginx-1.22.1-directives.tsv parser/support.tsv |
  cmp -s - parser/directive_names.inc || { echo "stale parser/directive_names.inc (rerun tools/gen_directive_table.py --names)"; status=1; }
echo "== corpus: every config nginx accepts, started for real (those of corpus-started.list must start)"
python3 conformance/corpus_start.py build/ngxlite --require-started conformance/corpus-started.list | tail -n 40 || status=1
echo "== nginx-tests: nginx's own suite on nginx 1.22.1 and on ngxlite, file by file"
python3 conformance/nginx_tests.py build/ngxlite || status=1
echo "== lint: ngxlite -t --lint on weak and sound TLS settings"
conformance/lint_test.sh build/ngxlite || status=1

echo "== sanitizers: the unit tests and the suites above on an ASan + UBSan build"
tools/build.sh --sanitize
# Reports go to files any process may write: serving processes run as `user` (nobody).
reports=$(mktemp -d /tmp/ngxlite-sanitizer.XXXXXX)
chmod 1777 "$reports"
# handle_segv=0: a serving process killed with SIGSEGV on purpose dies of the signal.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=0:handle_segv=0"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1"
(cd build-asan && ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1" ctest --output-on-failure -j"$(nproc)") || status=1
suites build-asan/ngxlite
unset ASAN_OPTIONS UBSAN_OPTIONS
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitizer reports:"
  head -n 60 "$reports"/*
  status=1
else
  echo "no sanitizer report"
fi
rm -rf "$reports"

echo "== fuzz: grammar, registry and request parser, bounded run"
tools/fuzz.sh 60 || status=1
exit $status
