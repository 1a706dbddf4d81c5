//! The include search chain beyond the command line's `-I`/`-isystem`: the
//! directories the include-path environment adds (`CPATH`, `C_INCLUDE_PATH`,
//! `CPLUS_INCLUDE_PATH`) and the compiler's built-in directories, taken from
//! the compiler itself (`-E -v`, run by the wrapper in a Probe round).
//!
//! It parses and selects; it runs nothing, stats nothing and memoizes
//! nothing (the engine does). Where each directory sits in the chain, and
//! what the cache does for it, is listed in `ENVIRONMENT.md`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::flags::{self, FlagClass};
use super::{Family, Language};

/// The variables that add include directories; every one is keyed
/// (`env.rs`), and the built-in chain's memo is keyed by them too.
pub(crate) const INCLUDE_PATH_VARS: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
];

/// Directories the environment adds, as spelled (an empty element is the
/// current directory, for gcc and clang alike).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EnvDirs {
    /// `CPATH`: searched as if given with `-I`, after every `-I`.
    pub(crate) angled: Vec<OsString>,
    /// `C_INCLUDE_PATH` (C, assembler with cpp) or `CPLUS_INCLUDE_PATH`
    /// (C++): searched as if given with `-isystem`, after every `-isystem`.
    pub(crate) system: Vec<OsString>,
}

/// The include-path environment of a unit in `language`.
pub(crate) fn env_dirs(language: Language, getenv: &dyn Fn(&str) -> Option<OsString>) -> EnvDirs {
    let system_var = match language {
        Language::C | Language::AsmWithCpp => Some("C_INCLUDE_PATH"),
        Language::Cxx => Some("CPLUS_INCLUDE_PATH"),
        // No preprocessor: nothing is searched.
        Language::CPreprocessed | Language::CxxPreprocessed | Language::Asm => None,
    };
    if system_var.is_none() {
        return EnvDirs::default();
    }
    let split = |var: &str| -> Vec<OsString> {
        getenv(var)
            .map(|v| {
                v.as_bytes()
                    .split(|b| *b == b':')
                    .map(|d| match d {
                        b"" => OsString::from("."),
                        d => OsStr::from_bytes(d).to_os_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    EnvDirs {
        angled: split("CPATH"),
        system: system_var.map(split).unwrap_or_default(),
    }
}

/// Flags that can move or change the built-in directories: the target and
/// its multilib (`-m32`), the sysroot, the C++ library, the toolchain and
/// program prefixes, config and specs files, and the switches that drop
/// them. Matched against the flag table's row name, or as a prefix of an
/// argument the table does not know (`-m32`, `-mx32`).
const MOVES_BUILTINS: &[&str] = &[
    "-nostdinc",
    "-nostdinc++",
    "-nostdlibinc",
    "-nobuiltininc",
    "--sysroot",
    "-isysroot",
    "-target",
    "--target=",
    "-stdlib=",
    "-gcc-toolchain",
    "--gcc-toolchain=",
    "--gcc-install-dir=",
    "-resource-dir",
    "-B",
    "--prefix",
    "-iprefix",
    "-specs=",
    "-specs",
    "--specs",
    "--config",
    "--no-default-config",
];

/// Unknown flags with these prefixes are kept too: machine options select
/// multilib directories (`-m32`, `-mx32`, `-mabi=`).
const MOVES_BUILTINS_PREFIXES: &[&str] = &["-m"];

/// The `-E -v` run that prints the built-in chain for a unit in `language`:
/// the caller's flags that can move it, and nothing that writes a file or
/// names a user directory. `None` when the language has no preprocessor.
pub(crate) fn builtin_probe(
    family: Family,
    args: &[OsString],
    language: Language,
) -> Option<Vec<OsString>> {
    let lang = match language {
        Language::C => "c",
        Language::Cxx => "c++",
        Language::AsmWithCpp => "assembler-with-cpp",
        Language::CPreprocessed | Language::CxxPreprocessed | Language::Asm => return None,
    };
    let items = flags::split(family, args).ok()?;
    let mut run: Vec<OsString> = Vec::new();
    for item in &items {
        let first = &args[item.start];
        let keep = match item.spec {
            Some(spec) => {
                MOVES_BUILTINS.contains(&spec.name)
                    || matches!(spec.class, FlagClass::NoStdInc | FlagClass::ProgramPrefix)
            }
            None => {
                !item.positional
                    && MOVES_BUILTINS_PREFIXES
                        .iter()
                        .any(|p| first.as_bytes().starts_with(p.as_bytes()))
            }
        };
        if keep {
            run.extend(args[item.start..item.start + item.len].iter().cloned());
        }
    }
    run.extend(["-E", "-v", "-x", lang, "/dev/null"].map(OsString::from));
    Some(run)
}

/// The `#include <...>` chain of a `-E -v` run's stderr, in search order
/// (gcc and clang print the same frame), preceded by the directories it
/// reports as nonexistent: they are left out of the chain, but a header
/// may appear in them once they exist, and where they would sit is not
/// printed, so they are put first (a header found later in the chain is
/// then watched for in each of them, which errs on the side of a miss).
/// Framework directories (clang on Apple targets) are left out: they are
/// not searched for plain names. `None` when the frame is missing.
pub(crate) fn parse_builtin_chain(stderr: &[u8]) -> Option<Vec<PathBuf>> {
    let text = String::from_utf8_lossy(stderr);
    let mut dirs: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ignoring nonexistent directory \""))
        .filter_map(|l| l.strip_suffix('"'))
        .map(PathBuf::from)
        .collect();
    let mut lines = text.lines();
    lines.find(|l| l.starts_with("#include <...> search starts here:"))?;
    for line in lines {
        if line.starts_with("End of search list.") {
            return Some(dirs);
        }
        let dir = line.strip_prefix(' ')?;
        if dir.ends_with(" (framework directory)") {
            continue;
        }
        dirs.push(PathBuf::from(dir));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn empty_elements_are_the_current_directory() {
        let e = env(&[("CPATH", ":a::b:"), ("C_INCLUDE_PATH", "c")]);
        let d = env_dirs(Language::C, &e);
        assert_eq!(d.angled, [".", "a", ".", "b", "."].map(OsString::from));
        assert_eq!(d.system, [OsString::from("c")]);
    }

    #[test]
    fn the_language_picks_the_variable() {
        let e = env(&[("C_INCLUDE_PATH", "c"), ("CPLUS_INCLUDE_PATH", "cxx")]);
        assert_eq!(env_dirs(Language::Cxx, &e).system, [OsString::from("cxx")]);
        assert_eq!(
            env_dirs(Language::AsmWithCpp, &e).system,
            [OsString::from("c")]
        );
        assert_eq!(env_dirs(Language::Asm, &e), EnvDirs::default());
    }

    #[test]
    fn the_probe_keeps_what_moves_built_ins_and_nothing_that_writes() {
        let args: Vec<OsString> =
            "-c m.c -o m.o -MD -MF m.d -Ia -DX=1 -m32 --sysroot /s -nostdinc -O2 -B /b -save-temps"
                .split(' ')
                .map(OsString::from)
                .collect();
        let run = builtin_probe(Family::Gcc, &args, Language::Cxx).unwrap();
        let run: Vec<&str> = run.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            run,
            [
                "-m32",
                "--sysroot",
                "/s",
                "-nostdinc",
                "-B",
                "/b",
                "-E",
                "-v",
                "-x",
                "c++",
                "/dev/null"
            ]
        );
        assert_eq!(builtin_probe(Family::Gcc, &args, Language::Asm), None);
    }

    #[test]
    fn the_chain_is_read_between_its_markers() {
        let stderr = b"ignoring nonexistent directory \"/nope\"\n\
#include \"...\" search starts here:\n q\n\
#include <...> search starts here:\n a\n /usr/lib/gcc/x86_64-linux-gnu/12/include\n \
/System/Library/Frameworks (framework directory)\n /usr/include\nEnd of search list.\n";
        assert_eq!(
            parse_builtin_chain(stderr).unwrap(),
            [
                "/nope",
                "a",
                "/usr/lib/gcc/x86_64-linux-gnu/12/include",
                "/usr/include"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(parse_builtin_chain(b"gcc: error\n"), None);
    }
}
