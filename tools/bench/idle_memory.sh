#!/usr/bin/env bash
# idle_memory.sh [CONNECTIONS]: memory per idle client connection, ngxlite beside nginx.
# Both serve the same config (worker_processes 1); a client opens CONNECTIONS
# keep-alive connections to each, makes one request on every one and keeps them idle;
# the serving process's resident memory (each master's one child) is read before and after.
# Prints KiB per connection and the ratio (ngxlite / nginx).
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-10000}
NGXLITE=$(realpath "${NGXLITE:-build/ngxlite}")
NGINX=${NGINX:-/usr/sbin/nginx}
# Each process holds about `count` descriptors: the client's and each server's own.
want=$((count + 1000))
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge "$want" ] || { echo "open files limit $hard is below $want" >&2; exit 1; }
ulimit -n "$want"
dir=$(mktemp -d /tmp/ngxlite-bench-idle.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

conf() {  # $1 = port
cat <<CONF
worker_processes 1;
events { worker_connections $((count + 100)); }
http {
    access_log off;
    keepalive_timeout 300s;
    server { listen 127.0.0.1:$1 backlog=4096; location / { return 200 "idle\n"; } }
}
CONF
}
mkdir -p "$dir/nginx/logs" "$dir/ngxlite/logs"
conf 19301 > "$dir/nginx/nginx.conf"
conf 19302 > "$dir/ngxlite/nginx.conf"
"$NGINX" -p "$dir/nginx/" -c nginx.conf -g "daemon off; pid run.pid; error_log logs/error.log;" & pids+=($!)
nginx_master=$!
"$NGXLITE" -p "$dir/ngxlite/" -c nginx.conf -g "daemon off; pid run.pid; error_log logs/error.log;" & pids+=($!)
ngxlite_master=$!
for port in 19301 19302; do
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
done
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
ngxlite_serving=$(pgrep -P "$ngxlite_master" | head -1)

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

measure() {  # $1 = port, $2 = pid: KiB per idle connection
    python3 - "$1" "$2" "$count" <<'PY'
import socket, sys, time
port, pid, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
before = rss()
held = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
    data = b""
    while not data.endswith(b"idle\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("connection closed early")
        data += chunk
    held.append(s)
time.sleep(0.5)  # let the server settle after the last answer (a measurement, not a sync)
after = rss()
print(f"{(after - before) / count:.2f}")
for s in held:
    s.close()
PY
}

n=$(measure 19301 "$nginx_worker")
l=$(measure 19302 "$ngxlite_serving")
printf '%-34s %10s %10s %8s\n' scenario "ngxlite" "nginx" ratio
awk -v n="$n" -v l="$l" -v c="$count" 'BEGIN { printf "%-34s %7.2f KiB %6.2f KiB %8.2f\n", "memory per idle connection (" c ")", l, n, (n > 0 ? l / n : 0) }'
