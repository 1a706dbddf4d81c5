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
mod deliver;
mod explain;
mod invocation;
mod profile;
mod pty;
mod resolve;
mod route;
mod tables;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::exit;
use std::time::{SystemTime, UNIX_EPOCH};

use frame::v1::{
    lookup_reply, request, response, EnvVar, Lookup, LookupReply, Request, Undelivered,
};

use crate::compile::{Outcome, Report};
use crate::config::{Config, LogLevel};
use crate::conn::{Conn, ConnError};
use crate::invocation::Entry;
use crate::resolve::{Compiler, Search};
use crate::route::Place;
use frame::describe;

fn main() {
    compile::mark_start();
    profile::start();
    let start_unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let cwd = std::env::current_dir();
    let cfg = Config::load(&|name| std::env::var_os(name), cwd.as_deref().ok());
    profile::lap("config");
    let (compiler, args) = match invocation::parse(std::env::args_os().collect()) {
        Entry::Command(command) => exit(cli::run(command, &cfg)),
        Entry::Usage(what) => {
            eprintln!("zccache: {what}\n{}", cli::USAGE);
            exit(2)
        }
        Entry::Mistyped { typed, meant } => {
            eprintln!(
                "zccache: {typed} is not a command; did you mean `zccache {meant}`? (zccache --help lists them)"
            );
            exit(2)
        }
        Entry::Wrap { compiler, args } => with_search(&cwd, |s| s.wrap(compiler, args)),
        Entry::Masquerade { argv0, args } => {
            let found = with_search(&cwd, |s| s.masquerade(&argv0).map(|c| (c, args)));
            // Meson (and others) put ccache or sccache in front of the `gcc`
            // they find, which may be our link: one cache is enough.
            // Said only when asked: that cache stores our stderr with the
            // compile's and would replay the line on every hit.
            if let Some(cache) = os::parent_cache() {
                if cfg.log >= LogLevel::Warn {
                    eprintln!(
                        "zccache: passthrough (called by {cache}, which caches it already; \
                         name the real compiler in CC/CXX to use zccache instead): {}",
                        argv0.to_string_lossy()
                    );
                }
                exec_directly(&found.0, &found.1);
            }
            found
        }
    };
    profile::lap("resolve");
    if cfg.disabled {
        profile::finish("exec", "disabled");
        exec_directly(&compiler, &args);
    }
    let outcome = match cwd {
        Ok(cwd) => cached_compile(&compiler, &args, cwd, &cfg, start_unix_ns),
        Err(e) => Outcome::Fallback(format!("current directory: {e}")),
    };
    profile::finish(
        "serve",
        match &outcome {
            Outcome::Exit(_) => "served",
            Outcome::Passthrough(_) => "passthrough",
            Outcome::Fallback(_) => "fallback",
        },
    );
    match outcome {
        Outcome::Exit(code) => exit(code),
        Outcome::Passthrough(reason) => {
            if cfg.log >= LogLevel::Warn {
                eprintln!(
                    "zccache: passthrough ({reason}): {}",
                    call_line(&compiler, &args)
                );
            }
        }
        Outcome::Fallback(what) => {
            if cfg.log >= LogLevel::Warn {
                eprintln!(
                    "zccache: fallback ({what}), compiling directly: {}",
                    call_line(&compiler, &args)
                );
            }
        }
    }
    exec_directly(&compiler, &args)
}

/// Resolves the compiler against our cwd and PATH, skipping ourselves; a
/// compiler that cannot be found ends the process the way a shell would.
fn with_search(
    cwd: &io::Result<PathBuf>,
    resolve: impl FnOnce(&Search<'_>) -> Result<(Compiler, Vec<OsString>), resolve::ResolveError>,
) -> (Compiler, Vec<OsString>) {
    // Without a cwd only absolute names and PATH entries can resolve.
    let cwd = cwd.as_deref().unwrap_or(Path::new("/"));
    let path = std::env::var_os("PATH");
    let me = std::env::current_exe()
        .ok()
        .and_then(|exe| os::file_id(&exe));
    let is_self = |p: &Path| me.is_some() && os::file_id(p) == me;
    match resolve(&Search {
        path: path.as_deref(),
        cwd,
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
    exit(compile::spawn_failure_code(&err))
}

/// The cache path: one Lookup, then whatever the reply asks for.
fn cached_compile(
    compiler: &Compiler,
    args: &[OsString],
    cwd: PathBuf,
    cfg: &Config,
    start_unix_ns: u64,
) -> Outcome {
    for e in &cfg.settings.errors {
        say_once(&format!(
            "config: {e}; that setting keeps its default or lower-layer value"
        ));
    }
    let place = match Place::new(&cwd, cfg) {
        Ok(place) => place,
        Err(e) => {
            // A cache root that cannot be used needs a person; every compile
            // still runs, so say it once, not on every compile.
            if e.needs_a_person() {
                say_once(&format!("{e}; compiling without the cache"));
            }
            return Outcome::Fallback(e.to_string());
        }
    };
    profile::lap("place");
    let stderr_is_tty = std::io::stderr().is_terminal();
    let terminal = stderr_is_tty.then(pty::terminal);
    let request = Request::new(request::Body::Lookup(Lookup {
        compiler: compiler.exe.as_os_str().as_bytes().to_vec(),
        args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        cwd: cwd.into_os_string().into_vec(),
        env: std::env::vars_os()
            .map(|(name, value)| (name.into_vec(), value.into_vec()))
            .chain(
                cfg.lookup_additions()
                    .into_iter()
                    .map(|(name, value)| (name.as_bytes().to_vec(), value.into_bytes())),
            )
            .map(|(name, value)| EnvVar { name, value })
            .collect(),
        argv0: compiler.argv0.as_bytes().to_vec(),
        stderr_is_tty,
        start_unix_ns,
        probes: Vec::new(),
        terminal,
    }));
    profile::lap("request");
    let (mut conn, mut reply) = match lookup(&place, &request, cfg) {
        Ok(found) => found,
        Err(what) => return Outcome::Fallback(what),
    };
    if let Some(lookup_reply::Outcome::Probe(probe)) = reply.outcome {
        // One probe round: the answers go back in the same Lookup. A second
        // Probe reaches `serve`, which compiles directly: never a loop.
        let mut request = request;
        if let Some(request::Body::Lookup(l)) = &mut request.body {
            l.probes = compile::run_probes(&probe, &mut compile::Process(compiler));
        }
        reply = match ask(&mut conn, &request, cfg) {
            Ok(reply) => reply,
            Err(e) => return Outcome::Fallback(format!("daemon: {e}")),
        };
    }
    let fds = conn.take_descriptors();
    let mut connected = true;
    let mut report = |report: Report| {
        // The compile already happened (or is about to), so a failed
        // report only costs a future hit; after one failure the connection
        // is not trusted.
        let body = match report {
            // The terminal was resized while the compiler ran: what it
            // wrote may fit another width than the key holds.
            Report::Store(_) if terminal.is_some_and(|t| t != pty::terminal()) => {
                if cfg.log >= LogLevel::Warn {
                    let call = call_line(compiler, args);
                    eprintln!("zccache: miss (not stored: {}): {call}", pty::RESIZED);
                }
                return;
            }
            Report::Store(store) => request::Body::Store(store),
            Report::Unstored { reason } => {
                if cfg.log >= LogLevel::Warn {
                    let call = call_line(compiler, args);
                    eprintln!("zccache: miss (not stored: {reason}): {call}");
                }
                return;
            }
            Report::Undelivered { entry, reason } => request::Body::Undelivered(Undelivered {
                entry,
                reason: reason.to_owned(),
            }),
        };
        let is_store = matches!(body, request::Body::Store(_));
        let answer = connected.then(|| conn.call(body, cfg.request_timeout));
        connected = matches!(answer, Some(Ok(_)));
        if is_store && cfg.log >= LogLevel::Warn {
            let stored = match &answer {
                Some(Ok(response::Body::Store(r))) if r.stored => "stored".to_owned(),
                Some(Ok(response::Body::Store(r))) => format!("not stored: {}", r.reason),
                Some(Ok(other)) => format!("not stored: the daemon answered {}", describe(other)),
                Some(Err(e)) => format!("not stored: {e}"),
                None => "not stored: an earlier report to the daemon failed".to_owned(),
            };
            eprintln!("zccache: miss ({stored}): {}", call_line(compiler, args));
        }
    };
    compile::serve(
        reply,
        fds,
        &mut compile::Process(compiler),
        &mut report,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// The direct endpoint first; on any failure there (nobody home, a
/// mismatch, an error, silence) once through the broker.
fn lookup(place: &Place, request: &Request, cfg: &Config) -> Result<(Conn, LookupReply), String> {
    let direct = place.connect_daemon(cfg).and_then(|mut conn| {
        profile::lap("connect");
        ask(&mut conn, request, cfg).map(|reply| (conn, reply))
    });
    let first = match direct {
        Ok(found) => return Ok(found),
        // The daemon behind the broker would refuse it just the same.
        Err(e) if e.is_too_large() => return Err(format!("daemon: {e}")),
        Err(e) => e,
    };
    if cfg.log >= LogLevel::Debug {
        eprintln!("zccache: daemon: {first}; asking the broker");
    }
    let (mut conn, _) = place.route(cfg).map_err(|e| e.to_string())?;
    let reply = ask(&mut conn, request, cfg).map_err(|e| format!("daemon: {e}"))?;
    Ok((conn, reply))
}

fn ask(conn: &mut Conn, request: &Request, cfg: &Config) -> Result<LookupReply, ConnError> {
    match conn.call_request(request, cfg.request_timeout)? {
        response::Body::Lookup(reply) => Ok(reply),
        other => Err(ConnError::Answer(describe(&other))),
    }
}

/// Prints `line` on stderr unless this user's runtime directory says it
/// was printed before (a marker named by its hash): a broken setting or
/// cache root is reported by the first compile, not by every one.
fn say_once(line: &str) {
    let Ok(rt) = router::runtime_dir() else {
        return;
    };
    let hash = blake3::hash(line.as_bytes()).to_hex();
    let marker = rt.path().join(format!("said-{}", &hash[..16]));
    let first = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_ok();
    if first {
        eprintln!("zccache: {line}");
    }
}

/// The compile as one line for a log message: argv[0] and the arguments,
/// cut at 300 bytes.
fn call_line(compiler: &Compiler, args: &[OsString]) -> String {
    let mut line = compiler.argv0.to_string_lossy().into_owned();
    for a in args {
        line.push(' ');
        line.push_str(&a.to_string_lossy());
    }
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push_str(" …");
    }
    line
}
