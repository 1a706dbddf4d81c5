//! The `zccache` subcommands (start, stop, status, zero-stats, clear, release-handles, version, help) and their tables; only `start` may start anything, and nothing here compiles. The `--all` commands and release-handles go through the broker, which fans them out.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use frame::v1::{
    request, response, ClearRequest, ReleaseHandlesRequest, ShutdownRequest, StatusRequest,
    ZeroStatsRequest,
};
use router::RuntimeDir;
use serde_json::Value;

use crate::config::Config;
use crate::conn::Conn;
use crate::invocation::Command;
use crate::route::Place;

pub(crate) const USAGE: &str = "\
usage: zccache <compiler> [args...]    compile through the cache
       zccache start                   start the daemon for this cache root and namespace
       zccache stop                    stop it
       zccache stop --all              stop every daemon of this user, then the broker
       zccache status [--json]         show its statistics (stats: the same)
       zccache status --all [--json]   one row per running daemon of this user
       zccache zero-stats              reset its statistics
       zccache clear                   empty the cache
       zccache release-handles --path P [--json]
                                       make every daemon let go of files under P
                                       (exit 0 when nothing is held there any more)
       zccache --version | --help

A link to zccache named like a compiler (gcc, cc, clang++, ...) runs the
next compiler of that name on PATH through the cache.

Environment: ZCCACHE_CACHE_DIR, ZCCACHE_DAEMON_NAMESPACE, ZCCACHE_DISABLE,
ZCCACHE_LOG, ZCCACHE_CONNECT_TIMEOUT_MS, ZCCACHE_REQUEST_TIMEOUT_MS,
ZCCACHE_SPAWN_TIMEOUT_MS, ZCCACHE_BROKER_EXE, ZCCACHE_PATH_REMAP=auto (share
the cache between git worktrees), ZCCACHE_WORKTREE_ROOT.
";

/// Keys shown first, in this order; the rest follow sorted.
const STATUS_ORDER: [&str; 14] = [
    "version",
    "protocol_version",
    "pid",
    "endpoint",
    "cache_root",
    "namespace",
    "hits",
    "misses",
    "cross_root_hits",
    "passthrough",
    "passthrough_reasons",
    "errors",
    "entries",
    "bytes",
];

/// Runs `command`, returning the exit code.
pub(crate) fn run(command: Command, cfg: &Config) -> i32 {
    use request::Body;
    match command {
        Command::Version => {
            let version = env!("CARGO_PKG_VERSION");
            println!("zccache {version} (protocol {})", frame::PROTOCOL_VERSION);
            0
        }
        Command::Help => {
            print!("{USAGE}");
            0
        }
        Command::Start => with_place(|place| match place.route(cfg) {
            Ok((_, reply)) => {
                println!(
                    "{}",
                    Path::new(OsStr::from_bytes(&reply.endpoint)).display()
                );
                0
            }
            Err(e) => fail(&e),
        }),
        // Stopping what does not run has succeeded; the others have not.
        Command::Stop { all: false } => ask_daemon(
            cfg,
            Body::Shutdown(ShutdownRequest { all: false }),
            0,
            |answer| acked(answer, "daemon stopped"),
        ),
        Command::Stop { all: true } => stop_all(cfg),
        Command::Status { json, all: true } => status_all(cfg, json),
        Command::ReleaseHandles { path, json } => {
            release_handles(cfg, path.unwrap_or_default(), json)
        }
        Command::ZeroStats => ask_daemon(cfg, Body::ZeroStats(ZeroStatsRequest {}), 1, |answer| {
            acked(answer, "statistics zeroed")
        }),
        Command::Clear => ask_daemon(cfg, Body::Clear(ClearRequest {}), 1, |answer| {
            acked(answer, "cache cleared")
        }),
        Command::Status { json, all: false } => with_place(|place| {
            if let Some(refused) = refusal_of(place, cfg) {
                print!("{}", refused.show(json));
                return 0;
            }
            ask_daemon(
                cfg,
                Body::Status(StatusRequest { all: false }),
                1,
                |answer| match answer {
                    response::Body::Status(reply) if json => {
                        println!("{}", reply.json);
                        0
                    }
                    response::Body::Status(reply) => {
                        print!("{}", status_table(&reply.json));
                        0
                    }
                    other => fail(&format!("daemon answered with {}", frame::describe(&other))),
                },
            )
        }),
    }
}

/// Why this root and namespace get no daemon, if they do not: the root is
/// not ours alone (checked here), or a running broker refuses them (asked,
/// never started).
fn refusal_of(place: &Place, cfg: &Config) -> Option<Refused> {
    let root = place.root.display().to_string();
    let refused = |reason: &str, detail: &str| Refused {
        cache_root: root.clone(),
        namespace: place.namespace.clone(),
        reason: reason.to_owned(),
        detail: detail.to_owned(),
    };
    if let Some(refusal) = &place.untrusted {
        return Some(refused(refusal.as_str(), &refusal.to_string()));
    }
    if place.connect_daemon(cfg).is_ok() {
        return None;
    }
    let endpoint = router::broker_paths(&place.rt, frame::PROTOCOL_VERSION).endpoint;
    let mut broker = Conn::connect(&endpoint, cfg.connect_timeout).ok()?;
    let body = request::Body::Status(StatusRequest { all: true });
    let Ok(response::Body::Status(reply)) = broker.call(body, fan_out_wait(cfg)) else {
        return None;
    };
    let list: Value = serde_json::from_str(&reply.refusals_json).ok()?;
    list.as_array()?
        .iter()
        .find(|r| r["cache_root"] == root.as_str() && r["namespace"] == place.namespace.as_str())
        .map(|r| {
            refused(
                r["refused"].as_str().unwrap_or_default(),
                r["detail"].as_str().unwrap_or_default(),
            )
        })
}

/// A root and namespace routed no daemon, as `status` shows it.
struct Refused {
    cache_root: String,
    namespace: String,
    reason: String,
    detail: String,
}

impl Refused {
    fn show(&self, json: bool) -> String {
        if json {
            let value = serde_json::json!({
                "cache_root": self.cache_root,
                "namespace": self.namespace,
                "refused": self.reason,
                "detail": self.detail,
            });
            return format!("{value}\n");
        }
        format!("{} ({})\n", self.detail, self.reason)
    }
}

fn with_place(f: impl FnOnce(&Place) -> i32) -> i32 {
    match std::env::current_dir() {
        Ok(cwd) => match Place::from_env(&cwd) {
            Ok(place) => f(&place),
            Err(e) => fail(&e),
        },
        Err(e) => fail(&format!("current directory: {e}")),
    }
}

/// Sends `body` to this root and namespace's daemon, if one runs, and
/// hands its answer to `answered`. Starts nothing: with no daemon it says
/// so and returns `absent`.
fn ask_daemon(
    cfg: &Config,
    body: request::Body,
    absent: i32,
    answered: impl FnOnce(response::Body) -> i32,
) -> i32 {
    with_place(|place| {
        let mut conn = match place.connect_daemon(cfg) {
            Ok(conn) => conn,
            Err(e) if e.is_nobody_home() => {
                let root = place.root.display();
                let nobody = format!("no daemon running for {root} ({})", place.namespace);
                if absent == 0 {
                    println!("{nobody}");
                    return 0;
                }
                return fail(&nobody);
            }
            Err(e) => return fail(&format!("daemon: {e}")),
        };
        match conn.call(body, cfg.request_timeout) {
            Ok(answer) => answered(answer),
            Err(e) => fail(&format!("daemon: {e}")),
        }
    })
}

/// The broker, if one runs; never starts one. `Err` carries the exit code
/// after the failure has been reported.
fn running_broker(cfg: &Config) -> Result<Option<(RuntimeDir, Conn)>, i32> {
    let rt = match router::runtime_dir() {
        Ok(rt) => rt,
        Err(e) => return Err(fail(&format!("runtime directory: {e}"))),
    };
    crate::route::announce_runtime_dir(&rt);
    let endpoint = router::broker_paths(&rt, frame::PROTOCOL_VERSION).endpoint;
    match Conn::connect(&endpoint, cfg.connect_timeout) {
        Ok(conn) => Ok(Some((rt, conn))),
        Err(e) if e.is_nobody_home() => {
            // Only the broker starts daemons, but they may outlive it.
            let orphans = answering_daemons(&rt, cfg);
            if orphans.is_empty() {
                return Ok(None);
            }
            Err(fail(&format!(
                "no broker runs, but {} daemon(s) answer in {}; `zccache start` starts the broker, which finds them",
                orphans.len(),
                rt.path().display()
            )))
        }
        Err(e) => Err(fail(&format!("broker: {e}"))),
    }
}

/// The daemon endpoints in the runtime directory on which a daemon of ours
/// and of our protocol version answers a Status (one of another version
/// answers with a mismatch and is not ours to count).
fn answering_daemons(rt: &RuntimeDir, cfg: &Config) -> Vec<PathBuf> {
    let answers = |endpoint: &Path| {
        let Ok(mut conn) = Conn::connect(endpoint, cfg.connect_timeout) else {
            return false;
        };
        let status = request::Body::Status(StatusRequest { all: false });
        matches!(
            conn.call(status, cfg.request_timeout),
            Ok(response::Body::Status(_))
        )
    };
    let Ok(entries) = std::fs::read_dir(rt.path()) else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            name.as_bytes().starts_with(b"d-") && name.as_bytes().ends_with(b".sock")
        })
        .map(|e| e.path())
        .filter(|p| answers(p))
        .collect()
}

/// How long the broker may take for a request it fans out to every daemon
/// (each bounded on its side).
fn fan_out_wait(cfg: &Config) -> Duration {
    cfg.request_timeout + Duration::from_secs(15)
}

fn status_all(cfg: &Config, json: bool) -> i32 {
    let (answer, refusals) = match running_broker(cfg) {
        Err(code) => return code,
        Ok(None) => ("[]".to_owned(), String::new()),
        Ok(Some((_, mut broker))) => {
            let body = request::Body::Status(StatusRequest { all: true });
            match broker.call(body, fan_out_wait(cfg)) {
                Ok(response::Body::Status(reply)) => (reply.json, reply.refusals_json),
                Ok(other) => {
                    return fail(&format!("broker answered with {}", frame::describe(&other)))
                }
                Err(e) => return fail(&format!("broker: {e}")),
            }
        }
    };
    if json {
        println!("{answer}");
    } else {
        print!("{}", daemons_table(&answer));
        print!("{}", refusal_lines(&refusals));
    }
    0
}

/// One line per root and namespace the broker routes no daemon for.
pub(crate) fn refusal_lines(json: &str) -> String {
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(json) else {
        return String::new();
    };
    list.iter()
        .map(|r| {
            format!(
                "not served: {} ({}): {} ({})\n",
                cell(&r["cache_root"]),
                cell(&r["namespace"]),
                cell(&r["detail"]),
                cell(&r["refused"])
            )
        })
        .collect()
}

/// Asks the broker to stop every daemon and then itself, and waits until
/// its endpoint is gone, so that no daemon or broker runs once this
/// returns 0.
fn stop_all(cfg: &Config) -> i32 {
    let (rt, mut broker) = match running_broker(cfg) {
        Err(code) => return code,
        Ok(None) => {
            println!("no broker or daemon running");
            return 0;
        }
        Ok(Some(found)) => found,
    };
    let body = request::Body::Shutdown(ShutdownRequest { all: true });
    match broker.call(body, fan_out_wait(cfg)) {
        Ok(response::Body::Ack(_)) => {}
        Ok(other) => return fail(&format!("broker answered with {}", frame::describe(&other))),
        Err(e) => return fail(&format!("broker: {e}")),
    }
    drop(broker);
    let endpoint = router::broker_paths(&rt, frame::PROTOCOL_VERSION).endpoint;
    let deadline = Instant::now() + cfg.request_timeout;
    loop {
        match Conn::connect(&endpoint, cfg.connect_timeout) {
            Err(e) if e.is_nobody_home() => break,
            _ if Instant::now() >= deadline => {
                return fail(&"the broker acknowledged but is still answering");
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let left = answering_daemons(&rt, cfg);
    if !left.is_empty() {
        return fail(&format!(
            "{} daemon(s) still answer after stop --all",
            left.len()
        ));
    }
    println!("all daemons and the broker stopped");
    0
}

fn release_handles(cfg: &Config, path: OsString, json: bool) -> i32 {
    let path = PathBuf::from(path);
    let path = if path.is_absolute() {
        path
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(path),
            Err(e) => return fail(&format!("current directory: {e}")),
        }
    };
    let reply = match running_broker(cfg) {
        Err(code) => return code,
        Ok(None) => frame::v1::ReleaseHandlesReply {
            json: "[]".to_owned(),
            all_released: true,
        },
        Ok(Some((_, mut broker))) => {
            let body = request::Body::ReleaseHandles(ReleaseHandlesRequest {
                path: path.as_os_str().as_bytes().to_vec(),
            });
            match broker.call(body, fan_out_wait(cfg)) {
                Ok(response::Body::ReleaseHandles(reply)) => reply,
                Ok(other) => {
                    return fail(&format!("broker answered with {}", frame::describe(&other)))
                }
                Err(e) => return fail(&format!("broker: {e}")),
            }
        }
    };
    if json {
        println!("{}", reply.json);
    } else {
        print!("{}", release_report(&reply.json, &path));
    }
    i32::from(!reply.all_released)
}

fn acked(answer: response::Body, done: &str) -> i32 {
    match answer {
        response::Body::Ack(_) => {
            println!("{done}");
            0
        }
        other => fail(&format!("daemon answered with {}", frame::describe(&other))),
    }
}

fn fail(what: &dyn std::fmt::Display) -> i32 {
    let _ = writeln!(std::io::stderr(), "zccache: {what}");
    1
}

/// The daemon's status object as an aligned two-column table; nested
/// objects (the passthrough reasons) are listed indented below their key.
/// Anything that is not a JSON object is shown as it came.
pub(crate) fn status_table(json: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return format!("{json}\n");
    };
    let mut keys: Vec<&String> = STATUS_ORDER
        .iter()
        .filter_map(|k| map.get_key_value(*k).map(|(k, _)| k))
        .collect();
    let mut rest: Vec<&String> = map
        .keys()
        .filter(|k| !STATUS_ORDER.contains(&k.as_str()))
        .collect();
    rest.sort();
    keys.extend(rest);
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for key in keys {
        match &map[key.as_str()] {
            Value::Object(inner) if !inner.is_empty() => {
                out.push_str(key);
                out.push('\n');
                let inner_width = inner.keys().map(String::len).max().unwrap_or(0);
                for (name, value) in inner {
                    out.push_str(&format!("  {name:inner_width$}  {}\n", cell(value)));
                }
            }
            value => out.push_str(&format!("{key:width$}  {}\n", cell(value))),
        }
    }
    out
}

/// The broker's array of daemon status objects as an aligned table, one
/// row per daemon; the header alone when there are none.
pub(crate) fn daemons_table(json: &str) -> String {
    const HEADER: [&str; 8] = [
        "CACHE ROOT",
        "NAMESPACE",
        "PID",
        "UPTIME",
        "HITS",
        "MISSES",
        "ENTRIES",
        "BYTES",
    ];
    let Ok(Value::Array(daemons)) = serde_json::from_str::<Value>(json) else {
        return format!("{json}\n");
    };
    let number = |d: &Value, k: &str| d[k].as_u64().map_or("-".to_owned(), |n| n.to_string());
    let mut rows: Vec<[String; 8]> = vec![HEADER.map(str::to_owned)];
    for d in &daemons {
        rows.push([
            cell(&d["cache_root"]),
            cell(&d["namespace"]),
            number(d, "pid"),
            d["uptime_secs"].as_u64().map_or("-".to_owned(), uptime),
            number(d, "hits"),
            number(d, "misses"),
            number(d, "entries"),
            d["bytes"].as_u64().map_or("-".to_owned(), size),
        ]);
    }
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (text, width)) in row.iter().zip(&widths).enumerate() {
            let pad = width - text.chars().count();
            // Text columns are left-aligned, numbers right-aligned.
            if i < 2 {
                line.push_str(text);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What each daemon released under `path`, one line per daemon, from the
/// broker's array of daemon reports.
pub(crate) fn release_report(json: &str, path: &Path) -> String {
    let Ok(Value::Array(daemons)) = serde_json::from_str::<Value>(json) else {
        return format!("{json}\n");
    };
    if daemons.is_empty() {
        return format!(
            "no daemon running; nothing is held under {}\n",
            path.display()
        );
    }
    let mut out = String::new();
    for d in &daemons {
        out.push_str(&format!(
            "{} ({}) pid {}: ",
            cell(&d["cache_root"]),
            cell(&d["namespace"]),
            cell(&d["pid"])
        ));
        if let Some(refused) = d["refused"].as_str() {
            out.push_str(&format!("refused: {refused}\n"));
            continue;
        }
        if let Some(error) = d["error"].as_str() {
            out.push_str(&format!("not released: {error}\n"));
            continue;
        }
        let released: Vec<String> = d["released"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .map(|(what, n)| format!("{} {}", cell(n), what.replace('_', " ")))
            .collect();
        if released.is_empty() {
            out.push_str("released nothing");
        } else {
            out.push_str(&format!("released {}", released.join(", ")));
        }
        let held: Vec<String> = d["held"]
            .as_array()
            .into_iter()
            .flatten()
            .map(cell)
            .collect();
        if held.is_empty() {
            out.push_str("; holds nothing there\n");
        } else {
            out.push_str(&format!("; still holds {}\n", held.join(", ")));
        }
    }
    out
}

/// `3h04m`, `12m05s`, `45s`, `2d03h`.
fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

/// Bytes in binary units with one decimal, exact below 1 KiB.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        Value::Object(m) if m.is_empty() => "-".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(json: &str, expected: &str) {
        assert_eq!(status_table(json), expected);
    }

    #[test]
    fn status_tables() {
        check(
            r#"{"misses":2,"hits":5,"zzz":true,"version":"0.1.0","namespace":"default",
                "passthrough_reasons":{"preprocessor_only":3,"linking":1},"passthrough":4,
                "cache_root":"/c","aaa":null,"list":[1,2]}"#,
            "\
version              0.1.0
cache_root           /c
namespace            default
hits                 5
misses               2
passthrough          4
passthrough_reasons
  linking            1
  preprocessor_only  3
aaa                  -
list                 [1,2]
zzz                  true
",
        );
        check(
            r#"{"hits":0,"passthrough_reasons":{}}"#,
            "hits                 0\npassthrough_reasons  -\n",
        );
        check("[1,2]", "[1,2]\n");
        check("not json", "not json\n");
    }

    #[test]
    fn daemon_tables() {
        #[track_caller]
        fn check(json: &str, expected: &str) {
            assert_eq!(daemons_table(json), expected);
        }
        let header = "CACHE ROOT  NAMESPACE  PID  UPTIME  HITS  MISSES  ENTRIES  BYTES\n";
        check("[]", header);
        check(
            r#"[{"cache_root":"/home/u/.cache/zccache","namespace":"default","pid":4242,
                 "uptime_secs":3725,"hits":10,"misses":2,"entries":12,"bytes":1536},
                {"cache_root":"/c","namespace":"ci","pid":7,"uptime_secs":5,
                 "hits":0,"misses":0,"entries":0,"bytes":0}]"#,
            "\
CACHE ROOT              NAMESPACE   PID  UPTIME  HITS  MISSES  ENTRIES    BYTES
/home/u/.cache/zccache  default    4242   1h02m    10       2       12  1.5 KiB
/c                      ci            7      5s     0       0        0      0 B
",
        );
        check(
            r#"[{"cache_root":"/c"}]"#,
            "\
CACHE ROOT  NAMESPACE  PID  UPTIME  HITS  MISSES  ENTRIES  BYTES
/c          -            -       -     -       -        -      -
",
        );
        check("{}", "{}\n");
    }

    #[test]
    fn refusal_tables() {
        assert_eq!(refusal_lines(""), "");
        assert_eq!(refusal_lines("[]"), "");
        assert_eq!(
            refusal_lines(
                r#"[{"cache_root":"/c","namespace":"a","refused":"daemon_backoff",
                     "detail":"the daemon keeps exiting"}]"#
            ),
            "not served: /c (a): the daemon keeps exiting (daemon_backoff)\n"
        );
    }

    #[test]
    fn release_reports() {
        #[track_caller]
        fn check(json: &str, expected: &str) {
            assert_eq!(release_report(json, Path::new("/w")), expected);
        }
        check("[]", "no daemon running; nothing is held under /w\n");
        check(
            r#"[{"cache_root":"/c","namespace":"a","pid":1,
                 "released":{"metadata_entries":3,"manifests":0,"scans":2,"watches":0},
                 "held":[],"refused":null},
                {"cache_root":"/c","namespace":"b","pid":2,"released":{},"held":["/w/x.c"]},
                {"cache_root":"/w/c","namespace":"default","pid":3,"released":{},"held":[],
                 "refused":"/w/c lies under /w: stop this daemon instead"},
                {"cache_root":"/d","namespace":"default","pid":4,"error":"no answer within 10000 ms"}]"#,
            "\
/c (a) pid 1: released 3 metadata entries, 2 scans; holds nothing there
/c (b) pid 2: released nothing; still holds /w/x.c
/w/c (default) pid 3: refused: /w/c lies under /w: stop this daemon instead
/d (default) pid 4: not released: no answer within 10000 ms
",
        );
        check("oops", "oops\n");
    }

    #[test]
    fn uptimes_and_sizes() {
        for (secs, text) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (3599, "59m59s"),
            (3600, "1h00m"),
            (86_399, "23h59m"),
            (86_400 * 3 + 3600 * 5, "3d05h"),
        ] {
            assert_eq!(uptime(secs), text, "{secs}");
        }
        for (bytes, text) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (5 * 1024 * 1024 + 512 * 1024, "5.5 MiB"),
            (u64::MAX, "16.0 EiB"),
        ] {
            assert_eq!(size(bytes), text, "{bytes}");
        }
    }
}
