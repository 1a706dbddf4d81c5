//! The compiler's own word on whether a compile expands `__DATE__`,
//! `__TIME__` or `__TIMESTAMP__`, asked when only a `##` paste could form
//! one: the scan (`scan::paste`) can say "maybe", never "no", and a
//! paste of glibc's with an enum member named `TIME` (zlib's inflate.c)
//! would leave such units never stored. `-Wdate-time` fires exactly where
//! the preprocessor expands one, pasted or not; made an error, it decides
//! the dependency run's exit code. This module builds that run; it does
//! not decide when to ask (the pipeline asks on the miss after a Store a
//! paste refused) and does not read the answer (a failed dependency run
//! stores nothing).

use std::ffi::{OsStr, OsString};

use super::Family;

/// Appended last, so that they override the caller's own: warnings on in
/// system headers too, every other warning not an error, and `-Wdate-time`
/// an error.
const CHECK_FLAGS: [&str; 4] = [
    "-Wno-error",
    "-Wsystem-headers",
    "-Wdate-time",
    "-Werror=date-time",
];

/// Arguments the caller may hold that silence the warning in ways a later
/// flag does not undo, or that we cannot see through: the check is not
/// asked then.
fn defeats_the_check(arg: &OsStr) -> bool {
    let a = arg.as_encoded_bytes();
    [
        &b"-Xclang"[..],
        b"-Xpreprocessor",
        b"-Wp,",
        b"--config",
        b"-specs",
        b"--specs",
        b"-Wno-everything",
        b"-fplugin",
    ]
    .iter()
    .any(|p| a.starts_with(p))
}

/// The dependency run that checks, from the unit's dependency-only
/// arguments (mode, output and depfile flags already dropped): a full
/// preprocess to `/dev/null` that fails when a temporal macro expands,
/// still writing `depfile` (`-MD`) when one is asked. `None` when the
/// compiler or the arguments make the check's silence no proof: only gcc
/// and clang (the caller rules out `#!` scripts and config files, which
/// can hold `-w`).
pub(crate) fn check_run(
    family: Family,
    probe_args: Vec<OsString>,
    depfile: Option<&OsStr>,
) -> Option<Vec<OsString>> {
    if !matches!(family, Family::Gcc | Family::Clang) {
        return None;
    }
    if probe_args.iter().any(|a| defeats_the_check(a)) {
        return None;
    }
    // `-w` silences every warning whatever follows it; the check's
    // verdict is about the preprocessed text, which `-w` does not change.
    let mut args: Vec<OsString> = probe_args
        .into_iter()
        .filter(|a| a != "-w" && a != "--no-warnings")
        .collect();
    args.extend(["-E", "-o", "/dev/null"].map(OsString::from));
    if let Some(d) = depfile {
        args.extend([OsString::from("-MD"), "-MF".into(), d.to_os_string()]);
    }
    args.extend(CHECK_FLAGS.map(OsString::from));
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_check_preprocesses_fully_and_fails_on_a_temporal_macro() {
        let run = check_run(Family::Gcc, os(&["-O2", "-w", "a.c"]), None).unwrap();
        assert_eq!(
            run,
            os(&[
                "-O2",
                "a.c",
                "-E",
                "-o",
                "/dev/null",
                "-Wno-error",
                "-Wsystem-headers",
                "-Wdate-time",
                "-Werror=date-time"
            ])
        );
        let run = check_run(Family::Clang, os(&["a.c"]), Some(OsStr::new("d"))).unwrap();
        assert_eq!(
            run[..7],
            os(&["a.c", "-E", "-o", "/dev/null", "-MD", "-MF", "d"])
        );
    }

    #[test]
    fn no_check_where_silence_proves_nothing() {
        assert!(check_run(Family::Emcc, os(&["a.c"]), None).is_none());
        for arg in [
            "-Xclang",
            "-Wp,-w",
            "--config=x.cfg",
            "-specs=s",
            "-Wno-everything",
        ] {
            assert!(
                check_run(Family::Gcc, os(&[arg, "a.c"]), None).is_none(),
                "{arg}"
            );
        }
    }
}
