//! The `zccache` subcommands (start, stop, status, zero-stats, clear, version, help) and the status table; only `start` may start anything, and nothing here compiles.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use frame::v1::{
    request, response, ClearRequest, ShutdownRequest, StatusRequest, ZeroStatsRequest,
};
use serde_json::Value;

use crate::config::Config;
use crate::invocation::Command;
use crate::route::{describe, Place};

pub(crate) const USAGE: &str = "\
usage: zccache <compiler> [args...]    compile through the cache
       zccache start                   start the daemon for this cache root and namespace
       zccache stop                    stop it
       zccache status [--json]         show its statistics (stats: the same)
       zccache zero-stats              reset its statistics
       zccache clear                   empty the cache
       zccache --version | --help

A link to zccache named like a compiler (gcc, cc, clang++, ...) runs the
next compiler of that name on PATH through the cache.

Environment: ZCCACHE_CACHE_DIR, ZCCACHE_DAEMON_NAMESPACE, ZCCACHE_DISABLE,
ZCCACHE_LOG, ZCCACHE_CONNECT_TIMEOUT_MS, ZCCACHE_REQUEST_TIMEOUT_MS,
ZCCACHE_SPAWN_TIMEOUT_MS, ZCCACHE_BROKER_EXE.
";

/// Keys shown first, in this order; the rest follow sorted.
const STATUS_ORDER: [&str; 13] = [
    "version",
    "protocol_version",
    "pid",
    "endpoint",
    "cache_root",
    "namespace",
    "hits",
    "misses",
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
        Command::Stop => ask_daemon(cfg, Body::Shutdown(ShutdownRequest { all: false }), 0, |answer| {
            acked(answer, "daemon stopped")
        }),
        Command::ZeroStats => ask_daemon(cfg, Body::ZeroStats(ZeroStatsRequest {}), 1, |answer| {
            acked(answer, "statistics zeroed")
        }),
        Command::Clear => ask_daemon(cfg, Body::Clear(ClearRequest {}), 1, |answer| {
            acked(answer, "cache cleared")
        }),
        Command::Status { json } => ask_daemon(
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
                other => fail(&format!("daemon answered with {}", describe(&other))),
            },
        ),
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

fn acked(answer: response::Body, done: &str) -> i32 {
    match answer {
        response::Body::Ack(_) => {
            println!("{done}");
            0
        }
        other => fail(&format!("daemon answered with {}", describe(&other))),
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
}
