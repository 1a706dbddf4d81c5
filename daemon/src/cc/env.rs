//! Environment variables: which ones join a C/C++/emcc key, and which ones make a call
//! uncacheable (cache-keys.md §2 "Environment", §5, §9).
//!
//! It reads the environment only through the caller's lookup, and leaves
//! `SOURCE_DATE_EPOCH` to the caller: whether it is keyed depends on the sources'
//! temporal macros (§4).

use std::ffi::{OsStr, OsString};

use frame::v1::Terminal;

use super::{Family, Invocation, Passthrough, Reason};

const COMMON: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "COMPILER_PATH",
    "GCC_EXEC_PREFIX",
    "GCC_COMPARE_DEBUG",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "GCC_COLORS",
    // The form of diagnostic URLs (`-fdiagnostics-urls=always`): BEL, ST or
    // none; GCC_URLS wins over TERM_URLS.
    "GCC_URLS",
    "TERM_URLS",
    // `fixits-v2`/`fixits-v1` add machine-readable fix-it lines to stderr.
    "GCC_EXTRA_DIAGNOSTIC_OUTPUT",
    // gettext reads it before LC_ALL, LC_MESSAGES and LANG.
    "LANGUAGE",
    // The producer string of clang's bitcode (`-emit-llvm`, `-flto`).
    "LLVM_OVERRIDE_PRODUCER",
    // clang 16+: whether default config files beside the driver are read.
    "CLANG_NO_DEFAULT_CONFIG",
    "DEVELOPER_DIR",
    "SDKROOT",
    "MACOSX_DEPLOYMENT_TARGET",
    "IPHONEOS_DEPLOYMENT_TARGET",
    "TVOS_DEPLOYMENT_TARGET",
    "WATCHOS_DEPLOYMENT_TARGET",
    "CCC_OVERRIDE_OPTIONS",
    "INCLUDE",
    "EXTERNAL_INCLUDE",
    "I_MPI_CC",
    "I_MPI_CXX",
    "QNX_HOST",
    "QNX_TARGET",
];

const EMCC: &[&str] = &["EM_CONFIG", "EMCC_CFLAGS"];

/// Variables whose values (unset distinct from empty) go into the key of every unit
/// of this invocation. For emcc, every variable for which [`is_emcc_env`] holds joins
/// the key too.
pub(crate) fn key_env_vars(family: Family, _inv: &Invocation) -> Vec<&'static str> {
    let mut v = COMMON.to_vec();
    if family == Family::Emcc {
        v.extend_from_slice(EMCC);
    }
    v
}

/// Variables that say nothing about what a compile produces and change from
/// one build or session to the next (jobserver, shell and terminal
/// bookkeeping, our own settings). A `#!` compiler is keyed by its whole
/// environment except these: the script may read any variable (`exec $CC`,
/// nix's `NIX_CFLAGS_COMPILE`, `PATH` to find the real compiler).
const SCRIPT_VOLATILE: &[&str] = &[
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "CARGO_MAKEFLAGS",
    "OLDPWD",
    "SHLVL",
    "_",
    "TERM_SESSION_ID",
    "WINDOWID",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_SESSION_ID",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
];

/// Whether a `#!` compiler's key leaves `name` out (see [`SCRIPT_VOLATILE`]).
pub(crate) fn is_volatile_for_scripts(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.starts_with(b"ZCCACHE_") || SCRIPT_VOLATILE.iter().any(|v| v.as_bytes() == b)
}

/// `EMCC_*` and `EM_*` variables change what emcc does.
pub(crate) fn is_emcc_env(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.starts_with(b"EMCC_") || b.starts_with(b"EM_")
}

/// Variables whose mere presence makes a compile uncacheable (cache-keys.md §5): gcc
/// writes an extra depfile.
const DEPFILE_VARS: &[&str] = &["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"];

/// clang's driver writes its command lines, headers, diagnostics or process statistics
/// to stderr or a file when these are set at all (even empty); gcc ignores them.
const CLANG_TRACE_VARS: &[&str] = &[
    "CC_PRINT_OPTIONS",
    "CC_PRINT_HEADERS",
    "CC_LOG_DIAGNOSTICS",
    "CC_PRINT_PROC_STAT",
];

/// Loader injection may make the compiler do anything; an empty value injects nothing.
const INJECTION_VARS: &[&str] = &["LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES"];

/// Refuses a compile whose environment changes what the compiler writes in ways the
/// arguments do not show. clang's `CCC_OVERRIDE_OPTIONS` rewrites the arguments
/// themselves, so classifying them would be classifying the wrong command.
pub(super) fn check_env(
    family: Family,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<(), Passthrough> {
    let non_empty = |name: &str| env(name).is_some_and(|value| !value.is_empty());
    let refused = DEPFILE_VARS
        .iter()
        .find(|name| env(name).is_some())
        .or_else(|| INJECTION_VARS.iter().find(|name| non_empty(name)))
        .or_else(|| {
            CLANG_TRACE_VARS
                .iter()
                .find(|name| family != Family::Gcc && env(name).is_some())
        })
        .copied()
        .or_else(|| {
            (family != Family::Gcc && non_empty("CCC_OVERRIDE_OPTIONS"))
                .then_some("CCC_OVERRIDE_OPTIONS")
        });
    match refused {
        Some(name) => Err(Passthrough::new(
            Reason::UnsupportedEnvironmentVariable,
            name,
        )),
        None => Ok(()),
    }
}

/// Variables gcc, clang and emcc read only when stderr is a terminal, to
/// choose colour, diagnostic URLs and the width of caret lines (see
/// ENVIRONMENT.md, "A terminal caller"). gcc colours unless `TERM` is unset
/// or `dumb`, and prints URLs unless `TERM`/`COLORTERM` name a terminal
/// known to garble them; clang colours when terminfo (`TERM`, `TERMINFO`,
/// `TERMINFO_DIRS`, `$HOME/.terminfo`) gives the terminal colours; both wrap
/// to `COLUMNS` first.
const TERMINAL_VARS: &[&str] = &[
    "TERM",
    "COLORTERM",
    "COLUMNS",
    "TERMINFO",
    "TERMINFO_DIRS",
    "HOME",
];

/// Every fact that decides the bytes a compiler writes to a terminal
/// stderr beyond what the key holds anyway, as (tag, value) pairs, unset
/// distinct from empty: [`TERMINAL_VARS`] and the measured widths (gcc
/// takes the columns of fd 0 when `COLUMNS` is unset; fd 2's size is the
/// pseudo-terminal's the compiler is run on). The one place of the key
/// that tells a terminal caller from a pipe.
pub(crate) fn terminal_facts(
    env: &dyn Fn(&str) -> Option<OsString>,
    terminal: &Terminal,
) -> Vec<(&'static str, Option<Vec<u8>>)> {
    let mut facts: Vec<(&'static str, Option<Vec<u8>>)> = TERMINAL_VARS
        .iter()
        .map(|&name| (name, env(name).map(OsString::into_encoded_bytes)))
        .collect();
    facts.push((
        "stdin_columns",
        Some(terminal.stdin_columns.to_le_bytes().to_vec()),
    ));
    facts.push((
        "stderr_columns",
        Some(terminal.stderr_columns.to_le_bytes().to_vec()),
    ));
    facts
}
