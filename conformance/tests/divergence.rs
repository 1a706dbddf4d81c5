//! Black-box tests for the divergences of issue 10 fixed on the compile
//! path: each runs a real gcc or clang bare and through `zccache` in the
//! same sandbox, and requires the same exit code, stdout, stderr and output
//! bytes, plus the cache outcome (hit, miss, passthrough with its reason)
//! that makes the result trustworthy on the next run.
//!
//! It covers the search chain too (headers appearing where no directory
//! mtime shows it, the include-path environment). Item 9 (a caller on a
//! terminal) runs each side in a real terminal session (util-linux
//! `script`) and compares what the terminal received.
//!
//! It does not cover hit delivery, and it is not the randomized
//! differential test.

use std::process::Output;

use conformance::{ok, zccache_bin, Sandbox};

/// A sandbox whose daemon is up, so counters can be read before a compile.
fn sandbox(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    ok(&sb.zccache(["start"]));
    sb
}

/// One compile command: compiler, arguments, extra environment, and the
/// files (relative to the work dir) whose bytes must match bare.
struct Cmd<'a> {
    cc: &'a str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    unset: Vec<String>,
    outs: Vec<String>,
    /// Compare outputs with every `HH:MM:SS` masked (`__TIME__`).
    mask_time: bool,
}

fn cmd<'a>(cc: &'a str, args: &str) -> Cmd<'a> {
    Cmd {
        cc,
        args: args.split_whitespace().map(str::to_owned).collect(),
        env: Vec::new(),
        unset: ["LANG", "CPATH", "GCC_COLORS", "TZ", "GCC_URLS", "TERM_URLS"]
            .map(str::to_owned)
            .to_vec(),
        outs: Vec::new(),
        mask_time: false,
    }
}

/// What one run left behind.
struct Ran {
    out: Output,
    files: Vec<Option<Vec<u8>>>,
}

impl Cmd<'_> {
    fn env(mut self, k: &str, v: &str) -> Self {
        self.unset.retain(|u| u != k);
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    fn mask_time(mut self) -> Self {
        self.mask_time = true;
        self
    }

    fn outs(mut self, outs: &[&str]) -> Self {
        self.outs.extend(outs.iter().map(|s| s.to_string()));
        self
    }

    /// Runs it bare or through zccache, outputs removed first.
    fn run(&self, sb: &Sandbox, cached: bool) -> Ran {
        for o in &self.outs {
            let _ = std::fs::remove_file(sb.path(o));
        }
        let mut c = if cached {
            let mut c = sb.cmd(zccache_bin());
            c.arg(self.cc);
            c
        } else {
            sb.cmd(self.cc)
        };
        c.args(&self.args);
        for u in &self.unset {
            c.env_remove(u);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let out = c.output().expect("spawn");
        let files = self
            .outs
            .iter()
            .map(|o| std::fs::read(sb.path(o)).ok())
            .map(|f| f.map(|b| if self.mask_time { masked_time(b) } else { b }))
            .collect();
        Ran { out, files }
    }

    /// Runs it bare, then through zccache; everything must match. Returns
    /// the counters' change over the zccache run.
    #[track_caller]
    fn same_as_bare(&self, sb: &Sandbox) -> Delta {
        let bare = self.run(sb, false);
        let before = Counts::of(sb);
        let zc = self.run(sb, true);
        let delta = Counts::of(sb).since(&before);
        let what = format!("{} {:?} env {:?} ({delta:?})", self.cc, self.args, self.env);
        assert_eq!(
            String::from_utf8_lossy(&zc.out.stderr),
            String::from_utf8_lossy(&bare.out.stderr),
            "stderr differs from bare: {what}"
        );
        assert_eq!(zc.out.stdout, bare.out.stdout, "stdout differs: {what}");
        assert_eq!(
            zc.out.status.code(),
            bare.out.status.code(),
            "exit code differs from bare: {what}\nstderr: {}",
            String::from_utf8_lossy(&zc.out.stderr)
        );
        for ((name, b), z) in self.outs.iter().zip(&bare.files).zip(&zc.files) {
            assert!(b == z, "{name} differs from bare: {what}");
        }
        delta
    }
}

/// `b` with every `HH:MM:SS` replaced.
fn masked_time(mut b: Vec<u8>) -> Vec<u8> {
    for i in 0..b.len().saturating_sub(7) {
        let w = &b[i..i + 8];
        let d = |k: usize| w[k].is_ascii_digit();
        if d(0) && d(1) && w[2] == b':' && d(3) && d(4) && w[5] == b':' && d(6) && d(7) {
            b[i..i + 8].copy_from_slice(b"HH:MM:SS");
        }
    }
    b
}

/// Files just written (by the test or by a compile) have a ctime of now,
/// which backdating cannot change: the next command waits until they are
/// older than the too-new guard, measured from their ctimes, not guessed.
fn age_past_the_guard(sb: &Sandbox) {
    sb.settle_work();
}

/// Sets a file's mtime `secs` seconds into the past.
fn set_age(sb: &Sandbox, rel: &str, secs: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(sb.path(rel))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs))
        .unwrap();
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    passthrough: u64,
    reasons: serde_json::Value,
}

/// The change of the counters over one run: hits, misses, passthroughs and
/// the passthrough reasons that moved.
#[derive(Debug, PartialEq, Eq)]
struct Delta {
    hits: u64,
    misses: u64,
    passthrough: u64,
    reasons: Vec<String>,
}

impl Counts {
    fn of(sb: &Sandbox) -> Counts {
        let s = sb.status();
        let g = |k: &str| s[k].as_u64().unwrap_or(0);
        Counts {
            hits: g("hits"),
            misses: g("misses"),
            passthrough: g("passthrough"),
            reasons: s["passthrough_reasons"].clone(),
        }
    }

    fn since(&self, before: &Counts) -> Delta {
        let mut reasons = Vec::new();
        if let Some(now) = self.reasons.as_object() {
            for (k, v) in now {
                if v.as_u64() != before.reasons[k].as_u64() {
                    reasons.push(k.clone());
                }
            }
        }
        Delta {
            hits: self.hits - before.hits,
            misses: self.misses - before.misses,
            passthrough: self.passthrough - before.passthrough,
            reasons,
        }
    }
}

impl Delta {
    #[track_caller]
    fn passthrough(&self, reason: &str) {
        assert_eq!(
            (self.hits, self.misses, self.passthrough, &self.reasons[..]),
            (0, 0, 1, &[reason.to_owned()][..]),
            "expected a passthrough for {reason}"
        );
    }
    #[track_caller]
    fn hit(&self) {
        assert_eq!((self.hits, self.misses), (1, 0), "expected a hit: {self:?}");
    }

    #[track_caller]
    fn miss(&self) {
        assert_eq!(
            (self.hits, self.misses),
            (0, 1),
            "expected a miss: {self:?}"
        );
    }
}

/// Writes a source an hour old, so the too-new guard stays out of the way.
fn source(sb: &Sandbox, rel: &str, body: &str) {
    sb.write(rel, body);
}

fn compilers() -> [&'static str; 2] {
    ["gcc", "clang"]
}

// ---------------------------------------------------------------------------
// Item 3: `-o a.o -o b.o` (and its siblings) end exactly as bare.

#[test]
fn repeated_output_passes_through() {
    for cc in compilers() {
        let sb = sandbox("rep-o");
        source(&sb, "m.c", "int f(void) { return 1; }\n");
        for args in [
            "-c m.c -o a.o -o b.o",
            "-c m.c --output=a.o -o b.o",
            "-S m.c -o a.s -o b.s",
        ] {
            for _ in 0..2 {
                cmd(cc, args)
                    .outs(&["a.o", "b.o", "a.s", "b.s"])
                    .same_as_bare(&sb)
                    .passthrough("repeated_output_option");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Item 4: dependency options without `-MD`/`-MMD`: gcc fails, clang warns.

#[test]
fn dependency_options_without_depfile_pass_through() {
    for cc in compilers() {
        let sb = sandbox("dep-opts");
        source(&sb, "m.c", "int f(void) { return 1; }\n");
        for args in [
            "-c m.c -MF x.d",
            "-c m.c -MT foo",
            "-c m.c -MQ foo",
            "-c m.c -MP",
            "-c m.c -MG",
            "-S m.c -MT foo -MF x.d",
        ] {
            for _ in 0..2 {
                cmd(cc, args)
                    .outs(&["m.o", "m.s", "x.d", "m.d"])
                    .same_as_bare(&sb)
                    .passthrough("dependency_option_without_depfile");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Item 10: two outputs that are one file end as the compiler leaves them.

#[test]
fn outputs_that_are_one_file_pass_through() {
    for cc in compilers() {
        let sb = sandbox("one-file");
        source(&sb, "m.c", "int f(void) { return 1; }\n");
        // An entry stored under another -o must not be served either.
        cmd(cc, "-c m.c -o y.o -MD").same_as_bare(&sb);
        for args in [
            "-c m.c -o x.d -MD",
            "-c m.c -o x.d -MMD",
            "-c m.c -o ./x.d -MD -MF x.d",
            "-c m.c -o x.dwo -g -gsplit-dwarf",
        ] {
            for _ in 0..2 {
                cmd(cc, args)
                    .outs(&["x.d", "x.dwo"])
                    .same_as_bare(&sb)
                    .passthrough("bad_output_file");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Item 5: a driver diagnostic is printed once per call, not once per source.

#[test]
fn several_sources_pass_through() {
    for (cc, driver_warning) in [("gcc", "-x c"), ("clang", "-Lfoo")] {
        let sb = sandbox("two-src");
        source(&sb, "a.c", "int a(void) { int ua; return 0; }\n");
        source(&sb, "b.c", "int b(void) { int ub; return 0; }\n");
        let args = format!("-Wall -c a.c b.c {driver_warning}");
        for _ in 0..2 {
            cmd(cc, &args)
                .outs(&["a.o", "b.o"])
                .same_as_bare(&sb)
                .passthrough("multiple_source_files");
        }
    }
}

// ---------------------------------------------------------------------------
// Items 8 and 12: environment variables that change diagnostics or objects.

/// Runs `cc args` under each environment in turn, twice each: every run
/// must match bare, and the second of each is served from the cache.
#[track_caller]
fn keyed_by_env(sb: &Sandbox, cc: &str, args: &str, var: &str, values: &[Option<&str>]) {
    age_past_the_guard(sb);
    for value in values {
        let one = || {
            let c = cmd(cc, args).outs(&["w.o"]);
            match value {
                Some(v) => c.env(var, v),
                None => c,
            }
        };
        one().same_as_bare(sb);
        one().same_as_bare(sb).hit();
    }
}

#[test]
fn diagnostic_url_form_is_keyed() {
    let sb = sandbox("urls");
    source(&sb, "w.c", "int main(void) { int unused; return 0; }\n");
    let args = "-fdiagnostics-urls=always -Wall -c w.c";
    keyed_by_env(
        &sb,
        "gcc",
        args,
        "GCC_URLS",
        &[None, Some("st"), Some("no")],
    );
    keyed_by_env(&sb, "gcc", args, "TERM_URLS", &[Some("st"), Some("no")]);
}

#[test]
fn extra_diagnostic_output_is_keyed() {
    let sb = sandbox("fixits");
    source(&sb, "w.c", "int main(void) { printf(\"x\"); return 0; }\n");
    keyed_by_env(
        &sb,
        "gcc",
        "-c w.c",
        "GCC_EXTRA_DIAGNOSTIC_OUTPUT",
        &[None, Some("fixits-v2"), Some("fixits-v1")],
    );
}

#[test]
fn bitcode_producer_is_keyed() {
    let sb = sandbox("producer");
    source(&sb, "w.c", "int w(void) { return 1; }\n");
    keyed_by_env(
        &sb,
        "clang",
        "-flto -c w.c",
        "LLVM_OVERRIDE_PRODUCER",
        &[None, Some("zz")],
    );
}

#[test]
fn clang_trace_variables_pass_through() {
    let sb = sandbox("cc-print");
    source(&sb, "h.h", "int h;\n");
    source(&sb, "w.c", "#include \"h.h\"\nint w(void) { return h; }\n");
    cmd("clang", "-c w.c").same_as_bare(&sb).miss();
    for var in ["CC_PRINT_HEADERS", "CC_PRINT_OPTIONS"] {
        cmd("clang", "-c w.c")
            .env(var, "1")
            .outs(&["w.o"])
            .same_as_bare(&sb)
            .passthrough("unsupported_environment_variable");
    }
}

// ---------------------------------------------------------------------------
// Item 2: `__DATE__` and `__TIMESTAMP__` are formatted in the caller's zone.

#[test]
fn callers_time_zone_decides_the_date() {
    for cc in compilers() {
        let sb = sandbox("tz-date");
        source(&sb, "d.c", "const char *d = __DATE__;\n");
        source(&sb, "s.c", "const char *s = __TIMESTAMP__;\n");
        age_past_the_guard(&sb);
        // 26 hours apart: never the same date. POSIX strings and zone
        // files alike.
        for src in ["d", "s"] {
            let args = format!("-c {src}.c");
            let obj = format!("{src}.o");
            for tz in ["UTC+12", "UTC-14", "Etc/GMT+12", ":Pacific/Kiritimati", ""] {
                let run = || cmd(cc, &args).env("TZ", tz).outs(&[&obj]);
                run().same_as_bare(&sb);
                run().same_as_bare(&sb).hit();
            }
            cmd(cc, &args).outs(&[&obj]).same_as_bare(&sb);
        }
    }
}

// ---------------------------------------------------------------------------
// Item 11: whether `SOURCE_DATE_EPOCH` counts is the compiler's version's
// decision (gcc 7+ and clang 16+ honour it, clang 14 does not).

#[test]
fn source_date_epoch_follows_the_compiler_version() {
    for cc in ["clang-16", "gcc", "clang"] {
        let sb = sandbox("sde");
        source(&sb, "d.c", "const char *d = __DATE__;\n");
        source(&sb, "t.c", "const char *t = __TIME__;\n");
        age_past_the_guard(&sb);
        let date = || cmd(cc, "-c d.c").outs(&["d.o"]);
        date()
            .env("SOURCE_DATE_EPOCH", "0")
            .same_as_bare(&sb)
            .miss();
        date().env("SOURCE_DATE_EPOCH", "0").same_as_bare(&sb).hit();
        let unset = date().same_as_bare(&sb);
        let other = date().env("SOURCE_DATE_EPOCH", "86400").same_as_bare(&sb);
        if cc == "clang" {
            // clang 14 ignores it: one entry serves all three.
            unset.hit();
            other.hit();
        } else {
            unset.miss();
            other.miss();
            // The time is fixed too, so it is cached.
            let time = || {
                cmd(cc, "-c t.c")
                    .outs(&["t.o"])
                    .env("SOURCE_DATE_EPOCH", "0")
            };
            time().same_as_bare(&sb).miss();
            time().same_as_bare(&sb).hit();
        }
    }
}

#[test]
fn invalid_source_date_epoch_ends_as_bare() {
    for cc in ["clang-16", "gcc"] {
        let sb = sandbox("sde-bad");
        source(&sb, "m.c", "int f(void) { return 1; }\n");
        cmd(cc, "-c m.c").outs(&["m.o"]).same_as_bare(&sb).miss();
        for bad in ["", "abc", "-1"] {
            cmd(cc, "-c m.c")
                .env("SOURCE_DATE_EPOCH", bad)
                .outs(&["m.o"])
                .same_as_bare(&sb)
                .passthrough("unsupported_environment_variable");
        }
    }
}

// ---------------------------------------------------------------------------
// Items 7 and 16: temporal macros that the using file does not spell.

#[test]
fn timestamp_through_a_macro_keys_the_using_file() {
    for cc in compilers() {
        let sb = sandbox("ts-macro");
        source(&sb, "h.h", "#define TS __TIMESTAMP__\n");
        source(&sb, "m.c", "#include \"h.h\"\nconst char *s = TS;\n");
        source(&sb, "n.c", "const char *s = STAMP;\n");
        age_past_the_guard(&sb);
        for (src, args) in [("m", "-c m.c"), ("n", "-DSTAMP=__TIMESTAMP__ -c n.c")] {
            let obj = format!("{src}.o");
            let file = format!("{src}.c");
            cmd(cc, args).outs(&[&obj]).same_as_bare(&sb).miss();
            cmd(cc, args).outs(&[&obj]).same_as_bare(&sb).hit();
            // Same bytes, another mtime: another __TIMESTAMP__.
            set_age(&sb, &file, 7200);
            age_past_the_guard(&sb);
            cmd(cc, args).outs(&[&obj]).same_as_bare(&sb).miss();
            cmd(cc, args).outs(&[&obj]).same_as_bare(&sb).hit();
        }
    }
}

#[test]
fn time_through_arguments_or_pasting_is_never_stored() {
    for cc in compilers() {
        let sb = sandbox("time-hidden");
        source(&sb, "d.c", "const char *s = STAMP;\n");
        source(
            &sb,
            "p.c",
            "#define CAT(a, b) a ## b\nconst char *p = CAT(__TI, ME__);\n",
        );
        for (obj, args) in [("d.o", "-DSTAMP=__TIME__ -c d.c"), ("p.o", "-c p.c")] {
            for _ in 0..2 {
                let before = sb.status()["not_stored_reasons"]["time_macro"]
                    .as_u64()
                    .unwrap_or(0);
                cmd(cc, args)
                    .outs(&[obj])
                    .mask_time()
                    .same_as_bare(&sb)
                    .miss();
                let after = sb.status()["not_stored_reasons"]["time_macro"]
                    .as_u64()
                    .unwrap_or(0);
                assert_eq!(after, before + 1, "{cc} {args}: not stored for __TIME__");
            }
        }
    }
}

#[test]
fn date_through_arguments_keys_the_date() {
    for cc in compilers() {
        let sb = sandbox("date-arg");
        source(&sb, "d.c", "const char *s = STAMP;\n");
        age_past_the_guard(&sb);
        for tz in ["UTC+12", "UTC-14"] {
            let run = || {
                cmd(cc, "-DSTAMP=__DATE__ -c d.c")
                    .env("TZ", tz)
                    .outs(&["d.o"])
            };
            run().same_as_bare(&sb).miss();
            run().same_as_bare(&sb).hit();
        }
    }
}

/// The paste rule must not flag ordinary programs: glibc's and libstdc++'s
/// headers paste, and hold pieces like `__` and `__T`.
#[test]
fn ordinary_headers_are_not_taken_for_pasted_time() {
    let c = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\
             #include <math.h>\n#include <time.h>\n#include <pthread.h>\n\
             #include <complex.h>\n#include <tgmath.h>\n#include <immintrin.h>\n\
             int main(void) { printf(\"%f\", sin(1.0)); return 0; }\n";
    let cxx = "#include <bits/stdc++.h>\nint main() { std::cout << 1; }\n";
    for (cc, file, body) in [
        ("gcc", "c.c", c),
        ("clang", "c.c", c),
        ("g++", "x.cc", cxx),
        ("clang++", "x.cc", cxx),
    ] {
        let sb = sandbox("headers");
        source(&sb, file, body);
        age_past_the_guard(&sb);
        let args = format!("-c {file}");
        cmd(cc, &args).same_as_bare(&sb).miss();
        cmd(cc, &args).same_as_bare(&sb).hit();
    }
}

// ---------------------------------------------------------------------------
// Item 17: what changes while the compiler runs is never trusted, directories
// included.

/// A compiler that runs gcc and then, still inside the compile, creates a
/// header that would have shadowed the one gcc found.
const SHADOW_AFTER_GCC: &str = "#!/bin/sh\n/usr/bin/gcc \"$@\"; rc=$?\n\
    [ -e b/foo.h ] || printf '#define V 2\\n' > b/foo.h\nexit $rc\n";

#[test]
fn a_directory_changed_during_the_compile_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let sb = sandbox("dir-during");
    source(&sb, "a/foo.h", "#define V 1\n");
    source(&sb, "m.c", "#include <foo.h>\nint v = V;\n");
    std::fs::create_dir_all(sb.path("b")).unwrap();
    source(&sb, "bin/gcc", SHADOW_AFTER_GCC);
    std::fs::set_permissions(sb.path("bin/gcc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let gcc = sb.path("bin/gcc");
    let gcc = gcc.to_str().unwrap();
    age_past_the_guard(&sb);
    // The first compile sees no b/foo.h; it appears before the compile ends.
    let zc = cmd(gcc, "-Ib -Ia -c m.c").outs(&["m.o"]).run(&sb, true);
    ok(&zc.out);
    // b/foo.h was written as the compile ended: only its age may decide
    // whether the next compile is stored, and that must not be left to
    // how fast this machine runs the next command.
    age_past_the_guard(&sb);
    cmd(gcc, "-Ib -Ia -c m.c")
        .outs(&["m.o"])
        .same_as_bare(&sb)
        .miss();
    cmd(gcc, "-Ib -Ia -c m.c")
        .outs(&["m.o"])
        .same_as_bare(&sb)
        .hit();
}

/// A compiler that, the first time only, rewrites the specs file after the
/// cache hashed it and before gcc reads it (gcc's depfile does not list
/// specs files, so only the extra-input check sees it).
const REWRITE_SPECS_ONCE: &str = "#!/bin/sh\n[ -e done ] || \
    { printf '*cc1_options:\\n+ -DV=2\\n\\n' > sp; : > done; }\n\
    exec /usr/bin/gcc \"$@\"\n";

#[test]
fn an_extra_input_changed_during_the_compile_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let sb = sandbox("extra-during");
    let specs = "*cc1_options:\n+ -DV=1\n\n";
    source(&sb, "s.c", "int v = V;\n");
    source(&sb, "sp", specs);
    source(&sb, "bin/gcc", REWRITE_SPECS_ONCE);
    std::fs::set_permissions(sb.path("bin/gcc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let gcc = sb.path("bin/gcc");
    let gcc = gcc.to_str().unwrap();
    age_past_the_guard(&sb);
    ok(&cmd(gcc, "-specs=sp -c s.c").run(&sb, true).out);
    // The specs are back as the cache hashed them; the object must be
    // built from them.
    source(&sb, "sp", specs);
    age_past_the_guard(&sb);
    cmd(gcc, "-specs=sp -c s.c")
        .outs(&["s.o"])
        .same_as_bare(&sb)
        .miss();
    cmd(gcc, "-specs=sp -c s.c")
        .outs(&["s.o"])
        .same_as_bare(&sb)
        .hit();
}

// ---------------------------------------------------------------------------
// Item 13: a compiler that is a `#!` script runs what its environment picks.

#[test]
fn a_script_compiler_is_keyed_by_its_environment() {
    use std::os::unix::fs::PermissionsExt;
    let sb = sandbox("script-cc");
    let exe = |rel: &str, body: &str| {
        source(&sb, rel, body);
        std::fs::set_permissions(sb.path(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    source(&sb, "m.c", "int v = V;\n");
    // The compiler the build names: a script that runs `gcc` from PATH
    // with the flags in $EXTRA.
    exe("bin/gcc", "#!/bin/sh\nexec gcc $EXTRA \"$@\"\n");
    // Two gccs that PATH may find first.
    exe("p1/gcc", "#!/bin/sh\nexec /usr/bin/gcc -DV=1 \"$@\"\n");
    exe("p2/gcc", "#!/bin/sh\nexec /usr/bin/gcc -DV=2 \"$@\"\n");
    age_past_the_guard(&sb);
    let wrapper = sb.path("bin/gcc");
    let path = std::env::var("PATH").unwrap();
    let on_path = |dir: &str| format!("{}:{path}", sb.path(dir).display());
    for (first, extra) in [("p1", ""), ("p2", ""), ("p2", "-UV -DV=3")] {
        let run = || {
            cmd(wrapper.to_str().unwrap(), "-c m.c")
                .env("PATH", &on_path(first))
                .env("EXTRA", extra)
                .outs(&["m.o"])
        };
        run().same_as_bare(&sb).miss();
        run().same_as_bare(&sb).hit();
    }
}

// ---------------------------------------------------------------------------
// Item 15: the toolchain behind the driver (gcc's `as` and `cc1` as gcc finds
// them, clang's default configuration files).

/// An assembler that adds a symbol, so its objects differ from the real one's.
const DEFSYM_AS: &str = "#!/bin/sh\nexec /usr/bin/as --defsym ZZ_FAKE_AS=1 \"$@\"\n";

fn executable(sb: &Sandbox, rel: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    source(sb, rel, body);
    std::fs::set_permissions(sb.path(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_assembler_gcc_finds_is_keyed() {
    let sb = sandbox("gcc-as");
    source(&sb, "m.c", "int f(void) { return 1; }\n");
    std::fs::create_dir_all(sb.path("bdir")).unwrap();
    std::fs::create_dir_all(sb.path("cpath")).unwrap();
    executable(&sb, "fake/as", DEFSYM_AS);
    age_past_the_guard(&sb);
    let path = std::env::var("PATH").unwrap();
    let fake_first = format!("{}:{path}", sb.path("fake").display());
    let steps: [(&str, &[(&str, &str)]); 2] = [("", &[]), ("", &[("PATH", &fake_first)])];
    for (extra, env) in steps {
        let run = || {
            let mut c = cmd("gcc", &format!("-c m.c {extra}")).outs(&["m.o"]);
            for (k, v) in env {
                c = c.env(k, v);
            }
            c
        };
        run().same_as_bare(&sb).miss();
        run().same_as_bare(&sb).hit();
    }
    // An assembler that appears in a -B or COMPILER_PATH directory.
    let cpath = sb.path("cpath");
    let cpath = cpath.to_str().unwrap();
    for (args, dir, env) in [
        ("-c m.c -Bbdir/", "bdir", None),
        ("-c m.c", "cpath", Some(cpath)),
    ] {
        let run = || {
            let c = cmd("gcc", args).outs(&["m.o"]);
            match env {
                Some(v) => c.env("COMPILER_PATH", v),
                None => c,
            }
        };
        run().same_as_bare(&sb).miss();
        run().same_as_bare(&sb).hit();
        executable(&sb, &format!("{dir}/as"), DEFSYM_AS);
        age_past_the_guard(&sb);
        run().same_as_bare(&sb).miss();
        run().same_as_bare(&sb).hit();
    }
}

#[test]
fn clang_default_config_files_are_keyed() {
    let sb = sandbox("clang-cfg");
    source(
        &sb,
        "m.c",
        "#ifdef CFGDEF\nint v = CFGDEF;\n#else\nint v;\n#endif\n",
    );
    for dir in ["cb1", "cb2"] {
        std::fs::create_dir_all(sb.path(dir)).unwrap();
        std::fs::copy(
            "/usr/lib/llvm-16/bin/clang",
            sb.path(&format!("{dir}/clang")),
        )
        .unwrap();
    }
    source(&sb, "cb2/clang.cfg", "-DCFGDEF=42\n");
    age_past_the_guard(&sb);
    let cb1 = sb.path("cb1/clang");
    let cb2 = sb.path("cb2/clang");
    for clang in [&cb1, &cb2] {
        let run = || cmd(clang.to_str().unwrap(), "-c m.c").outs(&["m.o"]);
        run().same_as_bare(&sb).miss();
        run().same_as_bare(&sb).hit();
    }
    // A configuration file that appears beside the first binary.
    source(&sb, "cb1/x86_64-pc-linux-gnu-clang.cfg", "-DCFGDEF=7\n");
    age_past_the_guard(&sb);
    let run = || cmd(cb1.to_str().unwrap(), "-c m.c").outs(&["m.o"]);
    run().same_as_bare(&sb).miss();
    run().same_as_bare(&sb).hit();
    let off = || run().env("CLANG_NO_DEFAULT_CONFIG", "1");
    off().same_as_bare(&sb).miss();
    off().same_as_bare(&sb).hit();
}

// ---------------------------------------------------------------------------
// Items 1 and 14: headers appearing where a directory's mtime does not show
// it. Each compile runs bare and cached; the one after the change must miss.

/// Compiles `m.c` with `args`: a miss, then a hit; then `change` makes a
/// header appear that the compiler now finds first: a miss, equal to bare.
fn appears_unseen(name: &str, args: &str, setup: impl Fn(&Sandbox), change: impl Fn(&Sandbox)) {
    for cc in compilers() {
        let sb = sandbox(&format!("{name}-{cc}"));
        setup(&sb);
        source(&sb, "m.c", "#include <nx.h>\nint v = V;\n");
        let c = cmd(cc, args).outs(&["m.o"]);
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();
        change(&sb);
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();
    }
}

#[test]
fn a_dangling_symlink_whose_target_appears_is_seen() {
    // Item 1: `a/nx.h` → `../gen/nx.h` (absent) comes first; `b/nx.h` is
    // found. Creating `gen/nx.h` changes neither `a` nor `b`.
    appears_unseen(
        "dangling",
        "-Ia -Ib -c m.c",
        |sb| {
            source(sb, "b/nx.h", "#define V 1\n");
            std::fs::create_dir_all(sb.path("a")).unwrap();
            std::os::unix::fs::symlink("../gen/nx.h", sb.path("a/nx.h")).unwrap();
            std::fs::create_dir_all(sb.path("gen")).unwrap();
        },
        |sb| source(sb, "gen/nx.h", "#define V 2\n"),
    );
    // A dangling directory link on the way: `a/sub` → `../gen/sub`.
    appears_unseen(
        "dangldir",
        "-Ia -Ib -c m.c -include sub/nx.h",
        |sb| {
            source(sb, "b/nx.h", "#define V 1\n");
            source(sb, "b/sub/nx.h", "#define W 1\n");
            std::fs::create_dir_all(sb.path("a")).unwrap();
            std::os::unix::fs::symlink("../gen/sub", sb.path("a/sub")).unwrap();
            std::fs::create_dir_all(sb.path("gen")).unwrap();
        },
        |sb| source(sb, "gen/sub/nx.h", "#define W 2\nint w = W;\n"),
    );
}

#[test]
fn a_header_appearing_in_an_existing_subdirectory_is_seen() {
    // Item 14: `#include <sub/nx.h>` (here through `-include`) is found in
    // `a/sub`; `b/sub` exists and is empty, and a file created in it does
    // not change `b`'s mtime.
    appears_unseen(
        "subdir",
        "-Ib -Ia -c m.c -include sub/nx.h",
        |sb| {
            source(sb, "a/nx.h", "#define V 1\n");
            source(sb, "a/sub/nx.h", "int w = 1;\n");
            std::fs::create_dir_all(sb.path("b/sub/deeper")).unwrap();
            source(sb, "b/nx.h", "#define V 3\n");
        },
        |sb| source(sb, "b/sub/nx.h", "int w = 2;\n"),
    );
    // Two levels down: `sub/deeper/x.h`, with only `b/sub/deeper` existing.
    appears_unseen(
        "deeper",
        "-Ib -Ia -c m.c -include sub/deeper/x.h",
        |sb| {
            source(sb, "b/nx.h", "#define V 1\n");
            source(sb, "a/sub/deeper/x.h", "int w = 1;\n");
            std::fs::create_dir_all(sb.path("b/sub/deeper")).unwrap();
        },
        |sb| source(sb, "b/sub/deeper/x.h", "int w = 2;\n"),
    );
}

// ---------------------------------------------------------------------------
// Item 6 and its siblings: directories the environment and the compiler's
// built-in chain add, watched like the command line's.

#[test]
fn include_path_environment_directories_are_watched() {
    for cc in compilers() {
        // `CPATH=cp` sits after `-I` and before `-isystem sys`.
        let sb = sandbox(&format!("cpath-{cc}"));
        source(&sb, "sys/nx.h", "#define V 1\n");
        std::fs::create_dir_all(sb.path("cp")).unwrap();
        source(&sb, "m.c", "#include <nx.h>\nint v = V;\n");
        let c = cmd(cc, "-isystem sys -c m.c")
            .env("CPATH", "cp")
            .outs(&["m.o"]);
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();
        source(&sb, "cp/nx.h", "#define V 2\n");
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();

        // `C_INCLUDE_PATH=cip` comes before the built-in directories: a new
        // `cip/stddef.h` that `#include_next`s the real one shadows it.
        let sb = sandbox(&format!("cip-{cc}"));
        std::fs::create_dir_all(sb.path("cip")).unwrap();
        source(
            &sb,
            "m.c",
            "#include <stddef.h>\n#ifdef EXTRA\nint extra;\n#endif\nsize_t n;\n",
        );
        let c = cmd(cc, "-c m.c")
            .env("C_INCLUDE_PATH", "cip")
            .outs(&["m.o"]);
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();
        source(
            &sb,
            "cip/stddef.h",
            "#include_next <stddef.h>\n#define EXTRA 1\n",
        );
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();

        // An empty element is the current directory.
        let sb = sandbox(&format!("cpempty-{cc}"));
        source(&sb, "sys/nx.h", "#define V 1\n");
        std::fs::create_dir_all(sb.path("src")).unwrap();
        source(&sb, "src/m.c", "#include <nx.h>\nint v = V;\n");
        let c = cmd(cc, "-isystem sys -c src/m.c -o m.o")
            .env("CPATH", ":")
            .outs(&["m.o"]);
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();
        source(&sb, "nx.h", "#define V 2\n");
        c.same_as_bare(&sb).miss();
    }
}

#[test]
fn the_compilers_built_in_directories_are_watched() {
    // With `--sysroot=sr`, the built-in chain is `sr/usr/local/include`
    // (absent at first, so the compiler reports it as nonexistent) before
    // `sr/usr/include`, as the compiler itself prints it for `-E -v`.
    appears_unseen(
        "sysroot",
        "--sysroot=sr -c m.c",
        |sb| source(sb, "sr/usr/include/nx.h", "#define V 1\n"),
        |sb| source(sb, "sr/usr/local/include/nx.h", "#define V 2\n"),
    );
}

#[test]
fn a_forced_include_appearing_in_the_cwd_is_seen() {
    // `-include x.h` is looked for in the cwd before the `"…"` chain; the
    // source lives elsewhere, so the cwd is no directory of the chain. (The
    // path as spelled is an extra input keyed absent, which covers it.)
    for cc in compilers() {
        let sb = sandbox(&format!("forced-{cc}"));
        source(&sb, "inc/x.h", "#define V 1\n");
        source(&sb, "src/m.c", "int v = V;\n");
        let c = cmd(cc, "-Iinc -include x.h -c src/m.c -o m.o").outs(&["m.o"]);
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();
        source(&sb, "x.h", "#define V 2\n");
        c.same_as_bare(&sb).miss();
        c.same_as_bare(&sb).hit();
    }
}

// ---------------------------------------------------------------------------
// Item 9: a caller on a terminal sees what the compiler would have shown it
// there: caret lines narrowed to its width, colour and URLs as it decides.

/// A warning on a source line far wider than a narrow terminal.
fn wide_warning() -> String {
    format!(
        "int f(void) {{ return 0; }}{}int g(void) {{ int unused_variable = 0; return 0; }}\n",
        " ".repeat(100)
    )
}

/// One terminal session (util-linux `script`) `cols` wide whose stdin,
/// stdout and stderr are the terminal: runs each of `cmds` in turn and
/// returns, per command, the bytes the terminal received, ended by its exit
/// code. `env` joins the sandbox's environment; the variables that steer
/// colour, URLs and width are otherwise unset.
fn on_terminal(sb: &Sandbox, cols: u32, env: &[(&str, &str)], cmds: &[String]) -> Vec<Vec<u8>> {
    const MARK: &str = "@@zccache-test-exit:";
    let mut session = format!("stty cols {cols}");
    for c in cmds {
        session.push_str(&format!("; {c}; echo {MARK}$?"));
    }
    let mut c = sb.cmd("script");
    c.args(["-qec", &session, "/dev/null"])
        .env("SHELL", "/bin/sh");
    for var in [
        "TERM",
        "COLORTERM",
        "COLUMNS",
        "TERMINFO",
        "TERMINFO_DIRS",
        "LANG",
        "GCC_COLORS",
        "GCC_URLS",
        "TERM_URLS",
        "ZCCACHE_LOG",
    ] {
        c.env_remove(var);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run script");
    assert!(out.status.success(), "script failed: {out:?}");
    let parts = split_marked(&out.stdout, MARK);
    assert_eq!(
        parts.len(),
        cmds.len(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    parts
}

/// `out` cut after each line that starts with `mark`.
fn split_marked(out: &[u8], mark: &str) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = out;
    while let Some(at) = rest.windows(mark.len()).position(|w| w == mark.as_bytes()) {
        let end = rest[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |n| at + n + 1);
        parts.push(rest[..end].to_vec());
        rest = &rest[end..];
    }
    parts
}

/// `cc args` as a shell command, bare or through zccache.
fn shell(cc: &str, args: &str, cached: bool) -> String {
    if cached {
        format!("{} {cc} {args}", zccache_bin().display())
    } else {
        format!("{cc} {args}")
    }
}

#[track_caller]
fn same_bytes(what: &str, zc: &[u8], bare: &[u8]) {
    assert_eq!(
        String::from_utf8_lossy(zc),
        String::from_utf8_lossy(bare),
        "{what}: the terminal got other bytes than from the bare compiler"
    );
}

/// How each compiler is narrowed: gcc takes the width of fd 0 (the
/// terminal), clang only `COLUMNS`.
fn narrowing(cc: &str, cols: u32) -> Vec<(&'static str, String)> {
    let mut env = vec![("TERM", "xterm-256color".to_owned())];
    if cc != "gcc" {
        env.push(("COLUMNS", cols.to_string()));
    }
    env
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn a_terminal_caller_sees_what_the_compiler_would_show() {
    for cc in compilers() {
        let sb = sandbox("tty-narrow");
        source(&sb, "w.c", &wide_warning());
        let args = "-Wall -c w.c -o w.o";
        let env = narrowing(cc, 40);
        let before = Counts::of(&sb);
        let got = on_terminal(
            &sb,
            40,
            &env_refs(&env),
            &[
                shell(cc, args, false),
                shell(cc, args, true),
                shell(cc, args, true),
            ],
        );
        let delta = Counts::of(&sb).since(&before);
        assert!(
            !contains(&got[0], b"int f(void)") && contains(&got[0], b"\x1b["),
            "{cc}: bare is not narrowed and coloured: {}",
            String::from_utf8_lossy(&got[0])
        );
        same_bytes(&format!("{cc} miss"), &got[1], &got[0]);
        same_bytes(&format!("{cc} hit"), &got[2], &got[0]);
        assert_eq!((delta.misses, delta.hits), (1, 1), "{cc}: {delta:?}");
    }
}

#[test]
fn gcc_diagnostic_urls_on_a_terminal_are_what_gcc_would_show() {
    let sb = sandbox("tty-urls");
    source(&sb, "w.c", &wide_warning());
    let args = "-Wall -fdiagnostics-urls=auto -c w.c -o w.o";
    let before = Counts::of(&sb);
    let got = on_terminal(
        &sb,
        80,
        &[("TERM", "xterm-256color")],
        &[
            shell("gcc", args, false),
            shell("gcc", args, true),
            shell("gcc", args, true),
        ],
    );
    let delta = Counts::of(&sb).since(&before);
    assert!(
        contains(&got[0], b"\x1b]8;;"),
        "bare gcc printed no URL: {}",
        String::from_utf8_lossy(&got[0])
    );
    same_bytes("miss", &got[1], &got[0]);
    same_bytes("hit", &got[2], &got[0]);
    assert_eq!((delta.misses, delta.hits), (1, 1), "{delta:?}");
}

#[test]
fn a_hit_stored_at_one_width_is_not_served_at_another() {
    for cc in compilers() {
        let sb = sandbox("tty-width");
        source(&sb, "w.c", &wide_warning());
        let args = "-Wall -c w.c -o w.o";
        let run = |cols: u32| {
            let before = Counts::of(&sb);
            let env = narrowing(cc, cols);
            let mut got = on_terminal(
                &sb,
                cols,
                &env_refs(&env),
                &[shell(cc, args, false), shell(cc, args, true)],
            );
            let delta = Counts::of(&sb).since(&before);
            same_bytes(&format!("{cc} at {cols} columns"), &got[1], &got[0]);
            (got.swap_remove(0), delta)
        };
        let (narrow, first) = run(40);
        first.miss();
        let (wide, second) = run(100);
        assert_ne!(narrow, wide, "{cc}: the width made no difference");
        second.miss();
        run(40).1.hit();
        run(100).1.hit();
    }
}

#[test]
fn without_a_pty_a_terminal_caller_gets_the_bare_compile_and_nothing_is_stored() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: hiding /dev/ptmx needs root");
        return;
    }
    // /dev/ptmx hidden in a mount namespace of its own, where the daemon
    // must live too (it passes a wrapper of another namespace through):
    // so the daemon is started inside it, by the first compile.
    let sb = Sandbox::new("tty-nopty");
    source(&sb, "w.c", &wide_warning());
    let args = "-Wall -c w.c -o w.o";
    let inner = [
        shell("gcc", args, false),
        shell("gcc", args, true),
        shell("gcc", args, true),
    ]
    .map(|c| format!("{c}; echo @@inner-exit:$?"))
    .join("; ");
    let session = format!("unshare -m sh -c 'mount --bind /dev/null /dev/ptmx && {inner}'");
    let got = on_terminal(&sb, 40, &[("TERM", "xterm-256color")], &[session]);
    let parts = split_marked(&got[0], "@@inner-exit:");
    assert_eq!(parts.len(), 3, "{}", String::from_utf8_lossy(&got[0]));
    assert!(
        !contains(&parts[0], b"int f(void)"),
        "bare is not narrowed: {}",
        String::from_utf8_lossy(&parts[0])
    );
    same_bytes("first", &parts[1], &parts[0]);
    same_bytes("second", &parts[2], &parts[0]);
    let s = sb.status();
    assert_eq!(
        (s["hits"].as_u64(), s["misses"].as_u64()),
        (Some(0), Some(2)),
        "nothing may be stored: {s}"
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_terminal_resized_during_the_compile_stores_nothing() {
    let sb = sandbox("tty-resize");
    source(&sb, "w.c", &wide_warning());
    // A compiler that widens the caller's terminal (its stdin) and then
    // compiles: the bytes fit 60 columns while the key was taken at 40.
    executable(
        &sb,
        "bin/gcc",
        "#!/bin/sh\nstty cols 60\nexec /usr/bin/gcc \"$@\"\n",
    );
    age_past_the_guard(&sb);
    let cc = sb.path("bin/gcc");
    let cc = cc.to_str().unwrap();
    let args = "-Wall -c w.c -o w.o";
    let at_40 = |c: String| format!("stty cols 40; {c}");
    let before = Counts::of(&sb);
    let got = on_terminal(
        &sb,
        40,
        &[("TERM", "xterm-256color")],
        &[
            at_40(shell(cc, args, false)),
            at_40(shell(cc, args, true)),
            at_40(shell(cc, args, true)),
        ],
    );
    let delta = Counts::of(&sb).since(&before);
    same_bytes("first", &got[1], &got[0]);
    same_bytes("second", &got[2], &got[0]);
    assert_eq!((delta.misses, delta.hits), (2, 0), "{delta:?}");
}

#[test]
fn terminal_variables_are_keyed_on_a_terminal() {
    // gcc's URLs follow TERM and COLORTERM; gcc's and clang's colour TERM.
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, &[Env]); 2] = [
        (
            "gcc",
            &[
                &[("TERM", "xterm")],
                &[("TERM", "xterm"), ("COLORTERM", "truecolor")],
                &[("TERM", "dumb")],
            ],
        ),
        ("clang", &[&[("TERM", "xterm")], &[("TERM", "dumb")]]),
    ];
    for (cc, envs) in cases {
        let sb = sandbox("tty-vars");
        source(&sb, "w.c", &wide_warning());
        let args = "-Wall -fdiagnostics-urls=auto -c w.c -o w.o";
        let args = if cc == "gcc" {
            args
        } else {
            "-Wall -c w.c -o w.o"
        };
        let mut seen = Vec::new();
        for env in envs {
            let before = Counts::of(&sb);
            let got = on_terminal(
                &sb,
                80,
                env,
                &[
                    shell(cc, args, false),
                    shell(cc, args, true),
                    shell(cc, args, true),
                ],
            );
            let delta = Counts::of(&sb).since(&before);
            same_bytes(&format!("{cc} {env:?} miss"), &got[1], &got[0]);
            same_bytes(&format!("{cc} {env:?} hit"), &got[2], &got[0]);
            assert_eq!(
                (delta.misses, delta.hits),
                (1, 1),
                "{cc} {env:?}: {delta:?}"
            );
            assert!(!seen.contains(&got[0]), "{cc} {env:?} made no difference");
            seen.push(got[0].clone());
        }
    }
}

// ---------------------------------------------------------------------------
// Issue 12 item 1: a terminal caller and a pipe caller (an IDE, a CI log,
// `make | tee`) share what is the same bytes for both, in either order.

/// One compile on a terminal 80 columns wide, bare then through zccache:
/// the terminal must get the same bytes and the object must be the bare
/// compile's. The counters' change over the zccache run.
fn on_terminal_same_as_bare(sb: &Sandbox, cc: &str, args: &str, object: &str) -> Delta {
    let before = Counts::of(sb);
    let got = on_terminal(
        sb,
        80,
        &[("TERM", "xterm-256color")],
        &[
            shell(cc, args, false),
            format!("mv {object} bare-{object}"),
            shell(cc, args, true),
        ],
    );
    let delta = Counts::of(sb).since(&before);
    same_bytes(&format!("{cc} on a terminal"), &got[2], &got[0]);
    assert!(
        sb.read(object) == sb.read(&format!("bare-{object}")),
        "{cc}: the object differs from bare on a terminal"
    );
    delta
}

/// The same compile from a pipe, in a terminal's environment.
fn from_a_pipe<'a>(cc: &'a str, args: &str, object: &str) -> Cmd<'a> {
    cmd(cc, args).env("TERM", "xterm-256color").outs(&[object])
}

#[test]
fn terminal_and_pipe_callers_share_a_compile_without_diagnostics() {
    for cc in compilers() {
        for terminal_first in [true, false] {
            let sb = sandbox("tty-share");
            source(&sb, "c.c", "int f(void) { return 0; }\n");
            // The object records the command line: the terminal leaves no
            // trace in it either.
            let args = if cc == "gcc" {
                "-Wall -g -frecord-gcc-switches -c c.c -o c.o"
            } else {
                "-Wall -g -grecord-command-line -c c.c -o c.o"
            };
            let what = format!("{cc}, terminal first: {terminal_first}");
            if terminal_first {
                let first = on_terminal_same_as_bare(&sb, cc, args, "c.o");
                assert_eq!((first.misses, first.hits), (1, 0), "{what}: {first:?}");
                let second = from_a_pipe(cc, args, "c.o").same_as_bare(&sb);
                assert_eq!((second.misses, second.hits), (0, 1), "{what}: {second:?}");
            } else {
                let first = from_a_pipe(cc, args, "c.o").same_as_bare(&sb);
                assert_eq!((first.misses, first.hits), (1, 0), "{what}: {first:?}");
                let second = on_terminal_same_as_bare(&sb, cc, args, "c.o");
                assert_eq!((second.misses, second.hits), (0, 1), "{what}: {second:?}");
            }
        }
    }
}

/// With a diagnostic the terminal's bytes are not the pipe's with colour
/// stripped (gcc narrows caret lines to the terminal, clang wraps at
/// `COLUMNS`, gcc's URLs follow `TERM`): each form keeps its own entry and
/// neither is served the other's, in either order.
#[test]
fn a_compile_with_diagnostics_keeps_an_entry_per_form() {
    for cc in compilers() {
        for terminal_first in [true, false] {
            let sb = sandbox("tty-apart");
            source(&sb, "w.c", &wide_warning());
            let args = "-Wall -c w.c -o w.o";
            let what = format!("{cc}, terminal first: {terminal_first}");
            let terminal = || on_terminal_same_as_bare(&sb, cc, args, "w.o");
            let pipe = || from_a_pipe(cc, args, "w.o").same_as_bare(&sb);
            let (a, b) = if terminal_first {
                (terminal(), pipe())
            } else {
                (pipe(), terminal())
            };
            assert_eq!(
                [(a.misses, a.hits), (b.misses, b.hits)],
                [(1, 0), (1, 0)],
                "{what}: each form is compiled once"
            );
            let (a, b) = (terminal(), pipe());
            assert_eq!(
                [(a.misses, a.hits), (b.misses, b.hits)],
                [(0, 1), (0, 1)],
                "{what}: then each is served its own"
            );
        }
    }
}
