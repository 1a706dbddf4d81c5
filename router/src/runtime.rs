//! The per-user runtime directory that holds endpoints, locks and logs:
//! choosing it, creating it private, and refusing one that is not. It
//! never creates anything inside the directory.
//!
//! Choice, first match wins:
//!
//! 1. `ZCCACHE_RUNTIME_DIR`, used as the runtime directory itself. It lets
//!    tests (and hosts without a usable `/tmp`) keep endpoints in a
//!    directory of their choosing; it must be absolute.
//! 2. `$XDG_RUNTIME_DIR/zccache`, when `XDG_RUNTIME_DIR` is absolute, an
//!    existing directory and owned by the effective uid.
//! 3. `/tmp/zccache-<euid>`, named by the numeric effective uid and never
//!    by `$USER`, which anyone can set. It is `/tmp` rather than `$TMPDIR`
//!    because builds often change `TMPDIR`, and every process of one user
//!    must agree on where the broker lives.
//! 4. When that name is taken (another user's, a symlink, a file, or a
//!    mode other than 0700: anyone may create it first in `/tmp`),
//!    `$XDG_CACHE_HOME/zccache-runtime`, else `$HOME/.cache/zccache-runtime`:
//!    squatting `/tmp` must not turn caching off. Every process of ours
//!    sees the same squatter and so agrees on the same fallback; the
//!    process that creates it says so once ([`RuntimeDir::notice`]).
//!
//! Whatever the choice, the directory is created with mode 0700 when
//! missing, then verified with `lstat`: a real directory, owned by the
//! effective uid, mode exactly 0700. Anything else is refused, never
//! repaired, because another user may already have planted entries in it.

use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A runtime directory that has been created if needed and verified
/// private. Its path is short enough that every endpoint inside it fits
/// the socket path limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeDir(PathBuf, Option<String>);

impl RuntimeDir {
    /// Creates `path` (the leaf only, mode 0700) when missing and verifies
    /// it. Creation racing with another process is fine: whoever made it,
    /// the verification decides.
    pub fn at(path: &Path) -> Result<RuntimeDir, RuntimeDirError> {
        if !path.is_absolute() {
            return Err(RuntimeDirError::NotAbsolute {
                path: path.to_path_buf(),
            });
        }
        match DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {
                // The umask may have removed owner bits, and a set-group-id
                // parent adds S_ISGID; both would fail the exact-mode check
                // on a directory we just made ourselves.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(
                    |source| RuntimeDirError::Create {
                        path: path.to_path_buf(),
                        source,
                    },
                )?;
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(RuntimeDirError::Create {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        verify_runtime_dir(path)?;
        let max = crate::sockaddr::max_runtime_dir_len();
        if path.as_os_str().len() > max {
            return Err(RuntimeDirError::TooLong {
                path: path.to_path_buf(),
                max,
            });
        }
        Ok(RuntimeDir(path.to_path_buf(), None))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// One line to show people, set only for the call that created the
    /// home fallback because `/tmp/zccache-<euid>` is taken: why, and
    /// where instead. Every later call finds the directory and says
    /// nothing.
    pub fn notice(&self) -> Option<&str> {
        self.1.as_deref()
    }
}

/// The environment variables that choose the runtime directory, captured so
/// that the choice can be tested without touching the process environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeDirEnv {
    /// `ZCCACHE_RUNTIME_DIR`
    pub zccache_runtime_dir: Option<OsString>,
    /// `XDG_RUNTIME_DIR`
    pub xdg_runtime_dir: Option<OsString>,
    /// `XDG_CACHE_HOME`, for the fallback when `/tmp`'s name is taken.
    pub xdg_cache_home: Option<OsString>,
    /// `HOME`, likewise.
    pub home: Option<OsString>,
}

impl RuntimeDirEnv {
    /// Reads both variables from the current process.
    pub fn from_process_env() -> RuntimeDirEnv {
        RuntimeDirEnv {
            zccache_runtime_dir: std::env::var_os("ZCCACHE_RUNTIME_DIR"),
            xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR"),
            xdg_cache_home: std::env::var_os("XDG_CACHE_HOME"),
            home: std::env::var_os("HOME"),
        }
    }
}

/// The runtime directory for this process's environment, created and
/// verified.
pub fn runtime_dir() -> Result<RuntimeDir, RuntimeDirError> {
    runtime_dir_in(&RuntimeDirEnv::from_process_env())
}

/// The runtime directory for the given environment, created and verified.
pub fn runtime_dir_in(env: &RuntimeDirEnv) -> Result<RuntimeDir, RuntimeDirError> {
    let euid = euid();
    let chosen = choose_runtime_dir(env, euid);
    let taken = match RuntimeDir::at(&chosen) {
        Err(err) if err.is_insecure() && chosen == tmp_runtime_dir(euid) => err,
        other => return other,
    };
    let Some(fallback) = home_runtime_dir(env) else {
        return Err(taken);
    };
    let fresh = std::fs::symlink_metadata(&fallback).is_err();
    if let Some(parent) = fallback.parent() {
        // The parents are the user's own (`~/.cache`); only the leaf must
        // be private, and `RuntimeDir::at` checks it.
        let _ = std::fs::create_dir_all(parent);
    }
    let mut rt = RuntimeDir::at(&fallback)?;
    if fresh {
        rt.1 = Some(format!("{taken}; using {} instead", fallback.display()));
    }
    Ok(rt)
}

/// `/tmp/zccache-<euid>`.
fn tmp_runtime_dir(euid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/zccache-{euid}"))
}

/// Where the runtime directory goes when `/tmp`'s name is taken:
/// `$XDG_CACHE_HOME/zccache-runtime`, else `$HOME/.cache/zccache-runtime`
/// (absolute values only, as for the cache root).
fn home_runtime_dir(env: &RuntimeDirEnv) -> Option<PathBuf> {
    let absolute = |v: &Option<OsString>| v.as_ref().map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = absolute(&env.xdg_cache_home) {
        return Some(xdg.join("zccache-runtime"));
    }
    absolute(&env.home).map(|home| home.join(".cache").join("zccache-runtime"))
}

/// Checks, without following symlinks, that `path` is a directory owned by
/// the effective uid with mode exactly 0700.
pub fn verify_runtime_dir(path: &Path) -> Result<(), RuntimeDirError> {
    let path_buf = || path.to_path_buf();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(RuntimeDirError::NotFound { path: path_buf() })
        }
        Err(source) => {
            return Err(RuntimeDirError::Inspect {
                path: path_buf(),
                source,
            })
        }
    };
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Err(RuntimeDirError::Symlink { path: path_buf() });
    }
    if !file_type.is_dir() {
        return Err(RuntimeDirError::NotADirectory { path: path_buf() });
    }
    let euid = euid();
    if meta.uid() != euid {
        return Err(RuntimeDirError::ForeignOwner {
            path: path_buf(),
            owner: meta.uid(),
            euid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode != 0o700 {
        return Err(RuntimeDirError::BadMode {
            path: path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Why the runtime directory cannot be used. Every variant means the same
/// thing to a wrapper: compile directly.
#[derive(Debug)]
#[non_exhaustive]
pub enum RuntimeDirError {
    /// The path is relative (for example a relative `ZCCACHE_RUNTIME_DIR`).
    NotAbsolute { path: PathBuf },
    /// Creating the directory failed (for example its parent is missing).
    Create { path: PathBuf, source: io::Error },
    /// `lstat` failed for a reason other than absence.
    Inspect { path: PathBuf, source: io::Error },
    /// Nothing exists at the path.
    NotFound { path: PathBuf },
    /// The path is a symbolic link.
    Symlink { path: PathBuf },
    /// The path exists but is not a directory.
    NotADirectory { path: PathBuf },
    /// The directory belongs to another user.
    ForeignOwner {
        path: PathBuf,
        owner: u32,
        euid: u32,
    },
    /// The directory is ours but its mode is not exactly 0700.
    BadMode { path: PathBuf, mode: u32 },
    /// The path is so long that endpoints inside it would not fit a socket
    /// address.
    TooLong { path: PathBuf, max: usize },
}

impl RuntimeDirError {
    /// The directory the error is about.
    pub fn path(&self) -> &Path {
        match self {
            RuntimeDirError::NotAbsolute { path }
            | RuntimeDirError::Create { path, .. }
            | RuntimeDirError::Inspect { path, .. }
            | RuntimeDirError::NotFound { path }
            | RuntimeDirError::Symlink { path }
            | RuntimeDirError::NotADirectory { path }
            | RuntimeDirError::ForeignOwner { path, .. }
            | RuntimeDirError::BadMode { path, .. }
            | RuntimeDirError::TooLong { path, .. } => path,
        }
    }

    /// Nothing exists at the path.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeDirError::NotFound { .. })
    }

    /// Something exists at the path but is not safe to use: a symlink, not
    /// a directory, another user's, or not mode 0700. These are worth a
    /// warning that names the path, since only a person can fix them.
    pub fn is_insecure(&self) -> bool {
        matches!(
            self,
            RuntimeDirError::Symlink { .. }
                | RuntimeDirError::NotADirectory { .. }
                | RuntimeDirError::ForeignOwner { .. }
                | RuntimeDirError::BadMode { .. }
        )
    }
}

impl fmt::Display for RuntimeDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeDirError::NotAbsolute { path } => write!(
                f,
                "runtime directory {} is not an absolute path: check ZCCACHE_RUNTIME_DIR",
                path.display()
            ),
            RuntimeDirError::Create { path, .. } => {
                write!(f, "create runtime directory {}", path.display())
            }
            RuntimeDirError::Inspect { path, .. } => {
                write!(f, "inspect runtime directory {}", path.display())
            }
            RuntimeDirError::NotFound { path } => {
                write!(f, "runtime directory {} does not exist", path.display())
            }
            RuntimeDirError::Symlink { path } => write!(
                f,
                "runtime directory {} is a symbolic link: remove it",
                path.display()
            ),
            RuntimeDirError::NotADirectory { path } => write!(
                f,
                "runtime directory {} is not a directory: remove it",
                path.display()
            ),
            RuntimeDirError::ForeignOwner { path, owner, euid } => write!(
                f,
                "runtime directory {} is owned by uid {owner}, not by uid {euid}: \
                 have it removed, or set ZCCACHE_RUNTIME_DIR to a private directory",
                path.display()
            ),
            RuntimeDirError::BadMode { path, mode } => write!(
                f,
                "runtime directory {} has mode {mode:04o}, expected 0700: remove it or chmod 0700",
                path.display()
            ),
            RuntimeDirError::TooLong { path, max } => write!(
                f,
                "runtime directory {} is longer than {max} bytes, too long for socket paths: \
                 set ZCCACHE_RUNTIME_DIR to a shorter path",
                path.display()
            ),
        }
    }
}

impl Error for RuntimeDirError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RuntimeDirError::Create { source, .. } | RuntimeDirError::Inspect { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn choose_runtime_dir(env: &RuntimeDirEnv, euid: u32) -> PathBuf {
    if let Some(dir) = env.zccache_runtime_dir.as_ref().filter(|v| !v.is_empty()) {
        // Relative values are passed on and refused by `RuntimeDir::at`, so
        // the message can name the variable instead of silently falling back.
        return PathBuf::from(dir);
    }
    if let Some(xdg) = env.xdg_runtime_dir.as_ref().map(Path::new) {
        if xdg_usable(xdg, euid) {
            return xdg.join("zccache");
        }
    }
    tmp_runtime_dir(euid)
}

fn xdg_usable(xdg: &Path, euid: u32) -> bool {
    xdg.is_absolute()
        && std::fs::metadata(xdg).is_ok_and(|meta| meta.is_dir() && meta.uid() == euid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn env(zccache: Option<&Path>, xdg: Option<&Path>) -> RuntimeDirEnv {
        RuntimeDirEnv {
            zccache_runtime_dir: zccache.map(|p| p.as_os_str().to_owned()),
            xdg_runtime_dir: xdg.map(|p| p.as_os_str().to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn home_fallback_places() {
        let with = |xdg: Option<&str>, home: Option<&str>| RuntimeDirEnv {
            xdg_cache_home: xdg.map(OsString::from),
            home: home.map(OsString::from),
            ..Default::default()
        };
        assert_eq!(
            home_runtime_dir(&with(Some("/x"), Some("/h"))),
            Some(PathBuf::from("/x/zccache-runtime"))
        );
        assert_eq!(
            home_runtime_dir(&with(Some("rel"), Some("/h"))),
            Some(PathBuf::from("/h/.cache/zccache-runtime"))
        );
        assert_eq!(home_runtime_dir(&with(None, Some("h"))), None);
        assert_eq!(home_runtime_dir(&with(None, None)), None);
    }

    #[track_caller]
    fn check_choice(env: RuntimeDirEnv, expected: &Path) {
        assert_eq!(choose_runtime_dir(&env, 1234), expected);
    }

    #[test]
    fn choice_order() {
        let tmp = TempDir::new();
        let xdg = tmp.path().join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        let fallback = Path::new("/tmp/zccache-1234");
        // Our xdg dir is owned by the real euid, not by the 1234 passed in.
        check_choice(env(None, Some(&xdg)), fallback);
        assert_eq!(
            choose_runtime_dir(&env(None, Some(&xdg)), euid()),
            xdg.join("zccache")
        );
        check_choice(env(Some(Path::new("/o")), Some(&xdg)), Path::new("/o"));
        check_choice(env(Some(Path::new("rel")), None), Path::new("rel"));
        check_choice(env(Some(Path::new("")), None), fallback);
        check_choice(env(None, None), fallback);
        check_choice(env(None, Some(Path::new(""))), fallback);
        check_choice(env(None, Some(Path::new("relative"))), fallback);
        check_choice(env(None, Some(&tmp.path().join("missing"))), fallback);
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        check_choice(env(None, Some(&file)), fallback);
    }

    #[test]
    fn fallback_uses_numeric_euid_not_user() {
        let chosen = choose_runtime_dir(&RuntimeDirEnv::default(), euid());
        assert_eq!(chosen, PathBuf::from(format!("/tmp/zccache-{}", euid())));
    }

    #[test]
    fn creates_private_dir_under_xdg() {
        let tmp = TempDir::new();
        let xdg = tmp.path().join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        let rt = runtime_dir_in(&env(None, Some(&xdg))).unwrap();
        assert_eq!(rt.path(), xdg.join("zccache"));
        let meta = std::fs::symlink_metadata(rt.path()).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o700);
        // A second call finds it and accepts it.
        assert_eq!(runtime_dir_in(&env(None, Some(&xdg))).unwrap(), rt);
    }

    #[test]
    fn created_mode_ignores_setgid_parent() {
        let tmp = TempDir::new();
        let parent = tmp.path().join("sgid");
        std::fs::create_dir(&parent).unwrap();
        set_mode(&parent, 0o2755);
        let rt = RuntimeDir::at(&parent.join("rt")).unwrap();
        assert_eq!(std::fs::metadata(rt.path()).unwrap().mode() & 0o7777, 0o700);
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        Ok,
        NotAbsolute,
        Create,
        NotFound,
        Symlink,
        NotADirectory,
        ForeignOwner,
        BadMode(u32),
    }

    #[track_caller]
    fn check_at(path: &Path, want: Want) {
        let got = match RuntimeDir::at(path) {
            Ok(_) => Want::Ok,
            Err(RuntimeDirError::NotAbsolute { .. }) => Want::NotAbsolute,
            Err(RuntimeDirError::Create { .. }) => Want::Create,
            Err(RuntimeDirError::NotFound { .. }) => Want::NotFound,
            Err(RuntimeDirError::Symlink { .. }) => Want::Symlink,
            Err(RuntimeDirError::NotADirectory { .. }) => Want::NotADirectory,
            Err(RuntimeDirError::ForeignOwner { .. }) => Want::ForeignOwner,
            Err(RuntimeDirError::BadMode { mode, .. }) => Want::BadMode(mode),
            Err(other) => panic!("unexpected {other:?}"),
        };
        assert_eq!(got, want, "{}", path.display());
    }

    #[test]
    fn refusals() {
        let tmp = TempDir::new();
        let base = tmp.path();

        check_at(Path::new("relative/rt"), Want::NotAbsolute);
        check_at(&base.join("missing/rt"), Want::Create);

        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        set_mode(&open, 0o777);
        check_at(&open, Want::BadMode(0o777));

        let group = base.join("group");
        std::fs::create_dir(&group).unwrap();
        set_mode(&group, 0o750);
        check_at(&group, Want::BadMode(0o750));

        let sticky = base.join("sticky");
        std::fs::create_dir(&sticky).unwrap();
        set_mode(&sticky, 0o1700);
        check_at(&sticky, Want::BadMode(0o1700));

        let private = base.join("private");
        std::fs::create_dir(&private).unwrap();
        set_mode(&private, 0o700);
        check_at(&private, Want::Ok);

        let link = base.join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        check_at(&link, Want::Symlink);

        let dangling = base.join("dangling");
        std::os::unix::fs::symlink(base.join("nowhere"), &dangling).unwrap();
        check_at(&dangling, Want::Symlink);

        let file = base.join("file");
        std::fs::write(&file, b"").unwrap();
        check_at(&file, Want::NotADirectory);

        assert!(verify_runtime_dir(&base.join("absent"))
            .unwrap_err()
            .is_not_found());
    }

    #[test]
    fn foreign_owner_refused() {
        if euid() == 0 {
            let tmp = TempDir::new();
            let foreign = tmp.path().join("foreign");
            std::fs::create_dir(&foreign).unwrap();
            set_mode(&foreign, 0o700);
            std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
            check_at(&foreign, Want::ForeignOwner);
        } else {
            // Without root we cannot give a directory away, but `/` is
            // root's and that is enough to be foreign.
            check_at(Path::new("/"), Want::ForeignOwner);
        }
    }

    #[test]
    fn too_long_refused() {
        let tmp = TempDir::new();
        let mut long = tmp.path().to_path_buf();
        while long.as_os_str().len() <= crate::sockaddr::max_runtime_dir_len() {
            long.push("x".repeat(20));
        }
        std::fs::create_dir_all(long.parent().unwrap()).unwrap();
        let err = RuntimeDir::at(&long).unwrap_err();
        assert!(matches!(err, RuntimeDirError::TooLong { .. }), "{err:?}");
    }

    #[track_caller]
    fn check_message(err: RuntimeDirError, expected: &str) {
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn messages() {
        let path = PathBuf::from("/tmp/zccache-0");
        check_message(
            RuntimeDirError::BadMode {
                path: path.clone(),
                mode: 0o777,
            },
            "runtime directory /tmp/zccache-0 has mode 0777, expected 0700: remove it or chmod 0700",
        );
        check_message(
            RuntimeDirError::Symlink { path: path.clone() },
            "runtime directory /tmp/zccache-0 is a symbolic link: remove it",
        );
        check_message(
            RuntimeDirError::ForeignOwner {
                path: path.clone(),
                owner: 65534,
                euid: 0,
            },
            "runtime directory /tmp/zccache-0 is owned by uid 65534, not by uid 0: \
             have it removed, or set ZCCACHE_RUNTIME_DIR to a private directory",
        );
        let err = RuntimeDirError::BadMode { path, mode: 0o777 };
        assert!(err.is_insecure() && !err.is_not_found());
        assert_eq!(err.path(), Path::new("/tmp/zccache-0"));
    }
}
