#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# The per-step costs of a zccache hit (start-up against /bin/true and a
# hello-world Rust binary, the wrapper's steps from ZCCACHE_PROFILE, the
# daemon's from `status --json`) and, with --cold N, the per-compile cost of
# a miss against bare gcc. Not part of CI. Builds the release binaries
# (bench/build-release.sh: the wrapper linked statically), then runs
# bench/steps.py; bench/README.md explains the figures.
#
# Usage: bench/steps.sh [-n 300] [--reps 3] [--cold 200] [--label TEXT] [--json FILE]
# Environment:
#   BENCH_SKIP_BUILD=1   use target/release as it is
#   ZCCACHE_BIN_DIR=DIR  measure the binaries in DIR (no build)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
bin=()
if [ -n "${ZCCACHE_BIN_DIR:-}" ]; then
    bin=(--bin "$ZCCACHE_BIN_DIR")
elif [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    bench/build-release.sh
fi
exec python3 bench/steps.py "${bin[@]}" "$@"
