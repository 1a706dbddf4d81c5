//! `zccache`: the short-lived, synchronous compiler wrapper and command line; it never writes the store, never starts a daemon itself, and on any failure of the cache runs the real compiler unchanged.
//!
//! A compile goes: argv → the real compiler (resolve.rs) → one Lookup to
//! the daemon (route.rs: its endpoint directly, else a Route through the
//! broker) → the reply carried out (compile.rs). Whatever fails before any
//! output was replayed ends in `exec` of the compiler with the original
//! argv, environment, cwd and stdin (faults.md P1).

#[cfg(unix)]
#[path = "os/unix.rs"]
mod os;

mod cli;
mod compile;
mod config;
mod conn;
mod invocation;
mod resolve;
mod route;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::exit;
use std::time::{SystemTime, UNIX_EPOCH};

use frame::v1::{request, response, EnvVar, Lookup, LookupReply, Request, Store};

use crate::compile::Outcome;
use crate::config::{Config, LogLevel};
use crate::conn::Conn;
use crate::invocation::Entry;
use crate::resolve::{Compiler, Search};
use crate::route::{describe, Place};

fn main() {
    let start_unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let cfg = Config::from_env(|name| std::env::var_os(name));
    let (compiler, args) = match invocation::parse(std::env::args_os().collect()) {
        Entry::Command(command) => exit(cli::run(command, &cfg)),
        Entry::Usage(what) => {
            eprintln!("zccache: {what}\n{}", cli::USAGE);
            exit(2)
        }
        Entry::Wrap { compiler, args } => with_search(|s| s.wrap(compiler, args)),
        Entry::Masquerade { argv0, args } => {
            with_search(|s| s.masquerade(&argv0).map(|c| (c, args)))
        }
    };
    if cfg.disabled {
        exec_directly(&compiler, &args);
    }
    match cached_compile(&compiler, &args, &cfg, start_unix_ns) {
        Outcome::Exit(code) => exit(code),
        Outcome::Passthrough(reason) => {
            if cfg.log >= LogLevel::Debug {
                eprintln!("zccache: passthrough ({reason}); running the compiler unchanged");
            }
        }
        Outcome::Fallback(what) => {
            if cfg.log >= LogLevel::Warn {
                eprintln!("zccache: {what}; compiling directly");
            }
        }
    }
    exec_directly(&compiler, &args)
}

/// Resolves the compiler against our cwd and PATH, skipping ourselves; a
/// compiler that cannot be found ends the process the way a shell would.
fn with_search(
    resolve: impl FnOnce(&Search<'_>) -> Result<(Compiler, Vec<OsString>), resolve::ResolveError>,
) -> (Compiler, Vec<OsString>) {
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = std::env::var_os("PATH");
    let me = std::env::current_exe()
        .ok()
        .and_then(|exe| os::file_id(&exe));
    let is_self = |p: &Path| me.is_some() && os::file_id(p) == me;
    match resolve(&Search {
        path: path.as_deref(),
        cwd: &cwd,
        is_self: &is_self,
    }) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("zccache: {e}");
            exit(e.exit_code())
        }
    }
}

/// Becomes the compiler: same argv, environment, cwd, stdin and signals.
fn exec_directly(compiler: &Compiler, args: &[OsString]) -> ! {
    let _ = std::io::stdout().flush();
    let err = os::exec(os::command(&compiler.exe, &compiler.argv0).args(args));
    eprintln!("zccache: cannot run {}: {err}", compiler.exe.display());
    exit(if err.kind() == std::io::ErrorKind::PermissionDenied {
        126
    } else {
        127
    })
}

/// The cache path: one Lookup, then whatever the reply asks for.
fn cached_compile(
    compiler: &Compiler,
    args: &[OsString],
    cfg: &Config,
    start_unix_ns: u64,
) -> Outcome {
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => return Outcome::Fallback(format!("current directory: {e}")),
    };
    let place = match Place::from_env(&cwd) {
        Ok(place) => place,
        Err(e) => return Outcome::Fallback(e.to_string()),
    };
    let request = Request::new(request::Body::Lookup(Lookup {
        compiler: compiler.exe.as_os_str().as_bytes().to_vec(),
        args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: cwd.into_os_string().into_vec(),
        env: std::env::vars_os()
            .map(|(name, value)| EnvVar {
                name: name.into_vec(),
                value: value.into_vec(),
            })
            .collect(),
        argv0: compiler.argv0.as_bytes().to_vec(),
        stderr_is_tty: std::io::stderr().is_terminal(),
        start_unix_ns,
    }));
    // A server refuses a first frame above this before reading it; sending
    // it would only cost two refusals.
    let size = frame::encode_frame(&frame::request_frame(1, &request)).len();
    if size > frame::MAX_FIRST_FRAME {
        return Outcome::Fallback(format!("the lookup request is too large ({size} bytes)"));
    }
    let (mut conn, reply) = match lookup(&place, &request, cfg) {
        Ok(found) => found,
        Err(what) => return Outcome::Fallback(what),
    };
    let mut connected = true;
    let mut store = |store: Store| {
        // The compile already happened, so a failed Store only costs a
        // future hit; after one failure the connection is not trusted.
        if connected {
            connected = conn
                .call(request::Body::Store(store), cfg.request_timeout)
                .is_ok();
        }
    };
    compile::serve(
        reply,
        &mut compile::Process(compiler),
        &mut store,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// The direct endpoint first; on any failure there (nobody home, a
/// mismatch, an error, silence) once through the broker.
fn lookup(place: &Place, request: &Request, cfg: &Config) -> Result<(Conn, LookupReply), String> {
    let direct = place
        .connect_daemon(cfg)
        .map_err(|e| format!("daemon: {e}"))
        .and_then(|mut conn| ask(&mut conn, request, cfg).map(|reply| (conn, reply)));
    let first = match direct {
        Ok(found) => return Ok(found),
        Err(first) => first,
    };
    if cfg.log >= LogLevel::Debug {
        eprintln!("zccache: {first}; asking the broker");
    }
    let (mut conn, _) = place.route(cfg).map_err(|e| e.to_string())?;
    let reply = ask(&mut conn, request, cfg)?;
    Ok((conn, reply))
}

fn ask(conn: &mut Conn, request: &Request, cfg: &Config) -> Result<LookupReply, String> {
    match conn.call_request(request, cfg.request_timeout) {
        Ok(response::Body::Lookup(reply)) => Ok(reply),
        Ok(other) => Err(format!(
            "daemon answered the lookup with {}",
            describe(&other)
        )),
        Err(e) => Err(format!("daemon: {e}")),
    }
}
