//! Unix system calls the wrapper needs (exec, exit codes), plus the shared hygiene (bounded connect, reflink, peer uid, locks) of the `sys` crate under the names the wrapper uses; no policy about when to use them.

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus};

pub(crate) use sys::{
    connect_bounded as connect, open_lock, peer_uid, reflink, target_file_id as file_id,
};

/// `None` when nothing is there; otherwise whether it is a regular file with
/// an execute bit, which is what `execvp` would accept.
pub(crate) fn executable(path: &Path) -> Option<bool> {
    let meta = std::fs::metadata(path).ok()?;
    Some(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A command for `exe` that the program sees as invoked under `argv0`.
pub(crate) fn command(exe: &Path, argv0: &OsStr) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg0(argv0);
    cmd
}

/// Replaces this process with `cmd`, so the compiler owns our stdio, pid
/// and signals; returns only on failure.
pub(crate) fn exec(cmd: &mut Command) -> io::Error {
    cmd.exec()
}

/// What a shell reports for `status`: the exit code, or 128 plus the
/// signal that killed the process.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

/// The compiler cache our parent process is (`ccache`, `sccache`,
/// `buildcache`), by the name of its executable, if it is one.
pub(crate) fn parent_cache() -> Option<&'static str> {
    const CACHES: [&str; 3] = ["ccache", "sccache", "buildcache"];
    let parent = std::os::unix::process::parent_id();
    let exe = std::fs::read_link(format!("/proc/{parent}/exe")).ok()?;
    let name = exe.file_name()?.to_str()?;
    CACHES.into_iter().find(|c| *c == name)
}

/// Atomically swaps the names `a` and `b` (`renameat2` with
/// `RENAME_EXCHANGE`): both must exist. Fails with `EINVAL` where the file
/// system cannot.
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
