//! Golden keys: every manifest key and result key the daemon computes for
//! about thirty representative requests (gcc, clang, g++, clang++, emcc,
//! em++, rustc, clippy-driver; path remap on and off; two worktrees),
//! checked against `conformance/vectors/keys/golden.txt` so a refactor
//! cannot move a key byte and orphan existing caches. `UPDATE_VECTORS=1`
//! rewrites the file, which must never be done blindly: a changed key is a
//! cache format change and needs its domain bumped on purpose.
//!
//! Everything a key reads is fixed here: the files live under
//! [`BASE`] (recreated by each run, under a lock so two runs never share
//! it), the environment is spelled out, the start time is a constant, and
//! every compiler, sub-program, sysroot library and config file is a file
//! whose bytes this test writes. The compilers are never run: the test
//! answers each Probe round as the real driver would (`-print-prog-name=`,
//! `-E -v`, `--version`, `-vV`, `--print sysroot`) and plays the compiler
//! of each Miss by writing its outputs and depfile, then Stores. The keys
//! are read from the store's on-disk layout (`v1/manifests/…/<key>`,
//! `v1/entries/…/<key>`), not from engine internals, so the test runs
//! unchanged across a rewrite of the engine. It does not check outputs,
//! hits or reasons: other tests own those. Its fixture also serves one
//! engine test: the one table of pending compiles, for both languages.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use frame::v1;

use crate::cc::pipeline::second_chance::is_seen_index;
use crate::engine::{Engine, PeerView};
use crate::stats::Stats;
use crate::store::Store;

/// The fixed directory every path in a key lives under.
const BASE: &str = "/tmp/zccache-golden-keys";
const LOCK: &str = "/tmp/zccache-golden-keys.lock";
const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../conformance/vectors/keys/golden.txt"
);
/// 2100-01-01T00:00:00Z: later than any file the test writes, so no input
/// is "too new to trust", and a fixed day for `__DATE__`.
const START_UNIX_SECS: u64 = 4_102_444_800;
/// The mtime given to the `__TIMESTAMP__` source (2020-01-01T00:00:00Z).
const TIMESTAMP_MTIME_SECS: u64 = 1_577_836_800;
const RUST_HOST: &str = "x86_64-unknown-linux-gnu";

/// One request: a compiler call and what its compiler writes on a miss.
/// In every string `{root}` stands for the worktree's root and `{base}`
/// for [`BASE`].
struct Case {
    name: &'static str,
    /// Which worktree: `a` or `b`.
    wt: &'static str,
    /// The compiler file, under [`BASE`].
    compiler: &'static str,
    argv0: &'static str,
    /// Relative to the worktree root.
    cwd: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    /// Outputs the compiler writes (path relative to cwd, bytes).
    outputs: Vec<(&'static str, &'static str)>,
    /// The depfile text, written to every `-MF` path of the Miss and to
    /// `depfile_at` when set.
    depfile: &'static str,
    /// A depfile path the Miss does not spell: rustc's dep-info in the
    /// out-dir, gcc's `-MMD` default beside the object.
    depfile_at: Option<&'static str>,
    stderr: &'static str,
    /// Path remap is expected to apply (checked on the Miss).
    remap: bool,
}

impl Case {
    fn new(name: &'static str, compiler: &'static str, args: &[&'static str]) -> Case {
        Case {
            name,
            wt: "a",
            compiler,
            argv0: Path::new(compiler)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap(),
            cwd: "build",
            args: args.to_vec(),
            env: Vec::new(),
            outputs: Vec::new(),
            depfile: "",
            depfile_at: None,
            stderr: "",
            remap: false,
        }
    }

    fn wt(mut self, wt: &'static str) -> Case {
        self.wt = wt;
        self
    }

    fn cwd(mut self, cwd: &'static str) -> Case {
        self.cwd = cwd;
        self
    }

    fn env(mut self, name: &'static str, value: &'static str) -> Case {
        self.env.push((name, value));
        self
    }

    fn remap(self) -> Case {
        let mut c = self.env("ZCCACHE_PATH_REMAP", "auto");
        c.remap = true;
        c
    }

    fn output(mut self, path: &'static str, bytes: &'static str) -> Case {
        self.outputs.push((path, bytes));
        self
    }

    fn depfile(mut self, text: &'static str) -> Case {
        self.depfile = text;
        self
    }

    fn depfile_at(mut self, path: &'static str) -> Case {
        self.depfile_at = Some(path);
        self
    }

    fn stderr(mut self, text: &'static str) -> Case {
        self.stderr = text;
        self
    }

    fn root(&self) -> String {
        format!("{BASE}/{}", self.wt)
    }

    fn expand(&self, s: &str) -> String {
        s.replace("{root}", &self.root()).replace("{base}", BASE)
    }

    fn cwd_path(&self) -> PathBuf {
        Path::new(&self.root()).join(self.cwd)
    }
}

/// The C and C++ depfile of `x.c` / `y.cpp`: the source, a header under
/// the root and one in the driver's built-in chain.
const X_DEPS: &str = "x.o: {root}/src/x.c {root}/inc/x.h {base}/sys/include/sys.h\n";
const Y_DEPS: &str = "y.o: {root}/src/y.cpp {root}/inc/x.h {base}/sys/include/sys.h\n";
const OBJ: &str = "\x7fELF fake object without paths";
const WARN: &str = "{root}/src/x.c:3: warning: unused\n";

fn c_cases() -> Vec<Case> {
    let gcc = |name, args: &[&'static str]| {
        Case::new(name, "bin/gcc", args)
            .output("x.o", OBJ)
            .depfile(X_DEPS)
            .stderr(WARN)
    };
    let x = ["-c", "{root}/src/x.c", "-I{root}/inc", "-o", "x.o"];
    let with = |extra: &[&'static str]| [&x[..], extra].concat();
    vec![
        gcc("gcc -c", &x),
        gcc(
            "gcc -c, relative paths",
            &["-c", "../src/x.c", "-I../inc", "-o", "x.o"],
        ),
        gcc(
            "gcc -c, from the root",
            &["-c", "src/x.c", "-Iinc", "-o", "build/x.o"],
        )
        .cwd(".")
        .depfile("build/x.o: src/x.c inc/x.h {base}/sys/include/sys.h\n"),
        Case::new(
            "gcc -S",
            "bin/gcc",
            &["-S", "{root}/src/x.c", "-I{root}/inc", "-o", "x.s"],
        )
        .output("x.s", "\t.file \"x.c\"\n")
        .depfile("x.s: {root}/src/x.c {root}/inc/x.h {base}/sys/include/sys.h\n"),
        Case::new(
            "gcc -fsyntax-only",
            "bin/gcc",
            &["-fsyntax-only", "{root}/src/x.c", "-I{root}/inc"],
        )
        .depfile(X_DEPS)
        .stderr(WARN),
        gcc("gcc -c -MD -MF", &with(&["-MD", "-MF", "x.d"])),
        gcc("gcc -c -MMD -MP", &with(&["-MMD", "-MP"])).depfile_at("x.d"),
        gcc("gcc -c -g", &with(&["-g"])),
        gcc("gcc -c -O2 -g -Wall", &with(&["-O2", "-g", "-Wall"])),
        gcc(
            "gcc -c -D",
            &with(&["-DNAME=1", "-DPATH=\"{root}/cfg\"", "-UOLD"]),
        ),
        gcc("gcc -c -include", &with(&["-include", "{root}/inc/x.h"])),
        gcc("gcc -c, CPATH", &["-c", "{root}/src/x.c", "-o", "x.o"]).env("CPATH", "{root}/inc"),
        Case::new(
            "gcc -c, __DATE__",
            "bin/gcc",
            &["-c", "{root}/src/date.c", "-o", "date.o"],
        )
        .env("TZ", "UTC0")
        .env("TZDIR", "{base}/tz")
        .output("date.o", OBJ)
        .depfile("date.o: {root}/src/date.c\n"),
        Case::new(
            "gcc -c, __DATE__ under SOURCE_DATE_EPOCH",
            "bin/gcc",
            &["-c", "{root}/src/date.c", "-o", "date.o"],
        )
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output("date.o", OBJ)
        .depfile("date.o: {root}/src/date.c\n"),
        Case::new(
            "gcc -c, __TIMESTAMP__",
            "bin/gcc",
            &["-c", "{root}/src/stamp.c", "-o", "stamp.o"],
        )
        .env("TZ", "UTC0")
        .env("TZDIR", "{base}/tz")
        .output("stamp.o", OBJ)
        .depfile("stamp.o: {root}/src/stamp.c\n"),
        Case::new("clang -c", "bin/clang", &x)
            .output("x.o", OBJ)
            .depfile(X_DEPS),
        Case::new(
            "clang -S -g",
            "bin/clang",
            &["-S", "-g", "{root}/src/x.c", "-I{root}/inc", "-o", "x.s"],
        )
        .output("x.s", "\t.file \"x.c\"\n")
        .depfile("x.s: {root}/src/x.c {root}/inc/x.h {base}/sys/include/sys.h\n"),
        Case::new(
            "clang -c -fno-integrated-as",
            "bin/clang",
            &with(&["-fno-integrated-as"]),
        )
        .output("x.o", OBJ)
        .depfile(X_DEPS),
        gcc("gcc -c, worktree b", &x).wt("b"),
    ]
}

fn cxx_cases() -> Vec<Case> {
    let y = ["-c", "{root}/src/y.cpp", "-I{root}/inc", "-o", "y.o"];
    let cxx = |name, compiler, args: &[&'static str]| {
        Case::new(name, compiler, args)
            .output("y.o", OBJ)
            .depfile(Y_DEPS)
    };
    vec![
        cxx(
            "g++ -c -std=c++17",
            "bin/g++",
            &[&y[..], &["-std=c++17"]].concat(),
        ),
        cxx(
            "clang++ -c -O2",
            "bin/clang++",
            &[&y[..], &["-O2"]].concat(),
        ),
        cxx(
            "gcc -x c++ -c",
            "bin/gcc",
            &[&["-x", "c++"], &y[..]].concat(),
        ),
    ]
}

fn emcc_cases() -> Vec<Case> {
    vec![
        Case::new(
            "emcc -c",
            "emsdk/emcc",
            &["-c", "{root}/src/x.c", "-I{root}/inc", "-o", "x.o"],
        )
        .output("x.o", "\0asm fake wasm object")
        .depfile(X_DEPS),
        Case::new(
            "em++ -c -O2, EMCC_ env",
            "emsdk/em++",
            &["-c", "{root}/src/y.cpp", "-I{root}/inc", "-O2", "-o", "y.o"],
        )
        .env("EMCC_DEBUG", "0")
        .output("y.o", "\0asm fake wasm object")
        .depfile(Y_DEPS),
    ]
}

fn remap_cases() -> Vec<Case> {
    let args = [
        "-g",
        "-c",
        "{root}/src/x.c",
        "-I{root}/inc",
        "-o",
        "x.o",
        "-MD",
        "-MF",
        "x.d",
    ];
    let gcc = |name, wt| {
        Case::new(name, "bin/gcc", &args)
            .wt(wt)
            .remap()
            .output("x.o", OBJ)
            .depfile(X_DEPS)
            .stderr(WARN)
    };
    vec![
        gcc("remap gcc -g -c, worktree a", "a"),
        gcc("remap gcc -g -c, worktree b", "b"),
        gcc("remap gcc -g -c, explicit root, worktree a", "a")
            .env("ZCCACHE_WORKTREE_ROOT", "{root}"),
        gcc("remap gcc -g -c, explicit root, worktree b", "b")
            .env("ZCCACHE_WORKTREE_ROOT", "{root}"),
        Case::new(
            "remap gcc, an object holding the root, worktree a",
            "bin/gcc",
            &args,
        )
        .remap()
        .output("x.o", "OBJ naming {root}/src/x.c")
        .depfile(X_DEPS),
        Case::new(
            "remap clang++ -c, worktree a",
            "bin/clang++",
            &["-c", "{root}/src/y.cpp", "-I{root}/inc", "-o", "y.o"],
        )
        .remap()
        .output("y.o", OBJ)
        .depfile(Y_DEPS),
        Case::new(
            "remap clang++ -c, worktree b",
            "bin/clang++",
            &["-c", "{root}/src/y.cpp", "-I{root}/inc", "-o", "y.o"],
        )
        .wt("b")
        .remap()
        .output("y.o", OBJ)
        .depfile(Y_DEPS),
    ]
}

/// What cargo passes for a path library (`cargo build`), run at the root.
const CARGO_LIB: &[&str] = &[
    "--crate-name",
    "foo",
    "--edition=2021",
    "crates/foo/src/lib.rs",
    "--error-format=json",
    "--json=diagnostic-rendered-ansi,artifacts,future-incompat",
    "--diagnostic-width=100",
    "--crate-type",
    "lib",
    "--emit=dep-info,metadata,link",
    "-C",
    "embed-bitcode=no",
    "-C",
    "debuginfo=2",
    "-C",
    "metadata=5a1c",
    "-C",
    "extra-filename=-5a1c",
    "--out-dir",
    "{root}/target/debug/deps",
    "-L",
    "dependency={root}/target/debug/deps",
    "--extern",
    "bar={root}/target/debug/deps/libbar-77e0.rmeta",
];
/// [`CARGO_LIB`] with another `--emit=`.
fn cargo_lib_emitting(emit: &'static str) -> Vec<&'static str> {
    let mut args = CARGO_LIB.to_vec();
    let at = args.iter().position(|a| a.starts_with("--emit=")).unwrap();
    args[at] = emit;
    args
}

const FOO_DEP_INFO: &str = "{root}/target/debug/deps/foo-5a1c.d: crates/foo/src/lib.rs crates/foo/src/m.rs\n\ncrates/foo/src/lib.rs:\ncrates/foo/src/m.rs:\n\n# env-dep:CARGO_PKG_NAME=foo\n# env-dep:FOO_MODE\n";

fn rust_cases() -> Vec<Case> {
    let cargo_env = |c: Case| {
        c.cwd(".")
            .env("CARGO", "{base}/rust/bin/cargo")
            .env("CARGO_MANIFEST_DIR", "{root}/crates/foo")
            .env("CARGO_PKG_NAME", "foo")
            .env("CARGO_PKG_VERSION", "0.1.0")
            .env("CARGO_MAKEFLAGS", "-j --jobserver-fds=3,4")
            .env("HOME", "{base}/home")
            .env("FOO_MODE", "fast")
    };
    let lib = |name, compiler, args: Vec<&'static str>| {
        cargo_env(Case::new(name, compiler, &args))
            .output("target/debug/deps/libfoo-5a1c.rlib", "!<arch>\nfake rlib\n")
            .output("target/debug/deps/libfoo-5a1c.rmeta", "rust\0fake rmeta")
            .depfile(FOO_DEP_INFO)
            .depfile_at("target/debug/deps/foo-5a1c.d")
            .stderr("{\"$message_type\":\"artifact\",\"artifact\":\"{root}/target/debug/deps/libfoo-5a1c.rmeta\",\"emit\":\"metadata\"}\n")
    };
    let check = |name| {
        let args = cargo_lib_emitting("--emit=dep-info,metadata");
        cargo_env(Case::new(name, "rust/bin/rustc", &args))
            .output("target/debug/deps/libfoo-5a1c.rmeta", "rust\0fake rmeta")
            .depfile(FOO_DEP_INFO)
            .depfile_at("target/debug/deps/foo-5a1c.d")
    };
    let clippy = |name| {
        let mut args = vec!["{base}/rust/bin/rustc"];
        args.extend(cargo_lib_emitting("--emit=dep-info,metadata"));
        cargo_env(Case::new(name, "rust/bin/clippy-driver", &args))
            .output("target/debug/deps/libfoo-5a1c.rmeta", "rust\0fake rmeta")
            .depfile(FOO_DEP_INFO)
            .depfile_at("target/debug/deps/foo-5a1c.d")
            .stderr("warning: clippy says hi\n")
    };
    let no_dep_info = cargo_lib_emitting("--emit=metadata,link");
    vec![
        lib(
            "rustc lib (rlib, rmeta)",
            "rust/bin/rustc",
            CARGO_LIB.to_vec(),
        ),
        lib(
            "rustc lib (rlib, rmeta), worktree b",
            "rust/bin/rustc",
            CARGO_LIB.to_vec(),
        )
        .wt("b"),
        lib(
            "rustc lib, env-dep set differently",
            "rust/bin/rustc",
            CARGO_LIB.to_vec(),
        )
        .env("FOO_MODE", "slow"),
        cargo_env(Case::new(
            "rustc lib, private dep-info",
            "rust/bin/rustc",
            &no_dep_info,
        ))
        .output("target/debug/deps/libfoo-5a1c.rlib", "!<arch>\nfake rlib\n")
        .output("target/debug/deps/libfoo-5a1c.rmeta", "rust\0fake rmeta")
        .depfile(FOO_DEP_INFO),
        check("rustc check (rmeta only)"),
        clippy("clippy-driver check"),
        lib(
            "remap rustc lib, worktree a",
            "rust/bin/rustc",
            CARGO_LIB.to_vec(),
        )
        .remap(),
        lib(
            "remap rustc lib, worktree b",
            "rust/bin/rustc",
            CARGO_LIB.to_vec(),
        )
        .wt("b")
        .remap(),
        clippy("remap clippy-driver check, worktree b")
            .wt("b")
            .remap(),
    ]
}

fn cases() -> Vec<Case> {
    let mut all = c_cases();
    all.extend(cxx_cases());
    all.extend(emcc_cases());
    all.extend(remap_cases());
    all.extend(rust_cases());
    all
}

fn write(path: &Path, bytes: &[u8], executable: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    if executable {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Lays out [`BASE`] afresh: two worktrees with identical sources, and
/// the fake toolchains. No compiler file starts with `#!` (a script
/// compiler is keyed by its interpreter, a machine file).
fn lay_out() {
    let base = Path::new(BASE);
    let _ = std::fs::remove_dir_all(base);
    for wt in ["a", "b"] {
        let w = base.join(wt);
        let src = |rel: &str, text: &str| write(&w.join(rel), text.as_bytes(), false);
        src(".git", "gitdir: /nonexistent/.git/worktrees/x\n");
        src(
            "src/x.c",
            "#include \"x.h\"\n#include <sys.h>\nint x = X + SYS;\n",
        );
        src(
            "src/y.cpp",
            "#include \"x.h\"\n#include <sys.h>\nint y() { return X + SYS; }\n",
        );
        src("src/date.c", "const char *d = __DATE__;\n");
        src("src/stamp.c", "const char *t = __TIMESTAMP__;\n");
        src("inc/x.h", "#define X 1\n");
        src(
            "crates/foo/src/lib.rs",
            "mod m;\npub fn foo() -> u32 { m::M }\n",
        );
        src("crates/foo/src/m.rs", "pub const M: u32 = 1;\n");
        src("target/debug/deps/libbar-77e0.rmeta", "rust\0bar rmeta");
        std::fs::create_dir_all(w.join("build")).unwrap();
        let stamp = std::fs::File::options()
            .write(true)
            .open(w.join("src/stamp.c"))
            .unwrap();
        stamp
            .set_modified(UNIX_EPOCH + Duration::from_secs(TIMESTAMP_MTIME_SECS))
            .unwrap();
    }
    let tool = |rel: &str, text: &str| write(&base.join(rel), text.as_bytes(), true);
    for name in ["gcc", "g++", "clang", "clang++", "as"] {
        tool(&format!("bin/{name}"), &format!("fake {name} 1\n"));
    }
    tool("libexec/cc1", "fake cc1 1\n");
    tool("libexec/cc1plus", "fake cc1plus 1\n");
    write(&base.join("bin/clang.cfg"), b"-Wno-unused\n", false);
    write(&base.join("sys/include/sys.h"), b"#define SYS 2\n", false);
    std::fs::create_dir_all(base.join("tz")).unwrap();
    tool("emsdk/emcc", "fake emcc launcher\n");
    tool("emsdk/em++", "fake em++ launcher\n");
    tool("emsdk/emcc.py", "# fake emcc.py\n");
    tool("emsdk/em++.py", "# fake em++.py\n");
    tool("emsdk/emscripten-version.txt", "\"3.1.6\"\n");
    write(
        &base.join("emsdk/.emscripten"),
        format!("LLVM_ROOT = '{BASE}/emsdk/llvm'\nBINARYEN_ROOT = '{BASE}/emsdk'\n").as_bytes(),
        false,
    );
    tool("emsdk/llvm/clang", "fake emscripten clang\n");
    tool("rust/bin/rustc", "fake rustc\n");
    tool("rust/bin/clippy-driver", "fake clippy-driver\n");
    tool("rust/lib/librustc_driver-fake.so", "fake rustc driver\n");
    tool(
        &format!("rust/lib/rustlib/{RUST_HOST}/lib/libstd-fake.rlib"),
        "fake std\n",
    );
}

/// What the fake driver prints for one probe run, as the real one would.
fn answer(compiler: &str, args: Vec<Vec<u8>>) -> v1::ProbeResult {
    let text = |s: String| s.into_bytes();
    let last = args.last().cloned().unwrap_or_default();
    let (mut stdout, mut stderr, mut exit_code) = (Vec::new(), Vec::new(), 0);
    let clang = compiler.contains("clang") && !compiler.contains("clippy");
    if let Some(program) = last.strip_prefix(b"-print-prog-name=") {
        // gcc names its own programs by path and `as` bare (found on PATH).
        stdout = match program {
            b"as" => b"as\n".to_vec(),
            p => text(format!("{BASE}/libexec/{}\n", String::from_utf8_lossy(p))),
        };
    } else if last == b"--version" {
        stdout = if clang {
            b"Debian clang version 16.0.6 (fake)\n".to_vec()
        } else {
            b"gcc (Debian 12.2.0-14) 12.2.0\n".to_vec()
        };
    } else if last == b"/dev/null" && args.iter().any(|a| a == b"-v") {
        stderr = text(format!(
            "ignoring nonexistent directory \"{BASE}/sys/missing\"\n\
             #include \"...\" search starts here:\n\
             #include <...> search starts here:\n \
             {BASE}/sys/include\n\
             End of search list.\n"
        ));
    } else if last == b"-vV" {
        stdout = text(format!(
            "rustc 1.95.0 (fake 2026-01-01)\nbinary: rustc\ncommit-hash: fake\n\
             commit-date: 2026-01-01\nhost: {RUST_HOST}\nrelease: 1.95.0\nLLVM version: 20.1.0\n"
        ));
    } else if last == b"sysroot" {
        stdout = text(format!("{BASE}/rust\n"));
    } else {
        exit_code = 1;
    }
    v1::ProbeResult {
        args,
        exit_code,
        stdout,
        stderr,
    }
}

/// The Miss a fresh Lookup of `case` gets (after its Probe round), when
/// it is one unit that may be stored.
fn storable_miss(engine: &Engine, case: &Case) -> Result<v1::Miss, String> {
    let cwd = case.cwd_path();
    let compiler = format!("{BASE}/{}", case.compiler);
    let mut env = vec![("PATH".to_owned(), format!("{BASE}/bin"))];
    env.extend(
        case.env
            .iter()
            .map(|(k, v)| (k.to_string(), case.expand(v))),
    );
    let mut lookup = v1::Lookup {
        compiler: compiler.clone().into_bytes(),
        argv0: case.argv0.as_bytes().to_vec(),
        args: case
            .args
            .iter()
            .map(|a| case.expand(a).into_bytes())
            .collect(),
        cwd: cwd.as_os_str().as_bytes().to_vec(),
        env: env
            .into_iter()
            .map(|(name, value)| v1::EnvVar {
                name: name.into_bytes(),
                value: value.into_bytes(),
            })
            .collect(),
        start_unix_ns: START_UNIX_SECS * 1_000_000_000,
        ..Default::default()
    };
    let peer = PeerView::Ours { cwd: cwd.clone() };
    let mut reply = engine.lookup(&lookup, &peer).0;
    if let Some(v1::lookup_reply::Outcome::Probe(probe)) = reply.outcome {
        lookup.probes = probe
            .runs
            .into_iter()
            .map(|run| answer(&compiler, run.args))
            .collect();
        reply = engine.lookup(&lookup, &peer).0;
    }
    match reply.outcome {
        Some(v1::lookup_reply::Outcome::Units(mut u)) if u.units.len() == 1 => {
            match u.units.remove(0).answer {
                Some(v1::unit_answer::Answer::Miss(m)) if m.token != 0 => Ok(m),
                other => Err(format!("not a storable miss: {other:?}")),
            }
        }
        other => Err(format!("not one unit: {other:?}")),
    }
}

/// The manifest key and result key a Lookup → Miss → Store round of
/// `case` leaves in a fresh store, as hex.
fn keys_of(case: &Case) -> Result<(String, String), String> {
    let cache = Path::new(BASE).join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    let store = Store::open(&cache, 1 << 30).map_err(|e| e.to_string())?;
    let engine = Engine::new(store, Stats::default(), Path::new(BASE).join("private"));
    let cwd = case.cwd_path();
    let miss = storable_miss(&engine, case)?;
    let remapped = miss
        .args
        .iter()
        .any(|a| a.starts_with(b"-ffile-prefix-map=") || a.starts_with(b"--remap-path-prefix"));
    if remapped != case.remap {
        return Err(format!(
            "path remap applied: {remapped}, expected {}",
            case.remap
        ));
    }
    play_compiler(case, &cwd, &miss);
    let stored = engine.store_result(&v1::Store {
        token: miss.token,
        stderr: case.expand(case.stderr).into_bytes(),
        ..Default::default()
    });
    if !stored.stored {
        return Err(format!("not stored: {}", stored.reason));
    }
    // The second chance's *seen* index is no compile's manifest.
    let manifest = only_key(&cache.join("v1/manifests"), &|hex| {
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        let key = bytes.and_then(|b| <[u8; 32]>::try_from(b).ok());
        key.and_then(|k| engine.core.local_manifest(&k))
            .is_some_and(|m| is_seen_index(&m))
    })?;
    let result = only_key(&cache.join("v1/entries"), &|_| false)?;
    Ok((manifest, result))
}

/// Writes what the compiler of `miss` would: the outputs, and the depfile
/// at every `-MF` the Miss names (ours or the caller's), at rustc's
/// `--emit=dep-info=` and where the caller asked for dep-info.
fn play_compiler(case: &Case, cwd: &Path, miss: &v1::Miss) {
    for (path, bytes) in &case.outputs {
        write(&cwd.join(path), case.expand(bytes).as_bytes(), false);
    }
    let depfile = case.expand(case.depfile);
    let mut targets: Vec<PathBuf> = case.depfile_at.iter().map(|p| cwd.join(p)).collect();
    for argv in [&miss.args, &miss.deps_args] {
        for (i, a) in argv.iter().enumerate() {
            if a == b"-MF" {
                if let Some(p) = argv.get(i + 1) {
                    targets.push(cwd.join(std::ffi::OsStr::from_bytes(p)));
                }
            } else if let Some(p) = a.strip_prefix(b"--emit=dep-info=") {
                targets.push(cwd.join(std::ffi::OsStr::from_bytes(p)));
            }
        }
    }
    for t in targets {
        write(&t, depfile.as_bytes(), false);
    }
}

/// The one key named under `dir` (`<dir>/<hex[0..2]>/<hex>`) but those
/// `skip` accepts.
fn only_key(dir: &Path, skip: &dyn Fn(&str) -> bool) -> Result<String, String> {
    let mut keys = Vec::new();
    for shard in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if !skip(&name) {
                keys.push(name);
            }
        }
    }
    match keys.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "{} keys under {}: {keys:?}",
            keys.len(),
            dir.display()
        )),
    }
}

fn render(cases: &[Case]) -> String {
    let mut out = String::from(
        "# Golden keys (daemon/src/golden_keys.rs): per request, the manifest key\n\
         # of its Lookup and the result key of its Store. A change here orphans\n\
         # every existing cache entry: bump the key domain on purpose, never\n\
         # regenerate blindly (UPDATE_VECTORS=1).\n",
    );
    for case in cases {
        let _ = writeln!(out, "\n[{}]", case.name);
        match keys_of(case) {
            Ok((manifest, result)) => {
                let _ = writeln!(out, "manifest {manifest}\nresult   {result}");
            }
            Err(e) => panic!("{}: {e}", case.name),
        }
    }
    out
}

/// The requests whose keys differ from the committed ones, readably.
fn diff(committed: &str, now: &str) -> String {
    let blocks = |text: &str| -> Vec<(String, String)> {
        text.split("\n[")
            .skip(1)
            .map(|b| {
                let (name, rest) = b.split_once("]\n").unwrap_or((b, ""));
                (name.to_owned(), rest.trim_end().to_owned())
            })
            .collect()
    };
    let (old, new) = (blocks(committed), blocks(now));
    let mut out = String::new();
    for (name, keys) in &new {
        match old.iter().find(|(n, _)| n == name) {
            Some((_, was)) if was == keys => {}
            Some((_, was)) => {
                let _ = writeln!(
                    out,
                    "[{name}]\n  committed:\n    {}\n  now:\n    {}",
                    was.replace('\n', "\n    "),
                    keys.replace('\n', "\n    ")
                );
            }
            None => {
                let _ = writeln!(out, "[{name}]: not in the committed vectors");
            }
        }
    }
    for (name, _) in &old {
        if !new.iter().any(|(n, _)| n == name) {
            let _ = writeln!(out, "[{name}]: committed but no longer computed");
        }
    }
    out
}

#[test]
fn keys_match_the_committed_vectors() {
    // One run at a time, across processes: every run rebuilds BASE.
    let lock_file = std::fs::File::create(LOCK).unwrap();
    let mut lock = fd_lock::RwLock::new(lock_file);
    let _held = lock.write().unwrap();
    lay_out();
    let cases = cases();
    assert!(cases.len() >= 30, "only {} requests", cases.len());
    let now = render(&cases);
    let _ = std::fs::remove_dir_all(BASE);
    if std::env::var_os("UPDATE_VECTORS").is_some_and(|v| v == "1") {
        write(Path::new(VECTORS), now.as_bytes(), false);
    }
    let committed = std::fs::read_to_string(VECTORS)
        .unwrap_or_else(|e| panic!("{VECTORS}: {e} (UPDATE_VECTORS=1 writes it)"));
    let changed = diff(&committed, &now);
    assert!(
        changed.is_empty() && committed == now,
        "keys differ from {VECTORS}: existing caches would be orphaned.\n{changed}"
    );
}

/// The engine keeps one table of pending compiles for both languages: a
/// release drops a C miss and a Rust miss under the released directory
/// (and the private depfile the C miss wrote), and their Stores then
/// answer "unknown or expired token"; a release elsewhere keeps both.
#[test]
fn one_pending_table_releases_misses_of_both_languages() {
    let lock_file = std::fs::File::create(LOCK).unwrap();
    let mut lock = fd_lock::RwLock::new(lock_file);
    let _held = lock.write().unwrap();
    lay_out();
    let cache = Path::new(BASE).join("cache");
    let store = Store::open(&cache, 1 << 30).unwrap();
    let engine = Engine::new(store, Stats::default(), Path::new(BASE).join("private"));
    let c = c_cases().remove(0);
    let rust = rust_cases().remove(0);
    let c_miss = storable_miss(&engine, &c).unwrap();
    let rust_miss = storable_miss(&engine, &rust).unwrap();
    play_compiler(&c, &c.cwd_path(), &c_miss);
    play_compiler(&rust, &rust.cwd_path(), &rust_miss);
    let private: Vec<PathBuf> = c_miss
        .args
        .iter()
        .chain(&c_miss.deps_args)
        .map(|a| PathBuf::from(std::ffi::OsStr::from_bytes(a)))
        .filter(|p| p.starts_with(Path::new(BASE).join("private")))
        .collect();
    assert_eq!(private.len(), 1, "{c_miss:?}");
    assert!(private[0].exists());

    let elsewhere = engine.release_under(&[PathBuf::from("/nonexistent")]);
    assert_eq!(elsewhere.pending_compiles, 0);
    let released = engine.release_under(&[PathBuf::from(BASE)]);
    assert_eq!(released.pending_compiles, 2);
    assert!(!private[0].exists(), "the released C miss's depfile stays");
    for token in [c_miss.token, rust_miss.token] {
        let reply = engine.store_result(&v1::Store {
            token,
            ..Default::default()
        });
        assert_eq!(
            (reply.stored, reply.reason.as_str()),
            (false, crate::reasons::UNKNOWN_TOKEN)
        );
    }
    let _ = std::fs::remove_dir_all(BASE);
}
