//! In-memory file metadata cache: path → (stat identity, blake3 digest).
//!
//! A digest is reused only while the file's size, mtime, ctime, inode and
//! device are unchanged, and is never memoized for a file modified within
//! the last `RACY_WINDOW` (a same-tick rewrite would keep the stat data and
//! change the bytes). Stat is the authority; this cache only saves reads.
//! It does not watch files and does not decide what is an input.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

/// A blake3 digest of a file's bytes.
pub(crate) type Digest = [u8; 32];

/// Files touched this recently are hashed on every use, never memoized.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// The least slack of the too-new guard measured from the wrapper's start
/// (cache-keys.md §4); none when measured from the compiler's spawn.
const TOO_NEW_SLACK_NS: i128 = 20_000_000;

/// Whole-second file systems (FAT, ext3, some network mounts) round file
/// times down by up to this much.
const WHOLE_SECOND_SLACK_NS: i128 = 2_000_000_000;

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatId {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i128,
    pub(crate) ctime_ns: i128,
    pub(crate) ino: u64,
    pub(crate) dev: u64,
}

impl StatId {
    pub(crate) fn of(md: &std::fs::Metadata) -> StatId {
        StatId {
            size: md.len(),
            mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
            ctime_ns: md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
            ino: md.ino(),
            dev: md.dev(),
        }
    }

    /// The later of mtime and ctime, for the too-new guard.
    pub(crate) fn newest_ns(&self) -> i128 {
        self.mtime_ns.max(self.ctime_ns)
    }

    /// The too-new guard: whether this file or directory may have been
    /// written at or after `moment_ns`, a reading of the coarse clock the
    /// kernel stamps file times from (so a write after the reading carries
    /// that time or a later one: "at" is safe, no slack). A whole-second
    /// file system rounds times down, by up to this much.
    pub(crate) fn written_since(&self, moment_ns: i128) -> bool {
        let whole_seconds =
            self.mtime_ns % 1_000_000_000 == 0 && self.ctime_ns % 1_000_000_000 == 0;
        let slack = if whole_seconds {
            WHOLE_SECOND_SLACK_NS
        } else {
            0
        };
        self.newest_ns() + slack >= moment_ns
    }
}

/// The too-new guard's moment: the coarse clock at the compiler's spawn
/// (`Store.spawn_unix_ns`) when the wrapper sent one that is not in the
/// future (the Store comes after the spawn); else the wrapper's start, read
/// from `CLOCK_REALTIME`, less the slack that clock may run ahead of the one
/// file times are stamped from (one coarse tick, at least 20 ms).
pub(crate) fn guard_moment(spawn_coarse_ns: u64, start_ns: i128) -> i128 {
    let spawn = spawn_coarse_ns as i128;
    if spawn != 0 && spawn <= crate::os::coarse_now_ns() {
        spawn
    } else {
        start_ns - TOO_NEW_SLACK_NS.max(coarse_tick_ns())
    }
}

/// The kernel's file-time tick, read once.
fn coarse_tick_ns() -> i128 {
    static TICK: std::sync::OnceLock<i128> = std::sync::OnceLock::new();
    *TICK.get_or_init(crate::os::coarse_clock_resolution_ns)
}

#[derive(Default)]
pub(crate) struct MetaCache {
    entries: DashMap<PathBuf, (StatId, Digest)>,
}

impl MetaCache {
    /// Stat and digest `path`, reusing the memoized digest when the stat
    /// data is unchanged. Follows symlinks (the compiler does).
    pub(crate) fn digest(&self, path: &Path) -> io::Result<(StatId, Digest)> {
        let md = std::fs::metadata(path)?;
        if !md.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let stat = StatId::of(&md);
        if let Some(hit) = self.entries.get(path) {
            if hit.0 == stat {
                return Ok(*hit);
            }
        }
        let digest = hash_file(path)?;
        // Re-stat: a write during hashing must not be memoized under the
        // stat data we saw before it.
        let after = StatId::of(&std::fs::metadata(path)?);
        if after != stat {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "file changed while hashed",
            ));
        }
        if !is_racy(&stat) {
            self.entries.insert(path.to_path_buf(), (stat, digest));
        }
        Ok((stat, digest))
    }

    /// Forget everything at or below `prefix`; returns how many entries went.
    pub(crate) fn forget_under(&self, prefix: &Path) -> usize {
        let before = self.entries.len();
        self.entries.retain(|p, _| !p.starts_with(prefix));
        before - self.entries.len()
    }

    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Whether `stat` is too recent to memoize anything derived from it: a
/// change within the same clock tick would keep it.
pub(crate) fn is_racy(stat: &StatId) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    now - stat.newest_ns() < RACY_WINDOW.as_nanos() as i128
}

pub(crate) fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut f = File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_counts_a_write_at_the_moment_and_after() {
        let at = |ns: i128| StatId {
            size: 1,
            mtime_ns: ns - 5,
            ctime_ns: ns,
            ino: 1,
            dev: 1,
        };
        let moment = 1_700_000_000_123_000_000;
        assert!(!at(moment - 1).written_since(moment));
        assert!(at(moment).written_since(moment));
        assert!(at(moment + 1).written_since(moment));
        // Whole seconds: rounded down by up to this much.
        let whole = StatId {
            mtime_ns: 1_700_000_000_000_000_000,
            ctime_ns: 1_700_000_000_000_000_000,
            ..at(0)
        };
        assert!(whole.written_since(moment));
    }

    #[test]
    fn the_guard_moment_is_the_spawn_unless_unknown_or_in_the_future() {
        let now = crate::os::coarse_now_ns();
        let start = now - 1_000_000_000;
        let spawn = (now - 500_000_000) as u64;
        assert_eq!(guard_moment(spawn, start), spawn as i128);
        let fallback = start - TOO_NEW_SLACK_NS.max(coarse_tick_ns());
        assert_eq!(guard_moment(0, start), fallback);
        let future = (now + 60_000_000_000) as u64;
        assert_eq!(guard_moment(future, start), fallback);
    }

    #[test]
    fn forget_under_goes_by_path_components() {
        // Inserted directly: a file written now has a fresh ctime, which
        // `digest` never memoizes.
        let cache = MetaCache::default();
        let stat = StatId {
            size: 1,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 1,
            dev: 1,
        };
        for f in ["/w/a.h", "/w/sub/b.h", "/wx/c.h", "/w"] {
            cache.entries.insert(PathBuf::from(f), (stat, [0; 32]));
        }
        assert_eq!(cache.forget_under(Path::new("/w")), 3);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.forget_under(Path::new("/w")), 0);
        assert_eq!(cache.forget_under(Path::new("/wx/c.h")), 1);
    }

    #[test]
    fn digest_follows_content_changes() {
        let dir = std::env::temp_dir().join(format!("zccache-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.h");
        std::fs::write(&f, b"one").unwrap();
        let cache = MetaCache::default();
        let (_, d1) = cache.digest(&f).unwrap();
        assert_eq!(d1, *blake3::hash(b"one").as_bytes());
        std::fs::write(&f, b"two!").unwrap();
        let (_, d2) = cache.digest(&f).unwrap();
        assert_eq!(d2, *blake3::hash(b"two!").as_bytes());
        // Both versions were written just now: racy, so neither was memoized.
        assert_eq!(cache.len(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
