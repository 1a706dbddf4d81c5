#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Benchmark of the request paths to a warm daemon: p50/p90/p99/max of a
# Route to the broker, of a hit Lookup sent straight to the daemon, of the
# broker path (Route, then Lookup), over 10,000 requests each, and of a
# whole `zccache gcc -c` hit against spawning /bin/true. Not part of CI.
# Builds the release binaries, then runs conformance/benches/route.rs,
# which prints the tables and writes bench/results/route.md.
#
# Usage: bench/route.sh
# Environment:
#   ZCCACHE_BIN_DIR=DIR      measure the binaries in DIR (no build)
#   BENCH_SKIP_BUILD=1       use target/release as it is
#   ROUTE_BENCH_N=10000      requests per socket series
#   ROUTE_BENCH_SPAWNS=500   process runs per whole-process series
#   ROUTE_BENCH_OUT=FILE     where the markdown goes (default bench/results/route.md)
#   ROUTE_BENCH_NOTE=TEXT    a note row for the machine table (what else was running)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if [ -z "${ZCCACHE_BIN_DIR:-}" ] && [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    echo "[route] cargo build --release --locked --bins" >&2
    cargo build --release --locked --bins >&2
fi
mkdir -p bench/results
exec cargo bench -p conformance --bench route
