//! Cache root resolution and the daemon key derived from it. It creates the
//! cache root when missing but never looks inside it.
//!
//! The root is canonicalized after creation so that every spelling of one
//! directory (relative, through a symlink, with a trailing slash) yields
//! the same daemon key, and therefore the same daemon.

use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The environment variables that choose the cache root, captured so that
/// resolution can be tested without touching the process environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheRootEnv {
    /// `ZCCACHE_CACHE_DIR`
    pub zccache_cache_dir: Option<OsString>,
    /// `XDG_CACHE_HOME`
    pub xdg_cache_home: Option<OsString>,
    /// `HOME`
    pub home: Option<OsString>,
}

impl CacheRootEnv {
    /// Reads the three variables from the current process.
    pub fn from_process_env() -> CacheRootEnv {
        CacheRootEnv {
            zccache_cache_dir: std::env::var_os("ZCCACHE_CACHE_DIR"),
            xdg_cache_home: std::env::var_os("XDG_CACHE_HOME"),
            home: std::env::var_os("HOME"),
        }
    }
}

/// Resolves, creates if missing, and canonicalizes the cache root.
///
/// Order: `ZCCACHE_CACHE_DIR` (relative values are taken against `cwd`),
/// else `$XDG_CACHE_HOME/zccache`, else `$HOME/.cache/zccache`. Empty
/// values count as unset, and a relative `XDG_CACHE_HOME` or `HOME` is
/// ignored as the XDG base directory specification asks. A directory this
/// call creates gets mode 0700; an existing one is left as it is, since a
/// cache root may be deliberately shared read-only with other users.
pub fn resolve_cache_root(env: &CacheRootEnv, cwd: &Path) -> Result<PathBuf, CacheRootError> {
    let chosen = choose_cache_root(env, cwd)?;
    create_leaf_private(&chosen).map_err(|source| CacheRootError::Create {
        path: chosen.clone(),
        source,
    })?;
    let canonical = chosen
        .canonicalize()
        .map_err(|source| CacheRootError::Canonicalize {
            path: chosen.clone(),
            source,
        })?;
    if !canonical.is_dir() {
        return Err(CacheRootError::NotADirectory { path: canonical });
    }
    Ok(canonical)
}

/// The daemon key: the first 8 bytes of a blake3 hash over the canonical
/// cache root, the sanitized namespace and the protocol version, as 16
/// lowercase hex characters.
///
/// Encoding, under the blake3 key-derivation context
/// `"zccache router daemon key v1"`:
///
/// ```text
/// u64-le len(root bytes) || root bytes
/// u64-le len(namespace)  || namespace bytes
/// u32-le protocol
/// ```
///
/// The length prefixes keep (`/a`, `bc`) and (`/ab`, `c`) apart.
pub fn daemon_key(canonical_root: &Path, namespace: &str, protocol: u32) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(DAEMON_KEY_CONTEXT);
    let root = canonical_root.as_os_str().as_bytes();
    hasher.update(&(root.len() as u64).to_le_bytes());
    hasher.update(root);
    hasher.update(&(namespace.len() as u64).to_le_bytes());
    hasher.update(namespace.as_bytes());
    hasher.update(&protocol.to_le_bytes());
    let hash = hasher.finalize();
    hex(&hash.as_bytes()[..8])
}

/// Why no usable cache root could be found or made.
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheRootError {
    /// None of `ZCCACHE_CACHE_DIR`, `XDG_CACHE_HOME` or `HOME` gave a path.
    NoLocation,
    /// The relative `ZCCACHE_CACHE_DIR` could not be anchored because the
    /// working directory handed in is itself relative.
    RelativeCwd { cwd: PathBuf },
    /// Creating the directory (or a parent) failed.
    Create { path: PathBuf, source: io::Error },
    /// Resolving the directory to its canonical path failed.
    Canonicalize { path: PathBuf, source: io::Error },
    /// The path exists but is not a directory.
    NotADirectory { path: PathBuf },
}

impl CacheRootError {
    /// The path the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            CacheRootError::NoLocation | CacheRootError::RelativeCwd { .. } => None,
            CacheRootError::Create { path, .. }
            | CacheRootError::Canonicalize { path, .. }
            | CacheRootError::NotADirectory { path } => Some(path),
        }
    }
}

impl fmt::Display for CacheRootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheRootError::NoLocation => {
                f.write_str("find a cache root: set ZCCACHE_CACHE_DIR, XDG_CACHE_HOME or HOME")
            }
            CacheRootError::RelativeCwd { cwd } => write!(
                f,
                "resolve relative ZCCACHE_CACHE_DIR against non-absolute working directory {}",
                cwd.display()
            ),
            // The OS error is the part a person can act on.
            CacheRootError::Create { path, source } => {
                write!(f, "create cache root {}: {source}", path.display())
            }
            CacheRootError::Canonicalize { path, source } => {
                write!(f, "resolve cache root {}: {source}", path.display())
            }
            CacheRootError::NotADirectory { path } => {
                write!(f, "use cache root {}: not a directory", path.display())
            }
        }
    }
}

impl Error for CacheRootError {}

const DAEMON_KEY_CONTEXT: &str = "zccache router daemon key v1";

/// Where the cache root is, as [`resolve_cache_root`] would choose it,
/// without creating or canonicalizing anything (to find the root's own
/// config file before deciding whether to touch the root at all).
pub fn choose_cache_root(env: &CacheRootEnv, cwd: &Path) -> Result<PathBuf, CacheRootError> {
    if let Some(dir) = non_empty(&env.zccache_cache_dir) {
        let dir = Path::new(dir);
        if dir.is_absolute() {
            return Ok(dir.to_path_buf());
        }
        if !cwd.is_absolute() {
            return Err(CacheRootError::RelativeCwd {
                cwd: cwd.to_path_buf(),
            });
        }
        return Ok(cwd.join(dir));
    }
    if let Some(xdg) = absolute(&env.xdg_cache_home) {
        return Ok(xdg.join("zccache"));
    }
    if let Some(home) = absolute(&env.home) {
        return Ok(home.join(".cache").join("zccache"));
    }
    Err(CacheRootError::NoLocation)
}

fn non_empty(value: &Option<OsString>) -> Option<&OsString> {
    value.as_ref().filter(|v| !v.is_empty())
}

fn absolute(value: &Option<OsString>) -> Option<&Path> {
    non_empty(value)
        .map(Path::new)
        .filter(|path| path.is_absolute())
}

/// Creates the parents with the default mode and the leaf with 0700; an
/// existing leaf is fine.
fn create_leaf_private(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(0o700).create(path) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;
    use std::os::unix::fs::PermissionsExt;

    fn env(zccache: Option<&str>, xdg: Option<&str>, home: Option<&str>) -> CacheRootEnv {
        CacheRootEnv {
            zccache_cache_dir: zccache.map(OsString::from),
            xdg_cache_home: xdg.map(OsString::from),
            home: home.map(OsString::from),
        }
    }

    #[track_caller]
    fn check_choice(env: CacheRootEnv, cwd: &str, expected: Option<&str>) {
        let got = choose_cache_root(&env, Path::new(cwd)).ok();
        assert_eq!(got.as_deref(), expected.map(Path::new));
    }

    #[test]
    fn choice_order() {
        check_choice(env(Some("/c"), Some("/x"), Some("/h")), "/w", Some("/c"));
        check_choice(env(Some("rel/c"), Some("/x"), None), "/w", Some("/w/rel/c"));
        check_choice(env(Some("rel"), None, None), "w", None);
        check_choice(
            env(Some(""), Some("/x"), Some("/h")),
            "/w",
            Some("/x/zccache"),
        );
        check_choice(env(None, Some("/x"), Some("/h")), "/w", Some("/x/zccache"));
        check_choice(
            env(None, Some("x"), Some("/h")),
            "/w",
            Some("/h/.cache/zccache"),
        );
        check_choice(
            env(None, Some(""), Some("/h")),
            "/w",
            Some("/h/.cache/zccache"),
        );
        check_choice(env(None, None, Some("/h")), "/w", Some("/h/.cache/zccache"));
        check_choice(env(None, None, Some("h")), "/w", None);
        check_choice(env(None, None, None), "/w", None);
    }

    #[test]
    fn creates_missing_root_private() {
        let tmp = TempDir::new();
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let root = resolve_cache_root(
            &env(None, None, Some(home.to_str().unwrap())),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(root, home.canonicalize().unwrap().join(".cache/zccache"));
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn existing_root_mode_is_left_alone() {
        let tmp = TempDir::new();
        let dir = tmp.path().join("shared");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        resolve_cache_root(&env(dir.to_str(), None, None), Path::new("/")).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn file_is_not_a_root() {
        let tmp = TempDir::new();
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let err = resolve_cache_root(&env(file.to_str(), None, None), Path::new("/")).unwrap_err();
        assert!(
            matches!(
                err,
                CacheRootError::Create { .. } | CacheRootError::NotADirectory { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("cache root"), "{err}");
    }

    #[test]
    fn spellings_of_one_root_give_one_key() {
        let tmp = TempDir::new();
        let base = tmp.path().canonicalize().unwrap();
        let real = base.join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, base.join("link")).unwrap();
        let spellings = [
            (real.to_str().unwrap().to_owned(), "/"),
            (format!("{}/", real.display()), "/"),
            (format!("{}/./", real.display()), "/"),
            (format!("{}/link", base.display()), "/"),
            (format!("{}/link/", base.display()), "/"),
            ("real".to_owned(), base.to_str().unwrap()),
            ("./real/".to_owned(), base.to_str().unwrap()),
            ("../real".to_owned(), real.to_str().unwrap()),
            ("link".to_owned(), base.to_str().unwrap()),
        ];
        let want = daemon_key(&real, "default", 1);
        for (spelling, cwd) in spellings {
            let root =
                resolve_cache_root(&env(Some(&spelling), None, None), Path::new(cwd)).unwrap();
            assert_eq!(root, real, "spelling {spelling:?} in {cwd}");
            assert_eq!(
                daemon_key(&root, "default", 1),
                want,
                "spelling {spelling:?}"
            );
        }
    }

    #[track_caller]
    fn check_key(root: &str, namespace: &str, protocol: u32, expected: &str) {
        assert_eq!(daemon_key(Path::new(root), namespace, protocol), expected);
    }

    /// Pinned values: a change here renames every daemon endpoint, so it
    /// must be deliberate (and come with a context version bump).
    #[test]
    fn key_vectors() {
        check_key("/root/.cache/zccache", "default", 1, "c3852a8c24fe36a6");
        check_key("/root/.cache/zccache", "default", 2, "2a450c67cd0d67ac");
        check_key("/root/.cache/zccache", "ci", 1, "1821a5154cb4b1d7");
        check_key("/a", "bc", 1, "03469472ab66c963");
        check_key("/ab", "c", 1, "b61801eae34363dc");
    }

    /// The key is exactly the encoding documented on `daemon_key`.
    #[test]
    fn key_matches_documented_encoding() {
        let (root, namespace, protocol) = ("/root/.cache/zccache", "default", 1u32);
        let mut encoded = Vec::new();
        encoded.extend_from_slice(&(root.len() as u64).to_le_bytes());
        encoded.extend_from_slice(root.as_bytes());
        encoded.extend_from_slice(&(namespace.len() as u64).to_le_bytes());
        encoded.extend_from_slice(namespace.as_bytes());
        encoded.extend_from_slice(&protocol.to_le_bytes());
        let full = blake3::derive_key("zccache router daemon key v1", &encoded);
        assert_eq!(
            daemon_key(Path::new(root), namespace, protocol),
            hex(&full[..8])
        );
    }

    #[test]
    fn key_inputs_are_separated() {
        let keys = [
            daemon_key(Path::new("/a"), "bc", 1),
            daemon_key(Path::new("/ab"), "c", 1),
            daemon_key(Path::new("/a"), "bc", 2),
            daemon_key(Path::new("/a/"), "bc", 1),
        ];
        for (i, a) in keys.iter().enumerate() {
            assert_eq!(a.len(), 16);
            assert!(a
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
