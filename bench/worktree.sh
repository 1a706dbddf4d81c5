#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Benchmark: building git worktree B after worktree A of the same
# repository, against building B alone into an empty cache, for no cache,
# ccache (base_dir = the parent of the worktrees) and zccache
# (ZCCACHE_PATH_REMAP=auto). Not part of CI.
#
# The project is Lua 5.4 (crates.io crate lua-src, as bench/run.sh gets it)
# committed to a git repository; A is its main checkout and B a
# `git worktree add` at another absolute path. The build is a small
# Makefile (liblua.a) whose compile commands are spelled as CMake spells them:
# absolute sources, absolute -I, absolute -o, `-g -O2 -MD`, so every
# command line and every debug-info string names the worktree's root.
#
# For each tool and round, with an empty cache each time:
#   B cold      build B alone (timed)
#   B after A   build A (untimed), then `make clean` in B and build B (timed)
# The tools are interleaved round by round so machine drift hits all of
# them alike. Reports medians, B-after-A / B-cold per tool, zccache vs
# ccache on B-after-A, the tools' own counters for the B-after-A build, and
# how many of B's outputs contain A's root. Writes bench/results/worktree.md.
#
# Usage: bench/worktree.sh
# Environment:
#   WT_BENCH_REPS=3         rounds
#   WT_BENCH_JOBS=2         make -j
#   WT_BENCH_TOOLS="none ccache ccache-nohashdir zccache"
#                           ccache-nohashdir is ccache with hash_dir = false,
#                           which hits across worktrees at the price of debug
#                           info naming the other root
#   BENCH_SKIP_BUILD=1      use target/release/zccache as it is
#   ZCCACHE_BIN_DIR=DIR     measure the zccache in DIR (no build)
#   LUA_DIR=DIR             Lua sources (the dir holding lapi.c); default: fetch lua-src
#   BENCH_WORK_DIR=DIR      where the repository and caches go (default /tmp)
#   WT_BENCH_OUT=FILE       markdown output (default bench/results/worktree.md)
#   WT_BENCH_NOTE=TEXT      a note row for the machine table
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$repo"
log() { printf '[worktree-bench] %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
reps=${WT_BENCH_REPS:-3}
jobs=${WT_BENCH_JOBS:-2}
out_md=${WT_BENCH_OUT:-bench/results/worktree.md}
read -r -a tools <<<"${WT_BENCH_TOOLS:-none ccache ccache-nohashdir zccache}"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)

# --- zccache ----------------------------------------------------------------
if [ -n "${ZCCACHE_BIN_DIR:-}" ]; then
    zccache="$ZCCACHE_BIN_DIR/zccache"
else
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        log "cargo build --release --locked --bins"
        cargo build --release --locked --bins >&2
        built_at=$(git rev-parse --short HEAD)
        git diff --quiet HEAD -- Cargo.toml Cargo.lock frame router sys broker daemon wrapper || built_at+=" with uncommitted changes"
    fi
    zccache="$repo/target/release/zccache"
fi
for t in "${tools[@]}"; do
    case $t in
        none) ;;
        ccache | ccache-nohashdir) command -v ccache >/dev/null || { log "ccache not installed"; exit 1; } ;;
        zccache) [ -x "$zccache" ] || { log "no zccache at $zccache"; exit 1; } ;;
        *) log "unknown tool $t"; exit 1 ;;
    esac
done

# --- Lua sources, through the crates.io package lua-src ----------------------
lua=${LUA_DIR:-}
if [ -z "$lua" ]; then
    lua=$(bash bench/lua.sh) || { log "cargo fetch of lua-src failed"; exit 1; }
fi
[ -n "$lua" ] && [ -f "$lua/lapi.c" ] || { log "no Lua sources (lapi.c) in '$lua'"; exit 1; }

# --- the repository and its two worktrees ------------------------------------
work=$(mktemp -d "${BENCH_WORK_DIR:-/tmp}/zcc-wt.XXXXXX")
work=$(readlink -f "$work")
wt=$work/wt            # the parent of both worktrees: ccache's base_dir
A=$wt/main
B=$wt/feature
cleanup() {
    [[ " ${tools[*]} " == *" zccache "* ]] &&
        ZCCACHE_RUNTIME_DIR="$work/rt" "$zccache" stop --all >/dev/null 2>&1 || true
    [ "${WT_BENCH_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$A/src" "$work/rt" "$work/logs"
chmod 700 "$work/rt"
cp "$lua"/*.c "$lua"/*.h "$A/src/"
cat >"$A/Makefile" <<'MAKE'
# Lua 5.4's core and libraries as one archive, with compile commands
# spelled as CMake spells them (absolute sources, -I and -o), so each
# names the worktree's root.
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
-include $(wildcard $(ROOT)/build/*.d)
MAKE
printf 'build/\n' >"$A/.gitignore"
git_q() { git -c user.name=bench -c user.email=bench@localhost -c init.defaultBranch=main "$@" >/dev/null 2>&1; }
git_q -C "$A" init
git_q -C "$A" add -A
git_q -C "$A" commit -m "lua $(basename "$lua")"
git_q -C "$A" worktree add -b feature "$B"
[ -f "$B/.git" ] || { log "git worktree add failed"; exit 1; }
tus=$(ls "$A"/src/*.c | wc -l)

# The environment of every build: nothing of the caller's cache or make
# configuration, plus the tool's private cache. $1 = tool, $2 = cache dir.
tool_env() {
    local tool=$1 cache=$2
    shift 2
    local -a e=(env LC_ALL=C)
    local v
    for v in $(compgen -e); do
        case $v in
            CCACHE_* | SCCACHE_* | ZCCACHE_* | MAKEFLAGS | MFLAGS | MAKELEVEL | CC | CFLAGS | CPPFLAGS) e+=(-u "$v") ;;
        esac
    done
    case $tool in
        ccache) e+=(CCACHE_DIR="$cache" CCACHE_BASEDIR="$wt") ;;
        ccache-nohashdir) e+=(CCACHE_DIR="$cache" CCACHE_BASEDIR="$wt" CCACHE_NOHASHDIR=1) ;;
        zccache) e+=(ZCCACHE_CACHE_DIR="$cache" ZCCACHE_RUNTIME_DIR="$work/rt" ZCCACHE_IDLE_TIMEOUT=0
                     ZCCACHE_PATH_REMAP=auto) ;;
    esac
    "${e[@]}" "$@"
}
cc_of() {
    case $1 in
        none) echo gcc ;;
        ccache | ccache-nohashdir) echo "ccache gcc" ;;
        zccache) echo "$zccache gcc" ;;
    esac
}

# Seconds (3 decimals) one build of worktree $3 takes; output to a log.
timed_build() {
    local tool=$1 cache=$2 root=$3 logf=$4 t0 t1
    tool_env "$tool" "$cache" make -s -C "$root" clean >/dev/null 2>&1
    t0=$(date +%s.%N)
    if ! tool_env "$tool" "$cache" make -C "$root" -j"$jobs" CC="$(cc_of "$tool")" >"$logf" 2>&1; then
        log "$tool: build of $root failed, see below"
        tail -30 "$logf" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    [ -s "$root/build/liblua.a" ] || { log "$tool: no $root/build/liblua.a after the build"; exit 1; }
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# The tool's own counters as one JSON object ({} for no cache).
counters() {
    local tool=$1 cache=$2
    case $tool in
        ccache | ccache-nohashdir) tool_env "$tool" "$cache" ccache --print-stats | python3 -c '
import json, sys
v = dict(l.rstrip("\n").split("\t", 1) for l in sys.stdin if "\t" in l)
n = lambda k: int(v.get(k, 0))
print(json.dumps({"hits": n("direct_cache_hit") + n("preprocessed_cache_hit"),
                  "direct": n("direct_cache_hit"), "preprocessed": n("preprocessed_cache_hit"),
                  "misses": n("cache_miss")}))' ;;
        zccache) tool_env zccache "$cache" "$zccache" status --json ;;
        *) echo '{}' ;;
    esac
}

# Counters of the B-after-A build: after minus before, as one short text.
counter_delta() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
tool, b, a = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
d = lambda k: int(a.get(k, 0) or 0) - int(b.get(k, 0) or 0)
if tool.startswith("ccache"):
    print(f"{d('hits')} hits ({d('direct')} direct, {d('preprocessed')} preprocessed), {d('misses')} misses")
elif tool == "zccache":
    fb = {k: v - (b.get("remap_fallbacks") or {}).get(k, 0) for k, v in (a.get("remap_fallbacks") or {}).items()}
    fb = ", ".join(f"{k} {v}" for k, v in sorted(fb.items()) if v)
    cr = "n/a" if "cross_root_hits" not in a else d("cross_root_hits")
    print(f"{d('hits')} hits, {d('misses')} misses, {cr} cross-root hits" + (f"; remap fallbacks: {fb}" if fb else ""))
else:
    print("—")
EOF
}

stop_tool() {
    local tool=$1 cache=$2
    if [ "$tool" = zccache ]; then
        tool_env zccache "$cache" "$zccache" stop --all >/dev/null 2>&1 || true
    fi
}

# How many of B's objects (resp. depfiles) contain A's root.
leaks() {
    local o d
    o=$(grep -l -F "$A" "$B"/build/*.o 2>/dev/null | wc -l)
    d=$(grep -l -F "$A" "$B"/build/*.d 2>/dev/null | wc -l)
    echo "$o/$tus objects, $d/$tus depfiles"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'; }

declare -A cold_runs after_runs hits leak
for tool in "${tools[@]}"; do cold_runs[$tool]=""; after_runs[$tool]=""; hits[$tool]=""; leak[$tool]=""; done
n=0
for r in $(seq 1 "$reps"); do
    for tool in "${tools[@]}"; do
        n=$((n + 1))
        cache=$work/cache/$tool-$r-cold
        t=$(timed_build "$tool" "$cache" "$B" "$work/logs/$tool-$r-bcold.log")
        stop_tool "$tool" "$cache"
        rm -rf "$cache"
        cold_runs[$tool]+="$t "
        log "round $r: $tool: B cold $t s"

        cache=$work/cache/$tool-$r-after
        ta=$(timed_build "$tool" "$cache" "$A" "$work/logs/$tool-$r-a.log")
        before=$(counters "$tool" "$cache")
        t=$(timed_build "$tool" "$cache" "$B" "$work/logs/$tool-$r-bafter.log")
        after=$(counters "$tool" "$cache")
        c=$(counter_delta "$tool" "$before" "$after")
        l=$(leaks)
        if [ "$tool" = ccache ] && [ "$r" = 1 ]; then
            ccache_conf=$(tool_env ccache "$cache" ccache -p | grep -E '\) (base_dir|hash_dir|direct_mode|depend_mode|run_second_cpp|sloppiness) ' || true)
        fi
        stop_tool "$tool" "$cache"
        rm -rf "$cache"
        after_runs[$tool]+="$t "
        hits[$tool]+="$c|"
        leak[$tool]+="$l|"
        log "round $r: $tool: A $ta s, B after A $t s ($c; A's root in B: $l)"
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A med_cold med_after
for tool in "${tools[@]}"; do
    # shellcheck disable=SC2086
    med_cold[$tool]=$(median ${cold_runs[$tool]})
    # shellcheck disable=SC2086
    med_after[$tool]=$(median ${after_runs[$tool]})
done
# The per-round texts once when every round agrees, else joined.
same_or_all() {
    local -a parts
    IFS='|' read -r -a parts <<<"${1%|}"
    if [ "$(printf '%s\n' "${parts[@]}" | sort -u | wc -l)" = 1 ]; then
        echo "${parts[0]}"
    else
        local IFS=';'
        echo "${parts[*]}" | sed 's/;/ · /g'
    fi
}

mkdir -p "$(dirname "$out_md")"
{
    echo "# Worktree B after worktree A: no cache vs ccache vs zccache"
    echo
    echo "Project: Lua $(basename "$lua" | sed 's/^lua-//') (crate lua-src) in a git repository; A is the main"
    echo "checkout, B a \`git worktree add\` of the same commit at another absolute path (\`$wt/{main,feature}\`)."
    echo "Build: \`make -j$jobs\`, $tus compiles (\`gcc -g -O2 -Wall -Wextra -I<root>/src -MD -c <root>/src/x.c -o <root>/build/x.o\`,"
    echo "every path absolute as CMake spells it), and an \`ar\`. For each tool and round, into an empty"
    echo "cache each time: **B cold** builds B alone; **B after A** builds A (untimed), then cleans B and builds it"
    echo "(timed). $reps rounds, the tools interleaved round by round; times are wall seconds, medians over the rounds."
    echo "ccache: private \`CCACHE_DIR\`, \`CCACHE_BASEDIR=$wt\` (the parent of the worktrees), all else default."
    [[ " ${tools[*]} " == *" ccache-nohashdir "* ]] &&
        echo "ccache-nohashdir: the same plus \`CCACHE_NOHASHDIR=1\` (hash_dir = false: the cwd is left out of the key under \`-g\`)."
    echo "zccache: private \`ZCCACHE_CACHE_DIR\` and runtime dir, \`ZCCACHE_PATH_REMAP=auto\`; daemons stopped after"
    echo "every build pair. Produced by \`bench/worktree.sh\`."
    echo
    echo "| tool | B cold (s) | B after A (s) | B cold median | B after A median | after A / cold |"
    echo "|---|---|---|---|---|---|"
    for tool in "${tools[@]}"; do
        echo "| $tool | ${cold_runs[$tool]% } | ${after_runs[$tool]% } | ${med_cold[$tool]} | ${med_after[$tool]} | $(ratio "${med_after[$tool]}" "${med_cold[$tool]}") |"
    done
    echo
    # Every pair of B-after-A medians worth a sentence, below 1 = first is faster.
    pairs=()
    for p in zccache:ccache zccache:ccache-nohashdir zccache:none ccache:none ccache-nohashdir:none; do
        x=${p%%:*} y=${p#*:}
        [ -n "${med_after[$x]:-}" ] && [ -n "${med_after[$y]:-}" ] &&
            pairs+=("$x / $y $(ratio "${med_after[$x]}" "${med_after[$y]}")")
    done
    if [ ${#pairs[@]} -gt 0 ]; then
        printf 'Ratios of the B-after-A medians (below 1 is faster): %s.\n\n' "$(IFS=';'; echo "${pairs[*]}" | sed 's/;/, /g')"
    fi
    echo "What B's build did in the B-after-A rounds (the tool's own counters for that build alone), and how"
    echo "many of B's outputs contain the bytes of A's root (\`grep -F $A\`):"
    echo
    echo "| tool | counters, B after A | B's outputs naming A's root |"
    echo "|---|---|---|"
    for tool in "${tools[@]}"; do
        echo "| $tool | $(same_or_all "${hits[$tool]}") | $(same_or_all "${leak[$tool]}") |"
    done
    echo
    echo "How to read it: ccache's \`base_dir\` makes paths under it relative in what ccache hashes, but"
    echo "with \`-g\` and the default \`hash_dir = true\` ccache also hashes the cwd (it leaves it out only"
    echo "when a \`-fdebug-prefix-map\` maps it), and the cwd is the worktree's root, so B misses."
    echo "With \`hash_dir = false\` B hits, but the objects are A's: their debug info names A's sources."
    echo "ccache writes the depfile paths under \`base_dir\` relative to the cwd, so depfiles do not"
    echo "name A. zccache under \`ZCCACHE_PATH_REMAP=auto\` keys paths under the worktree root root-free"
    echo "and compiles misses with \`-ffile-prefix-map=<root>=.\`, so A's objects are valid in B."
    echo
    if [ -n "${ccache_conf:-}" ]; then
        echo "ccache's effective settings (\`ccache -p\`):"
        echo
        echo '```'
        echo "$ccache_conf"
        echo '```'
        echo
    fi
    echo "| machine | |"
    echo "|---|---|"
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo "| cores | $(nproc) |"
    echo "| load (1/5/15 min) at start / end | $load_start / $load_end |"
    echo "| run time | $(( $(date +%s) - started )) s |"
    echo "| gcc | $(gcc --version | head -1) |"
    echo "| make | $(make --version | head -1) |"
    [[ " ${tools[*]} " == *" ccache"* ]] && echo "| ccache | $(ccache --version | head -1) |"
    [[ " ${tools[*]} " == *" zccache "* ]] && echo "| zccache | $("$zccache" --version) ($zccache), $([ -n "${built_at:-}" ] && echo "built at $built_at" || echo "prebuilt, not rebuilt by this run") |"
    echo "| work dir filesystem | $(df -T "$work" | awk 'NR == 2 { print $2 }') |"
    [ -n "${WT_BENCH_NOTE:-}" ] && echo "| note | $WT_BENCH_NOTE |"
} >"$out_md.tmp"
mv "$out_md.tmp" "$out_md"
cat "$out_md"
