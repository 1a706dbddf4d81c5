//! Carries out a daemon's LookupReply: writes and replays hits, runs the compiler for misses and reports them with Store; it never chooses an argv of its own and never reads our stdin.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::Stdio;

use frame::v1::{
    lookup_reply, unit_answer, Hit, LookupReply, Miss, Probe, ProbeResult, Store, UnitAnswer,
};

use crate::deliver::{self, Undeliverable};
use crate::os;
use crate::pty;
use crate::resolve::Compiler;

/// What the wrapper does once the reply has been handled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything was served; exit with this code.
    Exit(i32),
    /// The daemon says: not cacheable, run the compiler unchanged.
    Passthrough(String),
    /// Nothing was replayed yet and the cache cannot go on; compile
    /// directly. The text names what failed.
    Fallback(String),
}

/// What the wrapper tells the daemon after acting on its reply.
#[derive(Debug, PartialEq)]
pub(crate) enum Report {
    /// A finished miss with a token.
    Store(Store),
    /// The hit from `entry` was not written (`reason`, a counter name);
    /// the compiler runs instead.
    Undelivered {
        entry: Vec<u8>,
        reason: &'static str,
    },
    /// A finished miss the daemon said before would not be stored
    /// (`reason`, a counter name): nothing to send, something to log.
    Unstored { reason: String },
}

/// One compiler run with its outputs captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

/// Runs the compiler; the seam the tests replace.
pub(crate) trait Runner {
    /// Runs the compiler with exactly `args` as argv[1..], our stdin
    /// inherited, stdout and stderr captured.
    fn run(&mut self, args: &[OsString]) -> io::Result<Output>;

    /// Runs the compiler with `args` as argv[1..], stdin null (a probe
    /// must never eat the build's input), stdout and stderr captured.
    fn probe(&mut self, args: &[OsString]) -> io::Result<Output>;

    /// Like [`Runner::run`], but stderr is a fresh pseudo-terminal
    /// ([`pty::Pty`]) and the output returned holds what the compiler wrote
    /// there. `Ok(None)` when no pseudo-terminal could be opened: nothing ran.
    fn run_on_pty(&mut self, args: &[OsString]) -> io::Result<Option<Output>>;

    /// Like [`Runner::run`], but stderr also goes to `err` line by line
    /// while the compiler runs (ANSI colour removed when `strip`); the
    /// output returned holds stderr as the compiler wrote it.
    fn run_streaming(
        &mut self,
        args: &[OsString],
        err: &mut dyn Write,
        strip: bool,
    ) -> io::Result<Output> {
        let output = self.run(args)?;
        show_stderr(err, &output.stderr, strip);
        Ok(output)
    }
}

/// The real compiler.
pub(crate) struct Process<'a>(pub(crate) &'a Compiler);

impl Runner for Process<'_> {
    fn run(&mut self, args: &[OsString]) -> io::Result<Output> {
        self.spawn(args, Stdio::inherit())
    }

    fn probe(&mut self, args: &[OsString]) -> io::Result<Output> {
        self.spawn(args, Stdio::null())
    }

    fn run_on_pty(&mut self, args: &[OsString]) -> io::Result<Option<Output>> {
        let Ok(pty::Pty { master, slave }) = pty::Pty::open() else {
            return Ok(None);
        };
        let mut command = os::command(&self.0.exe, &self.0.argv0);
        command
            .args(args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(slave));
        let mut child = command.spawn()?;
        // The command holds the slave; the master reads its end (EIO) only
        // once every copy of the slave is closed.
        drop(command);
        let mut stdout_pipe = child.stdout.take().expect("stdout is piped");
        let stdout = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout_pipe.read_to_end(&mut v);
            v
        });
        let mut master = std::fs::File::from(master);
        let mut stderr = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => stderr.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EIO: every slave is closed and what it held was read.
                Err(_) => break,
            }
        }
        let status = child.wait()?;
        Ok(Some(Output {
            code: os::exit_code(status),
            stdout: stdout.join().unwrap_or_default(),
            stderr,
        }))
    }

    fn run_streaming(
        &mut self,
        args: &[OsString],
        err: &mut dyn Write,
        strip: bool,
    ) -> io::Result<Output> {
        let mut child = os::command(&self.0.exe, &self.0.argv0)
            .args(args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // stdout on its own thread, so a compiler filling it while we wait
        // on stderr cannot deadlock.
        let mut stdout_pipe = child.stdout.take().expect("stdout is piped");
        let stdout = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout_pipe.read_to_end(&mut v);
            v
        });
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let mut raw = Vec::new();
        let mut shown = 0;
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match stderr_pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The compile runs on; what it still writes is lost to us,
                // not to its exit code.
                Err(_) => break,
            };
            raw.extend_from_slice(&buf[..n]);
            if let Some(nl) = raw[shown..].iter().rposition(|b| *b == b'\n') {
                let end = shown + nl + 1;
                show_stderr(err, &raw[shown..end], strip);
                shown = end;
            }
        }
        show_stderr(err, &raw[shown..], strip);
        drop(stderr_pipe);
        let status = child.wait()?;
        Ok(Output {
            code: os::exit_code(status),
            stdout: stdout.join().unwrap_or_default(),
            stderr: raw,
        })
    }
}

/// Writes compiler stderr for the user, ANSI colour removed when `strip`.
fn show_stderr(err: &mut dyn Write, bytes: &[u8], strip: bool) {
    let shown = if strip {
        frame::ansi::strip(bytes)
    } else {
        bytes.into()
    };
    let _ = err.write_all(&shown).and_then(|()| err.flush());
}

impl Process<'_> {
    fn spawn(&self, args: &[OsString], stdin: Stdio) -> io::Result<Output> {
        // `wait_with_output` drains both pipes at once, so a compiler that
        // fills one while we read the other cannot deadlock.
        let output = os::command(&self.0.exe, &self.0.argv0)
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?
            .wait_with_output()?;
        Ok(Output {
            code: os::exit_code(output.status),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

/// The most a probe's output may hold and still be sent back: the
/// Lookup that carries it must stay within one frame (`frame::MAX_FRAME`),
/// beside a whole environment. A preprocessor run of a huge unit is
/// reported as not run (the daemon then misses, as without it).
const PROBE_OUTPUT_LIMIT: usize = 8 * 1024 * 1024;

/// Runs each probe the daemon asked for; a run that cannot start, or
/// whose output is beyond [`PROBE_OUTPUT_LIMIT`], reports exit code 127
/// and no output, which the daemon treats as "unknown".
pub(crate) fn run_probes(probe: &Probe, runner: &mut impl Runner) -> Vec<ProbeResult> {
    let not_run = || Output {
        code: 127,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    probe
        .runs
        .iter()
        .map(|run| {
            let output = runner
                .probe(&to_os(run.args.clone()))
                .ok()
                .filter(|o| o.stdout.len() + o.stderr.len() <= PROBE_OUTPUT_LIMIT)
                .unwrap_or_else(not_run);
            ProbeResult {
                args: run.args.clone(),
                exit_code: output.code,
                stdout: output.stdout,
                stderr: output.stderr,
            }
        })
        .collect()
}

/// Serves `reply` in source order: first writes every hit's outputs (`fds`
/// are the descriptors that came with the reply), then replays and
/// compiles unit by unit. `report` gets each finished miss that has a
/// token, and the entry of a hit whose output failed its digest; what
/// becomes of them does not matter here. Outputs go to `out` and `err`
/// byte for byte.
pub(crate) fn serve(
    reply: LookupReply,
    fds: Vec<OwnedFd>,
    runner: &mut impl Runner,
    report: &mut impl FnMut(Report),
    out: &mut impl Write,
    err: &mut impl Write,
) -> Outcome {
    let units = match reply.outcome {
        None => return Outcome::Fallback("the daemon sent an empty lookup answer".to_owned()),
        Some(lookup_reply::Outcome::Passthrough(p)) => return Outcome::Passthrough(p.reason),
        Some(lookup_reply::Outcome::Units(units)) => units.units,
        Some(lookup_reply::Outcome::Probe(_)) => {
            return Outcome::Fallback("the daemon asked for a second probe round".to_owned())
        }
    };
    // Check every answer before acting on any: after the first replay a
    // direct compile would repeat output.
    if units.is_empty() {
        return Outcome::Fallback("the daemon answered with no units".to_owned());
    }
    let Some(answers) = units
        .into_iter()
        .map(|UnitAnswer { answer }| answer)
        .collect::<Option<Vec<_>>>()
    else {
        return Outcome::Fallback("the daemon sent a unit without an answer".to_owned());
    };
    if let Some(why) = unwritable_private_path(&answers) {
        return Outcome::Fallback(why);
    }
    if let Err(outcome) = write_hits(&answers, fds, report) {
        return outcome;
    }
    let mut first_failure = 0;
    let mut replayed = false;
    for answer in answers {
        let code = match answer {
            unit_answer::Answer::Hit(Hit {
                stdout,
                stderr,
                exit_code,
                ..
            }) => {
                emit(out, err, &stdout, &stderr);
                exit_code
            }
            unit_answer::Answer::Miss(miss) => match compile(miss, runner, report, out, err) {
                Ok(Compiled::Code(code)) => code,
                Ok(Compiled::Refused { why, output }) if !replayed => {
                    let _ = output;
                    return Outcome::Fallback(why);
                }
                // Unreachable in practice: a compiler that took the option
                // for an earlier unit takes it for this one.
                Ok(Compiled::Refused { output, .. }) => {
                    emit(out, err, &output.stdout, &output.stderr);
                    output.code
                }
                // The caller's own command shows exactly what the compiler
                // would; the cache stores nothing it could not capture.
                Ok(Compiled::NoPty { .. }) if !replayed => {
                    return Outcome::Fallback(format!(
                        "{}: cannot open a pseudo-terminal for the compiler's stderr",
                        pty::UNAVAILABLE
                    ))
                }
                // Unreachable in practice (several sources pass through):
                // compile as without a terminal, and store nothing.
                Ok(Compiled::NoPty { args }) => match runner.run(&args) {
                    Ok(output) => {
                        emit(out, err, &output.stdout, &output.stderr);
                        output.code
                    }
                    Err(e) => {
                        let _ = writeln!(err, "zccache: cannot run the compiler: {e}");
                        spawn_failure_code(&e)
                    }
                },
                Err(e) if !replayed => {
                    return Outcome::Fallback(format!("cannot run the compiler for a miss: {e}"))
                }
                Err(e) => {
                    let _ = writeln!(err, "zccache: cannot run the compiler: {e}");
                    spawn_failure_code(&e)
                }
            },
        };
        replayed = true;
        if first_failure == 0 {
            first_failure = code;
        }
    }
    Outcome::Exit(first_failure)
}

/// Writes the outputs of every hit before anything is replayed, so a hit
/// that cannot be written still lets the compiler run as if we were not
/// there. An output only the compiler can write (a device, a FIFO, under
/// `/dev`) passes through; any other failure (a damaged entry, an
/// unwritable place) compiles. Either way the daemon is told, so the hit
/// it counted becomes a miss and a damaged entry is dropped.
fn write_hits(
    answers: &[unit_answer::Answer],
    fds: Vec<OwnedFd>,
    report: &mut impl FnMut(Report),
) -> Result<(), Outcome> {
    let hits: Vec<&Hit> = answers
        .iter()
        .filter_map(|a| match a {
            unit_answer::Answer::Hit(h) => Some(h),
            unit_answer::Answer::Miss(_) => None,
        })
        .collect();
    // Every hit of the reply becomes a compile: the one that failed says
    // why, the others that a sibling failed.
    let mut tell = |failed: Option<usize>, e: &Undeliverable| {
        for (i, hit) in hits.iter().enumerate() {
            let reason = match failed {
                Some(f) if f != i => "sibling_undelivered",
                _ => e.reason(),
            };
            report(Report::Undelivered {
                entry: hit.entry.clone(),
                reason,
            });
        }
    };
    for hit in &hits {
        if let Err(e) = deliver::preflight(&hit.outputs) {
            tell(None, &e);
            return Err(Outcome::Passthrough(format!("{} ({e})", e.reason())));
        }
    }
    let mut slots: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
    for (i, hit) in hits.iter().enumerate() {
        if let Err(e) = deliver::write_all(&hit.outputs, &mut slots) {
            tell(Some(i), &e);
            return Err(Outcome::Fallback(e.to_string()));
        }
    }
    Ok(())
}

/// What a shell exits with when it cannot start a program.
pub(crate) fn spawn_failure_code(err: &io::Error) -> i32 {
    if err.kind() == io::ErrorKind::PermissionDenied {
        126
    } else {
        127
    }
}

/// Creates every private file the misses' argvs name, before anything
/// runs or is shown: a private directory that is gone, read-only or not
/// ours must make the caller's own command run, not fail the compile. The
/// text says why when one cannot be created.
fn unwritable_private_path(answers: &[unit_answer::Answer]) -> Option<String> {
    answers
        .iter()
        .filter_map(|answer| match answer {
            unit_answer::Answer::Miss(miss) => Some(&miss.private_paths),
            unit_answer::Answer::Hit(_) => None,
        })
        .flatten()
        .find_map(|path| {
            let path = Path::new(OsStr::from_bytes(path));
            std::fs::File::create(path)
                .err()
                .map(|e| format!("cannot create the private depfile {}: {e}", path.display()))
        })
}

/// Whether a failed compile's stderr names something the cache added: an
/// option (`Miss.injected_option`) or a private file (`Miss.private_paths`).
/// The compile then failed for the cache's sake; the text says how.
fn failed_for_the_cache(output: &Output, option: &str, private: &[Vec<u8>]) -> Option<String> {
    let names = |needle: &[u8]| {
        !needle.is_empty() && output.stderr.windows(needle.len()).any(|w| w == needle)
    };
    if output.code == 0 {
        None
    } else if names(option.as_bytes()) {
        Some(format!(
            "the compiler does not know {option}, which zccache added"
        ))
    } else {
        private.iter().find(|p| names(p)).map(|p| {
            format!(
                "the compile failed on the private depfile {}",
                String::from_utf8_lossy(p)
            )
        })
    }
}

/// How one miss ended.
enum Compiled {
    /// Outputs written, Store sent when there was a token.
    Code(i32),
    /// The compiler failed on something the cache added to its argv
    /// (`Miss.injected_option`, `Miss.private_paths`): nothing shown,
    /// nothing stored; the text says why.
    Refused { why: String, output: Output },
    /// The miss wanted stderr on a pseudo-terminal and none could be
    /// opened ([`pty::UNAVAILABLE`]): nothing ran; `args` are the miss's.
    NoPty { args: Vec<OsString> },
}

/// Compiles one miss, writes its outputs, runs the dependency pass when
/// asked, and hands the result to `store`. Fails only when the compiler
/// could not be started, before anything was written.
fn compile(
    miss: Miss,
    runner: &mut impl Runner,
    report: &mut impl FnMut(Report),
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<Compiled> {
    let Miss {
        token,
        args,
        deps_args,
        no_store_reason,
        strip_ansi,
        injected_option,
        stream_stderr,
        private_paths,
        stderr_pty,
    } = miss;
    // A refused added option must leave no output behind, so such a miss is
    // never streamed.
    let streamed = stream_stderr && injected_option.is_empty() && !stderr_pty;
    let args = to_os(args);
    let spawn_unix_ns = spawn_moment();
    let output = if stderr_pty {
        match runner.run_on_pty(&args)? {
            Some(output) => output,
            None => return Ok(Compiled::NoPty { args }),
        }
    } else if streamed {
        runner.run_streaming(&args, err, strip_ansi)?
    } else {
        runner.run(&args)?
    };
    // An older compiler may not know the path prefix map remap adds, and a
    // full disk may refuse our private depfile: the caller's own command
    // must then decide the build, not what the cache added.
    if !streamed {
        if let Some(why) = failed_for_the_cache(&output, &injected_option, &private_paths) {
            return Ok(Compiled::Refused { why, output });
        }
    }
    emit(out, err, &output.stdout, b"");
    if !streamed {
        show_stderr(err, &output.stderr, strip_ansi);
    }
    let deps_exit_code = if output.code == 0 && !deps_args.is_empty() {
        // The dependency pass only writes files; its streams are noise.
        match runner.run(&to_os(deps_args)) {
            Ok(deps) => deps.code,
            Err(_) => 127,
        }
    } else {
        0
    };
    if token != 0 {
        report(Report::Store(Store {
            token,
            exit_code: output.code,
            stdout: output.stdout,
            stderr: output.stderr,
            deps_exit_code,
            spawn_unix_ns,
        }));
    } else {
        report(Report::Unstored {
            reason: no_store_reason,
        });
    }
    Ok(Compiled::Code(output.code))
}

/// The coarse clock when this process started ([`mark_start`]).
static STARTED_COARSE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Notes the coarse clock as the wrapper starts, first thing in `main`.
pub(crate) fn mark_start() {
    let _ = STARTED_COARSE.set(coarse_now_ns());
}

/// The too-new guard's moment (`Store.spawn_unix_ns`), read right before a
/// miss's compiler is spawned: every write the compiler may have missed
/// carries this time or a later one, and the daemon distrusts a file
/// stamped at or after it. Taken once the coarse clock has ticked past
/// this process's start, so that a file finished before the wrapper ran (a
/// generated header, a configure probe) is never stamped "at" it: a wait
/// of at most one tick (1 to 10 ms), usually none, as the Lookup took
/// longer. 0 (unknown: the daemon keeps its older, wider guard) when the
/// clock cannot be read or does not move.
fn spawn_moment() -> u64 {
    let started = STARTED_COARSE.get().copied().unwrap_or(0);
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let now = coarse_now_ns();
        if now > started {
            return now;
        }
        if now == 0 || std::time::Instant::now() > give_up {
            return 0;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// `CLOCK_REALTIME_COARSE` now, the clock the kernel stamps file times
/// from; 0 if it cannot be read.
fn coarse_now_ns() -> u64 {
    // SAFETY: `ts` is plain data that clock_gettime fills in; the return
    // code is checked.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) != 0 {
            return 0;
        }
        u64::try_from(ts.tv_sec)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000))
            .and_then(|ns| ns.checked_add(u64::try_from(ts.tv_nsec).ok()?))
            .unwrap_or(0)
    }
}

/// Writes a unit's streams; a closed stdout is the reader's choice and not
/// worth failing over.
fn emit(out: &mut impl Write, err: &mut impl Write, stdout: &[u8], stderr: &[u8]) {
    let _ = out.write_all(stdout).and_then(|()| out.flush());
    let _ = err.write_all(stderr).and_then(|()| err.flush());
}

fn to_os(args: Vec<Vec<u8>>) -> Vec<OsString> {
    args.into_iter().map(OsString::from_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use frame::v1::{Passthrough, Units};

    /// Answers runs from a script, keyed by the first argument.
    #[derive(Default)]
    struct Script {
        outputs: Vec<(&'static str, io::Result<Output>)>,
        ran: Vec<Vec<OsString>>,
        /// Every pseudo-terminal fails to open.
        no_pty: bool,
        /// Runs that had stderr on a pseudo-terminal.
        pty_runs: usize,
    }

    impl Runner for Script {
        fn run(&mut self, args: &[OsString]) -> io::Result<Output> {
            self.ran.push(args.to_vec());
            let first = args.first().and_then(|a| a.to_str()).unwrap_or("");
            let at = self
                .outputs
                .iter()
                .position(|(k, _)| *k == first)
                .expect("unscripted run");
            self.outputs.remove(at).1
        }

        fn probe(&mut self, args: &[OsString]) -> io::Result<Output> {
            self.run(args)
        }

        fn run_on_pty(&mut self, args: &[OsString]) -> io::Result<Option<Output>> {
            if self.no_pty {
                return Ok(None);
            }
            self.pty_runs += 1;
            self.run(args).map(Some)
        }
    }

    fn output(code: i32, stdout: &str, stderr: &str) -> io::Result<Output> {
        Ok(Output {
            code,
            stdout: stdout.into(),
            stderr: stderr.into(),
        })
    }

    fn hit(code: i32, stdout: &str, stderr: &str) -> UnitAnswer {
        UnitAnswer {
            answer: Some(unit_answer::Answer::Hit(Hit {
                stdout: stdout.into(),
                stderr: stderr.into(),
                exit_code: code,
                outputs: Vec::new(),
                entry: Vec::new(),
            })),
        }
    }

    fn miss(token: u64, args: &[&str], deps_args: &[&str]) -> UnitAnswer {
        let bytes = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect();
        UnitAnswer {
            answer: Some(unit_answer::Answer::Miss(Miss {
                token,
                args: bytes(args),
                deps_args: bytes(deps_args),
                no_store_reason: if token == 0 {
                    "no outputs".into()
                } else {
                    String::new()
                },
                strip_ansi: false,
                injected_option: String::new(),
                stream_stderr: false,
                private_paths: Vec::new(),
                stderr_pty: false,
            })),
        }
    }

    /// A miss with some of its fields set by `set`.
    fn miss_with(token: u64, args: &[&str], set: impl FnOnce(&mut Miss)) -> UnitAnswer {
        let mut answer = miss(token, args, &[]);
        if let Some(unit_answer::Answer::Miss(m)) = &mut answer.answer {
            set(m);
        }
        answer
    }

    fn units(units: Vec<UnitAnswer>) -> LookupReply {
        LookupReply {
            outcome: Some(lookup_reply::Outcome::Units(Units { units })),
        }
    }

    struct Served {
        outcome: Outcome,
        stdout: String,
        stderr: String,
        stores: Vec<Store>,
        undelivered: Vec<(Vec<u8>, &'static str)>,
        ran: Vec<Vec<OsString>>,
        pty_runs: usize,
    }

    fn serve_with(reply: LookupReply, script: Vec<(&'static str, io::Result<Output>)>) -> Served {
        serve_on(
            Script {
                outputs: script,
                ..Script::default()
            },
            reply,
        )
    }

    fn serve_on(mut runner: Script, reply: LookupReply) -> Served {
        let (mut stores, mut undelivered) = (vec![], vec![]);
        let (mut out, mut err) = (vec![], vec![]);
        let outcome = serve(
            reply,
            Vec::new(),
            &mut runner,
            &mut |r| match r {
                Report::Store(s) => stores.push(s),
                Report::Undelivered { entry, reason } => undelivered.push((entry, reason)),
                Report::Unstored { .. } => {}
            },
            &mut out,
            &mut err,
        );
        assert!(runner.outputs.is_empty(), "scripted runs left over");
        Served {
            outcome,
            stdout: String::from_utf8(out).unwrap(),
            stderr: String::from_utf8(err).unwrap(),
            stores,
            undelivered,
            ran: runner.ran,
            pty_runs: runner.pty_runs,
        }
    }

    /// A hit whose one output goes to `path` with `bytes` (`digest_of`
    /// decides the digest it claims).
    fn hit_writing(path: &std::path::Path, bytes: &[u8], digest_of: &[u8]) -> UnitAnswer {
        use std::os::unix::ffi::OsStrExt;
        let mut answer = hit(0, "out", "warn");
        if let Some(unit_answer::Answer::Hit(h)) = &mut answer.answer {
            h.outputs = vec![frame::v1::Output {
                path: path.as_os_str().as_bytes().to_vec(),
                write: frame::v1::WriteMode::Replace as i32,
                size: bytes.len() as u64,
                digest: blake3::hash(digest_of).as_bytes().to_vec(),
                content: bytes.to_vec(),
                descriptor: 0,
            }];
            h.entry = b"entry-key".to_vec();
        }
        answer
    }

    #[test]
    fn hits_write_their_outputs_or_leave_the_compile_to_the_compiler() {
        let dir = std::env::temp_dir().join(format!("zc-serve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let obj = dir.join("a.o");

        let s = serve_with(units(vec![hit_writing(&obj, b"OBJ", b"OBJ")]), vec![]);
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert_eq!((s.stdout.as_str(), s.stderr.as_str()), ("out", "warn"));
        assert_eq!(std::fs::read(&obj).unwrap(), b"OBJ");

        // A damaged entry: nothing replayed or written, the daemon told.
        let s = serve_with(units(vec![hit_writing(&obj, b"BAD", b"OBJ")]), vec![]);
        assert!(matches!(s.outcome, Outcome::Fallback(_)), "{:?}", s.outcome);
        assert_eq!((s.stdout.as_str(), s.stderr.as_str()), ("", ""));
        assert_eq!(
            s.undelivered,
            vec![(b"entry-key".to_vec(), "corrupt_output")]
        );
        assert_eq!(std::fs::read(&obj).unwrap(), b"OBJ");

        // Only the compiler writes to a device.
        let dev = std::path::Path::new("/dev/stdout");
        let s = serve_with(units(vec![hit_writing(dev, b"OBJ", b"OBJ")]), vec![]);
        assert!(
            matches!(s.outcome, Outcome::Passthrough(_)),
            "{:?}",
            s.outcome
        );
        assert_eq!((s.stdout.as_str(), s.stderr.as_str()), ("", ""));

        // An unwritable place: the compiler runs and decides.
        let nowhere = dir.join("no/such/dir/a.o");
        let s = serve_with(units(vec![hit_writing(&nowhere, b"OBJ", b"OBJ")]), vec![]);
        assert!(matches!(s.outcome, Outcome::Fallback(_)), "{:?}", s.outcome);
        assert_eq!(
            s.undelivered,
            vec![(b"entry-key".to_vec(), "output_not_writable")]
        );

        // Two hits, the second damaged: neither is replayed, both are told.
        let mut first = hit_writing(&obj, b"ONE", b"ONE");
        if let Some(unit_answer::Answer::Hit(h)) = &mut first.answer {
            h.entry = b"first".to_vec();
        }
        let s = serve_with(
            units(vec![first, hit_writing(&obj, b"BAD", b"TWO")]),
            vec![],
        );
        assert!(matches!(s.outcome, Outcome::Fallback(_)), "{:?}", s.outcome);
        assert_eq!((s.stdout.as_str(), s.stderr.as_str()), ("", ""));
        assert_eq!(
            s.undelivered,
            vec![
                (b"first".to_vec(), "sibling_undelivered"),
                (b"entry-key".to_vec(), "corrupt_output")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passthrough_and_malformed_replies_run_nothing() {
        let passthrough = LookupReply {
            outcome: Some(lookup_reply::Outcome::Passthrough(Passthrough {
                reason: "preprocessor_only".into(),
                detail: "-E".into(),
            })),
        };
        let s = serve_with(passthrough, vec![]);
        assert_eq!(s.outcome, Outcome::Passthrough("preprocessor_only".into()));
        let s = serve_with(LookupReply { outcome: None }, vec![]);
        assert!(matches!(s.outcome, Outcome::Fallback(_)));
        let s = serve_with(units(vec![]), vec![]);
        assert!(matches!(s.outcome, Outcome::Fallback(_)));
        // One unit without an answer spoils the lot, before anything replays.
        let s = serve_with(
            units(vec![hit(0, "x", ""), UnitAnswer { answer: None }]),
            vec![],
        );
        assert!(matches!(s.outcome, Outcome::Fallback(_)));
        assert_eq!(s.stdout, "");
    }

    #[test]
    fn hits_replay_byte_exact() {
        let s = serve_with(units(vec![hit(0, "out", "warning: x\n")]), vec![]);
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert_eq!(
            (s.stdout.as_str(), s.stderr.as_str()),
            ("out", "warning: x\n")
        );
        assert!(s.stores.is_empty());
    }

    #[test]
    fn a_miss_compiles_then_stores() {
        let s = serve_with(
            units(vec![miss(7, &["-c", "a.c", "-o", "a.o"], &[])]),
            vec![("-c", output(0, "", "a.c: warning\n"))],
        );
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert_eq!(s.stderr, "a.c: warning\n");
        assert_eq!(
            s.ran,
            vec![vec![
                OsString::from("-c"),
                "a.c".into(),
                "-o".into(),
                "a.o".into()
            ]]
        );
        // The spawn's moment comes from the coarse clock, read before the
        // compiler ran: not later than now.
        let spawn = s.stores[0].spawn_unix_ns;
        assert!(spawn > 0 && spawn <= coarse_now_ns(), "{spawn}");
        assert_eq!(
            s.stores,
            vec![Store {
                token: 7,
                exit_code: 0,
                stdout: vec![],
                stderr: b"a.c: warning\n".to_vec(),
                deps_exit_code: 0,
                spawn_unix_ns: spawn,
            }]
        );
    }

    #[test]
    fn the_spawn_moment_is_a_tick_past_the_start() {
        // A file written before the wrapper started is stamped at most its
        // start: the moment must be later, never equal.
        mark_start();
        let started = *STARTED_COARSE.get().unwrap();
        assert!(started > 0);
        assert!(spawn_moment() > started);
    }

    #[test]
    fn a_coloured_miss_is_shown_plain_and_stored_coloured() {
        let answer = miss_with(5, &["--crate-name", "x", "--color=always"], |m| {
            m.strip_ansi = true;
        });
        let coloured = "\x1b[1m\x1b[33mwarning\x1b[0m: x\n";
        let s = serve_with(
            units(vec![answer]),
            vec![("--crate-name", output(0, "", coloured))],
        );
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert_eq!(s.stderr, "warning: x\n");
        assert_eq!(s.stores[0].stderr, coloured.as_bytes());
    }

    #[test]
    fn a_compiler_refusing_the_added_option_falls_back_to_the_callers_command() {
        let with_option = |code: i32, stderr: &'static str| {
            let answer = miss_with(6, &["-c", "a.c", "-ffile-prefix-map=/w=."], |m| {
                m.injected_option = "-ffile-prefix-map".into();
            });
            (answer, vec![("-c", output(code, "", stderr))])
        };
        let (answer, script) = with_option(
            1,
            "gcc: error: unrecognized command-line option '-ffile-prefix-map=/w=.'\n",
        );
        let s = serve_with(units(vec![answer]), script);
        assert!(
            matches!(&s.outcome, Outcome::Fallback(why) if why.contains("-ffile-prefix-map")),
            "{:?}",
            s.outcome
        );
        assert_eq!((s.stderr.as_str(), s.stores.len()), ("", 0));

        // A real compile error is the build's answer, stored as usual.
        let (answer, script) = with_option(1, "a.c:1: error: expected ';'\n");
        let s = serve_with(units(vec![answer]), script);
        assert_eq!(s.outcome, Outcome::Exit(1));
        assert_eq!(s.stderr, "a.c:1: error: expected ';'\n");
        assert_eq!(s.stores.len(), 1);
    }

    #[test]
    fn a_private_depfile_the_cache_cannot_write_falls_back_to_the_callers_command() {
        let dir = std::env::temp_dir().join(format!("zccache-priv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let private = |path: &Path| {
            let path = path.to_str().unwrap().to_owned();
            miss_with(8, &["-c", "a.c", "-MD", "-MF", &path], |m| {
                m.private_paths = vec![path.clone().into_bytes()];
            })
        };
        // A private directory that is gone: nothing runs, nothing shown.
        let gone = dir.join("gone").join("dep-8.d");
        let s = serve_with(units(vec![private(&gone)]), vec![]);
        assert!(
            matches!(&s.outcome, Outcome::Fallback(why) if why.contains("dep-8.d")),
            "{:?}",
            s.outcome
        );
        assert!(s.ran.is_empty() && s.stderr.is_empty() && s.stores.is_empty());

        // Created fine, but the compile fails writing it (a full disk).
        let dep = dir.join("dep-8.d");
        let full = format!(
            "cc1: fatal error: closing dependency file {}: No space left on device\n",
            dep.display()
        );
        let s = serve_with(
            units(vec![private(&dep)]),
            vec![("-c", output(1, "", &full))],
        );
        assert!(
            matches!(&s.outcome, Outcome::Fallback(why) if why.contains("dep-8.d")),
            "{:?}",
            s.outcome
        );
        assert_eq!((s.stderr.as_str(), s.stores.len()), ("", 0));

        // A compile error that names no private file is the build's answer.
        let s = serve_with(
            units(vec![private(&dep)]),
            vec![("-c", output(1, "", "a.c:1: error: expected ';'\n"))],
        );
        assert_eq!(s.outcome, Outcome::Exit(1));
        assert_eq!(s.stderr, "a.c:1: error: expected ';'\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_streamed_miss_shows_stderr_once_and_stores_it_raw() {
        let answer = miss_with(8, &["--crate-name", "x"], |m| {
            m.stream_stderr = true;
            m.strip_ansi = true;
        });
        let coloured = "\x1b[1mwarning\x1b[0m: x\n";
        let s = serve_with(
            units(vec![answer]),
            vec![("--crate-name", output(0, "out", coloured))],
        );
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert_eq!(
            (s.stdout.as_str(), s.stderr.as_str()),
            ("out", "warning: x\n")
        );
        assert_eq!(s.stores[0].stderr, coloured.as_bytes());
    }

    #[test]
    fn a_terminal_miss_runs_on_a_pty_and_stores_what_the_terminal_got() {
        let answer = miss_with(9, &["-c", "a.c"], |m| {
            m.stderr_pty = true;
            // Streaming is for pipes; a pty miss shows its stderr at the end.
            m.stream_stderr = true;
        });
        let narrowed = "\x1b[01m\x1b[Ka.c:1:5:\x1b[m\x1b[K warning\n";
        let s = serve_with(units(vec![answer]), vec![("-c", output(0, "", narrowed))]);
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert_eq!((s.pty_runs, s.stderr.as_str()), (1, narrowed));
        assert_eq!(s.stores[0].stderr, narrowed.as_bytes());
    }

    #[test]
    fn a_terminal_miss_without_a_pty_runs_the_callers_command_and_stores_nothing() {
        let answer = || miss_with(9, &["-c", "a.c"], |m| m.stderr_pty = true);
        let no_pty = |script| Script {
            outputs: script,
            no_pty: true,
            ..Script::default()
        };
        let s = serve_on(no_pty(vec![]), units(vec![answer()]));
        assert!(
            matches!(&s.outcome, Outcome::Fallback(why) if why.starts_with(pty::UNAVAILABLE)),
            "{:?}",
            s.outcome
        );
        assert!(s.ran.is_empty() && s.stderr.is_empty() && s.stores.is_empty());
        // After a replay the caller's command would repeat it: compile on a
        // pipe, store nothing.
        let s = serve_on(
            no_pty(vec![("-c", output(1, "", "a.c: error\n"))]),
            units(vec![hit(0, "", "h\n"), answer()]),
        );
        assert_eq!(s.outcome, Outcome::Exit(1));
        assert_eq!((s.stderr.as_str(), s.stores.len()), ("h\na.c: error\n", 0));
    }

    #[test]
    fn the_dependency_pass_runs_only_after_success() {
        let s = serve_with(
            units(vec![miss(3, &["-c", "a.c"], &["-M", "a.c"])]),
            vec![
                ("-c", output(0, "", "")),
                ("-M", output(2, "deps noise", "more noise")),
            ],
        );
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert_eq!((s.stdout.as_str(), s.stderr.as_str()), ("", ""));
        assert_eq!(s.stores[0].deps_exit_code, 2);

        let s = serve_with(
            units(vec![miss(4, &["-c", "bad.c"], &["-M", "bad.c"])]),
            vec![("-c", output(1, "", "bad.c:1: error\n"))],
        );
        assert_eq!(s.outcome, Outcome::Exit(1));
        assert_eq!(s.ran.len(), 1);
        assert_eq!(s.stores[0].exit_code, 1);
    }

    #[test]
    fn no_token_no_store() {
        let s = serve_with(
            units(vec![miss(0, &["-c", "a.c"], &[])]),
            vec![("-c", output(0, "", ""))],
        );
        assert_eq!(s.outcome, Outcome::Exit(0));
        assert!(s.stores.is_empty());
    }

    #[test]
    fn units_run_in_order_and_the_first_failure_wins() {
        let s = serve_with(
            units(vec![
                hit(0, "1", "a\n"),
                miss(5, &["-c", "b.c"], &[]),
                hit(4, "3", "c\n"),
                miss(6, &["-S", "d.c"], &[]),
            ]),
            vec![("-c", output(1, "2", "b\n")), ("-S", output(9, "4", "d\n"))],
        );
        assert_eq!(s.outcome, Outcome::Exit(1));
        assert_eq!(
            (s.stdout.as_str(), s.stderr.as_str()),
            ("1234", "a\nb\nc\nd\n")
        );
        assert_eq!(
            s.stores.iter().map(|s| s.token).collect::<Vec<_>>(),
            vec![5, 6]
        );
    }

    #[test]
    fn probes_run_once_each_and_a_second_round_falls_back() {
        let bytes = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect();
        let probe = Probe {
            runs: vec![
                frame::v1::ProbeRun {
                    args: bytes(&["-vV"]),
                },
                frame::v1::ProbeRun {
                    args: bytes(&["--print", "sysroot"]),
                },
            ],
        };
        let mut runner = Script {
            outputs: vec![
                ("-vV", output(0, "rustc 1.0\n", "noise")),
                ("--print", Err(io::Error::from(io::ErrorKind::NotFound))),
            ],
            ..Script::default()
        };
        let results = run_probes(&probe, &mut runner);
        assert_eq!(
            results,
            vec![
                ProbeResult {
                    args: bytes(&["-vV"]),
                    exit_code: 0,
                    stdout: b"rustc 1.0\n".to_vec(),
                    stderr: b"noise".to_vec(),
                },
                ProbeResult {
                    args: bytes(&["--print", "sysroot"]),
                    exit_code: 127,
                    stdout: vec![],
                    stderr: vec![],
                },
            ]
        );
        let again = LookupReply {
            outcome: Some(lookup_reply::Outcome::Probe(probe)),
        };
        let s = serve_with(again, vec![]);
        assert!(matches!(s.outcome, Outcome::Fallback(_)));
        assert!(s.ran.is_empty());
    }

    #[test]
    fn a_compiler_that_cannot_start() {
        let gone = || Err(io::Error::from(io::ErrorKind::NotFound));
        // Before anything was replayed: compile directly instead.
        let s = serve_with(
            units(vec![miss(1, &["-c", "a.c"], &[])]),
            vec![("-c", gone())],
        );
        assert!(matches!(s.outcome, Outcome::Fallback(_)));
        assert!(s.stores.is_empty());
        // After a replay, a direct compile would repeat it: report and fail.
        let s = serve_with(
            units(vec![hit(0, "", ""), miss(1, &["-c", "a.c"], &[])]),
            vec![("-c", gone())],
        );
        assert_eq!(s.outcome, Outcome::Exit(127));
        assert!(s.stderr.starts_with("zccache: cannot run the compiler"));
    }
}
