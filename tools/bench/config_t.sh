#!/usr/bin/env bash
# config_t.sh [ROUNDS]: `-t` on a generated config (2,000 servers x 10 locations),
# ngxlite and nginx interleaved round by round; prints median wall time and peak
# memory of each and the ratios (ngxlite / nginx: below 1 is better).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-7}
NGXLITE=${NGXLITE:-build/ngxlite}
NGINX=${NGINX:-/usr/sbin/nginx}
dir=$(mktemp -d /tmp/ngxlite-bench.XXXXXX)
trap '[ -z "${KEEP:-}" ] && rm -rf "$dir"' EXIT

python3 - "$dir/nginx.conf" <<'PY'
import sys
out = ["events { worker_connections 1024; }", "http {",
       "  log_format main '$remote_addr - $remote_user [$time_local] \"$request\" $status';",
       "  upstream pool { server 127.0.0.1:19001; server 127.0.0.1:19002; keepalive 32; }"]
for s in range(2000):
    out.append(f"  server {{\n    listen 127.0.0.1:18090;\n    server_name s{s}.example.com www.s{s}.example.com;\n    root /srv/s{s};")
    out.append("    location = /health { return 204; }")
    out.append("    location / { try_files $uri $uri/ /index.html; }")
    out.append("    location ^~ /static/ { expires 30d; add_header Cache-Control public; }")
    out.append(f"    location ~* \\.(png|jpg|css|js)$ {{ add_header X-Server s{s}; }}")
    out.append("    location /api/ { proxy_pass http://pool/; proxy_set_header Host $host; proxy_http_version 1.1; proxy_set_header Connection \"\"; }")
    out.append("    location /tls/ { proxy_pass https://127.0.0.1:19443/; proxy_ssl_server_name on; proxy_ssl_name backend.test; }")
    out.append("    location /old { return 301 https://$host$request_uri; }")
    out.append("    location /rw { rewrite ^/rw/(.*)$ /new/$1 last; }")
    out.append("    location @fallback { proxy_pass http://127.0.0.1:19003; }")
    out.append("    location /admin { allow 127.0.0.1; deny all; }")
    out.append("  }")
out.append("}")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY

measure() {  # prints "seconds kilobytes"
    /usr/bin/time -f '%e %M' "$1" -t -q -p "$dir/" -c nginx.conf -g "error_log stderr; pid $dir/x.pid;" \
        2>&1 >/dev/null | tail -n 1
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$dir/ngxlite.t"; : > "$dir/nginx.t"; : > "$dir/ngxlite.m"; : > "$dir/nginx.m"
for ((i = 0; i < rounds; i++)); do
    read -r t m < <(measure "$NGXLITE"); echo "$t" >> "$dir/ngxlite.t"; echo "$m" >> "$dir/ngxlite.m"
    read -r t m < <(measure "$NGINX"); echo "$t" >> "$dir/nginx.t"; echo "$m" >> "$dir/nginx.m"
done
lt=$(median < "$dir/ngxlite.t"); nt=$(median < "$dir/nginx.t")
lm=$(median < "$dir/ngxlite.m"); nm=$(median < "$dir/nginx.m")
echo "config: 2000 servers x 10 locations, $rounds rounds, medians"
printf '%-8s %8s s %10s KiB\n' ngxlite "$lt" "$lm" nginx "$nt" "$nm"
awk -v a="$lt" -v b="$nt" -v c="$lm" -v d="$nm" \
    'BEGIN { printf "ratio (ngxlite/nginx): time %.2f, peak memory %.2f\n", a / b, c / d }'
