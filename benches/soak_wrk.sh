#!/usr/bin/env bash
# Soak test (issue #7): hyper's HTTP/1 hello-world on evloop
# (examples/http_hello.rs, through the library's `hyper` feature) under wrk
# with 100 connections for 60 s. It passes when wrk reports no socket errors
# and no non-2xx answers, and the server's resident memory stays within 10%
# of its second-10 value from second 10 to the end. Not run in CI.
#
#   benches/soak_wrk.sh                       # needs wrk: apt-get install -y wrk
#   DURATION=120 CONNS=200 benches/soak_wrk.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
CONNS=${CONNS:-100}
PORT=${PORT:-18180}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --example http_hello >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/http_hello

"$BIN" evloop "$PORT" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

out=$(mktemp)
wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/" >"$out" &
load=$!
rss=()
for _ in $(seq "$DURATION"); do
    sleep 1
    rss+=("$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")")
done
wait "$load"

echo "RSS (KiB) each second: ${rss[*]}"
ref=${rss[9]}
max=$ref
min=$ref
for r in "${rss[@]:9}"; do
    ((r > max)) && max=$r
    ((r < min)) && min=$r
done
grep -E '^Requests/sec|^ +99%|Socket errors|Non-2xx' "$out" || true
errors=$(grep -cE 'Socket errors|Non-2xx' "$out" || true)
drift=$(awk -v a="$max" -v b="$min" -v r="$ref" 'BEGIN { printf "%.1f", 100 * (a - b) / r }')
echo "RSS from second 10: ${ref} KiB, range ${min}..${max} KiB (${drift}% of the second-10 value)"
ok=1
[ "$errors" -eq 0 ] || { echo "FAIL: wrk reported socket errors or non-2xx answers"; ok=0; }
awk -v d="$drift" 'BEGIN { exit !(d <= 10) }' || { echo "FAIL: resident memory moved more than 10%"; ok=0; }
[ "$ok" -eq 1 ] && echo "PASS: no socket errors, RSS flat within 10%"
[ "$ok" -eq 1 ]
