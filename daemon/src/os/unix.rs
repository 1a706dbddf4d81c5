//! Unix specifics for the daemon: peer credentials, the local time zone
//! offset, the umask around bind, and what our open
//! descriptors point at.
//!
//! Callers never see a `cfg`; other platforms would get a sibling file with
//! the same functions.

pub(crate) use sys::with_private_umask;

/// Seconds east of UTC for the local zone at `unix_secs`.
pub(crate) fn utc_offset_secs(unix_secs: i64) -> i64 {
    let t = unix_secs as libc::time_t;
    // SAFETY: `tm` is plain data; localtime_r writes only into it and
    // returns null on failure, which we check.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
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
