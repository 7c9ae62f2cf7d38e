#!/usr/bin/env bash
# https.sh [ROUNDS] [SECONDS]: TLS through ngxlite and through nginx, the same config,
# worker_processes 1, interleaved rounds, medians, as ratios (ngxlite / nginx).
# Scenarios: an https upstream (nginx) with session reuse and keepalive; an https
# upstream with neither (a full handshake per request: handshakes per second); TLS
# termination for keepalive clients. Certificates are made by tools/gen-test-certs.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/bench/lib.sh
bench_setup https "$@"

bench_certs
cat > "$dir/backend/nginx.conf" <<CONF
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    ssl_session_cache shared:SSL:10m;
    server {
        listen 127.0.0.1:19110 ssl;
        ssl_certificate $dir/certs/server.crt;
        ssl_certificate_key $dir/certs/server.key;
        keepalive_requests 100000;
        location / { return 200 "hello from the TLS backend\n"; }
    }
}
CONF
front() {  # $1 = plain port, $2 = TLS port
cat <<CONF
worker_processes 1;
events { worker_connections 4096; }
http {
    access_log off;
    upstream tls_pooled { server 127.0.0.1:19110; keepalive 32; }
    upstream tls_fresh { server 127.0.0.1:19110; }
    server {
        listen 127.0.0.1:$1;
        listen 127.0.0.1:$2 ssl;
        ssl_certificate $dir/certs/server.crt;
        ssl_certificate_key $dir/certs/server.key;
        keepalive_requests 100000;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $dir/certs/ca.crt;
        proxy_ssl_verify_depth 2;
        proxy_ssl_name localhost;
        location = /return { return 200 "hello from the proxy\n"; }
        location = /reused {
            proxy_pass https://tls_pooled/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /handshake {
            proxy_pass https://tls_fresh/;
            proxy_ssl_session_reuse off;
        }
    }
}
CONF
}
front 19111 19113 > "$dir/nginx/nginx.conf"
front 19112 19114 > "$dir/ngxlite/nginx.conf"
start_servers
wait_for https://127.0.0.1:19110/ http://127.0.0.1:19111/return http://127.0.0.1:19112/return

header
compare "https upstream, reuse + keepalive" http://127.0.0.1:19112/reused http://127.0.0.1:19111/reused "$rounds"
compare "https upstream, handshake each" http://127.0.0.1:19112/handshake http://127.0.0.1:19111/handshake "$rounds"
compare "TLS termination, keepalive clients" https://127.0.0.1:19114/return https://127.0.0.1:19113/return "$rounds"
