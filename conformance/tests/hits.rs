//! Every hit ccache gets (issue 12): compiles that used to miss or pass through and are now served, each checked byte for byte against the plain compiler. It does not test what must stay a miss (divergence does).

use conformance::{ok, Sandbox};
use serde_json::Value;

fn status(sb: &Sandbox) -> Value {
    let out = sb.zccache(["status", "--json"]);
    serde_json::from_slice(&ok(&out).stdout).expect("JSON")
}

/// `compiler args…` through zccache and plainly: same exit code, streams
/// and object `obj`; returns the zccache hits after it.
fn same_as_plain(sb: &Sandbox, compiler: &str, args: &[&str], obj: &str) -> u64 {
    same_files_as_plain(sb, compiler, args, &[obj])
}

/// [`same_as_plain`] over every file in `files` (the object and each extra
/// output): each is removed before either run and must end byte-equal.
fn same_files_as_plain(sb: &Sandbox, compiler: &str, args: &[&str], files: &[&str]) -> u64 {
    let (cached, plain) = cached_and_plain(sb, compiler, args, files);
    assert_eq!(cached.stdout, plain.stdout, "stdout of {args:?}");
    status(sb)["hits"].as_u64().unwrap()
}

/// Runs `compiler args…` through zccache, then plainly, each after removing
/// `files`; asserts the exit codes, stderr and `files` equal and returns
/// both outputs for the caller to compare stdout.
pub(crate) fn cached_and_plain(
    sb: &Sandbox,
    compiler: &str,
    args: &[&str],
    files: &[&str],
) -> (std::process::Output, std::process::Output) {
    let read_all = || -> Vec<Option<Vec<u8>>> {
        files
            .iter()
            .map(|f| std::fs::read(sb.path(f)).ok())
            .collect()
    };
    let remove_all = || {
        for f in files {
            let _ = std::fs::remove_file(sb.path(f));
        }
    };
    remove_all();
    let cached = sb.zccache(std::iter::once(compiler).chain(args.iter().copied()));
    let cached_files = read_all();
    remove_all();
    let plain = sb.bare(compiler, args);
    let plain_files = read_all();
    assert_eq!(
        cached.status.code(),
        plain.status.code(),
        "exit code of {args:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&cached.stderr),
        String::from_utf8_lossy(&plain.stderr),
        "stderr of {args:?}"
    );
    for ((file, c), p) in files.iter().zip(cached_files).zip(plain_files) {
        assert!(p.is_some(), "the compiler writes {file} for {args:?}");
        assert_eq!(c, p, "{file} of {args:?}");
    }
    (cached, plain)
}

/// Each shape twice, both byte-equal to the plain compiler: the second is a
/// hit (the first may be one too when an earlier shape has its key: `-MT`
/// only renames the depfile's target).
fn second_is_a_hit(sb: &Sandbox, compiler: &str, shapes: &[(&[&str], &[&str])]) {
    for (args, files) in shapes {
        let after_first = same_files_as_plain(sb, compiler, args, files);
        assert_eq!(
            same_files_as_plain(sb, compiler, args, files),
            after_first + 1,
            "{compiler} {args:?}: the second is a hit"
        );
    }
}

#[test]
fn a_cpp_member_named_incbin_is_no_embed() {
    let sb = Sandbox::new("incbin-mem");
    sb.write(
        "m.cc",
        "struct R { int incbin(int n) { return n; } };\n\
         int f(R &r) { return r.incbin(4) + R().incbin (1); }\n",
    );
    let args = ["-c", "m.cc", "-o", "m.o"];
    assert_eq!(same_as_plain(&sb, "g++", &args, "m.o"), 0);
    assert_eq!(
        same_as_plain(&sb, "g++", &args, "m.o"),
        1,
        "the second is a hit"
    );
}

#[test]
fn an_entry_stored_without_a_depfile_is_replaced_by_one_with_it() {
    let sb = Sandbox::new("devnull-mf");
    sb.write("b.c", "#include \"h.h\"\nint f(void) { return H; }\n");
    sb.write("h.h", "#define H 1\n");
    let to_null = ["-c", "b.c", "-o", "b.o", "-MD", "-MF", "/dev/null"];
    let to_file = ["-c", "b.c", "-o", "b.o", "-MD", "-MF", "b.d"];
    same_as_plain(&sb, "gcc", &to_null, "b.o");
    same_as_plain(&sb, "gcc", &to_file, "b.d");
    let hits = same_as_plain(&sb, "gcc", &to_file, "b.d");
    assert_eq!(hits, 1, "the depfile compile is served the second time");
    assert_eq!(
        same_as_plain(&sb, "gcc", &to_null, "b.o"),
        2,
        "and so is /dev/null"
    );
}

#[test]
fn two_epochs_of_one_day_share_a_date_only_entry() {
    let sb = Sandbox::new("sde-day");
    sb.write("d.c", "const char *d = __DATE__;\n");
    let day = 86_400 * 20_000;
    let compile = |sde: u64| {
        let _ = std::fs::remove_file(sb.path("d.o"));
        let run = |cached: bool| {
            let mut c = if cached {
                let mut c = sb.cmd(conformance::zccache_bin());
                c.arg("gcc");
                c
            } else {
                sb.cmd("gcc")
            };
            let out = c
                .args(["-c", "d.c", "-o", "d.o"])
                .env("SOURCE_DATE_EPOCH", sde.to_string())
                .output()
                .unwrap();
            ok(&out);
            sb.read("d.o")
        };
        let cached = run(true);
        assert_eq!(cached, run(false), "SOURCE_DATE_EPOCH={sde}");
        status(&sb)["hits"].as_u64().unwrap()
    };
    assert_eq!(compile(day + 100), 0);
    assert_eq!(compile(day + 50_000), 1, "the same day: a hit");
    assert_eq!(compile(day + 86_400), 1, "the next day: a miss");
}

const SOURCE: &str = "#include \"h.h\"\nint f(int x) { int a[H]; a[0] = x; return a[0] * 2; }\nint main(void) { return f(1); }\n";

fn with_source(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.write("t.c", SOURCE);
    sb.write("src/a.c", SOURCE);
    sb.write("h.h", "#define H 4\n");
    sb.write("src/h.h", "#define H 5\n");
    std::fs::create_dir_all(sb.path("dir")).unwrap();
    sb
}

/// The temporary file GNU as reads (`/tmp/ccXXXXXX.s`), which a listing
/// without `n` names in its page headers and symbol table, differs on every
/// plain run too: each is replaced by `<temp>`.
fn without_temp_names(listing: &[u8]) -> String {
    let text = String::from_utf8_lossy(listing);
    let mut out = String::new();
    let mut rest: &str = &text;
    while let Some(at) = rest.find("/tmp/cc") {
        out.push_str(&rest[..at]);
        let name = &rest[at..];
        match name.get(13..15) {
            Some(".s") => {
                out.push_str("<temp>");
                rest = &name[15..];
            }
            _ => {
                out.push_str("/tmp/cc");
                rest = &name[7..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn an_assembler_listing_on_stdout_is_served() {
    let sb = with_source("lst-stdout");
    let args = ["-g", "-c", "t.c", "-o", "t.o", "-Wa,-a"];
    for round in 0..2 {
        let (cached, plain) = cached_and_plain(&sb, "gcc", &args, &["t.o"]);
        assert!(
            String::from_utf8_lossy(&plain.stdout).contains("GAS LISTING"),
            "the listing is on stdout"
        );
        assert_eq!(
            without_temp_names(&cached.stdout),
            without_temp_names(&plain.stdout),
            "the listing, but for the temporary file name"
        );
        assert_eq!(status(&sb)["hits"].as_u64().unwrap(), round);
    }
    // Without page headers (`n`) the listing is byte-equal.
    second_is_a_hit(
        &sb,
        "gcc",
        &[(&["-c", "t.c", "-o", "t.o", "-Wa,-anl"], &["t.o"])],
    );
}

#[test]
fn an_assembler_listing_file_is_an_extra_output() {
    let sb = with_source("lst-file");
    second_is_a_hit(
        &sb,
        "gcc",
        &[
            (
                &["-g", "-c", "t.c", "-o", "t.o", "-Wa,-adhln=t.lst"],
                &["t.o", "t.lst"],
            ),
            (
                &[
                    "-c",
                    "src/a.c",
                    "-o",
                    "dir/a.o",
                    "-Wa,--noexecstack,-aln=dir/a.lst",
                ],
                &["dir/a.o", "dir/a.lst"],
            ),
            (
                &["-g", "-c", "t.c", "-o", "t.o", "-Xassembler", "-ahln=x.lst"],
                &["t.o", "x.lst"],
            ),
        ],
    );
    // With `h` the listing quotes the source, which is keyed: an edit that
    // keeps the object makes it miss, and the listing follows.
    assert!(String::from_utf8_lossy(&sb.read("t.lst")).contains("return a[0] * 2;"));
    let hits = status(&sb)["hits"].as_u64().unwrap();
    sb.write("t.c", SOURCE.replace("* 2;", "* 2; "));
    let args = ["-g", "-c", "t.c", "-o", "t.o", "-Wa,-adhln=t.lst"];
    assert_eq!(
        same_files_as_plain(&sb, "gcc", &args, &["t.o", "t.lst"]),
        hits
    );
}

#[test]
fn wp_p_is_served() {
    let sb = with_source("wp-p");
    second_is_a_hit(
        &sb,
        "gcc",
        &[(&["-c", "t.c", "-o", "t.o", "-Wp,-P"], &["t.o"])],
    );
}

#[test]
fn wp_depfiles_are_served_as_the_compiler_writes_them() {
    let sb = with_source("wp-md");
    for compiler in ["gcc", "clang"] {
        let shapes: Vec<(Vec<&str>, Vec<&str>)> = [
            (vec!["-Wp,-MD,dir/w.d"], "dir/w.d"),
            (vec!["-Wp,-MMD,w.d"], "w.d"),
            (vec!["-Wp,-MD,w.d", "-MT", "tgt"], "w.d"),
            (vec!["-Wp,-MMD,dir/w.d", "-MT", "tgt"], "dir/w.d"),
            (vec!["-Wp,-MD,w.d", "-MQ", "a$b"], "w.d"),
            (vec!["-Wp,-MMD,w.d", "-MQ", "q", "-MT", "t"], "w.d"),
        ]
        .into_iter()
        .map(|(flags, depfile)| {
            let mut args = vec!["-c", "src/a.c", "-o", "dir/w.o"];
            args.extend(flags);
            (args, vec!["dir/w.o", depfile])
        })
        .collect();
        let shapes: Vec<(&[&str], &[&str])> = shapes
            .iter()
            .map(|(a, f)| (a.as_slice(), f.as_slice()))
            .collect();
        second_is_a_hit(&sb, compiler, &shapes);
    }
}

#[test]
fn stack_usage_is_served_beside_the_object() {
    let sb = with_source("stack-use");
    for compiler in ["gcc", "clang"] {
        second_is_a_hit(
            &sb,
            compiler,
            &[
                (
                    &["-c", "src/a.c", "-o", "dir/x.o", "-fstack-usage"],
                    &["dir/x.o", "dir/x.su"],
                ),
                (&["-c", "src/a.c", "-fstack-usage"], &["a.o", "a.su"]),
                (
                    &["-S", "t.c", "-o", "dir/t.s", "-fstack-usage"],
                    &["dir/t.s", "dir/t.su"],
                ),
            ],
        );
    }
}

#[test]
fn dev_null_as_the_source_is_served() {
    let sb = with_source("devnull-src");
    for compiler in ["gcc", "clang"] {
        second_is_a_hit(
            &sb,
            compiler,
            &[
                (&["-x", "c", "-c", "/dev/null", "-o", "e.o"], &["e.o"]),
                (&["-x", "c", "-c", "/dev/null"], &["null.o"]),
                (
                    &["-x", "c", "-c", "/dev/null", "-o", "e.o", "-MD"],
                    &["e.o", "e.d"],
                ),
            ],
        );
    }
}

/// A copy of `from` at `bin/name` in the sandbox that runs like the
/// original: gcc finds `cc1` relative to itself, so its `lib/gcc` is
/// linked beside the copy.
fn copy_of(sb: &Sandbox, from: &str, name: &str) -> String {
    let bin = sb.path("tc/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let lib = sb.path("tc/lib");
    if !lib.exists() {
        std::os::unix::fs::symlink("/usr/lib", &lib).unwrap();
    }
    let from = conformance::which(from).expect("installed");
    let to = bin.join(name);
    std::fs::copy(&from, &to).unwrap();
    to.display().to_string()
}

#[test]
fn compilers_named_otherwise_are_identified_by_probing() {
    let sb = with_source("probe-cc");
    // Valid C++, invalid C: a copy of g++ compiles `.c` as C++.
    sb.write(
        "x.c",
        "template <class T> T id(T x) { return x; }\nint g() { return id(3); }\n",
    );
    let mycc = copy_of(&sb, "gcc-12", "mycc");
    let mycxx = copy_of(&sb, "g++-12", "mycxx");
    let myclang = copy_of(&sb, "clang-16", "myclang");
    let c: &[(&[&str], &[&str])] = &[(&["-c", "t.c", "-o", "t.o", "-MD"], &["t.o", "t.d"])];
    for compiler in ["cc", "x86_64-linux-gnu-gcc-12", "clang-16", &mycc, &myclang] {
        second_is_a_hit(&sb, compiler, c);
    }
    for compiler in ["c++", &mycxx] {
        second_is_a_hit(
            &sb,
            compiler,
            &[(&["-c", "x.c", "-o", "x.o", "-MD"], &["x.o", "x.d"])],
        );
    }
    assert_eq!(status(&sb)["passthrough"].as_u64().unwrap(), 0);
    // A call no driver would cache passes through for its own reason, as
    // with a compiler known by name, without asking an unknown one.
    let myother = copy_of(&sb, "gcc-12", "myother");
    same_as_plain(&sb, &myother, &["t.o", "-o", "prog"], "prog");
    let s = status(&sb);
    assert_eq!(s["passthrough_reasons"]["called_for_link"], 1, "{s}");
}

#[test]
fn a_script_not_named_after_its_compiler_passes_through() {
    let sb = with_source("probe-sh");
    sb.write("compiler.sh", "#!/bin/sh\nexec gcc \"$@\"\n");
    std::fs::set_permissions(
        sb.path("compiler.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let script = sb.path("compiler.sh").display().to_string();
    let args = ["-c", "t.c", "-o", "t.o"];
    same_as_plain(&sb, &script, &args, "t.o");
    same_as_plain(&sb, &script, &args, "t.o");
    let s = status(&sb);
    assert_eq!(s["passthrough_reasons"]["unsupported_compiler"], 2, "{s}");
}

/// A program whose hot call depends on its argument count, so that the
/// profile of a run changes the optimized object (block placement).
const BRANCHY: &str = "volatile int sink;\n\
    __attribute__((noinline)) void one(int i) { sink += i; }\n\
    __attribute__((noinline)) void two(int i) { sink -= i; }\n\
    int work(int n) {\n  for (int i = 0; i < 100000; i++) {\n    if (n > 2) one(i); else two(i);\n  }\n  return sink;\n}\n\
    int main(int argc, char **argv) { (void)argv; return work(argc) & 1; }\n";

/// Builds `dir/p.o` instrumented into profile directory `prof` (gcc
/// `-fprofile-generate=prof`) and runs it with `args`, which writes the
/// object's profile where `-fprofile-use=prof` looks for it.
fn gcc_profile_run(sb: &Sandbox, args: &[&str]) {
    // Counts of earlier runs would be merged in.
    let _ = std::fs::remove_dir_all(sb.path("prof"));
    let gen = [
        "-O2",
        "-fprofile-generate=prof",
        "-c",
        "src/p.c",
        "-o",
        "dir/p.o",
    ];
    ok(&sb.bare("gcc", gen));
    ok(&sb.bare("gcc", ["-fprofile-generate=prof", "dir/p.o", "-o", "prog"]));
    let mut run = sb.cmd(sb.path("prog"));
    run.args(args);
    run.output().expect("run the instrumented program");
    sb.settle_work();
}

#[test]
fn gcc_profile_data_is_a_keyed_input_found_as_gcc_finds_it() {
    let sb = with_source("prof-gcc");
    sb.write("src/p.c", BRANCHY);
    let shapes: [&[&str]; 2] = [
        &[
            "-O2",
            "-fprofile-use=prof",
            "-c",
            "src/p.c",
            "-o",
            "dir/p.o",
        ],
        &[
            "-O2",
            "-fprofile-use",
            "-fprofile-dir=prof",
            "-c",
            "src/p.c",
            "-o",
            "dir/p.o",
        ],
    ];
    let mut objects = Vec::new();
    for argv in [&[][..], &["a", "b"][..], &[][..]] {
        if argv.is_empty() && objects.is_empty() {
            // No profile yet: gcc compiles without one.
        } else {
            gcc_profile_run(&sb, argv);
        }
        for args in shapes {
            second_is_a_hit(&sb, "gcc", &[(args, &["dir/p.o"])]);
        }
        objects.push(sb.read("dir/p.o"));
    }
    // Each profile made another object, and each was served as compiled.
    assert_ne!(objects[0], objects[1], "the profile changes the object");
    assert_ne!(
        objects[1], objects[2],
        "another run's profile changes it again"
    );
}

#[test]
fn clang_profile_directory_is_keyed_by_its_default_profdata() {
    let sb = with_source("prof-clang");
    sb.write("src/p.c", BRANCHY);
    std::fs::create_dir_all(sb.path("pd")).unwrap();
    let args: &[&str] = &["-O2", "-fprofile-use=pd", "-c", "src/p.c", "-o", "dir/p.o"];
    let mut objects = Vec::new();
    for argv in [&["a"][..], &["a", "b", "c"][..]] {
        let gen = ["-O2", "-fprofile-instr-generate", "src/p.c", "-o", "prog"];
        ok(&sb.bare("clang", gen));
        let mut run = sb.cmd(sb.path("prog"));
        run.args(argv)
            .env("LLVM_PROFILE_FILE", sb.path("raw.profraw"));
        run.output().expect("run the instrumented program");
        let merge = ["merge", "-o", "pd/default.profdata", "raw.profraw"];
        ok(&sb.bare("llvm-profdata-14", merge));
        sb.settle_work();
        second_is_a_hit(&sb, "clang", &[(args, &["dir/p.o"])]);
        objects.push(sb.read("dir/p.o"));
    }
    assert_ne!(objects[0], objects[1], "the profile changes the object");
}

#[test]
fn a_listing_under_path_remap_is_what_the_plain_compiler_writes() {
    // The listing quotes the debug info's paths, which the map a remapped
    // miss injects would rewrite: path remap falls back for it.
    let sb = with_source("lst-remap");
    let args = ["-g", "-c", "../t.c", "-o", "t.o", "-Wa,-adhln=t.lst"];
    let sub = sb.path("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let run = |cached: bool| {
        let mut c = if cached {
            let mut c = sb.cmd(conformance::zccache_bin());
            c.arg("gcc");
            c
        } else {
            sb.cmd("gcc")
        };
        c.current_dir(&sub)
            .env("ZCCACHE_PATH_REMAP", "auto")
            .env("ZCCACHE_WORKTREE_ROOT", &sb.work)
            .args(args);
        let _ = std::fs::remove_file(sub.join("t.lst"));
        ok(&c.output().expect("run gcc"));
        std::fs::read(sub.join("t.lst")).unwrap()
    };
    for _ in 0..2 {
        assert_eq!(run(true), run(false), "the listing");
    }
    let s = status(&sb);
    assert_eq!(s["hits"], 1, "{s}");
    assert_eq!(s["remap_fallbacks"]["asm_listing"], 2, "{s}");
}

#[test]
fn a_stack_usage_file_under_path_remap_is_what_the_plain_compiler_writes() {
    // The `.su` names the source as spelled, which the injected map leaves
    // alone: an absolute one under the root makes the entry root-bound.
    let sb = with_source("su-remap");
    let source = sb.path("t.c").display().to_string();
    let args = ["-c", source.as_str(), "-o", "dir/t.o", "-fstack-usage"];
    let run = |cached: bool| {
        let mut c = if cached {
            let mut c = sb.cmd(conformance::zccache_bin());
            c.arg("gcc");
            c
        } else {
            sb.cmd("gcc")
        };
        c.env("ZCCACHE_PATH_REMAP", "auto")
            .env("ZCCACHE_WORKTREE_ROOT", &sb.work)
            .args(args);
        let _ = std::fs::remove_file(sb.path("dir/t.su"));
        ok(&c.output().expect("run gcc"));
        std::fs::read(sb.path("dir/t.su")).unwrap()
    };
    for _ in 0..2 {
        assert_eq!(run(true), run(false), "the .su");
    }
    let s = status(&sb);
    assert_eq!(s["hits"], 1, "{s}");
}

fn time_macro_refusals(sb: &Sandbox) -> u64 {
    status(sb)["not_stored_reasons"]["time_macro"]
        .as_u64()
        .unwrap_or(0)
}

/// zlib's shape: glibc-like headers paste (`__ ## x`, `x ## y`) and the
/// source has an enum member `TIME`, so a paste could spell `__TIME__` as
/// far as a scan can tell. The compiler's `-Wdate-time` says none
/// expands: the second miss asks it and stores, the third compile hits.
/// With and without a depfile the dependency run must also write.
#[test]
fn a_paste_that_forms_no_temporal_macro_is_stored_once_the_compiler_says_so() {
    for compiler in ["gcc", "clang"] {
        let sb = Sandbox::new(&format!("paste-no-time-{compiler}"));
        sb.write(
            "cdefs.h",
            "#define CONCAT(x, y) x ## y\n#define UNDERSCORED(x) __ ## x\n\
             #define FORTIFY(f) __ ## f ## _alias\n",
        );
        sb.write(
            "inflate.c",
            "#include \"cdefs.h\"\ntypedef enum { HEAD, TIME, OS } mode;\n\
             int CONCAT(in, flate)(mode m) { return m == TIME; }\n",
        );
        for (args, files) in [
            (&["-c", "inflate.c", "-o", "i.o"][..], &["i.o"][..]),
            (
                &["-c", "inflate.c", "-o", "j.o", "-MMD", "-MF", "j.d"][..],
                &["j.o", "j.d"][..],
            ),
        ] {
            let hits = same_files_as_plain(&sb, compiler, args, files);
            let refused = time_macro_refusals(&sb);
            assert!(refused >= 1, "{compiler} {args:?}: a paste keeps the first");
            assert_eq!(same_files_as_plain(&sb, compiler, args, files), hits);
            assert_eq!(
                time_macro_refusals(&sb),
                refused,
                "{compiler} {args:?}: the second asks the compiler and is stored"
            );
            assert_eq!(
                same_files_as_plain(&sb, compiler, args, files),
                hits + 1,
                "{compiler} {args:?}: the third is a hit"
            );
        }
    }
}

/// A paste that does form `__TIME__` (from a header, so the scan of the
/// source alone cannot tell), or a header that mutes `-Wdate-time`: never
/// stored, however often it is compiled.
#[test]
fn a_paste_that_forms_a_temporal_macro_is_never_stored() {
    for compiler in ["gcc", "clang"] {
        let sb = Sandbox::new(&format!("paste-time-{compiler}"));
        sb.write(
            "cat.h",
            "#define CAT(a, b) a##b\n#define STAMP CAT(__TI, ME__)\n",
        );
        sb.write("t.c", "#include \"cat.h\"\nconst char *t = STAMP;\n");
        sb.write(
            "mute.h",
            "#pragma GCC diagnostic ignored \"-Wdate-time\"\n\
             #define CAT(a, b) a##b\n#define STAMP CAT(__TI, ME__)\n",
        );
        sb.write("u.c", "#include \"mute.h\"\nconst char *t = STAMP;\n");
        for source in ["t.c", "u.c"] {
            for _ in 0..3 {
                let out = sb.zccache([compiler, "-c", source, "-o", "t.o"]);
                ok(&out);
            }
        }
        assert_eq!(status(&sb)["hits"].as_u64(), Some(0), "{compiler}");
        assert_eq!(time_macro_refusals(&sb), 6, "{compiler}: every compile");
    }
}
