#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# The differential test for as long as you like: every compile through
# zccache against the plain compiler, byte for byte, with a new seed unless
# one is given. Stops at the first divergence and prints a shrunk replay
# script. CI runs fixed seeds (conformance/tests/differential.rs).
#
# Usage: scripts/differential.sh [--seed N] [--steps N] [--rounds N] [--kinds all|a,b,...]
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
cargo build --workspace --locked --quiet
exec target/debug/differential "$@"
