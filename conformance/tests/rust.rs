//! The Rust cases of oracle-cases.md that need cargo (R1–R4, R6, R8, R11,
//! R15, R21, R24, R25): a workspace of five crates depending on about fifty
//! crates from crates.io (serde with derive, serde_json, regex, …), fetched
//! by cargo at test time, built with `RUSTC_WRAPPER=zccache` and a logging
//! `RUSTC` shim in front of the real rustc, so every real rustc run is seen.
//!
//! A unit is *cacheable* when it is a `lib`/`rlib`/`staticlib` compile, or
//! one of a single linked type (bin, proc-macro, dylib, cdylib, `--test`)
//! that emits dep-info when it links, whose `--emit` is within link,
//! metadata and dep-info, without `-C incremental` and not reading stdin;
//! those must hit, and a hit must run no rustc. Probes (`-vV`, `--version`,
//! `--print …`) are never counted. The links themselves are tested in
//! `rust_links.rs`.
//!
//! R5 compiles one crate with rustc directly. It does not cover R7, R9, R10, R12–R14, R16–R20, R22, R23, R26–R30.
//! It needs the network to crates.io unless the crates are already in the
//! local cargo registry.
//!
//! Known failures live in `conformance/fixtures/rust/known-failures.txt`
//! (not in `conformance/known-failures.txt`, whose checker in oracle.rs
//! accepts only oracle tests); a listed test must still fail.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use conformance::{ok, zccache_bin, Sandbox};

// ---------------------------------------------------------------------------
// The test project

/// The workspace (fixtures/rust/proj): `app` (a binary using every
/// registry dependency) on `envlib` (reads `env!("ZCC_TEST_VAR")`, R6),
/// `midlib` on `edlib` (R8 edits `edlib/src/part.rs`; midlib uses its public
/// constant, so edlib's metadata changes), and `warnlib` (one warning, R25).
/// The registry dependencies pull in about fifty crates (serde_derive brings
/// syn, quote and proc-macro2; regex its automata, syntax and aho-corasick;
/// parking_lot lock_api, parking_lot_core and libc).
const PROJECT: [(&str, &str); 12] = [
    (
        "Cargo.toml",
        include_str!("../fixtures/rust/proj/Cargo.toml"),
    ),
    (
        "app/Cargo.toml",
        include_str!("../fixtures/rust/proj/app/Cargo.toml"),
    ),
    (
        "app/src/main.rs",
        include_str!("../fixtures/rust/proj/app/src/main.rs"),
    ),
    (
        "envlib/Cargo.toml",
        include_str!("../fixtures/rust/proj/envlib/Cargo.toml"),
    ),
    (
        "envlib/src/lib.rs",
        include_str!("../fixtures/rust/proj/envlib/src/lib.rs"),
    ),
    (
        "edlib/Cargo.toml",
        include_str!("../fixtures/rust/proj/edlib/Cargo.toml"),
    ),
    (
        "edlib/src/lib.rs",
        include_str!("../fixtures/rust/proj/edlib/src/lib.rs"),
    ),
    (
        "edlib/src/part.rs",
        include_str!("../fixtures/rust/proj/edlib/src/part.rs"),
    ),
    (
        "midlib/Cargo.toml",
        include_str!("../fixtures/rust/proj/midlib/Cargo.toml"),
    ),
    (
        "midlib/src/lib.rs",
        include_str!("../fixtures/rust/proj/midlib/src/lib.rs"),
    ),
    (
        "warnlib/Cargo.toml",
        include_str!("../fixtures/rust/proj/warnlib/Cargo.toml"),
    ),
    (
        "warnlib/src/lib.rs",
        include_str!("../fixtures/rust/proj/warnlib/src/lib.rs"),
    ),
];

/// What a build without any cache prints (checked against a plain `cargo
/// build`), with `HELLO` from edlib's WORD and `{ENV}` from ZCC_TEST_VAR.
const APP_OUTPUT: &str = include_str!("../fixtures/rust/app-output.txt");

/// R8's edit of `edlib/src/part.rs`.
fn edited_part() -> String {
    PROJECT[7].1.replace("\"hello\"", "\"howdy\"")
}

/// Libraries only serde_derive (a proc-macro) or a build script (autocfg)
/// links: `cargo check` builds them in full.
const HOST_ONLY: [&str; 5] = [
    "libproc_macro2-",
    "libquote-",
    "libsyn-",
    "libunicode_ident-",
    "libautocfg-",
];

/// Workspace crates that are libraries (each a cacheable unit).
const WORKSPACE_LIBS: [&str; 4] = ["envlib", "edlib", "midlib", "warnlib"];

fn expected_output(env: &str, word: &str) -> String {
    APP_OUTPUT
        .replace("{ENV}", env)
        .replace("HELLO", &word.to_uppercase())
}

// ---------------------------------------------------------------------------
// Harness

/// One build directory with its own target dir and rustc log, in a sandbox
/// with its own cache root and daemon.
struct Proj {
    sb: Sandbox,
    target: PathBuf,
    shim: PathBuf,
    log: PathBuf,
    /// Extra environment for every cargo run (ZCC_TEST_VAR, RUSTFLAGS, …).
    env: BTreeMap<String, String>,
    /// Cacheable compiles the build scripts ran in the cold build.
    script_probes: std::cell::Cell<usize>,
}

/// One logged rustc run.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) args: Vec<String>,
}

impl Call {
    pub(crate) fn value(&self, flag: &str) -> Vec<String> {
        let eq = format!("{flag}=");
        let mut out = Vec::new();
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            if a == flag {
                if let Some(v) = it.next() {
                    out.push(v.clone());
                }
            } else if let Some(v) = a.strip_prefix(&eq) {
                out.push(v.to_owned());
            }
        }
        out
    }

    fn is_probe(&self) -> bool {
        self.args
            .iter()
            .any(|a| a == "-vV" || a == "-V" || a == "--version" || a.starts_with("--print"))
    }

    pub(crate) fn crate_name(&self) -> String {
        self.value("--crate-name")
            .pop()
            .unwrap_or_else(|| "?".into())
    }

    fn crate_types(&self) -> Vec<String> {
        self.value("--crate-type")
            .iter()
            .flat_map(|v| v.split(',').map(String::from))
            .collect()
    }

    fn incremental(&self) -> bool {
        let mut prev = "";
        for a in &self.args {
            if a.starts_with("-Cincremental=") || (prev == "-C" && a.starts_with("incremental=")) {
                return true;
            }
            prev = a;
        }
        false
    }

    /// Whether zccache must cache this compile (see the module doc).
    pub(crate) fn cacheable(&self) -> bool {
        let types = self.crate_types();
        let emits: Vec<String> = self
            .value("--emit")
            .iter()
            .flat_map(|v| {
                v.split(',')
                    .map(|e| e.split('=').next().unwrap().to_owned())
            })
            .collect();
        let test = self.args.iter().any(|a| a == "--test");
        let stored = !types.is_empty()
            && !test
            && types
                .iter()
                .all(|t| matches!(t.as_str(), "lib" | "rlib" | "staticlib"));
        let linked = match (&types[..], test) {
            ([t], false) => matches!(t.as_str(), "bin" | "proc-macro" | "dylib" | "cdylib"),
            ([], true) => true,
            _ => false,
        };
        let links_with_dep_info =
            !emits.iter().any(|e| e == "link") || emits.iter().any(|e| e == "dep-info");
        !self.is_probe()
            && (stored || (linked && links_with_dep_info))
            && !emits.is_empty()
            && emits
                .iter()
                .all(|e| matches!(e.as_str(), "link" | "metadata" | "dep-info"))
            && !self.incremental()
            && !self.args.iter().any(|a| a == "-")
    }

    /// A build script's own compile of a probe file into its OUT_DIR.
    pub(crate) fn script_probe(&self) -> bool {
        self.value("--out-dir")
            .iter()
            .any(|d| d.contains("/build/") && d.contains("/out"))
    }

    /// `name(types)`, with ` probe` for a build script's probe compile.
    fn label(&self) -> String {
        format!(
            "{}({}){}",
            self.crate_name(),
            self.crate_types().join(","),
            if self.script_probe() { " probe" } else { "" }
        )
    }
}

/// Counter deltas and rustc runs of one cargo command.
#[derive(Debug)]
struct Run {
    out: Output,
    hits: u64,
    misses: u64,
    passthrough: u64,
    reasons: BTreeMap<String, i64>,
    /// The compiles cargo started (its `-v` "Running" lines), hit or not.
    units: Vec<Call>,
    /// Every non-probe run of the real rustc, in no particular order.
    calls: Vec<Call>,
    probes: usize,
}

impl Run {
    /// Cacheable units cargo started, as labels.
    fn cacheable(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .units
            .iter()
            .filter(|c| c.cacheable())
            .map(Call::label)
            .collect();
        v.sort();
        v
    }

    /// Cacheable compiles a build script ran itself (proc-macro2's probes):
    /// not cargo units, and counted by the daemon only when they reach it.
    fn script_probes(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| c.cacheable() && c.script_probe())
            .count()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn summary(&self) -> String {
        let mut labels: Vec<String> = self.calls.iter().map(Call::label).collect();
        labels.sort();
        format!(
            "hits {} misses {} passthrough {} reasons {:?}; {} cacheable units cargo ran; \
             {} probe runs; real rustc runs ({}): {:?}",
            self.hits,
            self.misses,
            self.passthrough,
            self.reasons,
            self.cacheable().len(),
            self.probes,
            labels.len(),
            labels
        )
    }
}

/// The compiles in cargo's `-v` output: ``Running `<wrapper> <rustc> args…` ``.
/// Splitting on whitespace breaks quoted `--check-cfg` values apart, which
/// the flags read here never are.
pub(crate) fn cargo_units(stderr: &str) -> Vec<Call> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Running `"))
        .filter_map(|l| l.strip_suffix('`'))
        .map(|l| Call {
            args: l.split_whitespace().map(String::from).collect(),
        })
        .filter(|c| !c.value("--crate-name").is_empty())
        .collect()
}

/// `c` without the environment of the cargo running the tests (its
/// `CARGO_*`, `RUSTC*`, `RUSTFLAGS`, jobserver), which must not leak into
/// the builds under test.
pub(crate) fn scrubbed(mut c: Command) -> Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTFLAGS")
            || k.starts_with("RUSTDOC")
            || k == "MAKEFLAGS"
            || k == "MFLAGS"
        {
            c.env_remove(&*k);
        }
    }
    c
}

/// Rust tests build sizeable graphs on two cores: one at a time.
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn cargo_exe() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// The real rustc of the toolchain running the tests (not a rustup proxy).
pub(crate) fn real_rustc() -> &'static Path {
    static RUSTC: OnceLock<PathBuf> = OnceLock::new();
    RUSTC.get_or_init(|| {
        let out = Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()
            .expect("run rustc --print sysroot");
        ok(&out);
        let sysroot = String::from_utf8(out.stdout).unwrap();
        let p = Path::new(sysroot.trim()).join("bin/rustc");
        assert!(p.is_file(), "no rustc at {}", p.display());
        p
    })
}

/// A `rustc` in front of the real one that logs each run's arguments, one
/// file per run (parallel runs cannot interleave), under the sandbox:
/// (shim, log dir). Named `rustc`: clippy-driver takes its first argument
/// for the rustc it wraps only when the file is called that.
pub(crate) fn rustc_shim(sb: &Sandbox) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = sb.root.join("rustc-log");
    std::fs::create_dir_all(&log).unwrap();
    std::fs::create_dir_all(sb.root.join("shim")).unwrap();
    let shim = sb.root.join("shim/rustc");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nf=$(mktemp '{}/r.XXXXXXXX') && printf '%s\\n' \"$@\" > \"$f\"\nexec '{}' \"$@\"\n",
            log.display(),
            real_rustc().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    (shim, log)
}

impl Proj {
    fn new(name: &str) -> Proj {
        let sb = Sandbox::new(name);
        for (rel, body) in PROJECT {
            sb.write(rel, body);
        }
        let target = sb.root.join("target");
        let (shim, log) = rustc_shim(&sb);
        let mut env = BTreeMap::new();
        env.insert("ZCC_TEST_VAR".to_owned(), "one".to_owned());
        Proj {
            sb,
            target,
            shim,
            log,
            env,
            script_probes: std::cell::Cell::new(0),
        }
    }

    /// cargo with the sandbox's zccache as RUSTC_WRAPPER and the shim as
    /// RUSTC; nothing of the outer cargo's environment leaks in.
    fn cargo(&self, args: &[&str]) -> Command {
        let mut c = scrubbed(self.sb.cmd(cargo_exe()));
        c.args(args)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_INCREMENTAL", "0")
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .env("RUSTC", &self.shim)
            .env("RUSTC_WRAPPER", zccache_bin())
            .envs(&self.env);
        c
    }

    fn calls(&self) -> (Vec<Call>, usize) {
        let mut calls = Vec::new();
        let mut probes = 0;
        for e in std::fs::read_dir(&self.log).unwrap() {
            let body = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
            let call = Call {
                args: body.lines().map(String::from).collect(),
            };
            if call.is_probe() {
                probes += 1;
            } else {
                calls.push(call);
            }
        }
        (calls, probes)
    }

    fn clear_log(&self) {
        for e in std::fs::read_dir(&self.log).unwrap() {
            let _ = std::fs::remove_file(e.unwrap().path());
        }
    }

    /// The daemon's counters; all zero before a daemon runs (`status`
    /// starts none).
    fn counters(&self) -> (u64, u64, u64, BTreeMap<String, i64>) {
        let out = self.sb.zccache(["status", "--json"]);
        let s: serde_json::Value = if out.status.success() {
            serde_json::from_slice(&out.stdout).expect("status --json is JSON")
        } else {
            serde_json::Value::Null
        };
        let g = |k: &str| s[k].as_u64().unwrap_or(0);
        let reasons = s["passthrough_reasons"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        (g("hits"), g("misses"), g("passthrough"), reasons)
    }

    /// Runs cargo, requiring success, and returns what it cost.
    #[track_caller]
    fn run(&self, args: &[&str]) -> Run {
        let run = self.try_run(args);
        assert!(
            run.out.status.success(),
            "cargo {} failed ({}):\nstderr:\n{}\n{}\n{}",
            args.join(" "),
            run.out.status,
            run.stderr(),
            run.summary(),
            self.daemon_log()
        );
        run
    }

    fn try_run(&self, args: &[&str]) -> Run {
        let (h0, m0, p0, r0) = self.counters();
        self.clear_log();
        let out = self.cargo(args).arg("-v").output().expect("run cargo");
        let (h1, m1, p1, r1) = self.counters();
        let mut reasons = BTreeMap::new();
        for (k, v) in r1 {
            let d = v - r0.get(&k).copied().unwrap_or(0);
            if d != 0 {
                reasons.insert(k, d);
            }
        }
        let (calls, probes) = self.calls();
        let units = cargo_units(&String::from_utf8_lossy(&frame::ansi::strip(&out.stderr)));
        Run {
            units,
            out,
            hits: h1 - h0,
            misses: m1 - m0,
            passthrough: p1 - p0,
            reasons,
            calls,
            probes,
        }
    }

    fn clean(&self) {
        ok(&self.cargo(&["clean"]).output().expect("run cargo clean"));
    }

    /// Runs the built binary and compares its output with a no-cache build's.
    #[track_caller]
    fn check_binary(&self, env: &str, word: &str, what: &str) {
        let out = self
            .sb
            .cmd(self.target.join("debug/app"))
            .output()
            .unwrap_or_else(|e| panic!("{what}: run target/debug/app: {e}"));
        ok(&out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected_output(env, word),
            "{what}: the binary's output differs from a no-cache build's"
        );
    }

    /// The last lines of this sandbox's daemon logs, for failure messages.
    fn daemon_log(&self) -> String {
        let mut s = String::new();
        let Ok(dir) = std::fs::read_dir(&self.sb.runtime) else {
            return "no runtime dir".into();
        };
        for e in dir {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("d-") && name.ends_with(".log") {
                let body = std::fs::read_to_string(&p).unwrap_or_default();
                let lines: Vec<&str> = body.lines().collect();
                s += &format!("--- {name} (last 40 lines)\n");
                for l in &lines[lines.len().saturating_sub(40)..] {
                    s += l;
                    s.push('\n');
                }
            }
        }
        s
    }

    /// The cold build every test starts from: succeeds, builds at least 40
    /// crates, and every cacheable unit ran rustc and missed.
    #[track_caller]
    fn cold(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        let crates: BTreeSet<String> = run.units.iter().map(Call::crate_name).collect();
        assert!(
            crates.len() >= 40,
            "the test project should build at least 40 crates, cargo built {}: {crates:?}",
            crates.len()
        );
        self.script_probes.set(run.script_probes());
        self.expect_missed(
            &run,
            &unit_names(&run),
            &format!("cold cargo {}", args.join(" ")),
        );
        run
    }

    /// Every cacheable unit cargo started hit, except `missed` (crate
    /// names), which ran rustc; the counters agree. Build-script probe
    /// compiles are not cargo units: they may add up to their number of
    /// hits, or of misses when they ran rustc.
    #[track_caller]
    fn expect_missed(&self, run: &Run, missed: &[String], what: &str) {
        let mut reached: Vec<String> = run
            .calls
            .iter()
            .filter(|c| c.cacheable() && !c.script_probe())
            .map(Call::crate_name)
            .collect();
        reached.sort();
        let mut want = missed.to_vec();
        want.sort();
        assert_eq!(
            reached,
            want,
            "{what}: cacheable units that ran the real rustc (want exactly the misses)\n{}\n{}",
            run.summary(),
            self.daemon_log()
        );
        let units = run.cacheable().len() as u64;
        let missed = missed.len() as u64;
        let hits_ok = run.hits >= units - missed
            && run.hits <= units - missed + self.script_probes.get() as u64;
        let misses_ok = run.misses >= missed && run.misses <= missed + run.script_probes() as u64;
        assert!(
            hits_ok && misses_ok,
            "{what}: counters: want {} hits (+ at most {} build-script probes) and {missed} \
             misses (+ at most {} probes that ran rustc)\n{}\n{}",
            units - missed,
            self.script_probes.get(),
            run.script_probes(),
            run.summary(),
            self.daemon_log()
        );
    }

    #[track_caller]
    fn expect_only_missed(&self, run: &Run, missed: &[&str], what: &str) {
        let missed: Vec<String> = missed.iter().map(|s| s.to_string()).collect();
        self.expect_missed(run, &missed, what);
    }
}

/// Crate names of the cacheable units cargo started.
fn unit_names(run: &Run) -> Vec<String> {
    run.units
        .iter()
        .filter(|c| c.cacheable())
        .map(Call::crate_name)
        .collect()
}

fn compiling_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .collect()
}

/// The block cargo prints for warnlib's warnings: from `warning: unused
/// variable` (or clippy's `len_zero`, whichever comes first) to cargo's
/// "generated N warnings" line.
fn warning_block(stderr: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for l in stderr.lines() {
        if l.starts_with("warning: unused variable")
            || l.starts_with("warning: length comparison to zero")
        {
            inside = true;
        }
        // cargo interleaves its status lines from parallel units.
        let status = ["Compiling ", "Checking ", "Running `", "Fresh ", "Dirty "]
            .iter()
            .any(|w| l.trim_start().starts_with(w));
        if inside && !status {
            out += l;
            out.push('\n');
            if l.starts_with("warning: `warnlib` (lib) generated") {
                break;
            }
        }
    }
    out
}

/// warnlib's `compiler-message` objects from `--message-format=json`.
fn warnlib_messages(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-message" && v["target"]["name"] == "warnlib")
        .map(|v| v["message"].clone())
        .collect()
}

/// Runs a test body; one listed in fixtures/rust/known-failures.txt must
/// still fail.
fn known(name: &str, body: impl FnOnce() + std::panic::UnwindSafe) {
    let listed = known_list()
        .iter()
        .any(|l| l.split_whitespace().next() == Some(name));
    let result = std::panic::catch_unwind(body);
    match (listed, result) {
        (false, Err(e)) => std::panic::resume_unwind(e),
        (false, Ok(())) => {}
        (true, Err(_)) => {
            eprintln!("{name}: known failure (conformance/fixtures/rust/known-failures.txt)")
        }
        (true, Ok(())) => {
            panic!("{name} passes now: remove it from conformance/fixtures/rust/known-failures.txt")
        }
    }
}

fn known_list() -> Vec<String> {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rust/known-failures.txt"),
    )
    .unwrap_or_default()
    .lines()
    .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    .map(String::from)
    .collect()
}

#[test]
fn rust_known_failures_name_real_tests() {
    let source = include_str!("rust.rs");
    for line in known_list() {
        let mut fields = line.split_whitespace();
        let name = fields.next().unwrap();
        let case = fields.next().unwrap_or("");
        assert!(
            source.contains(&format!("    {name} => ")),
            "fixtures/rust/known-failures.txt names no test: {name}"
        );
        assert!(
            case.starts_with('R') && fields.next().is_some(),
            "want `name case reason`: {line}"
        );
    }
}

/// One `#[test]` per case, serialized, run through `known`.
macro_rules! cases {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let _one_at_a_time = serial();
                known(stringify!($name), || $body);
            }
        )*
    };
}

// ---------------------------------------------------------------------------
// Cases

/// R1, R2, R3: build, clean, build: every cacheable unit hits and runs no
/// rustc; outputs equal the cold build's; a third build is all fresh; a
/// `cargo test` after a clean hits every library unit.
fn r1_r2_r3() {
    let p = Proj::new("r1");
    p.cold(&["build"]);
    p.check_binary("one", "hello", "cold build");
    let before = snapshot(&p.target.join("debug/deps"));
    let bin = std::fs::read(p.target.join("debug/app")).unwrap();

    p.clean();
    let warm = p.run(&["build"]);
    p.expect_only_missed(&warm, &[], "R1/R3: build after cargo clean");
    p.check_binary("one", "hello", "warm build");
    let after = snapshot(&p.target.join("debug/deps"));
    let differ: Vec<&String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        differ.is_empty(),
        "R1: rlib/rmeta/.d files differ from (or are missing after) the cold build: {differ:?}"
    );
    assert!(
        std::fs::read(p.target.join("debug/app")).unwrap() == bin,
        "R1: the warm binary differs from the cold build's"
    );

    let third = p.run(&["build"]);
    let stderr = third.stderr();
    assert!(
        compiling_lines(&stderr).is_empty(),
        "R2: a third cargo build recompiled: {:?}\n{}",
        compiling_lines(&stderr),
        third.summary()
    );
    assert!(
        third.calls.is_empty() && (third.hits, third.misses) == (0, 0),
        "R2: a fresh build ran rustc or asked the cache\n{}",
        third.summary()
    );

    // cargo test builds the same units plus test binaries (`--test`, never
    // built before): after a clean, every unit but those hits.
    p.clean();
    let test = p.run(&["test", "--no-run"]);
    let test_bins: Vec<String> = test
        .units
        .iter()
        .filter(|c| c.cacheable() && c.args.iter().any(|a| a == "--test"))
        .map(Call::crate_name)
        .collect();
    assert!(!test_bins.is_empty(), "cargo test built no test binary");
    p.expect_missed(&test, &test_bins, "cargo test --no-run after cargo clean");
}

/// The rlib, rmeta and `.d` files under `deps` with their contents.
fn snapshot(deps: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(deps).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if [".rlib", ".rmeta", ".d"].iter().any(|x| name.ends_with(x)) {
            m.insert(name, std::fs::read(&p).unwrap());
        }
    }
    m
}

/// R4, R15: check after build and build after check, with cleans between:
/// each hits its own entries (a check is never served a build's outputs or
/// the reverse) and the outputs are right.
fn r4_r15() {
    let p = Proj::new("r4");
    p.cold(&["build"]);
    let check = p.run(&["check"]);
    assert!(
        check.cacheable().len() >= 40,
        "cargo check after build started only {} cacheable units\n{}",
        check.cacheable().len(),
        check.summary()
    );
    p.expect_missed(
        &check,
        &unit_names(&check),
        "R15: cargo check after cargo build (metadata-only units are new keys)",
    );

    p.clean();
    let check2 = p.run(&["check"]);
    p.expect_only_missed(&check2, &[], "R4: cargo check after cargo clean");
    let rlibs: Vec<String> = std::fs::read_dir(p.target.join("debug/deps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rlib") && !HOST_ONLY.iter().any(|h| n.starts_with(h)))
        .collect();
    assert!(
        rlibs.is_empty(),
        "R4: a cached cargo check produced rlibs of target crates: {rlibs:?}"
    );

    let build2 = p.run(&["build"]);
    p.expect_only_missed(&build2, &[], "R15: cargo build after a cached cargo check");
    p.check_binary("one", "hello", "R15: build after check");

    p.clean();
    let build3 = p.run(&["build"]);
    p.expect_only_missed(&build3, &[], "R15: cargo build after cargo clean");
    let check3 = p.run(&["check"]);
    p.expect_only_missed(&check3, &[], "R15: cargo check after a cached build");
    p.check_binary("one", "hello", "R15: build, then check");
}

/// R6: a new `env!` value misses that crate only; the old value hits again.
fn r6() {
    let mut p = Proj::new("r6");
    p.cold(&["build"]);
    p.env.insert("ZCC_TEST_VAR".into(), "two".into());
    p.clean();
    let run = p.run(&["build"]);
    // `app` links envlib: it misses too.
    p.expect_only_missed(&run, &["envlib", "app"], "R6: ZCC_TEST_VAR one -> two");
    p.check_binary("two", "hello", "R6: after the change");

    p.env.insert("ZCC_TEST_VAR".into(), "one".into());
    p.clean();
    let back = p.run(&["build"]);
    p.expect_only_missed(&back, &[], "R6: ZCC_TEST_VAR back to one");
    p.check_binary("one", "hello", "R6: value restored");
}

/// R8: editing one source file misses its crate, its dependent lib and the
/// binary that links them, and nothing else.
fn r8() {
    let p = Proj::new("r8");
    p.cold(&["build"]);
    p.sb.write("edlib/src/part.rs", edited_part());
    p.clean();
    let run = p.run(&["build"]);
    p.expect_only_missed(
        &run,
        &["edlib", "midlib", "app"],
        "R8: after editing edlib/src/part.rs",
    );
    p.check_binary("one", "howdy", "R8: after the edit");
}

/// R11: another RUSTFLAGS misses every unit; the old flags hit again.
fn r11() {
    let mut p = Proj::new("r11");
    p.cold(&["build"]);
    p.env.insert("RUSTFLAGS".into(), "--cfg zcc_flag".into());
    let run = p.run(&["build"]);
    assert!(
        run.cacheable().len() >= 40,
        "R11: only {} cacheable units rebuilt with new RUSTFLAGS\n{}",
        run.cacheable().len(),
        run.summary()
    );
    p.expect_missed(&run, &unit_names(&run), "R11: RUSTFLAGS=--cfg zcc_flag");
    assert_eq!(
        run.hits,
        0,
        "R11: hits with new RUSTFLAGS\n{}",
        run.summary()
    );
    p.check_binary("one", "hello", "R11: with --cfg zcc_flag");

    p.env.remove("RUSTFLAGS");
    p.clean();
    let back = p.run(&["build"]);
    p.expect_only_missed(&back, &[], "R11: RUSTFLAGS unset again, after cargo clean");
}

/// R25: warnlib's warning is shown again on a hit, as cargo renders it and
/// in `--message-format=json`.
fn r25() {
    let mut p = Proj::new("r25");
    let cold = p.cold(&["build"]);
    let want = warning_block(&cold.stderr());
    assert!(
        want.contains("unused_variable") && want.contains("generated 1 warning"),
        "the cold build shows no warning for warnlib:\n{}",
        cold.stderr()
    );
    p.clean();
    let warm = p.run(&["build"]);
    p.expect_only_missed(&warm, &[], "R25: human build after cargo clean");
    assert_eq!(
        warning_block(&warm.stderr()),
        want,
        "R25: the warning as cargo shows it on a hit vs the miss\nwarm stderr:\n{}",
        warm.stderr()
    );

    // R5 through cargo: a coloured build after a plain one hits every
    // unit and shows the same warning in colour.
    p.clean();
    p.env.insert("CARGO_TERM_COLOR".into(), "always".into());
    let colour = p.run(&["build"]);
    p.env.remove("CARGO_TERM_COLOR");
    p.expect_only_missed(
        &colour,
        &[],
        "R5: CARGO_TERM_COLOR=always after a plain build",
    );
    let shown = colour.stderr();
    assert!(
        shown.contains("\x1b["),
        "R5: CARGO_TERM_COLOR=always printed no colour:\n{shown}"
    );
    let plain = String::from_utf8_lossy(&frame::ansi::strip(shown.as_bytes())).into_owned();
    assert_eq!(
        warning_block(&plain),
        want,
        "R5: the coloured warning, colour removed, vs the plain one"
    );

    p.clean();
    let json1 = p.run(&["build", "--message-format=json"]);
    let want = warnlib_messages(&json1.out.stdout);
    assert_eq!(
        want.len(),
        1,
        "one compiler-message for warnlib in the first JSON build: {want:?}"
    );
    p.clean();
    let json2 = p.run(&["build", "--message-format=json"]);
    p.expect_only_missed(&json2, &[], "R25: JSON build after cargo clean");
    let got = warnlib_messages(&json2.out.stdout);
    assert_eq!(
        got.iter()
            .map(|m| m["rendered"].clone())
            .collect::<Vec<_>>(),
        want.iter()
            .map(|m| m["rendered"].clone())
            .collect::<Vec<_>>(),
        "R25: the rendered JSON diagnostic on a hit vs the miss"
    );
    assert_eq!(
        got, want,
        "R25: the whole JSON diagnostic on a hit vs the miss"
    );
}

/// R5: colour does not split the cache. One crate with a warning, compiled
/// with rustc directly in JSON and human form, each with and without
/// colour: one miss per form, every other spelling hits, and every run
/// prints exactly what bare rustc prints for the same argv.
fn r5() {
    let sb = Sandbox::new("r5");
    sb.write("w.rs", "pub fn f() { let unused = 1; }\n");
    conformance::backdate(&sb.path("w.rs"));
    std::fs::create_dir_all(sb.path("o")).unwrap();
    let rustc = real_rustc().to_str().unwrap().to_owned();
    let base = [
        "--crate-name",
        "w",
        "--edition=2021",
        "w.rs",
        "--crate-type",
        "lib",
        "--emit=dep-info,metadata,link",
        "--out-dir",
        "o",
    ];
    let variants: [(&[&str], bool); 6] = [
        (&["--error-format=json", "--json=artifacts"], false),
        (
            &[
                "--error-format=json",
                "--json=diagnostic-rendered-ansi,artifacts",
            ],
            true,
        ),
        (
            &[
                "--error-format=json",
                "--json=artifacts,diagnostic-rendered-ansi",
            ],
            true,
        ),
        (&["--color=always"], true),
        (&["--color=never"], false),
        (&[], false),
    ];
    let mut differ = Vec::new();
    for (extra, coloured) in variants {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let bare = sb.bare(&rustc, &args);
        ok(&bare);
        let mut argv = vec![rustc.as_str()];
        argv.extend_from_slice(&args);
        let via = sb.zccache(&argv);
        ok(&via);
        let stderr = String::from_utf8_lossy(&via.stderr);
        let has_ansi = stderr.contains(r"\u001b[") || stderr.contains('\x1b');
        if has_ansi != coloured || !stderr.contains("unused") {
            differ.push(format!(
                "{extra:?}: coloured {has_ansi}, want {coloured}:\n{stderr}"
            ));
        }
        if (&via.stdout, &via.stderr) != (&bare.stdout, &bare.stderr) {
            differ.push(format!(
                "{extra:?}: zccache stderr\n{stderr}\nbare stderr\n{}",
                String::from_utf8_lossy(&bare.stderr)
            ));
        }
    }
    assert!(differ.is_empty(), "R5:\n{}", differ.join("\n"));
    let (h, m, _) = sb.hmp();
    assert_eq!(
        (h, m),
        (4, 2),
        "R5: want one miss each for JSON and human, every other colour spelling a hit"
    );
}

/// R28: `cargo clippy` through zccache (cargo calls `zccache clippy-driver
/// rustc …` for workspace members). A clippy after a cached check shows
/// clippy's lints, so no clippy unit was served a rustc entry; a clippy
/// after `cargo clean` hits every unit and shows the same lints again.
fn r28() {
    let p = Proj::new("r28");
    let check = p.cold(&["check"]);
    assert!(
        !warning_block(&check.stderr()).contains("clippy::"),
        "cargo check printed a clippy lint:\n{}",
        check.stderr()
    );
    let first = p.run(&["clippy"]);
    let lints = warning_block(&first.stderr());
    assert!(
        lints.contains("clippy::len_zero"),
        "R28: cargo clippy after a cached cargo check shows no clippy lint for warnlib \
         (served a rustc entry?):\n{}\n{}",
        first.stderr(),
        first.summary()
    );
    assert!(
        first.misses >= WORKSPACE_LIBS.len() as u64 && first.hits == 0,
        "R28: the workspace libs must miss under clippy-driver\n{}",
        first.summary()
    );

    p.clean();
    let warm = p.run(&["clippy"]);
    p.expect_only_missed(&warm, &[], "R28: cargo clippy after cargo clean");
    assert_eq!(
        warning_block(&warm.stderr()),
        lints,
        "R28: clippy's lints on a hit vs the miss"
    );
}

/// R21: CARGO_INCREMENTAL=1 builds succeed; the workspace crates (the only
/// incremental units) pass through as `incremental`, the rest hit.
fn r21() {
    let mut p = Proj::new("r21");
    p.env.insert("CARGO_INCREMENTAL".into(), "1".into());
    let cold = p.run(&["build"]);
    p.script_probes.set(cold.script_probes());
    let incremental: BTreeSet<String> = cold
        .units
        .iter()
        .filter(|c| c.incremental())
        .map(Call::crate_name)
        .collect();
    assert!(
        WORKSPACE_LIBS.iter().all(|l| incremental.contains(*l)),
        "CARGO_INCREMENTAL=1: the workspace libs should compile with -C incremental: {incremental:?}"
    );
    p.check_binary("one", "hello", "R21: cold incremental build");
    p.clean();
    let warm = p.run(&["build"]);
    p.check_binary("one", "hello", "R21: warm incremental build");
    p.expect_only_missed(&warm, &[], "R21: non-incremental units after cargo clean");
    assert!(
        warm.reasons.get("incremental").copied().unwrap_or(0) >= WORKSPACE_LIBS.len() as i64,
        "R21: the incremental workspace libs should pass through as `incremental`\n{}",
        warm.summary()
    );
}

/// R24: cargo's probes through zccache print what rustc prints.
fn r24() {
    let sb = Sandbox::new("r24");
    let rustc = real_rustc().to_str().unwrap().to_owned();
    let mut differ = Vec::new();
    for args in [
        &["-vV"][..],
        &["--version"],
        &["--print", "cfg"],
        &["--print=cfg"],
        &["--print", "sysroot"],
        &[
            "-",
            "--crate-name",
            "___",
            "--print=file-names",
            "--crate-type",
            "lib",
            "--crate-type",
            "proc-macro",
        ],
    ] {
        for compiler in ["rustc", rustc.as_str()] {
            let bare = sb.bare(compiler, args);
            let mut argv = vec![compiler];
            argv.extend_from_slice(args);
            let via = sb.zccache(&argv);
            if (via.status.code(), &via.stdout, &via.stderr)
                != (bare.status.code(), &bare.stdout, &bare.stderr)
            {
                differ.push(format!(
                    "zccache {}: exit {:?} stdout {:?} stderr {:?}; bare: exit {:?} stdout {:?} stderr {:?}",
                    argv.join(" "),
                    via.status.code(),
                    String::from_utf8_lossy(&via.stdout),
                    String::from_utf8_lossy(&via.stderr),
                    bare.status.code(),
                    String::from_utf8_lossy(&bare.stdout),
                    String::from_utf8_lossy(&bare.stderr)
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "R24: probes differ from bare rustc:\n{}",
        differ.join("\n")
    );
    let (h, m, _) = sb.hmp();
    assert_eq!((h, m), (0, 0), "R24: probes counted as hits or misses");
}

cases! {
    rust_r1_r2_r3_clean_rebuild_hits_every_lib => r1_r2_r3();
    rust_r4_r15_check_and_build_in_both_orders => r4_r15();
    rust_r6_env_value_misses_only_its_crate => r6();
    rust_r8_source_edit_misses_crate_and_dependents => r8();
    rust_r11_rustflags_miss_everything => r11();
    rust_r25_warnings_replayed_human_and_json => r25();
    rust_r21_incremental_builds_succeed => r21();
    rust_r24_probes_equal_bare_rustc => r24();
    rust_r5_colour_does_not_split_the_cache => r5();
    rust_r28_clippy_hits_and_keeps_its_lints => r28();
}

#[test]
fn call_classification() {
    #[track_caller]
    fn check(args: &str, cacheable: bool, label: &str) {
        let c = Call {
            args: args.split(' ').map(String::from).collect(),
        };
        assert_eq!(c.cacheable(), cacheable, "{args}");
        assert_eq!(c.label(), label, "{args}");
    }
    check(
        "--crate-name serde --edition=2021 src/lib.rs --crate-type lib --emit=dep-info,metadata,link -C debuginfo=2",
        true,
        "serde(lib)",
    );
    check(
        "--crate-name x --crate-type lib --emit=dep-info,metadata x.rs -C incremental=/t/inc",
        false,
        "x(lib)",
    );
    check(
        "--crate-name serde_derive --crate-type proc-macro --emit=dep-info,link a.rs",
        true,
        "serde_derive(proc-macro)",
    );
    check(
        "--crate-name app --crate-type bin --emit=link a.rs",
        false,
        "app(bin)",
    );
    check(
        "--crate-name app --crate-type bin,lib --emit=dep-info,link a.rs",
        false,
        "app(bin,lib)",
    );
    check(
        "--crate-name app --emit=dep-info,link --test a.rs",
        true,
        "app()",
    );
    check(
        "--crate-name probe --crate-type=lib --emit=llvm-ir --out-dir /t/build/num-traits-1/out -",
        false,
        "probe(lib) probe",
    );
    check(
        "--crate-name proc_macro2 --crate-type=lib --emit=dep-info,metadata --out-dir /t/build/p-1/out/probe build/probe.rs",
        true,
        "proc_macro2(lib) probe",
    );
    check("-vV", false, "?()");
}

/// cargo starts a crate's dependents when rustc reports its metadata on
/// stderr (pipelining), long before rustc exits: a miss must pass stderr on
/// while rustc runs. A `rustc` that writes a line, then waits before
/// compiling, stands in for a long codegen.
#[test]
fn rust_miss_stderr_reaches_cargo_while_rustc_runs() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new("r-stream");
    sb.write("w.rs", "pub fn f() -> u32 { 1 }\n");
    conformance::backdate(&sb.path("w.rs"));
    std::fs::create_dir_all(sb.path("o")).unwrap();
    std::fs::create_dir_all(sb.path("slow")).unwrap();
    let slow = sb.path("slow/rustc");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" --crate-name \"*) echo zcc-early-line >&2; sleep 3;; esac\nexec '{}' \"$@\"\n",
            real_rustc().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut child = sb
        .cmd(zccache_bin())
        .args([
            slow.to_str().unwrap(),
            "--crate-name",
            "w",
            "--crate-type",
            "lib",
            "--emit=dep-info,metadata,link",
            "--out-dir",
            "o",
            "w.rs",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let seen = std::time::Instant::now();
    let status = child.wait().unwrap();
    // rustc waits 3 s after that line; shown only at the end, the line
    // would come milliseconds before the wrapper exits.
    let before_exit = seen.elapsed();
    assert!(status.success(), "the compile failed");
    assert_eq!(first, "zcc-early-line\n");
    assert!(
        before_exit >= std::time::Duration::from_secs(1),
        "rustc's first stderr line came only {before_exit:?} before the wrapper exited, not while rustc ran"
    );
    let (_, m, _) = sb.hmp();
    assert_eq!(m, 1, "the compile should have been a miss");
}

/// rustc refuses a bad or repeated `--color`; through zccache it must too
/// (a miss used to replace the caller's `--color` with `--color=always`,
/// so the call succeeded and was stored).
#[test]
fn a_colour_option_rustc_refuses_is_refused_through_the_cache() {
    let sb = Sandbox::new("rs-color");
    sb.write("lib.rs", "pub fn f() -> u32 { 1 }\n");
    for colour in [&["--color=bogus"][..], &["--color=never", "--color=always"]] {
        let run = |cached: bool| {
            let mut c = if cached {
                let mut c = sb.cmd(zccache_bin());
                c.arg(real_rustc());
                c
            } else {
                sb.cmd(real_rustc())
            };
            c.args(["--crate-name", "x", "--crate-type", "lib", "--emit=link"])
                .args(colour)
                .args(["lib.rs", "--out-dir", "out"])
                .output()
                .unwrap()
        };
        let (plain, cached) = (run(false), run(true));
        assert_eq!(cached.status.code(), plain.status.code(), "{colour:?}");
        assert_eq!(
            String::from_utf8_lossy(&cached.stderr),
            String::from_utf8_lossy(&plain.stderr),
            "{colour:?}"
        );
        assert_ne!(plain.status.code(), Some(0), "rustc refuses {colour:?}");
    }
}
