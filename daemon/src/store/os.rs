//! Unix system calls the store needs beyond std: reflink, opening without
//! following symlinks or blocking on FIFOs, `openat` inside an entry
//! directory, directory timestamps, and process liveness for the debris
//! sweep. Decides no policy; callers fall back when a call is unsupported.
//! Windows is not supported by the store.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opening a FIFO for reading would block until a writer appears, and a
/// symlink may point anywhere; both are refused at `open` so the caller can
/// `fstat` what it really got.
const READ_FLAGS: libc::c_int = libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// Identity of an inode, to tell whether a path still names the directory an
/// entry was read from. Inode numbers are reused at once on ext4, so the
/// birth time is part of it where the filesystem records one; it stays a
/// best effort, backed by the digest checks.
pub(super) type Identity = (u64, u64, u128);

pub(super) fn identity(meta: &std::fs::Metadata) -> Identity {
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (meta.dev(), meta.ino(), born)
}

pub(super) use sys::reflink;

/// Opens a file for reading without following a final symlink or blocking
/// on a FIFO.
pub(super) fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(READ_FLAGS)
        .open(path)
}

/// Opens a directory (not a symlink to one) so that files inside it can be
/// opened relative to this very inode.
pub(super) fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

/// `openat(dir, name)` for reading, with the same refusals as `open_read`.
pub(super) fn open_in(dir: &File, name: &str) -> io::Result<File> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string
    // that outlives the call.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | READ_FLAGS,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Creates `path` exclusively (`O_CREAT|O_EXCL`, which also refuses to follow
/// a symlink planted at that name), readable and writable.
pub(super) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// Sets a directory's access and modification times to now, through an open
/// descriptor so a concurrently renamed directory is not confused with its
/// replacement.
pub(super) fn touch(dir: &File) -> io::Result<()> {
    // SAFETY: `dir` is an open descriptor; a null `times` means "now".
    let rc = unsafe { libc::futimens(dir.as_raw_fd(), std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(super) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Whether a process with this pid exists (possibly another user's). A
/// recycled pid reads as alive, which only delays a sweep. A zombie is dead:
/// a killed daemon stays one until the broker reaps it, which may be after
/// its successor has swept.
pub(super) fn process_alive(pid: u32) -> bool {
    router::pid_alive(pid) && !router::is_zombie(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zombies_are_dead() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Until it is waited for, the exited child stays a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !router::is_zombie(pid) {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!process_alive(child.id()));
        child.wait().unwrap();
        assert!(!process_alive(0));
    }
}
