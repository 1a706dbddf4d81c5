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
