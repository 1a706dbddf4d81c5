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
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub(crate) enum Command {
    Start,
    /// `all`: every daemon of this user, then the broker.
    Stop {
        all: bool,
    },
    /// `all`: one row (or object) per live daemon of this user.
    Status {
        json: bool,
        all: bool,
    },
    /// Every daemon lets go of what it holds under `path`.
    ReleaseHandles {
        path: Option<OsString>,
        json: bool,
    },
    ZeroStats,
    Clear,
    Version,
    Help,
}

/// Classifies `argv` (including argv[0]).
pub(crate) fn parse(argv: Vec<OsString>) -> Entry {
    let mut argv = argv.into_iter();
    let argv0 = argv.next().unwrap_or_default();
    let rest: Vec<OsString> = argv.collect();
    if !is_wrapper_name(&argv0) {
        return Entry::Masquerade { argv0, args: rest };
    }
    let Some(first) = rest.first() else {
        return Entry::Usage("missing compiler or subcommand".to_owned());
    };
    let command = match first.as_bytes() {
        b"start" => Command::Start,
        b"stop" => Command::Stop { all: false },
        b"status" | b"stats" => Command::Status {
            json: false,
            all: false,
        },
        b"release-handles" => Command::ReleaseHandles {
            path: None,
            json: false,
        },
        b"zero-stats" => Command::ZeroStats,
        b"clear" => Command::Clear,
        b"--version" | b"-V" => Command::Version,
        b"--help" | b"-h" => Command::Help,
        [b'-', ..] => {
            return Entry::Usage(format!("unknown option {}", first.to_string_lossy()));
        }
        _ => {
            let mut rest = rest;
            let compiler = rest.remove(0);
            return Entry::Wrap {
                compiler,
                args: rest,
            };
        }
    };
    parse_options(command, &rest[1..])
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
            (Command::Status { json, .. } | Command::ReleaseHandles { json, .. }, b"--json") => {
                *json = true;
            }
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
        let status = |json, all| Entry::Command(Command::Status { json, all });
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
