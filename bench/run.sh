#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Benchmark: plain compiler vs ccache vs sccache vs zccache in one run on
# the same inputs. Not part of CI. Builds zccache in release mode, fetches
# the Lua 5.4 sources through cargo (crate lua-src), then runs
# bench/bench.py, which prints the tables and writes bench/results/latest.md.
#
# Route / direct-hit / broker-path latencies are a separate run: bench/route.sh.
#
# Usage: bench/run.sh [bench.py options...]     e.g. bench/run.sh --reps 3
# Environment:
#   BENCH_INSTALL=0      do not apt-get install missing tools (default 1 when root)
#   BENCH_SKIP_BUILD=1   use target/release/zccache as it is
#   BENCH_WORK_DIR=DIR   where caches and build trees go (its filesystem is reported)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
log() { printf '[bench] %s\n' "$*" >&2; }

skips=()

# --- tools ------------------------------------------------------------------
want=(build-essential ccache hyperfine python3 sccache)
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "${BENCH_INSTALL:-1}" = 1 ] && [ "$(id -u)" -eq 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq || true
    # One at a time: sccache is optional and must not take the others down.
    for p in "${missing[@]}"; do
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null || log "could not install $p"
    done
fi
command -v ccache >/dev/null || skips+=(--skip "ccache=not installed")
if ! command -v sccache >/dev/null; then
    skips+=(--skip "sccache=not installed (apt-get install sccache failed or was not run)")
elif ! sccache --version >/dev/null 2>&1; then
    skips+=(--skip "sccache=installed but does not run")
fi

# --- zccache ----------------------------------------------------------------
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
zccache="$repo/target/release/zccache"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release --locked"
    cargo build --release --locked >&2 || log "release build failed"
fi
probe=$(mktemp -d)
printf 'int probe(void) { return 42; }\n' > "$probe/p.c"
if [ ! -x "$zccache" ]; then
    skips+=(--skip "zccache=target/release/zccache not built")
elif ! (cd "$probe" && ZCCACHE_CACHE_DIR="$probe/cache" "$zccache" gcc -c p.c -o p.o && [ -s p.o ]) >&2; then
    skips+=(--skip "zccache=a probe compile through it failed")
fi
ZCCACHE_CACHE_DIR="$probe/cache" "$zccache" stop >/dev/null 2>&1 || true
# The daemon may still be writing its last files just after "stop" returns.
sleep 0.2; rm -rf "$probe" 2>/dev/null || true

# --- Lua sources, through the crates.io package lua-src ----------------------
lua_args=()
if lua=$(bash bench/lua.sh); then
    lua_args=(--lua-dir "$lua")
else
    log "no Lua sources from lua-src; Lua skipped"
fi

mkdir -p bench/results
work_args=()
[ -n "${BENCH_WORK_DIR:-}" ] && work_args=(--work-dir "$BENCH_WORK_DIR")
exec python3 bench/bench.py --zccache "$zccache" "${lua_args[@]}" "${skips[@]}" "${work_args[@]}" \
    --out bench/results/latest.md --json bench/results/latest.json "$@"
