//! Linked Rust crates through the cache (issue 15): a real crate graph from crates.io with proc-macros (serde derive, thiserror), a build script compiling C through the `cc` crate and a binary with a test. A warm build after `cargo clean` runs no rustc compile, every artifact is byte-identical to a no-cache build, and each input of a link (a dependency's source, the linker's bytes, the native library, a `-C link-arg`) makes exactly the units that read it miss.
//!
//! It needs the network to crates.io unless the crates are already in the
//! local cargo registry. It does not test the rlib cases (`rust.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use conformance::{ok, zccache_bin, Sandbox};

use super::rust::{cargo_exe, rustc_shim, scrubbed, Call};

/// The workspace: `links` (a binary with a test, a build script compiling
/// `csrc/add.c` with the `cc` crate, serde derive, thiserror) on `leaf` (a
/// path library the edit test changes).
const PROJECT: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        "[workspace]\nmembers = [\"links\", \"leaf\"]\nresolver = \"2\"\n",
    ),
    (
        "leaf/Cargo.toml",
        "[package]\nname = \"leaf\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    ),
    ("leaf/src/lib.rs", "pub const WORD: &str = \"leaf\";\n"),
    (
        "links/Cargo.toml",
        "[package]\nname = \"links\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nleaf = { path = \"../leaf\" }\n\
         serde = { version = \"1\", features = [\"derive\"] }\n\
         serde_json = \"1\"\nthiserror = \"2\"\n\n\
         [build-dependencies]\ncc = \"1\"\n",
    ),
    (
        "links/build.rs",
        "fn main() {\n    cc::Build::new().file(\"csrc/add.c\").compile(\"add\");\n    \
         println!(\"cargo:rerun-if-changed=csrc/add.c\");\n}\n",
    ),
    (
        "links/csrc/add.c",
        "int links_add(int a, int b) { return a + b + 1; }\n",
    ),
    (
        "links/src/main.rs",
        r#"use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
struct Point {
    x: i32,
    word: String,
}

#[derive(thiserror::Error, Debug)]
enum Failure {
    #[error("bad {0}")]
    Bad(i32),
}

extern "C" {
    fn links_add(a: i32, b: i32) -> i32;
}

fn add(a: i32, b: i32) -> i32 {
    // SAFETY: a plain C function of two ints.
    unsafe { links_add(a, b) }
}

fn main() {
    let p = Point { x: add(2, 3), word: leaf::WORD.into() };
    println!("{}", serde_json::to_string(&p).unwrap());
    println!("{}", Failure::Bad(p.x));
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds_one_more() {
        assert_eq!(super::add(1, 1), 3);
    }
}
"#,
    ),
];

/// One sandbox with the project, a logging rustc and a target dir.
struct Links {
    sb: Sandbox,
    target: PathBuf,
    shim: PathBuf,
    log: PathBuf,
    env: BTreeMap<String, String>,
}

/// What one cargo run did.
struct Run {
    out: Output,
    /// Real rustc runs that compiled a crate (not `-vV`, `--print`, nor a
    /// build script's probe).
    compiles: Vec<Call>,
    status: serde_json::Value,
}

impl Run {
    fn compiled(&self) -> BTreeSet<String> {
        self.compiles.iter().map(Call::crate_name).collect()
    }

    fn text(&self) -> String {
        format!(
            "{}\nreal rustc compiles: {:?}\nstatus: {}",
            String::from_utf8_lossy(&self.out.stderr),
            self.compiles
                .iter()
                .map(|c| c.args.join(" "))
                .collect::<Vec<_>>(),
            self.status
        )
    }
}

impl Links {
    fn new(name: &str) -> Links {
        let sb = Sandbox::new(name);
        for (rel, body) in PROJECT {
            sb.write(rel, body);
        }
        let (shim, log) = rustc_shim(&sb);
        Links {
            target: sb.root.join("target"),
            sb,
            shim,
            log,
            env: BTreeMap::new(),
        }
    }

    fn cargo(&self, args: &[&str], cached: bool) -> Command {
        let mut c = scrubbed(self.sb.cmd(cargo_exe()));
        c.args(args)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_INCREMENTAL", "0")
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .env("RUSTC", &self.shim)
            .envs(&self.env);
        if cached {
            c.env("RUSTC_WRAPPER", zccache_bin());
        }
        c
    }

    /// Runs cargo (through the cache when `cached`), requiring success.
    #[track_caller]
    fn run(&self, args: &[&str], cached: bool) -> Run {
        for e in std::fs::read_dir(&self.log).unwrap() {
            let _ = std::fs::remove_file(e.unwrap().path());
        }
        let out = self.cargo(args, cached).output().expect("run cargo");
        let mut compiles = Vec::new();
        for e in std::fs::read_dir(&self.log).unwrap() {
            let body = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
            let call = Call {
                args: body.lines().map(String::from).collect(),
            };
            let probe = call
                .args
                .iter()
                .any(|a| a == "-vV" || a == "-V" || a == "--version" || a.starts_with("--print"));
            // A build script's probe compile that fails on a stable rustc
            // (thiserror's, proc-macro2's) is never stored: not a unit.
            if !probe && !call.args.iter().any(|a| a == "-") && !call.script_probe() {
                compiles.push(call);
            }
        }
        let status = self.sb.status();
        let run = Run {
            out,
            compiles,
            status,
        };
        assert!(
            run.out.status.success(),
            "cargo {args:?} failed\n{}",
            run.text()
        );
        run
    }

    fn clean(&self) {
        ok(&self.cargo(&["clean"], false).output().expect("cargo clean"));
    }

    /// Every file cargo and rustc leave under target/debug but cargo's own
    /// bookkeeping (fingerprints, which hold times), with its bytes and
    /// whether it is executable.
    fn snapshot(&self) -> BTreeMap<String, (Vec<u8>, bool)> {
        use std::os::unix::fs::PermissionsExt;
        fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, (Vec<u8>, bool)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                if rel.starts_with(".fingerprint") || rel.ends_with(".lock") {
                    continue;
                }
                let md = std::fs::symlink_metadata(&p).unwrap();
                if md.is_dir() {
                    walk(&p, base, out);
                } else if md.is_file() {
                    let exec = md.permissions().mode() & 0o111 != 0;
                    out.insert(rel, (std::fs::read(&p).unwrap(), exec));
                }
            }
        }
        let base = self.target.join("debug");
        let mut m = BTreeMap::new();
        walk(&base, &base, &mut m);
        m
    }

    fn program_output(&self) -> String {
        let out = self
            .sb
            .cmd(self.target.join("debug/links"))
            .output()
            .expect("run target/debug/links");
        ok(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn counter(run: &Run, name: &str) -> u64 {
        run.status[name].as_u64().unwrap_or(0)
    }
}

/// The differences between two snapshots, by path.
fn differences(
    a: &BTreeMap<String, (Vec<u8>, bool)>,
    b: &BTreeMap<String, (Vec<u8>, bool)>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let what = |s: &BTreeMap<String, (Vec<u8>, bool)>| match s.get(k) {
                None => "absent".to_owned(),
                Some((bytes, exec)) => format!("{} bytes, exec {exec}", bytes.len()),
            };
            format!("{k}: {} vs {}", what(a), what(b))
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const EXPECTED: &str = "{\"x\":6,\"word\":\"leaf\"}\nbad 6\n";

/// The warm build runs no rustc compile, every artifact is byte-identical
/// (and as executable) as a no-cache build's, the program and its test run,
/// and an edit of `leaf` makes exactly leaf and the binary miss.
#[test]
fn linked_units_hit_after_clean_byte_identical_to_no_cache() {
    let _serial = super::rust::serial();
    let l = Links::new("rl-warm");
    let cold = l.run(&["build"], true);
    assert!(
        Links::counter(&cold, "link_misses") >= 6,
        "the cold build should miss the proc-macros, build scripts and the binary\n{}",
        cold.text()
    );
    assert_eq!(l.program_output(), EXPECTED);
    let cold_tree = l.snapshot();

    l.clean();
    let warm = l.run(&["build"], true);
    assert!(
        warm.compiles.is_empty(),
        "the warm build after cargo clean ran rustc\n{}",
        warm.text()
    );
    assert_eq!(
        Links::counter(&warm, "link_hits"),
        Links::counter(&cold, "link_misses"),
        "every linked unit the cold build missed hits\n{}",
        warm.text()
    );
    assert_eq!(l.program_output(), EXPECTED);
    let warm_tree = l.snapshot();
    assert_eq!(differences(&cold_tree, &warm_tree), Vec::<String>::new());

    l.clean();
    let plain = l.run(&["build"], false);
    assert!(!plain.compiles.is_empty());
    let plain_tree = l.snapshot();
    assert_eq!(
        differences(&plain_tree, &warm_tree),
        Vec::<String>::new(),
        "a hit's target tree differs from a no-cache build's"
    );
    assert!(warm_tree["links"].1, "the binary is executable");

    // The test binary: built and run through the cache, twice.
    for round in ["cold", "warm"] {
        l.clean();
        let t = l.run(&["test"], true);
        let stdout = String::from_utf8_lossy(&t.out.stdout);
        assert!(
            stdout.contains("test tests::adds_one_more ... ok"),
            "{round} cargo test: {stdout}\n{}",
            t.text()
        );
        if round == "warm" {
            assert!(
                t.compiles.is_empty(),
                "warm cargo test ran rustc\n{}",
                t.text()
            );
        }
    }

    // An edit of leaf: leaf and what links it miss, nothing else.
    l.clean();
    l.sb.write("leaf/src/lib.rs", "pub const WORD: &str = \"edited\";\n");
    let edited = l.run(&["build"], true);
    assert_eq!(
        edited.compiled(),
        set(&["leaf", "links"]),
        "{}",
        edited.text()
    );
    assert_eq!(
        l.program_output(),
        EXPECTED.replace("\"leaf\"", "\"edited\"")
    );
}

/// A linker of other bytes at the same path, another native library and
/// another `-C link-arg` each make the link miss; the units that do not
/// link through them still hit.
#[test]
fn linker_native_library_and_link_args_are_keyed() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = super::rust::serial();
    let mut l = Links::new("rl-inputs");
    let linker = l.sb.path("tools/linker");
    let write_linker = |extra: &str| {
        std::fs::create_dir_all(linker.parent().unwrap()).unwrap();
        std::fs::write(&linker, format!("#!/bin/sh\n# {extra}\nexec cc \"$@\"\n")).unwrap();
        std::fs::set_permissions(&linker, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write_linker("one");
    l.env.insert(
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER".into(),
        linker.display().to_string(),
    );
    let cold = l.run(&["build"], true);
    let linked: BTreeSet<String> = cold
        .compiles
        .iter()
        .filter(|c| {
            c.args
                .iter()
                .any(|a| a == "bin" || a == "proc-macro" || a.starts_with("--crate-type=bin"))
        })
        .map(Call::crate_name)
        .collect();
    assert!(linked.len() >= 4, "{linked:?}\n{}", cold.text());
    l.clean();
    let warm = l.run(&["build"], true);
    assert!(warm.compiles.is_empty(), "{}", warm.text());

    // Same path, other bytes: every linked unit misses, no library does.
    write_linker("two");
    l.clean();
    let relinked = l.run(&["build"], true);
    assert_eq!(relinked.compiled(), linked, "{}", relinked.text());
    assert_eq!(l.program_output(), EXPECTED);

    // Another native library: the build script reruns and the binary
    // misses; its own compile and the build script's hit.
    // Not backdated (`Sandbox::write`): cargo reruns the build script on
    // the C file's new time; no rustc reads it.
    std::fs::write(
        l.sb.path("links/csrc/add.c"),
        "int links_add(int a, int b) { return a + b + 2; }\n",
    )
    .unwrap();
    let native = l.run(&["build"], true);
    assert_eq!(native.compiled(), set(&["links"]), "{}", native.text());
    assert_eq!(l.program_output(), "{\"x\":7,\"word\":\"leaf\"}\nbad 7\n");

    // Another link argument: a miss; the first again: a hit.
    let rustc_with = |arg: &str| {
        l.run(
            &["rustc", "-p", "links", "--bin", "links", "--", "-C", arg],
            true,
        )
    };
    let first = rustc_with("link-arg=-Wl,-zstack-size=1048576");
    assert_eq!(first.compiled(), set(&["links"]), "{}", first.text());
    let second = rustc_with("link-arg=-Wl,-zstack-size=2097152");
    assert_eq!(second.compiled(), set(&["links"]), "{}", second.text());
    let again = rustc_with("link-arg=-Wl,-zstack-size=1048576");
    assert!(again.compiles.is_empty(), "{}", again.text());
    assert_eq!(l.program_output(), "{\"x\":7,\"word\":\"leaf\"}\nbad 7\n");
}

/// A linker that does not know `--dependency-file` (ld.bfd before 2.35,
/// gold) refuses the option the cache adds to a linked unit's miss: every
/// build still succeeds with the caller's own command, its tree is
/// byte-identical to a no-cache build's, and nothing linked is stored, so
/// the next build links again instead of serving anything.
#[test]
fn a_linker_refusing_the_dependency_file_option_still_builds_and_stores_nothing_linked() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = super::rust::serial();
    let mut l = Links::new("rl-refuse");
    let linker = l.sb.path("tools/linker");
    std::fs::create_dir_all(linker.parent().unwrap()).unwrap();
    std::fs::write(
        &linker,
        "#!/bin/sh\n\
         for a in \"$@\"; do\n\
           case \"$a\" in\n\
             *--dependency-file*) echo \"ld: unrecognized option '$a'\" >&2; exit 1 ;;\n\
           esac\n\
         done\n\
         exec cc \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&linker, std::fs::Permissions::from_mode(0o755)).unwrap();
    l.env.insert(
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER".into(),
        linker.display().to_string(),
    );

    let cold = l.run(&["build"], true);
    assert_eq!(l.program_output(), EXPECTED, "{}", cold.text());
    let linked = |run: &Run| -> BTreeSet<String> {
        run.compiles
            .iter()
            .filter(|c| {
                c.args
                    .iter()
                    .any(|a| a == "bin" || a == "proc-macro" || a.starts_with("--crate-type=bin"))
            })
            .map(Call::crate_name)
            .collect()
    };
    let cold_linked = linked(&cold);
    assert!(cold_linked.len() >= 4, "{cold_linked:?}\n{}", cold.text());
    assert_eq!(
        Links::counter(&cold, "link_hits"),
        0,
        "nothing linked can have been stored\n{}",
        cold.text()
    );
    let cached_tree = l.snapshot();

    // The warm build: libraries hit, every linked unit links again.
    l.clean();
    let warm = l.run(&["build"], true);
    assert_eq!(linked(&warm), cold_linked, "{}", warm.text());
    assert_eq!(Links::counter(&warm, "link_hits"), 0, "{}", warm.text());
    assert_eq!(l.program_output(), EXPECTED);

    l.clean();
    l.run(&["build"], false);
    assert_eq!(
        differences(&l.snapshot(), &cached_tree),
        Vec::<String>::new(),
        "the refused links left a tree unlike a no-cache build's"
    );
}

/// Removes the test's libraries from the system directories, however the
/// test ends.
struct SystemLibs(Vec<PathBuf>);

impl Drop for SystemLibs {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A library the linker finds in a system directory, then another of the
/// same name appearing in a directory it searches earlier
/// (`/usr/lib/x86_64-linux-gnu` before `/usr/lib`): the binary misses and
/// links the new one. Needs root (it writes system directories).
#[test]
fn a_library_appearing_earlier_in_the_system_search_path_is_seen() {
    let _serial = super::rust::serial();
    let late = PathBuf::from("/usr/lib/libzcshadowtest.a");
    let early = PathBuf::from("/usr/lib/x86_64-linux-gnu/libzcshadowtest.a");
    // SAFETY: geteuid has no preconditions.
    if !early.parent().unwrap().is_dir() || unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root and /usr/lib/x86_64-linux-gnu");
        return;
    }
    let _guard = SystemLibs(vec![late.clone(), early.clone()]);
    let sb = Sandbox::new("rl-syslib");
    let archive = |value: i32, dest: &Path| {
        sb.write(
            "v.c",
            format!("int zc_shadow_value(void) {{ return {value}; }}\n"),
        );
        ok(&sb.bare("gcc", ["-c", "v.c", "-o", "v.o"]));
        let _ = std::fs::remove_file(dest);
        ok(&sb.bare("ar", ["rcs", dest.to_str().unwrap(), "v.o"]));
    };
    archive(1, &late);
    for (rel, body) in [
        (
            "Cargo.toml",
            "[package]\nname = \"shadow\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        ),
        (
            "build.rs",
            "fn main() { println!(\"cargo:rustc-link-lib=zcshadowtest\"); }\n",
        ),
        (
            "src/main.rs",
            "extern \"C\" { fn zc_shadow_value() -> i32; }\n\
             fn main() { println!(\"{}\", unsafe { zc_shadow_value() }); }\n",
        ),
    ] {
        sb.write(rel, body);
    }
    let (shim, log) = rustc_shim(&sb);
    let target = sb.root.join("target");
    let cargo = |args: &[&str]| {
        let out = scrubbed(sb.cmd(cargo_exe()))
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_INCREMENTAL", "0")
            .env("RUSTC", &shim)
            .env("RUSTC_WRAPPER", zccache_bin())
            .output()
            .expect("cargo");
        ok(&out);
    };
    let program = || {
        let out = sb.cmd(target.join("debug/shadow")).output().expect("run");
        String::from_utf8_lossy(&ok(&out).stdout).trim().to_string()
    };
    // Whether rustc itself compiled the binary since the log was cleared
    // (a hit runs no rustc; probes name no source).
    let clear_log = || {
        for e in std::fs::read_dir(&log).unwrap() {
            let _ = std::fs::remove_file(e.unwrap().path());
        }
    };
    let compiled_main = || {
        std::fs::read_dir(&log).unwrap().any(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap_or_default()
                .lines()
                .any(|l| l == "src/main.rs")
        })
    };
    cargo(&["build"]);
    assert_eq!(program(), "1");
    assert!(compiled_main(), "the shim logs the cold compile");
    cargo(&["clean"]);
    clear_log();
    cargo(&["build"]);
    assert!(!compiled_main(), "the warm build is served");
    assert_eq!(program(), "1");
    archive(2, &early);
    cargo(&["clean"]);
    clear_log();
    cargo(&["build"]);
    assert!(compiled_main(), "the binary is compiled again, not served");
    assert_eq!(program(), "2", "the library found earlier is linked");
}
