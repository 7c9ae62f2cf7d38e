#!/usr/bin/env bash
# Installs every Debian 12 package ngxlite builds, tests and benchmarks with. Idempotent,
# and quick when everything is there. Needs root (or sudo).
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-test1.81-dev libssl-dev libpcre2-dev libc-ares-dev libcrypt-dev zlib1g-dev openssl
  nginx-full libnginx-mod-stream libnginx-mod-mail
  # nginx-tests: its Perl modules, and every module Debian's nginx -V lists as dynamic
  # (Test::Nginx loads them all for the reference run).
  libio-socket-ssl-perl libnet-ssleay-perl libprotocol-websocket-perl
  libnginx-mod-http-geoip libnginx-mod-http-image-filter libnginx-mod-http-perl
  libnginx-mod-http-xslt-filter libnginx-mod-stream-geoip
  clang libclang-rt-14-dev
  wrk nghttp2-client valgrind time python3 curl iproute2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
# nginx's package starts the service on install: keep it from taking ports 80/443 here.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
