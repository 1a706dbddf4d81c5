#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Quick start: installs what zccache needs (Debian/Ubuntu packages only),
# builds it in release mode, then builds examples/cstats twice through it
# with a fresh private cache and shows that the second build was served
# entirely from the cache. Exits non-zero if it was not.
#
# Usage: scripts/quickstart.sh        (from any directory; uses sudo if not root)
# Environment: QUICKSTART_CC (default gcc) picks the compiler to wrap.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: install the packages by hand or run as root"
    sudo_cmd=(sudo)
fi

# --- packages ---------------------------------------------------------------
# Only what is missing is installed, so a second run needs no network.
packages=(build-essential clang ccache hyperfine git pkg-config python3)
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || packages+=(cargo rustc)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get not found; please install: ${missing[*]}"
    say "installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# --- zccache ----------------------------------------------------------------
say "building zccache (cargo build --release --locked)"
cargo build --release --locked
zccache="$repo/target/release/zccache"
for bin in zccache zccache-broker zccache-daemon; do
    [ -x "target/release/$bin" ] || die "target/release/$bin was not built"
done

# --- the demo ---------------------------------------------------------------
cc=${QUICKSTART_CC:-gcc}
example=examples/cstats
cache_dir=$(mktemp -d "${TMPDIR:-/tmp}/zccache-quickstart.XXXXXX")
export ZCCACHE_CACHE_DIR="$cache_dir"
jobs=$(nproc 2>/dev/null || echo 2)

cleanup() {
    "$zccache" stop >/dev/null 2>&1 || true
    rm -rf "$cache_dir" 2>/dev/null || true
}
trap cleanup EXIT

# A single counter from `zccache status --json`.
counter() {
    local json
    json=$("$zccache" status --json) || die "zccache status failed (no daemon? see the messages above)"
    python3 -c 'import json, sys; print(int(json.loads(sys.argv[1]).get(sys.argv[2], 0)))' "$json" "$1"
}

build() {
    make -C "$example" clean >/dev/null
    make -C "$example" -j"$jobs" all CC="$zccache $cc"
}

say "first build of $example through zccache (cold cache: every compile is a miss)"
build

sources=$(find "$example/src" -name '*.c' | wc -l)
hits_before=$(counter hits)
misses_before=$(counter misses)

say "second build after make clean (warm cache: every compile should be a hit)"
start=$(date +%s.%N)
build
end=$(date +%s.%N)

hits=$(( $(counter hits) - hits_before ))
misses=$(( $(counter misses) - misses_before ))

say "make check"
make -C "$example" check

say "zccache status"
"$zccache" status

printf '\nsecond build: %d of %d compiles were hits, %d misses, %.2f s wall\n' \
    "$hits" "$sources" "$misses" "$(python3 -c "print($end - $start)")"

say "zccache stop"
"$zccache" stop
trap 'rm -rf "$cache_dir" 2>/dev/null || true' EXIT

if [ "$hits" -ne "$sources" ] || [ "$misses" -ne 0 ]; then
    die "expected $sources hits and 0 misses in the second build, got $hits hits and $misses misses"
fi
say "ok: the second build was served entirely from the cache"
