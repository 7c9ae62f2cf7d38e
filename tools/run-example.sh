#!/usr/bin/env bash
# Installs what is needed, builds, and runs ngxlite on the bundled example config.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
example=testdata/example
echo "ngxlite checks $example/nginx.conf the way nginx -t does (the runtime comes with issue 3):"
build/ngxlite -t -p "$PWD/$example/" -c nginx.conf -g "error_log stderr; pid $(mktemp -u /tmp/ngxlite.XXXXXX).pid;"
