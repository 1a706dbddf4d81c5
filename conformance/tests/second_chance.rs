//! The second chance of a direct-mode miss (issue 12 item 3): a compile
//! whose direct key misses but whose source was compiled before is served
//! from the entry of a compile with the same preprocessed text, byte-equal
//! to the plain compiler (object, depfile, streams, exit code), with gcc
//! and clang. It does not test the direct mode (hits.rs) nor what must stay
//! a miss in general (divergence.rs).

use conformance::{ok, Sandbox};

use super::hits::cached_and_plain;

/// (hits, misses, preprocessed_hits, preprocessed_misses) right now.
fn counts(sb: &Sandbox) -> [u64; 4] {
    let s = sb.status();
    let g = |k: &str| s[k].as_u64().unwrap_or(0);
    [
        g("hits"),
        g("misses"),
        g("preprocessed_hits"),
        g("preprocessed_misses"),
    ]
}

/// Runs `compiler args…` through zccache, then plainly, each after
/// removing `files`: exit code, stdout, stderr and every file equal
/// (`hits::cached_and_plain`). Returns how the counters moved.
fn compile(sb: &Sandbox, compiler: &str, args: &[&str], files: &[&str]) -> [u64; 4] {
    let before = counts(sb);
    let (cached, plain) = cached_and_plain(sb, compiler, args, files);
    assert_eq!(cached.stdout, plain.stdout, "stdout of {args:?}");
    let after = counts(sb);
    std::array::from_fn(|i| after[i] - before[i])
}

const HIT: [u64; 4] = [1, 0, 1, 0];
const MISS: [u64; 4] = [0, 1, 0, 1];
const DIRECT_MISS: [u64; 4] = [0, 1, 0, 0];
const DIRECT_HIT: [u64; 4] = [1, 0, 0, 0];

fn near_misses(compiler: &str) {
    let sb = Sandbox::new(&format!("sc-{compiler}"));
    sb.write(
        "a.c",
        "#include \"a.h\"\n#ifdef X\nint x;\n#endif\nint f(void) { return A; }\n",
    );
    sb.write("a.h", "#define A 3\n");
    let files = &["a.o", "a.d"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["-O2", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"];
        v.extend_from_slice(extra);
        v
    };
    // (e) A cold build never runs the preprocessor: no second chance
    // without a compile of this source before.
    assert_eq!(
        compile(&sb, compiler, &with(&[]), files),
        DIRECT_MISS,
        "cold"
    );
    // (a) A -D that changes nothing: the first near miss records the text,
    // the next one of the same text is served.
    assert_eq!(compile(&sb, compiler, &with(&["-DUNUSED=1"]), files), MISS);
    assert_eq!(compile(&sb, compiler, &with(&["-DUNUSED=2"]), files), HIT);
    // The hit recorded its direct-mode entry: no preprocessor run again.
    assert_eq!(
        compile(&sb, compiler, &with(&["-DUNUSED=2"]), files),
        DIRECT_HIT
    );
    // (b) -Wp,-DX is -DX to the preprocessor.
    assert_eq!(compile(&sb, compiler, &with(&["-DX"]), files), MISS);
    assert_eq!(compile(&sb, compiler, &with(&["-Wp,-DX"]), files), HIT);
    // (c) A header edited without changing its preprocessed form.
    sb.write("a.h", "#define A 3 /* three */\n");
    assert_eq!(compile(&sb, compiler, &with(&[]), files), HIT, "comment");
    assert_eq!(compile(&sb, compiler, &with(&[]), files), DIRECT_HIT);
    // (d) A real change: a miss, and the object the compiler makes now.
    sb.write("a.h", "#define A 4\n");
    assert_eq!(compile(&sb, compiler, &with(&["-DUNUSED=3"]), files), MISS);
    // Debug info holds columns the text does not show: never tried.
    assert_eq!(compile(&sb, compiler, &with(&["-g"]), files), DIRECT_MISS);
    assert_eq!(
        compile(&sb, compiler, &with(&["-g", "-DUNUSED=4"]), files),
        DIRECT_MISS,
        "-g"
    );
}

#[test]
fn gcc_near_misses_get_a_second_chance() {
    near_misses("gcc");
}

#[test]
fn clang_near_misses_get_a_second_chance() {
    near_misses("clang");
}

/// A compile whose preprocessor warns is never served from the text: the
/// plain compiler's stderr would show the warning, with the lines as they
/// are on disk.
#[test]
fn a_noisy_preprocessor_gets_no_second_chance() {
    let sb = Sandbox::new("sc-noisy");
    sb.write("w.c", "#warning hello\nint g(void) { return 1; }\n");
    let files = &["w.o"];
    let with = |d: &'static str| vec!["-c", "w.c", "-o", "w.o", d];
    assert_eq!(compile(&sb, "gcc", &with("-DA=1"), files), DIRECT_MISS);
    // Tried (the source was seen), but nothing quiet to serve or record.
    assert_eq!(compile(&sb, "gcc", &with("-DA=2"), files), MISS);
    assert_eq!(compile(&sb, "gcc", &with("-DA=3"), files), MISS);
    ok(&sb.zccache(["status", "--json"]));
}

/// `-E` collapses the spaces between tokens, so a text that asks for a
/// column (`__builtin_COLUMN`, what `std::source_location` uses) never
/// serves another layout of itself: the object holds the column.
#[test]
fn a_column_is_not_in_the_text() {
    for compiler in ["gcc", "clang"] {
        let sb = Sandbox::new(&format!("sc-col-{compiler}"));
        let files = &["c.o"];
        let with = |d: &'static str| vec!["-O2", "-c", "c.c", "-o", "c.o", d];
        sb.write("c.c", "int c(void) { return __builtin_COLUMN(); }\n");
        assert_eq!(compile(&sb, compiler, &with("-DA=1"), files), DIRECT_MISS);
        assert_eq!(compile(&sb, compiler, &with("-DA=2"), files), MISS);
        sb.write("c.c", "int c(void) { return      __builtin_COLUMN(); }\n");
        assert_eq!(
            compile(&sb, compiler, &with("-DA=3"), files),
            MISS,
            "{compiler}"
        );
    }
}

/// A text with the date expanded in it is never recorded: the compile
/// after the preprocessor run may have seen the next day.
#[test]
fn a_dated_text_is_never_recorded() {
    let sb = Sandbox::new("sc-date");
    let files = &["d.o"];
    let with = |d: &'static str| vec!["-O2", "-c", "d.c", "-o", "d.o", d];
    sb.write("d.c", "const char *d(void) { return __DATE__; }\n");
    assert_eq!(compile(&sb, "gcc", &with("-DA=1"), files), DIRECT_MISS);
    assert_eq!(compile(&sb, "gcc", &with("-DA=2"), files), MISS);
    assert_eq!(compile(&sb, "gcc", &with("-DA=3"), files), MISS);
}

/// (f) Under `ZCCACHE_PATH_REMAP=auto` the text is keyed root-free: a near
/// miss in a second worktree is served from the first one's compile, and
/// equals what the compiler makes there with the map remap adds.
#[test]
fn a_near_miss_in_another_worktree_is_served() {
    let sb = Sandbox::new("sc-remap");
    for wt in ["a", "b", "c"] {
        sb.write(
            &format!("{wt}/s.c"),
            "#include \"s.h\"\nconst char *f(void) { return __FILE__ S; }\n",
        );
        sb.write(&format!("{wt}/s.h"), "#define S \"!\"\n");
    }
    let args = |d: &'static str| ["-O2", "-c", "s.c", "-o", "s.o", "-MD", "-MF", "s.d", d];
    let cached = |wt: &str, d: &'static str| {
        let before = counts(&sb);
        let root = sb.path(wt);
        let out = sb
            .cmd(conformance::zccache_bin())
            .current_dir(&root)
            .env("ZCCACHE_PATH_REMAP", "auto")
            .env("ZCCACHE_WORKTREE_ROOT", &root)
            .arg("gcc")
            .args(args(d))
            .output()
            .unwrap();
        ok(&out);
        assert!(out.stderr.is_empty() && out.stdout.is_empty());
        let after = counts(&sb);
        let moved: [u64; 4] = std::array::from_fn(|i| after[i] - before[i]);
        (
            moved,
            sb.read(&format!("{wt}/s.o")),
            sb.read(&format!("{wt}/s.d")),
        )
    };
    assert_eq!(cached("a", "-DU=1").0, DIRECT_MISS);
    assert_eq!(cached("a", "-DU=2").0, MISS);
    let (moved, object, depfile) = cached("b", "-DU=3");
    assert_eq!(moved, HIT, "b's near miss is served from a's compile");
    let root = sb.path("b");
    let bare = sb
        .cmd("gcc")
        .current_dir(&root)
        .args(args("-DU=3"))
        .arg(format!("-ffile-prefix-map={}=.", root.display()))
        .output()
        .unwrap();
    ok(&bare);
    assert_eq!(object, sb.read("b/s.o"), "b's object");
    assert_eq!(depfile, sb.read("b/s.d"), "b's depfile");
    let a = sb.path("a");
    let named_a = object
        .windows(a.as_os_str().len())
        .any(|w| w == a.as_os_str().as_encoded_bytes());
    assert!(!named_a, "b's object names a's root");
    // A third worktree's first compile asks its compiler's facts in a
    // Probe round, the preprocessor run joins it, and then the direct mode
    // hits (b's hit recorded its entry): the run's private depfile is
    // removed all the same.
    assert_eq!(cached("c", "-DU=3").0, DIRECT_HIT);
    assert_eq!(private_depfiles(&sb.runtime), Vec::<String>::new());
}

/// The preprocessor runs' private depfiles (`pp-*.d`) left under `dir`.
fn private_depfiles(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(private_depfiles(&path));
        } else if entry.file_name().to_string_lossy().starts_with("pp-") {
            found.push(path.display().to_string());
        }
    }
    found
}
