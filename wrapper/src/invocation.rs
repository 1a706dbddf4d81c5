//! Splits the wrapper's argv into a subcommand or a compile request; pure, with no syscalls and no PATH lookup (resolve.rs finds the compiler).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `zccache <subcommand> …`.
    Command(Command),
    /// `zccache <compiler> args…`: the compiler as the build spelled it.
    Wrap {
        compiler: OsString,
        args: Vec<OsString>,
    },
    /// Invoked through a link named like a compiler (`gcc -> zccache`).
    Masquerade {
        argv0: OsString,
        args: Vec<OsString>,
    },
    /// The command line makes no sense; the text says why.
    Usage(String),
    /// A slip of the subcommand `meant`, not a compiler.
    Mistyped { typed: String, meant: &'static str },
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub(crate) enum Command {
    Start,
    /// `all`: every daemon of this user, then the broker.
    Stop {
        all: bool,
    },
    /// `all`: one row (or object) per live daemon of this user; `verbose`:
    /// every counter, not the summary.
    Status {
        json: bool,
        all: bool,
        verbose: bool,
    },
    /// Every daemon lets go of what it holds under `path`.
    ReleaseHandles {
        path: Option<OsString>,
        json: bool,
    },
    ZeroStats,
    Clear,
    /// Every setting, its value and where it came from.
    ShowConfig,
    /// What happened to the last compiles, or to one source or object.
    Explain {
        path: Option<OsString>,
        json: bool,
    },
    /// Persist a size limit in the config file.
    MaxSize {
        size: Option<OsString>,
    },
    Version,
    Help,
}

/// Every spelling of every subcommand: ours, then ccache's and sccache's.
/// A spelling that takes a value may also be written `-Mvalue` (short) or
/// `--max-size=value` (long).
/// Makes the command a spelling names.
type Make = fn() -> Command;

const SPELLINGS: &[(&str, Make)] = &[
    ("start", || Command::Start),
    ("--start-server", || Command::Start),
    ("stop", || Command::Stop { all: false }),
    ("--stop-server", || Command::Stop { all: false }),
    ("status", status),
    ("stats", status),
    ("-s", status),
    ("--show-stats", status),
    ("--show-adv-stats", || Command::Status {
        json: false,
        all: false,
        verbose: true,
    }),
    ("-sv", || Command::Status {
        json: false,
        all: false,
        verbose: true,
    }),
    ("release-handles", || Command::ReleaseHandles {
        path: None,
        json: false,
    }),
    ("zero-stats", || Command::ZeroStats),
    ("-z", || Command::ZeroStats),
    ("--zero-stats", || Command::ZeroStats),
    ("clear", || Command::Clear),
    ("-C", || Command::Clear),
    ("--clear", || Command::Clear),
    ("config", || Command::ShowConfig),
    ("-p", || Command::ShowConfig),
    ("--show-config", || Command::ShowConfig),
    ("explain", || Command::Explain {
        path: None,
        json: false,
    }),
    ("max-size", max_size),
    ("-M", max_size),
    ("--max-size", max_size),
    ("version", || Command::Version),
    ("-V", || Command::Version),
    ("--version", || Command::Version),
    ("help", || Command::Help),
    ("-h", || Command::Help),
    ("--help", || Command::Help),
];

/// The words a person types for a subcommand, for "did you mean".
const WORDS: &[&str] = &[
    "start",
    "stop",
    "status",
    "stats",
    "release-handles",
    "zero-stats",
    "clear",
    "config",
    "explain",
    "max-size",
    "version",
    "help",
];

fn status() -> Command {
    Command::Status {
        json: false,
        all: false,
        verbose: false,
    }
}

fn max_size() -> Command {
    Command::MaxSize { size: None }
}

/// Classifies `argv` (including argv[0]).
pub(crate) fn parse(argv: Vec<OsString>) -> Entry {
    let mut argv = argv.into_iter();
    let argv0 = argv.next().unwrap_or_default();
    let mut rest: Vec<OsString> = argv.collect();
    if !is_wrapper_name(&argv0) {
        return Entry::Masquerade { argv0, args: rest };
    }
    let Some(first) = rest.first() else {
        return Entry::Usage("missing compiler or subcommand".to_owned());
    };
    let Some((command, attached)) = spelled(first.as_bytes()) else {
        if first.as_bytes().starts_with(b"-") {
            return Entry::Usage(format!("unknown option {}", first.to_string_lossy()));
        }
        if let Some(meant) = mistyped(first.as_bytes()) {
            return Entry::Mistyped {
                typed: first.to_string_lossy().into_owned(),
                meant,
            };
        }
        let compiler = rest.remove(0);
        return Entry::Wrap {
            compiler,
            args: rest,
        };
    };
    let mut options: Vec<OsString> = attached.into_iter().collect();
    options.extend(rest.drain(1..));
    parse_options(command, &options)
}

/// The subcommand `word` spells, and a value attached to it (`-M20G`,
/// `--max-size=20G`).
fn spelled(word: &[u8]) -> Option<(Command, Option<OsString>)> {
    if let Some((_, make)) = SPELLINGS.iter().find(|(s, _)| s.as_bytes() == word) {
        return Some((make(), None));
    }
    let (value, make) = if let Some(v) = word.strip_prefix(b"--max-size=") {
        (v, max_size as Make)
    } else if let Some(v) = word.strip_prefix(b"-M").filter(|v| !v.is_empty()) {
        (v, max_size as Make)
    } else {
        return None;
    };
    Some((make(), Some(OsStr::from_bytes(value).to_os_string())))
}

/// The subcommand `word` is a slip of: one edit away (a letter wrong,
/// missing, extra or two swapped) or the start of one. No compiler is
/// called like that, and running `stat` for `stats` helps nobody.
fn mistyped(word: &[u8]) -> Option<&'static str> {
    let word = std::str::from_utf8(word).ok()?;
    if word.len() < 3 || word.contains('/') {
        return None;
    }
    let prefix = WORDS.iter().find(|w| w.starts_with(word));
    prefix
        .or_else(|| WORDS.iter().find(|w| one_edit(word, w)))
        .copied()
}

/// Whether `a` and `b` differ by one insertion, deletion, substitution or
/// swap of neighbours.
fn one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[common..], &b[common..]);
    let tail = |x: &[u8], y: &[u8]| x == y;
    match (ra.len(), rb.len()) {
        (0, 0) => false,
        (n, m) if n == m => {
            tail(&ra[1..], &rb[1..])
                || (n >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && tail(&ra[2..], &rb[2..]))
        }
        (n, m) if n == m + 1 => tail(&ra[1..], rb),
        (n, m) if n + 1 == m => tail(ra, &rb[1..]),
        _ => false,
    }
}

/// True when `argv0`'s file name says "this is the zccache command itself"
/// rather than a compiler name that links to it.
pub(crate) fn is_wrapper_name(argv0: &OsStr) -> bool {
    Path::new(argv0)
        .file_name()
        .is_some_and(|name| name.as_bytes().starts_with(b"zccache"))
}

fn parse_options(command: Command, options: &[OsString]) -> Entry {
    let mut command = command;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match (&mut command, option.as_bytes()) {
            (
                Command::Status { json, .. }
                | Command::ReleaseHandles { json, .. }
                | Command::Explain { json, .. },
                b"--json",
            ) => *json = true,
            (
                Command::Explain {
                    path: path @ None, ..
                },
                _,
            ) => *path = Some(option.clone()),
            (Command::Status { verbose, .. }, b"-v" | b"--verbose") => *verbose = true,
            (Command::MaxSize { size: size @ None }, _) => *size = Some(option.clone()),
            (Command::Status { all, .. } | Command::Stop { all }, b"--all") => *all = true,
            (Command::ReleaseHandles { path, .. }, b"--path") => match options.next() {
                Some(value) => *path = Some(value.clone()),
                None => return Entry::Usage("--path needs a value".to_owned()),
            },
            (Command::ReleaseHandles { path, .. }, bytes) if bytes.starts_with(b"--path=") => {
                *path = Some(OsStr::from_bytes(&bytes[b"--path=".len()..]).to_os_string());
            }
            _ => {
                let option = option.to_string_lossy();
                return Entry::Usage(format!("unexpected argument {option}"));
            }
        }
    }
    match command {
        Command::MaxSize { size: None } => Entry::Usage("--max-size needs a size".to_owned()),
        Command::ReleaseHandles { path: None, .. } => {
            Entry::Usage("release-handles needs --path P".to_owned())
        }
        Command::ReleaseHandles { path: Some(p), .. } if p.is_empty() => {
            Entry::Usage("--path needs a value".to_owned())
        }
        command => Entry::Command(command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(argv: &[&str], expected: Entry) {
        let argv = argv.iter().map(OsString::from).collect();
        assert_eq!(parse(argv), expected);
    }

    fn os(values: &[&str]) -> Vec<OsString> {
        values.iter().map(OsString::from).collect()
    }

    #[test]
    fn subcommands() {
        check(&["zccache", "start"], Entry::Command(Command::Start));
        check(
            &["/usr/bin/zccache", "stop"],
            Entry::Command(Command::Stop { all: false }),
        );
        check(
            &["zccache", "stop", "--all"],
            Entry::Command(Command::Stop { all: true }),
        );
        let status = |json, all| {
            Entry::Command(Command::Status {
                json,
                all,
                verbose: false,
            })
        };
        check(&["zccache", "status"], status(false, false));
        check(&["zccache", "status", "--json"], status(true, false));
        check(&["zccache", "stats"], status(false, false));
        check(&["zccache", "status", "--all"], status(false, true));
        check(
            &["zccache", "status", "--all", "--json"],
            status(true, true),
        );
        check(
            &["zccache", "status", "--json", "--all"],
            status(true, true),
        );
        let release = |path: &str, json| {
            Entry::Command(Command::ReleaseHandles {
                path: Some(path.into()),
                json,
            })
        };
        check(
            &["zccache", "release-handles", "--path", "/w"],
            release("/w", false),
        );
        check(
            &["zccache", "release-handles", "--json", "--path", "w t"],
            release("w t", true),
        );
        check(
            &["zccache", "release-handles", "--path=/w/x", "--json"],
            release("/w/x", true),
        );
        check(
            &["zccache", "release-handles", "--path", "--json"],
            release("--json", false),
        );
        check(
            &["zccache", "zero-stats"],
            Entry::Command(Command::ZeroStats),
        );
        check(&["zccache", "clear"], Entry::Command(Command::Clear));
        check(&["zccache", "-V"], Entry::Command(Command::Version));
        check(&["zccache", "--version"], Entry::Command(Command::Version));
        check(&["zccache", "-h"], Entry::Command(Command::Help));
        check(&["zccache-0.1", "--help"], Entry::Command(Command::Help));
    }

    #[test]
    fn ccache_and_sccache_spellings() {
        let status = |verbose| {
            Entry::Command(Command::Status {
                json: false,
                all: false,
                verbose,
            })
        };
        for word in ["-s", "--show-stats", "stats", "status"] {
            check(&["zccache", word], status(false));
        }
        check(&["zccache", "--show-adv-stats"], status(true));
        check(&["zccache", "-sv"], status(true));
        check(&["zccache", "-s", "-v"], status(true));
        check(&["zccache", "stats", "--verbose"], status(true));
        for word in ["-z", "--zero-stats"] {
            check(&["zccache", word], Entry::Command(Command::ZeroStats));
        }
        for word in ["-C", "--clear"] {
            check(&["zccache", word], Entry::Command(Command::Clear));
        }
        for word in ["-p", "--show-config", "config"] {
            check(&["zccache", word], Entry::Command(Command::ShowConfig));
        }
        check(
            &["zccache", "--start-server"],
            Entry::Command(Command::Start),
        );
        check(
            &["zccache", "--stop-server"],
            Entry::Command(Command::Stop { all: false }),
        );
        check(
            &["zccache", "explain"],
            Entry::Command(Command::Explain {
                path: None,
                json: false,
            }),
        );
        check(
            &["zccache", "explain", "a.o", "--json"],
            Entry::Command(Command::Explain {
                path: Some("a.o".into()),
                json: true,
            }),
        );
        check(&["zccache", "help"], Entry::Command(Command::Help));
        check(&["zccache", "version"], Entry::Command(Command::Version));
        let size = |s: &str| {
            Entry::Command(Command::MaxSize {
                size: Some(s.into()),
            })
        };
        check(&["zccache", "-M", "20G"], size("20G"));
        check(&["zccache", "-M20G"], size("20G"));
        check(&["zccache", "--max-size", "5M"], size("5M"));
        check(&["zccache", "--max-size=1T"], size("1T"));
        check(&["zccache", "max-size", "1T"], size("1T"));
        check(
            &["zccache", "-M"],
            Entry::Usage("--max-size needs a size".to_owned()),
        );
        check(
            &["zccache", "-M", "1G", "2G"],
            Entry::Usage("unexpected argument 2G".to_owned()),
        );
    }

    #[test]
    fn slips_of_a_subcommand_are_not_run_as_compilers() {
        for (typed, meant) in [
            ("stat", "status"),
            ("sttas", "stats"),
            ("statsu", "status"),
            ("stpo", "stop"),
            ("strat", "start"),
            ("clean", "clear"),
            ("zero", "zero-stats"),
            ("hepl", "help"),
            ("verison", "version"),
            ("conifg", "config"),
        ] {
            check(
                &["zccache", typed],
                Entry::Mistyped {
                    typed: typed.to_owned(),
                    meant,
                },
            );
        }
        for compiler in ["gcc", "cc", "clang", "c++", "rustc", "emcc", "./stat", "cl"] {
            check(
                &["zccache", compiler],
                Entry::Wrap {
                    compiler: compiler.into(),
                    args: vec![],
                },
            );
        }
    }

    #[test]
    fn usage_errors() {
        check(
            &["zccache"],
            Entry::Usage("missing compiler or subcommand".to_owned()),
        );
        check(
            &["zccache", "-c", "a.c"],
            Entry::Usage("unknown option -c".to_owned()),
        );
        check(
            &["zccache", "stop", "now"],
            Entry::Usage("unexpected argument now".to_owned()),
        );
        for argv in [
            &["zccache", "release-handles"][..],
            &["zccache", "release-handles", "--json"],
        ] {
            check(
                argv,
                Entry::Usage("release-handles needs --path P".to_owned()),
            );
        }
        for argv in [
            &["zccache", "release-handles", "--path"][..],
            &["zccache", "release-handles", "--path="],
        ] {
            check(argv, Entry::Usage("--path needs a value".to_owned()));
        }
        for (argv, bad) in [
            (&["zccache", "zero-stats", "--all"][..], "--all"),
            (&["zccache", "stop", "--json"], "--json"),
            (&["zccache", "status", "--path", "/w"], "--path"),
            (
                &["zccache", "release-handles", "--all", "--path", "/w"],
                "--all",
            ),
        ] {
            check(argv, Entry::Usage(format!("unexpected argument {bad}")));
        }
    }

    #[test]
    fn wrap() {
        check(
            &["zccache", "gcc", "-c", "a.c"],
            Entry::Wrap {
                compiler: "gcc".into(),
                args: os(&["-c", "a.c"]),
            },
        );
        check(
            &["./bin/zccache", "./compiler.sh", "status"],
            Entry::Wrap {
                compiler: "./compiler.sh".into(),
                args: os(&["status"]),
            },
        );
        check(
            &["zccache", "zccache", "gcc"],
            Entry::Wrap {
                compiler: "zccache".into(),
                args: os(&["gcc"]),
            },
        );
    }

    #[test]
    fn masquerade() {
        check(
            &["gcc", "-c", "a.c"],
            Entry::Masquerade {
                argv0: "gcc".into(),
                args: os(&["-c", "a.c"]),
            },
        );
        check(
            &["/usr/lib/zccache/clang++", "status"],
            Entry::Masquerade {
                argv0: "/usr/lib/zccache/clang++".into(),
                args: os(&["status"]),
            },
        );
        check(
            &["em++"],
            Entry::Masquerade {
                argv0: "em++".into(),
                args: vec![],
            },
        );
    }
}
