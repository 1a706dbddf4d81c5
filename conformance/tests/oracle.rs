//! The C/C++ oracle cases of oracle-cases.md (C1–C61), run against the real
//! gcc, clang and emcc: every step runs the bare compiler and then zccache
//! with the same argv, cwd and environment, and requires byte-equal outputs
//! (objects, `.d`, `.dwo`, `.gcno`, `.dia`), equal stdout, stderr and exit
//! code, and the expected change in the hit/miss/passthrough/stored counters.
//!
//! It does not test the Rust cases (R1–R30) or run ccache's own suites.
//!
//! Cases that do not apply on Linux, or that are tested only in part here:
//! - C24 (`-march=native` with a fake compiler whose `-###` changes): we do
//!   not probe `-###`; `-march=native` (and `-mcpu`/`-mtune=native`) is
//!   passthrough by design, and that is what `c24_…` checks.
//! - C25: the compiler identity is a hash of the executable's bytes, so a
//!   replacement with new content (even of the same size and mtime) misses,
//!   while an mtime-only touch with the same bytes hits, correctly.
//! - C39 (`--warning-suppression-mappings`) needs clang 22; clang 14 is
//!   installed.
//! - C50: we key the terminal (ARCHITECTURE.md, "Decisions"), so a TTY
//!   and a non-TTY run are two entries; what we promise, and test on a pty,
//!   is colour exactly when the bare compiler colours, each order hitting
//!   its own entry.
//! - C59: the macOS `-arch` combinations do not apply on Linux; the
//!   `-include`, `.gch` and `-include-pch` parts are tested.
//! - C9 with `-fdebug-compilation-dir`: gcc 12 has no such flag, so that
//!   variant runs with clang only.
//! - C38 (`-fsanitize-ignorelist`) is a clang flag: clang only.
//! - C52/C53 `.dia` (`--serialize-diagnostics`) is clang only.
//! - C35: clang 14 ignores `SOURCE_DATE_EPOCH` (clang 16 is the first to
//!   honour it), so for clang `__DATE__` is keyed by today and `__TIME__` is
//!   never stored; the gcc run checks the case as written.
//! - C33 and clang's C35: objects are compared with `HH:MM:SS` masked.
//! - C36/C37: gcc stamps coverage and profile objects with the time unless
//!   given `-frandom-seed`, which the gcc runs pass so bare and cached
//!   outputs can be compared byte for byte.
//! - C30: gcc's `.gch` is not reproducible byte for byte; only its presence
//!   is checked.
//!
//! Known failures live in `conformance/known-failures.txt`; a listed test
//! must still fail, so the list can only shrink.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use conformance::{backdate, ok, zccache_bin, Sandbox};

// ---------------------------------------------------------------------------
// Harness

/// The expected change of the daemon's counters for one step.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Served from the cache.
    Hit,
    /// Compiled and stored.
    Miss,
    /// Compiled, correct, not stored.
    NoStore,
    /// A miss, stored or not (the compiler decides, e.g. an error).
    MissAny,
    /// Not served from the cache, whatever else happened.
    NotHit,
    /// Any outcome: only the outputs and streams are checked.
    Any,
    /// The real compiler ran unchanged.
    Pt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    pt: u64,
    stored: u64,
    /// Failed compiles: looked up and missed, but counted as
    /// `compile_failed` only, not as misses (as ccache counts them).
    failed: u64,
}

fn counts(sb: &Sandbox) -> Counts {
    let s = sb.status();
    let g = |k: &str| s[k].as_u64().unwrap_or(0);
    Counts {
        hits: g("hits"),
        misses: g("misses"),
        pt: g("passthrough"),
        stored: g("stored"),
        failed: s["not_stored_reasons"]["compile_failed"]
            .as_u64()
            .unwrap_or(0),
    }
}

/// One compile, run bare and then through zccache.
struct Step<'a> {
    sb: &'a Sandbox,
    cc: String,
    args: Vec<OsString>,
    dir: PathBuf,
    outputs: Vec<String>,
    env: Vec<(String, String)>,
    unset: Vec<String>,
    nest: usize,
    tty: bool,
    touch_before_zc: Vec<String>,
    mask_time: bool,
    umask: Option<u32>,
    rewrite_before_zc: Vec<(String, String)>,
}

/// What a step saw through zccache.
struct Ran {
    zc: Output,
}

fn step<'a>(sb: &'a Sandbox, cc: &str, args: &str) -> Step<'a> {
    if !cc.contains('/') {
        present(cc);
    }
    Step {
        sb,
        cc: cc.to_owned(),
        args: args.split_whitespace().map(OsString::from).collect(),
        dir: sb.work.clone(),
        outputs: Vec::new(),
        env: Vec::new(),
        unset: vec![
            "LANG".into(),
            "CPATH".into(),
            "GCC_COLORS".into(),
            "EMCC_CFLAGS".into(),
        ],
        nest: 0,
        tty: false,
        touch_before_zc: Vec::new(),
        mask_time: false,
        umask: None,
        rewrite_before_zc: Vec::new(),
    }
}

impl<'a> Step<'a> {
    fn argv(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(OsString::from).collect();
        self
    }
    fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }
    fn out(mut self, rel: &str) -> Self {
        self.outputs.push(rel.to_owned());
        self
    }
    fn outs(mut self, rels: &[&str]) -> Self {
        self.outputs.extend(rels.iter().map(|s| s.to_string()));
        self
    }
    fn dir(mut self, rel: &str) -> Self {
        self.dir = self.sb.path(rel);
        std::fs::create_dir_all(&self.dir).unwrap();
        self
    }
    fn env(mut self, k: &str, v: &str) -> Self {
        self.unset.retain(|u| u != k);
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }
    fn nest(mut self, n: usize) -> Self {
        self.nest = n;
        self
    }
    fn tty(mut self, on: bool) -> Self {
        self.tty = on;
        self
    }
    /// Between the bare run and zccache, write this file again (backdated):
    /// undoes what a fake compiler changed.
    fn rewrite_before_zc(mut self, rel: &str, body: &str) -> Self {
        self.rewrite_before_zc
            .push((rel.to_owned(), body.to_owned()));
        self
    }
    /// Run both commands with this umask.
    fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }
    /// Compare outputs with every `HH:MM:SS` masked (`__TIME__`).
    fn mask_time(mut self) -> Self {
        self.mask_time = true;
        self
    }
    /// Set this file's mtime into the future right before zccache runs,
    /// after the bare run: the too-new guard must see it.
    fn touch_before_zc(mut self, rel: &str) -> Self {
        self.touch_before_zc.push(rel.to_owned());
        self
    }

    fn command(&self, program: &Path, extra: &[OsString]) -> Command {
        let mut c = self.sb.cmd(program);
        c.current_dir(&self.dir)
            .args(extra)
            .args(&self.args)
            .env("TERM", "xterm");
        for u in &self.unset {
            c.env_remove(u);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(mask) = self.umask {
            use std::os::unix::process::CommandExt;
            // SAFETY: umask is async-signal-safe and touches no memory.
            unsafe {
                c.pre_exec(move || {
                    libc::umask(mask as libc::mode_t);
                    Ok(())
                });
            }
        }
        c
    }

    fn read_outputs(&self) -> Vec<Option<Vec<u8>>> {
        let mask = |mut b: Vec<u8>| {
            if self.mask_time {
                for i in 0..b.len().saturating_sub(7) {
                    let w = &b[i..i + 8];
                    let d = |k: usize| w[k].is_ascii_digit();
                    if d(0) && d(1) && w[2] == b':' && d(3) && d(4) && w[5] == b':' && d(6) && d(7)
                    {
                        b[i..i + 8].copy_from_slice(b"HH:MM:SS");
                    }
                }
            }
            b
        };
        self.outputs
            .iter()
            .map(|o| std::fs::read(self.dir.join(o)).ok().map(mask))
            .collect()
    }

    fn output_modes(&self) -> Vec<Option<u32>> {
        use std::os::unix::fs::PermissionsExt;
        self.outputs
            .iter()
            .map(|o| {
                std::fs::metadata(self.dir.join(o))
                    .ok()
                    .map(|m| m.permissions().mode() & 0o7777)
            })
            .collect()
    }

    fn remove_outputs(&self) {
        for o in &self.outputs {
            let _ = std::fs::remove_file(self.dir.join(o));
        }
    }

    #[track_caller]
    fn expect(self, expect: Expect) -> Ran {
        self.remove_outputs();
        let bare = run(self.command(Path::new(&self.cc), &[]), self.tty);
        let bare_files = self.read_outputs();
        let bare_modes = self.output_modes();
        self.remove_outputs();
        for (rel, body) in &self.rewrite_before_zc {
            std::fs::write(self.dir.join(rel), body).unwrap();
            backdate(&self.dir.join(rel));
        }
        // Inputs written just before this step have a ctime of "now", which
        // backdating cannot change: let them age past the too-new guard.
        std::thread::sleep(Duration::from_millis(30));
        for t in &self.touch_before_zc {
            let f = std::fs::File::options()
                .write(true)
                .open(self.dir.join(t))
                .unwrap();
            f.set_modified(SystemTime::now() + Duration::from_secs(5))
                .unwrap();
        }
        let before = counts(self.sb);
        let mut prefix: Vec<OsString> = (0..self.nest)
            .map(|_| zccache_bin().into_os_string())
            .collect();
        prefix.push(OsString::from(&self.cc));
        let zc = run(self.command(&zccache_bin(), &prefix), self.tty);
        let zc_files = self.read_outputs();
        let zc_modes = self.output_modes();
        let after = counts(self.sb);
        let d = Counts {
            hits: after.hits - before.hits,
            misses: after.misses - before.misses,
            pt: after.pt - before.pt,
            stored: after.stored - before.stored,
            failed: after.failed - before.failed,
        };
        // Outcomes below count a failed compile among the misses.
        let looked_up = d.misses + d.failed;
        let what = format!(
            "{} {:?} in {} (expected {expect:?}, counters moved by {d:?})",
            self.cc,
            self.args,
            self.dir.display()
        );
        assert_eq!(
            String::from_utf8_lossy(&zc.stderr),
            String::from_utf8_lossy(&bare.stderr),
            "stderr differs from bare: {what}"
        );
        assert_eq!(
            String::from_utf8_lossy(&zc.stdout),
            String::from_utf8_lossy(&bare.stdout),
            "stdout differs from bare: {what}"
        );
        assert_eq!(
            zc.status.code(),
            bare.status.code(),
            "exit code differs from bare: {what}"
        );
        for ((name, b), z) in self.outputs.iter().zip(&bare_files).zip(&zc_files) {
            match (b, z) {
                (Some(b), Some(z)) if b == z => {}
                (Some(b), Some(z)) => panic!(
                    "{name} differs from bare ({} vs {} bytes): {what}\nbare: {}\nzccache: {}",
                    b.len(),
                    z.len(),
                    String::from_utf8_lossy(&b[..b.len().min(400)]),
                    String::from_utf8_lossy(&z[..z.len().min(400)])
                ),
                (None, None) => {}
                (b, z) => panic!(
                    "{name}: bare {} it, zccache {} it: {what}",
                    if b.is_some() {
                        "wrote"
                    } else {
                        "did not write"
                    },
                    if z.is_some() {
                        "wrote"
                    } else {
                        "did not write"
                    }
                ),
            }
        }
        assert_eq!(
            zc_modes, bare_modes,
            "output permissions differ from bare: {what}"
        );
        let good = match expect {
            Expect::Hit => (d.hits, d.misses, d.pt, d.stored) == (1, 0, 0, 0),
            Expect::Miss => (d.hits, looked_up, d.pt, d.stored) == (0, 1, 0, 1),
            Expect::NoStore => (d.hits, looked_up, d.pt, d.stored) == (0, 1, 0, 0),
            Expect::MissAny => (d.hits, looked_up, d.pt) == (0, 1, 0),
            Expect::NotHit => d.hits == 0,
            Expect::Any => true,
            Expect::Pt => (d.hits, d.misses, d.pt, d.stored) == (0, 0, 1, 0),
        };
        assert!(good, "wrong outcome: {what}\nstatus: {}", self.sb.status());
        Ran { zc }
    }
}

/// Runs a command; with `tty`, its stderr is a fresh pty and what the
/// terminal received is returned as stderr.
fn run(mut c: Command, tty: bool) -> Output {
    if !tty {
        return c.output().expect("spawn");
    }
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two fds into the pointers we pass; no name,
    // termios or winsize is requested.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both fds were just returned by openpty and are owned by no one.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    c.stdout(Stdio::piped()).stderr(Stdio::from(slave));
    let child = c.spawn().expect("spawn");
    // The Command still holds the slave; the master reads EOF (EIO) only
    // once every copy is closed.
    drop(c);
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match f.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf
    });
    let mut out = child.wait_with_output().expect("wait");
    out.stderr = reader.join().unwrap();
    out
}

/// A sandbox whose daemon is already up, so counters can be read before
/// the first compile.
fn sandbox(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    ok(&sb.zccache(["start"]));
    sb
}

fn present(cc: &str) -> &str {
    assert!(conformance::which(cc).is_some(), "{cc} is not installed");
    if cc == "emcc" {
        // A first emcc run may fill the Emscripten cache and say so on
        // stderr; let that happen outside any comparison.
        static WARM: std::sync::Once = std::sync::Once::new();
        WARM.call_once(|| {
            let sb = Sandbox::new("emwarm");
            sb.write("w.c", T_C);
            ok(&sb.bare("emcc", ["-c", "w.c"]));
        });
    }
    cc
}

/// Writes an executable script under the work dir, backdated.
fn script(sb: &Sandbox, rel: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    sb.write(rel, body);
    let p = sb.path(rel);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs a test body; one listed in known-failures.txt must still fail.
fn known(name: &str, body: impl FnOnce() + std::panic::UnwindSafe) {
    let list =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("known-failures.txt"))
            .unwrap_or_default();
    let listed = list
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name));
    let result = std::panic::catch_unwind(body);
    match (listed, result) {
        (false, Err(e)) => std::panic::resume_unwind(e),
        (false, Ok(())) => {}
        (true, Err(_)) => eprintln!("{name}: known failure (conformance/known-failures.txt)"),
        (true, Ok(())) => {
            panic!("{name} passes now: remove it from conformance/known-failures.txt")
        }
    }
}

#[test]
fn known_failures_name_real_tests() {
    let list =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("known-failures.txt"))
            .expect("conformance/known-failures.txt");
    let source = include_str!("oracle.rs");
    for line in list
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut fields = line.split_whitespace();
        let name = fields.next().unwrap();
        let case = fields.next().unwrap_or("");
        assert!(
            source.contains(&format!("    {name} => ")),
            "known-failures.txt names no test: {name}"
        );
        assert!(
            case.starts_with('C') && fields.next().is_some(),
            "want `name case reason`: {line}"
        );
    }
}

/// One `#[test]` per (case function, compiler).
macro_rules! cases {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[test]
            fn $name() {
                known(stringify!($name), || $body);
            }
        )*
    };
}

const T_C: &str = "int f(int x) { return x + 1; }\n";
const MAIN_C: &str = "int main(void) { return 0; }\n";

// ---------------------------------------------------------------------------
// Cases

fn c1(cc: &str) {
    let sb = sandbox("c1");
    sb.write("t.c", T_C);
    step(&sb, present(cc), "-c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    // A hit leaves the object as new as a fresh compile would, for make.
    let before = SystemTime::now() - Duration::from_secs(1);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Hit);
    assert!(
        std::fs::metadata(sb.path("t.o"))
            .unwrap()
            .modified()
            .unwrap()
            >= before,
        "t.o mtime is now"
    );
}

/// Outputs get the permissions the client's umask gives, hit or miss.
fn c1_umask(cc: &str) {
    let sb = sandbox("c1u");
    sb.write("t.c", T_C);
    step(&sb, cc, "-MD -c t.c")
        .umask(0o077)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Miss);
    step(&sb, cc, "-MD -c t.c")
        .umask(0o077)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Hit);
    step(&sb, cc, "-MD -c t.c")
        .umask(0o002)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Hit);
}

fn c2(cc: &str) {
    let sb = sandbox("c2");
    sb.write("t.c", T_C);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.c -o foo.o")
        .out("foo.o")
        .expect(Expect::Hit);
    std::fs::create_dir_all(sb.path("sub")).unwrap();
    step(&sb, cc, "-c ../t.c -o ../up.o")
        .dir("sub")
        .out("../up.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-c ../t.c -o ../up.o")
        .dir("sub")
        .out("../up.o")
        .expect(Expect::Hit);
}

fn c3() {
    let sb = sandbox("c3");
    sb.write("t.c", T_C);
    step(&sb, "gcc", "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, "gcc", "-c t.c -odir")
        .out("dir")
        .expect(Expect::Hit);
    step(&sb, "gcc", "-optf -c t.c")
        .out("ptf")
        .expect(Expect::Hit);
}

fn c4() {
    let sb = sandbox("c4");
    sb.write("t.c", T_C);
    step(&sb, "gcc", "-c t.c")
        .nest(1)
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-c t.c")
        .nest(1)
        .out("t.o")
        .expect(Expect::Hit);
    step(&sb, "gcc", "-c t.c")
        .nest(2)
        .out("t.o")
        .expect(Expect::Hit);
}

fn c5(cc: &str) {
    let sb = sandbox("c5");
    sb.write("t.c", T_C);
    step(&sb, cc, "-g -c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-g -c t.c").out("t.o").expect(Expect::Hit);
}

fn c6(cc: &str) {
    let sb = sandbox("c6");
    sb.write("dir1/t.c", T_C);
    sb.write("dir2/t.c", T_C);
    step(&sb, cc, "-g -c t.c")
        .dir("dir1")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-g -c t.c")
        .dir("dir2")
        .out("t.o")
        .expect(Expect::Miss);
    for d in ["dir1", "dir2"] {
        let obj = sb.read(&format!("{d}/t.o"));
        assert!(
            contains(&obj, sb.path(d).to_str().unwrap().as_bytes()),
            "{d}/t.o names its own dir"
        );
    }
}

fn c7(cc: &str) {
    let sb = sandbox("c7");
    sb.write("dir1/t.c", T_C);
    sb.write("dir2/t.c", T_C);
    step(&sb, cc, "-c t.c")
        .dir("dir1")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-c t.c")
        .dir("dir2")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c8(cc: &str) {
    let sb = sandbox("c8");
    for (i, flags) in ["-g -g0", "-gz", "-gz=zlib"].iter().enumerate() {
        let (a, b) = (format!("d{i}a"), format!("d{i}b"));
        sb.write(&format!("{a}/t.c"), T_C);
        sb.write(&format!("{b}/t.c"), T_C);
        let args = format!("{flags} -c t.c");
        step(&sb, cc, &args).dir(&a).out("t.o").expect(Expect::Miss);
        step(&sb, cc, &args).dir(&b).out("t.o").expect(Expect::Hit);
    }
}

fn c9_prefix_map(cc: &str) {
    let sb = sandbox("c9");
    for d in ["co1", "co2", "co3", "co4"] {
        sb.write(&format!("{d}/t.c"), T_C);
    }
    for (d, e) in [("co1", Expect::Miss), ("co2", Expect::Hit)] {
        let map = format!("-fdebug-prefix-map={}=XMAPX", sb.path(d).display());
        step(&sb, cc, "-g -c t.c")
            .arg(map)
            .dir(d)
            .out("t.o")
            .expect(e);
        let obj = sb.read(&format!("{d}/t.o"));
        assert!(contains(&obj, b"XMAPX"), "{d}/t.o records the mapped dir");
        assert!(
            !contains(&obj, sb.work.to_str().unwrap().as_bytes()),
            "{d}/t.o names no checkout"
        );
    }
    // A map that covers cwd only in part leaves each checkout's name in
    // the object: those must not share an entry.
    let parent = format!("-fdebug-prefix-map={}=XMAPX", sb.work.display());
    step(&sb, cc, "-g -c t.c")
        .arg(&parent)
        .dir("co3")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-g -c t.c")
        .arg(&parent)
        .dir("co4")
        .out("t.o")
        .expect(Expect::Miss);
}

fn c9_compilation_dir() {
    let sb = sandbox("c9cd");
    sb.write("co1/t.c", T_C);
    sb.write("co2/t.c", T_C);
    let args = "-g -fdebug-compilation-dir=. -c t.c";
    step(&sb, "clang", args)
        .dir("co1")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "clang", args)
        .dir("co2")
        .out("t.o")
        .expect(Expect::Hit);
    assert!(!contains(
        &sb.read("co2/t.o"),
        sb.work.to_str().unwrap().as_bytes()
    ));
}

fn c10(cc: &str) {
    let sb = sandbox("c10");
    sb.write("t.c", T_C);
    step(&sb, cc, "-g -gsplit-dwarf -c t.c")
        .outs(&["t.o", "t.dwo"])
        .expect(Expect::Miss);
    step(&sb, cc, "-g -gsplit-dwarf -c t.c")
        .outs(&["t.o", "t.dwo"])
        .expect(Expect::Hit);
    step(&sb, cc, "-g -gsplit-dwarf -c t.c -o u.o")
        .outs(&["u.o", "u.dwo"])
        .expect(Expect::Miss);
    step(&sb, cc, "-g -gsplit-dwarf -c t.c -o u.o")
        .outs(&["u.o", "u.dwo"])
        .expect(Expect::Hit);
    // Without -g, gcc 12 still writes a .dwo and clang does not.
    step(&sb, cc, "-gsplit-dwarf -c t.c -o v.o")
        .outs(&["v.o", "v.dwo"])
        .expect(Expect::Miss);
    step(&sb, cc, "-gsplit-dwarf -c t.c -o v.o")
        .outs(&["v.o", "v.dwo"])
        .expect(Expect::Hit);
}

fn c11(cc: &str) {
    let sb = sandbox("c11");
    sb.write("t.c", "#include \"a.h\"\nint v = V;\n");
    sb.write("a.h", "#include \"inc/b.h\"\n");
    sb.write("inc/b.h", "#define V 1\n");
    step(&sb, present(cc), "-c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Hit);
    sb.write("inc/b.h", "#define V 2\n");
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Hit);
    // Same size, same mtime: only the ctime tells.
    let b = sb.path("inc/b.h");
    let mtime = std::fs::metadata(&b).unwrap().modified().unwrap();
    std::fs::write(&b, "#define V 3\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Hit);
}

fn c12() {
    let sb = sandbox("c12");
    sb.write("t.c", "#include \"h.h\"\nint v = V;\n");
    sb.write("h.h", "#define V 1\n");
    step(&sb, "gcc", "-c t.c").out("t.o").expect(Expect::Miss);
    std::fs::remove_file(sb.path("h.h")).unwrap();
    sb.write("t.c", "#define V 1\nint v = V;\n");
    step(&sb, "gcc", "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, "gcc", "-c t.c").out("t.o").expect(Expect::Hit);
}

fn c13(cc: &str) {
    let sb = sandbox("c13");
    sb.write("t.c", "#include <foo.h>\nint v = V;\n");
    sb.write("a/foo.h", "#define V 1\n");
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
    sb.write("b/foo.h", "#define V 2\n");
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c14(cc: &str) {
    let sb = sandbox("c14");
    sb.write("t.c", "#include <foo.h>\nint v = V;\n");
    sb.write("a/foo.h", "#define V 1\n");
    std::fs::create_dir_all(sb.path("b")).unwrap();
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
    sb.write("b/foo.h", "#define V 2\n");
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

/// The quote chain: a header appearing in the includer's directory, in an
/// earlier `-iquote` dir, or named by a `__has_include` that was false.
fn c14_quote_chain(cc: &str) {
    let sb = sandbox("c14q");
    sb.write("src/t.c", "#include \"foo.h\"\nint v = V;\n");
    sb.write("a/foo.h", "#define V 1\n");
    std::fs::create_dir_all(sb.path("q")).unwrap();
    let args = "-iquote q -Ia -c src/t.c -o t.o";
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    step(&sb, cc, args).out("t.o").expect(Expect::Hit);
    sb.write("q/foo.h", "#define V 2\n");
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    step(&sb, cc, args).out("t.o").expect(Expect::Hit);
    sb.write("src/foo.h", "#define V 3\n");
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    step(&sb, cc, args).out("t.o").expect(Expect::Hit);
}

fn c14_has_include(cc: &str) {
    let sb = sandbox("c14h");
    sb.write(
        "t.c",
        "#include \"h.h\"\n#if __has_include(\"opt.h\")\nint v = 2;\n#else\nint v = 1;\n#endif\n",
    );
    sb.write("h.h", "int h;\n");
    step(&sb, cc, "-Iinc -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Iinc -c t.c").out("t.o").expect(Expect::Hit);
    sb.write("inc/opt.h", "\n");
    step(&sb, cc, "-Iinc -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Iinc -c t.c").out("t.o").expect(Expect::Hit);
    // Gone again: the first entry is valid again, the second is not.
    std::fs::remove_file(sb.path("inc/opt.h")).unwrap();
    step(&sb, cc, "-Iinc -c t.c").out("t.o").expect(Expect::Hit);
}

/// `#include_next` continues after the dir it was found in: a header that
/// appears in a dir between the two must miss.
fn c14_include_next(cc: &str) {
    let sb = sandbox("c14n");
    sb.write("t.c", "#include <foo.h>\nint v = V;\n");
    sb.write("a/foo.h", "#include_next <foo.h>\n");
    sb.write("b/foo.h", "#define V 1\n");
    std::fs::create_dir_all(sb.path("c")).unwrap();
    let args = "-Ia -Ic -Ib -c t.c";
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    step(&sb, cc, args).out("t.o").expect(Expect::Hit);
    sb.write("c/foo.h", "#define V 2\n");
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    step(&sb, cc, args).out("t.o").expect(Expect::Hit);
}

/// A user dir that later gets a file named like a system header shadows it.
fn c14_system_header_shadowed(cc: &str) {
    let sb = sandbox("c14s");
    sb.write(
        "t.c",
        "#include <stddef.h>\n#ifndef V\n#define V 1\n#endif\nint v = V;\n",
    );
    std::fs::create_dir_all(sb.path("inc")).unwrap();
    step(&sb, cc, "-Iinc -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Iinc -c t.c").out("t.o").expect(Expect::Hit);
    sb.write("inc/stddef.h", "#define V 2\n");
    step(&sb, cc, "-Iinc -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Iinc -c t.c").out("t.o").expect(Expect::Hit);
}

/// A nested header's `"…"` include searches that header's own directory
/// first: a file appearing there shadows the one found through `-I`.
fn c14_nested_includer_dir(cc: &str) {
    let sb = sandbox("c14d");
    sb.write("t.c", "#include \"a/x.h\"\nint v = V;\n");
    sb.write("a/x.h", "#include \"y.h\"\n");
    sb.write("b/y.h", "#define V 1\n");
    step(&sb, cc, "-Ib -c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-Ib -c t.c").out("t.o").expect(Expect::Hit);
    sb.write("a/y.h", "#define V 2\n");
    step(&sb, cc, "-Ib -c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-Ib -c t.c").out("t.o").expect(Expect::Hit);
}

/// Headers and include dirs reached through symlinks that are re-pointed.
fn c11_symlinks(cc: &str) {
    use std::os::unix::fs::symlink;
    let sb = sandbox("c11s");
    sb.write("t.c", "#include \"h.h\"\n#include <g.h>\nint v = V + G;\n");
    sb.write("one.h", "#define V 1\n");
    sb.write("two.h", "#define V 2\n");
    sb.write("inc1/g.h", "#define G 10\n");
    sb.write("inc2/g.h", "#define G 20\n");
    symlink("one.h", sb.path("h.h")).unwrap();
    symlink("inc1", sb.path("inc")).unwrap();
    let args = "-Iinc -c t.c";
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    step(&sb, cc, args).out("t.o").expect(Expect::Hit);
    std::fs::remove_file(sb.path("h.h")).unwrap();
    symlink("two.h", sb.path("h.h")).unwrap();
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    std::fs::remove_file(sb.path("inc")).unwrap();
    symlink("inc2", sb.path("inc")).unwrap();
    step(&sb, cc, args).out("t.o").expect(Expect::Miss);
    step(&sb, cc, args).out("t.o").expect(Expect::Hit);
}

/// Manifests survive a daemon restart with their negative candidates and
/// temporal facts intact.
fn c14_after_restart(cc: &str) {
    let sb = sandbox("c14r");
    sb.write("t.c", "#include <foo.h>\n#include \"d.h\"\nint v = V;\n");
    sb.write("d.h", "const char *d = __DATE__;\n");
    sb.write("a/foo.h", "#define V 1\n");
    std::fs::create_dir_all(sb.path("b")).unwrap();
    let restart = || {
        ok(&sb.zccache(["stop"]));
        ok(&sb.zccache(["start"]));
    };
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    restart();
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
    restart();
    sb.write("b/foo.h", "#define V 2\n");
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    restart();
    step(&sb, cc, "-Ib -Ia -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c15(cc: &str) {
    let sb = sandbox("c15");
    sb.write("t.c", "#ifndef FOO\n#define FOO 0\n#endif\nint v = FOO;\n");
    step(&sb, cc, "-DFOO=1 -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-DFOO=2 -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-DFOO=1 -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

/// emcc appends `EMCC_CFLAGS`; it is part of the key.
fn c15_emcc_cflags() {
    let sb = sandbox("c15e");
    sb.write("t.c", "#ifndef FOO\n#define FOO 0\n#endif\nint v = FOO;\n");
    step(&sb, "emcc", "-c t.c")
        .env("EMCC_CFLAGS", "-DFOO=1")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "emcc", "-c t.c")
        .env("EMCC_CFLAGS", "-DFOO=2")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "emcc", "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, "emcc", "-c t.c")
        .env("EMCC_CFLAGS", "-DFOO=1")
        .out("t.o")
        .expect(Expect::Hit);
    step(&sb, "emcc", "-sSTRICT=1 -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "emcc", "-sSTRICT=1 -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c16(cc: &str) {
    let sb = sandbox("c16");
    sb.write("t.c", "int v = X;\n");
    step(&sb, cc, "-DX=1 -DX=2 -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-DX=2 -DX=1 -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-DX=1 -DX=2 -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c17() {
    let sb = sandbox("c17");
    let body = "const char *f = __FILE__;\n";
    sb.write("file.c", body);
    sb.write("file2.c", body);
    step(&sb, "gcc", "-c file.c -o x.o")
        .out("x.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-c file2.c -o x.o")
        .out("x.o")
        .expect(Expect::Miss);
}

fn c18() {
    let sb = sandbox("c18");
    sb.write("file.c", "const char *f = __FILE__;\n");
    step(&sb, "gcc", "-c file.c")
        .out("file.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-c")
        .arg(sb.path("file.c"))
        .out("file.o")
        .expect(Expect::Miss);
}

fn c19() {
    let sb = sandbox("c19");
    for (d, v) in [("a", 1), ("b", 2)] {
        sb.write(&format!("{d}/file.c"), "#include \"file.h\"\nint v = V;\n");
        sb.write(&format!("{d}/file.h"), format!("#define V {v}\n"));
    }
    step(&sb, "gcc", "-c file.c")
        .dir("a")
        .out("file.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-c file.c")
        .dir("b")
        .out("file.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-c file.c")
        .dir("a")
        .out("file.o")
        .expect(Expect::Hit);
}

fn c20() {
    let sb = sandbox("c20");
    sb.write("t.c", "#include <h.h>\nint v = V;\n");
    sb.write("subdir1/h.h", "#define V 1\n");
    sb.write("subdir2/h.h", "#define V 2\n");
    step(&sb, "gcc", "-c t.c")
        .env("CPATH", "subdir1")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-c t.c")
        .env("CPATH", "subdir2")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-c t.c")
        .env("CPATH", "subdir1")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c21() {
    let sb = sandbox("c21");
    sb.write("t.c", "int f(void) { int unused; return 0; }\n");
    step(&sb, "gcc", "-Wall -c t.c")
        .env("LANG", "foo")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-Wall -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-Wall -c t.c")
        .env("LANG", "foo")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c22(cc: &str) {
    let sb = sandbox("c22");
    sb.write("t.c", T_C);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.c -Werror -rdynamic")
        .out("t.o")
        .expect(Expect::MissAny);
}

fn c23(cc: &str) {
    let sb = sandbox("c23");
    sb.write("t.c", T_C);
    step(&sb, cc, "-frecord-gcc-switches -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-frecord-gcc-switches -Wall -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    // gcc does not record `-o`, clang does: only the bytes are checked.
    step(&sb, cc, "-frecord-gcc-switches -c t.c -o u.o")
        .out("u.o")
        .expect(Expect::Any);
}

fn c24(cc: &str) {
    let sb = sandbox("c24");
    sb.write("t.c", T_C);
    for flag in ["-march=native", "-mtune=native"] {
        step(&sb, cc, "-c t.c")
            .arg(flag)
            .out("t.o")
            .expect(Expect::Pt);
    }
}

fn c25() {
    let sb = sandbox("c25");
    sb.write("t.c", "int v = V;\n");
    let gcc = script(
        &sb,
        "bin/gcc",
        "#!/bin/sh\nexec /usr/bin/gcc -DV=1 \"$@\"\n",
    );
    let mtime = std::fs::metadata(&gcc).unwrap().modified().unwrap();
    step(&sb, &gcc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, &gcc, "-c t.c").out("t.o").expect(Expect::Hit);
    // Same path, size and mtime; other bytes.
    std::fs::write(&gcc, "#!/bin/sh\nexec /usr/bin/gcc -DV=2 \"$@\"\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&gcc)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    step(&sb, &gcc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, &gcc, "-c t.c").out("t.o").expect(Expect::Hit);
    // Only the mtime changes: the same bytes are the same compiler.
    std::fs::File::options()
        .write(true)
        .open(&gcc)
        .unwrap()
        .set_modified(mtime - Duration::from_secs(100))
        .unwrap();
    step(&sb, &gcc, "-c t.c").out("t.o").expect(Expect::Hit);
}

fn c26(cc: &str) {
    let sb = sandbox("c26");
    sb.write("foo.ccc", T_C);
    sb.write("t.c", T_C);
    sb.write("src/foo", T_C);
    sb.write("src/foo.", T_C);
    sb.write("foo.c.c", T_C);
    let outs = ["foo.o", "foo.c.o", "foo..o", "t.o", "foo", "a.out"];
    for args in [
        "-x c -c foo.ccc",
        "-xc -c foo.ccc",
        "-x assembler -x none -c t.c",
        "-x c -c src/foo",
        "-x c -c src/foo.",
        "-c foo.c.c",
    ] {
        step(&sb, cc, args).outs(&outs).expect(Expect::Miss);
        step(&sb, cc, args).outs(&outs).expect(Expect::Hit);
    }
}

fn c27(cc: &str) {
    let sb = sandbox("c27");
    sb.write("t.c", T_C);
    step(&sb, cc, "-x unknown -c t.c")
        .out("t.o")
        .expect(Expect::Pt);
}

fn c28(cc: &str) {
    let sb = sandbox("c28");
    for f in ["t.c", "t.i", "t.ii"] {
        sb.write(f, T_C);
    }
    for f in ["t.c", "t.i", "t.ii"] {
        step(&sb, cc, "-c").arg(f).out("t.o").expect(Expect::Miss);
        step(&sb, cc, "-c").arg(f).out("t.o").expect(Expect::Hit);
    }
    // The same file as another language is another key.
    step(&sb, cc, "-x c -c t.i").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-x c -c t.i").out("t.o").expect(Expect::Hit);
}

fn c29(cc: &str) {
    let sb = sandbox("c29");
    sb.write("t.c", T_C);
    step(&sb, cc, "-S t.c").out("t.s").expect(Expect::Miss);
    step(&sb, cc, "-S t.c").out("t.s").expect(Expect::Hit);
    backdate(&sb.path("t.s"));
    step(&sb, cc, "-c t.s -o u.o")
        .out("u.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-c t.s -o u.o")
        .out("u.o")
        .expect(Expect::Hit);
}

fn c29_asm_with_cpp(cc: &str) {
    let sb = sandbox("c29S");
    sb.write(
        "t.S",
        "#include \"v.h\"\n.globl f\nf:\n  mov $V, %eax\n  ret\n",
    );
    sb.write("v.h", "#define V 1\n");
    step(&sb, cc, "-c t.S").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.S").out("t.o").expect(Expect::Hit);
    sb.write("v.h", "#define V 2\n");
    step(&sb, cc, "-c t.S").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-MD -c t.S")
        .outs(&["t.o", "t.d"])
        .expect(Expect::Miss);
    step(&sb, cc, "-MD -c t.S")
        .outs(&["t.o", "t.d"])
        .expect(Expect::Hit);
}

fn c30(cc: &str) {
    let sb = sandbox("c30");
    sb.write("t.h", T_C);
    step(&sb, cc, "-x c -c t.h -o t.o")
        .out("t.o")
        .expect(Expect::Miss);
    // gcc's precompiled headers are not reproducible byte for byte: there,
    // only that one was written is checked.
    let pch = step(&sb, cc, "-x c-header -c t.h -o t.o");
    let pch = if cc == "gcc" { pch } else { pch.out("t.o") };
    pch.expect(Expect::NotHit);
    assert!(sb.path("t.o").exists());
    step(&sb, cc, "-x c -c t.h -o t.o")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c31() {
    let sb = sandbox("c31");
    sb.write("t.c", "const char *s = \"/* a */\";\n");
    step(&sb, "gcc", "-c t.c").out("t.o").expect(Expect::Miss);
    sb.write("t.c", "const char *s = \"/* b */\";\n");
    step(&sb, "gcc", "-c t.c").out("t.o").expect(Expect::Miss);
}

fn c32(cc: &str) {
    let sb = sandbox("c32");
    sb.write("t.c", "#include \"h.h\"\nint x;\n");
    sb.write(
        "h.h",
        "static inline int g(void) { int unused; return 0; }\n",
    );
    step(&sb, cc, "-Wall -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    sb.write(
        "h.h",
        "/* a comment */\nstatic inline int g(void) { int unused; return 0; }\n",
    );
    let ran = step(&sb, cc, "-Wall -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    assert!(contains(&ran.zc.stderr, b"h.h:2:"), "warning on line 2");
}

fn c33(cc: &str) {
    let sb = sandbox("c33");
    sb.write("t.c", "const char *t = __TIME__;\n");
    sb.write("u.c", "#include \"time.h\"\n");
    sb.write("time.h", "const char *t = __TIME__;\n");
    for (f, o) in [("t.c", "t.o"), ("u.c", "u.o")] {
        step(&sb, cc, "-c")
            .arg(f)
            .out(o)
            .mask_time()
            .expect(Expect::NoStore);
        step(&sb, cc, "-c")
            .arg(f)
            .out(o)
            .mask_time()
            .expect(Expect::NoStore);
    }
}

fn c34(cc: &str) {
    let sb = sandbox("c34");
    sb.write("t.c", "#include \"h.h\"\n");
    sb.write("h.h", "const char *d = __DATE__;\n");
    step(&sb, cc, "-MMD -c t.c")
        .outs(&["t.o", "t.d"])
        .expect(Expect::Miss);
    step(&sb, cc, "-MMD -c t.c")
        .outs(&["t.o", "t.d"])
        .expect(Expect::Hit);
}

fn c35(cc: &str) {
    let sb = sandbox("c35");
    sb.write("plain.c", T_C);
    sb.write("date.c", "const char *d = __DATE__;\n");
    sb.write("time.c", "const char *t = __TIME__;\n");
    if cc == "gcc" {
        for (f, third) in [
            ("plain.c", Expect::Hit),
            ("date.c", Expect::Miss),
            ("time.c", Expect::Miss),
        ] {
            let args = format!("-c {f} -o x.o");
            step(&sb, cc, &args)
                .env("SOURCE_DATE_EPOCH", "1")
                .out("x.o")
                .expect(Expect::Miss);
            step(&sb, cc, &args)
                .env("SOURCE_DATE_EPOCH", "1")
                .out("x.o")
                .expect(Expect::Hit);
            step(&sb, cc, &args)
                .env("SOURCE_DATE_EPOCH", "172800")
                .out("x.o")
                .expect(third);
        }
        return;
    }
    // clang 14 ignores SOURCE_DATE_EPOCH (clang 16 is the first to honour
    // it): `__DATE__` is today's date and `__TIME__` is never stored.
    for (f, e) in [
        ("plain.c", Expect::Hit),
        ("date.c", Expect::Hit),
        ("time.c", Expect::NoStore),
    ] {
        let args = format!("-c {f} -o x.o");
        let first = if f == "time.c" {
            Expect::NoStore
        } else {
            Expect::Miss
        };
        step(&sb, cc, &args)
            .env("SOURCE_DATE_EPOCH", "1")
            .out("x.o")
            .mask_time()
            .expect(first);
        step(&sb, cc, &args)
            .env("SOURCE_DATE_EPOCH", "1")
            .out("x.o")
            .mask_time()
            .expect(e);
        step(&sb, cc, &args)
            .env("SOURCE_DATE_EPOCH", "172800")
            .out("x.o")
            .mask_time()
            .expect(e);
    }
}

fn c36() {
    let sb = sandbox("c36");
    sb.write(
        "t.c",
        "int main(int c, char **v) { (void)v; return c > 5; }\n",
    );
    step(&sb, "gcc", "-fprofile-generate -frandom-seed=1 -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-fprofile-generate -frandom-seed=1 -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
    ok(&sb.bare("gcc", ["-fprofile-generate", "t.o", "-o", "t"]));
    let train = |n: usize| {
        for _ in 0..n {
            ok(&sb.cmd(sb.path("t")).output().unwrap());
        }
        let gcda = std::fs::read_dir(&sb.work)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "gcda"))
            .expect("a .gcda file");
        backdate(&gcda);
    };
    train(1);
    step(&sb, "gcc", "-fprofile-use -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-fprofile-use -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
    train(3);
    step(&sb, "gcc", "-fprofile-use -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
}

/// clang's instrumented profiles: `default.profdata` in cwd is what a
/// valueless `-fprofile-use` reads.
fn c36_clang() {
    let sb = sandbox("c36c");
    sb.write(
        "t.c",
        "volatile int x;\nint main(int c, char **v) { (void)v; if (c > 5) x = 1; else x = 2; return 0; }\n",
    );
    let gen = "-fprofile-instr-generate -c t.c";
    step(&sb, "clang", gen).out("t.o").expect(Expect::Miss);
    step(&sb, "clang", gen).out("t.o").expect(Expect::Hit);
    ok(&sb.bare("clang", ["-fprofile-instr-generate", "t.o", "-o", "t"]));
    let train = |n: usize| {
        // Each run overwrites the raw profile: its arguments make the
        // difference between trainings.
        ok(&sb
            .cmd(sb.path("t"))
            .args(std::iter::repeat_n("x", n))
            .env("LLVM_PROFILE_FILE", "t.profraw")
            .output()
            .unwrap());
        ok(&sb.bare(
            "llvm-profdata",
            ["merge", "-o", "default.profdata", "t.profraw"],
        ));
        backdate(&sb.path("default.profdata"));
    };
    train(1);
    for args in [
        "-fprofile-use -c t.c",
        "-fprofile-use=default.profdata -c t.c",
    ] {
        step(&sb, "clang", args).out("t.o").expect(Expect::Miss);
        step(&sb, "clang", args).out("t.o").expect(Expect::Hit);
    }
    train(7);
    step(&sb, "clang", "-fprofile-use -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
}

fn c37(cc: &str) {
    // gcc stamps .gcno/.o pairs with the time unless given a seed.
    let seed = if cc == "gcc" { "-frandom-seed=1" } else { "" };
    let sb = sandbox("c37");
    sb.write("d1/t.c", T_C);
    sb.write("d2/t.c", T_C);
    step(&sb, cc, &format!("{seed} --coverage -c t.c"))
        .dir("d1")
        .outs(&["t.o", "t.gcno"])
        .expect(Expect::Miss);
    step(&sb, cc, &format!("{seed} --coverage -c t.c"))
        .dir("d1")
        .outs(&["t.o", "t.gcno"])
        .expect(Expect::Hit);
    step(&sb, cc, &format!("{seed} --coverage -c t.c"))
        .dir("d2")
        .outs(&["t.o", "t.gcno"])
        .expect(Expect::Miss);
    step(&sb, cc, &format!("{seed} --coverage -c t.c -o u.o"))
        .dir("d1")
        .outs(&["u.o", "u.gcno"])
        .expect(Expect::Miss);
}

fn c38() {
    let sb = sandbox("c38");
    sb.write("t.c", "int f(int *p) { return *p; }\n");
    sb.write("ign.txt", "fun:g\n");
    let args = "-fsanitize=address -fsanitize-ignorelist=ign.txt -c t.c";
    step(&sb, "clang", args).out("t.o").expect(Expect::Miss);
    step(&sb, "clang", args).out("t.o").expect(Expect::Hit);
    sb.write("ign.txt", "fun:f\n");
    step(&sb, "clang", args).out("t.o").expect(Expect::Miss);
    step(&sb, "clang", args).out("t.o").expect(Expect::Hit);
}

fn c40() {
    let sb = sandbox("c40");
    sb.write("t.c", b"const char *s = \"caf\xe9\";\n");
    step(&sb, "gcc", "-finput-charset=latin1 -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, "gcc", "-finput-charset=latin1 -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c41(cc: &str) {
    let sb = sandbox("c41");
    sb.write("t.c", "#include <stddef.h>\n#include \"h.h\"\nint v = V;\n");
    sb.write("h.h", "#define V 1\n");
    std::fs::create_dir_all(sb.path("o")).unwrap();
    let all = ["t.o", "t.d", "x.d", "o/x.o", "o/x.d", "o/y.o", "o/y.d"];
    for (args, first) in [
        ("-MD -c t.c", Expect::Miss),
        ("-MD -MF x.d -c t.c", Expect::Hit),
        ("-MD -c t.c -o o/x.o", Expect::Hit),
        ("-MD -MF x.d -c t.c -o o/y.o", Expect::Hit),
        ("-MMD -c t.c", Expect::Miss),
        ("-MMD -MF x.d -c t.c", Expect::Hit),
        ("-MMD -c t.c -o o/x.o", Expect::Hit),
        ("-MMD -MF x.d -c t.c -o o/y.o", Expect::Hit),
        ("-c t.c -MD", Expect::Miss),
        ("-c t.c -o o/y.o -MD", Expect::Hit),
        ("-c -MMD -MP t.c", Expect::Miss),
        ("-c -MMD -MP -MF x.d t.c -o o/x.o", Expect::Hit),
    ] {
        step(&sb, present(cc), args).outs(&all).expect(first);
        step(&sb, cc, args).outs(&all).expect(Expect::Hit);
    }
}

/// `-MMD` leaves out system headers, which still change the object: an
/// edit of one (in an `-isystem` dir, or marked `#pragma GCC
/// system_header`) must miss.
fn c41_mmd_system_headers(cc: &str) {
    let sb = sandbox("c41s");
    sb.write("t.c", "#include <s.h>\n#include \"p.h\"\nint v = S + P;\n");
    sb.write("sys/s.h", "#define S 1\n");
    sb.write("p.h", "#pragma GCC system_header\n#define P 10\n");
    let args = "-isystem sys -MMD -c t.c";
    step(&sb, cc, args)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Miss);
    step(&sb, cc, args)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Hit);
    sb.write("sys/s.h", "#define S 2\n");
    step(&sb, cc, args)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Miss);
    step(&sb, cc, args)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Hit);
    sb.write("p.h", "#pragma GCC system_header\n#define P 20\n");
    step(&sb, cc, args)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Miss);
    step(&sb, cc, args)
        .outs(&["t.o", "t.d"])
        .expect(Expect::Hit);
}

fn c42(cc: &str) {
    let sb = sandbox("c42");
    sb.write("t.c", "#include \"h.h\"\nint v = V;\n");
    sb.write("h.h", "#define V 1\n");
    std::fs::create_dir_all(sb.path("build1")).unwrap();
    std::fs::create_dir_all(sb.path("build2")).unwrap();
    step(&sb, cc, "-MD -c t.c -o build1/x.o")
        .outs(&["build1/x.o", "build1/x.d"])
        .expect(Expect::Miss);
    step(&sb, cc, "-MD -c t.c -o build2/y.o")
        .outs(&["build2/y.o", "build2/y.d"])
        .expect(Expect::Hit);
    assert!(contains(&sb.read("build2/y.d"), b"build2/y.o:"));
}

/// Depfile re-emission with make metacharacters in header paths.
fn c42_escaping(cc: &str) {
    let sb = sandbox("c42e");
    sb.write("t.c", "#include \"sp ace/h$1#x.h\"\nint v = V;\n");
    sb.write("sp ace/h$1#x.h", "#define V 1\n");
    std::fs::create_dir_all(sb.path("build1")).unwrap();
    std::fs::create_dir_all(sb.path("build 2")).unwrap();
    step(&sb, cc, "-MD -MP -c t.c -o build1/x.o")
        .outs(&["build1/x.o", "build1/x.d"])
        .expect(Expect::Miss);
    step(&sb, cc, "-MD -MP -c t.c")
        .argv(&["-MD", "-MP", "-c", "t.c", "-o", "build 2/y$.o"])
        .outs(&["build 2/y$.o", "build 2/y$.d"])
        .expect(Expect::Hit);
}

fn c43(cc: &str) {
    let sb = sandbox("c43");
    sb.write("foo.c", T_C);
    sb.write("bar.c", T_C);
    step(&sb, cc, "-MD -MF first.d -c foo.c")
        .outs(&["foo.o", "first.d"])
        .expect(Expect::Miss);
    step(&sb, cc, "-MD -MF second.d -c bar.c")
        .outs(&["bar.o", "second.d"])
        .expect(Expect::Miss);
    let d = sb.read("second.d");
    assert!(contains(&d, b"bar.o") && contains(&d, b"bar.c"));
}

fn c44(cc: &str) {
    let sb = sandbox("c44");
    sb.write("t.c", "#include \"h.h\"\nint v = V;\n");
    sb.write("h.h", "#define V 1\n");
    for args in [
        "-Wp,-MD,x.d -c t.c",
        "-Wp,-MMD,x.d -c t.c",
        "-Wp,-MD,y.d -c t.c -o o.o",
    ] {
        let first = if args.contains("y.d") {
            Expect::Hit
        } else {
            Expect::Miss
        };
        step(&sb, cc, args)
            .outs(&["t.o", "o.o", "x.d", "y.d"])
            .expect(first);
        step(&sb, cc, args)
            .outs(&["t.o", "o.o", "x.d", "y.d"])
            .expect(Expect::Hit);
    }
}

fn c45(cc: &str) {
    let sb = sandbox("c45");
    sb.write("t.c", "#include \"h.h\"\nint v = V;\n");
    sb.write("h.h", "#define V 1\n");
    step(&sb, cc, "-MD -c t.c")
        .outs(&["t.o", "t.d"])
        .expect(Expect::Miss);
    for targets in [
        &["-MT", "foo"][..],
        &["-MQ", "$foo"],
        &["-MT", "a", "-MT", "b c"],
        &["-MQ", "a b", "-MQ", "$c", "-MT", "d"],
        &["-MT", "x", "-MQ", "y"],
    ] {
        let mut argv = vec!["-MD", "-c", "t.c"];
        argv.extend_from_slice(targets);
        step(&sb, cc, "")
            .argv(&argv)
            .outs(&["t.o", "t.d"])
            .expect(Expect::Hit);
    }
}

fn c46(cc: &str) {
    let sb = sandbox("c46");
    sb.write("t.c", T_C);
    step(&sb, cc, "-MD -MF /dev/null -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-MD -MF /dev/null -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
}

fn c47(cc: &str) {
    let sb = sandbox("c47");
    sb.write("t.c", "int f(void) { int unused; return 0; }\n");
    step(&sb, cc, "-Wall -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    let ran = step(&sb, cc, "-Wall -c t.c").out("t.o").expect(Expect::Hit);
    assert!(
        contains(&ran.zc.stderr, b"unused"),
        "the warning is replayed"
    );
}

fn c48(cc: &str) {
    let sb = sandbox("c48");
    sb.write("t.c", T_C);
    let real = conformance::which(cc).unwrap();
    let fake = script(
        &sb,
        &format!("bin/{cc}"),
        &format!(
            "#!/bin/sh\necho to-stdout\necho to-stderr >&2\nexec {} \"$@\"\n",
            real.display()
        ),
    );
    step(&sb, &fake, "-c t.c").out("t.o").expect(Expect::Miss);
    let ran = step(&sb, &fake, "-c t.c").out("t.o").expect(Expect::Hit);
    assert_eq!(
        (&ran.zc.stdout[..], &ran.zc.stderr[..]),
        (&b"to-stdout\n"[..], &b"to-stderr\n"[..])
    );
}

fn c49(cc: &str) {
    let sb = sandbox("c49");
    sb.write("t.c", "#warning hello from the source\nint x;\n");
    let ran = step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    assert!(contains(&ran.zc.stderr, b"hello from the source"));
    let ran = step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Hit);
    assert!(contains(&ran.zc.stderr, b"hello from the source"));
}

fn c50(cc: &str) {
    // Every order of the four (first, second) TTY combinations; each run
    // must match bare on the same kind of stderr.
    for (first, second) in [(false, true), (true, false), (true, true), (false, false)] {
        let sb = sandbox("c50");
        sb.write("t.c", "int f(void) { int unused; return 0; }\n");
        let args = "-Wall -c t.c";
        let ran = step(&sb, cc, args)
            .tty(first)
            .out("t.o")
            .expect(Expect::Miss);
        assert_eq!(
            contains(&ran.zc.stderr, b"\x1b["),
            first,
            "colour exactly on a TTY"
        );
        let e = if first == second {
            Expect::Hit
        } else {
            Expect::Miss
        };
        let ran = step(&sb, cc, args).tty(second).out("t.o").expect(e);
        assert_eq!(
            contains(&ran.zc.stderr, b"\x1b["),
            second,
            "colour exactly on a TTY"
        );
        step(&sb, cc, args)
            .tty(first)
            .out("t.o")
            .expect(Expect::Hit);
        step(&sb, cc, args)
            .tty(second)
            .out("t.o")
            .expect(Expect::Hit);
    }
}

/// Colour and recorded command lines or debug info: the object must not
/// record a colour flag we added.
fn c50_recorded(cc: &str) {
    let sb = sandbox("c50r");
    sb.write("t.c", "int f(void) { int unused; return 0; }\n");
    for args in ["-g -Wall -c t.c", "-frecord-gcc-switches -Wall -c t.c"] {
        for tty in [true, false, true] {
            step(&sb, cc, args).tty(tty).out("t.o").expect(Expect::Any);
        }
    }
}

/// Explicit colour flags and `TERM=dumb` on a TTY: exactly bare's colour.
fn c50_explicit(cc: &str) {
    let sb = sandbox("c50x");
    sb.write("t.c", "int f(void) { int unused; return 0; }\n");
    // gcc: never and auto; clang: never and always.
    let (never, other) = if cc == "gcc" {
        ("-fdiagnostics-color=never", "-fdiagnostics-color=auto")
    } else {
        ("-fno-color-diagnostics", "-fcolor-diagnostics")
    };
    for flag in [never, other] {
        for tty in [true, false, true] {
            step(&sb, cc, "-Wall -c t.c")
                .arg(flag)
                .tty(tty)
                .out("t.o")
                .expect(Expect::Any);
        }
    }
    for tty in [true, false, true] {
        step(&sb, cc, "-Wall -c t.c")
            .env("TERM", "dumb")
            .tty(tty)
            .out("t.o")
            .expect(Expect::Any);
    }
    step(&sb, cc, "-Wall -c t.c")
        .env("TERM", "dumb")
        .tty(true)
        .out("t.o")
        .expect(Expect::Hit);
}

fn c51() {
    let sb = sandbox("c51");
    sb.write("t.c", T_C);
    step(&sb, "gcc", "-fcolor-diagnostics -c t.c")
        .out("t.o")
        .expect(Expect::Pt);
    step(&sb, "gcc", "-fcolor-diagnostics -c t.c")
        .out("t.o")
        .expect(Expect::Pt);
    assert_eq!(counts(&sb).stored, 0);
}

fn c52() {
    let sb = sandbox("c52");
    sb.write("t.c", "int f(void) { int unused; return 0; }\n");
    let args = "-Wall --serialize-diagnostics t.dia -c t.c";
    step(&sb, "clang", args)
        .outs(&["t.o", "t.dia"])
        .expect(Expect::Miss);
    step(&sb, "clang", args)
        .outs(&["t.o", "t.dia"])
        .expect(Expect::Hit);
}

fn c53(cc: &str) {
    let sb = sandbox("c53");
    sb.write("t.c", "int f(void) { return nope; }\n");
    let args = if cc == "clang" {
        "--serialize-diagnostics t.dia -c t.c"
    } else {
        "-c t.c"
    };
    step(&sb, cc, args)
        .outs(&["t.o", "t.dia"])
        .expect(Expect::NoStore);
    step(&sb, cc, args)
        .outs(&["t.o", "t.dia"])
        .expect(Expect::NoStore);
}

fn c54() {
    let sb = sandbox("c54");
    sb.write("t.c", T_C);
    let none = script(&sb, "none/gcc", "#!/bin/sh\nexit 0\n");
    let empty = script(&sb, "empty/gcc", "#!/bin/sh\n: > t.o\n");
    for fake in [none, empty] {
        step(&sb, &fake, "-c t.c")
            .out("t.o")
            .expect(Expect::NoStore);
        step(&sb, &fake, "-c t.c")
            .out("t.o")
            .expect(Expect::NoStore);
    }
}

fn c55(cc: &str) {
    let sb = sandbox("c55");
    sb.write("t.c", "int f(void) { int unused; return 0; }\n");
    sb.write("t.o", "not an object\n");
    let before = std::fs::metadata(sb.path("t.o"))
        .unwrap()
        .modified()
        .unwrap();
    step(&sb, cc, "-Wall -fsyntax-only t.c").expect(Expect::Miss);
    step(&sb, cc, "-Wall -fsyntax-only t.c").expect(Expect::Hit);
    // With -MD the classifier passes it through for now: bytes only.
    step(&sb, cc, "-Wall -fsyntax-only -MD t.c")
        .outs(&["t.d", "a.d", "-.d"])
        .expect(Expect::Any);
    step(&sb, cc, "-Wall -fsyntax-only -MD t.c")
        .outs(&["t.d", "a.d", "-.d"])
        .expect(Expect::Any);
    assert_eq!(sb.read("t.o"), b"not an object\n");
    assert_eq!(
        std::fs::metadata(sb.path("t.o"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
}

fn c56(cc: &str) {
    let sb = sandbox("c56");
    sb.write("t.c", T_C);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.c -o /dev/null").expect(Expect::Hit);
    std::fs::create_dir_all(sb.path("out")).unwrap();
    step(&sb, cc, "-c t.c -o out/foo.o")
        .out("out/foo.o")
        .expect(Expect::Hit);
    std::fs::remove_dir_all(sb.path("out")).unwrap();
    step(&sb, cc, "-c t.c -o out/foo.o")
        .out("out/foo.o")
        .expect(Expect::NotHit);
    assert!(
        !sb.path("out").exists(),
        "no directory is created for a failing compile"
    );
    std::fs::create_dir_all(sb.path("adir")).unwrap();
    step(&sb, cc, "-c t.c -o adir").expect(Expect::Pt);
}

fn c57(cc: &str) {
    let sb = sandbox("c57");
    sb.write("t.c", MAIN_C);
    step(&sb, cc, "t.c -o t").out("t").expect(Expect::Pt);
    ok(&sb.bare(cc, ["-c", "t.c"]));
    step(&sb, cc, "t.o -o t").out("t").expect(Expect::Pt);
    step(&sb, cc, "-E t.c").expect(Expect::Pt);
    step(&sb, cc, "-M t.c").expect(Expect::Pt);
    step(&sb, cc, "-c").expect(Expect::Pt);
    step(&sb, cc, "-S t.c -o -").expect(Expect::Pt);
    step(&sb, cc, "-c -x c -")
        .outs(&["-.o", "a.out"])
        .expect(Expect::Pt);
    step(&sb, cc, "-c t.c -I").out("t.o").expect(Expect::Pt);
    step(&sb, cc, "-c t.c")
        .env("DEPENDENCIES_OUTPUT", "deps.d")
        .outs(&["t.o", "deps.d"])
        .expect(Expect::Pt);
}

/// cache-keys.md §5: flags and inputs we pass through.
fn c57_unsupported(cc: &str) {
    let sb = sandbox("c57u");
    sb.write("t.c", T_C);
    sb.write("data.bin", "0123456789");
    sb.write("inc.c", "__asm__(\".incbin \\\"data.bin\\\"\");\n");
    step(&sb, cc, "-save-temps -c t.c")
        .outs(&["t.o", "t.i", "t.s"])
        .expect(Expect::Pt);
    step(&sb, cc, "-Xpreprocessor -DX=1 -c t.c")
        .out("t.o")
        .expect(Expect::Pt);
    // `-Wp,-P` is cached now (hits.rs); other `-Wp,` options still pass.
    step(&sb, cc, "-Wp,-C -c t.c").out("t.o").expect(Expect::Pt);
    step(&sb, cc, "-c t.c")
        .env("SUNPRO_DEPENDENCIES", "deps.d")
        .outs(&["t.o", "deps.d"])
        .expect(Expect::Pt);
    step(&sb, cc, "-c inc.c").out("inc.o").expect(Expect::Pt);
    if cc == "clang" {
        // The trace holds timings: not compared.
        step(&sb, cc, "-ftime-trace -c t.c")
            .out("t.o")
            .expect(Expect::Pt);
        step(&sb, cc, "-fmodules -c t.c")
            .out("t.o")
            .expect(Expect::Pt);
    }
    // `.incbin` in a header: compiled, never stored, so an edit of the
    // data cannot be missed.
    sb.write("h.h", "__asm__(\".incbin \\\"data.bin\\\"\");\n");
    sb.write("u.c", "#include \"h.h\"\n");
    step(&sb, cc, "-c u.c").out("u.o").expect(Expect::NoStore);
    sb.write("data.bin", "9876543210");
    step(&sb, cc, "-c u.c").out("u.o").expect(Expect::NoStore);
}

fn c58(cc: &str) {
    let sb = sandbox("c58");
    sb.write("t.c", T_C);
    step(&sb, cc, "-c t.c")
        .touch_before_zc("t.c")
        .out("t.o")
        .expect(Expect::NoStore);
    sb.write("u.c", "#include \"h.h\"\nint v = V;\n");
    sb.write("h.h", "#define V 1\n");
    step(&sb, cc, "-c u.c")
        .touch_before_zc("h.h")
        .out("u.o")
        .expect(Expect::NoStore);
}

/// A header changed while the compiler ran: the object was built from the
/// old bytes, so nothing may be stored under the new ones.
fn c58_changed_during_compile(cc: &str) {
    let sb = sandbox("c58d");
    sb.write("t.c", "#include \"h.h\"\nint v = V;\n");
    let real = conformance::which(cc).unwrap();
    let fake = script(
        &sb,
        &format!("bin/{cc}"),
        &format!(
            "#!/bin/sh\n{} \"$@\"\nrc=$?\necho '#define V 2' > h.h\nexit $rc\n",
            real.display()
        ),
    );
    sb.write("h.h", "#define V 1\n");
    step(&sb, &fake, "-c t.c")
        .rewrite_before_zc("h.h", "#define V 1\n")
        .out("t.o")
        .expect(Expect::NoStore);
    // h.h now says 2 and is old enough: a wrong entry would be served here.
    let v2 = "#define V 2\n";
    step(&sb, &fake, "-c t.c")
        .rewrite_before_zc("h.h", v2)
        .out("t.o")
        .expect(Expect::NoStore);
}

/// `__TIMESTAMP__` is the file's mtime: touching the file misses.
fn c35_timestamp(cc: &str) {
    let sb = sandbox("c35t");
    sb.write("t.c", "const char *ts = __TIMESTAMP__;\n");
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Hit);
    let f = std::fs::File::options()
        .write(true)
        .open(sb.path("t.c"))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "-c t.c").out("t.o").expect(Expect::Hit);
}

fn c59_include(cc: &str) {
    let sb = sandbox("c59");
    sb.write("t.c", "int v = V;\n");
    sb.write("pch.h", "#define V 1\n");
    step(&sb, cc, "-include pch.h -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-include pch.h -c t.c")
        .out("t.o")
        .expect(Expect::Hit);
    sb.write("pch.h", "#define V 2\n");
    step(&sb, cc, "-include pch.h -c t.c")
        .out("t.o")
        .expect(Expect::Miss);
}

fn c59_pch(cc: &str) {
    let sb = sandbox("c59p");
    sb.write("t.c", "int v = V;\n");
    let (pch, use_args) = if cc == "gcc" {
        ("pch.h.gch", "-include pch.h -c t.c")
    } else {
        ("pch.h.pch", "-include-pch pch.h.pch -c t.c")
    };
    for v in [1, 2] {
        sb.write("pch.h", format!("#define V {v}\n"));
        ok(&sb.bare(cc, ["-x", "c-header", "pch.h", "-o", pch]));
        backdate(&sb.path(pch));
        // Correct outputs whatever the outcome; a changed header never hits,
        // and a stored result is served on the repeat.
        let before = counts(&sb).stored;
        step(&sb, cc, use_args).out("t.o").expect(Expect::NotHit);
        let stored = counts(&sb).stored > before;
        step(&sb, cc, use_args).out("t.o").expect(if stored {
            Expect::Hit
        } else {
            Expect::NotHit
        });
    }
}

fn c60(cc: &str) {
    // Several sources in one call pass through (issue 10 item 5: the
    // driver's own diagnostics are printed once per call, not per source).
    let sb = sandbox("c60");
    sb.write("a.c", "int a(void) { int ua; return 0; }\n");
    sb.write("b.c", "int b(void) { int ub; return 0; }\n");
    step(&sb, cc, "-Wall -c a.c")
        .out("a.o")
        .expect(Expect::Miss);
    step(&sb, cc, "-Wall -c a.c b.c")
        .outs(&["a.o", "b.o"])
        .expect(Expect::Pt);
    // A failing unit in the middle: the exit code and streams are bare's.
    sb.write("bad.c", "int bad(void) { return nope; }\n");
    sb.write("c.c", "int c(void) { int uc; return 0; }\n");
    step(&sb, cc, "-Wall -c a.c bad.c c.c")
        .outs(&["a.o", "bad.o", "c.o"])
        .expect(Expect::Pt);
    step(&sb, cc, "-MD -c a.c c.c")
        .outs(&["a.o", "a.d", "c.o", "c.d"])
        .expect(Expect::Pt);
    // One -o for several objects is bare's error.
    step(&sb, cc, "-c a.c c.c -o x.o")
        .out("x.o")
        .expect(Expect::Pt);
}

fn c61(cc: &str) {
    let sb = sandbox("c61");
    sb.write("t.c", "int v = V;\n");
    sb.write("args.rsp", "-c t.c -DV=1\n");
    step(&sb, cc, "@args.rsp").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "@args.rsp").out("t.o").expect(Expect::Hit);
    sb.write("args.rsp", "-c t.c -DV=2\n");
    step(&sb, cc, "@args.rsp").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "@args.rsp").out("t.o").expect(Expect::Hit);
    // Nested: an edit two files deep still misses.
    sb.write("outer.rsp", "-c \"t.c\" @inner.rsp\n");
    sb.write("inner.rsp", "'-DV=3'\n");
    step(&sb, cc, "@outer.rsp").out("t.o").expect(Expect::Miss);
    step(&sb, cc, "@outer.rsp").out("t.o").expect(Expect::Hit);
    sb.write("inner.rsp", "'-DV=4'\n");
    step(&sb, cc, "@outer.rsp").out("t.o").expect(Expect::Miss);
}

cases! {
    c01_base_case_gcc => c1("gcc");
    c01_base_case_clang => c1("clang");
    c01_base_case_gxx => c1("g++");
    c01_base_case_clangxx => c1("clang++");
    c01_base_case_emcc => c1("emcc");
    c01_umask_gcc => c1_umask("gcc");
    c01_umask_clang => c1_umask("clang");
    c02_output_option_gcc => c2("gcc");
    c02_output_option_clang => c2("clang");
    c02_output_option_emcc => c2("emcc");
    c03_output_option_without_space => c3();
    c04_nested_zccache => c4();
    c05_debug_option_gcc => c5("gcc");
    c05_debug_option_clang => c5("clang");
    c06_debug_hashes_cwd_gcc => c6("gcc");
    c06_debug_hashes_cwd_clang => c6("clang");
    c07_no_debug_cwd_not_hashed_gcc => c7("gcc");
    c07_no_debug_cwd_not_hashed_clang => c7("clang");
    c08_debug_off_and_gz_gcc => c8("gcc");
    c08_debug_off_and_gz_clang => c8("clang");
    c09_debug_prefix_map_gcc => c9_prefix_map("gcc");
    c09_debug_prefix_map_clang => c9_prefix_map("clang");
    c09_debug_compilation_dir_clang => c9_compilation_dir();
    c10_split_dwarf_gcc => c10("gcc");
    c10_split_dwarf_clang => c10("clang");
    c11_modified_nested_header_gcc => c11("gcc");
    c11_modified_nested_header_clang => c11("clang");
    c11_modified_nested_header_emcc => c11("emcc");
    c11_modified_nested_header_gxx => c11("g++");
    c12_removed_header => c12();
    c13_appearing_include_dir_gcc => c13("gcc");
    c13_appearing_include_dir_clang => c13("clang");
    c14_shadowing_header_in_existing_dir_gcc => c14("gcc");
    c14_shadowing_header_in_existing_dir_clang => c14("clang");
    c14_quote_chain_gcc => c14_quote_chain("gcc");
    c14_quote_chain_clang => c14_quote_chain("clang");
    c14_has_include_gcc => c14_has_include("gcc");
    c14_has_include_clang => c14_has_include("clang");
    c14_include_next_gcc => c14_include_next("gcc");
    c14_include_next_clang => c14_include_next("clang");
    c14_system_header_shadowed_gcc => c14_system_header_shadowed("gcc");
    c14_system_header_shadowed_clang => c14_system_header_shadowed("clang");
    c14_nested_includer_dir_gcc => c14_nested_includer_dir("gcc");
    c14_nested_includer_dir_clang => c14_nested_includer_dir("clang");
    c11_symlinked_headers_gcc => c11_symlinks("gcc");
    c11_symlinked_headers_clang => c11_symlinks("clang");
    c14_after_daemon_restart_gcc => c14_after_restart("gcc");
    c14_after_daemon_restart_clang => c14_after_restart("clang");
    c15_define_values_gcc => c15("gcc");
    c15_define_values_clang => c15("clang");
    c15_define_values_emcc => c15("emcc");
    c15_emcc_cflags_in_key => c15_emcc_cflags();
    c16_define_order_gcc => c16("gcc");
    c16_define_order_clang => c16("clang");
    c17_source_path_in_key => c17();
    c18_absolute_source_path => c18();
    c19_relative_includes_differ_by_cwd => c19();
    c20_cpath => c20();
    c21_lang => c21();
    c22_compiler_only_args_gcc => c22("gcc");
    c22_compiler_only_args_clang => c22("clang");
    c23_record_gcc_switches_gcc => c23("gcc");
    c23_record_gcc_switches_clang => c23("clang");
    c24_march_native_is_passthrough_gcc => c24("gcc");
    c24_march_native_is_passthrough_clang => c24("clang");
    c25_compiler_replaced => c25();
    c26_languages_and_names_gcc => c26("gcc");
    c26_languages_and_names_clang => c26("clang");
    c27_unknown_language_gcc => c27("gcc");
    c27_unknown_language_clang => c27("clang");
    c28_direct_i_ii_gcc => c28("gcc");
    c28_direct_i_ii_clang => c28("clang");
    c29_assembly_gcc => c29("gcc");
    c29_assembly_clang => c29("clang");
    c29_asm_with_cpp_gcc => c29_asm_with_cpp("gcc");
    c29_asm_with_cpp_clang => c29_asm_with_cpp("clang");
    c30_c_vs_c_header_gcc => c30("gcc");
    c30_c_vs_c_header_clang => c30("clang");
    c31_comment_in_string => c31();
    c32_warning_line_numbers_gcc => c32("gcc");
    c32_warning_line_numbers_clang => c32("clang");
    c33_time_macro_never_stored_gcc => c33("gcc");
    c33_time_macro_never_stored_clang => c33("clang");
    c34_date_macro_in_header_gcc => c34("gcc");
    c34_date_macro_in_header_clang => c34("clang");
    c35_source_date_epoch_gcc => c35("gcc");
    c35_source_date_epoch_clang => c35("clang");
    c36_profile_generate_and_use => c36();
    c36_profile_instr_generate_and_use_clang => c36_clang();
    c37_coverage_gcc => c37("gcc");
    c37_coverage_clang => c37("clang");
    c38_sanitize_ignorelist => c38();
    c40_input_charset => c40();
    c41_depfile_combinations_gcc => c41("gcc");
    c41_depfile_combinations_clang => c41("clang");
    c41_depfile_combinations_emcc => c41("emcc");
    c41_depfile_combinations_gxx => c41("g++");
    c41_depfile_combinations_clangxx => c41("clang++");
    c41_mmd_system_headers_gcc => c41_mmd_system_headers("gcc");
    c41_mmd_system_headers_clang => c41_mmd_system_headers("clang");
    c42_depfile_target_rewriting_gcc => c42("gcc");
    c42_depfile_target_rewriting_clang => c42("clang");
    c42_depfile_escaping_gcc => c42_escaping("gcc");
    c42_depfile_escaping_clang => c42_escaping("clang");
    c43_depfile_of_identical_source_gcc => c43("gcc");
    c43_depfile_of_identical_source_clang => c43("clang");
    c44_wp_md_gcc => c44("gcc");
    c44_wp_md_clang => c44("clang");
    c45_mt_mq_gcc => c45("gcc");
    c45_mt_mq_clang => c45("clang");
    c46_mf_dev_null_gcc => c46("gcc");
    c46_mf_dev_null_clang => c46("clang");
    c47_caching_stderr_gcc => c47("gcc");
    c47_caching_stderr_clang => c47("clang");
    c47_caching_stderr_emcc => c47("emcc");
    c48_stdout_and_stderr_gcc => c48("gcc");
    c48_stdout_and_stderr_clang => c48("clang");
    c49_hash_warning_gcc => c49("gcc");
    c49_hash_warning_clang => c49("clang");
    c50_colour_on_a_tty_gcc => c50("gcc");
    c50_colour_on_a_tty_clang => c50("clang");
    c50_colour_and_recorded_switches_gcc => c50_recorded("gcc");
    c50_colour_and_recorded_switches_clang => c50_recorded("clang");
    c50_explicit_colour_flags_gcc => c50_explicit("gcc");
    c50_explicit_colour_flags_clang => c50_explicit("clang");
    c51_gcc_given_clang_colour_flag => c51();
    c52_serialize_diagnostics => c52();
    c53_compile_error_gcc => c53("gcc");
    c53_compile_error_clang => c53("clang");
    c54_no_or_empty_object => c54();
    c55_syntax_only_gcc => c55("gcc");
    c55_syntax_only_clang => c55("clang");
    c56_odd_outputs_gcc => c56("gcc");
    c56_odd_outputs_clang => c56("clang");
    c57_passthrough_calls_gcc => c57("gcc");
    c57_passthrough_calls_clang => c57("clang");
    c57_unsupported_flags_gcc => c57_unsupported("gcc");
    c57_unsupported_flags_clang => c57_unsupported("clang");
    c58_too_new_inputs_gcc => c58("gcc");
    c58_too_new_inputs_clang => c58("clang");
    c58_changed_during_compile_gcc => c58_changed_during_compile("gcc");
    c58_changed_during_compile_clang => c58_changed_during_compile("clang");
    c35_timestamp_gcc => c35_timestamp("gcc");
    c35_timestamp_clang => c35_timestamp("clang");
    c59_include_gcc => c59_include("gcc");
    c59_include_clang => c59_include("clang");
    c59_precompiled_header_gcc => c59_pch("gcc");
    c59_precompiled_header_clang => c59_pch("clang");
    c60_multiple_sources_gcc => c60("gcc");
    c60_multiple_sources_clang => c60("clang");
    c61_response_file_gcc => c61("gcc");
    c61_response_file_clang => c61("clang");
}
