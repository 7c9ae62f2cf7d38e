#!/usr/bin/env bash
# build.sh [--sanitize]: configures and builds ngxlite (Release with debug info, Ninja,
# ccache) into build/, or with --sanitize into build-asan/ with ASan and UBSan (gcc).
# ccache ignores the checkout's folder, so a fresh clone (CI) reuses earlier compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
dir=build
sanitize=OFF
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  sanitize=ON
fi
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake -S . -B "$dir" -G Ninja -DNGXLITE_WERROR=$werror -DNGXLITE_SANITIZE=$sanitize >/dev/null
ninja -C "$dir" -j"$(nproc)"
