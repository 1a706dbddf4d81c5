//! Binding an owner-only Unix socket endpoint, with the one rule for a socket file already there: it is unlinked only when a connect to it says `ConnectionRefused` (nobody listens). It decides nothing else: whether a live listener means "exit" or "fail" is the caller's.
//!
//! The rule is ARCHITECTURE.md's "a socket is unlinked only after its process
//! is gone", applied at bind time. Only `ECONNREFUSED` is proof that nobody
//! listens; any other failure of the connect (`EACCES`, a timeout, a full
//! backlog, an unknown error) says nothing about the listener, so the file
//! stays and the bind fails. A file that is not a socket (a regular file, a
//! symlink, a directory) is never unlinked either: it is not ours to judge.
//! Binders of one endpoint are serialized by its lock (the broker lock, a
//! daemon key's lock), so two of them never judge the same dead file.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use crate::{connect_bounded, with_private_umask};

/// How long the liveness connect waits on a listener whose backlog is full
/// before the bind gives up (nothing is unlinked then).
const LIVENESS_PATIENCE: Duration = Duration::from_secs(2);

/// Binds `path` with mode 0600 (the umask is 077 around the bind, so the
/// socket is never reachable by others, even for an instant).
///
/// `Ok(None)`: a live listener answers on `path`; it was left alone. When
/// `path` is a socket nobody listens on (`ConnectionRefused`), it is
/// unlinked and bound again, once. Any other occupant, or any other
/// failure of the liveness connect (a listener whose backlog stays full
/// for [`LIVENESS_PATIENCE`] included), is an error and nothing is
/// unlinked.
///
/// The umask is process-wide: call this before other threads create files.
pub fn bind_endpoint(path: &Path) -> io::Result<Option<UnixListener>> {
    let mut unlinked = false;
    // A name that keeps vanishing and reappearing is not worth chasing.
    for _ in 0..3 {
        match with_private_umask(|| UnixListener::bind(path)) {
            Ok(listener) => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                return Ok(Some(listener));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && !unlinked => {}
            Err(e) => return Err(e),
        }
        match occupant(path)? {
            Occupant::Listener => return Ok(None),
            // Removed meanwhile: nothing to unlink, bind again.
            Occupant::Absent => {}
            Occupant::DeadSocket => match std::fs::remove_file(path) {
                Ok(()) => unlinked = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("{} kept changing while we bound it", path.display()),
    ))
}

/// What holds an endpoint's name when bind found it taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occupant {
    /// A socket that accepts connections.
    Listener,
    /// A socket file nobody listens on: safe to unlink.
    DeadSocket,
    /// Nothing any more.
    Absent,
}

/// Looks at what holds `path`: a non-socket is refused, a socket is
/// judged by a connect ([`judge_connect`]).
fn occupant(path: &Path) -> io::Result<Occupant> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket; left alone", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Occupant::Absent),
        Err(e) => return Err(e),
    }
    judge_connect(connect_bounded(path, LIVENESS_PATIENCE).map(drop))
}

/// The rule: only a connect that succeeds or is refused tells anything.
/// `NotFound` means the file went away between the stat and the connect.
fn judge_connect(connect: io::Result<()>) -> io::Result<Occupant> {
    match connect {
        Ok(()) => Ok(Occupant::Listener),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(Occupant::DeadSocket),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Occupant::Absent),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot tell whether a listener is there, so it is left alone: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_id;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zccache-bind-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fresh_endpoint_is_bound_owner_only() {
        let dir = scratch("fresh");
        let sock = dir.join("s.sock");
        let listener = bind_endpoint(&sock).unwrap().expect("nothing was there");
        let meta = std::fs::symlink_metadata(&sock).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        UnixStream::connect(&sock).unwrap();
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_live_listener_is_never_unlinked() {
        let dir = scratch("live");
        let sock = dir.join("s.sock");
        let live = UnixListener::bind(&sock).unwrap();
        let before = file_id(&sock).unwrap();
        assert!(bind_endpoint(&sock).unwrap().is_none());
        assert_eq!(file_id(&sock), Some(before));
        // Still the same listener: the connect reaches it.
        let _client = UnixStream::connect(&sock).unwrap();
        live.set_nonblocking(true).unwrap();
        live.accept().expect("the live listener got the connection");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dead_socket_file_is_replaced() {
        let dir = scratch("dead");
        let sock = dir.join("s.sock");
        drop(UnixListener::bind(&sock).unwrap());
        // A second name keeps the dead inode from being reused, so the
        // comparison below tells a new file from the old one.
        let witness = dir.join("witness");
        std::fs::hard_link(&sock, &witness).unwrap();
        let dead = file_id(&witness).expect("the file outlives its listener");
        assert_eq!(file_id(&sock), Some(dead));
        let listener = bind_endpoint(&sock)
            .unwrap()
            .expect("bound over the dead file");
        assert_ne!(file_id(&sock), Some(dead));
        UnixStream::connect(&sock).unwrap();
        listener.set_nonblocking(true).unwrap();
        listener
            .accept()
            .expect("the new listener got the connection");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_no_socket_is_never_unlinked() {
        let dir = scratch("plain");
        let plain = dir.join("plain.sock");
        std::fs::write(&plain, b"keep me").unwrap();
        let err = bind_endpoint(&plain).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert_eq!(std::fs::read(&plain).unwrap(), b"keep me");

        let sub = dir.join("dir.sock");
        std::fs::create_dir(&sub).unwrap();
        bind_endpoint(&sub).unwrap_err();
        assert!(sub.is_dir());

        // A symlink to a dead socket: the link is not ours to judge.
        let dead = dir.join("dead.sock");
        drop(UnixListener::bind(&dead).unwrap());
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&dead, &link).unwrap();
        bind_endpoint(&link).unwrap_err();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(file_id(&dead).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A listener with a zero backlog, never accepting: a wedged server,
    /// which a blocking connect would wait on forever once it is full.
    fn wedged_listener(path: &Path) -> UnixListener {
        let listener = UnixListener::bind(path).unwrap();
        // SAFETY: listen again on a socket we own, with a zero backlog.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        listener
    }

    #[test]
    fn a_listener_too_busy_to_answer_is_never_unlinked() {
        let dir = scratch("wedged");
        let sock = dir.join("s.sock");
        let listener = wedged_listener(&sock);
        let before = file_id(&sock).unwrap();
        // Fill what the kernel queues.
        let mut queued = Vec::new();
        while let Ok(s) = connect_bounded(&sock, Duration::from_millis(100)) {
            queued.push(s);
            assert!(queued.len() < 64, "the backlog never filled");
        }
        let err = bind_endpoint(&sock).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(file_id(&sock), Some(before));
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Failures that are not `ConnectionRefused` say nothing about the
    /// listener (root passes `EACCES` checks, so these are judged here
    /// rather than provoked).
    #[test]
    fn only_a_refused_connect_proves_a_socket_dead() {
        use io::ErrorKind as K;
        assert_eq!(judge_connect(Ok(())).unwrap(), Occupant::Listener);
        assert_eq!(
            judge_connect(Err(K::ConnectionRefused.into())).unwrap(),
            Occupant::DeadSocket
        );
        assert_eq!(
            judge_connect(Err(K::NotFound.into())).unwrap(),
            Occupant::Absent
        );
        for kind in [
            K::PermissionDenied,
            K::TimedOut,
            K::WouldBlock,
            K::Interrupted,
            K::Other,
        ] {
            let err = judge_connect(Err(kind.into())).unwrap_err();
            assert_eq!(err.kind(), kind);
        }
    }
}
