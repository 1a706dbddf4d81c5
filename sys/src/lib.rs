//! Process and socket hygiene shared by the wrapper, the broker and the daemon: starting a detached long-lived process (new session, no inherited descriptors, no build interposer or jobserver in its environment, stdio to a log), the uid behind a Unix socket, a connect bounded in time, a private umask around bind and binding an endpoint with the one rule for a stale socket file, file identity, descriptors over a socket (`SCM_RIGHTS`) and the file-system view of a peer (`/proc/<pid>`). It holds no policy about when to spawn or whom to trust; it connects only when asked to (`connect_bounded`) and for `bind_endpoint`'s liveness check of a socket file in its way.
//!
//! Why a crate of its own: the wrapper starts the broker and the broker
//! starts daemons in exactly the same way, and all three check peers the
//! same way; one copy keeps faults.md P8 and the peer rule from drifting
//! apart. `router` cannot hold it, since router never spawns.
//!
//! Unix only, like the rest of the workspace; peer credentials come from
//! `SO_PEERCRED` on Linux and `getpeereid` elsewhere.

mod bind;
mod connect;
mod fds;
mod view;

pub use bind::bind_endpoint;
pub use connect::connect_bounded;
pub use fds::{recv_with_fds, send_with_fds, MAX_FDS_PER_MESSAGE};
pub use view::{fs_view, own_fs_view, process_cwd, FileId, FsView};

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Variables a long-lived process must not inherit from one build: an
/// interposer, or a jobserver it would hold tokens of. `DYLD_*` too.
pub const UNSAFE_SPAWN_VARS: [&str; 6] = [
    "LD_PRELOAD",
    "LD_AUDIT",
    "LD_LIBRARY_PATH",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_MAKEFLAGS",
];

/// Whether a variable of this name is kept out of a spawned process.
pub fn is_unsafe_spawn_var(name: &OsStr) -> bool {
    UNSAFE_SPAWN_VARS.iter().any(|v| name == *v) || name.as_bytes().starts_with(b"DYLD_")
}

/// Starts `cmd` (program and arguments already set) as a process that keeps
/// nothing of ours: its own session, cwd `cwd`, stdin from /dev/null,
/// stdout and stderr appended to `log` (created 0600), every descriptor
/// from 3 up closed, and none of the variables [`is_unsafe_spawn_var`]
/// names. So no build tool ever waits on a pipe or jobserver token it
/// holds, and it keeps no build directory busy.
pub fn spawn_detached(mut cmd: Command, cwd: &Path, log: &Path) -> io::Result<Child> {
    let log = open_append(log)?;
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Whether inherited or set on `cmd`, none of them reaches the child.
    let mut unsafe_names: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .chain(cmd.get_envs().map(|(name, _)| name.to_owned()))
        .filter(|name| is_unsafe_spawn_var(name))
        .collect();
    unsafe_names.extend(UNSAFE_SPAWN_VARS.iter().map(Into::into));
    for name in unsafe_names {
        cmd.env_remove(name);
    }
    detach(&mut cmd);
    cmd.spawn()
}

/// Makes `cmd` start in its own session (no controlling terminal, no
/// signals from our process group) with no inherited descriptor beyond
/// its stdio.
fn detach(cmd: &mut Command) {
    let fd_limit = fd_limit();
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls; it neither allocates nor locks.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            cloexec_from_3(fd_limit);
            Ok(())
        });
    }
}

/// The pid and uid of the process on the other end of a Unix stream.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_cred(stream: &impl AsRawFd) -> io::Result<(u32, u32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` holds the
    // size of `cred`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((cred.pid as u32, cred.uid))
}

/// The uid of the process on the other end of a Unix stream.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_uid(stream: &impl AsRawFd) -> io::Result<u32> {
    peer_cred(stream).map(|(_, uid)| uid)
}

/// The uid of the process on the other end of a Unix stream.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn peer_uid(stream: &impl AsRawFd) -> io::Result<u32> {
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: both out-pointers are valid for writes.
    let rc = unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(uid)
}

/// Why a connection must be refused before one byte is read from it: its
/// peer is not `euid`, or has no credentials. `None` for our own uid.
pub fn refusal(stream: &impl AsRawFd, euid: u32) -> Option<String> {
    match peer_uid(stream) {
        Ok(uid) if uid == euid => None,
        Ok(uid) => Some(format!(
            "refused a connection from uid {uid} (we serve uid {euid} only)"
        )),
        Err(e) => Some(format!(
            "refused a connection without peer credentials: {e}"
        )),
    }
}

/// Runs `f` with umask 077, so a socket it binds is 0600 from birth.
/// The umask is process-wide: call this before other threads create files.
pub fn with_private_umask<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: umask only swaps the process's file creation mask.
    let old = unsafe { libc::umask(0o077) };
    let out = f();
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    out
}

/// Device and inode of `path` itself (a symlink is not followed): tells
/// whether a socket file is still the one we bound.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Device and inode of the file `path` leads to (symlinks followed): tells
/// whether two names reach the same program.
pub fn target_file_id(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Opens (creating, mode 0600) a lock file.
pub fn open_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

/// Opens (creating, mode 0600) a file for appending, such as a log.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// The highest descriptor number worth visiting when close_range is not
/// available; capped so a huge RLIMIT_NOFILE does not cost a second.
fn fd_limit() -> libc::c_int {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is valid for writes.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return 65_536;
    }
    lim.rlim_cur.min(65_536) as libc::c_int
}

/// Marks every descriptor from 3 up close-on-exec rather than closing it,
/// so std's own exec-error pipe keeps working until the exec.
///
/// # Safety
///
/// Only for the child between fork and exec.
unsafe fn cloexec_from_3(limit: libc::c_int) {
    #[cfg(target_os = "linux")]
    {
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        // SAFETY: close_range only changes descriptor flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            )
        };
        if rc == 0 {
            return;
        }
    }
    for fd in 3..limit {
        // SAFETY: fcntl on a descriptor that may not exist fails with EBADF
        // and changes nothing.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Makes the empty file `dst` share `src`'s extents (`FICLONE`), where the
/// file system can; false when it cannot and the caller copies the bytes.
/// One copy for the store's snapshots and the wrapper's hit delivery.
pub fn reflink(src: &File, dst: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both descriptors stay open for the duration of the call,
        // and FICLONE takes the source descriptor as its integer argument.
        let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (src, dst);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zccache-sys-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[track_caller]
    fn check_var(name: &str, unsafe_: bool) {
        assert_eq!(is_unsafe_spawn_var(OsStr::new(name)), unsafe_, "{name}");
    }

    #[test]
    fn spawn_environment_is_cleaned() {
        for name in UNSAFE_SPAWN_VARS {
            check_var(name, true);
        }
        check_var("DYLD_INSERT_LIBRARIES", true);
        check_var("DYLD_", true);
        for name in [
            "PATH",
            "HOME",
            "LD_RUN_PATH",
            "MAKELEVEL",
            "ZCCACHE_CACHE_DIR",
        ] {
            check_var(name, false);
        }
    }

    /// The child reports its descriptors, session, cwd and environment;
    /// we hold an extra descriptor (no CLOEXEC) it must not see.
    #[cfg(target_os = "linux")]
    #[test]
    fn detached_children_keep_nothing_of_ours() {
        let dir = scratch("spawn");
        let log = dir.join("log");
        let opened = File::open("/dev/null").unwrap().into_raw_fd();
        // A number no ordinary descriptor of the child gets; dup2 leaves
        // the copy without FD_CLOEXEC, as an inherited jobserver pipe is.
        // SAFETY: duplicating and closing descriptors we own.
        let held = unsafe { libc::dup2(opened, 200) };
        assert_eq!(held, 200);
        // SAFETY: as above.
        unsafe { libc::close(opened) };
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("ls /proc/self/fd; echo sid=$(cut -d' ' -f6 /proc/self/stat) pid=$$; pwd; echo pre=${LD_PRELOAD-unset} mk=${MAKEFLAGS-unset} keep=${ZC_SYS_KEEP-unset}")
            .env("LD_PRELOAD", "/evil.so")
            .env("MAKEFLAGS", "-j --jobserver-auth=3,4")
            .env("ZC_SYS_KEEP", "kept");
        let mut child = spawn_detached(cmd, Path::new("/"), &log).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "child never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::close(held) };
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // ls itself opens the directory it lists, so one extra number.
        let fds: Vec<u32> = lines.iter().map_while(|l| l.parse().ok()).collect();
        assert!(
            fds.len() <= 4 && !fds.contains(&200),
            "inherited descriptors: {fds:?}"
        );
        let sid_line = lines.iter().find(|l| l.starts_with("sid=")).unwrap();
        let (sid, pid) = sid_line.split_once(' ').unwrap();
        assert_eq!(&sid[4..], &pid[4..], "not a session leader: {text}");
        assert!(lines.contains(&"/"), "cwd: {text}");
        assert!(
            lines.contains(&"pre=unset mk=unset keep=kept"),
            "environment: {text}"
        );
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn peer_is_us() {
        let (a, _b) = UnixStream::pair().unwrap();
        // SAFETY: geteuid cannot fail.
        assert_eq!(peer_uid(&a).unwrap(), unsafe { libc::geteuid() });
        let file = File::open("/dev/null").unwrap();
        assert!(peer_uid(&file).is_err());
    }

    #[test]
    fn private_umask_and_file_ids() {
        let dir = scratch("umask");
        let sock = dir.join("s.sock");
        let listener = with_private_umask(|| UnixListener::bind(&sock)).unwrap();
        let mode = std::fs::symlink_metadata(&sock)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "socket mode {mode:o}");
        let id = file_id(&sock).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        assert_ne!(file_id(&link), Some(id));
        assert_eq!(target_file_id(&link), Some(id));
        drop(listener);
        std::fs::remove_file(&sock).unwrap();
        assert_eq!(file_id(&sock), None);
        for open in [open_lock, open_append] {
            let path = dir.join("f");
            let _ = std::fs::remove_file(&path);
            open(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
