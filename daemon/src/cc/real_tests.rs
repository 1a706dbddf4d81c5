//! Checks the names the classifier predicts against what the installed gcc (required)
//! and clang (when present) actually write: objects, depfiles and their targets,
//! `.dwo`, `.gcno`, `.su`, assembler listings, and response-file tokenization.
//!
//! Each scenario runs the compiler in a fresh temporary directory and compares the
//! set of files it created with the prediction. It tests nothing else about the
//! compilers.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{classify, expand_response_files, Classified, Family, FsReader, Language, Reason};

/// Sources every scenario directory starts with.
const SOURCES: &[(&str, &str)] = &[
    ("t.c", "int f(void) { return 1; }\n"),
    ("a.c", "int a(void) { return 1; }\n"),
    ("b.c", "int b(void) { return 2; }\n"),
    ("t.i", "int f(void) { return 1; }\n"),
    ("asm.s", ".text\n"),
    ("cxx.c", "class A {}; int f() { return 1; }\n"),
    ("src/foo.c.c", "int g(void) { return 1; }\n"),
    ("src/foo.", "int g(void) { return 1; }\n"),
    ("src/foo", "int g(void) { return 1; }\n"),
    ("foo.", "int g(void) { return 1; }\n"),
];

/// Empty directories every scenario directory starts with.
const DIRS: &[&str] = &["out", "out.dir", "deps"];

/// What a scenario expects from the classifier.
enum Expect {
    /// Cacheable; the compiler's new files must equal the prediction.
    Files,
    /// Cacheable, and the single unit's language is this one.
    Language(Language),
    /// Not cacheable; the compiler writes nothing either.
    PassthroughNothingWritten(Reason),
}

struct Scenario {
    args: &'static [&'static str],
    /// Run with gcc (`g++` when `cplusplus`), and with clang when it is installed.
    gcc: bool,
    clang: bool,
    cplusplus: bool,
    expect: Expect,
}

const fn both(args: &'static [&'static str]) -> Scenario {
    Scenario {
        args,
        gcc: true,
        clang: true,
        cplusplus: false,
        expect: Expect::Files,
    }
}

const fn gcc_only(args: &'static [&'static str]) -> Scenario {
    Scenario {
        args,
        gcc: true,
        clang: false,
        cplusplus: false,
        expect: Expect::Files,
    }
}

static SCENARIOS: &[Scenario] = &[
    both(&["-c", "src/foo.c.c"]),
    both(&["-x", "c", "-c", "src/foo."]),
    both(&["-x", "c", "-c", "src/foo"]),
    Scenario {
        args: &["-c", "foo."],
        gcc: true,
        clang: false,
        cplusplus: false,
        expect: Expect::PassthroughNothingWritten(Reason::UnsupportedSourceLanguage),
    },
    both(&["-c", "t.c", "-MD"]),
    both(&["-c", "t.c", "-MD", "-o", "out/x.o"]),
    both(&["-c", "t.c", "-MMD", "-o", "out.dir/noext"]),
    both(&["-c", "t.c", "-MD", "-MF", "deps/custom.d"]),
    both(&["-c", "t.c", "-Wp,-MD,wp.d", "-o", "x.o"]),
    both(&["-S", "t.c", "-MD"]),
    both(&["-S", "t.c", "-MD", "-o", "q.s"]),
    both(&["-c", "-fsyntax-only", "-MD", "t.c"]),
    both(&["-fsyntax-only", "-MD", "t.c", "-o", "out/y.o"]),
    both(&["-c", "-MD", "-MQ", "a$b#c d", "-MT", "raw", "t.c"]),
    both(&[
        "-c", "-MD", "-MQ", "q1", "-MQ", "q2", "-MQ", "q3", "-MT", "t1", "-MQ", "q4", "-MT", "t2",
        "t.c",
    ]),
    both(&["-c", "-MD", "t.c", "-o", "a$b#c.o"]),
    both(&["-c", "asm.s", "-MD"]),
    both(&["-c", "t.i", "-MD"]),
    both(&["-fsyntax-only", "t.c"]),
    both(&["-c", "t.c", "-g", "-gsplit-dwarf"]),
    both(&["-c", "t.c", "-g", "-gsplit-dwarf", "-o", "out/y.obj"]),
    both(&["-c", "t.c", "-g", "-gsplit-dwarf", "-o", "out.dir/noext"]),
    gcc_only(&["-c", "t.c", "-gsplit-dwarf", "-o", "out/n.o"]),
    gcc_only(&["-S", "t.c", "-g", "-gsplit-dwarf"]),
    both(&["-c", "t.c", "--coverage", "-o", "out/z.obj"]),
    both(&["-c", "src/foo.c.c", "--coverage"]),
    both(&["-S", "t.c", "--coverage", "-o", "out/c.s"]),
    both(&["-c", "t.c", "-ftest-coverage", "-o", "out.dir/noext"]),
    both(&["-c", "t.c", "-fprofile-arcs"]),
    both(&["-c", "src/foo.c.c", "-fstack-usage"]),
    both(&["-c", "t.c", "-fstack-usage", "-o", "out/s.y.obj"]),
    both(&["-c", "t.c", "-fstack-usage", "-o", "out.dir/noext"]),
    both(&["-S", "t.c", "-fstack-usage", "-o", "out/q.s"]),
    both(&["-c", "asm.s", "-fstack-usage"]),
    // gcc then names it after the source, which we pass through.
    Scenario {
        args: &["-c", "t.c", "-fstack-usage", "-o", "/dev/null"],
        gcc: false,
        clang: true,
        cplusplus: false,
        expect: Expect::Files,
    },
    gcc_only(&["-c", "t.c", "-Wa,-adhln=out/t.lst"]),
    gcc_only(&["-S", "t.c", "-Wa,-adhln=out/t.lst"]),
    both(&["-x", "c", "-c", "/dev/null", "-MD"]),
    Scenario {
        args: &["-c", "cxx.c"],
        gcc: true,
        clang: true,
        cplusplus: true,
        expect: Expect::Language(Language::Cxx),
    },
];

#[test]
fn predicted_names_match_gcc() {
    assert!(available("gcc"), "gcc is required for these tests");
    run_all("gcc", "g++", |s| s.gcc);
}

#[test]
fn predicted_names_match_clang() {
    // clang is optional; gcc is not.
    if available("clang") {
        run_all("clang", "clang++", |s| s.clang);
    }
}

fn run_all(c: &str, cxx: &str, selected: fn(&Scenario) -> bool) {
    let mut failures = Vec::new();
    for scenario in SCENARIOS.iter().filter(|s| selected(s)) {
        let driver = if scenario.cplusplus { cxx } else { c };
        if let Err(message) = run_scenario(driver, scenario) {
            failures.push(format!("{driver} {}: {message}", scenario.args.join(" ")));
        }
    }
    assert!(
        failures.is_empty(),
        "mismatches with the real compiler:\n{}",
        failures.join("\n")
    );
}

fn run_scenario(driver: &str, scenario: &Scenario) -> Result<(), String> {
    let dir = TempDir::new();
    let family = Family::from_argv0(driver.as_ref()).expect("known driver");
    let cplusplus = Family::is_cplusplus_driver(driver.as_ref());
    let args: Vec<OsString> = scenario.args.iter().map(OsString::from).collect();
    let classified = classify(family, cplusplus, &args, &|_| None);

    let before = dir.files();
    let status = Command::new(driver)
        .args(&args)
        .current_dir(&dir.0)
        .env_remove("DEPENDENCIES_OUTPUT")
        .env_remove("SUNPRO_DEPENDENCIES")
        .status()
        .map_err(|e| format!("cannot run: {e}"))?;
    let created: BTreeSet<String> = dir.files().difference(&before).cloned().collect();

    let inv = match (&scenario.expect, classified) {
        (Expect::PassthroughNothingWritten(reason), Classified::Passthrough(p)) => {
            if p.reason != *reason {
                return Err(format!("passthrough {:?}, expected {reason:?}", p.reason));
            }
            return if created.is_empty() {
                Ok(())
            } else {
                Err(format!("compiler wrote {created:?}"))
            };
        }
        (_, Classified::Passthrough(p)) => return Err(format!("unexpected passthrough {p:?}")),
        (Expect::PassthroughNothingWritten(_), Classified::Compile(_)) => {
            return Err("expected a passthrough".into())
        }
        (_, Classified::Compile(inv)) => inv,
    };
    if !status.success() {
        return Err(format!("compiler failed: {status}"));
    }
    if let Expect::Language(language) = scenario.expect {
        if inv.units[0].language != language {
            return Err(format!(
                "language {:?}, expected {language:?}",
                inv.units[0].language
            ));
        }
    }

    let mut predicted = BTreeSet::new();
    for unit in &inv.units {
        let files = [
            &unit.output,
            &unit.depfile,
            &unit.dwo,
            &unit.gcno,
            &unit.stack_usage,
            &unit.listing,
        ];
        for path in files.into_iter().flatten().filter(|p| *p != "/dev/null") {
            predicted.insert(path.to_string_lossy().into_owned());
        }
    }
    if predicted != created {
        return Err(format!(
            "predicted {predicted:?}, compiler wrote {created:?}"
        ));
    }
    for unit in &inv.units {
        let Some(depfile) = &unit.depfile else {
            continue;
        };
        let text = std::fs::read_to_string(dir.0.join(depfile)).map_err(|e| e.to_string())?;
        let written = first_rule_targets(&text);
        let predicted: Vec<String> = unit
            .dep_targets
            .iter()
            .map(|t| t.to_make().to_string_lossy().into_owned())
            .collect();
        if written != predicted.join(" ") {
            return Err(format!(
                "depfile targets {written:?}, predicted {predicted:?}"
            ));
        }
    }
    Ok(())
}

/// The text before the first rule's `: ` separator, continuation lines joined.
fn first_rule_targets(depfile: &str) -> String {
    let joined = depfile.replace("\\\n", " ");
    let end = joined
        .find(": ")
        .or_else(|| joined.find(":\n"))
        .unwrap_or(joined.len());
    joined[..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn response_file_tokens_match_gcc() {
    assert!(available("gcc"), "gcc is required for these tests");
    check_response_file("gcc", Family::Gcc);
}

#[test]
fn response_file_tokens_match_clang() {
    if available("clang") {
        check_response_file("clang", Family::Clang);
    }
}

/// Writes a response file of `-D` definitions with awkward quoting and compares the
/// macro values the compiler reports with our expansion.
fn check_response_file(driver: &str, family: Family) {
    let dir = TempDir::new();
    let content = "-DA='x y' -DB=\"p\\\\q\" -DC='it\\'s' -DD=a\\ b  -DE=\"\"\n-DF=tab\\\tx\n";
    std::fs::write(dir.0.join("defs.rsp"), content).expect("write response file");
    let args = [OsString::from("@defs.rsp")];
    let expanded = expand_response_files(family, &args, &dir.0, &FsReader).expect("expands");
    let output = Command::new(driver)
        .args(["@defs.rsp", "-E", "-dM", "-x", "c", "/dev/null"])
        .current_dir(&dir.0)
        .output()
        .expect("run compiler");
    assert!(
        output.status.success(),
        "{driver} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let defines = String::from_utf8_lossy(&output.stdout);
    for arg in &expanded {
        let arg = arg.to_str().expect("UTF-8 argument");
        let (name, value) = arg
            .strip_prefix("-D")
            .and_then(|d| d.split_once('='))
            .expect("a -D definition");
        // The preprocessor prints the replacement list with whitespace collapsed.
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        let wanted = format!("#define {name} {value}").trim_end().to_owned();
        assert!(
            defines.lines().any(|line| line.trim_end() == wanted),
            "{driver}: no `{wanted}` among\n{defines}\nexpansion {expanded:?}"
        );
    }
    assert_eq!(expanded.len(), 6, "{expanded:?}");
}

fn available(driver: &str) -> bool {
    Command::new(driver)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A scratch directory with the scenario sources, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("zccache-cc-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in DIRS.iter().chain(&["src"]) {
            std::fs::create_dir_all(dir.join(sub)).expect("create scratch directory");
        }
        for (name, content) in SOURCES {
            std::fs::write(dir.join(name), content).expect("write source");
        }
        TempDir(dir)
    }

    /// Every file below the directory, relative to it.
    fn files(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(&self.0, &self.0, &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read scratch directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.insert(
                path.strip_prefix(root)
                    .expect("below root")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
