#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""The per-step costs of a zccache hit, and the per-compile cost of a miss.

Not a test; CI does not run it. `bench/steps.sh` builds the release
binaries and runs this. It measures, in rounds whose order rotates:

- whole processes, as shell loops of n runs (batch time / n): `/bin/true`
  (the spawn floor), a hello-world Rust binary (what any Rust process pays
  for start-up and dynamic loading), `zccache /bin/true` with
  ZCCACHE_DISABLE=1 (the wrapper's start-up, configuration and compiler
  lookup, then an exec of /bin/true), and a `zccache gcc -c` hit;
- the wrapper's own steps of a hit, from `ZCCACHE_PROFILE` (medians of n
  hits, µs);
- the daemon's side of the same hits, from `zccache status --json`
  (`lookup_profile`: µs per Lookup, summed by the daemon);
- with `--cold N`: N compiles of a small file, each with a new `-D` (so
  each is a miss that is stored), through zccache and bare, interleaved in
  blocks: the per-compile cost of a miss, the cold build's overhead.

Prints Markdown; `--json FILE` keeps every sample.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (HIT_C, LOOP_SH, base_env, Phase)

HELLO_RS = 'fn main() { println!("hello"); }\n'
SMALL_C = "int f(int x) { return x * UNIQ + 1; }\n"


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def loop_time(d, env, argv, n):
    with bench.Phase() as p:
        r = subprocess.run(["sh", "loop.sh", str(n)] + argv, env=env, cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{argv} failed in a loop")
    return p.seconds / n, p.load


def status(zcc, env):
    out = subprocess.run([zcc, "status", "--json"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def parse_profile(path):
    """Per step, the µs of every served compile's line."""
    steps = {}
    n = 0
    if not Path(path).exists():  # a wrapper without ZCCACHE_PROFILE
        return n, steps
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if "how=served" not in fields:
            continue
        n += 1
        for f in fields[2:]:
            k, _, v = f.partition("=")
            if k != "how":
                steps.setdefault(k, []).append(int(v))
    return n, steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="runs per loop (default 300)")
    ap.add_argument("--reps", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--bin", default=None, help="directory of zccache, zccache-broker, zccache-daemon")
    ap.add_argument("--cold", type=int, default=0, help="cold compiles per tool (0: none)")
    ap.add_argument("--label", default="", help="a line about this run (which build, what else ran)")
    ap.add_argument("--json", default=None, help="write every sample here")
    a = ap.parse_args()

    repo = Path(__file__).resolve().parent.parent
    bindir = Path(a.bin) if a.bin else repo / "target" / "release"
    zcc = str(bindir / "zccache")
    gcc = shutil.which("gcc")
    true_exe = shutil.which("true") or "/bin/true"
    work = Path(tempfile.mkdtemp(prefix="zccache-steps-"))
    rt = work / "rt"
    rt.mkdir(mode=0o700)
    env0 = bench.base_env()
    env = dict(env0, ZCCACHE_CACHE_DIR=str(work / "cache"), ZCCACHE_RUNTIME_DIR=str(rt))
    d = work / "hit"
    d.mkdir()
    (d / "hit.c").write_text(bench.HIT_C)
    (d / "small.c").write_text(SMALL_C)
    (d / "loop.sh").write_text(bench.LOOP_SH)
    (d / "hello.rs").write_text(HELLO_RS)
    old = time.time() - 60
    for f in ("hit.c", "small.c"):
        os.utime(d / f, (old, old))
    subprocess.run(["rustc", "-O", "-o", str(d / "hello"), str(d / "hello.rs")], check=True)
    subprocess.run([zcc, "start"], env=env, capture_output=True, check=True)
    out = {"label": a.label, "n": a.n, "reps": a.reps, "bin": str(bindir),
           "load_before": os.getloadavg(), "series": {}, "profile": {}, "daemon": {}}
    try:
        hit = [zcc, gcc, "-O2", "-c", "hit.c", "-o", "hit.o"]
        for _ in range(3):
            subprocess.run(hit, env=env, cwd=d, check=True)
        series = {
            "/bin/true": (env0, [true_exe]),
            "hello-world Rust binary": (env0, [str(d / "hello")]),
            "zccache /bin/true, ZCCACHE_DISABLE=1": (dict(env, ZCCACHE_DISABLE="1"), [zcc, true_exe]),
            "zccache gcc -c, hit": (env, hit),
        }
        names = list(series)
        samples = {k: [] for k in names}
        loads = []
        loop_time(d, env0, [true_exe], a.n)
        s0 = status(zcc, env)
        for r in range(a.reps):
            for name in names[r % len(names):] + names[:r % len(names)]:
                e, argv = series[name]
                t, load = loop_time(d, e, argv, a.n)
                samples[name].append(t)
                loads.append(load)
        # The wrapper's and the daemon's steps, over the same number of hits.
        prof = work / "profile.log"
        s1 = status(zcc, env)
        loop_time(d, dict(env, ZCCACHE_PROFILE=str(prof)), hit, a.n)
        s2 = status(zcc, env)
        hits = s2.get("hits", 0) - s0.get("hits", 0)
        expected = a.n * a.reps + a.n
        out["hits"] = {"hits": hits, "expected": expected,
                       "misses": s2.get("misses", 0) - s0.get("misses", 0)}
        out["series"] = {k: v for k, v in samples.items()}
        out["load_during"] = loads
        n_prof, steps = parse_profile(prof)
        out["profile"] = {"n": n_prof, "steps": steps}
        lp1, lp2 = s1.get("lookup_profile"), s2.get("lookup_profile")
        if lp1 is not None and lp2 is not None:
            count = lp2.get("count", 0) - lp1.get("count", 0)
            # Sums in ns over every Lookup: µs per Lookup.
            out["daemon"] = {k.removesuffix("_ns"): (lp2[k] - lp1.get(k, 0)) / max(count, 1) / 1000
                             for k in lp2 if k != "count"}
            out["daemon_count"] = count

        if a.cold:
            # Pairs, the order alternating: the difference within a pair
            # is the miss's cost with the machine's drift mostly cancelled.
            cold = {"zccache": [], "bare": [], "diff": []}
            for i in range(a.cold):
                pair = {}
                for name in (["zccache", "bare"] if i % 2 == 0 else ["bare", "zccache"]):
                    prefix = [zcc] if name == "zccache" else []
                    t0 = time.perf_counter()
                    subprocess.run(prefix + [gcc, "-O2", f"-DUNIQ={2 * i + (name == 'bare')}", "-c", "small.c", "-o", "small.o"],
                                   env=env if name == "zccache" else env0, cwd=d, check=True)
                    pair[name] = time.perf_counter() - t0
                for name, t in pair.items():
                    cold[name].append(t)
                cold["diff"].append(pair["zccache"] - pair["bare"])
            s3 = status(zcc, env)
            out["cold"] = {"samples": cold, "misses": s3.get("misses", 0) - s2.get("misses", 0), "n": a.cold}
        out["load_after"] = os.getloadavg()
    finally:
        subprocess.run([zcc, "stop", "--all"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    print(render(out))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


def render(out):
    ms = lambda s: f"{s * 1000:.3f}"  # noqa: E731
    L = []
    L.append(f"Run: {out['label'] or '(no label)'}; binaries {out['bin']}; n={out['n']} per loop, "
             f"{out['reps']} rounds; load average before {fmt_load(out['load_before'])}, "
             f"after {fmt_load(out['load_after'])}, 1-min load at the end of each loop: "
             f"median {median(out['load_during']):.2f}, max {max(out['load_during']):.2f}.")
    L.append("")
    L.append("| whole process | ms per run (median) | min–max | above /bin/true |")
    L.append("|---|--:|--:|--:|")
    floor = median(out["series"]["/bin/true"])
    for k, v in out["series"].items():
        L.append(f"| {k} | {ms(median(v))} | {ms(min(v))}–{ms(max(v))} | {ms(median(v) - floor)} |")
    h = out["hits"]
    L.append("")
    L.append(f"Hits: {h['hits']}/{h['expected']} (misses {h['misses']}).")
    L.append("")
    p = out["profile"]
    L.append(f"Wrapper steps of a hit (`ZCCACHE_PROFILE`, {p['n']} hits, µs, median / p90):")
    L.append("")
    L.append("| step | median | p90 |")
    L.append("|---|--:|--:|")
    for k, v in p["steps"].items():
        v = sorted(v)
        L.append(f"| {k} | {median(v):.0f} | {v[int(len(v) * 0.9) - 1] if v else 0} |")
    if out.get("daemon"):
        L.append("")
        L.append(f"Daemon side (`status --json` lookup_profile, mean µs over {out['daemon_count']} Lookups):")
        L.append("")
        L.append("| part | mean µs |")
        L.append("|---|--:|")
        for k, v in out["daemon"].items():
            L.append(f"| {k} | {v:.1f} |")
    c = out.get("cold")
    if c:
        z, b = median(c["samples"]["zccache"]), median(c["samples"]["bare"])
        dz = median(c["samples"]["diff"])
        L.append("")
        L.append(f"Cold: {c['n']} pairs of compiles of a small file, each with a new `-D`, through zccache "
                 f"and bare (order alternating), zccache misses {c['misses']}:")
        L.append("")
        L.append("| | ms per compile (median) | p10–p90 |")
        L.append("|---|--:|--:|")
        for name, v in c["samples"].items():
            v = sorted(v)
            label = "zccache minus bare, per pair" if name == "diff" else name
            L.append(f"| {label} | {ms(median(v))} | {ms(v[len(v) // 10])}–{ms(v[len(v) * 9 // 10])} |")
        L.append(f"| (zccache / bare − 1, of medians) | {(z / b - 1) * 100:.1f}% | |")
        L.append(f"| (median pair difference / bare median) | {dz / b * 100:.1f}% | |")
    return "\n".join(L)


def fmt_load(la):
    return " ".join(f"{x:.2f}" for x in la)


if __name__ == "__main__":
    main()
