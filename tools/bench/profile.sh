#!/usr/bin/env bash
# profile.sh [REQUESTS]: where a request's time goes, ngxlite beside nginx, counted rather
# than timed (repeatable on a busy machine). Each front serves REQUESTS kept-alive
# requests (h2load --h1, one connection, one at a time) per scenario, twice:
#  - under callgrind: user-space instructions per request, and ngxlite's costliest
#    functions (self, then inclusive);
#  - under strace -c: system calls per request, by call.
# The scenarios are http_proxy.sh's /return and /keepalive. Prints to stdout; the
# callgrind files stay in $KEEP when it is set.
set -euo pipefail
[ -n "${DEBUG:-}" ] && set -x
cd "$(dirname "$0")/../.."
. tools/bench/lib.sh
requests=${1:-5000}
bench_setup profile
cat > "$dir/backend/nginx.conf" <<CONF
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:19110;
        location = /small { return 200 "hello from the backend\n"; }
    }
}
CONF
cat > "$dir/front.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid run.pid;
error_log logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    upstream pooled { server 127.0.0.1:19110; keepalive 32; }
    server {
        listen 127.0.0.1:19111;
        location = /return { return 200 "hello from the proxy\n"; }
        location = /keepalive {
            proxy_pass http://pooled/small;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
cp "$dir/front.conf" "$dir/nginx/nginx.conf"
cp "$dir/front.conf" "$dir/ngxlite/nginx.conf"
"$NGINX" -p "$dir/backend/" -c nginx.conf -g "daemon off; pid run.pid; error_log logs/error.log;" & pids+=($!)
wait_for http://127.0.0.1:19110/small

# serve NAME BINARY WRAPPER...: the front under WRAPPER, until it answers; sets $front.
serve() {
    local prefix=$dir/$1 binary=$2
    shift 2
    "$@" "$binary" -p "$prefix/" -c nginx.conf & front=$!
    for _ in $(seq 400); do curl -s -o /dev/null http://127.0.0.1:19111/return && return; sleep 0.05; done
    echo "$binary did not start" >&2
    exit 1
}
# traced PID: every thread of PID has its tracer (strace attaches after it starts), within 5 s.
traced() {
    for _ in $(seq 100); do
        ! grep -q '^TracerPid:[[:space:]]*0$' /proc/"$1"/task/*/status && return
        sleep 0.05
    done
}
# server_pid: the process that serves: ngxlite's serving process (it always has a
# master), or nginx itself (master_process off).
server_pid() {
    local child
    for _ in $(seq 100); do
        child=$(pgrep -P "$front" | head -1) || true
        [ -n "$child" ] && { echo "$child"; return; }
        [ "$1" = nginx ] && { echo "$front"; return; }
        sleep 0.05
    done
    echo "$front"
}
stop() { kill "$front" 2>/dev/null || true; wait "$front" 2>/dev/null || true; }

# counted NAME BINARY PATH N: the serving process's callgrind file after N requests.
counted() {
    mkdir -m 1777 -p "$dir/cg"  # written by the serving process, which may not be root
    serve "$1" "$2" valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg/$1.${3#/}.$4.%p" -q
    local pid
    pid=$(server_pid "$1")
    h2load --h1 -n "$4" -c 1 "http://127.0.0.1:19111$3" >/dev/null
    stop
    for _ in $(seq 100); do [ -s "$dir/cg/$1.${3#/}.$4.$pid" ] && break; sleep 0.05; done
    echo "$dir/cg/$1.${3#/}.$4.$pid"
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'; }

# listing FILE OPTIONS...: callgrind_annotate's rows, start-up (the dynamic linker) left out.
listing() {
    local file=$1
    shift
    callgrind_annotate "$@" "$file" 2>/dev/null | awk '/file:function/ { rows = 1; next } rows && /^ *[0-9,]+ \(/' |
        grep -v 'dl-\|/elf/\|rtld' | cut -c1-200 | sed 's/^/    /'
}

# instructions NAME BINARY PATH: user-space instructions per request (the difference
# between runs of 200 and 200 + $requests requests, so start and stop cancel out), and
# for ngxlite the costliest functions of the longer run.
instructions() {
    local short long
    short=$(counted "$1" "$2" "$3" 200)
    long=$(counted "$1" "$2" "$3" $((200 + requests)))
    printf '%-8s %-10s %12d instructions/request\n' "$1" "$3" $((($(total "$long") - $(total "$short")) / requests))
    if [ "$1" = ngxlite ]; then
        echo "  self:"
        listing "$long" --threshold=80 | head -25 || true  # head ends the listing early
        echo "  inclusive:"
        listing "$long" --inclusive=yes --threshold=95 | head -40 || true
    fi
    [ -n "${KEEP:-}" ] && cp "$long" "$KEEP/$1.${3#/}.callgrind" || true
}

syscalls() {  # NAME BINARY PATH: system calls per request, by call
    local out=$dir/strace.$1.${3#/}
    serve "$1" "$2" env
    local pid
    pid=$(server_pid "$1")
    h2load --h1 -n 200 -c 1 "http://127.0.0.1:19111$3" >/dev/null
    strace -c -f -o "$out" -p "$pid" 2>/dev/null & local tracer=$!
    traced "$pid"
    h2load --h1 -n "$requests" -c 1 "http://127.0.0.1:19111$3" >/dev/null
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    stop
    awk -v n="$requests" -v who="$1" -v path="$3" '
        $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" { per[$NF] = $4 / n; all += $4 / n }
        END { printf "%-8s %-10s %6.2f system calls/request:", who, path, all
              for (c in per) if (per[c] >= 0.01) printf " %s %.2f", c, per[c]; printf "\n" }' "$out"
}

for path in /return /keepalive; do
    instructions nginx "$NGINX" "$path"
    instructions ngxlite "$NGXLITE" "$path"
    syscalls nginx "$NGINX" "$path"
    syscalls ngxlite "$NGXLITE" "$path"
done
