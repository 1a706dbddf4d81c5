#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Benchmark: warm `cargo build` after `cargo clean` with no cache, sccache
# and zccache as RUSTC_WRAPPER, in one run on the same project (the
# conformance test workspace, conformance/fixtures/rust/proj: five workspace
# crates on about fifty crates.io crates, serde with derive, regex, …).
# Each tool gets its own target dir and cache; one cold build fills the
# cache, then REPS rounds of (`cargo clean`; timed `cargo build`), the tools
# interleaved round by round so machine drift hits all of them alike. Prints
# a table (median of the warm runs, ratio to no cache and to sccache) and
# writes bench/results/cargo.md. Not part of CI.
#
# CARGO_INCREMENTAL=0 for every tool: incremental units pass through
# zccache by design, and sccache errors out on them.
#
# Usage: bench/cargo.sh
# Environment:
#   CARGO_BENCH_REPS=3      warm rounds per tool
#   BENCH_SKIP_BUILD=1      use target/release/zccache as it is
#   ZCCACHE_BIN_DIR=DIR     measure the zccache in DIR (no build)
#   BENCH_WORK_DIR=DIR      where target dirs and caches go (default /tmp)
#   SCCACHE=PATH            the sccache binary, 0.19 or newer (default: the one bench/run.sh
#                           installs, ~/.cache/zccache-bench/sccache/bin/sccache)
#   CARGO_BENCH_OUT=FILE    markdown output (default bench/results/cargo.md)
#   CARGO_BENCH_NOTE=TEXT   a note row for the machine table
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
log() { printf '[cargo-bench] %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
reps=${CARGO_BENCH_REPS:-3}
out_md=${CARGO_BENCH_OUT:-bench/results/cargo.md}
sccache=${SCCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zccache-bench/sccache/bin/sccache}

if [ -n "${ZCCACHE_BIN_DIR:-}" ]; then
    zccache="$ZCCACHE_BIN_DIR/zccache"
else
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        log "cargo build --release --locked --bins"
        cargo build --release --locked --bins >&2
    fi
    zccache="$repo/target/release/zccache"
fi
[ -x "$zccache" ] || { log "no zccache at $zccache"; exit 1; }

tools=(none zccache)
# Debian's sccache 0.4 is years old: only 0.19 or newer is a fair peer.
sc_version=$("$sccache" --version 2>/dev/null | awk '{ print $2 }' || true)
if [ -n "$sc_version" ] && [ "$(printf '0.19.0\n%s\n' "$sc_version" | sort -V | head -1)" = 0.19.0 ]; then
    tools=(none sccache zccache)
else
    log "no sccache 0.19+ at $sccache (bench/run.sh installs one); it is skipped"
fi

work=$(mktemp -d "${BENCH_WORK_DIR:-/tmp}/zcc-cargo.XXXXXX")
cleanup() {
    [ -n "${SCCACHE_PID_STARTED:-}" ] && tool_env sccache "$sccache" --stop-server >/dev/null 2>&1 || true
    tool_env zccache "$zccache" stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
cp -r conformance/fixtures/rust/proj "$work/proj"
mkdir -p "$(dirname "$out_md")"

# The environment of every cargo run: nothing of the caller's cargo, rustc
# or cache configuration, plus the tool's wrapper and private cache.
tool_env() {
    local tool=$1
    shift
    local -a e=(env)
    local v
    for v in $(compgen -e); do
        case $v in
            CARGO_HOME | CARGO_BENCH_*) ;;
            CARGO_* | RUSTC* | RUSTFLAGS | RUSTDOC* | SCCACHE_* | ZCCACHE_* | MAKEFLAGS | MFLAGS) e+=(-u "$v") ;;
        esac
    done
    e+=(CARGO_TARGET_DIR="$work/target-$tool" CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never
        CARGO_TERM_PROGRESS_WHEN=never ZCC_TEST_VAR=one)
    case $tool in
        sccache) e+=(RUSTC_WRAPPER="$sccache" SCCACHE_DIR="$work/cache-sccache"
                     SCCACHE_SERVER_PORT=4237 SCCACHE_IDLE_TIMEOUT=0) ;;
        zccache) e+=(RUSTC_WRAPPER="$zccache" ZCCACHE_CACHE_DIR="$work/cache-zccache"
                     ZCCACHE_RUNTIME_DIR="$work/rt" ZCCACHE_IDLE_TIMEOUT=0) ;;
    esac
    "${e[@]}" "$@"
}

# Seconds (3 decimals) one cargo build takes; its output goes to a log.
timed_build() {
    local tool=$1 logf=$2 t0 t1
    t0=$(date +%s.%N)
    if ! (cd "$work/proj" && tool_env "$tool" cargo build) >"$logf" 2>&1; then
        log "$tool: cargo build failed, see below"
        tail -30 "$logf" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "cargo fetch"
(cd "$work/proj" && tool_env none cargo fetch -q) >&2

if [[ " ${tools[*]} " == *" sccache "* ]]; then
    tool_env sccache "$sccache" --stop-server >/dev/null 2>&1 || true
    tool_env sccache "$sccache" --start-server >/dev/null
    SCCACHE_PID_STARTED=1
fi

declare -A cold warm_runs
for tool in "${tools[@]}"; do
    log "$tool: cold build"
    cold[$tool]=$(timed_build "$tool" "$work/$tool-cold.log")
    log "$tool: cold ${cold[$tool]} s"
    warm_runs[$tool]=""
done
# Counters after the cold builds, so the table shows the warm rounds only.
zc_before=$(tool_env zccache "$zccache" status --json || echo '{}')
sc_before=""
[ -n "${SCCACHE_PID_STARTED:-}" ] && sc_before=$(tool_env sccache "$sccache" --show-stats --stats-format json)

for r in $(seq 1 "$reps"); do
    for tool in "${tools[@]}"; do
        (cd "$work/proj" && tool_env "$tool" cargo clean -q) >&2
        t=$(timed_build "$tool" "$work/$tool-warm$r.log")
        log "$tool: warm round $r: $t s"
        warm_runs[$tool]+="$t "
        if grep -q 'Compiling app' "$work/$tool-warm$r.log"; then :; else
            log "$tool: warm round $r did not compile app (cargo thought it fresh?)"
        fi
    done
done
zc_after=$(tool_env zccache "$zccache" status --json || echo '{}')
sc_after=""
[ -n "${SCCACHE_PID_STARTED:-}" ] && sc_after=$(tool_env sccache "$sccache" --show-stats --stats-format json)

# Hits/misses/passthrough over the warm rounds.
counts=$(python3 - "$zc_before" "$zc_after" "$sc_before" "$sc_after" <<'EOF'
import json, sys
zb, za, sb, sa = sys.argv[1:5]
zb, za = json.loads(zb), json.loads(za)
d = lambda k: za.get(k, 0) - zb.get(k, 0)
print(f"zccache={d('hits')} hits, {d('misses')} misses, {d('passthrough')} passthrough")
if sa:
    def total(s, k):
        def add(v):
            return sum(add(x) for x in v.values()) if isinstance(v, dict) else (v or 0)
        return add(s.get("stats", s).get(k, 0))
    sb, sa = json.loads(sb), json.loads(sa)
    h = total(sa, "cache_hits") - total(sb, "cache_hits")
    m = total(sa, "cache_misses") - total(sb, "cache_misses")
    nc = total(sa, "non_cacheable_calls") - total(sb, "non_cacheable_calls")
    print(f"sccache={h} hits, {m} misses, {nc} not cacheable")
EOF
)
count_of() { printf '%s\n' "$counts" | sed -n "s/^$1=//p"; }

declare -A med
for tool in "${tools[@]}"; do
    # shellcheck disable=SC2086
    med[$tool]=$(median ${warm_runs[$tool]})
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

units=$(grep -c 'Compiling ' "$work/none-cold.log" || true)
{
    echo "# Warm \`cargo build\` after \`cargo clean\`: no cache vs sccache vs zccache"
    echo
    echo "Project: conformance/fixtures/rust/proj ($units crates compiled per build: serde with derive,"
    echo "serde_json, regex, parking_lot, indexmap and 25 more direct dependencies from crates.io, plus 5 workspace"
    echo "crates). Each tool: own target dir and cache, one cold build, then $reps rounds of"
    echo "\`cargo clean\` + timed \`cargo build\`, the tools interleaved round by round."
    echo "\`CARGO_INCREMENTAL=0\` for all. Produced by \`bench/cargo.sh\`."
    echo
    echo "| tool | cold build (s) | warm builds (s) | warm median (s) | vs no cache | vs sccache | warm-round counters |"
    echo "|---|---|---|---|---|---|---|"
    for tool in "${tools[@]}"; do
        vs_sc="—"
        [ -n "${med[sccache]:-}" ] && vs_sc=$(ratio "${med[$tool]}" "${med[sccache]}")
        c="—"
        [ "$tool" != none ] && c=$(count_of "$tool")
        echo "| $tool | ${cold[$tool]} | ${warm_runs[$tool]% } | ${med[$tool]} | $(ratio "${med[$tool]}" "${med[none]}") | $vs_sc | $c |"
    done
    echo
    echo "Ratios are warm medians divided by the no-cache (resp. sccache) warm median: below 1 is faster."
    echo
    echo "| machine | |"
    echo "|---|---|"
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo "| cores | $(nproc) |"
    echo "| load (1/5/15 min) at the end | $(cut -d' ' -f1-3 /proc/loadavg) |"
    echo "| rustc | $(rustc --version) |"
    echo "| cargo | $(cargo --version) |"
    [ -n "${med[sccache]:-}" ] && echo "| sccache | $("$sccache" --version) ($sccache) |"
    echo "| zccache | $("$zccache" --version) ($zccache) |"
    echo "| work dir filesystem | $(df -T "$work" | awk 'NR == 2 { print $2 }') |"
    [ -n "${CARGO_BENCH_NOTE:-}" ] && echo "| note | $CARGO_BENCH_NOTE |"
} >"$out_md.tmp"
mv "$out_md.tmp" "$out_md"
cat "$out_md"
