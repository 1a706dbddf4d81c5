#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# The whole test suite: installs the Debian packages the tests use, builds
# the workspace (the tests run the binaries from target/debug) and runs
# every test. .ci/run calls this.
#
# Usage: scripts/test.sh [extra cargo test args...]   (from any directory)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

# clang-16 for the cases that need a clang honouring SOURCE_DATE_EPOCH,
# emscripten for the emcc cases, ccache as the reference peer, util-linux
# for setpriv (tests that run as a second uid), procps for ps/pgrep checks,
# redis-server and redis-tools (redis-cli) for the remote tier's own servers;
# openssl for the test CA of its TLS test.
# cmake, ninja-build and autoconf for the build-system cases (a generated
# header, configure probes).
packages=(build-essential clang clang-16 emscripten ccache git util-linux bsdutils procps redis-server redis-tools openssl cmake ninja-build autoconf)
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || packages+=(cargo rustc)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# The Rust cases run `cargo clippy` (R28).
if ! cargo clippy --version >/dev/null 2>&1 && command -v rustup >/dev/null; then
    rustup component add clippy
fi

# Style gates first: a formatting or lint failure is cheap to report.
if ! cargo fmt --version >/dev/null 2>&1 && command -v rustup >/dev/null; then
    rustup component add rustfmt
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo build --workspace --locked
# --no-fail-fast: one run reports every failing test binary, not just the first.
cargo test --workspace --locked --no-fail-fast "$@"
