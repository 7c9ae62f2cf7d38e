#!/usr/bin/env bash
# t_conformance.sh NGXLITE DIR...
#
# Runs real nginx (/usr/sbin/nginx) and NGXLITE with `-t -q` on every case of each DIR
# (a directory per case holding nginx.conf, the layout of ../shared/corpus) and
# compares the exit code and the first significant output line: for success the first
# line, otherwise the first [emerg]/[alert]/[crit]/[error] line. Program names, log
# timestamps and the case path are normalised. A DIR without _certs/ gets certificates
# made by tools/gen-test-certs.sh. A DIR's DIFFERENCES.tsv (case, exit code, first line, why:
# ngxlite's deliberate differences) stands in for nginx's verdict on the cases it names.
# Ends with "N passed, N failed".
set -u
[ $# -ge 2 ] || { echo "usage: $0 NGXLITE DIR..." >&2; exit 2; }
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
NGINX=${NGINX:-/usr/sbin/nginx}
MODDIR=${NGX_MODULES_DIR:-/usr/lib/nginx/modules}
HERE=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ngxconf.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
DEFAULT_G='error_log stderr; pid nginx.pid;'

first_line() {  # $1 = exit code; stdin = output
    awk -v rc="$1" '
    { line[NR] = $0 }
    END {
        pick = 1
        if (rc != 0) for (i = 1; i <= NR; i++) if (line[i] ~ /\[(emerg|alert|crit|error)\] /) { pick = i; break }
        s = line[pick]
        if (match(s, /^[0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9] [0-9:]+ \[[a-z]+\] [0-9]+#[0-9]+: /)) {
            hdr = substr(s, 1, RLENGTH); lvl = hdr; sub(/^[^[]*\[/, "", lvl); sub(/\].*$/, "", lvl)
            s = "[" lvl "] " substr(s, RLENGTH + 1)
        } else if (match(s, /^[^ :\[]+: \[[a-z]+\] /)) {
            s = substr(s, index(s, "["))
        }
        gsub(/\t/, " ", s); sub(/[ ]+$/, "", s); print s
    }'
}

run() {  # $1 = binary, $2 = case dir, $3 = -g
    local out rc
    out=$(cd "$2" && timeout 60 "$1" -t -q -p "$2/" -c nginx.conf -g "$3" 2>&1 </dev/null)
    rc=$?
    printf '%s\t%s\n' "$rc" "$(printf '%s\n' "$out" | first_line "$rc" | sed "s|$2|{prefix}|g; s|$TMP|{root}|g")"
}

pass=0
fail=0
for src in "$@"; do
    name=$(basename "$src")
    cp -a "$src" "$TMP/$name" || exit 2
    [ -d "$TMP/$name/_certs" ] || "$HERE/tools/gen-test-certs.sh" "$TMP/$name/_certs" >/dev/null
    for d in "$TMP/$name"/*/; do
        d=${d%/}
        c=$(basename "$d")
        case $c in _*) continue ;; esac
        [ -f "$d/nginx.conf" ] || continue
        [ -e "$d/modules" ] || ln -s "$MODDIR" "$d/modules"
        g=$DEFAULT_G
        if [ -f "$src/GLOBALS.tsv" ]; then
            gg=$(awk -F'\t' -v c="$c" '$1 == c { print $2; exit }' "$src/GLOBALS.tsv")
            [ -n "$gg" ] && g=$gg
        fi
        expected=$(run "$NGINX" "$d" "$g")
        if [ -f "$src/DIFFERENCES.tsv" ]; then
            dd=$(awk -F'\t' -v c="$c" '$1 == c { print $2 "\t" $3; exit }' "$src/DIFFERENCES.tsv")
            [ -n "$dd" ] && expected=$dd
        fi
        got=$(run "$BIN" "$d" "$g")
        if [ "$expected" = "$got" ]; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAIL $name/$c"
            echo "   nginx:   $expected"
            echo "   ngxlite: $got"
        fi
    done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
