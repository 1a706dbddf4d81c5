#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""No cache vs ccache vs sccache vs zccache, on the same inputs, in one run
on one host, the configurations interleaved and rotated.

Measures, for every tool in one run:
  (a) per hit: a small C file compiled N times in a row on a warm cache,
      minus N spawns of /bin/true (the spawn floor), and single calls;
  (b) real projects (libgit2, LevelDB, Lua, Lua through emcc, a Rust crate
      graph; see projects.py): a cold build into an empty cache, a warm
      rebuild (objects removed, cache full) and a no-change rebuild after
      touching every source;
  (c) 64 concurrent clients issuing hits: p50/p99 per tool;
  (d) resident memory of the idle zccache daemon and broker, and of
      sccache's server for reference.
Every cached figure carries the tool's own counters over that run, so a
"fast" run that was misses shows; every phase carries the load average and
the share of CPU time stolen by the hypervisor (/proc/stat) while it ran.

Not a test; CI does not run it. Run through bench/run.sh, which installs the
peers and builds zccache first. README.md says what each figure means.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import projects  # noqa: E402
import stats  # noqa: E402

HIT_C = r"""
/* The per-hit probe: a few system headers so the preprocessor has real
 * work, and enough code that a plain compile is not trivially cheap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pair { const char *key; int value; };

static int cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return strcmp(x->key, y->key);
}

int probe(int argc, char **argv)
{
    struct pair *p = calloc((size_t)argc, sizeof *p);
    if (!p)
        return 1;
    for (int i = 0; i < argc; i++) {
        p[i].key = argv[i];
        p[i].value = (int)strlen(argv[i]);
    }
    qsort(p, (size_t)argc, sizeof *p, cmp);
    for (int i = 0; i < argc; i++)
        printf("%s=%d\n", p[i].key, p[i].value);
    free(p);
    return 0;
}
"""

LOOP_SH = """\
# Runs "$@" $1 times in a row; stops at the first failure.
n=$1; shift
i=0
while [ "$i" -lt "$n" ]; do "$@" || exit 1; i=$((i + 1)); done
"""

TOOLS = ("plain", "ccache", "sccache", "zccache")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.SubprocessError):
        return "not available"


def base_env():
    """The caller's environment without anything that would steer one of
    the tools, make or cargo (a stray CCACHE_DISABLE, RUSTC_WRAPPER or
    MAKEFLAGS=-j64 would skew one column only)."""
    env = {}
    for k, v in os.environ.items():
        if k.startswith(("CCACHE_", "SCCACHE_", "ZCCACHE_", "RUSTC", "RUSTFLAGS", "RUSTDOC")):
            continue
        if k.startswith("CARGO_") and k != "CARGO_HOME":
            continue
        if k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CC", "CXX"):
            continue
        env[k] = v
    env.update(LC_ALL="C", CARGO_INCREMENTAL="0", CARGO_TERM_COLOR="never", CARGO_TERM_PROGRESS_WHEN="never")
    return env


# --- machine load -------------------------------------------------------------


def cpu_times():
    """(total, steal) jiffies of all CPUs from /proc/stat."""
    try:
        f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        v = [int(x) for x in f[:8]] + [0] * (8 - len(f[:8]))
        return sum(v), v[7]
    except (OSError, ValueError, IndexError):
        return None


def loadavg():
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


class Phase:
    """The machine's load while one measured thing ran: 1-minute load
    average at its end and the % of CPU time stolen during it."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.cpu0 = cpu_times()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        cpu1 = cpu_times()
        la = loadavg()
        self.load = la[0] if la else None
        self.steal = None
        if self.cpu0 and cpu1 and cpu1[0] > self.cpu0[0]:
            self.steal = 100.0 * (cpu1[1] - self.cpu0[1]) / (cpu1[0] - self.cpu0[0])
        return False

    def record(self, **extra):
        return dict({"seconds": self.seconds, "load1": self.load, "steal_pct": self.steal}, **extra)


# --- tools --------------------------------------------------------------------


def proc_status(pid):
    """VmRSS and VmHWM of pid in KiB, from /proc/PID/status."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return out


def find_procs(exe, env_key, env_value):
    """Pids whose executable is exe and whose environment has
    env_key=env_value: our own server, not another user's or helper's."""
    pids = []
    want = f"{env_key}={env_value}".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.readlink(d / "exe") != str(exe):
                continue
            if want in (d / "environ").read_bytes().split(b"\0"):
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


class Tool:
    """One column of the comparison: how to prefix a compile, its private
    cache dir, how to empty it, and how to read its hit/miss counters."""

    rust = True  # usable as RUSTC_WRAPPER

    def __init__(self, name, exe, extra_env, cache_dir):
        self.name = name
        self.exe = exe
        self.cache_dir = cache_dir
        self.env = dict(base_env(), **extra_env)
        self.skipped = None

    @property
    def prefix(self):
        return [str(self.exe)] if self.exe else []

    def start(self):
        pass

    def stop(self):
        pass

    def reset(self):
        """Empties the cache: the next build is a cold one."""
        self.stop()
        if self.cache_dir:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
            self.cache_dir.mkdir(parents=True)
        self.start()

    def counters(self):
        """{"hits", "misses", ...}, or None for a tool without a cache."""
        return None

    def servers(self):
        """{role: pid} of this tool's long-running processes."""
        return {}

    def version(self):
        return first_line(self.prefix + ["--version"]) if self.exe else "-"


class Plain(Tool):
    def __init__(self, work):
        super().__init__("plain", None, {}, None)

    def version(self):
        return "no cache"


class Ccache(Tool):
    rust = False

    def __init__(self, work, exe):
        d = work / "cache-ccache"
        super().__init__("ccache", exe, {"CCACHE_DIR": str(d)}, d)

    def counters(self):
        out = subprocess.run([self.exe, "--print-stats"], env=self.env, capture_output=True, text=True, check=True)
        v = {}
        for line in out.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[1].strip().isdigit():
                v[parts[0]] = int(parts[1])
        hits = v.get("direct_cache_hit", 0) + v.get("preprocessed_cache_hit", 0)
        # Everything that is neither a hit nor a miss nor bookkeeping: the
        # calls ccache did not cache (called_for_link, compile_failed, ...).
        book = ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss", "direct_cache_miss",
                "preprocessed_cache_miss", "cache_size_kibibyte", "files_in_cache", "stats_zeroed_timestamp",
                "stats_updated_timestamp", "cleanups_performed", "recache")
        other = sum(n for k, n in v.items()
                    if k not in book and not k.startswith(("local_storage_", "remote_storage_", "primary_storage_")))
        return {"hits": hits, "misses": v.get("cache_miss", 0), "uncached": other}


class Sccache(Tool):
    # A port of our own so a user's sccache server on the default 4226,
    # with another cache dir, is neither used nor disturbed.
    PORT = "4391"

    def __init__(self, work, exe):
        d = work / "cache-sccache"
        super().__init__("sccache", exe,
                         {"SCCACHE_DIR": str(d), "SCCACHE_IDLE_TIMEOUT": "0", "SCCACHE_SERVER_PORT": self.PORT}, d)

    def start(self):
        subprocess.run([self.exe, "--stop-server"], env=self.env, capture_output=True)
        subprocess.run([self.exe, "--start-server"], env=self.env, capture_output=True, check=True)

    def stop(self):
        subprocess.run([self.exe, "--stop-server"], env=self.env, capture_output=True)

    def counters(self):
        out = subprocess.run([self.exe, "--show-stats", "--stats-format", "json"], env=self.env,
                             capture_output=True, text=True, check=True)
        s = json.loads(out.stdout)["stats"]

        def count(k):
            v = s.get(k, 0)
            # {"counts": {lang: n}, "adv_counts": {...}}: the same calls twice.
            return sum(v.get("counts", {}).values()) if isinstance(v, dict) else int(v or 0)

        return {"hits": count("cache_hits"), "misses": count("cache_misses"),
                "uncached": count("requests_not_cacheable") + count("non_cacheable_compilations")
                + count("requests_unsupported_compiler") + count("requests_not_compile")}

    def servers(self):
        pids = find_procs(Path(self.exe).resolve(), "SCCACHE_SERVER_PORT", self.PORT)
        return {"sccache server": pids[0]} if pids else {}


class Zccache(Tool):
    def __init__(self, work, exe):
        d = work / "cache-zccache"
        self.runtime = work / "zccache-rt"
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        super().__init__("zccache", exe, {"ZCCACHE_CACHE_DIR": str(d), "ZCCACHE_RUNTIME_DIR": str(self.runtime)}, d)

    def start(self):
        subprocess.run([self.exe, "start"], env=self.env, capture_output=True, check=True)

    def stop(self):
        subprocess.run([self.exe, "stop"], env=self.env, capture_output=True)

    def stop_all(self):
        subprocess.run([self.exe, "stop", "--all"], env=self.env, capture_output=True)

    def status(self):
        out = subprocess.run([self.exe, "status", "--json"], env=self.env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    def counters(self):
        s = self.status()
        return {"hits": int(s.get("hits", 0)), "misses": int(s.get("misses", 0)),
                "uncached": int(s.get("passthrough", 0))}

    def servers(self):
        out = {}
        try:
            out["zccache daemon"] = int(self.status()["pid"])
        except (subprocess.CalledProcessError, OSError, ValueError, KeyError):
            pass
        broker = Path(self.exe).resolve().parent / "zccache-broker"
        pids = find_procs(broker, "ZCCACHE_RUNTIME_DIR", str(self.runtime))
        if pids:
            out["zccache broker"] = pids[0]
        return out


def delta(before, after):
    if before is None or after is None:
        return None
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def check_of(d, expected):
    """'hits/expected (+misses, uncached)' and whether it was all hits."""
    if d is None:
        return "-", True
    s = f"{d['hits']}/{expected}" if expected is not None else f"{d['hits']} hits"
    extra = []
    if d.get("misses"):
        extra.append(f"{d['misses']} miss")
    if d.get("uncached"):
        extra.append(f"{d['uncached']} uncached")
    if extra:
        s += " (" + ", ".join(extra) + ")"
    ok = d["misses"] == 0 and (expected is None or d["hits"] >= expected)
    return s, ok


def rotate(seq, k):
    k %= len(seq) if seq else 1
    return list(seq[k:]) + list(seq[:k])


def run(argv, env, cwd, what):
    r = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError(f"{what}: {shlex.join(argv)} exited {r.returncode}: "
                           f"{r.stdout.decode(errors='replace')[-1500:]}")
    return r


# --- (a) per-hit cost ---------------------------------------------------------


def batch_time(argv, env, cwd):
    with Phase() as p:
        run(argv, env, cwd, "per-hit batch")
    return p


def single_calls(argv, env, cwd, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed")
    return times


def hit_dir(work):
    d = work / "hit"
    if not d.exists():
        d.mkdir()
        (d / "hit.c").write_text(HIT_C)
        (d / "loop.sh").write_text(LOOP_SH)
        # Sources written a moment ago are too new for some caches to store.
        old = time.time() - 60
        os.utime(d / "hit.c", (old, old))
    return d


def per_hit(tools, compiler, n, reps, work):
    d = hit_dir(work)
    true_exe = shutil.which("true") or "/bin/true"
    env0 = base_env()
    active = [t for t in tools if not t.skipped]
    argv = {t.name: t.prefix + [compiler, "-O2", "-c", "hit.c", "-o", "hit.o"] for t in active}
    for t in active:
        for _ in range(2):  # the first may miss; the second must be a hit
            run(argv[t.name], t.env, d, f"{t.name} per-hit warm-up")
    before = {t.name: t.counters() for t in active}
    series = {t.name: [] for t in active}
    floor = []
    # Warm-up of the loop itself, then rounds: /bin/true and every tool once
    # a round, in an order rotated round by round.
    run(["sh", "loop.sh", str(n), true_exe], env0, d, "spawn floor")
    for r in range(reps):
        for name in rotate(["true"] + [t.name for t in active], r):
            if name == "true":
                floor.append(batch_time(["sh", "loop.sh", str(n), true_exe], env0, d).record())
            else:
                t = next(x for x in active if x.name == name)
                n_here = n if t.name != "plain" else max(5, n // 20)  # plain compiles for real
                p = batch_time(["sh", "loop.sh", str(n_here)] + argv[name], t.env, d)
                series[name].append(p.record(n=n_here))
    singles_true = single_calls([true_exe], env0, d, n)
    singles = {}
    for t in active:
        singles[t.name] = single_calls(argv[t.name], t.env, d, n if t.name != "plain" else max(5, n // 20))
    after = {t.name: t.counters() for t in active}

    floor_call = stats.median([f["seconds"] for f in floor]) / n
    single_floor = stats.median(singles_true)
    out = {"n": n, "reps": reps, "compiler": compiler, "spawn_floor_ms": floor_call * 1000, "floor_batches": floor,
           "tools": {}}
    for t in active:
        per = [b["seconds"] / b["n"] - floor_call for b in series[t.name]]
        expected = sum(b["n"] for b in series[t.name]) + len(singles[t.name])
        check, ok = check_of(delta(before[t.name], after[t.name]), expected if t.name != "plain" else None)
        out["tools"][t.name] = {
            "batches": series[t.name],
            "above_floor": stats.summary(per),
            "total": stats.summary([b["seconds"] / b["n"] for b in series[t.name]]),
            "single_above_floor": stats.summary([s - single_floor for s in singles[t.name]]),
            "check": check, "all_hits": ok,
            "load1": stats.median([b["load1"] for b in series[t.name] if b["load1"] is not None]),
            "steal_pct_max": max((b["steal_pct"] for b in series[t.name] if b["steal_pct"] is not None),
                                 default=None),
        }
    return out


# --- (b) real projects --------------------------------------------------------


class Build:
    """How one tool builds one workload: the build, clean and touch
    commands and the environment."""

    def __init__(self, tool, w, jobs, work):
        self.tool = tool
        self.w = w
        self.env = dict(tool.env)
        if w.kind == "make":
            self.argv = ["make", "-s", f"-j{jobs}"] + [
                f"{var}={shlex.join(tool.prefix + [cc])}" for var, cc in w.compilers.items()]
            self.clean = ["make", "-s", "clean"]
        else:
            self.env["CARGO_TARGET_DIR"] = str(work / "rust-target")
            if tool.prefix:
                self.env["RUSTC_WRAPPER"] = tool.prefix[0]
            self.argv = ["cargo", "build", "--locked", "-q", f"-j{jobs}"]
            self.clean = ["cargo", "clean", "-q"]

    def do_clean(self):
        run(self.clean, self.env, self.w.dir, f"{self.w.name}: clean")

    def build(self, phase):
        before = self.tool.counters()
        with Phase() as p:
            run(self.argv, self.env, self.w.dir, f"{self.w.name}: {self.tool.name} {phase}")
        d = delta(before, self.tool.counters())
        expected = self.w.tus if (self.w.kind == "make" and phase != "cold") else None
        check, ok = check_of(d, expected)
        if phase == "cold":
            ok = True
        return p.record(counters=d, check=check, all_hits=ok)


def touch_all(paths):
    now = time.time()
    for p in paths:
        os.utime(p, (now, now))


def workload_runs(tools, w, jobs, reps, work, phases):
    """Cold, warm and touch runs of every tool on w, `reps` rounds, the
    tools in an order rotated round by round. Plain runs cold only: its
    warm and touch rebuilds are cold builds again."""
    usable = [t for t in tools if not t.skipped and (w.kind != "cargo" or t.rust)]
    builds = {t.name: Build(t, w, jobs, work) for t in usable}
    res = {t.name: {"cold": [], "warm": [], "touch": [], "error": None} for t in usable}
    if w.name.endswith("(emcc)"):
        # Emscripten builds its sysroot headers on first use: not ours to time.
        log(f"{w.name}: untimed plain build to settle emscripten's own cache")
        b = Build(next(t for t in tools if t.name == "plain"), w, jobs, work)
        b.do_clean()
        run(b.argv, b.env, w.dir, "emcc settle")
    for r in range(reps):
        for t in rotate(usable, r):
            if res[t.name]["error"]:
                continue
            b = builds[t.name]
            try:
                if "cold" in phases:
                    t.reset()
                    b.do_clean()
                    log(f"{w.name}: round {r + 1}: {t.name} cold")
                    res[t.name]["cold"].append(b.build("cold"))
                if t.name == "plain":
                    continue
                if "warm" in phases:
                    b.do_clean()
                    log(f"{w.name}: round {r + 1}: {t.name} warm")
                    res[t.name]["warm"].append(b.build("warm"))
                if "touch" in phases and w.touch:
                    touch_all(w.touch)
                    log(f"{w.name}: round {r + 1}: {t.name} touch")
                    res[t.name]["touch"].append(b.build("touch"))
            except (RuntimeError, subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
                res[t.name]["error"] = str(e)[-2000:]
                log(f"{w.name}: {t.name} failed, left out of this workload: {str(e)[-600:]}")
    for r in res.values():
        for ph in ("cold", "warm", "touch"):
            xs = [x["seconds"] for x in r[ph]]
            r[ph + "_summary"] = stats.summary(xs)
            r[ph + "_all_hits"] = all(x["all_hits"] for x in r[ph])
    return res


# --- (c) concurrency ----------------------------------------------------------


def concurrency(tools, compiler, clients, per_client, work):
    """`clients` threads, each running `per_client` compiles of its own
    -o in a closed loop, all at once on a warm cache: the latency of each
    compile. /bin/true the same way is the floor under that load."""
    d = hit_dir(work)
    out = {"clients": clients, "per_client": per_client, "tools": {}}

    def storm(argv_of, env):
        lat = []
        lock = threading.Lock()
        barrier = threading.Barrier(clients)
        errors = []

        def client(i):
            mine = []
            barrier.wait()
            for _ in range(per_client):
                t0 = time.perf_counter()
                r = subprocess.run(argv_of(i), env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                mine.append(time.perf_counter() - t0)
                if r.returncode != 0:
                    errors.append(i)
            with lock:
                lat.extend(mine)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        with Phase() as p:
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        return lat, errors, p

    true_exe = shutil.which("true") or "/bin/true"
    lat, errors, p = storm(lambda i: [true_exe], base_env())
    out["floor"] = dict(stats.summary(lat), **p.record())
    for t in tools:
        if t.skipped or t.name == "plain":
            continue
        argv_of = (lambda t: lambda i: t.prefix + [compiler, "-O2", "-c", "hit.c", "-o", f"c{i}.o"])(t)
        try:
            for i in range(clients):  # every -o once, so the storm is hits only
                run(argv_of(i), t.env, d, f"{t.name} concurrency warm-up")
            before = t.counters()
            lat, errors, p = storm(argv_of, t.env)
            check, ok = check_of(delta(before, t.counters()), clients * per_client)
        except (RuntimeError, subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
            out["tools"][t.name] = {"error": str(e)[-1000:]}
            continue
        s = stats.summary(lat)
        out["tools"][t.name] = dict(s, **p.record(), failed=len(errors), check=check, all_hits=ok,
                                    p99_over_p50=stats.ratio(s["p99"], s["p50"]))
    return out


def memory(tools, settle):
    """RSS/HWM in KiB of each tool's servers after `settle` idle seconds."""
    time.sleep(settle)
    out = {}
    for t in tools:
        if t.skipped:
            continue
        for role, pid in t.servers().items():
            st = proc_status(pid)
            if st:
                out[role] = {"pid": pid, "rss_kib": st.get("VmRSS"), "hwm_kib": st.get("VmHWM")}
    return out


# --- report -------------------------------------------------------------------


def machine_facts(work, compiler, tools):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
        except subprocess.SubprocessError:
            return "?"

    df = sh(f"df -T {shlex.quote(str(work))} | tail -1").split()
    repo = Path(__file__).resolve().parent.parent
    commit = sh(f"git -C {shlex.quote(str(repo))} rev-parse --short HEAD")
    dirty = sh(f"git -C {shlex.quote(str(repo))} status --porcelain --untracked-files=no")
    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "kernel": f"{platform.system()} {sh('uname -r')} {platform.machine()}",
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or "?",
        "nproc": os.cpu_count(),
        "memory": sh("grep -m1 MemTotal /proc/meminfo | awk '{printf \"%.1f GiB\", $2/1048576}'"),
        "cache filesystem": f"{df[1]} on {df[0]} (mounted at {df[-1]})" if len(df) >= 7 else "?",
        "compiler": first_line([compiler, "--version"]),
        "g++": first_line(["g++", "--version"]),
        "emcc": first_line(["emcc", "--version"]),
        "rustc": first_line(["rustc", "--version"]),
    }
    for t in tools:
        if t.exe:
            facts[t.name] = f"{t.version()} ({t.exe})"
    facts["zccache commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    facts["load average at start"] = " ".join(f"{x:.2f}" for x in (loadavg() or []))
    return facts


def fmt_range(s, fmt):
    if not s or s.get("p50") is None:
        return "-"
    if s["n"] == 1:
        return fmt(s["p50"])
    return f"{fmt(s['p50'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def phase_load(rs):
    loads = [r["load1"] for r in rs if r.get("load1") is not None]
    steals = [r["steal_pct"] for r in rs if r.get("steal_pct") is not None]
    la = f"{stats.median(loads):.1f}" if loads else "?"
    st = f"{max(steals):.1f}" if steals else "?"
    return la, st


def peers_ratio(values, name):
    """zccache / each peer, from {tool: median}."""
    z = values.get("zccache")
    out = []
    for peer in ("ccache", "sccache"):
        r = stats.ratio(z, values.get(peer))
        if r is not None:
            out.append(f"{r:.2f}× {peer}")
    return ", ".join(out) or "-"


def user_args(argv):
    """argv without the options run.sh adds (binaries, outputs, skips)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--zccache", "--sccache", "--ccache", "--out", "--json", "--skip", "--work-dir"):
            skip = True
        else:
            out.append(a)
    return out


def render(res, markdown=True):
    facts, hit, builds, conc, mem = (res.get(k) for k in ("facts", "per_hit", "workloads", "concurrency", "memory"))
    tools = res["tools"]
    out = []
    h = "## " if markdown else ""

    def para(text):
        out.append(text)
        out.append("")

    if markdown:
        para("# zccache benchmark: latest run")
        para("Produced by `bench/run.sh" + "".join(" " + a for a in user_args(res.get("argv", []))) + "`. All tools ran in the same run on "
             "the same inputs, each with its own cache, the configurations interleaved and rotated round by round. "
             "Times are medians (min–max over the rounds). *hits* are each tool's own counters over that run: "
             "hits/expected, plus misses and uncached calls. *load* is the 1-minute load average at the end of "
             "the phase (median over rounds), *steal* the largest % of CPU time stolen during one. "
             "bench/README.md explains every figure.")

    if builds or hit:
        para(h + "Summary")
        rows = []
        if hit:
            vals = {n: r["above_floor"]["p50"] for n, r in hit["tools"].items()}
            cells = [f"{stats.fmt_ms(vals[n])}" if n in vals else "-" for n in tools]
            rows.append([f"per hit, ms above /bin/true ({hit['spawn_floor_ms']:.2f} ms)"] + cells
                        + [peers_ratio(vals, "zccache"), "-"])
        for wname, wres in (builds or {}).items():
            warm = {n: r["warm_summary"]["p50"] for n, r in wres["tools"].items() if r["warm_summary"]["p50"]}
            cold = {n: r["cold_summary"]["p50"] for n, r in wres["tools"].items() if r["cold_summary"]["p50"]}
            cells = []
            for n in tools:
                if n not in wres["tools"]:
                    cells.append("n/a")
                    continue
                w = stats.fmt_s(warm.get(n), 2) if n in warm else "—"
                c = stats.fmt_s(cold.get(n), 2) if n in cold else "—"
                cells.append(f"{w} / {c}" + (" ✗" if not wres["tools"][n]["warm_all_hits"] else ""))
            zc = stats.ratio(cold.get("zccache"), cold.get("plain"))
            rows.append([f"{wname}, {wres['tus']} units: warm / cold s"] + cells
                        + ["warm " + peers_ratio(warm, "zccache"), stats.fmt_ratio(zc)])
        out.append(stats.table(["workload"] + tools + ["zccache / peer", "zccache cold / no cache"], rows, markdown))
        out.append("")
        para("✗: a warm run that was not all hits by the tool's own counters (see the detail below). "
             "n/a: the tool does not handle this workload (ccache and Rust).")

    if hit:
        para(h + "(a) Per-hit cost, warm cache")
        para(f"`hit.c` (stdio/stdlib/string) compiled {hit['n']} times in a row with `{hit['compiler']} -O2 -c`, "
             f"in {hit['reps']} rounds; per hit = batch time / n minus the `/bin/true` spawn floor "
             f"({hit['spawn_floor_ms']:.3f} ms a call, measured in the same rounds). Single calls: separate spawns "
             "from python, the median `/bin/true` single call subtracted. ms.")
        rows = []
        for n, r in hit["tools"].items():
            a, s = r["above_floor"], r["single_above_floor"]
            rows.append([n, fmt_range(a, stats.fmt_ms), stats.fmt_ms(r["total"]["p50"]), stats.fmt_ms(s["p50"]),
                         stats.fmt_ms(s["p99"]), r["check"], f"{r['load1']:.1f}" if r["load1"] is not None else "?",
                         f"{r['steal_pct_max']:.1f}" if r["steal_pct_max"] is not None else "?"])
        out.append(stats.table(["tool", "per hit above floor", "per hit total", "single p50", "single p99", "hits",
                                "load", "steal %"], rows, markdown))
        out.append("")

    if builds:
        para(h + "(b) Real projects")
        para("Workloads: " + "; ".join(f"{n}: {w['note']}" for n, w in builds.items()) + ".")
        para("cold: cache emptied (server restarted), tree cleaned, full build. warm: objects removed "
             "(`make clean` / `cargo clean`), cache full. touch: every source's mtime set to now, objects in "
             "place, build again (make recompiles every unit; not done for Rust: cargo does not rebuild registry "
             "crates on a touch). No cache runs cold only: its warm and touch builds are cold builds again. "
             "Seconds.")
        rows = []
        for wname, wres in builds.items():
            label = f"{wname} ({wres['tus']} units, {wres.get('reps', '?')} rounds)"
            for n, r in wres["tools"].items():
                if r.get("error") and not r["cold"]:
                    rows.append([label, n, "failed: " + r["error"].splitlines()[0][:100], "", "", "", "", ""])
                    label = ""
                    continue
                for ph in ("cold", "warm", "touch"):
                    if not r[ph]:
                        continue
                    la, st = phase_load(r[ph])
                    checks = sorted(set(x["check"] for x in r[ph]))
                    rows.append([label, n, ph, fmt_range(r[ph + "_summary"], lambda v: stats.fmt_s(v, 2)),
                                 "; ".join(checks), la, st, "-" if ph == "cold" else ("✓" if r[ph + "_all_hits"] else "✗")])
                    label = ""
                if r.get("error"):
                    rows.append(["", n, "failed later: " + r["error"].splitlines()[0][:100], "", "", "", "", ""])
        out.append(stats.table(["workload", "tool", "phase", "s", "hits", "load", "steal %", "all hits"], rows,
                               markdown, left=3))
        out.append("")
        ratio_rows = []
        for wname, wres in builds.items():
            for ph in ("warm", "touch", "cold"):
                vals = {n: r[ph + "_summary"]["p50"] for n, r in wres["tools"].items() if r[ph + "_summary"]["p50"]}
                if "zccache" not in vals:
                    continue
                cells = [stats.fmt_ratio(stats.ratio(vals["zccache"], vals.get(p))) for p in ("plain", "ccache",
                                                                                               "sccache")]
                ratio_rows.append([wname, ph] + cells)
        if ratio_rows:
            para("Ratios, zccache's median over each peer's (below 1 is faster):")
            out.append(stats.table(["workload", "phase", "/ no cache", "/ ccache", "/ sccache"], ratio_rows,
                                   markdown, left=2))
            out.append("")

    if conc:
        para(h + f"(c) {conc['clients']} concurrent clients")
        para(f"{conc['clients']} threads, each running {conc['per_client']} compiles of `hit.c` (its own `-o`) back "
             "to back, all started at once on a warm cache; latency of each whole process in ms. The `/bin/true` "
             "row is the spawn floor under the same load. Goal for zccache: p99 within 3× p50.")
        rows = []
        f = conc["floor"]
        rows.append(["/bin/true", stats.fmt_ms(f["p50"]), stats.fmt_ms(f["p99"]), stats.fmt_ms(f["max"]),
                     stats.fmt_ratio(stats.ratio(f["p99"], f["p50"])), stats.fmt_s(f["seconds"], 2), "-",
                     f"{f['load1']:.1f}", f"{f['steal_pct']:.1f}" if f["steal_pct"] is not None else "?"])
        for n, r in conc["tools"].items():
            if "error" in r:
                rows.append([n, "failed: " + r["error"].splitlines()[0][:80], "", "", "", "", "", "", ""])
                continue
            rows.append([n, stats.fmt_ms(r["p50"]), stats.fmt_ms(r["p99"]), stats.fmt_ms(r["max"]),
                         stats.fmt_ratio(r["p99_over_p50"]), stats.fmt_s(r["seconds"], 2),
                         r["check"] + (f", {r['failed']} failed" if r["failed"] else ""), f"{r['load1']:.1f}",
                         f"{r['steal_pct']:.1f}" if r["steal_pct"] is not None else "?"])
        out.append(stats.table(["tool", "p50", "p99", "max", "p99/p50", "wall s", "hits", "load", "steal %"], rows,
                               markdown))
        out.append("")

    if mem:
        para(h + "(d) Resident memory of the servers")
        para("VmRSS and VmHWM (peak) from /proc/PID/status, in MiB. *idle, after the hit series*: 2 s after the per-hit runs; "
             "*idle, after the run*: a few seconds after the last workload, cache full. Goals: zccache daemon "
             "under 20 MiB, broker under 8 MiB.")
        rows = []
        roles = []
        for when in mem.values():
            roles += [r for r in when if r not in roles]
        for role in roles:
            cells = []
            for when in mem.values():
                m = when.get(role)
                cells.append(f"{m['rss_kib'] / 1024:.1f} (peak {m['hwm_kib'] / 1024:.1f})" if m else "-")
            rows.append([role] + cells)
        out.append(stats.table(["process"] + [f"RSS MiB, {k}" for k in mem], rows, markdown))
        out.append("")

    failed = res.get("skipped") or {}
    if failed:
        para(h + "Skipped")
        for n, why in failed.items():
            out.append(f"- {n}: {why}")
        out.append("")

    para(h + "Machine")
    out.append(stats.table(["fact", "value"], [[k, str(v)] for k, v in facts.items()], markdown, left=2))
    out.append("")
    return "\n".join(out).rstrip() + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compiler", default="gcc")
    ap.add_argument("--zccache", help="path to the zccache binary (target/release/zccache)")
    ap.add_argument("--ccache", default=shutil.which("ccache"))
    ap.add_argument("--sccache", help="path to sccache 0.19 or newer")
    ap.add_argument("--lua-dir", help="Lua 5.4 source dir (default: crate lua-src through cargo)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--only", default=",".join(projects.ALL),
                    help="workloads, comma-separated, from " + ",".join(projects.ALL) + "; also hit,concurrency "
                    "(default: all of them). 'none' for no project")
    ap.add_argument("--phases", default="cold,warm,touch")
    ap.add_argument("-n", type=int, default=200, help="compiles per per-hit batch")
    ap.add_argument("--reps", type=int, default=3, help="rounds of every measurement")
    ap.add_argument("--heavy-reps", type=int, help="rounds for libgit2, leveldb and rust (default: --reps)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--per-client", type=int, default=10)
    ap.add_argument("--work-dir", help="parent for the caches and build trees (default: a temp dir)")
    ap.add_argument("--out", help="write the markdown report here")
    ap.add_argument("--json", help="write every sample here")
    ap.add_argument("--skip", action="append", default=[], help="tool=reason, reported as skipped")
    ap.add_argument("--note", help="one line about the conditions, shown with the machine facts")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--render", metavar="JSON", help="only print the markdown of an earlier run's JSON")
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(Path(args.render).read_text())), end="")
        return

    # A run stopped by a signal still stops its servers and removes its work
    # dir (the finally below); SIGINT is ignored in a background job unless set.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)

    only = [x.strip() for x in args.only.split(",") if x.strip()]
    if "all" in only:
        only = list(projects.ALL) + ["hit", "concurrency"]
    if args.only == ",".join(projects.ALL):
        only += ["hit", "concurrency"]
    for x in only:
        if x not in projects.ALL + ("hit", "concurrency", "none"):
            ap.error(f"unknown workload {x}")
    phases = [x for x in args.phases.split(",") if x]

    work = Path(tempfile.mkdtemp(prefix="zccache-bench.", dir=args.work_dir))
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    skip_reasons = dict(s.split("=", 1) for s in args.skip if "=" in s)
    tools = []
    for name in wanted:
        if name == "plain":
            tools.append(Plain(work))
        elif name == "ccache":
            tools.append(Ccache(work, args.ccache))
        elif name == "sccache":
            tools.append(Sccache(work, args.sccache))
        elif name == "zccache":
            tools.append(Zccache(work, Path(args.zccache).resolve() if args.zccache else None))
        else:
            ap.error(f"unknown tool {name}")
    for t in tools:
        if t.name in skip_reasons:
            t.skipped = skip_reasons[t.name]
        elif t.name != "plain" and not (t.exe and Path(t.exe).exists()):
            t.skipped = f"no {t.name} binary given or found"
    for t in tools:
        if not t.skipped:
            try:
                t.reset()
            except (subprocess.CalledProcessError, OSError) as e:
                t.skipped = f"could not start: {e}"

    res = {"argv": sys.argv[1:], "tools": [t.name for t in tools if not t.skipped]}
    res["facts"] = machine_facts(work, args.compiler, [t for t in tools if not t.skipped])
    if args.note:
        res["facts"]["note"] = args.note
    started = time.time()
    try:
        if "hit" in only:
            log("per-hit")
            res["per_hit"] = per_hit(tools, args.compiler, args.n, args.reps, work)
            res["memory"] = {"idle, after the hit series": memory(tools, 2)}
        if "concurrency" in only:
            log(f"concurrency: {args.clients} clients")
            res["concurrency"] = concurrency(tools, args.compiler, args.clients, args.per_client, work)
        res["workloads"] = {}
        for name in [x for x in only if x in projects.ALL]:  # in the order given
            try:
                w = projects.prepare(name, work, args.lua_dir)
            except (RuntimeError, subprocess.CalledProcessError, OSError, StopIteration) as e:
                res.setdefault("skipped", {})[f"workload {name}"] = f"could not be prepared: {e}"
                log(f"workload {name} skipped: {e}")
                continue
            log(f"workload {w.name}: {w.tus} units")
            reps = args.heavy_reps if args.heavy_reps and name in projects.HEAVY else args.reps
            wres = workload_runs(tools, w, args.jobs, reps, work, phases)
            res["workloads"][w.name] = {"tus": w.tus, "note": w.note, "reps": reps, "tools": wres}
            if args.out:  # a partial report survives an interrupted run
                Path(args.out).write_text(render(res))
            if args.json:
                Path(args.json).write_text(json.dumps(res, indent=1, default=str))
        if "hit" in only or res["workloads"]:
            res.setdefault("memory", {})["idle, after the run"] = memory(tools, 3)
    finally:
        for t in tools:
            if isinstance(t, Zccache):
                t.stop_all()
            else:
                t.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res["facts"]["load average at end"] = " ".join(f"{x:.2f}" for x in (loadavg() or []))
    res["facts"]["duration"] = f"{(time.time() - started) / 60:.1f} min"
    res["skipped"] = dict(res.get("skipped", {}), **{t.name: t.skipped for t in tools if t.skipped})

    print()
    print(render(res, markdown=False))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(render(res))
        log(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
