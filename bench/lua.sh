#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Prints the directory of the Lua 5.4 sources (the one holding lapi.c) of the
# crates.io package lua-src, fetching it with cargo first; exits 1 when that
# fails. The benchmarks that build Lua share it.
set -euo pipefail

fetch=$(mktemp -d)
trap 'rm -rf "$fetch"' EXIT
mkdir -p "$fetch/src"
printf 'fn main() {}\n' >"$fetch/src/main.rs"
cat >"$fetch/Cargo.toml" <<'TOML'
[package]
name = "bench-lua-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
lua-src = "=551.1.0"
TOML
(cd "$fetch" && cargo fetch -q) >&2
lua=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/lua-src-551.1.0/lua-5.4* 2>/dev/null | head -1 || true)
[ -n "$lua" ] && [ -f "$lua/lapi.c" ] || exit 1
printf '%s\n' "$lua"
