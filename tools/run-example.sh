#!/usr/bin/env bash
# Installs what is needed, builds, and runs ngxlite on the bundled example config:
# a page on http://127.0.0.1:18080/ and /api/ proxied to a backend started here.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
example=$PWD/testdata/example
build/ngxlite -t -q -p "$example/" -c nginx.conf
python3 -m http.server 18081 --bind 127.0.0.1 --directory "$example/backend" >/dev/null 2>&1 &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT
cat <<MSG
ngxlite is serving testdata/example/nginx.conf (Ctrl-C stops it). Try:
  curl -i http://127.0.0.1:18080/
  curl -i http://127.0.0.1:18080/api/greeting.json
Logs: testdata/example/logs/access.log and error.log.
MSG
build/ngxlite -p "$example/" -c nginx.conf
