#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# The release binaries the benchmarks measure: `cargo build --release
# --locked --bins`, then `zccache` (the wrapper, one process per compile)
# linked again statically against glibc (`-C target-feature=+crt-static`,
# for that binary only: its dependencies and the daemon and broker stay as
# they are). A static wrapper skips the dynamic loader and libc's
# relocation at every compile: about 0.4 ms of CPU less per process on the
# machine of bench/results/steps.md. Cargo cannot set crt-static for one
# binary of a workspace, hence `cargo rustc`. Should the static link fail,
# the dynamic binary of the first step is kept and measured (said on
# stderr). Set BENCH_DYNAMIC_WRAPPER=1 to skip the static link.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
echo "[build] cargo build --release --locked --bins" >&2
cargo build --release --locked --bins >&2
if [ "${BENCH_DYNAMIC_WRAPPER:-0}" != 1 ]; then
    echo "[build] cargo rustc --release -p wrapper --bin zccache -- -C target-feature=+crt-static" >&2
    if ! cargo rustc --release --locked -p wrapper --bin zccache -- -C target-feature=+crt-static >&2; then
        echo "[build] the static link of zccache failed; the dynamic one stays" >&2
    fi
fi
