#!/usr/bin/env bash
# Runs the executor and net benches N times (default 3) and reports evloop's
# ratio to each peer as the median over the runs: on a noisy machine one
# run's medians move by ±40%, so a single run's ratios are unreliable.
#
#   benches/bench_runs.sh [N]      # about 6 minutes per round on 2 cores
#
# After round i, target/criterion is copied to target/criterion-run-<i>.
# Then `examples/sleep_100k.rs all` runs once and its sleep_100k.json goes
# into the last run's directory, and `examples/bench_report.rs --runs` prints
# the usual tables (from the last run) plus the median-over-runs table.
# Honours CARGO_TARGET_DIR (default: target).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [N]   (N = number of rounds, a positive integer; default 3)" >&2
    exit 2
fi
target="${CARGO_TARGET_DIR:-target}"
args=(--warm-up-time 1 --measurement-time 3)

run_dirs=()
for ((i = 1; i <= runs; i++)); do
    echo "== round $i of $runs" >&2
    cargo bench --bench executor -- "${args[@]}"
    cargo bench --bench net -- "${args[@]}"
    run_dir="$target/criterion-run-$i"
    rm -rf "$run_dir"
    cp -r "$target/criterion" "$run_dir"
    run_dirs+=("$run_dir")
done

cargo run --release --example sleep_100k -- all
cp "$target/criterion/sleep_100k.json" "${run_dirs[-1]}/"

cargo run --release --example bench_report -- --runs "${run_dirs[@]}"
