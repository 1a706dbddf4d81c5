//! Typed errors of the store: `StoreError` for opening the store and writing
//! or reading entries and manifests, `DeliverError` for writing cached outputs
//! to a build's paths. No logging and no recovery here; callers branch on the
//! query methods and fall back to compiling.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::format::{MAX_ENTRY_PAYLOAD, MAX_MANIFEST_PAYLOAD, MAX_OUTPUTS};

#[derive(Debug)]
pub(crate) enum StoreError {
    /// A filesystem call failed; `op` reads well after "failed to".
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A file handed to the writer is a symlink, directory, device, FIFO or socket.
    NotRegular { path: PathBuf },
    /// An output role the entry grammar cannot carry.
    InvalidRole { role: String },
    /// More outputs than the entry grammar allows.
    TooManyOutputs,
    /// The entry record (streams, roles, extra) or manifest exceeds its limit.
    TooLarge { what: &'static str, limit: usize },
    /// An entry handed to `Store::import_entry` failed verification; nothing
    /// was written.
    BadImport { reason: &'static str },
}

impl StoreError {
    pub(super) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(super) fn entry_too_large() -> Self {
        StoreError::TooLarge {
            what: "entry record",
            limit: MAX_ENTRY_PAYLOAD,
        }
    }

    pub(super) fn manifest_too_large() -> Self {
        StoreError::TooLarge {
            what: "manifest",
            limit: MAX_MANIFEST_PAYLOAD,
        }
    }

    /// The disk or the user's quota is full.
    pub(crate) fn is_no_space(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if is_no_space(source))
    }

    pub(crate) fn is_not_regular(&self) -> bool {
        matches!(self, StoreError::NotRegular { .. })
    }

    /// An imported entry was damaged or forged: a remote miss, not a store
    /// failure.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_bad_import(&self) -> bool {
        matches!(self, StoreError::BadImport { .. })
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { op, path, .. } => write!(f, "{op} {}", path.display()),
            StoreError::NotRegular { path } => {
                write!(f, "snapshot {}: not a regular file", path.display())
            }
            StoreError::InvalidRole { role } => {
                write!(f, "add an output with invalid role {role:?}")
            }
            StoreError::TooManyOutputs => {
                write!(f, "add more than {MAX_OUTPUTS} outputs to one entry")
            }
            StoreError::TooLarge { what, limit } => write!(f, "store a {what} over {limit} bytes"),
            StoreError::BadImport { reason } => write!(f, "import an entry: {reason}"),
        }
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) enum DeliverError {
    /// The cached output vanished (eviction, `clear`, an external `rm -rf`)
    /// or the entry was replaced since it was read: a miss.
    Missing { path: PathBuf },
    /// The cached output failed verification; the entry has been quarantined.
    Corrupt { path: PathBuf, reason: &'static str },
    /// The caller asked for an output the entry does not have.
    NoSuchOutput { index: usize, count: usize },
    /// `deliver_bytes` refuses to load an output this large into memory.
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// A filesystem call failed; `op` reads well after "failed to".
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl DeliverError {
    pub(super) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        DeliverError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A race with eviction or removal; treat as a miss.
    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, DeliverError::Missing { .. })
    }

    pub(crate) fn is_corrupt(&self) -> bool {
        matches!(self, DeliverError::Corrupt { .. })
    }
}

impl fmt::Display for DeliverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliverError::Missing { path } => {
                write!(f, "read cached output {}: it is gone", path.display())
            }
            DeliverError::Corrupt { path, reason } => {
                write!(f, "verify cached output {}: {reason}", path.display())
            }
            DeliverError::NoSuchOutput { index, count } => {
                write!(f, "deliver output {index} of an entry with {count} outputs")
            }
            DeliverError::TooLarge { path, size, limit } => {
                write!(
                    f,
                    "load cached output {} of {size} bytes into memory (limit {limit})",
                    path.display()
                )
            }
            DeliverError::Io { op, path, .. } => write!(f, "{op} {}", path.display()),
        }
    }
}

impl Error for DeliverError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            DeliverError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(e: &dyn Error, display: &str, has_source: bool) {
        assert_eq!(e.to_string(), display);
        assert_eq!(e.source().is_some(), has_source);
    }

    #[test]
    fn messages_and_queries() {
        let full = StoreError::io(
            "write blob",
            "/c/x",
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert!(full.is_no_space() && !full.is_not_regular());
        check(&full, "write blob /c/x", true);
        check(
            &StoreError::NotRegular { path: "/d".into() },
            "snapshot /d: not a regular file",
            false,
        );
        check(
            &StoreError::TooManyOutputs,
            "add more than 64 outputs to one entry",
            false,
        );

        let missing = DeliverError::Missing {
            path: "/c/out-0".into(),
        };
        assert!(missing.is_missing() && !missing.is_corrupt());
        check(&missing, "read cached output /c/out-0: it is gone", false);
        let unreadable = DeliverError::io(
            "read cached output",
            "/c/out-0",
            io::Error::from_raw_os_error(libc::EIO),
        );
        assert!(!unreadable.is_missing() && !unreadable.is_corrupt());
        check(&unreadable, "read cached output /c/out-0", true);
        let corrupt = DeliverError::Corrupt {
            path: "/c/out-1".into(),
            reason: "digest mismatch",
        };
        assert!(corrupt.is_corrupt() && !corrupt.is_missing());
        check(
            &corrupt,
            "verify cached output /c/out-1: digest mismatch",
            false,
        );
    }
}
