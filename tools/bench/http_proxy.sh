#!/usr/bin/env bash
# http_proxy.sh [ROUNDS] [SECONDS]: wrk through ngxlite and through nginx, the same
# config, worker_processes 1, interleaved rounds, medians, as ratios (ngxlite / nginx).
# Scenarios: a `return 200` answered by the proxy itself; proxying to a fast local
# backend (nginx) with and without upstream keepalive; proxying a 64 KiB response.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
seconds=${2:-5}
NGXLITE=$(realpath "${NGXLITE:-build/ngxlite}")
NGINX=${NGINX:-/usr/sbin/nginx}
dir=$(mktemp -d /tmp/ngxlite-bench-http.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

head -c 65536 /dev/urandom > "$dir/64k.bin"
mkdir -p "$dir/backend/logs" "$dir/nginx/logs" "$dir/ngxlite/logs"
cat > "$dir/backend/nginx.conf" <<CONF
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:19100;
        location = /small { return 200 "hello from the backend\n"; }
        location = /64k { root $dir; try_files /64k.bin =404; }
    }
}
CONF
front() {  # $1 = port
cat <<CONF
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    upstream backend { server 127.0.0.1:19100; }
    upstream pooled { server 127.0.0.1:19100; keepalive 32; }
    server {
        listen 127.0.0.1:$1;
        location = /return { return 200 "hello from the proxy\n"; }
        location = /keepalive {
            proxy_pass http://pooled/small;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location / { proxy_pass http://backend; }
    }
}
CONF
}
front 19101 > "$dir/nginx/nginx.conf"
front 19102 > "$dir/ngxlite/nginx.conf"
"$NGINX" -p "$dir/backend/" -c nginx.conf -g "daemon off; pid run.pid; error_log logs/error.log;" & pids+=($!)
"$NGINX" -p "$dir/nginx/" -c nginx.conf -g "daemon off; pid run.pid; error_log logs/error.log;" & pids+=($!)
"$NGXLITE" -p "$dir/ngxlite/" -c nginx.conf -g "daemon off; pid run.pid; error_log logs/error.log;" & pids+=($!)
for port in 19100 19101 19102; do
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
done

rps() {  # $1 = url: requests per second and p99 latency (ms) from wrk
    wrk -t1 -c32 -d"${seconds}s" --latency "$1" 2>/dev/null | awk '
        /Requests\/sec/ { r = $2 }
        /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } p = v }
        END { printf "%s %s\n", r, p }'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-28s %12s %12s %8s %10s\n' scenario "ngxlite r/s" "nginx r/s" ratio "p99 ratio"
for path in /return /keepalive /small /64k; do
    : > "$dir/l.r"; : > "$dir/n.r"; : > "$dir/l.p"; : > "$dir/n.p"
    for ((i = 0; i < rounds; i++)); do
        read -r r p < <(rps "http://127.0.0.1:19102$path"); echo "$r" >> "$dir/l.r"; echo "$p" >> "$dir/l.p"
        read -r r p < <(rps "http://127.0.0.1:19101$path"); echo "$r" >> "$dir/n.r"; echo "$p" >> "$dir/n.p"
    done
    lr=$(median < "$dir/l.r"); nr=$(median < "$dir/n.r"); lp=$(median < "$dir/l.p"); np=$(median < "$dir/n.p")
    case $path in /return) name="return 200 (no upstream)";; /keepalive) name="proxy, upstream keepalive";; /small) name="proxy, no upstream keepalive";; *) name="proxy, 64 KiB responses";; esac
    awk -v n="$name" -v a="$lr" -v b="$nr" -v c="$lp" -v d="$np" \
        'BEGIN { printf "%-28s %12.0f %12.0f %8.2f %10.2f\n", n, a, b, a / b, c / d }'
done
