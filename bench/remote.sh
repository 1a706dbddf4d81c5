#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Benchmark of the remote tier (issue 14): machine B's build of a C project
# served from a Redis that machine A filled, against B's local warm build
# and no cache; and B's cold build (every compile a miss) with no remote,
# with the remote's Redis stopped, and behind a proxy that delays every
# reply by 500 ms. Not part of CI.
#
# The project is Lua 5.4 (crates.io crate lua-src, as bench/run.sh gets
# it) built by a small Makefile (liblua.a) with CMake-style commands
# (absolute sources, -I and -o, `-g -O2 -MD`). A and B are two copies at
# different absolute paths, each its own cache root and runtime dir
# ("machines"), `ZCCACHE_PATH_REMAP=auto` with the copy as worktree root.
# Redis is a `redis-server` this script starts on a free loopback port;
# the delaying proxy is a few lines of Python.
#
# Builds, each timed from a stopped daemon (so every one pays a daemon
# start), `make -j$jobs`, R rounds, the scenarios interleaved per round:
#   none             plain gcc
#   local warm       B built once into its own cache (untimed), then again
#   remote warm      A built with the remote (untimed, publications
#                    waited for), then B with an empty cache and the remote
#   cold, no remote  B into an empty cache, no remote configured
#   cold, Redis down B into an empty cache, remote = a port nobody serves
#   cold, 500 ms     B into an empty cache, remote = the delaying proxy
# Then the same for a Rust crate graph (bench/rust-graph, ~100 crates from
# crates.io, `cargo build`, CARGO_INCREMENTAL=0, zccache as RUSTC_WRAPPER,
# each checkout's target dir inside it), R_RUST rounds of:
#   rust none        plain cargo, cold
#   rust local warm  B built once into its own cache (untimed), `cargo
#                    clean`, then again
#   rust remote warm A built with the remote (untimed, publications waited
#                    for), then B with an empty cache and the remote
# Writes bench/results/remote.md.
#
# Usage: bench/remote.sh
# Environment:
#   REMOTE_BENCH_REPS=3      rounds
#   REMOTE_BENCH_JOBS=2      make -j
#   REMOTE_BENCH_SCENARIOS   the C scenarios to run (default all six)
#   REMOTE_BENCH_RUST_REPS=1 rounds of the Rust crate graph (0: skip it)
#   BENCH_SKIP_BUILD=1       use target/release/zccache as it is
#   ZCCACHE_BIN_DIR=DIR      measure the zccache in DIR (no build)
#   LUA_DIR=DIR              Lua sources (the dir holding lapi.c)
#   BENCH_WORK_DIR=DIR       where the copies and caches go (default /tmp)
#   REMOTE_BENCH_OUT=FILE    markdown output (default bench/results/remote.md)
#   REMOTE_BENCH_NOTE=TEXT   a note row for the machine table
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
log() { printf '[remote-bench] %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
reps=${REMOTE_BENCH_REPS:-3}
jobs=${REMOTE_BENCH_JOBS:-2}
out_md=${REMOTE_BENCH_OUT:-bench/results/remote.md}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
for tool in redis-server redis-cli python3 gcc make; do
    command -v $tool >/dev/null || { log "$tool not installed (apt-get install redis-server)"; exit 1; }
done

# --- zccache ----------------------------------------------------------------
if [ -n "${ZCCACHE_BIN_DIR:-}" ]; then
    zccache="$ZCCACHE_BIN_DIR/zccache"
else
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        log "cargo build --release --locked --bins"
        cargo build --release --locked --bins >&2
        built_at=$(git rev-parse --short HEAD)
        git diff --quiet HEAD -- Cargo.toml Cargo.lock frame router sys broker daemon wrapper settings || built_at+=" with uncommitted changes"
    fi
    zccache="$repo/target/release/zccache"
fi
[ -x "$zccache" ] || { log "no zccache at $zccache"; exit 1; }

# --- Lua sources --------------------------------------------------------------
lua=${LUA_DIR:-}
if [ -z "$lua" ]; then
    lua=$(bash bench/lua.sh) || { log "cargo fetch of lua-src failed"; exit 1; }
fi
[ -n "$lua" ] && [ -f "$lua/lapi.c" ] || { log "no Lua sources (lapi.c) in '$lua'"; exit 1; }

work=$(mktemp -d "${BENCH_WORK_DIR:-/tmp}/zcc-remote.XXXXXX")
work=$(readlink -f "$work")
A=$work/machine-a/src/lua
B=$work/machine-b/checkouts/feature/lua
pids=()
cleanup() {
    for rt in "$work"/rt-*; do
        [ -d "$rt" ] && ZCCACHE_RUNTIME_DIR="$rt" "$zccache" stop --all >/dev/null 2>&1 || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ "${REMOTE_BENCH_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/logs"
for root in "$A" "$B"; do
    mkdir -p "$root/src"
    cp "$lua"/*.c "$lua"/*.h "$root/src/"
    cat >"$root/Makefile" <<'MAKE'
ROOT := $(CURDIR)
CFLAGS := -g -O2 -Wall -Wextra -DLUA_COMPAT_5_3 -DLUA_USE_LINUX
LIBSRCS := $(wildcard $(ROOT)/src/*.c)
LIBOBJS := $(LIBSRCS:$(ROOT)/src/%.c=$(ROOT)/build/%.o)

all: $(ROOT)/build/liblua.a
$(ROOT)/build/liblua.a: $(LIBOBJS)
	$(AR) rcs $@ $^
$(ROOT)/build/%.o: $(ROOT)/src/%.c | $(ROOT)/build
	$(CC) $(CFLAGS) -I$(ROOT)/src -MD -c $< -o $@
$(ROOT)/build:
	mkdir -p $@
clean:
	rm -rf $(ROOT)/build
.PHONY: all clean
MAKE
done
# Sources older than any build, so no compile meets a too-new input.
find "$work" -name '*.[ch]' -exec touch -d '1 hour ago' {} +
tus=$(ls "$A"/src/*.c | wc -l)

# The timing wrapper of every compile (see timed_build).
cat >"$work/timecc" <<'SH'
#!/bin/bash
t0=$(date +%s%N)
"$@"
rc=$?
t1=$(date +%s%N)
echo $(((t1 - t0) / 1000)) >>"$ZCC_BENCH_TIMES"
exit $rc
SH
chmod +x "$work/timecc"
mkdir -p "$work/times"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- Redis and the delaying proxy --------------------------------------------
redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work/redis" >"$work/logs/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 500); do
    [ "$(redis-cli -p "$redis_port" PING 2>/dev/null)" = PONG ] && break
    sleep 0.01
done
[ "$(redis-cli -p "$redis_port" PING)" = PONG ] || { log "redis-server did not start"; exit 1; }
proxy_port=$(free_port)
cat >"$work/proxy.py" <<'PY'
# A loopback proxy holding every reply back by DELAY seconds.
import socket, sys, threading, time
listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def pump(src, dst, wait):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if wait:
                time.sleep(delay)
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen))
server.listen(64)
while True:
    client, _ = server.accept()
    up = socket.create_connection(("127.0.0.1", upstream))
    threading.Thread(target=pump, args=(client, up, False), daemon=True).start()
    threading.Thread(target=pump, args=(up, client, True), daemon=True).start()
PY
python3 "$work/proxy.py" "$proxy_port" "$redis_port" 0.5 >"$work/logs/proxy.log" 2>&1 &
pids+=($!)
dead_port=$(free_port)

# The environment of a build: nothing of the caller's cache or make
# configuration. $1 = machine root, $2 = cache ("" for no cache), $3 =
# remote URL ("" for none), then the command.
run_env() {
    local root=$1 cache=$2 remote=$3
    shift 3
    local -a e=(env)
    local v
    for v in $(compgen -e); do
        case $v in
            CCACHE_* | SCCACHE_* | ZCCACHE_* | MAKEFLAGS | MFLAGS | MAKELEVEL | CC | CFLAGS | CPPFLAGS) e+=(-u "$v") ;;
        esac
    done
    e+=(LC_ALL=C)
    if [ -n "$cache" ]; then
        e+=(ZCCACHE_CACHE_DIR="$cache" ZCCACHE_RUNTIME_DIR="$work/rt-$(basename "$cache")"
            ZCCACHE_IDLE_TIMEOUT=0 ZCCACHE_PATH_REMAP=auto ZCCACHE_WORKTREE_ROOT="$root")
        [ -n "$remote" ] && e+=(ZCCACHE_REMOTE="$remote")
    fi
    mkdir -p "$work/rt-$(basename "${cache:-none}")"
    chmod 700 "$work/rt-$(basename "${cache:-none}")"
    "${e[@]}" "$@"
}

stop_daemon() {
    [ -n "$2" ] && run_env "$1" "$2" "" "$zccache" stop --all >/dev/null 2>&1 || true
}

# Seconds (3 decimals) one build of $1 takes, from a stopped daemon.
# Each compile's own wall time goes to the file $5 (microseconds, one a
# line; default: nowhere), through the same small timing wrapper in every
# scenario.
timed_build() {
    local root=$1 cache=$2 remote=$3 logf=$4 times=${5:-/dev/null} t0 t1 cc=gcc
    [ -n "$cache" ] && cc="$zccache gcc"
    make -s -C "$root" clean >/dev/null 2>&1
    stop_daemon "$root" "$cache"
    t0=$(date +%s.%N)
    if ! run_env "$root" "$cache" "$remote" env ZCC_BENCH_TIMES="$times" \
            make -C "$root" -j"$jobs" CC="$work/timecc $cc" >"$logf" 2>&1; then
        log "build of $root failed, see below"
        tail -30 "$logf" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    [ -s "$root/build/liblua.a" ] || { log "no $root/build/liblua.a"; exit 1; }
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

status() { run_env "$1" "$2" "" "$zccache" status --json; }

# Waits until every Store of the daemon of $2 has had its publication tried.
publications_settled() {
    local i
    for i in $(seq 1 3000); do
        status "$1" "$2" | python3 -c '
import json, sys
s = json.load(sys.stdin); r = s.get("remote", {})
tried = r.get("published", 0) + r.get("publish_errors", 0) + r.get("publish_dropped", 0)
sys.exit(0 if tried >= 2 * s.get("stored", 0) else 1)' && return 0
        sleep 0.02
    done
    log "publications never finished"
    exit 1
}

# hits/misses and the remote's counters of the daemon of $2, one line.
summary() {
    status "$1" "$2" | python3 -c '
import json, sys
s = json.load(sys.stdin); r = s.get("remote")
t = "%d hits, %d misses" % (s.get("hits", 0), s.get("misses", 0))
if r:
    t += "; remote: " + ", ".join(f"{k} {r.get(k, 0)}" for k in
        ("hits", "misses", "errors", "timeouts", "breaker_skips", "breaker_open_ms", "published", "publish_errors"))
print(t)'
}

all_scenarios=(none local-warm remote-warm cold-no-remote cold-redis-down cold-500ms)
# shellcheck disable=SC2206
scenarios=(${REMOTE_BENCH_SCENARIOS:-${all_scenarios[*]}})
declare -A runs notes
for s in "${all_scenarios[@]}"; do runs[$s]=""; notes[$s]=""; done
for r in $(seq 1 "$reps"); do
    redis-cli -p "$redis_port" FLUSHALL >/dev/null
    for s in "${scenarios[@]}"; do
        cache=$work/cache-$s-$r
        case $s in
            none)
                t=$(timed_build "$B" "" "" "$work/logs/$s-$r.log" "$work/times/$s") ;;
            local-warm)
                timed_build "$B" "$cache" "" "$work/logs/$s-$r-warmup.log" >/dev/null
                # The counters of the timed build alone.
                run_env "$B" "$cache" "" "$zccache" zero-stats >/dev/null 2>&1 || true
                t=$(timed_build "$B" "$cache" "" "$work/logs/$s-$r.log" "$work/times/$s") ;;
            remote-warm)
                url="redis://127.0.0.1:$redis_port/0"
                acache=$work/cache-a-$r
                timed_build "$A" "$acache" "$url" "$work/logs/a-$r.log" >/dev/null
                publications_settled "$A" "$acache"
                stop_daemon "$A" "$acache"
                t=$(timed_build "$B" "$cache" "$url" "$work/logs/$s-$r.log" "$work/times/$s") ;;
            cold-no-remote)
                t=$(timed_build "$B" "$cache" "" "$work/logs/$s-$r.log" "$work/times/$s") ;;
            cold-redis-down)
                t=$(timed_build "$B" "$cache" "redis://127.0.0.1:$dead_port/0" "$work/logs/$s-$r.log" "$work/times/$s") ;;
            cold-500ms)
                # Its own Redis contents must not serve it: A's are there.
                redis-cli -p "$redis_port" FLUSHALL >/dev/null
                t=$(timed_build "$B" "$cache" "redis://127.0.0.1:$proxy_port/0" "$work/logs/$s-$r.log" "$work/times/$s") ;;
        esac
        runs[$s]+="$t "
        [ "$s" != none ] && notes[$s]=$(summary "$B" "$cache")
        stop_daemon "$B" "$cache"
        log "round $r: $s $t s (${notes[$s]})"
    done
done
# --- The Rust crate graph -------------------------------------------------------
rust_reps=${REMOTE_BENCH_RUST_REPS:-1}
rust_scenarios=(rust-none rust-local-warm rust-remote-warm)
declare -A rruns rnotes
for s in "${rust_scenarios[@]}"; do rruns[$s]=""; rnotes[$s]=""; done
RA=$work/machine-a/src/rust-graph
RB=$work/machine-b/checkouts/feature/rust-graph
crates=0
if [ "$rust_reps" -gt 0 ]; then
    for root in "$RA" "$RB"; do
        mkdir -p "$(dirname "$root")"
        cp -r bench/rust-graph "$root"
        rm -rf "$root/target"
    done
    (cd "$RA" && cargo fetch --locked -q) || { log "cargo fetch of bench/rust-graph failed"; exit 1; }
    crates=$(cd "$RA" && cargo metadata --locked --offline --format-version 1 | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["packages"]))')
fi

# Seconds one `cargo build` of the checkout $1 takes from `cargo clean` and
# a stopped daemon; $2 = cache ("" for plain rustc), $3 = remote URL.
timed_cargo() {
    local root=$1 cache=$2 remote=$3 logf=$4 t0 t1
    local -a w=()
    [ -n "$cache" ] && w=(RUSTC_WRAPPER="$zccache")
    (cd "$root" && cargo clean -q --offline)
    stop_daemon "$root" "$cache"
    t0=$(date +%s.%N)
    if ! (cd "$root" && run_env "$root" "$cache" "$remote" env -u RUSTC_WRAPPER -u RUSTFLAGS \
            CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never CARGO_TARGET_DIR="$root/target" "${w[@]}" \
            cargo build --offline --locked) >"$logf" 2>&1; then
        log "cargo build of $root failed, see below"
        tail -30 "$logf" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# hits/misses (Rust's own) and the remote's counters, one line.
rust_summary() {
    status "$1" "$2" | python3 -c '
import json, sys
s = json.load(sys.stdin); r = s.get("remote")
t = "%d rust hits, %d rust misses, %d passthrough" % (s.get("rust_hits", 0), s.get("rust_misses", 0), s.get("passthrough", 0))
if r:
    t += "; remote: " + ", ".join(f"{k} {r.get(k, 0)}" for k in
        ("hits", "misses", "manifest_without_entry", "errors", "timeouts", "published", "publish_errors"))
print(t)'
}

for r in $(seq 1 "$rust_reps"); do
    redis-cli -p "$redis_port" FLUSHALL >/dev/null
    for s in "${rust_scenarios[@]}"; do
        cache=$work/cache-$s-$r
        case $s in
            rust-none)
                t=$(timed_cargo "$RB" "" "" "$work/logs/$s-$r.log") ;;
            rust-local-warm)
                timed_cargo "$RB" "$cache" "" "$work/logs/$s-$r-warmup.log" >/dev/null
                run_env "$RB" "$cache" "" "$zccache" zero-stats >/dev/null 2>&1 || true
                t=$(timed_cargo "$RB" "$cache" "" "$work/logs/$s-$r.log") ;;
            rust-remote-warm)
                url="redis://127.0.0.1:$redis_port/0"
                acache=$work/cache-rust-a-$r
                timed_cargo "$RA" "$acache" "$url" "$work/logs/rust-a-$r.log" >/dev/null
                publications_settled "$RA" "$acache"
                stop_daemon "$RA" "$acache"
                t=$(timed_cargo "$RB" "$cache" "$url" "$work/logs/$s-$r.log") ;;
        esac
        rruns[$s]+="$t "
        [ "$s" != rust-none ] && rnotes[$s]=$(rust_summary "$RB" "$cache")
        stop_daemon "$RB" "$cache"
        log "rust round $r: $s $t s (${rnotes[$s]})"
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'; }
declare -A med
for s in "${all_scenarios[@]}"; do
    # shellcheck disable=SC2086
    med[$s]=$(median ${runs[$s]})
done
for s in "${rust_scenarios[@]}"; do
    # shellcheck disable=SC2086
    med[$s]=$(median ${rruns[$s]})
done
# p50 of one compile's wall time (ms) in scenario $1, over every round.
p50_ms() {
    [ -s "$work/times/$1" ] || { echo "—"; return; }
    sort -n "$work/times/$1" | awk '{ v[NR] = $1 } END { printf "%.1f", ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }'
}
per_tu_ms() { awk -v a="$1" -v b="$2" -v n="$tus" 'BEGIN { printf "%+.1f", (a - b) * 1000 / n }'; }

mkdir -p "$(dirname "$out_md")"
{
    echo "# The remote tier: B served from Redis vs B's local cache vs no cache; a sick remote"
    echo
    echo "Project: Lua $(basename "$lua" | sed 's/^lua-//') (crate lua-src), $tus compiles"
    echo "(\`gcc -g -O2 -Wall -Wextra -I<root>/src -MD -c <root>/src/x.c -o <root>/build/x.o\`) and an \`ar\`,"
    echo "\`make -j$jobs\`. Two copies at different absolute paths (\`machine-a/src/lua\`, \`machine-b/checkouts/feature/lua\`),"
    echo "each its own cache root and runtime dir, \`ZCCACHE_PATH_REMAP=auto\`. Redis: one local \`redis-server\` on loopback."
    echo "Every timed build starts from a stopped daemon; times are wall seconds, medians of $reps rounds, the"
    echo "scenarios interleaved per round. Default remote settings (100 ms lookup deadline, breaker after 3"
    echo "failures, 2 s cooldown). Produced by \`bench/remote.sh\`."
    echo
    echo "| scenario | what | runs (s) | median (s) | vs reference | p50 compile (ms) |"
    echo "|---|---|---|---|---|---|"
    echo "| none | plain gcc | ${runs[none]% } | ${med[none]} | — | $(p50_ms none) |"
    echo "| local warm | B's second build into its own cache | ${runs[local-warm]% } | ${med[local-warm]} | $(ratio "${med[local-warm]}" "${med[none]}") × none | $(p50_ms local-warm) |"
    echo "| remote warm | B, empty cache, every entry from the Redis A filled | ${runs[remote-warm]% } | ${med[remote-warm]} | $(ratio "${med[remote-warm]}" "${med[local-warm]}") × local warm ($(per_tu_ms "${med[remote-warm]}" "${med[local-warm]}") ms per compile), $(ratio "${med[remote-warm]}" "${med[none]}") × none | $(p50_ms remote-warm) |"
    echo "| cold, no remote | B, empty cache, no remote | ${runs[cold-no-remote]% } | ${med[cold-no-remote]} | $(ratio "${med[cold-no-remote]}" "${med[none]}") × none | $(p50_ms cold-no-remote) |"
    echo "| cold, Redis down | the same, the remote a port nobody serves | ${runs[cold-redis-down]% } | ${med[cold-redis-down]} | $(ratio "${med[cold-redis-down]}" "${med[cold-no-remote]}") × cold, no remote | $(p50_ms cold-redis-down) |"
    echo "| cold, 500 ms | the same, behind a proxy delaying every reply 500 ms | ${runs[cold-500ms]% } | ${med[cold-500ms]} | $(ratio "${med[cold-500ms]}" "${med[cold-no-remote]}") × cold, no remote | $(p50_ms cold-500ms) |"
    echo
    echo "p50 compile: the median wall time of one compile (\`zccache gcc …\` or \`gcc …\` under \`make -j$jobs\`,"
    echo "through the same timing wrapper) over every round; remote warm minus local warm is what a remote hit"
    echo "costs over a local one: $(awk -v a="$(p50_ms remote-warm)" -v b="$(p50_ms local-warm)" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%+.1f ms", a - b; else print "—" }')."
    echo
    if [ "$rust_reps" -gt 0 ]; then
        echo "Rust crate graph: \`bench/rust-graph\` ($crates packages), \`cargo build --offline --locked\`,"
        echo "\`CARGO_INCREMENTAL=0\`, zccache as \`RUSTC_WRAPPER\`, each checkout's target dir inside it"
        echo "(\`machine-a/src/rust-graph\`, \`machine-b/checkouts/feature/rust-graph\`), from \`cargo clean\`; $rust_reps round(s)."
        echo
        echo "| scenario | what | runs (s) | median (s) | vs reference |"
        echo "|---|---|---|---|---|"
        echo "| rust none | plain cargo | ${rruns[rust-none]% } | ${med[rust-none]} | — |"
        echo "| rust local warm | B's second build into its own cache | ${rruns[rust-local-warm]% } | ${med[rust-local-warm]} | $(ratio "${med[rust-local-warm]}" "${med[rust-none]}") × none |"
        echo "| rust remote warm | B, empty cache, served from the Redis A filled | ${rruns[rust-remote-warm]% } | ${med[rust-remote-warm]} | $(ratio "${med[rust-remote-warm]}" "${med[rust-local-warm]}") × local warm, $(ratio "${med[rust-remote-warm]}" "${med[rust-none]}") × none |"
        echo
        echo "| scenario | B's counters, last round |"
        echo "|---|---|"
        for s in rust-local-warm rust-remote-warm; do
            echo "| $s | ${rnotes[$s]} |"
        done
        echo
    fi
    echo "B's counters in the last round (\`zccache status --json\`):"
    echo
    echo "| scenario | counters |"
    echo "|---|---|"
    for s in local-warm remote-warm cold-no-remote cold-redis-down cold-500ms; do
        echo "| $s | ${notes[$s]} |"
    done
    echo
    echo "| machine | |"
    echo "|---|---|"
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo "| cores | $(nproc) |"
    echo "| load (1/5/15 min) at start / end | $load_start / $load_end |"
    echo "| run time | $(( $(date +%s) - started )) s |"
    echo "| gcc | $(gcc --version | head -1) |"
    echo "| redis-server | $(redis-server --version | head -1) |"
    echo "| zccache | $("$zccache" --version) ($zccache), $([ -n "${built_at:-}" ] && echo "built at $built_at" || echo "prebuilt, not rebuilt by this run") |"
    [ -n "${REMOTE_BENCH_NOTE:-}" ] && echo "| note | $REMOTE_BENCH_NOTE |"
} >"$out_md.tmp"
mv "$out_md.tmp" "$out_md"
cat "$out_md"
