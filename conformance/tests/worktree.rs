//! Path remap across git worktrees (issue 5; oracle-cases.md R16, R17),
//! black-box over the real binaries: one git repository holding a small C
//! project and a Rust crate with a build script, checked out as three
//! worktrees at different absolute paths, each built with its own `target/`
//! and C build dirs inside it, C through `zccache gcc` (some units
//! CMake-style from a build subdir with absolute paths, some make-style with
//! relative ones; `-g -O1 -MD`, an absolute `-I<root>/include`, `__FILE__`),
//! Rust through `cargo build` with `RUSTC_WRAPPER=zccache`.
//!
//! With `ZCCACHE_PATH_REMAP=auto` (R16): the second and third worktree hit
//! at least 99% of the cacheable units, the cache grows by less than 1%,
//! every hit is counted in `cross_root_hits`, the outputs of B equal a
//! no-cache build of B with the injected mapping (`-ffile-prefix-map` /
//! `--remap-path-prefix` `<root>=.`), and nothing of A's root is in them.
//! Without it (R17): B's outputs name B's paths, never A's, the workspace
//! crate misses, and B's C outputs equal bare gcc's (B's Rust outputs are
//! scanned, not rebuilt without the cache, to keep the test near three
//! minutes on two cores).
//!
//! It does not test other compilers than gcc, split DWARF, PCH or a remap
//! the user passes. It needs git, gcc, and the network to crates.io unless
//! `itoa`, `memchr`, `serde` (derive) and `serde_json` are already in the
//! local cargo registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Instant;

use crate::rust::{cargo_exe, cargo_units, rustc_shim, scrubbed, Call};
use conformance::{backdate, ok, zccache_bin, Sandbox};

// ---------------------------------------------------------------------------
// The repository

/// The committed files (fixtures/worktree): a Rust crate at the top
/// (`Cargo.toml`, `build.rs`, `src/lib.rs`) and C sources in `csrc/` with a
/// header in `include/`.
const FILES: [(&str, &str); 10] = [
    (
        "Cargo.toml",
        include_str!("../fixtures/worktree/Cargo.toml"),
    ),
    ("build.rs", include_str!("../fixtures/worktree/build.rs")),
    (
        "src/lib.rs",
        include_str!("../fixtures/worktree/src/lib.rs"),
    ),
    (
        "include/wt/config.h",
        include_str!("../fixtures/worktree/include/wt/config.h"),
    ),
    (
        "csrc/util.h",
        include_str!("../fixtures/worktree/csrc/util.h"),
    ),
    (
        "csrc/util.c",
        include_str!("../fixtures/worktree/csrc/util.c"),
    ),
    (
        "csrc/where.c",
        include_str!("../fixtures/worktree/csrc/where.c"),
    ),
    (
        "csrc/table.c",
        include_str!("../fixtures/worktree/csrc/table.c"),
    ),
    (
        "csrc/net/parse.c",
        include_str!("../fixtures/worktree/csrc/net/parse.c"),
    ),
    (
        "csrc/main.c",
        include_str!("../fixtures/worktree/csrc/main.c"),
    ),
];

/// One C translation unit. CMake-style units compile in `<root>/build` with
/// an absolute source path and `-MT/-MF`, as CMake's Makefile generator
/// does; make-style units compile in `<root>` with relative paths into
/// `out/`. `where.c` (its `__FILE__`) is CMake-style, so without a prefix
/// map its object names the worktree even without debug info.
struct Unit {
    src: &'static str,
    cmake: bool,
}

const UNITS: [Unit; 5] = [
    Unit {
        src: "csrc/util.c",
        cmake: true,
    },
    Unit {
        src: "csrc/where.c",
        cmake: true,
    },
    Unit {
        src: "csrc/net/parse.c",
        cmake: true,
    },
    Unit {
        src: "csrc/table.c",
        cmake: false,
    },
    Unit {
        src: "csrc/main.c",
        cmake: false,
    },
];

impl Unit {
    fn stem(&self) -> &str {
        Path::new(self.src).file_stem().unwrap().to_str().unwrap()
    }

    fn cwd(&self, root: &Path) -> PathBuf {
        if self.cmake {
            root.join("build")
        } else {
            root.to_path_buf()
        }
    }

    /// The object and depfile, absolute.
    fn outputs(&self, root: &Path) -> [PathBuf; 2] {
        if self.cmake {
            let o = root.join(format!("build/CMakeFiles/wt.dir/{}.o", self.src));
            let d = root.join(format!("build/CMakeFiles/wt.dir/{}.o.d", self.src));
            [o, d]
        } else {
            let o = root.join(format!("out/{}.o", self.stem()));
            [o.clone(), o.with_extension("d")]
        }
    }

    /// gcc's argv after `gcc`.
    fn args(&self, root: &Path) -> Vec<String> {
        let mut v = vec![
            format!("-I{}/include", root.display()),
            "-g".into(),
            "-O1".into(),
            "-MD".into(),
        ];
        if self.cmake {
            let obj = format!("CMakeFiles/wt.dir/{}.o", self.src);
            v.extend([
                "-MT".into(),
                obj.clone(),
                "-MF".into(),
                format!("{obj}.d"),
                "-o".into(),
                obj,
                "-c".into(),
                format!("{}/{}", root.display(), self.src),
            ]);
        } else {
            v.extend([
                "-c".into(),
                self.src.into(),
                "-o".into(),
                format!("out/{}.o", self.stem()),
            ]);
        }
        v
    }
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=zccache test",
            "-c",
            "user.email=test@zccache.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    ok(&out);
    out
}

/// Three checkouts of one commit. No root's bytes are inside another's
/// path, so counting a root's occurrences in an output cannot be fooled by
/// a longer root; B is longer than A and C shorter.
struct Trees {
    sb: Sandbox,
    a: PathBuf,
    b: PathBuf,
    c: PathBuf,
    shim: PathBuf,
    log: PathBuf,
}

impl Trees {
    fn new(name: &str) -> Trees {
        let sb = Sandbox::new(name);
        let a = sb.work.join("repo");
        let b = sb.work.join("trees/feature-b");
        let c = sb.root.join("z");
        for (rel, body) in FILES {
            sb.write(&format!("repo/{rel}"), body);
        }
        sb.write("repo/.gitignore", "/target/\n/build/\n/out/\n");
        let (shim, log) = rustc_shim(&sb);
        let t = Trees {
            sb,
            a,
            b,
            c,
            shim,
            log,
        };
        t.lockfile();
        git(&t.a, &["init", "-q"]);
        git(&t.a, &["add", "."]);
        git(&t.a, &["commit", "-q", "-m", "worktree test"]);
        std::fs::create_dir_all(t.b.parent().unwrap()).unwrap();
        for wt in [&t.b, &t.c] {
            git(
                &t.a,
                &["worktree", "add", "-q", "--detach", wt.to_str().unwrap()],
            );
        }
        t
    }

    /// Resolves the dependency graph once in A and commits Cargo.lock, so
    /// every worktree builds the same crate versions (`--locked`).
    fn lockfile(&self) {
        let run = |offline: bool| {
            let mut c = scrubbed(self.sb.cmd(cargo_exe()));
            c.arg("generate-lockfile").current_dir(&self.a);
            if offline {
                c.arg("--offline");
            }
            c.output().expect("run cargo generate-lockfile")
        };
        let online = run(false);
        if !online.status.success() && !run(true).status.success() {
            ok(&online);
        }
        backdate(&self.a.join("Cargo.lock"));
    }

    fn roots(&self) -> [(&'static str, &Path); 3] {
        [("A", &self.a), ("B", &self.b), ("C", &self.c)]
    }
}

// ---------------------------------------------------------------------------
// Building

/// Whether requests carry `ZCCACHE_PATH_REMAP=auto`.
#[derive(Clone, Copy, PartialEq)]
enum Remap {
    Auto,
    Off,
}

impl Remap {
    fn apply(self, c: &mut Command) {
        c.env_remove("ZCCACHE_WORKTREE_ROOT");
        match self {
            Remap::Auto => c.env("ZCCACHE_PATH_REMAP", "auto"),
            Remap::Off => c.env_remove("ZCCACHE_PATH_REMAP"),
        };
    }
}

/// The counters this test reads from `zccache status --json`; zero before
/// a daemon runs (`status` starts none).
#[derive(Debug, Default, Clone)]
struct Counters {
    hits: u64,
    misses: u64,
    passthrough: u64,
    cross_root_hits: u64,
    reasons: BTreeMap<String, i64>,
}

fn counters(sb: &Sandbox) -> Counters {
    let out = sb.zccache(["status", "--json"]);
    if !out.status.success() {
        return Counters::default();
    }
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let g = |k: &str| s[k].as_u64().unwrap_or(0);
    let mut reasons = BTreeMap::new();
    for group in [
        "passthrough_reasons",
        "not_stored_reasons",
        "remap_fallbacks",
    ] {
        if let Some(m) = s[group].as_object() {
            for (k, v) in m {
                reasons.insert(format!("{group}.{k}"), v.as_i64().unwrap_or(0));
            }
        }
    }
    Counters {
        hits: g("hits"),
        misses: g("misses"),
        passthrough: g("passthrough"),
        cross_root_hits: g("cross_root_hits"),
        reasons,
    }
}

impl Counters {
    fn since(&self, before: &Counters) -> Counters {
        let mut reasons = BTreeMap::new();
        for (k, v) in &self.reasons {
            let d = v - before.reasons.get(k).copied().unwrap_or(0);
            if d != 0 {
                reasons.insert(k.clone(), d);
            }
        }
        Counters {
            hits: self.hits - before.hits,
            misses: self.misses - before.misses,
            passthrough: self.passthrough - before.passthrough,
            cross_root_hits: self.cross_root_hits - before.cross_root_hits,
            reasons,
        }
    }
}

/// What one worktree's build did.
#[derive(Debug)]
struct Built {
    tree: &'static str,
    /// Cacheable units (C compiles, Rust lib compiles) that were served
    /// without running the compiler, and those that ran it.
    hit: Vec<String>,
    ran: Vec<String>,
    counters: Counters,
    secs: f32,
}

impl Built {
    fn units(&self) -> usize {
        self.hit.len() + self.ran.len()
    }

    fn summary(&self) -> String {
        format!(
            "{}: {} of {} cacheable units hit in {:.1}s; ran the compiler: {:?}; counters {:?}",
            self.tree,
            self.hit.len(),
            self.units(),
            self.secs,
            self.ran,
            self.counters
        )
    }
}

/// Builds the C units and then the crate in `root` through zccache.
fn build(t: &Trees, tree: &'static str, root: &Path, remap: Remap) -> Built {
    let start = Instant::now();
    let before = counters(&t.sb);
    let (mut hit, mut ran) = (Vec::new(), Vec::new());
    // One unit at a time, so each counter delta says whether it hit.
    for u in &UNITS {
        for p in u.outputs(root) {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        }
        let c0 = counters(&t.sb);
        let mut cmd = t.sb.cmd(zccache_bin());
        cmd.current_dir(u.cwd(root)).arg("gcc").args(u.args(root));
        remap.apply(&mut cmd);
        ok(&cmd.output().expect("run zccache gcc"));
        let d = counters(&t.sb).since(&c0);
        if (d.hits, d.misses, d.passthrough) == (1, 0, 0) {
            hit.push(u.src.to_owned());
        } else {
            ran.push(format!(
                "{} ({}h {}m {}p)",
                u.src, d.hits, d.misses, d.passthrough
            ));
        }
    }

    clear_dir(&t.log);
    let mut cmd = cargo(t, root, zccache_bin().as_os_str());
    remap.apply(&mut cmd);
    let out = cmd.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "{tree}: cargo build failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let units = cargo_units(&String::from_utf8_lossy(&out.stderr));
    let compiled: Vec<String> = logged_calls(&t.log)
        .iter()
        .filter(|c| c.cacheable() && !c.script_probe())
        .map(Call::crate_name)
        .collect();
    for u in units.iter().filter(|c| c.cacheable()) {
        let name = u.crate_name();
        if compiled.contains(&name) {
            ran.push(name);
        } else {
            hit.push(name);
        }
    }
    let built = Built {
        tree,
        hit,
        ran,
        counters: counters(&t.sb).since(&before),
        secs: start.elapsed().as_secs_f32(),
    };
    eprintln!("{}", built.summary());
    built
}

/// `cargo build -v --locked` in `root` with its own `target/`, the logging
/// shim as RUSTC and `wrapper` as RUSTC_WRAPPER.
fn cargo(t: &Trees, root: &Path, wrapper: &std::ffi::OsStr) -> Command {
    let mut c = scrubbed(t.sb.cmd(cargo_exe()));
    c.args(["build", "-v", "--locked"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_TERM_PROGRESS_WHEN", "never")
        .env("RUSTC", &t.shim)
        .env("RUSTC_WRAPPER", wrapper);
    c
}

fn write_script(p: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, body).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn clear_dir(d: &Path) {
    for e in std::fs::read_dir(d).unwrap() {
        let _ = std::fs::remove_file(e.unwrap().path());
    }
}

fn logged_calls(log: &Path) -> Vec<Call> {
    std::fs::read_dir(log)
        .unwrap()
        .map(|e| Call {
            args: std::fs::read_to_string(e.unwrap().path())
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect(),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Looking at outputs

/// Every C output and every file in `target/debug/deps` of `root`.
fn outputs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = UNITS.iter().flat_map(|u| u.outputs(root)).collect();
    let mut deps: Vec<PathBuf> = std::fs::read_dir(root.join("target/debug/deps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    deps.sort();
    v.extend(deps);
    v
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Outputs of `root` holding the bytes of `other`, with their counts.
fn naming(root: &Path, other: &Path) -> Vec<String> {
    let needle = other.as_os_str().as_encoded_bytes();
    outputs(root)
        .iter()
        .filter_map(|p| {
            let n = count(&std::fs::read(p).unwrap(), needle);
            (n > 0).then(|| format!("{} ({n}x)", rel(root, p)))
        })
        .collect()
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Bytes of the stored entries and manifests (not stats, logs, staging or
/// the daemon registry, which change on every run).
fn cache_bytes(sb: &Sandbox) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(dir) = std::fs::read_dir(p) else {
            return 0;
        };
        dir.map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                walk(&e.path())
            } else if m.is_file() {
                m.len()
            } else {
                0
            }
        })
        .sum()
    }
    walk(&sb.cache.join("v1/entries")) + walk(&sb.cache.join("v1/manifests"))
}

/// The prefix map a remap-on compile in `root` gets, as bare gcc takes it.
fn c_map(root: &Path) -> String {
    format!("-ffile-prefix-map={}=.", root.display())
}

/// How a cached C build differs from bare gcc's.
#[derive(Default)]
struct CDiff {
    /// Objects that are not byte-equal.
    objects: Vec<String>,
    /// Depfiles naming other targets or prerequisites (a build system
    /// would see other dependencies).
    rules: Vec<String>,
    /// Depfiles that are not byte-equal, with the first differing line.
    depfile_bytes: Vec<String>,
}

/// Each C unit of `root` compiled again by bare gcc with the same argv
/// (plus `extra`) in the same cwd, its outputs compared with the cached
/// build's.
fn c_differs_from_bare(t: &Trees, root: &Path, extra: &[String]) -> CDiff {
    let mut diff = CDiff::default();
    for u in &UNITS {
        let [obj, dep] = u.outputs(root);
        let cached = (std::fs::read(&obj).unwrap(), std::fs::read(&dep).unwrap());
        std::fs::remove_file(&obj).unwrap();
        std::fs::remove_file(&dep).unwrap();
        let bare =
            t.sb.cmd("gcc")
                .current_dir(u.cwd(root))
                .args(u.args(root))
                .args(extra)
                .output()
                .expect("run gcc");
        ok(&bare);
        let (o, d) = (std::fs::read(&obj).unwrap(), std::fs::read(&dep).unwrap());
        let sizes = |c: &[u8], b: &[u8]| format!("{} bytes cached, {} bare", c.len(), b.len());
        if o != cached.0 {
            diff.objects
                .push(format!("{} ({})", rel(root, &obj), sizes(&cached.0, &o)));
        }
        if depfile_words(&d) != depfile_words(&cached.1) {
            diff.rules.push(format!(
                "{}:\ncached: {}\nbare: {}",
                rel(root, &dep),
                String::from_utf8_lossy(&cached.1),
                String::from_utf8_lossy(&d)
            ));
        }
        if d != cached.1 {
            diff.depfile_bytes.push(format!(
                "{} ({}){}",
                rel(root, &dep),
                sizes(&cached.1, &d),
                first_line_diff(&dep, &cached.1, &d)
            ));
        }
    }
    diff
}

/// A make-style depfile as its words (targets, `:`-ended, prerequisites),
/// line continuations and wrapping aside.
fn depfile_words(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .replace("\\\n", " ")
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// For a text output (a depfile), the first line where the cached and the
/// bare one part; nothing for binaries.
fn first_line_diff(p: &Path, cached: &[u8], bare: &[u8]) -> String {
    if p.extension().is_none_or(|x| x != "d") {
        return String::new();
    }
    let (c, b) = (
        String::from_utf8_lossy(cached),
        String::from_utf8_lossy(bare),
    );
    c.lines()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(b.lines().map(Some).chain(std::iter::repeat(None)))
        .take(c.lines().count().max(b.lines().count()))
        .find(|(x, y)| x != y)
        .map(|(x, y)| format!(": cached {x:?}, bare {y:?}"))
        .unwrap_or_default()
}

/// Builds the crate in `root` again without zccache, into the same
/// `target/` path (OUT_DIR paths are in the rlibs), through a wrapper that
/// appends `extra` to every rustc run, and compares every rlib, rmeta and
/// `.d` with the cached build's (moved to `target.cached/`); returns the
/// files that differ or exist in one build only.
fn rust_differs_from_bare(t: &Trees, root: &Path, extra: &str) -> Vec<String> {
    let cached = root.join("target.cached");
    std::fs::rename(root.join("target"), &cached).unwrap();
    let wrapper = t.sb.root.join("bare-wrapper");
    write_script(&wrapper, &format!("#!/bin/sh\nexec \"$@\" {extra}\n"));
    let out = cargo(t, root, wrapper.as_os_str())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "no-cache cargo build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = |target: &Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(target.join("debug/deps"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                [".rlib", ".rmeta", ".d"].iter().any(|x| n.ends_with(x))
            })
            .map(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                (n, std::fs::read(&p).unwrap())
            })
            .collect()
    };
    let (want, got) = (listing(&root.join("target")), listing(&cached));
    let rlibs = want.keys().filter(|n| n.ends_with(".rlib")).count();
    assert!(
        rlibs >= 10,
        "the no-cache build left only {rlibs} rlibs: {:?}",
        want.keys()
    );
    let mut differ = Vec::new();
    for (name, bytes) in &want {
        match got.get(name) {
            Some(g) if g == bytes => {}
            Some(g) => differ.push(format!(
                "{name} ({} bytes cached, {} bare){}",
                g.len(),
                bytes.len(),
                first_line_diff(Path::new(name), g, bytes)
            )),
            None => differ.push(format!("{name} (only in the no-cache build)")),
        }
    }
    differ.extend(
        got.keys()
            .filter(|n| !want.contains_key(*n))
            .map(|n| format!("{n} (only in the cached build)")),
    );
    std::fs::remove_dir_all(root.join("target")).unwrap();
    std::fs::rename(&cached, root.join("target")).unwrap();
    differ
}

/// Depfiles of `root` (C and `target/debug/deps/*.d`) that do not name
/// `root` although every one of them names absolute paths inside it.
fn depfiles_not_naming(root: &Path) -> Vec<String> {
    let needle = root.as_os_str().as_encoded_bytes();
    outputs(root)
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "d"))
        .filter(|p| count(&std::fs::read(p).unwrap(), needle) == 0)
        .map(|p| rel(root, p))
        .collect()
}

/// The two tests build the same crate graph on two cores: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Cases

/// R16 / issue 5: A, then B, then C with `ZCCACHE_PATH_REMAP=auto`.
#[test]
fn worktree_remap_auto_hits_across_worktrees_with_mapped_outputs() {
    let _one_at_a_time = serial();
    let t = Trees::new("wt-remap");
    let a = build(&t, "A", &t.a, Remap::Auto);
    assert!(
        a.units() >= UNITS.len() + 8,
        "A built only {} cacheable units; the crate graph should give at least 8 Rust libs\n{}",
        a.units(),
        a.summary()
    );
    let bytes_a = cache_bytes(&t.sb);
    assert!(bytes_a > 0, "nothing stored after building A");
    let b = build(&t, "B", &t.b, Remap::Auto);
    let c = build(&t, "C", &t.c, Remap::Auto);
    let bytes_c = cache_bytes(&t.sb);

    for built in [&b, &c] {
        assert!(
            built.hit.len() * 100 >= built.units() * 99,
            "R16: fewer than 99% of {}'s cacheable units hit\n{}",
            built.tree,
            built.summary()
        );
        assert_eq!(
            built.units(),
            a.units(),
            "{} started other cacheable units than A",
            built.tree
        );
    }
    // Every hit in B and C is served an entry another worktree stored: B
    // runs after A only, no two units of the project share a key, and C's
    // entries come from A (or from B's misses); a cold A hits nothing.
    assert!(b.counters.hits + c.counters.hits > 0, "no hits in B or C");
    assert_eq!(
        b.counters.cross_root_hits + c.counters.cross_root_hits,
        b.counters.hits + c.counters.hits,
        "issue 5: cross_root_hits in B and C vs their hits\n{}\n{}",
        b.summary(),
        c.summary()
    );
    assert!(
        bytes_c.saturating_sub(bytes_a) * 100 < bytes_a,
        "R16: the cache grew from {bytes_a} to {bytes_c} bytes building B and C (1% allowed)\n{}\n{}",
        b.summary(),
        c.summary()
    );

    for (name, root) in [("B", &t.b), ("C", &t.c)] {
        for (other_name, other) in t.roots() {
            if other != root {
                let found = naming(root, other);
                assert!(
                    found.is_empty(),
                    "R16: outputs of {name} hold {other_name}'s root {}: {found:?}",
                    other.display()
                );
            }
        }
        let blind = depfiles_not_naming(root);
        assert!(
            blind.is_empty(),
            "depfiles of {name} that do not name {name}'s paths: {blind:?}"
        );
    }

    let c_diff = c_differs_from_bare(&t, &t.b, &[c_map(&t.b)]);
    assert!(
        c_diff.objects.is_empty(),
        "issue 5: B's objects vs bare gcc with the same argv and {}: {:?}",
        c_map(&t.b),
        c_diff.objects
    );
    assert!(
        c_diff.rules.is_empty(),
        "issue 5: B's depfiles name other dependencies than bare gcc's with {}:\n{}",
        c_map(&t.b),
        c_diff.rules.join("\n")
    );
    let map = format!("'--remap-path-prefix={}=.'", t.b.display());
    let differ = rust_differs_from_bare(&t, &t.b, &map);
    assert!(
        differ.is_empty(),
        "issue 5: B's rlib/rmeta/.d vs a no-cache cargo build with {map}: {differ:?}"
    );
    // Last: gcc wraps depfile lines by length, so a depfile written for a
    // root of another length must be laid out again to be byte-equal.
    assert!(
        c_diff.depfile_bytes.is_empty(),
        "issue 5 (every output byte-identical): B's depfiles name the same dependencies as \
         bare gcc's but are laid out differently: {:?}",
        c_diff.depfile_bytes
    );
}

/// R17: A, then B, remap off and a fresh cache: B's outputs are B's own.
#[test]
fn worktree_remap_off_never_serves_another_worktrees_paths() {
    let _one_at_a_time = serial();
    let t = Trees::new("wt-off");
    build(&t, "A", &t.a, Remap::Off);
    let b = build(&t, "B", &t.b, Remap::Off);

    let found = naming(&t.b, &t.a);
    assert!(
        found.is_empty(),
        "R17: outputs of B hold A's root {}: {found:?}",
        t.a.display()
    );
    let needle = t.b.as_os_str().as_encoded_bytes();
    let blind: Vec<String> = UNITS
        .iter()
        .map(|u| u.outputs(&t.b)[0].clone())
        .filter(|o| count(&std::fs::read(o).unwrap(), needle) == 0)
        .map(|o| rel(&t.b, &o))
        .collect();
    assert!(
        blind.is_empty(),
        "R17: B's objects, built with -g, do not name B's root: {blind:?}"
    );
    assert!(
        b.ran.iter().any(|u| u == "wtlib"),
        "R17: the workspace crate hit in another worktree without remap\n{}",
        b.summary()
    );
    let blind = depfiles_not_naming(&t.b);
    assert!(
        blind.is_empty(),
        "R17: depfiles of B that do not name B's paths: {blind:?}"
    );
    let c_diff = c_differs_from_bare(&t, &t.b, &[]);
    let differ: Vec<&String> = c_diff.objects.iter().chain(&c_diff.depfile_bytes).collect();
    assert!(
        differ.is_empty(),
        "R17: B's C outputs vs bare gcc with the same argv: {differ:?}"
    );
}

#[test]
fn worktree_count_finds_every_occurrence() {
    #[track_caller]
    fn check(hay: &str, needle: &str, want: usize) {
        assert_eq!(
            count(hay.as_bytes(), needle.as_bytes()),
            want,
            "{hay:?} {needle:?}"
        );
    }
    check("", "/a", 0);
    check("/a/b /a/c", "/a", 2);
    check("/a/a/a", "/a/a", 2);
    check("/tmp/wt", "/tmp/wt/x", 0);
}

#[test]
fn worktree_depfile_words_ignore_wrapping() {
    let wrapped = depfile_words(b"o.o: /r/a.c \\\n /usr/x.h \\\n  /r/b.h\n");
    let flat = depfile_words(b"o.o: /r/a.c /usr/x.h /r/b.h\n");
    assert_eq!(wrapped, flat);
    assert_eq!(flat, ["o.o:", "/r/a.c", "/usr/x.h", "/r/b.h"]);
    assert_ne!(flat, depfile_words(b"o.o: /r/a.c /usr/x.h\n"));
}

/// Reviewed holes in C remap, each over two `.git` trees `a` and `c` (their
/// contents equal) in one sandbox: what `c` gets through the cache must be
/// what a no-cache compile in `c` gives, with the injected map or without
/// it (whichever the cache chose); every case compiles `a` first.
mod holes {
    use super::*;

    struct Pair {
        sb: Sandbox,
    }

    impl Pair {
        fn new(name: &str, files: &[(&str, &str)]) -> Pair {
            let sb = Sandbox::new(name);
            for tree in ["a", "c"] {
                std::fs::create_dir_all(sb.path(&format!("{tree}/.git"))).unwrap();
                for (rel, body) in files {
                    let p = format!("{tree}/{rel}");
                    sb.write(&p, body);
                    backdate(&sb.path(&p));
                }
            }
            settle();
            Pair { sb }
        }

        fn root(&self, tree: &str) -> PathBuf {
            self.sb.path(tree)
        }

        /// `zccache gcc args` in `dir` with remap on; (stdout+stderr, object).
        fn cached(
            &self,
            dir: &Path,
            args: &[String],
            env: &[(&str, String)],
        ) -> (Vec<u8>, Vec<u8>) {
            let out = self
                .sb
                .cmd(zccache_bin())
                .current_dir(dir)
                .env("ZCCACHE_PATH_REMAP", "auto")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .arg("gcc")
                .args(args)
                .output()
                .unwrap();
            ok(&out);
            (out.stderr, std::fs::read(dir.join("x.o")).unwrap())
        }

        /// The same compile without zccache, with `map` (if any) appended.
        fn bare(
            &self,
            dir: &Path,
            args: &[String],
            env: &[(&str, String)],
            map: Option<&Path>,
        ) -> (Vec<u8>, Vec<u8>) {
            let mut c = self.sb.cmd("gcc");
            c.current_dir(dir)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .args(args);
            if let Some(root) = map {
                c.arg(format!("-ffile-prefix-map={}=.", root.display()));
            }
            let out = c.output().unwrap();
            ok(&out);
            (out.stderr, std::fs::read(dir.join("x.o")).unwrap())
        }

        /// Compiles in `a`, then in `c`; `c`'s result must equal a bare
        /// compile in `c`, mapped to `map_root` or unmapped.
        #[track_caller]
        fn check(
            &self,
            what: &str,
            dirs: (&Path, &Path),
            map_root: &Path,
            args: &[String],
            env: &[(&str, String)],
        ) {
            self.cached(dirs.0, args, env);
            let got = self.cached(dirs.1, args, env);
            let mapped = self.bare(dirs.1, args, env, Some(map_root));
            let plain = self.bare(dirs.1, args, env, None);
            assert!(
                got == mapped || got == plain,
                "{what}: c got bytes no compile in c makes (stderr {:?}; mapped {:?}; plain {:?})",
                String::from_utf8_lossy(&got.0),
                String::from_utf8_lossy(&mapped.0),
                String::from_utf8_lossy(&plain.0),
            );
        }
    }

    /// The too-new guard also looks at ctime, which backdating cannot move:
    /// inputs must be a moment old before a compile is stored.
    fn settle() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const X_C: &str = "#include \"h.h\"\nint x(void) { return V; }\nconst char *f = __FILE__;\n";

    /// Relative `-I` dirs from two cwds with one key (no `-g`, absolute
    /// source): a header that shadows ours in the second cwd's `../inc1`
    /// must make it miss. With and without remap.
    #[test]
    fn worktree_hole_relative_search_dirs_from_another_cwd() {
        for remap in ["off", "auto"] {
            let sb = Sandbox::new("wt-relinc");
            std::fs::create_dir_all(sb.path(".git")).unwrap();
            let files = [
                ("src/x.c", X_C),
                ("inc2/h.h", "#define V 2\n"),
                ("out/inc2/h.h", "#define V 2\n"),
                ("out/inc1/h.h", "#define V 1\n"),
                ("build/.keep", ""),
                ("out/deep/.keep", ""),
            ];
            for (rel, body) in files {
                sb.write(rel, body);
                backdate(&sb.path(rel));
            }
            settle();
            let src = sb.path("src/x.c").display().to_string();
            let args = s(&["-c", &src, "-I../inc1", "-I../inc2", "-o", "x.o"]);
            let run = |dir: &str| {
                let out = sb
                    .cmd(zccache_bin())
                    .current_dir(sb.path(dir))
                    .env("ZCCACHE_PATH_REMAP", remap)
                    .arg("gcc")
                    .args(&args)
                    .output()
                    .unwrap();
                ok(&out);
                std::fs::read(sb.path(dir).join("x.o")).unwrap()
            };
            run("build");
            let got = run("out/deep");
            // What gcc makes in out/deep, unmapped or with the map remap adds.
            let bare = |map: Option<String>| {
                let out = sb
                    .cmd("gcc")
                    .current_dir(sb.path("out/deep"))
                    .args(&args)
                    .args(map)
                    .output()
                    .unwrap();
                ok(&out);
                std::fs::read(sb.path("out/deep/x.o")).unwrap()
            };
            let mapped = bare(Some(format!("-ffile-prefix-map={}=.", sb.work.display())));
            assert!(
                got == bare(None) || got == mapped,
                "remap {remap}: out/deep got build's object, though ../inc1/h.h shadows ../inc2/h.h there"
            );
        }
    }

    #[test]
    fn worktree_hole_checkout_through_a_symlink() {
        let p = Pair::new("wt-symlink", &[("x.c", X_C), ("h.h", "#define V 1\n")]);
        std::os::unix::fs::symlink(p.sb.path(""), p.sb.root.join("logical")).unwrap();
        let logical = |t: &str| p.sb.root.join("logical").join(t);
        let args = s(&["-g", "-c", "x.c", "-o", "x.o"]);
        p.cached(
            &logical("a"),
            &args,
            &[("PWD", logical("a").display().to_string())],
        );
        let env = [("PWD", logical("c").display().to_string())];
        let got = p.cached(&logical("c"), &args, &env);
        let a = logical("a");
        assert_eq!(
            count(&got.1, a.as_os_str().as_encoded_bytes()),
            0,
            "c's object names a's logical path"
        );
        let plain = p.bare(&logical("c"), &args, &env, None);
        let mapped = p.bare(&logical("c"), &args, &env, Some(&p.root("c")));
        assert!(
            got.1 == plain.1 || got.1 == mapped.1,
            "symlinked checkout: c's object is no compile's in c"
        );
    }

    #[test]
    fn worktree_hole_a_sibling_of_the_root() {
        let p = Pair::new("wt-sibling", &[("x.c", X_C)]);
        // `a2` starts with `a`'s root as a string: a map of `.../a` rewrites it.
        p.sb.write("a2/inc/h.h", "#define V 1\nconst char *hf = __FILE__;\n");
        backdate(&p.sb.path("a2/inc/h.h"));
        settle();
        let inc = format!("-I{}", p.sb.path("a2/inc").display());
        let args = s(&["-c", "x.c", "-o", "x.o", &inc]);
        p.check(
            "-I of a sibling",
            (&p.root("a"), &p.root("c")),
            &p.root("c"),
            &args,
            &[],
        );
    }

    #[test]
    fn worktree_hole_another_trees_header_through_cpath() {
        let p = Pair::new("wt-cpath", &[("x.c", X_C), ("inc/h.h", "#define V 1\n")]);
        let env = [("CPATH", p.sb.path("a/inc").display().to_string())];
        let args = s(&["-c", "x.c", "-o", "x.o"]);
        p.check(
            "CPATH into a",
            (&p.root("a"), &p.root("c")),
            &p.root("c"),
            &args,
            &env,
        );
        p.sb.write("a/inc/h.h", "#define V 2\n");
        backdate(&p.sb.path("a/inc/h.h"));
        settle();
        p.check(
            "CPATH into a, header changed",
            (&p.root("a"), &p.root("c")),
            &p.root("c"),
            &args,
            &env,
        );
    }

    #[test]
    fn worktree_hole_a_source_naming_its_root() {
        let p = Pair::new("wt-named", &[("h.h", "#define V 1\n")]);
        for tree in ["a", "c"] {
            let body = format!("#warning \"config from {}\"\n{X_C}", p.root("a").display());
            p.sb.write(&format!("{tree}/x.c"), body);
            backdate(&p.sb.path(&format!("{tree}/x.c")));
        }
        settle();
        let args = s(&["-c", "x.c", "-o", "x.o"]);
        p.check(
            "#warning naming a",
            (&p.root("a"), &p.root("c")),
            &p.root("c"),
            &args,
            &[],
        );
    }
    /// A header outside every worktree that includes a file of `a` by its
    /// absolute path: compiled in `c`, it still reads `a`'s file, so an
    /// entry stored in `a` (which keys `a`'s file root-free, as if it were
    /// `c`'s own) must not serve `c` once the two files differ. The rule
    /// that finds it is the Rust pipeline's (issue 11): every input the
    /// compile read is scanned for the root, under the root or not.
    #[test]
    fn worktree_hole_a_header_outside_the_root_naming_it() {
        let p = Pair::new(
            "wt-outside",
            &[
                ("x.c", "#include \"h.h\"\nint x(void) { return V; }\n"),
                ("cfg.h", "#define V 1\n"),
            ],
        );
        let cfg = p.root("a").join("cfg.h");
        p.sb.write("ext/h.h", format!("#include \"{}\"\n", cfg.display()));
        backdate(&p.sb.path("ext/h.h"));
        settle();
        let inc = format!("-I{}", p.sb.path("ext").display());
        let args = s(&["-c", "x.c", "-o", "x.o", &inc]);
        p.cached(&p.root("a"), &args, &[]);
        // `c`'s own cfg.h still matches what `a` stored; `a`'s no longer.
        p.sb.write("a/cfg.h", "#define V 2\n");
        backdate(&cfg);
        settle();
        let got = p.cached(&p.root("c"), &args, &[]);
        let mapped = p.bare(&p.root("c"), &args, &[], Some(&p.root("c")));
        let plain = p.bare(&p.root("c"), &args, &[], None);
        assert!(
            got.1 == mapped.1 || got.1 == plain.1,
            "c was served the object of a's old cfg.h"
        );
        let c = counters(&p.sb);
        assert_eq!(
            c.reasons.get("remap_fallbacks.root_in_source"),
            Some(&1),
            "the store in a was bound, c's compile stored too: {:?}",
            c.reasons
        );
    }
}

/// One root-bound policy and one set of Store checks for C and Rust (issue
/// 11: the two pipelines had drifted apart). Each case runs the same
/// compile through both languages in two `.git` trees with remap on, and
/// reads the daemon's counters. A shim in front of a real compiler stands in
/// for a compiler that writes the odd output (fault injection).
mod unified {
    use super::*;
    use crate::rust::real_rustc;

    /// Two `.git` trees holding `x.c`, `lib.rs` and an out-dir `o`.
    fn trees(name: &str, names: [&str; 2]) -> Sandbox {
        let sb = Sandbox::new(name);
        for tree in names {
            std::fs::create_dir_all(sb.path(&format!("{tree}/.git"))).unwrap();
            std::fs::create_dir_all(sb.path(&format!("{tree}/o"))).unwrap();
            sb.write(&format!("{tree}/x.c"), "int x(void) { return 1; }\n");
            sb.write(&format!("{tree}/lib.rs"), "pub fn f() -> u32 { 1 }\n");
        }
        sb.settle_work();
        sb
    }

    /// A compiler named `name` in front of `real`: runs it, then `after`
    /// when `marker` is among the arguments (a compile, not a probe).
    fn shim(sb: &Sandbox, name: &str, real: &Path, marker: &str, after: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = sb.root.join(format!("shim-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\n'{}' \"$@\"\nrc=$?\ncase \" $* \" in *' {marker} '*) {after} ;; esac\nexit $rc\n",
                real.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A library crate compiled as cargo does (absolute out-dir).
    fn rustc_args(sb: &Sandbox, tree: &str) -> Vec<String> {
        let out = sb.path(&format!("{tree}/o")).display().to_string();
        [
            "--crate-name",
            "w",
            "--edition=2021",
            "lib.rs",
            "--crate-type",
            "lib",
            "--emit=dep-info,metadata,link",
            "--out-dir",
            &out,
        ]
        .map(String::from)
        .to_vec()
    }

    fn cc_args(_: &Sandbox, _: &str) -> Vec<String> {
        ["-c", "x.c", "-o", "x.o"].map(String::from).to_vec()
    }

    type Args = fn(&Sandbox, &str) -> Vec<String>;

    /// `zccache compiler args` in `tree`, remap on; must succeed.
    fn run(sb: &Sandbox, tree: &str, compiler: &Path, args: Args) -> Output {
        let out = sb
            .cmd(zccache_bin())
            .current_dir(sb.path(tree))
            .env("ZCCACHE_PATH_REMAP", "auto")
            .arg(compiler)
            .args(args(sb, tree))
            .output()
            .unwrap();
        ok(&out);
        out
    }

    fn reason(c: &Counters, name: &str) -> i64 {
        c.reasons.get(name).copied().unwrap_or(0)
    }

    /// An output that holds the remap token (`\0R`) cannot be stored
    /// root-free; it is stored root-bound, as written, for C and Rust alike:
    /// its own worktree hits it byte for byte, another never does. Before
    /// the one policy, Rust did not store it at all.
    #[test]
    fn worktree_unified_an_output_holding_the_token_is_bound_to_its_worktree() {
        let sb = trees("wt-token", ["a", "b"]);
        let token = "printf 'note: \\000R/odd\\n' >&2";
        let cases: [(&str, PathBuf, Args); 2] = [
            (
                "rustc",
                shim(&sb, "rustc", real_rustc(), "--crate-name", token),
                rustc_args,
            ),
            (
                "gcc",
                shim(&sb, "gcc", Path::new("/usr/bin/gcc"), "-c", token),
                cc_args,
            ),
        ];
        for (what, compiler, args) in cases {
            let first = run(&sb, "a", &compiler, args);
            assert!(
                first.stderr.windows(6).any(|w| w == b"\0R/odd"),
                "{what}: the shim writes the token: {:?}",
                String::from_utf8_lossy(&first.stderr)
            );
            let before = counters(&sb);
            let again = run(&sb, "a", &compiler, args);
            let home = counters(&sb).since(&before);
            assert_eq!(home.hits, 1, "{what}: its own worktree hits: {home:?}");
            assert_eq!(again.stderr, first.stderr, "{what}: served byte for byte");
            let before = counters(&sb);
            run(&sb, "b", &compiler, args);
            let away = counters(&sb).since(&before);
            assert_eq!(
                (away.hits, away.cross_root_hits),
                (0, 0),
                "{what}: never served to another worktree: {away:?}"
            );
        }
        let c = counters(&sb);
        assert!(
            reason(&c, "remap_fallbacks.token_in_text") >= 3,
            "every store was bound: {c:?}"
        );
        assert_eq!(
            reason(&c, "not_stored_reasons.remap_token_in_output"),
            0,
            "{c:?}"
        );
    }

    /// A root spelled with a byte a compiler escapes (a space: `\ ` in a
    /// depfile or dep-info) is refused up front, for C and Rust alike, and
    /// the compile behaves as without remap. Before, Rust took the remap
    /// and scanned its outputs for the escaped spelling at Store.
    #[test]
    fn worktree_unified_a_root_spelled_with_escapes_is_refused_up_front() {
        let sb = trees("wt-escaped", ["a b", "c d"]);
        let cases: [(&str, &Path, Args); 2] = [
            ("rustc", real_rustc(), rustc_args),
            ("gcc", Path::new("/usr/bin/gcc"), cc_args),
        ];
        for (what, compiler, args) in cases {
            let before = counters(&sb);
            run(&sb, "a b", compiler, args);
            let first = counters(&sb).since(&before);
            assert_eq!(
                reason(&first, "remap_fallbacks.unsafe_root_path"),
                1,
                "{what}: {first:?}"
            );
            assert_eq!(
                reason(&first, "remap_fallbacks.escaped_root_in_text"),
                0,
                "{what}: {first:?}"
            );
            let before = counters(&sb);
            run(&sb, "a b", compiler, args);
            let again = counters(&sb).since(&before);
            assert_eq!(again.hits, 1, "{what}: its own tree hits: {again:?}");
            // Without remap nothing is served across worktrees as theirs (a
            // gcc object without paths in it may still be shared as is).
            run(&sb, "c d", compiler, args);
            let other = counters(&sb).since(&before);
            assert_eq!(other.cross_root_hits, 0, "{what}: {other:?}");
        }
    }

    /// The Store checks are one copy for both languages: a primary output
    /// (an object, an rlib) that is empty is never stored. Before, only C
    /// checked it, and Rust served an empty rlib.
    #[test]
    fn worktree_unified_an_empty_primary_output_is_never_stored() {
        let sb = trees("wt-empty", ["a", "b"]);
        let out = sb.path("a/o/libw.rlib").display().to_string();
        let cases: [(&str, PathBuf, Args); 2] = [
            (
                "rustc",
                shim(
                    &sb,
                    "rustc",
                    real_rustc(),
                    "--crate-name",
                    &format!(": > '{out}'"),
                ),
                rustc_args,
            ),
            (
                "gcc",
                shim(&sb, "gcc", Path::new("/usr/bin/gcc"), "-c", ": > x.o"),
                cc_args,
            ),
        ];
        for (what, compiler, args) in cases {
            let before = counters(&sb);
            run(&sb, "a", &compiler, args);
            run(&sb, "a", &compiler, args);
            let d = counters(&sb).since(&before);
            assert_eq!(d.hits, 0, "{what}: nothing to serve: {d:?}");
            assert_eq!(
                reason(&d, "not_stored_reasons.compiler_produced_empty_output"),
                2,
                "{what}: {d:?}"
            );
        }
    }

    /// An output the root search cannot read (here `/proc/self/mem`, which
    /// no one reads at offset 0, named as clang's serialized diagnostics) is
    /// not stored, as Rust already did (`compiler_produced_no_output`).
    /// Before, C took it for root-bound and failed later in the writer
    /// (`store_failed`). The shim drops the option so that clang compiles.
    #[test]
    fn worktree_unified_an_output_the_search_cannot_read_is_not_stored() {
        use std::os::unix::fs::PermissionsExt;
        let sb = trees("wt-unreadable", ["a", "b"]);
        let dir = sb.root.join("shim-clang");
        std::fs::create_dir_all(&dir).unwrap();
        let clang = dir.join("clang");
        std::fs::write(
            &clang,
            "#!/bin/sh\nskip=0\nfor a; do shift\n  if [ $skip = 1 ]; then skip=0; continue; fi\n  \
             if [ \"$a\" = --serialize-diagnostics ]; then skip=1; continue; fi\n  \
             set -- \"$@\" \"$a\"\ndone\nexec /usr/bin/clang \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&clang, std::fs::Permissions::from_mode(0o755)).unwrap();
        fn args(_: &Sandbox, _: &str) -> Vec<String> {
            [
                "-c",
                "x.c",
                "-o",
                "x.o",
                "--serialize-diagnostics",
                "/proc/self/mem",
            ]
            .map(String::from)
            .to_vec()
        }
        let before = counters(&sb);
        run(&sb, "a", &clang, args);
        run(&sb, "a", &clang, args);
        let d = counters(&sb).since(&before);
        assert_eq!(d.hits, 0, "{d:?}");
        assert_eq!(
            reason(&d, "not_stored_reasons.compiler_produced_no_output"),
            2,
            "{d:?}"
        );
        assert_eq!(reason(&d, "remap_fallbacks.root_in_output"), 0, "{d:?}");
    }
}
