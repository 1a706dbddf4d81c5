//! The caller's terminal as a compiler sees it: measures the terminal facts a Lookup carries, and opens the pseudo-terminal a miss's compiler writes its stderr to; it never changes the caller's terminal, session or controlling terminal.
//!
//! gcc narrows caret lines to the columns of fd 0 when stderr is a
//! terminal, and gcc and clang choose colour and URLs by whether stderr is
//! one: a miss whose caller's stderr is a terminal must therefore run the
//! compiler with stderr on a terminal too, and capture what it wrote there.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use frame::v1::Terminal;

/// The counter name of a miss that was not stored (and compiled as if the
/// cache were not there) because no pseudo-terminal could be opened.
pub(crate) const UNAVAILABLE: &str = "pty_unavailable";

/// The counter name of a miss that was not stored because the caller's
/// terminal changed its size while the compiler ran.
pub(crate) const RESIZED: &str = "terminal_resized";

/// The terminal facts of this process that the environment does not show;
/// for a Lookup whose stderr is a terminal.
pub(crate) fn terminal() -> Terminal {
    Terminal {
        stdin_columns: columns(io::stdin().as_fd()).unwrap_or(0),
        stderr_columns: columns(io::stderr().as_fd()).unwrap_or(0),
    }
}

/// The `TIOCGWINSZ` columns of the terminal on `fd`; `None` when it is
/// not a terminal.
fn columns(fd: BorrowedFd<'_>) -> Option<u32> {
    window_size(fd).map(|ws| u32::from(ws.ws_col))
}

fn window_size(fd: BorrowedFd<'_>) -> Option<libc::winsize> {
    // SAFETY: an all-zero winsize is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into the pointer we pass, and
    // `fd` is open for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some(ws)
}

/// A pseudo-terminal pair; the compiler gets `slave` as its stderr.
pub(crate) struct Pty {
    pub(crate) master: OwnedFd,
    pub(crate) slave: OwnedFd,
}

impl Pty {
    /// Opens a pseudo-terminal the size of our stderr's terminal, in raw
    /// mode: the bytes the compiler writes reach the master untranslated
    /// (no `\n` → `\r\n`), as the caller's own terminal translates them
    /// when they are shown. Both ends are close-on-exec; the caller dups
    /// the slave onto the child's stderr.
    pub(crate) fn open() -> io::Result<Pty> {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two fds into the pointers we pass; no
        // name, termios or winsize is requested (both are set below).
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds were just returned by openpty and are owned by
        // no one else.
        let pty = unsafe {
            Pty {
                master: OwnedFd::from_raw_fd(master),
                slave: OwnedFd::from_raw_fd(slave),
            }
        };
        for fd in [&pty.master, &pty.slave] {
            cloexec(fd.as_raw_fd())?;
        }
        pty.make_raw()?;
        if let Some(ws) = window_size(io::stderr().as_fd()) {
            // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
            if unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(pty)
    }

    fn make_raw(&self) -> io::Result<()> {
        let fd = self.slave.as_raw_fd();
        // SAFETY: an all-zero termios is a valid value, filled by tcgetattr.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is an open terminal; `t` is a valid termios.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `t` is a valid termios.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: as above.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn cloexec(fd: i32) -> io::Result<()> {
    // SAFETY: F_SETFD on an fd we own.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn the_slave_passes_bytes_untranslated() {
        let pty = Pty::open().expect("openpty");
        let mut slave = std::fs::File::from(pty.slave);
        slave.write_all(b"a\nb\tc\x1b[1m\n").unwrap();
        drop(slave);
        let mut master = std::fs::File::from(pty.master);
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        // The master reads EIO once the slave is closed and drained.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"a\nb\tc\x1b[1m\n");
    }
}
