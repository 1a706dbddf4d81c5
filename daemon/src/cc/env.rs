//! Which environment variables join a C/C++ key, and which Emscripten
//! variables do (cache-keys.md §2 "Environment", §9).
//!
//! Lists only; the caller reads the values.

use std::ffi::OsStr;

use std::ffi::OsString;

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
    "DEVELOPER_DIR",
    "SDKROOT",
    "MACOSX_DEPLOYMENT_TARGET",
    "IPHONEOS_DEPLOYMENT_TARGET",
    "TVOS_DEPLOYMENT_TARGET",
    "WATCHOS_DEPLOYMENT_TARGET",
    "CCC_OVERRIDE_OPTIONS",
    "I_MPI_CC",
    "I_MPI_CXX",
    "QNX_HOST",
    "QNX_TARGET",
];

const EMCC: &[&str] = &["EM_CONFIG", "EMCC_CFLAGS"];

/// Variables whose values go into the key for this invocation.
pub(crate) fn key_env_vars(family: Family, _inv: &Invocation) -> Vec<&'static str> {
    let mut v = COMMON.to_vec();
    if family == Family::Emcc {
        v.extend_from_slice(EMCC);
    }
    v
}

/// `EMCC_*` and `EM_*` variables change what emcc does.
pub(crate) fn is_emcc_env(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.starts_with(b"EMCC_") || b.starts_with(b"EM_")
}

/// Variables that make a compile uncacheable (cache-keys.md §5).
pub(super) const UNSUPPORTED: &[&str] = &[
    "DEPENDENCIES_OUTPUT",
    "SUNPRO_DEPENDENCIES",
    "LD_PRELOAD",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
];

/// Refuse a compile whose environment changes what the compiler writes
/// in ways we do not track.
pub(super) fn check_env(_family: Family, env: &dyn Fn(&str) -> Option<OsString>) -> Result<(), Passthrough> {
    match UNSUPPORTED.iter().find(|v| env(v).is_some()) {
        Some(v) => Err(Passthrough::new(Reason::UnsupportedEnvironmentVariable, *v)),
        None => Ok(()),
    }
}
