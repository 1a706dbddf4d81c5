#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# The benchmark in one command: no cache vs ccache vs sccache vs zccache, in
# one run on the same inputs. Not part of CI. Installs what is missing
# (ccache, g++, make, emscripten from Debian; sccache from crates.io with
# `cargo install --locked`, never Debian's years-old 0.4), builds zccache in
# release mode, then runs bench/bench.py, which fetches the projects from
# crates.io (projects.py), measures, prints the tables and writes
# bench/results/latest.md and latest.json. bench/README.md explains them.
#
# Usage: bench/run.sh [bench.py options...]
#   bench/run.sh                          everything, 3 rounds (about an hour on 2 cores)
#   bench/run.sh --reps 1 --only lua,hit  a smoke run in a few minutes
#   bench/run.sh --tools plain,zccache --only libgit2
# Environment:
#   BENCH_INSTALL=0      install nothing (what is missing is skipped and reported)
#   BENCH_SKIP_BUILD=1   use target/release/zccache as it is
#   BENCH_TOOLS_DIR=DIR  where `cargo install` puts sccache (default ~/.cache/zccache-bench)
#   SCCACHE=PATH         an sccache to use instead (must be 0.19 or newer)
#   BENCH_WORK_DIR=DIR   where caches and build trees go (its filesystem is reported)
#   BENCH_OUT=PREFIX     output files PREFIX.md and PREFIX.json (default bench/results/latest)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
log() { printf '[bench] %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
install=${BENCH_INSTALL:-1}
[ "$(id -u)" -eq 0 ] || install=0
tools_dir=${BENCH_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zccache-bench}
skips=()

# --- Debian packages ----------------------------------------------------------
want=(ccache g++ make python3 emscripten)
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "$install" = 1 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq || true
    # One at a time: one that fails must not take the others down.
    for p in "${missing[@]}"; do
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null || log "could not install $p"
    done
fi
command -v ccache >/dev/null || skips+=(--skip "ccache=not installed")

# --- sccache 0.19+ from crates.io -----------------------------------------------
# Debian's sccache is 0.4, years old and several times slower on a hit: a
# comparison against it says nothing about the current peer. Use only an
# sccache whose --version is 0.19 or newer, by absolute path.
sccache_ok() {
    local v
    [ -x "$1" ] || return 1
    v=$("$1" --version 2>/dev/null | awk '{ print $2 }') || return 1
    [ -n "$v" ] || return 1
    # sort -V puts the smaller first: 0.19.0 must come first, or be equal.
    [ "$(printf '0.19.0\n%s\n' "$v" | sort -V | head -1)" = 0.19.0 ]
}
sccache=""
for c in ${SCCACHE:+"$SCCACHE"} "$tools_dir/sccache/bin/sccache" "$HOME/.cargo/bin/sccache"; do
    if sccache_ok "$c"; then sccache=$(readlink -f "$c"); break; fi
    [ -e "$c" ] && log "not using $c: $("$c" --version 2>/dev/null || echo 'does not run') (need 0.19+)"
done
if [ -z "$sccache" ] && [ "$install" = 1 ]; then
    log "cargo install --locked sccache (into $tools_dir/sccache; takes a few minutes)"
    if cargo install --locked --root "$tools_dir/sccache" sccache >&2 && sccache_ok "$tools_dir/sccache/bin/sccache"; then
        sccache="$tools_dir/sccache/bin/sccache"
    else
        log "cargo install sccache failed"
    fi
fi
sccache_args=()
if [ -n "$sccache" ]; then
    sccache_args=(--sccache "$sccache")
else
    skips+=(--skip "sccache=no sccache 0.19+ (cargo install --locked sccache failed or was not run)")
fi

# --- zccache ------------------------------------------------------------------
zccache="$repo/target/release/zccache"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    # The wrapper linked statically, as bench/build-release.sh says why.
    bench/build-release.sh || log "release build failed"
fi
probe=$(mktemp -d)
printf 'int probe(void) { return 42; }\n' >"$probe/p.c"
if [ ! -x "$zccache" ]; then
    skips+=(--skip "zccache=target/release/zccache not built")
elif ! (cd "$probe" && ZCCACHE_CACHE_DIR="$probe/cache" ZCCACHE_RUNTIME_DIR="$probe/rt" \
    "$zccache" gcc -c p.c -o p.o && [ -s p.o ]) >&2; then
    skips+=(--skip "zccache=a probe compile through it failed")
fi
ZCCACHE_CACHE_DIR="$probe/cache" ZCCACHE_RUNTIME_DIR="$probe/rt" "$zccache" stop --all >/dev/null 2>&1 || true
# The daemon may still be writing its last files just after "stop" returns.
sleep 0.2
rm -rf "$probe" 2>/dev/null || true

out=${BENCH_OUT:-bench/results/latest}
mkdir -p "$(dirname "$out")"
work_args=()
[ -n "${BENCH_WORK_DIR:-}" ] && work_args=(--work-dir "$BENCH_WORK_DIR")
exec python3 bench/bench.py --zccache "$zccache" "${sccache_args[@]}" "${skips[@]}" "${work_args[@]}" \
    --out "$out.md" --json "$out.json" "$@"
