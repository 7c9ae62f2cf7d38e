#!/usr/bin/env bash
# stream.sh [ROUNDS] [SECONDS]: stream {} TCP proxying through ngxlite and through nginx,
# the same config, worker_processes 1, interleaved rounds, medians, as ratios.
# The source is nginx serving a file over http (plain and TLS); the proxies carry it as
# opaque TCP. Scenarios:
#   bulk: 8 parallel curl downloads of 128 MiB each (1 GiB in all), MB/s, plain upstream
#         and `proxy_ssl on`; beside them the loopback limit, the same downloads with no
#         proxy, and each proxy's share of it.
#   connection rate: wrk with `Connection: close`, a new session per request, sessions/s,
#         plain upstream and `proxy_ssl on`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/bench/lib.sh
bench_setup stream "$@"

bench_certs
mkdir -p "$dir/data"
head -c $((128 << 20)) /dev/urandom > "$dir/data/big"
echo "hello from the source" > "$dir/data/small"
cat > "$dir/backend/nginx.conf" <<CONF
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    root $dir/data;
    server { listen 127.0.0.1:19400 backlog=4096; }
    server {
        listen 127.0.0.1:19401 ssl backlog=4096;
        ssl_certificate $dir/certs/server.crt;
        ssl_certificate_key $dir/certs/server.key;
    }
}
CONF
front() {  # $1 = first port
cat <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
events { worker_connections 4096; }
http { server { listen 127.0.0.1:$(($1 + 2)); return 204; } }
stream {
    server { listen 127.0.0.1:$1 backlog=4096; proxy_pass 127.0.0.1:19400; }
    server { listen 127.0.0.1:$(($1 + 1)) backlog=4096; proxy_pass 127.0.0.1:19401; proxy_ssl on; }
}
CONF
}
front 19410 > "$dir/nginx/nginx.conf"
front 19420 > "$dir/ngxlite/nginx.conf"
start_servers
wait_for http://127.0.0.1:19400/small https://127.0.0.1:19401/small http://127.0.0.1:19412/ http://127.0.0.1:19422/

# bulk URL: MB/s of 8 parallel downloads of the big file; every byte must arrive.
bulk() {
    local start end pids=() i
    start=$(date +%s%N)
    for i in 1 2 3 4 5 6 7 8; do
        $load_cpus curl -sk --max-time 120 -o /dev/null -w '%{size_download}\n' "$1" > "$dir/bulk.$i" & pids+=($!)
    done
    wait "${pids[@]}"
    end=$(date +%s%N)
    for i in 1 2 3 4 5 6 7 8; do
        [ "$(cat "$dir/bulk.$i")" = $((128 << 20)) ] || { echo "bulk: download $i of $1 incomplete" >&2; exit 1; }
    done
    awk -v ns=$((end - start)) 'BEGIN { printf "%.0f\n", 8 * 128 * 1048576 / (ns / 1e9) / 1e6 }'
}
# bulk_compare NAME NGXLITE_URL NGINX_URL: medians of interleaved rounds, MB/s.
bulk_compare() {
    : > "$dir/l.r"; : > "$dir/n.r"
    for ((i = 0; i < rounds; i++)); do
        bulk "$2" >> "$dir/l.r"
        bulk "$3" >> "$dir/n.r"
    done
    local lr nr
    lr=$(median < "$dir/l.r"); nr=$(median < "$dir/n.r")
    awk -v n="$1" -v a="$lr" -v b="$nr" -v l="$limit" \
        'BEGIN { printf "%-34s %9.0f MB/s %9.0f MB/s %8.2f   (of loopback: ngxlite %.2f, nginx %.2f)\n", n, a, b, a / b, a / l, b / l }'
}
# rate_compare NAME NGXLITE_URL NGINX_URL: sessions/s, a new connection per request.
rate_compare() {
    : > "$dir/l.r"; : > "$dir/n.r"
    for ((i = 0; i < rounds; i++)); do
        $load_cpus wrk -t1 -c32 -d"${seconds}s" -H 'Connection: close' "$2" | awk '/Requests\/sec/ { print $2 }' >> "$dir/l.r"
        $load_cpus wrk -t1 -c32 -d"${seconds}s" -H 'Connection: close' "$3" | awk '/Requests\/sec/ { print $2 }' >> "$dir/n.r"
    done
    local lr nr
    lr=$(median < "$dir/l.r"); nr=$(median < "$dir/n.r")
    awk -v n="$1" -v a="$lr" -v b="$nr" 'BEGIN { printf "%-34s %11.0f/s %11.0f/s %8.2f\n", n, a, b, a / b }'
}

: > "$dir/limit.r"
for ((i = 0; i < rounds; i++)); do bulk http://127.0.0.1:19400/big >> "$dir/limit.r"; done
limit=$(median < "$dir/limit.r")
printf '%-34s %14s %14s %8s\n' scenario ngxlite nginx ratio
printf '%-34s %9.0f MB/s\n' "loopback limit (no proxy)" "$limit"
bulk_compare "bulk, plain upstream" http://127.0.0.1:19420/big http://127.0.0.1:19410/big
bulk_compare "bulk, proxy_ssl on" http://127.0.0.1:19421/big http://127.0.0.1:19411/big
rate_compare "sessions, plain upstream" http://127.0.0.1:19420/small http://127.0.0.1:19410/small
rate_compare "sessions, proxy_ssl on" http://127.0.0.1:19421/small http://127.0.0.1:19411/small
