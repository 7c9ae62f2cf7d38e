#!/usr/bin/env bash
# Configures and builds ngxlite into build/ (Release with debug info, Ninja, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -G Ninja -DNGXLITE_WERROR=$werror >/dev/null
ninja -C build -j"$(nproc)"
