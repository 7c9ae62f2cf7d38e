#!/usr/bin/env bash
# lint_test.sh NGXLITE: `-t --lint` finds each weak TLS setting of a config at its line,
# says nothing of a sound one, and plain -t prints none of it (nginx's output unchanged).
set -euo pipefail
ngxlite=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/../tools/gen-test-certs.sh" "$tmp/certs" >/dev/null
cat "$tmp/certs/inner.crt" "$tmp/certs/outer.crt" "$tmp/certs/ca.crt" > "$tmp/certs/deep-cas.crt"
mkdir -p "$tmp/logs"
cat > "$tmp/nginx.conf" <<CONF
events {}
http {
    upstream backend.example.com { server 127.0.0.1:9443; }
    server {
        listen 127.0.0.1:8080;
        location /unverified/ { proxy_pass https://backend.example.com; }
        location /no-sni/ {
            proxy_pass https://backend.example.com;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $tmp/certs/ca.crt;
            proxy_ssl_protocols TLSv1.2 TLSv1.3;
        }
        location /shallow/ {
            proxy_pass https://127.0.0.1:9443;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $tmp/certs/deep-cas.crt;
            proxy_ssl_protocols TLSv1.2;
        }
        location /sound/ {
            proxy_pass https://backend.example.com;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $tmp/certs/deep-cas.crt;
            proxy_ssl_verify_depth 2;
            proxy_ssl_server_name on;
            proxy_ssl_protocols TLSv1.2 TLSv1.3;
        }
    }
}
CONF
out=$("$ngxlite" -p "$tmp/" -c nginx.conf -t --lint 2>&1)
plain=$("$ngxlite" -p "$tmp/" -c nginx.conf -t 2>&1)
status=0
expect() {
    if ! grep -qF -- "$1" <<<"$out"; then
        echo "FAIL lint: missing: $1"
        status=1
    fi
}
conf="$tmp/nginx.conf"
expect "[warn] lint: the TLS upstream \"backend.example.com\" is used without \"proxy_ssl_verify on\": its certificate is not checked in $conf:6"
expect "[warn] lint: \"TLSv1\" and \"TLSv1.1\" in \"proxy_ssl_protocols\" are refused by"
expect "\"proxy_ssl_server_name\" is off while the upstream name \"backend.example.com\" is a host name: no SNI is sent in $conf:8"
expect "the CA chain in \"$tmp/certs/deep-cas.crt\" needs \"proxy_ssl_verify_depth 2\", it is 1 in $conf:14"
if [ "$(grep -c 'lint:' <<<"$out")" -ne 5 ]; then
    echo "FAIL lint: expected 5 findings (three at line 6), got:"
    echo "$out"
    status=1
fi
if grep -q "lint:" <<<"$plain"; then
    echo "FAIL lint: plain -t printed lint findings"
    status=1
fi
if grep -q ":2[0-9]\b" <<<"$(grep 'lint:' <<<"$out")"; then
    echo "FAIL lint: the sound location was flagged"
    status=1
fi
[ $status -eq 0 ] && echo "lint: 5 findings at their lines, none for the sound location, none with plain -t"
exit $status
