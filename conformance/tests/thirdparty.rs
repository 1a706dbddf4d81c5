//! A real third-party C code base through the cache: Lua 5.4, taken at test
//! time from the crates.io crate `lua-src` (MIT, it bundles the Lua
//! sources), built bare, cold and warm with gcc and clang. Warm builds must
//! hit every translation unit with outputs byte-identical to the bare
//! compiler's, and a header edit must miss exactly the units whose depfile
//! names that header.
//!
//! It does not drive a build system (make, ninja): the parallel compile
//! loop here only imitates one, so failures point at zccache, not at a
//! Makefile. It needs the network to crates.io unless the crate is already
//! in the local cargo registry.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use conformance::{backdate, ok, Sandbox};

const CRATE: &str = "lua-src";
const VERSION: &str = "551.1.0";
/// Like a `make -j3` on the two-core CI machines: enough to overlap
/// compiles with lookups and stores.
const JOBS: usize = 3;
/// Relative to the sandbox work dir; every compile runs there, so depfiles
/// and objects name the same paths in every build.
const SRC: &str = "lua";
const OUT: &str = "build";

/// The `lua-5.4*` directory inside the fetched crate, fetched once per test
/// process (both compilers' tests copy from it).
fn lua_sources() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(fetch_lua_src)
}

fn fetch_lua_src() -> PathBuf {
    let proj = std::env::temp_dir().join(format!("zcc-luafetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&proj);
    std::fs::create_dir_all(proj.join("src")).unwrap();
    // `[workspace]` keeps cargo from adopting a Cargo.toml further up.
    std::fs::write(
        proj.join("Cargo.toml"),
        format!(
            "[package]\nname = \"zcc-luafetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{CRATE} = \"={VERSION}\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(proj.join("src/lib.rs"), "").unwrap();
    // The cargo running the tests, so its CARGO_HOME and config apply.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let fetch = |offline: bool| {
        let mut c = Command::new(&cargo);
        c.arg("fetch").current_dir(&proj);
        if offline {
            c.arg("--offline");
        }
        c.output().expect("run cargo fetch")
    };
    let online = fetch(false);
    // A flaky index update should not fail the suite when the registry
    // already holds the (checksum-verified) crate.
    if !online.status.success() && !fetch(true).status.success() {
        ok(&online);
    }
    let _ = std::fs::remove_dir_all(&proj);

    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"));
    let registry = cargo_home.join("registry/src");
    let krate = format!("{CRATE}-{VERSION}");
    let mut found = Vec::new();
    for index in
        std::fs::read_dir(&registry).unwrap_or_else(|e| panic!("{}: {e}", registry.display()))
    {
        let dir = index.unwrap().path().join(&krate);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lua-5.4")
                && p.join("lua.h").is_file()
            {
                found.push(p);
            }
        }
    }
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {krate}/lua-5.4*/ under {}", registry.display()))
}

/// Copies the Lua sources into `<work>/lua`, backdated so the too-new guard
/// stays out of the way.
fn copy_sources(sb: &Sandbox) {
    let dst = sb.path(SRC);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(lua_sources()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let to = dst.join(p.file_name().unwrap());
            std::fs::copy(&p, &to).unwrap();
            backdate(&to);
        }
    }
}

/// Library translation units (file stems): every `.c` except the two
/// programs.
fn library_units(sb: &Sandbox) -> Vec<String> {
    let mut units: Vec<String> = std::fs::read_dir(sb.path(SRC))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|s| s != "lua" && s != "luac")
        .collect();
    units.sort();
    units
}

fn compile_args(cc: &str, unit: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![cc.into()];
    v.extend(["-c", "-O2", "-Wall", "-DLUA_USE_LINUX", "-MD"].map(String::from));
    v.push(format!("{SRC}/{unit}.c"));
    v.push("-o".into());
    v.push(format!("{OUT}/{unit}.o"));
    v
}

#[derive(Clone, Copy)]
enum Via {
    Bare,
    Zccache,
}

/// One compile of `unit` into `build/`.
fn compile(sb: &Sandbox, via: Via, cc: &str, unit: &str) -> Output {
    let args = compile_args(cc, unit);
    match via {
        Via::Bare => sb.bare(&args[0], &args[1..]),
        Via::Zccache => sb.zccache(&args),
    }
}

/// Compiles `units` into a fresh `build/`, `JOBS` at a time; outputs in
/// `units` order.
fn build_all(sb: &Sandbox, via: Via, cc: &str, units: &[String]) -> Vec<Output> {
    fresh_dir(&sb.path(OUT));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Output>>> = Mutex::new(vec![None; units.len()]);
    std::thread::scope(|s| {
        for _ in 0..JOBS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(unit) = units.get(i) else { break };
                let out = compile(sb, via, cc, unit);
                results.lock().unwrap()[i] = Some(out);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

#[track_caller]
fn all_ok(units: &[String], outs: &[Output]) {
    for (u, o) in units.iter().zip(outs) {
        assert!(
            o.status.success(),
            "{u}.c failed ({}):\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn fresh_dir(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
    std::fs::create_dir_all(p).unwrap();
}

/// `build/` becomes `<name>/`, so a bare build's depfiles name `build/x.o`
/// just as the cached builds' do and compare byte for byte.
fn keep_as(sb: &Sandbox, name: &str) {
    let to = sb.path(name);
    let _ = std::fs::remove_dir_all(&to);
    std::fs::rename(sb.path(OUT), to).unwrap();
}

/// Every `.o` and `.d` of `units` in `build/` equals the one in `reference/`.
#[track_caller]
fn assert_same_outputs(sb: &Sandbox, reference: &str, units: &[String], what: &str) {
    let mut differ = Vec::new();
    for u in units {
        for ext in ["o", "d"] {
            let got = std::fs::read(sb.path(&format!("{OUT}/{u}.{ext}")));
            let want = sb.read(&format!("{reference}/{u}.{ext}"));
            match got {
                Ok(got) if got == want => {}
                Ok(got) => differ.push(format!(
                    "{u}.{ext} ({} bytes, want {})",
                    got.len(),
                    want.len()
                )),
                Err(e) => differ.push(format!("{u}.{ext} ({e})")),
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{what}: outputs differ from {reference}/: {differ:?}"
    );
}

/// Prerequisites named by a make-style depfile, as spelled.
fn depfile_inputs(text: &str) -> BTreeSet<String> {
    let joined = text.replace("\\\n", " ");
    let Some((_, deps)) = joined.split_once(": ") else {
        return BTreeSet::new();
    };
    deps.split_whitespace().map(String::from).collect()
}

fn delta(before: (u64, u64, u64), after: (u64, u64, u64)) -> (u64, u64, u64) {
    (after.0 - before.0, after.1 - before.1, after.2 - before.2)
}

/// Bare reference build into `ref/`, then cold and warm through zccache;
/// returns the units built. Units the bare compiler rejects are dropped,
/// since they were never meant to compile standalone.
fn bare_cold_warm(sb: &Sandbox, cc: &str) -> Vec<String> {
    copy_sources(sb);
    let all = library_units(sb);
    let bare = build_all(sb, Via::Bare, cc, &all);
    let units: Vec<String> = all
        .iter()
        .zip(&bare)
        .filter(|(_, o)| o.status.success())
        .map(|(u, _)| u.clone())
        .collect();
    assert!(
        units.len() >= 25,
        "{cc}: only {} of {} Lua units compiled bare: {units:?}",
        units.len(),
        all.len()
    );
    keep_as(sb, "ref");
    let n = units.len() as u64;

    // A fresh sandbox: no daemon yet to ask, and nothing counted.
    let before = (0, 0, 0);
    let cold = build_all(sb, Via::Zccache, cc, &units);
    all_ok(&units, &cold);
    assert_eq!(
        delta(before, sb.hmp()),
        (0, n, 0),
        "{cc} cold build: (hits, misses, passthrough) delta"
    );
    assert_same_outputs(sb, "ref", &units, &format!("{cc} cold"));

    let before = sb.hmp();
    let warm = build_all(sb, Via::Zccache, cc, &units);
    all_ok(&units, &warm);
    assert_eq!(
        delta(before, sb.hmp()),
        (n, 0, 0),
        "{cc} warm build: (hits, misses, passthrough) delta"
    );
    assert_same_outputs(sb, "ref", &units, &format!("{cc} warm"));
    units
}

/// The crate ships the library only (no `lua.c`), so a minimal host plays
/// the interpreter: it runs its first argument as a chunk.
const HOST: &str = r#"#include <stdio.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, argc > 1 ? argv[1] : "") != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_close(L);
    return 0;
}
"#;

/// Links the host with the objects in `build/` and runs a chunk through
/// the standard libraries, so the replayed objects are shown to work, not
/// only to match.
#[track_caller]
fn link_and_run(sb: &Sandbox, cc: &str, units: &[String]) {
    sb.write("host.c", HOST);
    let mut args: Vec<String> = ["-O2", "-Wall", "-DLUA_USE_LINUX", "-Ilua", "host.c"]
        .map(String::from)
        .to_vec();
    args.extend(units.iter().map(|u| format!("{OUT}/{u}.o")));
    args.extend(["-lm", "-ldl", "-o", "lua54"].map(String::from));
    ok(&sb.bare(cc, &args));
    let chunk = "print(1+1, string.rep('ab', 2), math.floor(7/2), table.concat({'x','y'}, '-'))";
    let out = sb
        .cmd(sb.path("lua54"))
        .arg(chunk)
        .output()
        .expect("run the Lua host");
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\tabab\t3\tx-y\n");
}

/// The header the edit touches: `lopcodes.h` when it splits the units,
/// else the first header that some but not all units include.
fn pick_header(sb: &Sandbox, units: &[String]) -> (String, BTreeSet<String>) {
    let deps: Vec<(String, BTreeSet<String>)> = units
        .iter()
        .map(|u| {
            (
                u.clone(),
                depfile_inputs(&String::from_utf8_lossy(&sb.read(&format!("ref/{u}.d")))),
            )
        })
        .collect();
    let includers = |h: &str| -> BTreeSet<String> {
        let spelled = format!("{SRC}/{h}");
        deps.iter()
            .filter(|(_, d)| d.contains(&spelled))
            .map(|(u, _)| u.clone())
            .collect()
    };
    let splits = |set: &BTreeSet<String>| !set.is_empty() && set.len() < units.len();
    let mut headers: Vec<String> = std::fs::read_dir(sb.path(SRC))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".h"))
        .collect();
    headers.sort();
    headers.insert(0, "lopcodes.h".into());
    headers
        .into_iter()
        .map(|h| {
            let set = includers(&h);
            (h, set)
        })
        .find(|(_, set)| splits(set))
        .expect("a Lua header included by some but not all units")
}

#[test]
fn lua_gcc_cold_warm_link_and_header_edit() {
    let sb = Sandbox::new("lua-gcc");
    let cc = "gcc";
    let units = bare_cold_warm(&sb, cc);
    link_and_run(&sb, cc, &units);

    let (header, includers) = pick_header(&sb, &units);
    let path = sb.path(&format!("{SRC}/{header}"));
    let mut body = std::fs::read(&path).unwrap();
    body.extend_from_slice(b"\n/* edited */ extern int zccache_edit_marker;\n");
    std::fs::write(&path, body).unwrap();
    // mtime back an hour; ctime moves regardless, as after a real edit.
    backdate(&path);

    // Only the includers can change; the others keep comparing with ref/.
    let edited: Vec<String> = includers.iter().cloned().collect();
    let untouched: Vec<String> = units
        .iter()
        .filter(|u| !includers.contains(*u))
        .cloned()
        .collect();
    let bare = build_all(&sb, Via::Bare, cc, &edited);
    all_ok(&edited, &bare);
    keep_as(&sb, "ref2");

    // One at a time, so each compile's counter delta says whether that unit
    // hit or missed.
    fresh_dir(&sb.path(OUT));
    let mut missed = BTreeSet::new();
    let mut other = Vec::new();
    let mut before = sb.hmp();
    for u in &units {
        ok(&compile(&sb, Via::Zccache, cc, u));
        let after = sb.hmp();
        match delta(before, after) {
            (1, 0, 0) => {}
            (0, 1, 0) => {
                missed.insert(u.clone());
            }
            d => other.push(format!("{u}: {d:?}")),
        }
        before = after;
    }
    assert!(
        other.is_empty(),
        "after editing {header}: units neither a plain hit nor a plain miss: {other:?}"
    );
    assert_eq!(
        missed, includers,
        "after editing {header}: missed units vs units whose depfile names it"
    );
    let what = format!("{cc} after editing {header}");
    assert_same_outputs(&sb, "ref2", &edited, &what);
    assert_same_outputs(&sb, "ref", &untouched, &what);
}

#[test]
fn lua_clang_cold_warm_link() {
    assert!(
        conformance::which("clang").is_some(),
        "clang is not on PATH (scripts/test.sh installs it)"
    );
    let sb = Sandbox::new("lua-clang");
    let units = bare_cold_warm(&sb, "clang");
    link_and_run(&sb, "clang", &units);
}

#[test]
fn depfile_inputs_reads_continuations() {
    let got = depfile_inputs("build/a.o: lua/a.c /usr/include/x.h \\\n lua/b.h \\\n  lua/c.h\n");
    let want: BTreeSet<String> = ["lua/a.c", "/usr/include/x.h", "lua/b.h", "lua/c.h"]
        .map(String::from)
        .into();
    assert_eq!(got, want);
}
