//! Unix specifics for the daemon: the coarse clock file times are stamped
//! from, what our open descriptors point at, and whether a file system is
//! read-only.
//!
//! Callers never see a `cfg`; other platforms would get a sibling file with
//! the same functions.

/// The resolution of `CLOCK_REALTIME_COARSE`, the clock the kernel stamps
/// file times from (one tick: 1 to 10 ms); 10 ms if it cannot be read.
pub(crate) fn coarse_clock_resolution_ns() -> i128 {
    // SAFETY: `ts` is plain data that clock_getres fills in; the return
    // code is checked.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_getres(libc::CLOCK_REALTIME_COARSE, &mut ts) != 0 {
            return 10_000_000;
        }
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    }
}

/// `CLOCK_REALTIME_COARSE` now, the clock file times are stamped from; 0
/// if it cannot be read.
pub(crate) fn coarse_now_ns() -> i128 {
    // SAFETY: `ts` is plain data that clock_gettime fills in; the return
    // code is checked.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) != 0 {
            return 0;
        }
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    }
}

/// Where each of our open descriptors points, as the kernel names it
/// (`/proc/self/fd/<n>` link targets: paths, or `socket:[…]`,
/// `anon_inode:inotify` and the like). The descriptor of the listing itself
/// is among them; it points into `/proc`.
pub(crate) fn open_descriptor_targets() -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut targets = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        // A descriptor closed between listing and reading is simply gone.
        if let Ok(target) = std::fs::read_link(entry?.path()) {
            targets.push(target);
        }
    }
    Ok(targets)
}

/// Whether the file system holding `path` is mounted read-only now.
pub(crate) fn is_read_only_fs(path: &std::path::Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path and `vfs` plain data that
    // statvfs fills in; the return code is checked.
    unsafe {
        let mut vfs: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut vfs) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(vfs.f_flag & libc::ST_RDONLY != 0)
    }
}
