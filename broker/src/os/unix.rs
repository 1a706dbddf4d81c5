//! Unix system calls the broker needs: the shared hygiene of the `sys` crate (peer uid, umask around bind, detached spawn, file identity) under the names the broker uses, and signalling a process; no policy about when to use them (`daemons.rs` decides whom to signal).

use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) use sys::{
    file_id, open_append, open_lock, peer_uid, spawn_detached, with_private_umask,
};

/// The signals the broker sends, to daemons it has proven its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Term,
    Kill,
}

/// Sends `signal` to `pid` only if it is still the process that started at
/// `start_time`: `Ok(false)` when it is gone or the pid now names another
/// process. On Linux the process is pinned by a pidfd before its start
/// time is read, so a pid recycled between the check and the signal
/// cannot receive it; elsewhere a plain `kill` right after the check.
pub(crate) fn signal_if_same(pid: u32, start_time: u64, signal: Signal) -> io::Result<bool> {
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
    let same = || process_stat(pid).is_some_and(|s| !s.zombie && s.start_time == start_time);
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

/// The fields of `/proc/<pid>/stat` that tell whether a process still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// State `Z`: exited, waiting for its parent; it serves nothing.
    pub(crate) zombie: bool,
    /// Field 22, clock ticks since boot.
    pub(crate) start_time: u64,
}

/// `/proc/<pid>/stat` now, or `None` when no such process exists.
pub(crate) fn process_stat(pid: u32) -> Option<ProcStat> {
    let bytes = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&bytes)
}

/// Fields are counted from the last `)`, since the command name in
/// parentheses may itself hold spaces and parentheses.
fn parse_stat(bytes: &[u8]) -> Option<ProcStat> {
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&bytes[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat {
        zombie: state == "Z" || state == "X",
        start_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_broadcast_ids_are_refused() {
        for pid in [0, u32::MAX, i32::MAX as u32 + 1] {
            let err = signal_if_same(pid, 1, Signal::Term).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "pid {pid}");
        }
    }

    #[test]
    fn stat_lines() {
        let line = b"77 (a) b) Z 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4711 0 0";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                zombie: true,
                start_time: 4711
            })
        );
        assert_eq!(parse_stat(b"77 (x) S 1 2"), None);
        let me = process_stat(std::process::id()).unwrap();
        assert!(!me.zombie);
        assert_eq!(
            Some(me.start_time),
            router::process_start_time(std::process::id())
        );
    }

    #[test]
    fn signals_reach_only_the_same_process() {
        use std::os::unix::process::ExitStatusExt;
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = process_stat(pid).unwrap().start_time;
        // Another start time: a stranger on the pid, left alone.
        assert!(!signal_if_same(pid, start + 1, Signal::Kill).unwrap());
        assert!(process_stat(pid).is_some_and(|s| !s.zombie));
        assert!(signal_if_same(pid, start, Signal::Term).unwrap());
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
        assert!(!signal_if_same(pid, start, Signal::Kill).unwrap());
    }
}
