#!/usr/bin/env bash
# http_proxy.sh [ROUNDS] [SECONDS]: wrk through ngxlite and through nginx, the same
# config, worker_processes 1, interleaved rounds, medians, as ratios (ngxlite / nginx).
# Scenarios: a `return 200` answered by the proxy itself; proxying to a fast local
# backend (nginx) with and without upstream keepalive; proxying a 64 KiB response.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/bench/lib.sh
bench_setup http "$@"

head -c 65536 /dev/urandom > "$dir/64k.bin"
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
start_servers
wait_for http://127.0.0.1:19100/ http://127.0.0.1:19101/ http://127.0.0.1:19102/

header
for path in /return /keepalive /small /64k; do
    case $path in /return) name="return 200 (no upstream)";; /keepalive) name="proxy, upstream keepalive";; /small) name="proxy, no upstream keepalive";; *) name="proxy, 64 KiB responses";; esac
    compare "$name" "http://127.0.0.1:19102$path" "http://127.0.0.1:19101$path" "$rounds"
done
