//! Making sure a healthy daemon serves a (cache root, namespace): the identity probe, the per-key spawn lock, spawning and waiting; it never hashes, never touches cache contents, and never signals a process.

use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use frame::v1::{request, response, Request, RouteReply, StatusRequest};
use frame::{NONCE_LEN, PROTOCOL_VERSION};
use router::{DaemonPaths, RuntimeDir};
use tokio::sync::oneshot;
use tokio::time::timeout;

use crate::framed::{connect_ours, Framed};
use crate::os;

/// How long a daemon may take to answer an identity probe (broker.md).
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a daemon may take to answer a Status request.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// A probe reply is a nonce and an identity; nothing bigger is read.
const PROBE_REPLY_LIMIT: usize = router::MAX_PROBE_REPLY_LEN + 64;
/// Variables a long-lived process must not inherit from one build: an
/// interposer, or a jobserver it would hold tokens of.
const UNSAFE_SPAWN_VARS: [&str; 6] = [
    "LD_PRELOAD",
    "LD_AUDIT",
    "LD_LIBRARY_PATH",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_MAKEFLAGS",
];

pub(crate) struct Daemons {
    pub(crate) rt: RuntimeDir,
    pub(crate) daemon_exe: PathBuf,
    pub(crate) spawn_timeout: Duration,
    /// Daemons we started and have not yet seen exit; see [`Daemons::reap`].
    pub(crate) children: Mutex<Vec<Child>>,
}

impl Daemons {
    pub(crate) fn paths(&self, root: &Path, namespace: &str) -> DaemonPaths {
        router::daemon_paths(&self.rt, root, namespace, PROTOCOL_VERSION)
    }

    /// The endpoint and pid of a healthy daemon for (`root`, `namespace`),
    /// spawning one if none answers. Spawns for one key are serialized by
    /// its lock file, so concurrent Routes start at most one daemon.
    pub(crate) async fn route(&self, root: &Path, namespace: &str) -> Result<RouteReply, String> {
        let paths = self.paths(root, namespace);
        if let Some(pid) = probe(&paths).await {
            return Ok(reply(&paths, pid));
        }
        let _held = lock_exclusive(paths.lock.clone())
            .await
            .map_err(|e| format!("lock {}: {e}", paths.lock.display()))?;
        // Whoever held the lock before us may have started it.
        if let Some(pid) = probe(&paths).await {
            return Ok(reply(&paths, pid));
        }
        let mut child = self
            .spawn(&paths, root, namespace)
            .map_err(|e| format!("start {}: {e}", self.daemon_exe.display()))?;
        let pid = child.id();
        eprintln!("spawned daemon pid={pid} key={}", paths.key);
        let deadline = Instant::now() + self.spawn_timeout;
        let mut backoff = Duration::from_millis(2);
        let outcome = loop {
            if let Some(pid) = probe(&paths).await {
                break Ok(reply(&paths, pid));
            }
            if let Ok(Some(status)) = child.try_wait() {
                // It may have found a live daemon on the endpoint and left
                // it in charge: one last look.
                break probe(&paths)
                    .await
                    .map(|pid| reply(&paths, pid))
                    .ok_or_else(|| {
                        format!(
                            "daemon pid={pid} exited ({status}) without answering; see {}",
                            paths.log.display()
                        )
                    });
            }
            if Instant::now() >= deadline {
                break Err(format!(
                    "daemon pid={pid} did not answer within {} ms; see {}",
                    self.spawn_timeout.as_millis(),
                    paths.log.display()
                ));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(100));
        };
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        outcome
    }

    /// Collects the exit status of daemons that ended, so none lingers as a
    /// zombie (which `kill(pid, 0)` still finds). Called periodically.
    pub(crate) fn reap(&self) {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        children.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    }

    /// Starts the daemon detached: its own session, stdio to its log, cwd
    /// the cache root, no inherited descriptors, a clean environment.
    fn spawn(&self, paths: &DaemonPaths, root: &Path, namespace: &str) -> io::Result<Child> {
        let log = os::open_append(&paths.log)?;
        let mut cmd = Command::new(&self.daemon_exe);
        cmd.arg("--cache-root")
            .arg(root)
            .arg("--namespace")
            .arg(namespace)
            .arg("--endpoint")
            .arg(&paths.endpoint)
            .arg("--identity")
            .arg(&paths.identity_file)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (name, _) in std::env::vars_os() {
            if is_unsafe_spawn_var(&name) {
                cmd.env_remove(name);
            }
        }
        os::detach(&mut cmd);
        cmd.spawn()
    }
}

/// `ZCCACHE_DAEMON_EXE`, else `zccache-daemon` next to our executable.
pub(crate) fn daemon_exe(var: Option<OsString>) -> PathBuf {
    if let Some(exe) = var.filter(|v| !v.is_empty()) {
        return PathBuf::from(exe);
    }
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    dir.unwrap_or_default().join("zccache-daemon")
}

/// The status object of the daemon at `endpoint`, if one of ours answers;
/// never starts anything.
pub(crate) async fn status_at(endpoint: &Path) -> Option<serde_json::Value> {
    let ask = async {
        let stream = connect_ours(endpoint).await.ok()?;
        let mut conn = Framed::client(stream, frame::MAX_FRAME);
        let status = Request::new(request::Body::Status(StatusRequest { all: false }));
        conn.send(&frame::request_frame(1, &status)).await.ok()?;
        let answer = conn.next().await?.ok()?;
        match frame::decode_response(&answer).ok()?.body? {
            response::Body::Status(reply) => serde_json::from_str(&reply.json).ok(),
            _ => None,
        }
    };
    timeout(STATUS_TIMEOUT, ask).await.ok().flatten()
}

fn reply(paths: &DaemonPaths, pid: u32) -> RouteReply {
    use std::os::unix::ffi::OsStrExt;
    RouteReply {
        endpoint: paths.endpoint.as_os_str().as_bytes().to_vec(),
        daemon_pid: pid,
    }
}

/// The pid of the daemon behind `paths.endpoint`, if it echoes a fresh
/// nonce with the identity its identity file records, within the probe
/// timeout.
async fn probe(paths: &DaemonPaths) -> Option<u32> {
    let identity = router::read_identity(&paths.identity_file).ok()?;
    if identity.endpoint != paths.endpoint {
        return None;
    }
    let nonce = nonce().ok()?;
    let ask = async {
        let stream = connect_ours(&paths.endpoint).await.ok()?;
        let mut conn = Framed::client(stream, PROBE_REPLY_LIMIT);
        conn.send(&frame::probe_frame(1, &nonce)).await.ok()?;
        let answer = conn.next().await?.ok()?;
        frame::decode_probe_reply(&answer, &nonce).ok()?;
        router::check_probe_reply(&nonce, &answer.payload, &identity).then_some(identity.pid)
    };
    timeout(PROBE_TIMEOUT, ask).await.ok().flatten()
}

fn nonce() -> io::Result<[u8; NONCE_LEN]> {
    let mut nonce = [0u8; NONCE_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut nonce)?;
    Ok(nonce)
}

/// An exclusive lock on a lock file, held by a blocking thread until this
/// value is dropped. fd-lock's guard borrows its lock, so it cannot travel
/// across `.await`; the thread holding it can.
struct Held {
    _release: oneshot::Sender<()>,
}

async fn lock_exclusive(path: PathBuf) -> io::Result<Held> {
    let (ready_tx, ready_rx) = oneshot::channel::<io::Result<()>>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let mut lock = match os::open_lock(&path) {
            Ok(file) => fd_lock::RwLock::new(file),
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let _guard = match lock.write() {
            Ok(guard) => guard,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        if ready_tx.send(Ok(())).is_ok() {
            // Returns when `Held` is dropped.
            let _ = release_rx.blocking_recv();
        }
    });
    ready_rx
        .await
        .map_err(|_| io::Error::other("lock thread ended"))??;
    Ok(Held {
        _release: release_tx,
    })
}

fn is_unsafe_spawn_var(name: &std::ffi::OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    UNSAFE_SPAWN_VARS.iter().any(|v| name == *v) || name.as_bytes().starts_with(b"DYLD_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn spawn_environment_is_cleaned() {
        for name in [
            "LD_PRELOAD",
            "LD_AUDIT",
            "LD_LIBRARY_PATH",
            "MAKEFLAGS",
            "MFLAGS",
            "CARGO_MAKEFLAGS",
            "DYLD_LIBRARY_PATH",
        ] {
            assert!(is_unsafe_spawn_var(OsStr::new(name)), "{name}");
        }
        for name in ["PATH", "HOME", "MAKELEVEL", "ZCCACHE_CACHE_DIR"] {
            assert!(!is_unsafe_spawn_var(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn daemon_exe_override() {
        assert_eq!(daemon_exe(Some("/opt/d".into())), PathBuf::from("/opt/d"));
        assert!(daemon_exe(Some("".into())).ends_with("zccache-daemon"));
        assert!(daemon_exe(None).ends_with("zccache-daemon"));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce().unwrap(), nonce().unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn locks_serialize_within_one_process() {
        let path = std::env::temp_dir().join(format!("zccache-broker-lock-{}", std::process::id()));
        let first = lock_exclusive(path.clone()).await.unwrap();
        let second = tokio::spawn(lock_exclusive(path.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !second.is_finished(),
            "the second lock must wait for the first"
        );
        drop(first);
        let second = timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap();
        assert!(second.is_ok());
    }
}
