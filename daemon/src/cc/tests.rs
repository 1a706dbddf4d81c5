//! Vector tests: argv in, rendered `Invocation` or `Passthrough` out, from the files in
//! `conformance/vectors/args/`. Regenerate the `expect:` blocks with `UPDATE_VECTORS=1`.
//!
//! Vector format. `#` starts a comment line. A case starts at a `case:` line and runs
//! to the next one:
//!
//! ```text
//! case: C26 extension-less source with -x c   name, free text
//! cc: gcc                                     argv[0]; gives the family and C++-ness
//! cwd: /w                                     optional, default /w
//! env: NAME=VALUE                             repeatable; VALUE may be empty
//! file: args.rsp                              repeatable; a response file relative to cwd,
//! | -c -DX="a b"                              its lines follow, each after "| "
//! args: -c -x c src/foo                       split at whitespace; '…' quotes, '' is empty
//! expect: compile mode=compile                generated; continuation lines start with
//!   key: -c -x c                              two spaces
//!   unit: src/foo at=3 lang=c out=foo.o
//! ```
//!
//! The rendering prints only what differs from the defaults: `unit:` per source (its
//! argv index, language, output, depfile with its first-rule targets as written,
//! `.dwo`, `.gcno`, `.su`, assembler listing), then `dep:`, `search:`, `extra:`, `flags:`, `emcc:` and `cwd:`
//! (the cwd key for the case's cwd: `raw` when the raw cwd is keyed) lines when they
//! carry anything, and `unit-args:` lines for calls with several sources.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::rsp::FileReader;
use super::{
    classify, expand_response_files, Classified, DepMode, ExtraInputKind, Family, Invocation, Mode,
    Passthrough,
};

const VECTOR_FILES: &[&str] = &[
    "c-oracle.txt",
    "depfiles.txt",
    "emcc.txt",
    "flags.txt",
    "passthrough.txt",
    "response-files.txt",
];

#[test]
fn c_oracle() {
    check("c-oracle.txt");
}

#[test]
fn depfiles() {
    check("depfiles.txt");
}

#[test]
fn emcc() {
    check("emcc.txt");
}

#[test]
fn flags() {
    check("flags.txt");
}

#[test]
fn passthrough() {
    check("passthrough.txt");
}

#[test]
fn response_files() {
    check("response-files.txt");
}

#[test]
fn every_vector_file_is_checked() {
    let mut found: Vec<String> = std::fs::read_dir(vector_dir())
        .expect("vector directory")
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".txt"))
        .collect();
    found.sort();
    assert_eq!(found, VECTOR_FILES);
}

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors/args")
}

/// Checks every case of one vector file, or rewrites its `expect:` blocks when
/// `UPDATE_VECTORS=1`.
#[track_caller]
fn check(file: &str) {
    let path = vector_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = parse(&text);
    assert!(!cases.is_empty(), "{file} has no cases");
    if std::env::var_os("UPDATE_VECTORS").is_some_and(|v| v == "1") {
        std::fs::write(&path, rewrite(&text, &cases)).expect("rewrite vectors");
        return;
    }
    let mut failures = String::new();
    for case in &cases {
        let got = run(case);
        if got != case.expect {
            let _ = write!(
                failures,
                "\n--- {file}: case {}\nexpected:\n{}\ngot:\n{}\n",
                case.name, case.expect, got
            );
        }
    }
    assert!(
        failures.is_empty(),
        "vector mismatches (UPDATE_VECTORS=1 regenerates):{failures}"
    );
}

struct Case {
    name: String,
    cc: String,
    cwd: PathBuf,
    env: BTreeMap<String, OsString>,
    files: BTreeMap<PathBuf, Vec<u8>>,
    args: Vec<OsString>,
    /// The rendering, continuation lines included, without the `expect: ` prefix.
    expect: String,
    /// Line range of the `expect:` block in the file, for rewriting.
    expect_lines: std::ops::Range<usize>,
    /// Line after which a missing `expect:` block is inserted.
    last_line: usize,
}

fn parse(text: &str) -> Vec<Case> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases: Vec<Case> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(name) = line.strip_prefix("case: ") {
            cases.push(Case {
                name: name.to_owned(),
                cc: String::new(),
                cwd: PathBuf::from("/w"),
                env: BTreeMap::new(),
                files: BTreeMap::new(),
                args: Vec::new(),
                expect: String::new(),
                expect_lines: 0..0,
                last_line: i,
            });
            i += 1;
            continue;
        }
        let Some(case) = cases.last_mut() else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "line {}: text before the first case",
                i + 1
            );
            i += 1;
            continue;
        };
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        case.last_line = i;
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("line {}: expected `key: value`", i + 1));
        match key {
            "cc" => case.cc = value.to_owned(),
            "cwd" => case.cwd = PathBuf::from(value),
            "env" => {
                let (name, value) = value.split_once('=').expect("env: NAME=VALUE");
                case.env.insert(name.to_owned(), value.into());
            }
            "file" => {
                let mut content = String::new();
                while i + 1 < lines.len() && (lines[i + 1].starts_with("| ") || lines[i + 1] == "|")
                {
                    i += 1;
                    content.push_str(lines[i].strip_prefix("| ").unwrap_or(""));
                    content.push('\n');
                }
                case.last_line = i;
                case.files
                    .insert(case.cwd.join(value), content.into_bytes());
            }
            "args" => case.args = split_words(value),
            "expect" => {
                let start = i;
                let mut expect = value.to_owned();
                while i + 1 < lines.len() && lines[i + 1].starts_with("  ") {
                    i += 1;
                    expect.push('\n');
                    expect.push_str(&lines[i][2..]);
                }
                case.expect = expect;
                case.expect_lines = start..i + 1;
                case.last_line = i;
            }
            other => panic!("line {}: unknown key {other:?}", i + 1),
        }
        i += 1;
    }
    cases
}

/// Whitespace-separated words; `'…'` quotes a word (or part of one) verbatim.
fn split_words(text: &str) -> Vec<OsString> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(OsString::from(std::mem::take(&mut word)));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(OsString::from(word));
    }
    words
}

fn rewrite(text: &str, cases: &[Case]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut replace: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    for case in cases {
        let block = format!("expect: {}", run(case).replace('\n', "\n  "));
        if case.expect_lines.is_empty() {
            replace.insert(case.last_line + 1, (case.last_line + 1, block));
        } else {
            replace.insert(case.expect_lines.start, (case.expect_lines.end, block));
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i <= lines.len() {
        if let Some((end, block)) = replace.get(&i) {
            out.push_str(block);
            out.push('\n');
            if *end > i {
                i = *end;
                continue;
            }
        }
        if i < lines.len() {
            out.push_str(lines[i]);
            out.push('\n');
        }
        i += 1;
    }
    out
}

struct MapReader<'a>(&'a BTreeMap<PathBuf, Vec<u8>>);

impl FileReader for MapReader<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn run(case: &Case) -> String {
    let argv0 = OsStr::new(&case.cc);
    let Some(family) = Family::from_argv0(argv0) else {
        return "not a compiler".to_owned();
    };
    let cplusplus = Family::is_cplusplus_driver(argv0);
    let expanded =
        match expand_response_files(family, &case.args, &case.cwd, &MapReader(&case.files)) {
            Ok(expanded) => expanded,
            Err(passthrough) => return render_passthrough(&passthrough),
        };
    let env = |name: &str| case.env.get(name).cloned();
    match classify(family, cplusplus, &expanded, &env) {
        Classified::Passthrough(passthrough) => render_passthrough(&passthrough),
        Classified::Compile(inv) => render_invocation(&inv, &expanded, &case.cwd),
    }
}

fn render_passthrough(p: &Passthrough) -> String {
    format!(
        "passthrough {} ({:?}): {}",
        p.reason.as_str(),
        p.reason,
        p.detail
    )
}

fn word(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '\\')
    {
        format!("{s:?}")
    } else {
        s.into_owned()
    }
}

fn words<'a>(list: impl IntoIterator<Item = &'a OsString>) -> String {
    list.into_iter()
        .map(|w| word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn list<'a>(items: impl IntoIterator<Item = &'a OsString>) -> String {
    format!("[{}]", words(items))
}

fn render_invocation(inv: &Invocation, expanded: &[OsString], cwd: &Path) -> String {
    let mut out = String::new();
    let mode = match inv.mode {
        Mode::Compile => "compile",
        Mode::Assemble => "assemble",
        Mode::SyntaxOnly => "syntax-only",
    };
    let _ = write!(out, "compile mode={mode} family={:?}", inv.family);
    if inv.cplusplus {
        out.push_str(" c++driver");
    }
    let _ = write!(out, "\nkey: {}", words(&inv.key_args));
    for unit in &inv.units {
        let _ = write!(
            out,
            "\nunit: {} at={} lang={}",
            word(&unit.source),
            unit.arg_index,
            unit.language.as_str()
        );
        let _ = write!(
            out,
            " out={}",
            unit.output.as_deref().map_or("-".to_owned(), word)
        );
        if let Some(depfile) = &unit.depfile {
            let targets: Vec<OsString> = unit.dep_targets.iter().map(|t| t.to_make()).collect();
            let _ = write!(out, " dep={} targets={}", word(depfile), list(&targets));
        }
        if let Some(dwo) = &unit.dwo {
            let _ = write!(out, " dwo={}", word(dwo));
        }
        if let Some(gcno) = &unit.gcno {
            let _ = write!(out, " gcno={}", word(gcno));
        }
        if let Some(su) = &unit.stack_usage {
            let _ = write!(out, " su={}", word(su));
        }
        if let Some(listing) = &unit.listing {
            let _ = write!(out, " listing={}", word(listing));
        }
    }
    let dep = &inv.dep;
    if dep.mode != DepMode::None
        || dep.file.is_some()
        || !dep.targets.is_empty()
        || dep.phony
        || dep.missing_ok
    {
        let _ = write!(out, "\ndep: mode={:?}", dep.mode);
        if let Some(file) = &dep.file {
            let _ = write!(out, " file={}", word(file));
        }
        if !dep.targets.is_empty() {
            let targets: Vec<String> = dep.targets.iter().map(|t| format!("{t:?}")).collect();
            let _ = write!(out, " targets=[{}]", targets.join(" "));
        }
        for (on, name) in [
            (dep.phony, "phony"),
            (dep.missing_ok, "missing_ok"),
            (dep.via_wp, "via_wp"),
        ] {
            if on {
                let _ = write!(out, " {name}");
            }
        }
    }
    let s = &inv.search;
    let mut search = String::new();
    for (name, dirs) in [
        ("iquote", &s.iquote),
        ("angled", &s.angled),
        ("system", &s.system),
        ("after", &s.after),
    ] {
        if !dirs.is_empty() {
            let _ = write!(search, " {name}={}", list(dirs));
        }
    }
    if s.nostdinc {
        search.push_str(" nostdinc");
    }
    if !search.is_empty() {
        let _ = write!(out, "\nsearch:{search}");
    }
    if !inv.extra_inputs.is_empty() {
        out.push_str("\nextra:");
        for extra in &inv.extra_inputs {
            let kind = match extra.kind {
                ExtraInputKind::Content => "content",
                ExtraInputKind::MtimeOnly => "mtime",
                ExtraInputKind::Include => "include",
                ExtraInputKind::ProfileUse => "profile",
            };
            let _ = write!(out, " {kind}:{}", word(&extra.path));
        }
    }
    if let Some(dir) = &inv.profile_dir {
        let _ = write!(out, "\nprofile-dir: {}", word(dir));
    }
    let mut flags = String::new();
    if inv.debug_level > 0 {
        let _ = write!(flags, " debug={}", inv.debug_level);
    }
    for (old, new) in &inv.prefix_maps {
        let _ = write!(flags, " map:{}={}", word(old), word(new));
    }
    if let Some(dia) = &inv.serialize_diagnostics {
        let _ = write!(flags, " dia={}", word(dia));
    }
    if let Some(color) = inv.user_color {
        let _ = write!(flags, " color={}", if color { "on" } else { "off" });
    }
    for (on, name) in [
        (inv.debug_compilation_dir, "compdir"),
        (inv.coverage, "coverage"),
        (inv.profile_generate, "profile_generate"),
        (inv.cwd_in_output, "cwd_in_output"),
        (inv.split_dwarf, "split_dwarf"),
        (!inv.color_flag_valid, "color_invalid"),
        (inv.march_native, "native"),
        (inv.record_command_line, "record_command_line"),
        (inv.object_path_matters(), "object_path"),
    ] {
        if on {
            let _ = write!(flags, " {name}");
        }
    }
    if !flags.is_empty() {
        let _ = write!(out, "\nflags:{flags}");
    }
    if inv.em_config.is_some() || !inv.emcc_settings.is_empty() || inv.emcc_ports {
        out.push_str("\nemcc:");
        if let Some(config) = &inv.em_config {
            let _ = write!(out, " config={}", word(config));
        }
        if !inv.emcc_settings.is_empty() {
            let _ = write!(out, " settings={}", list(&inv.emcc_settings));
        }
        if inv.emcc_ports {
            out.push_str(" ports");
        }
    }
    if let Some(key) = inv.cwd_key(cwd) {
        let shown = if key == cwd.as_os_str() {
            "raw".to_owned()
        } else {
            word(&key)
        };
        let _ = write!(out, "\ncwd: {shown}");
    }
    if inv.units.len() > 1 {
        for index in 0..inv.units.len() {
            let _ = write!(
                out,
                "\nunit-args: {}",
                words(&inv.args_for_unit(expanded, index))
            );
        }
    }
    out
}

#[test]
fn drivers_by_name_and_by_answers() {
    use super::{identify_driver, Driver};
    let named = |argv0: &str, compiler: &str| Driver::named(OsStr::new(argv0), Path::new(compiler));
    let gcc = |cplusplus| Driver {
        family: Family::Gcc,
        cplusplus,
    };
    let clang = |cplusplus| Driver {
        family: Family::Clang,
        cplusplus,
    };
    assert_eq!(
        named("x86_64-linux-gnu-gcc-12", "/usr/bin/x"),
        Some(gcc(false))
    );
    assert_eq!(named("clang++-16", "/usr/bin/x"), Some(clang(true)));
    assert_eq!(named("mycc", "/usr/bin/gcc-12"), Some(gcc(false)));
    assert_eq!(
        named("mycxx", "/usr/bin/x86_64-linux-gnu-g++-12"),
        Some(gcc(true))
    );
    // clang's mode follows the name it was called by, not its file's.
    assert_eq!(
        named("my++", "/usr/lib/llvm-16/bin/clang"),
        Some(clang(true))
    );
    assert_eq!(
        named("mine", "/usr/lib/llvm-16/bin/clang++"),
        Some(clang(false))
    );
    assert_eq!(named("my-cl", "/usr/lib/llvm-16/bin/clang"), None);
    // cc and c++ are gcc or clang depending on the system: asked, not named.
    assert_eq!(named("cc", "/usr/bin/cc"), None);
    assert_eq!(named("c++", "/usr/bin/c++"), None);
    assert_eq!(named("mycc", "/opt/mycc"), None);

    let version_gcc: &[u8] =
        b"mycc (Debian 12.2.0-14) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc.\n";
    let version_clang: &[u8] = b"Debian clang version 16.0.6\nTarget: x86_64-pc-linux-gnu\n";
    let answers = |version: &'static [u8], machine: &'static [u8], commands: &'static [u8]| {
        move |args: &[&str]| -> Option<super::ProbeAnswer<'static>> {
            match args {
                ["--version"] => Some((0, version, b"")),
                ["-dumpmachine"] => Some((0, machine, b"")),
                ["-###", ..] => Some((0, b"", commands)),
                _ => None,
            }
        }
    };
    let cc1 = b"Target: x86_64-linux-gnu\n /usr/lib/gcc/x86_64-linux-gnu/12/cc1 -quiet zccache-probe.c\n as --64\n";
    let cc1plus = b" cc1plus -quiet zccache-probe.c\n";
    let id = |argv0: &str, a: &dyn Fn(&[&str]) -> Option<super::ProbeAnswer<'static>>| {
        identify_driver(OsStr::new(argv0), a)
    };
    let machine = b"x86_64-linux-gnu\n";
    assert_eq!(
        id("mycc", &answers(version_gcc, machine, cc1)),
        Some(gcc(false))
    );
    assert_eq!(
        id("cc", &answers(version_gcc, machine, cc1plus)),
        Some(gcc(true))
    );
    assert_eq!(
        id("mycc", &answers(version_clang, machine, b"")),
        Some(clang(false))
    );
    assert_eq!(
        id("my++", &answers(version_clang, machine, b"")),
        Some(clang(true))
    );
    // Names that turn clang into cl, cpp or flang are not compilers we know.
    assert_eq!(id("mycl", &answers(version_clang, machine, b"")), None);
    assert_eq!(id("mycpp", &answers(version_clang, machine, b"")), None);
    // No target, or no cc1: not a compiler driver.
    assert_eq!(id("mycc", &answers(version_gcc, b"\n", cc1)), None);
    assert_eq!(
        id("mycc", &answers(version_gcc, machine, b" collect2 x.o\n")),
        None
    );
    assert_eq!(id("mycc", &|_: &[&str]| None), None);
}
