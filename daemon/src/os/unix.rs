//! Unix specifics for the daemon: peer credentials, our effective uid, the
//! local time zone offset, and the umask around bind.
//!
//! Callers never see a `cfg`; other platforms would get a sibling file with
//! the same functions.

use std::os::fd::AsRawFd;

/// The uid of the process at the other end of a Unix socket.
pub(crate) fn peer_uid(sock: &impl AsRawFd) -> std::io::Result<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes passed, and
    // the fd is a live socket owned by the caller for the call's duration.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

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

/// Run `f` with the umask set to 077 so a socket is born owner-only.
pub(crate) fn with_private_umask<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: umask only swaps the process file-mode mask; we restore it.
    let old = unsafe { libc::umask(0o077) };
    let out = f();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    out
}
