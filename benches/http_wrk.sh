#!/usr/bin/env bash
# hyper's HTTP/1 hello-world on evloop and on tokio (current-thread), each
# loaded by wrk from a second process: 2 threads, 50 connections, 10 s.
# Prints requests/s and p99 latency per runtime. Not run in CI.
#
#   benches/http_wrk.sh                 # needs wrk: apt-get install -y wrk
#   DURATION=30s CONNS=100 benches/http_wrk.sh
#
# The server is examples/http_hello.rs (release build). Each server is
# warmed up for 2 s with the same load before the measured run.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
PORT_BASE=${PORT_BASE:-18080}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --example http_hello >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/http_hello

printf '| server | requests/s | p50 | p99 | wrk |\n| --- | --- | --- | --- | --- |\n'
port=$PORT_BASE
for rt in evloop tokio; do
    "$BIN" "$rt" "$port" 2>/dev/null &
    pid=$!
    # Wait for the listener.
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    wrk -t"$THREADS" -c"$CONNS" -d2s "http://127.0.0.1:$port/" >/dev/null
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port/")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' ' | paste -sd ';' || true)
    printf '| %s | %s | %s | %s | -t%s -c%s -d%s %s |\n' "$rt" "$rps" "$p50" "$p99" "$THREADS" "$CONNS" "$DURATION" "$errs"
    port=$((port + 1))
done
