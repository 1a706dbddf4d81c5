//! The shared-directory backend: values as files `<root>/<shard>/<name>`,
//! written by rename, expired by modification time. Other users can write
//! here, so every access goes through a shard directory opened without
//! following symlinks (`openat`, `renameat`): a planted symlink can neither
//! redirect a write nor a read. Trust in the contents comes from signatures
//! (`envelope`), not from here. Deadlines are the caller's.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::backend::Failure;
use super::envelope::{MAX_CHUNK, MAX_HEAD};

/// A directory shared by the users of one machine.
#[derive(Clone)]
pub(super) struct Dir {
    root: PathBuf,
    ttl: Duration,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Largest file read: a head or a chunk.
const LIMIT: u64 = if MAX_HEAD > MAX_CHUNK {
    MAX_HEAD as u64
} else {
    MAX_CHUNK as u64
};

impl Dir {
    pub(super) fn new(root: PathBuf, ttl: Duration) -> Dir {
        Dir { root, ttl }
    }

    /// Runs file work on a blocking thread; the caller's deadline bounds
    /// how long anyone waits for it.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Dir) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, Failure> {
        let d = self.clone();
        tokio::task::spawn_blocking(move || f(&d))
            .await
            .unwrap_or(Err(Failure::Transport))
    }

    /// The shard and file name of a value: `zc1:{<hex>}:e` is
    /// `<hex[..2]>/zc1.<hex>.e`. Names are ours (`envelope`), so the file
    /// name never holds a slash.
    fn place(name: &str) -> (String, String) {
        let flat: String = name
            .chars()
            .filter_map(|c| match c {
                '{' | '}' => None,
                ':' => Some('.'),
                c => Some(c),
            })
            .collect();
        let shard = flat
            .split('.')
            .nth(1)
            .and_then(|h| h.get(..2))
            .unwrap_or("00")
            .to_owned();
        (shard, flat)
    }

    /// The shard directory, opened as itself (never through a symlink);
    /// with `create`, made first if missing (and the root with it).
    fn shard(&self, shard: &str, create: bool) -> io::Result<Option<File>> {
        let root = File::open(&self.root);
        let root = match root {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.root)?;
                File::open(&self.root)?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        match openat(&root, shard, flags, 0) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                let c = cstr(shard)?;
                // SAFETY: `root` is an open descriptor, `c` NUL-terminated.
                let rc = unsafe { libc::mkdirat(root.as_raw_fd(), c.as_ptr(), 0o777) };
                if rc != 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        return Err(e);
                    }
                }
                openat(&root, shard, flags, 0).map(Some)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A value, or `None` when absent or older than the TTL. A symlink,
    /// a non-regular file, or a file over the largest value counts as
    /// absent: others can write here.
    pub(super) fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Failure> {
        let (shard, file) = Dir::place(name);
        let dir = match self.shard(&shard, false) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(None),
            Err(e) if is_planted(&e) => return Ok(None),
            Err(_) => return Err(Failure::Transport),
        };
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        let f = match openat(&dir, &file, flags, 0) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound || is_planted(&e) => return Ok(None),
            Err(_) => return Err(Failure::Transport),
        };
        let meta = f.metadata().map_err(|_| Failure::Transport)?;
        if !meta.is_file() || meta.len() > LIMIT {
            return Ok(None);
        }
        let expired = meta
            .modified()
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > self.ttl);
        if expired {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        f.take(LIMIT + 1)
            .read_to_end(&mut buf)
            .map_err(|_| Failure::Transport)?;
        Ok(Some(buf))
    }

    /// Writes a value by rename inside its shard, so readers see it whole
    /// or not at all. Files get the process umask's rights, so a
    /// group-shared directory stays readable by the group.
    pub(super) fn put(&self, name: &str, value: &[u8]) -> Result<(), Failure> {
        let (shard, file) = Dir::place(name);
        let Ok(Some(dir)) = self.shard(&shard, true) else {
            return Err(Failure::Refused);
        };
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!(".tmp-{}-{n}", std::process::id());
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let written = openat(&dir, &tmp, flags, 0o666)
            .and_then(|mut f| f.write_all(value))
            .and_then(|()| renameat(&dir, &tmp, &file));
        if written.is_err() {
            if let Ok(c) = cstr(&tmp) {
                // SAFETY: `dir` is an open descriptor, `c` NUL-terminated.
                unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
            }
            return Err(Failure::Refused);
        }
        Ok(())
    }
}

/// A symlink or non-directory where a shard or value belongs.
fn is_planted(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn openat(dir: &File, name: &str, flags: libc::c_int, mode: libc::c_uint) -> io::Result<File> {
    let c = cstr(name)?;
    // SAFETY: `dir` is an open descriptor and `c` a NUL-terminated string
    // that outlives the call.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn renameat(dir: &File, from: &str, to: &str) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: `dir` is an open descriptor; both names are NUL-terminated.
    let rc = unsafe { libc::renameat(dir.as_raw_fd(), f.as_ptr(), dir.as_raw_fd(), t.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_shard_redirects_neither_writes_nor_reads_and_old_values_expire() {
        let base = std::env::temp_dir().join(format!("zccache-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (root, elsewhere) = (base.join("shared"), base.join("elsewhere"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        let d = Dir::new(root.clone(), Duration::from_secs(60));
        let name = "zc1:{abcd}:m";
        std::os::unix::fs::symlink(&elsewhere, root.join("ab")).unwrap();
        assert_eq!(d.put(name, b"v"), Err(Failure::Refused));
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        std::fs::write(elsewhere.join("zc1.abcd.m"), b"planted").unwrap();
        assert_eq!(d.get(name), Ok(None));
        std::fs::remove_file(root.join("ab")).unwrap();
        d.put(name, b"v").unwrap();
        assert_eq!(d.get(name), Ok(Some(b"v".to_vec())));
        assert!(root.join("ab/zc1.abcd.m").is_file());
        // Older than the TTL: gone, though the file is still there.
        let old = SystemTime::now() - Duration::from_secs(120);
        File::options()
            .write(true)
            .open(root.join("ab/zc1.abcd.m"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(d.get(name), Ok(None));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
