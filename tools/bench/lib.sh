# Shared by the side-by-side benchmarks: set-up, wrk figures, medians, result lines.
# wrk runs one thread and 32 connections. With two CPUs or more, the load generator
# runs on CPU 0 and the servers on the others: neither steals the other's CPU, and
# rounds vary less.
if [ "$(nproc)" -ge 2 ]; then
    load_cpus="taskset -c 0"
    server_cpus="taskset -c 1-$(($(nproc) - 1))"
else
    load_cpus=""
    server_cpus=""
fi

# bench_setup NAME [ROUNDS] [SECONDS]: $rounds, $seconds, $NGXLITE, $NGINX, a work
# directory $dir (with backend/, nginx/ and ngxlite/ prefixes for start_servers), and
# $pids: the servers started, stopped on exit with $dir removed.
bench_setup() {
    rounds=${2:-3}
    seconds=${3:-5}
    NGXLITE=$(realpath "${NGXLITE:-build/ngxlite}")
    NGINX=${NGINX:-/usr/sbin/nginx}
    dir=$(mktemp -d "/tmp/ngxlite-bench-$1.XXXXXX")
    chmod 755 "$dir"
    mkdir -p "$dir/backend/logs" "$dir/nginx/logs" "$dir/ngxlite/logs"
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
}

# bench_certs: the test certificates (tools/gen-test-certs.sh) in $dir/certs, readable
# by the servers' workers.
bench_certs() {
    tools/gen-test-certs.sh "$dir/certs" >/dev/null
    chmod -R a+rX "$dir/certs"
}

rps() {  # $1 = url: requests per second and p99 latency (ms) from wrk
    $load_cpus wrk -t1 -c32 -d"${seconds}s" --latency "$1" 2>/dev/null | awk '
        /Requests\/sec/ { r = $2 }
        /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } p = v }
        END { printf "%s %s\n", r, p }'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

header() { printf '%-34s %12s %12s %8s %10s\n' scenario "ngxlite r/s" "nginx r/s" ratio "p99 ratio"; }

# compare NAME NGXLITE_URL NGINX_URL ROUNDS: interleaved rounds, medians, ratios.
compare() {
    : > "$dir/l.r"; : > "$dir/n.r"; : > "$dir/l.p"; : > "$dir/n.p"
    for ((i = 0; i < $4; i++)); do
        read -r r p < <(rps "$2"); echo "$r" >> "$dir/l.r"; echo "$p" >> "$dir/l.p"
        read -r r p < <(rps "$3"); echo "$r" >> "$dir/n.r"; echo "$p" >> "$dir/n.p"
    done
    local lr nr lp np
    lr=$(median < "$dir/l.r"); nr=$(median < "$dir/n.r"); lp=$(median < "$dir/l.p"); np=$(median < "$dir/n.p")
    awk -v n="$1" -v a="$lr" -v b="$nr" -v c="$lp" -v d="$np" \
        'BEGIN { printf "%-34s %12.0f %12.0f %8.2f %10.2f\n", n, a, b, a / b, c / d }'
}

# start_servers: the backend and the front under nginx, the other front under ngxlite,
# each from its prefix's nginx.conf, in the foreground of a background job.
start_servers() {
    local globals="daemon off; pid run.pid; error_log logs/error.log;"
    $server_cpus "$NGINX" -p "$dir/backend/" -c nginx.conf -g "$globals" & pids+=($!)
    $server_cpus "$NGINX" -p "$dir/nginx/" -c nginx.conf -g "$globals" & pids+=($!)
    $server_cpus "$NGXLITE" -p "$dir/ngxlite/" -c nginx.conf -g "$globals" & pids+=($!)
}

# wait_for URL...: each answers (servers just started), within 5 s.
wait_for() {
    for url in "$@"; do
        for _ in $(seq 100); do curl -sk -o /dev/null "$url" && break; sleep 0.05; done
    done
}
