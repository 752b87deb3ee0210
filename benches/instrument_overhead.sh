#!/usr/bin/env bash
# What do the always-on counters and the unset observer cost? Runs the
# executor bench's evloop spawn_join and yield_many twice: first built with
# `--cfg evloop_uninstrumented` (counters and hooks compiled out) as the
# criterion baseline `bare`, then as shipped, compared against it. Criterion
# prints the change; the target (issue #6) is under 3% on both.
#
#   benches/instrument_overhead.sh            # needs ~10 min on 2 cores
#
# A separate target dir keeps the two builds from invalidating each other.
set -euo pipefail
cd "$(dirname "$0")/.."
filter='^(spawn_join|yield_many)/evloop$'
args=(--warm-up-time 1 --measurement-time 5)
RUSTFLAGS="--cfg evloop_uninstrumented" CARGO_TARGET_DIR=target/uninstrumented \
    cargo bench --bench executor -- "$filter" "${args[@]}" --save-baseline bare
mkdir -p target/criterion
cp -r target/uninstrumented/criterion/. target/criterion/
cargo bench --bench executor -- "$filter" "${args[@]}" --baseline bare
