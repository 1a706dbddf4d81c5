//! Whether a cache root is ours alone: the root and the directories a
//! daemon keeps in it must be owned by our effective uid and writable by
//! nobody else, or the root is not used at all. It only looks (`lstat`);
//! creating the directories is the daemon's job and judging entries the
//! store's.
//!
//! Why: whoever else can write a cache root can replace an entry and its
//! digest (plain blake3, which anyone can recompute) and have the next hit
//! link their code into our build, or plant an identity file. Sharing a
//! cache between users needs signed entries, never a shared writable root.
//!
//! Only the directories themselves are checked, not every file: with each
//! of them ours and closed to others, nobody else can add, rename or
//! replace anything inside. Files planted while a root was open remain a
//! risk after it is closed again; the message asks for a fresh root.

use std::error::Error;
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The directories under a cache root that must be ours when they exist,
/// relative to the root, parents first: identity files, then the store
/// (`v1`: entries, manifests, staging, the daemons' private depfiles). A
/// daemon creates the missing ones with mode 0700.
pub const CACHE_ROOT_DIRS: [&str; 6] = [
    "daemons",
    "v1",
    "v1/entries",
    "v1/manifests",
    "v1/tmp",
    "v1/private",
];

/// The reason name a refused root gets on the wire and in `status`.
pub const FOREIGN_CACHE_ROOT: &str = "foreign_cache_root";

/// Why a cache root is not used.
#[derive(Debug)]
#[non_exhaustive]
pub enum RootRefusal {
    /// The root or one of its directories belongs to another user.
    ForeignOwner {
        root: PathBuf,
        path: PathBuf,
        owner: u32,
        euid: u32,
    },
    /// Group or others may write the root or one of its directories.
    Writable {
        root: PathBuf,
        path: PathBuf,
        mode: u32,
    },
    /// The root or one of its directories is not a directory (a symlink
    /// counts: it could point anywhere).
    NotADirectory { root: PathBuf, path: PathBuf },
    /// `lstat` failed for a reason other than absence.
    Inspect {
        root: PathBuf,
        path: PathBuf,
        source: io::Error,
    },
}

impl RootRefusal {
    /// The cache root refused.
    pub fn root(&self) -> &Path {
        match self {
            RootRefusal::ForeignOwner { root, .. }
            | RootRefusal::Writable { root, .. }
            | RootRefusal::NotADirectory { root, .. }
            | RootRefusal::Inspect { root, .. } => root,
        }
    }

    /// The stable reason name, [`FOREIGN_CACHE_ROOT`].
    pub fn as_str(&self) -> &'static str {
        FOREIGN_CACHE_ROOT
    }
}

/// Checks that `root` (canonical) and every directory of
/// [`CACHE_ROOT_DIRS`] that exists under it are directories owned by our
/// effective uid and not writable by group or others.
pub fn check_cache_root(root: &Path) -> Result<(), RootRefusal> {
    check_cache_root_for(root, crate::euid())
}

fn check_cache_root_for(root: &Path, euid: u32) -> Result<(), RootRefusal> {
    check_dir(root, root, euid, true)?;
    for dir in CACHE_ROOT_DIRS {
        check_dir(root, &root.join(dir), euid, false)?;
    }
    Ok(())
}

fn check_dir(root: &Path, path: &Path, euid: u32, required: bool) -> Result<(), RootRefusal> {
    let at = || (root.to_path_buf(), path.to_path_buf());
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(()),
        Err(source) => {
            let (root, path) = at();
            return Err(RootRefusal::Inspect { root, path, source });
        }
    };
    let (root, path) = at();
    if !meta.is_dir() {
        return Err(RootRefusal::NotADirectory { root, path });
    }
    if meta.uid() != euid {
        return Err(RootRefusal::ForeignOwner {
            root,
            path,
            owner: meta.uid(),
            euid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(RootRefusal::Writable { root, path, mode });
    }
    Ok(())
}

impl fmt::Display for RootRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cache root {} is not used, compiling directly: ",
            self.root().display()
        )?;
        match self {
            RootRefusal::ForeignOwner {
                path, owner, euid, ..
            } => write!(
                f,
                "{} is owned by uid {owner}, not by uid {euid}; \
                 set ZCCACHE_CACHE_DIR to a directory of your own",
                path.display()
            ),
            RootRefusal::Writable { path, mode, .. } => write!(
                f,
                "{} has mode {mode:04o}, others may write it; \
                 set ZCCACHE_CACHE_DIR to a fresh private directory",
                path.display()
            ),
            RootRefusal::NotADirectory { path, .. } => {
                write!(f, "{} is not a directory", path.display())
            }
            RootRefusal::Inspect { path, source, .. } => {
                write!(f, "cannot inspect {}: {source}", path.display())
            }
        }
    }
}

impl Error for RootRefusal {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RootRefusal::Inspect { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;
    use std::os::unix::fs::PermissionsExt;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        Ok,
        Foreign(PathBuf),
        Writable(PathBuf, u32),
        NotADirectory(PathBuf),
        Inspect,
    }

    #[track_caller]
    fn check(root: &Path, euid: u32, want: Want) {
        let got = match check_cache_root_for(root, euid) {
            Ok(()) => Want::Ok,
            Err(RootRefusal::ForeignOwner { path, .. }) => Want::Foreign(path),
            Err(RootRefusal::Writable { path, mode, .. }) => Want::Writable(path, mode),
            Err(RootRefusal::NotADirectory { path, .. }) => Want::NotADirectory(path),
            Err(RootRefusal::Inspect { .. }) => Want::Inspect,
        };
        assert_eq!(got, want);
    }

    #[test]
    fn private_roots_pass() {
        let tmp = TempDir::new();
        let root = tmp.path().join("c");
        std::fs::create_dir(&root).unwrap();
        set_mode(&root, 0o700);
        check(&root, crate::euid(), Want::Ok);
        set_mode(&root, 0o755);
        check(&root, crate::euid(), Want::Ok);
        for dir in CACHE_ROOT_DIRS {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            set_mode(&root.join(dir), 0o700);
        }
        check(&root, crate::euid(), Want::Ok);
    }

    #[test]
    fn another_owner_is_refused() {
        let tmp = TempDir::new();
        let root = tmp.path().join("c");
        std::fs::create_dir(&root).unwrap();
        set_mode(&root, 0o700);
        check(&root, crate::euid() + 1, Want::Foreign(root.clone()));
    }

    #[test]
    fn every_directory_is_checked() {
        let tmp = TempDir::new();
        let root = tmp.path().join("c");
        std::fs::create_dir(&root).unwrap();
        set_mode(&root, 0o700);
        for dir in CACHE_ROOT_DIRS {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).unwrap();
            for mode in [0o777, 0o770, 0o702, 0o1777] {
                set_mode(&path, mode);
                check(&root, crate::euid(), Want::Writable(path.clone(), mode));
            }
            set_mode(&path, 0o700);
            if crate::euid() == 0 {
                std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
                check(&root, 0, Want::Foreign(path.clone()));
                std::os::unix::fs::chown(&path, Some(0), None).unwrap();
            }
        }
        set_mode(&root, 0o777);
        check(&root, crate::euid(), Want::Writable(root.clone(), 0o777));
    }

    #[test]
    fn links_and_files_are_refused() {
        let tmp = TempDir::new();
        let root = tmp.path().join("c");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(root.join("v1")).unwrap();
        std::fs::create_dir(&elsewhere).unwrap();
        set_mode(&root, 0o700);
        std::os::unix::fs::symlink(&elsewhere, root.join("v1/entries")).unwrap();
        check(
            &root,
            crate::euid(),
            Want::NotADirectory(root.join("v1/entries")),
        );
        std::fs::remove_file(root.join("v1/entries")).unwrap();
        std::fs::write(root.join("daemons"), "").unwrap();
        check(
            &root,
            crate::euid(),
            Want::NotADirectory(root.join("daemons")),
        );
        check(&tmp.path().join("missing"), crate::euid(), Want::Inspect);
    }

    #[test]
    fn messages() {
        let refusal = RootRefusal::Writable {
            root: "/c".into(),
            path: "/c/v1".into(),
            mode: 0o777,
        };
        assert_eq!(
            refusal.to_string(),
            "cache root /c is not used, compiling directly: /c/v1 has mode 0777, \
             others may write it; set ZCCACHE_CACHE_DIR to a fresh private directory"
        );
        assert_eq!(refusal.as_str(), "foreign_cache_root");
        let refusal = RootRefusal::ForeignOwner {
            root: "/c".into(),
            path: "/c".into(),
            owner: 1001,
            euid: 0,
        };
        assert_eq!(
            refusal.to_string(),
            "cache root /c is not used, compiling directly: /c is owned by uid 1001, \
             not by uid 0; set ZCCACHE_CACHE_DIR to a directory of your own"
        );
    }
}
