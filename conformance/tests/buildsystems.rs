//! Black-box tests for what build systems do right before a compile (issue
//! 12 item 2): a header generated just before its consumer (a real CMake +
//! Ninja project), a configure probe written right before its compile (a
//! real autoconf `./configure`), and a writer racing the compile, whose
//! result the cache must never serve. Every input here is written fresh,
//! never backdated nor waited on: the too-new guard measures from the
//! compiler's spawn, so a file finished before it is stored.
//!
//! It does not cover terminal output or keys (see `divergence.rs`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use conformance::{ok, zccache_bin, Sandbox};

/// A sandbox whose daemon is up, so counters can be read before a build.
fn sandbox(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    ok(&sb.zccache(["start"]));
    sb
}

/// Writes `body` to `rel` under the work dir now: its ctime is the moment
/// of the write.
fn fresh(sb: &Sandbox, rel: &str, body: &str) {
    let p = sb.path(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
}

fn executable(sb: &Sandbox, rel: &str, body: &str) {
    fresh(sb, rel, body);
    std::fs::set_permissions(sb.path(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// (hits, misses, passthrough, stored) right now.
fn counts(sb: &Sandbox) -> [u64; 4] {
    let s = sb.status();
    ["hits", "misses", "passthrough", "stored"].map(|k| s[k].as_u64().unwrap_or(0))
}

fn since(after: [u64; 4], before: [u64; 4]) -> [u64; 4] {
    [0, 1, 2, 3].map(|i| after[i] - before[i])
}

/// `zccache <cc> <args>` in the work dir.
fn cached(sb: &Sandbox, cc: &str, args: &[&str]) -> Output {
    sb.cmd(zccache_bin()).arg(cc).args(args).output().unwrap()
}

fn compilers() -> [&'static str; 2] {
    ["gcc", "clang"]
}

#[test]
fn a_header_written_just_before_the_compile_is_stored() {
    for cc in compilers() {
        let sb = sandbox(&format!("fresh-{cc}"));
        // Written, then compiled at once: the shape of a generated header.
        fresh(&sb, "gen.h", "#define GEN 42\n");
        fresh(&sb, "m.c", "#include \"gen.h\"\nint v = GEN;\n");
        let before = counts(&sb);
        ok(&cached(&sb, cc, &["-c", "m.c", "-o", "m.o"]));
        assert_eq!(
            since(counts(&sb), before),
            [0, 1, 0, 1],
            "{cc}: the first compile is a stored miss: {}",
            sb.status()["not_stored_reasons"]
        );
        let first = sb.read("m.o");
        std::fs::remove_file(sb.path("m.o")).unwrap();
        let before = counts(&sb);
        ok(&cached(&sb, cc, &["-c", "m.c", "-o", "m.o"]));
        assert_eq!(since(counts(&sb), before), [1, 0, 0, 0], "{cc}: a hit");
        assert_eq!(sb.read("m.o"), first, "{cc}: the object as compiled");
    }
}

/// A compiler that runs gcc and then, the first time only and still inside
/// the compile, rewrites the header gcc has just read: a writer racing the
/// compile. What the cache hashes after it is not what gcc compiled.
const REWRITE_HEADER_AFTER_GCC: &str = "#!/bin/sh\n/usr/bin/gcc \"$@\"; rc=$?\n\
    [ -e done ] || { printf '#define V 2\\n' > h.h; : > done; }\nexit $rc\n";

/// The same writer, racing the compile on the source itself: the first
/// time only, it rewrites the source (the same size) after the cache keyed
/// it and before gcc reads it.
const REWRITE_SOURCE_BEFORE_GCC: &str = "#!/bin/sh\n[ -e done ] || \
    { printf '#include \"h.h\"\\nint v = 2;\\n' > m.c; : > done; }\n\
    exec /usr/bin/gcc \"$@\"\n";

/// The first compile (with the racing writer) must store nothing; the next
/// one compiles what is there now, and only then is it served.
fn a_racing_writer_is_never_served(name: &str, compiler: &str) {
    let sb = sandbox(name);
    executable(&sb, "bin/gcc", compiler);
    fresh(&sb, "h.h", "#define V 1\n");
    fresh(&sb, "m.c", "#include \"h.h\"\nint v = V;\n");
    let gcc = sb.path("bin/gcc");
    let gcc = gcc.to_str().unwrap();
    let before = counts(&sb);
    ok(&cached(&sb, gcc, &["-c", "m.c", "-o", "m.o"]));
    let d = since(counts(&sb), before);
    assert_eq!((d[1], d[3]), (1, 0), "{name}: a miss, not stored: {d:?}");
    assert_eq!(
        sb.status()["not_stored_reasons"]["modified_input_file"].as_u64(),
        Some(1),
        "{name}: {}",
        sb.status()
    );
    // What the next compile must produce: the files as they are now.
    ok(&sb.bare("/usr/bin/gcc", ["-c", "m.c", "-o", "bare.o"]));
    let bare = sb.read("bare.o");
    for expect in [[0, 1, 0, 1], [1, 0, 0, 0]] {
        std::fs::remove_file(sb.path("m.o")).unwrap();
        let before = counts(&sb);
        ok(&cached(&sb, gcc, &["-c", "m.c", "-o", "m.o"]));
        assert_eq!(since(counts(&sb), before), expect, "{name}");
        assert_eq!(sb.read("m.o"), bare, "{name}: the object of the files now");
    }
}

#[test]
fn a_header_rewritten_after_the_compiler_read_it_is_never_served() {
    a_racing_writer_is_never_served("race-header", REWRITE_HEADER_AFTER_GCC);
}

#[test]
fn a_source_rewritten_after_it_was_keyed_is_never_served() {
    a_racing_writer_is_never_served("race-source", REWRITE_SOURCE_BEFORE_GCC);
}

const CMAKE_LISTS: &str = r#"cmake_minimum_required(VERSION 3.13)
project(generated C)
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/gen.h
  COMMAND ${CMAKE_COMMAND} -E copy ${CMAKE_CURRENT_SOURCE_DIR}/gen.h.in ${CMAKE_CURRENT_BINARY_DIR}/gen.h
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/gen.h.in)
add_executable(app main.c util.c ${CMAKE_CURRENT_BINARY_DIR}/gen.h)
target_include_directories(app PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
"#;

/// Configures `src` into an empty `build` and builds it with Ninja through
/// zccache; the counters' change over the Ninja build.
fn cmake_ninja_build(sb: &Sandbox) -> [u64; 4] {
    let build = sb.path("build");
    let _ = std::fs::remove_dir_all(&build);
    let launcher = format!("-DCMAKE_C_COMPILER_LAUNCHER={}", zccache_bin().display());
    ok(&sb
        .cmd("cmake")
        .args(["-G", "Ninja", "-S", "src", "-B", "build"])
        .args(["-DCMAKE_C_COMPILER=gcc", &launcher])
        .output()
        .unwrap());
    let before = counts(sb);
    ok(&sb.cmd("ninja").args(["-C", "build"]).output().unwrap());
    assert!(build.join("app").is_file());
    since(counts(sb), before)
}

#[test]
fn a_cmake_ninja_build_with_a_generated_header_is_all_hits_the_second_time() {
    let sb = sandbox("cmake-gen");
    fresh(&sb, "src/CMakeLists.txt", CMAKE_LISTS);
    fresh(&sb, "src/gen.h.in", "#define GEN 42\n");
    fresh(
        &sb,
        "src/main.c",
        "#include \"gen.h\"\nint util(void);\nint main(void) { return util() - GEN; }\n",
    );
    fresh(&sb, "src/util.c", "int util(void) { return 42; }\n");
    let first = cmake_ninja_build(&sb);
    assert_eq!(first, [0, 2, 0, 2], "both compiles stored: {}", sb.status());
    let second = cmake_ninja_build(&sb);
    assert_eq!(second, [2, 0, 0, 0], "100% hits: {}", sb.status());
    let out = sb.cmd(sb.path("build/app")).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the program built from hits runs"
    );
}

const CONFIGURE_AC: &str = "AC_INIT([probes], [1.0])
AC_PROG_CC
AC_CHECK_HEADERS([stdio.h stdlib.h string.h limits.h stdint.h unistd.h no_such_header.h])
AC_C_CONST
AC_C_INLINE
AC_OUTPUT
";

/// Runs `./configure` with `CC` through zccache; the counters' change.
fn configure(sb: &Sandbox) -> [u64; 4] {
    let before = counts(sb);
    let cc = format!("CC={} gcc", zccache_bin().display());
    ok(&sb.cmd("sh").args(["./configure", &cc]).output().unwrap());
    since(counts(sb), before)
}

#[test]
fn configure_probes_are_served_the_second_time() {
    let sb = sandbox("configure");
    fresh(&sb, "configure.ac", CONFIGURE_AC);
    ok(&sb.cmd("autoconf").output().unwrap());
    assert!(Path::new(&sb.path("configure")).is_file());
    let first = configure(&sb);
    // Every probe that compiled (all but the missing header's) is stored.
    assert!(
        first[3] >= 8,
        "the probes are stored: {first:?} {}",
        sb.status()
    );
    let second = configure(&sb);
    assert_eq!(
        second[0], first[3],
        "each stored probe is served: {first:?} then {second:?}"
    );
    // Only the probes that failed to compile run again.
    assert_eq!(second[1], first[1] - first[3], "{first:?} then {second:?}");
}
