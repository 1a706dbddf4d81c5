//! Which file system a process sees, from `/proc/<pid>`: its mount namespace, its root directory and its cwd. It reports facts; whether a peer that sees another file system is served is the caller's decision.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Identity (device, inode) of the file a `/proc` magic link leads to.
pub type FileId = (u64, u64);

/// The file-system view of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsView {
    /// `/proc/<pid>/ns/mnt`: the mount namespace.
    pub mount_ns: FileId,
    /// `/proc/<pid>/root`: the root directory (a chroot has another).
    pub root: FileId,
}

/// The view of process `pid` (two `stat`s). Fails when the process is gone
/// or its `/proc` entry cannot be read.
pub fn fs_view(pid: u32) -> io::Result<FsView> {
    view_of(&format!("/proc/{pid}"))
}

/// Our own view, to compare peers with.
pub fn own_fs_view() -> io::Result<FsView> {
    view_of("/proc/self")
}

fn view_of(proc_dir: &str) -> io::Result<FsView> {
    let id =
        |name: &str| std::fs::metadata(format!("{proc_dir}/{name}")).map(|m| (m.dev(), m.ino()));
    Ok(FsView {
        mount_ns: id("ns/mnt")?,
        root: id("root")?,
    })
}

/// The cwd of process `pid` as the kernel knows it (`/proc/<pid>/cwd`), in
/// the reader's view: meaningful only when [`fs_view`] equals ours.
pub fn process_cwd(pid: u32) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_view_is_our_view() {
        let pid = std::process::id();
        assert_eq!(fs_view(pid).unwrap(), own_fs_view().unwrap());
        assert_eq!(process_cwd(pid).unwrap(), std::env::current_dir().unwrap());
        assert!(fs_view(u32::MAX).is_err());
    }
}
