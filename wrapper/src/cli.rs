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
use crate::explain;
use crate::invocation::Command;
use crate::route::Place;
use crate::tables::{
    config_table, daemons_table, refusal_lines, release_report, stats_summary, status_table,
};

pub(crate) const USAGE: &str = "\
usage: zccache <compiler> [args...]    compile through the cache
       zccache start                   start the daemon for this cache root and namespace
                                       (also --start-server)
       zccache stop                    stop it (also --stop-server)
       zccache stop --all              stop every daemon of this user, then the broker
       zccache stats [-v] [--json]     its statistics: hit rate, C and Rust apart, reasons,
                                       size against the limit; -v every counter
                                       (also status, -s, --show-stats, -sv, --show-adv-stats)
       zccache status --all [--json]   one row per running daemon of this user
       zccache zero-stats              reset its statistics (also -z, --zero-stats)
       zccache clear                   empty the cache (also -C, --clear)
       zccache config                  every setting, its value and where it came from
                                       (also -p, --show-config)
       zccache explain [SOURCE|OBJECT] [--json]
                                       what happened to the last compiles (or to one),
                                       and for a miss what differed from the last hit
       zccache max-size SIZE           set the size limit in the config file, e.g. 20G
                                       (also -M SIZE, --max-size SIZE)
       zccache release-handles --path P [--json]
                                       make every daemon let go of files under P
                                       (exit 0 when nothing is held there any more)
       zccache version | help          (also -V, --version, -h, --help)

A link to zccache named like a compiler (gcc, cc, clang++, ...) runs the
next compiler of that name on PATH through the cache. stats, zero-stats and
clear start the daemon when none runs.

Settings: $ZCCACHE_CONFIG, else $XDG_CONFIG_HOME/zccache/config.toml (or
~/.config/zccache/config.toml) and then <cache root>/zccache.toml; the
environment overrides both. Keys and variables: `zccache config` lists them
(cache_dir ZCCACHE_CACHE_DIR, namespace ZCCACHE_DAEMON_NAMESPACE, max_size
ZCCACHE_MAX_SIZE, idle_timeout ZCCACHE_IDLE_TIMEOUT, disable ZCCACHE_DISABLE,
log ZCCACHE_LOG, path_remap ZCCACHE_PATH_REMAP, worktree_root
ZCCACHE_WORKTREE_ROOT, and the *_timeout_ms knobs).

Logs: the daemon's is <runtime dir>/d-<key>.log (`zccache stats` names it),
the broker's <runtime dir>/broker-p<protocol>.log; the runtime dir is
$ZCCACHE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/zccache, else /tmp/zccache-<uid>.
ZCCACHE_LOG=1 prints why a compile was not served by the cache.
";

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
        Command::Start => with_place(cfg, |place| match place.route(cfg) {
            Ok((_, reply)) => {
                println!(
                    "{}",
                    Path::new(OsStr::from_bytes(&reply.endpoint)).display()
                );
                0
            }
            Err(e) => fail(&e),
        }),
        // Stopping what does not run has succeeded.
        Command::Stop { all: false } => with_place(cfg, |place| match place.connect_daemon(cfg) {
            Err(e) if e.is_nobody_home() => {
                println!("no daemon running for {}", described(place));
                0
            }
            _ => ask_daemon(cfg, Body::Shutdown(ShutdownRequest { all: false }), |a| {
                acked(a, "daemon stopped")
            }),
        }),
        Command::Stop { all: true } => stop_all(cfg),
        Command::Status {
            json, all: true, ..
        } => status_all(cfg, json),
        Command::ReleaseHandles { path, json } => {
            release_handles(cfg, path.unwrap_or_default(), json)
        }
        Command::ZeroStats => ask_daemon(cfg, Body::ZeroStats(ZeroStatsRequest {}), |answer| {
            acked(answer, "statistics zeroed")
        }),
        Command::Clear => ask_daemon(cfg, Body::Clear(ClearRequest {}), |answer| {
            acked(answer, "cache cleared")
        }),
        Command::ShowConfig => {
            print!("{}", config_table(&cfg.settings));
            0
        }
        Command::MaxSize { size } => set_max_size(cfg, &size.unwrap_or_default()),
        Command::Explain { path, json } => with_place(cfg, |place| {
            let cwd = std::env::current_dir().unwrap_or_default();
            let records = explain::read_journal(&place.root, &place.namespace);
            let told = explain::explain(&records, path.as_deref().map(Path::new), &cwd);
            if json {
                let list: Vec<Value> = told
                    .into_iter()
                    .map(|(r, why)| serde_json::json!({"record": r, "explanation": why}))
                    .collect();
                println!("{}", Value::Array(list));
            } else {
                print!("{}", explain::show(&told));
            }
            0
        }),
        Command::Status {
            json,
            all: false,
            verbose,
        } => with_place(cfg, |place| {
            if let Some(refused) = refusal_of(place, cfg) {
                print!("{}", refused.show(json));
                return 0;
            }
            ask_daemon(
                cfg,
                Body::Status(StatusRequest { all: false }),
                |answer| match answer {
                    response::Body::Status(reply) if json => {
                        println!("{}", reply.json);
                        0
                    }
                    response::Body::Status(reply) if verbose => {
                        print!("{}", status_table(&reply.json));
                        0
                    }
                    response::Body::Status(reply) => {
                        print!("{}", stats_summary(&reply.json));
                        0
                    }
                    other => fail(&format!("daemon answered with {}", frame::describe(&other))),
                },
            )
        }),
    }
}

/// `root (namespace)`, as messages name a daemon.
fn described(place: &Place) -> String {
    format!("{} ({})", place.root.display(), place.namespace)
}

/// `-M SIZE`: checks the size and writes it into the config file this
/// root reads (`ZCCACHE_CONFIG`, else `<root>/zccache.toml`); a running
/// daemon notices the edit by itself.
fn set_max_size(cfg: &Config, size: &OsStr) -> i32 {
    let Some(size) = size.to_str() else {
        return fail(&"the size is not UTF-8");
    };
    let bytes = match settings::parse_size(size) {
        Ok(bytes) => bytes,
        Err(e) => return fail(&e),
    };
    with_place(cfg, |place| {
        let file = settings::writable_file(&|n| std::env::var_os(n), &place.root);
        if let Err(e) = settings::set_in_file(&file, "max_size", size) {
            return fail(&e);
        }
        println!(
            "max_size set to {} in {}",
            settings::show_size(bytes),
            file.display()
        );
        if let settings::Origin::Env(var) = cfg.settings.get("max_size").origin {
            println!("note: {var} in the environment overrides it for daemons started from here");
        }
        0
    })
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

fn with_place(cfg: &Config, f: impl FnOnce(&Place) -> i32) -> i32 {
    match std::env::current_dir() {
        Ok(cwd) => match Place::new(&cwd, cfg) {
            Ok(place) => f(&place),
            Err(e) => fail(&e),
        },
        Err(e) => fail(&format!("current directory: {e}")),
    }
}

/// Sends `body` to this root and namespace's daemon and hands its answer
/// to `answered`. With no daemon running, the broker starts one first (the
/// counters and the store are on disk; the daemon owns them), and this
/// says so on stderr.
fn ask_daemon(
    cfg: &Config,
    body: request::Body,
    answered: impl FnOnce(response::Body) -> i32,
) -> i32 {
    with_place(cfg, |place| {
        let mut conn = match place.connect_daemon(cfg) {
            Ok(conn) => conn,
            Err(e) if e.is_nobody_home() => match place.route(cfg) {
                Ok((conn, _)) => {
                    eprintln!(
                        "zccache: no daemon was running for {}; started one",
                        described(place)
                    );
                    conn
                }
                Err(e) => return fail(&e),
            },
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
