//! Latency benchmark of the ways a hit reaches the daemon: a Route to the broker, a hit Lookup straight to the daemon, the broker path (Route, then the Lookup on the endpoint it names), and a whole `zccache gcc -c` hit against spawning `/bin/true`; it asserts nothing about speed, is not a test and never runs in CI.
//!
//! Run it with `bench/route.sh` (builds the release binaries first) or
//! `cargo bench -p conformance --bench route`. It uses the release
//! binaries in `target/release` unless `ZCCACHE_BIN_DIR` names others.
//! Every request opens its own connection, sends one frame and reads one
//! reply, as the wrapper does, with blocking std sockets and the frame
//! crate, so the figures are what a wrapper pays minus process start-up.
//! The three socket series are interleaved round by round (rotating which
//! goes first) so that load from other processes on the machine falls on
//! all of them alike.
//!
//! Knobs: `ROUTE_BENCH_N` (requests per series, default 10000),
//! `ROUTE_BENCH_SPAWNS` (process runs per series, default 500),
//! `ROUTE_BENCH_OUT` (the markdown file, default `bench/results/route.md`),
//! `ROUTE_BENCH_NOTE` (a free-text row in the machine table).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conformance::Sandbox;
use frame::v1::{lookup_reply, request, response, unit_answer, EnvVar, Lookup, Request, Route};

/// The wrapper's default request timeout; stamped into each frame's
/// deadline as the wrapper does, so the servers see the same frames.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Unmeasured rounds before each measured series: first connections,
/// page faults and the daemon's metadata cache are not what is measured.
const WARMUP: usize = 200;

const SOURCE: &str = "#include <stdio.h>\nint add(int a, int b) { return a + b; }\nint main(void) { printf(\"%d\\n\", add(2, 3)); return 0; }\n";

/// The argv after `gcc`, as the warm compile and every Lookup give it.
const ARGS: [&str; 4] = ["-c", "a.c", "-o", "a.o"];

fn main() {
    let n = knob("ROUTE_BENCH_N", 10_000);
    let spawns = knob("ROUTE_BENCH_SPAWNS", 500);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let bins = release_bin_dir(&workspace);
    let zccache = bins.join("zccache");
    for name in ["zccache", "zccache-broker", "zccache-daemon"] {
        assert!(
            bins.join(name).is_file(),
            "{} is missing; run bench/route.sh",
            bins.join(name).display()
        );
    }
    // Sandbox's helpers (and its Drop, which stops the daemon and broker)
    // find the binaries through this variable. Set before any thread exists.
    std::env::set_var("ZCCACHE_BIN_DIR", &bins);

    let load_before = loadavg();
    let sb = Sandbox::new("route");
    sb.write("a.c", SOURCE);
    let env = wrapper_env(&sb);
    let wrapper = || {
        let mut c = Command::new(&zccache);
        c.arg("gcc")
            .args(ARGS)
            .current_dir(&sb.work)
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::null());
        c
    };

    // Compile until the wrapper gets a hit, which proves the key is stable.
    // The first miss is not stored when it starts within the daemon's
    // too-new slack of the source's ctime (which backdating the mtime does
    // not move), hence up to a few runs.
    let mut warm_runs = 0;
    let (hits0, misses0) = loop {
        let out = wrapper().output().expect("run zccache gcc");
        assert!(
            out.status.success(),
            "warm compile failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        warm_runs += 1;
        let (h, m) = hits_misses(&sb);
        if h >= 1 {
            break (h, m);
        }
        assert!(
            warm_runs < 5,
            "no hit after {warm_runs} warm compiles (misses={m}): {}",
            sb.status()
        );
    };
    let rt = router::RuntimeDir::at(&sb.runtime).expect("runtime dir");
    let root = sb.cache.canonicalize().unwrap();
    let namespace = router::sanitize_namespace(None).unwrap();
    let broker = router::broker_paths(&rt, frame::PROTOCOL_VERSION).endpoint;
    let daemon = router::daemon_paths(&rt, &root, &namespace, frame::PROTOCOL_VERSION).endpoint;
    let route = Request::new(request::Body::Route(Route {
        cache_root: root.as_os_str().as_bytes().to_vec(),
        namespace,
        client_protocol_version: frame::PROTOCOL_VERSION,
        ..Default::default()
    }));
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let gcc = std::env::split_paths(&path)
        .map(|d| d.join("gcc"))
        .find(|p| p.is_file())
        .expect("gcc on PATH");
    let mut lookup = Request::new(request::Body::Lookup(Lookup {
        compiler: gcc.as_os_str().as_bytes().to_vec(),
        args: ARGS.iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: sb.work.as_os_str().as_bytes().to_vec(),
        env: env
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.clone().into_vec(),
                value: v.clone().into_vec(),
            })
            .collect(),
        argv0: b"gcc".to_vec(),
        stderr_is_tty: false,
        start_unix_ns: 0,
        probes: Vec::new(),
        terminal: None,
    }));

    let lookup_bytes = frame::encode_frame(&frame::request_frame(1, &lookup)).len();
    let routed = do_route(&broker, &route).unwrap_or_else(|e| panic!("route: {e}"));
    assert_eq!(
        routed, daemon,
        "the broker names another endpoint than the router computes"
    );
    do_lookup(&daemon, &mut lookup).unwrap_or_else(|e| panic!("direct lookup: {e}"));

    let mut series = [
        Series::new("Route to the broker (healthy daemon)", n),
        Series::new("hit, direct path (Lookup to the daemon)", n),
        Series::new("hit, broker path (Route, then Lookup)", n),
    ];
    let once = |kind: usize, lookup: &mut Request| -> Result<Duration, String> {
        let t = Instant::now();
        match kind {
            0 => {
                do_route(&broker, &route)?;
            }
            1 => do_lookup(&daemon, lookup)?,
            _ => {
                let endpoint = do_route(&broker, &route)?;
                do_lookup(&endpoint, lookup)?;
            }
        }
        Ok(t.elapsed())
    };
    let started = Instant::now();
    for round in 0..WARMUP + n {
        for k in 0..3 {
            let kind = (round + k) % 3;
            let r = once(kind, &mut lookup);
            if round >= WARMUP {
                series[kind].record(r);
            }
        }
    }
    let socket_secs = started.elapsed().as_secs_f64();

    // End to end: the whole wrapper process against the cheapest process.
    let mut wrap = Series::new("`zccache gcc -c` hit, whole process", spawns);
    let mut truth = Series::new("`/bin/true`, whole process", spawns);
    let run = |mut c: Command| -> Result<Duration, String> {
        let t = Instant::now();
        let status = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        let d = t.elapsed();
        if status.success() {
            Ok(d)
        } else {
            Err(format!("exited with {status}"))
        }
    };
    for i in 0..WARMUP.min(spawns) / 4 + spawns {
        let a = run(wrapper());
        let b = run(Command::new("/bin/true"));
        if i >= WARMUP.min(spawns) / 4 {
            wrap.record(a);
            truth.record(b);
        }
    }
    let (hits1, misses1) = hits_misses(&sb);
    let load_after = loadavg();

    let report = render(&Report {
        n,
        spawns,
        socket_secs,
        lookup_bytes,
        env_vars: env.len(),
        series: &series,
        wrap: &wrap,
        truth: &truth,
        facts: machine_facts(
            &workspace,
            &bins,
            &sb.work,
            &load_before,
            &load_after,
            warm_runs,
            misses0,
        ),
        counters: (hits1 - hits0, misses1 - misses0),
    });
    print!("{report}");
    let out = std::env::var_os("ROUTE_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or(workspace.join("bench/results/route.md"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&out, &report).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    eprintln!("wrote {}", out.display());
}

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

/// `ZCCACHE_BIN_DIR`, else `target/release` (under `CARGO_TARGET_DIR` when
/// set): the bench measures the binaries users run, not debug builds.
fn release_bin_dir(workspace: &Path) -> PathBuf {
    if let Some(d) = std::env::var_os("ZCCACHE_BIN_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(workspace.join("target"));
    target.join("release")
}

/// The environment of every wrapper run, and of every Lookup: ours with the
/// sandbox's changes (those of `Sandbox::cmd`), sorted by name because that
/// is how `Command` hands an explicit environment to the child.
fn wrapper_env(sb: &Sandbox) -> Vec<(OsString, OsString)> {
    let drop = [
        "ZCCACHE_DISABLE",
        "ZCCACHE_DAEMON_NAMESPACE",
        "SOURCE_DATE_EPOCH",
        "ZCCACHE_LOG",
    ];
    let set: [(&str, &Path); 2] = [
        ("ZCCACHE_CACHE_DIR", &sb.cache),
        ("ZCCACHE_RUNTIME_DIR", &sb.runtime),
    ];
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            !drop.iter().any(|d| k == d)
                && !set.iter().any(|(s, _)| k == s)
                && k != "ZCCACHE_IDLE_TIMEOUT"
                && k != "LC_ALL"
        })
        .collect();
    env.extend(
        set.iter()
            .map(|(k, v)| (OsString::from(k), v.as_os_str().to_owned())),
    );
    env.push(("ZCCACHE_IDLE_TIMEOUT".into(), "600".into()));
    env.push(("LC_ALL".into(), "C".into()));
    env.sort();
    env
}

/// One connection, one request, one reply, as the wrapper's `Conn` does:
/// connect, check the server's uid, send, read under a deadline.
fn call(endpoint: &Path, request: &Request) -> Result<response::Body, String> {
    let mut f = frame::request_frame(1, request);
    f.deadline_unix_ms = u64::try_from(
        (SystemTime::now() + REQUEST_TIMEOUT)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let bytes = frame::encode_frame(&f);
    let mut stream = UnixStream::connect(endpoint)
        .map_err(|e| format!("connect {}: {e}", endpoint.display()))?;
    let uid = sys::peer_uid(&stream).map_err(|e| format!("peer uid: {e}"))?;
    if uid != router::euid() {
        return Err(format!("server runs as uid {uid}"));
    }
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream.write_all(&bytes).map_err(|e| format!("send: {e}"))?;
    let reply =
        frame::read_frame(&mut stream, frame::MAX_FRAME).map_err(|e| format!("receive: {e}"))?;
    if reply.request_id != 1 {
        return Err(format!("reply to request {}", reply.request_id));
    }
    frame::decode_response(&reply)
        .map_err(|e| format!("decode: {e}"))?
        .body
        .ok_or_else(|| "empty reply".to_owned())
}

/// The endpoint the broker names.
fn do_route(broker: &Path, route: &Request) -> Result<PathBuf, String> {
    match call(broker, route)? {
        response::Body::Route(r) => Ok(PathBuf::from(OsString::from_vec(r.endpoint))),
        other => Err(describe(&other)),
    }
}

/// A Lookup that must come back as a hit for every unit; stamped with the
/// current time, as each wrapper run stamps its own start.
fn do_lookup(endpoint: &Path, lookup: &mut Request) -> Result<(), String> {
    if let Some(request::Body::Lookup(l)) = &mut lookup.body {
        l.start_unix_ns = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        )
        .unwrap();
    }
    match call(endpoint, lookup)? {
        response::Body::Lookup(reply) => match reply.outcome {
            Some(lookup_reply::Outcome::Units(u))
                if !u.units.is_empty()
                    && u.units
                        .iter()
                        .all(|a| matches!(a.answer, Some(unit_answer::Answer::Hit(_)))) =>
            {
                Ok(())
            }
            Some(lookup_reply::Outcome::Passthrough(p)) => {
                Err(format!("passthrough: {} {}", p.reason, p.detail))
            }
            other => Err(format!("not a hit: {other:?}")),
        },
        other => Err(describe(&other)),
    }
}

fn describe(body: &response::Body) -> String {
    match body {
        response::Body::Error(e) => format!("error: {}", e.message),
        response::Body::VersionMismatch(m) => format!("version mismatch: {m:?}"),
        _ => "an unexpected kind of answer".to_owned(),
    }
}

fn hits_misses(sb: &Sandbox) -> (u64, u64) {
    let (h, m, _) = sb.hmp();
    (h, m)
}

/// Samples of one series, in nanoseconds, plus the requests that failed.
struct Series {
    name: &'static str,
    ns: Vec<u64>,
    failures: usize,
    first_failure: Option<String>,
}

impl Series {
    fn new(name: &'static str, capacity: usize) -> Series {
        Series {
            name,
            ns: Vec::with_capacity(capacity),
            failures: 0,
            first_failure: None,
        }
    }

    fn record(&mut self, r: Result<Duration, String>) {
        match r {
            Ok(d) => self
                .ns
                .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Err(e) => {
                self.failures += 1;
                self.first_failure.get_or_insert(e);
            }
        }
    }

    fn sorted(&self) -> Vec<u64> {
        let mut s = self.ns.clone();
        s.sort_unstable();
        s
    }
}

/// The smallest sample that at least `p` percent of samples do not exceed
/// (nearest rank), which is what an HDR histogram reports, minus its
/// bucketing.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// First line of a command's stdout, or a note that it failed.
fn first_line(program: &str, args: &[&str]) -> String {
    match Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        _ => format!("({program} failed)"),
    }
}

fn machine_facts(
    workspace: &Path,
    bins: &Path,
    work: &Path,
    before: &str,
    after: &str,
    warm: usize,
    misses: u64,
) -> Vec<(&'static str, String)> {
    let df = Command::new("df")
        .arg("-T")
        .arg(work)
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let f: Vec<String> = text
                .lines()
                .nth(1)?
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            Some(format!(
                "{} on {} (mounted at {})",
                f.get(1)?,
                f.first()?,
                f.last()?
            ))
        });
    let ws = workspace.to_str().unwrap_or(".");
    let commit = first_line("git", &["-C", ws, "rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["-C", ws, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let mut facts = vec![
        ("date", first_line("date", &["-u", "+%F %T UTC"])),
        ("kernel (uname -r)", first_line("uname", &["-r"])),
        ("nproc", first_line("nproc", &[])),
        (
            "filesystem of the sandbox (df -T)",
            df.unwrap_or_else(|| "unknown".into()),
        ),
        ("compiler", first_line("gcc", &["--version"])),
        (
            "zccache",
            first_line(bins.join("zccache").to_str().unwrap(), &["--version"]),
        ),
        ("binaries", bins.display().to_string()),
        (
            "commit",
            if dirty {
                format!("{commit} (working tree has uncommitted changes)")
            } else {
                commit
            },
        ),
        ("load average before", before.to_owned()),
        ("load average after", after.to_owned()),
        (
            "cache state",
            format!("warm: {warm} run(s) of `zccache gcc -c` until the first hit ({misses} miss(es)), then the measured requests"),
        ),
    ];
    // Free text from whoever runs it: what else the machine was doing,
    // which tree the binaries came from.
    if let Some(note) = std::env::var("ROUTE_BENCH_NOTE")
        .ok()
        .filter(|n| !n.is_empty())
    {
        facts.push(("note", note));
    }
    facts
}

struct Report<'a> {
    n: usize,
    spawns: usize,
    socket_secs: f64,
    lookup_bytes: usize,
    env_vars: usize,
    series: &'a [Series; 3],
    wrap: &'a Series,
    truth: &'a Series,
    facts: Vec<(&'static str, String)>,
    counters: (u64, u64),
}

fn render(r: &Report<'_>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# zccache benchmark: Route, direct hit, broker-path hit\n"
    );
    let _ = writeln!(s, "Produced by `bench/route.sh` (`cargo bench -p conformance --bench route`, source `conformance/benches/route.rs`). One client, closed loop, one connection per request (connect, uid check, one frame, one reply), blocking std sockets; the three socket series are interleaved round by round after {WARMUP} unmeasured rounds. Percentiles are nearest-rank over the sorted samples; times in ms.\n");
    let _ = writeln!(s, "## Machine\n");
    let _ = writeln!(s, "| fact | value |\n|---|---|");
    for (k, v) in &r.facts {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\n## Socket paths ({} requests each, {:.1} s in all)\n\nThe Lookup is the one the wrapper would send for `gcc -c a.c -o a.o` from this environment: {} environment variables, a {}-byte frame. Each hit makes the daemon write `a.o` again.\n",
        r.n, r.socket_secs, r.env_vars, r.lookup_bytes
    );
    table(&mut s, r.series.iter());
    let direct = percentile(&r.series[1].sorted(), 50.0);
    let brokered = percentile(&r.series[2].sorted(), 50.0);
    let overhead = brokered as i64 - direct as i64;
    let _ = writeln!(
        s,
        "\nBroker overhead (p50 of the broker path minus p50 of the direct path): **{:.3} ms** (target in faults.md §4: < 0.3 ms p50).\n",
        overhead as f64 / 1e6
    );
    let _ = writeln!(
        s,
        "## Whole process ({} runs each, interleaved)\n",
        r.spawns
    );
    table(&mut s, [r.wrap, r.truth].into_iter());
    let w = percentile(&r.wrap.sorted(), 50.0);
    let t = percentile(&r.truth.sorted(), 50.0);
    let _ = writeln!(
        s,
        "\nWrapper hit minus process spawn, p50: **{:.3} ms**.\n",
        (w as i64 - t as i64) as f64 / 1e6
    );
    let _ = writeln!(
        s,
        "Daemon counters over the measured part (warm-up rounds included): {} hits, {} misses (expected {} hits).",
        r.counters.0,
        r.counters.1,
        2 * (WARMUP + r.n) + WARMUP.min(r.spawns) / 4 + r.spawns + 1
    );
    s
}

fn table<'a>(s: &mut String, rows: impl Iterator<Item = &'a Series>) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "| series | n | p50 | p90 | p99 | max | failed |\n|---|--:|--:|--:|--:|--:|--:|"
    );
    for x in rows {
        let v = x.sorted();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            x.name,
            v.len(),
            ms(percentile(&v, 50.0)),
            ms(percentile(&v, 90.0)),
            ms(percentile(&v, 99.0)),
            ms(v.last().copied().unwrap_or(0)),
            x.failures
        );
        if let Some(e) = &x.first_failure {
            let _ = writeln!(
                s,
                "| (first failure: {}) | | | | | | |",
                e.replace('|', "/")
            );
        }
    }
}
