//! Unix system calls the broker needs: the shared hygiene of the `sys` crate (peer uid, detached spawn, file identity) under the names the broker uses, and signalling a process; no policy about when to use them (`daemons.rs` decides whom to signal).

use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) use sys::{file_id, open_append, open_lock, peer_uid, spawn_detached};

/// The signals the broker sends, to daemons it has proven its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Term,
    Kill,
}

/// Sends `signal` to `pid` only if it is still the daemon of ours that
/// started at `start_time` ([`router::still_proven`]: same start time, our
/// real uid, a zccache daemon executable): `Ok(false)` when it is gone or
/// the pid now names anything else. On Linux the process is pinned by a
/// pidfd before the facts are read, so a pid recycled between the check
/// and the signal cannot receive it; elsewhere a plain `kill` right after
/// the check.
pub(crate) fn signal_if_proven(pid: u32, start_time: u64, signal: Signal) -> io::Result<bool> {
    let Some(target) = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single process id",
        ));
    };
    let sig = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    let euid = router::euid();
    let same = || router::still_proven(pid, start_time, euid);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, target, 0) };
        if fd >= 0 {
            // SAFETY: the descriptor was just returned to us and is owned by
            // nobody else.
            let pidfd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
            if !same() {
                return Ok(false);
            }
            // SAFETY: a pidfd we own, a valid signal, no siginfo, no flags.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    sig,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            return match rc {
                0 => Ok(true),
                _ => match io::Error::last_os_error() {
                    e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
                    e => Err(e),
                },
            };
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            return Ok(false);
        }
        if err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(err);
        }
    }
    if !same() {
        return Ok(false);
    }
    // SAFETY: kill has no memory-safety preconditions; `target` is positive,
    // so it names one process.
    if unsafe { libc::kill(target, sig) } == 0 {
        Ok(true)
    } else {
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
            e => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_broadcast_ids_are_refused() {
        for pid in [0, u32::MAX, i32::MAX as u32 + 1] {
            let err = signal_if_proven(pid, 1, Signal::Term).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "pid {pid}");
        }
    }

    /// Starts `sleep 1000` from an executable file named `name`.
    fn sleep_as(name: &str) -> std::process::Child {
        let dir = std::env::temp_dir().join(format!("zccache-sig-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join(name);
        let sleep = ["/bin/sleep", "/usr/bin/sleep"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap();
        std::fs::copy(sleep, &exe).unwrap();
        let child = std::process::Command::new(&exe)
            .arg("1000")
            .spawn()
            .unwrap();
        // The running image stays; the file is not needed any more.
        std::fs::remove_dir_all(&dir).unwrap();
        child
    }

    #[test]
    fn signals_reach_only_the_proven_process() {
        use std::os::unix::process::ExitStatusExt;
        let mut child = sleep_as("zccache-daemon");
        let pid = child.id();
        let start = router::running_start_time(pid).unwrap();
        // Another start time: a stranger on the pid, left alone.
        assert!(!signal_if_proven(pid, start + 1, Signal::Kill).unwrap());
        assert!(router::running_start_time(pid).is_some());
        assert!(signal_if_proven(pid, start, Signal::Term).unwrap());
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
        assert!(!signal_if_proven(pid, start, Signal::Kill).unwrap());
    }

    #[test]
    fn a_process_of_ours_that_is_no_daemon_is_never_signalled() {
        let mut child = sleep_as("sleep");
        let pid = child.id();
        let start = router::running_start_time(pid).unwrap();
        assert!(!signal_if_proven(pid, start, Signal::Kill).unwrap());
        assert!(router::running_start_time(pid).is_some());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
