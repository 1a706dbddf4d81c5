//! Reaching the daemon for this cache root and namespace: its endpoint computed locally (the fast path), else a Route through the broker, starting the broker when nobody answers; it never starts a daemon itself.

use frame::describe;
use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use frame::v1::{request, response, EnvVar, Route, RouteReply};
use router::{
    CacheRootEnv, CacheRootError, DaemonPaths, NamespaceError, RootRefusal, RuntimeDir,
    RuntimeDirError,
};

use crate::config::Config;
use crate::conn::{Conn, ConnError};
use crate::os;

/// Where this invocation's daemon lives.
#[derive(Debug)]
pub(crate) struct Place {
    pub(crate) root: PathBuf,
    pub(crate) namespace: String,
    pub(crate) rt: RuntimeDir,
    pub(crate) daemon: DaemonPaths,
    /// Why the cache root is not used, when it is not ours alone: then no
    /// daemon is connected to, and the broker decides whether to say so.
    pub(crate) untrusted: Option<RootRefusal>,
}

#[derive(Debug)]
pub(crate) enum PlaceError {
    CacheRoot(CacheRootError),
    Namespace(NamespaceError),
    RuntimeDir(RuntimeDirError),
}

/// Why the broker could not hand us a daemon.
#[derive(Debug)]
pub(crate) enum RouteError {
    Broker(ConnError),
    SpawnBroker {
        exe: PathBuf,
        source: io::Error,
    },
    BrokerLock {
        path: PathBuf,
        source: io::Error,
    },
    /// The broker we started did not answer in time.
    BrokerTimeout(Duration),
    /// The broker answered the Route with something other than a RouteReply.
    Refused(String),
    /// The broker routes no daemon for this root and namespace: `reason`
    /// (a reason name), `detail` says why.
    NotUsed {
        reason: String,
        detail: String,
    },
    Daemon(ConnError),
}

impl Place {
    /// The cache root (created if missing), namespace, verified runtime
    /// directory and daemon paths for these settings.
    pub(crate) fn new(cwd: &Path, cfg: &Config) -> Result<Place, PlaceError> {
        let env = CacheRootEnv {
            zccache_cache_dir: cfg.settings.text("cache_dir").map(OsString::from),
            ..CacheRootEnv::from_process_env()
        };
        let root = router::resolve_cache_root(&env, cwd).map_err(PlaceError::CacheRoot)?;
        let namespace = cfg.settings.text("namespace").map(OsString::from);
        let namespace =
            router::sanitize_namespace(namespace.as_deref()).map_err(PlaceError::Namespace)?;
        let rt = router::runtime_dir().map_err(PlaceError::RuntimeDir)?;
        announce_runtime_dir(&rt);
        let daemon = router::daemon_paths(&rt, &root, &namespace, frame::PROTOCOL_VERSION);
        let untrusted = router::check_cache_root(&root).err();
        Ok(Place {
            root,
            namespace,
            rt,
            daemon,
            untrusted,
        })
    }

    /// A connection to the daemon's endpoint if something of ours listens
    /// there; never starts anything. A root that is not ours alone is never
    /// served, not even by a daemon started before it was opened.
    pub(crate) fn connect_daemon(&self, cfg: &Config) -> Result<Conn, ConnError> {
        if let Some(refusal) = &self.untrusted {
            return Err(ConnError::Connect {
                path: self.daemon.endpoint.clone(),
                source: io::Error::new(io::ErrorKind::PermissionDenied, refusal.to_string()),
            });
        }
        Conn::connect(&self.daemon.endpoint, cfg.connect_timeout)
    }

    /// Asks the broker (started if needed) for this daemon, which it starts
    /// if needed, and connects to the endpoint it names.
    pub(crate) fn route(&self, cfg: &Config) -> Result<(Conn, RouteReply), RouteError> {
        let mut broker = connect_broker(&self.rt, cfg)?;
        let route = request::Body::Route(Route {
            cache_root: self.root.as_os_str().as_bytes().to_vec(),
            namespace: self.namespace.clone(),
            client_protocol_version: frame::PROTOCOL_VERSION,
            config_files: settings::files_for(&|n| std::env::var_os(n), &self.root)
                .into_iter()
                .map(|f| absolute(&f).into_os_string().into_vec())
                .collect(),
            daemon_settings: cfg
                .daemon_overrides()
                .into_iter()
                .map(|(name, value)| EnvVar {
                    name: name.into_bytes(),
                    value: value.into_bytes(),
                })
                .collect(),
        });
        // The broker may be spawning the daemon, which it bounds by the
        // same spawn timeout.
        let wait = cfg.spawn_timeout + cfg.request_timeout;
        let reply = match broker.call(route, wait).map_err(RouteError::Broker)? {
            response::Body::Route(reply) => reply,
            other => return Err(RouteError::Refused(describe(&other))),
        };
        if !reply.refused.is_empty() {
            // The broker says it once per root and namespace, whatever
            // ZCCACHE_LOG asks: only a person can fix it.
            if reply.announce {
                eprintln!("zccache: {}", reply.detail);
            }
            return Err(RouteError::NotUsed {
                reason: reply.refused,
                detail: reply.detail,
            });
        }
        let endpoint = PathBuf::from(std::ffi::OsString::from_vec(reply.endpoint.clone()));
        let conn = Conn::connect(&endpoint, cfg.connect_timeout).map_err(RouteError::Daemon)?;
        Ok((conn, reply))
    }
}

/// Says once, whatever ZCCACHE_LOG asks, that `/tmp`'s runtime directory
/// is taken and where we went instead: only a person can clear it.
pub(crate) fn announce_runtime_dir(rt: &RuntimeDir) {
    if let Some(notice) = rt.notice() {
        eprintln!("zccache: {notice}");
    }
}

/// Connects to the broker, starting one when nobody listens on its
/// endpoint. Starting happens under the broker lock, so a burst of
/// wrappers starts exactly one.
fn connect_broker(rt: &RuntimeDir, cfg: &Config) -> Result<Conn, RouteError> {
    let paths = router::broker_paths(rt, frame::PROTOCOL_VERSION);
    match Conn::connect(&paths.endpoint, cfg.connect_timeout) {
        Ok(conn) => return Ok(conn),
        // A live but foreign or broken server: starting another one would
        // only fail to bind, after the whole spawn timeout.
        Err(err) if !err.is_nobody_home() => return Err(RouteError::Broker(err)),
        Err(_) => {}
    }
    let lock_error = |source| RouteError::BrokerLock {
        path: paths.lock.clone(),
        source,
    };
    let mut lock = fd_lock::RwLock::new(os::open_lock(&paths.lock).map_err(lock_error)?);
    let deadline = Instant::now() + cfg.spawn_timeout;
    let mut backoff = Backoff::new();
    loop {
        match lock.try_write() {
            Ok(_guard) => {
                // Whoever held the lock before us may have started it.
                if let Ok(conn) = Conn::connect(&paths.endpoint, cfg.connect_timeout) {
                    return Ok(conn);
                }
                let exe = broker_exe(cfg);
                // The broker keeps no build directory busy: cwd is "/".
                let mut child = sys::spawn_detached(Command::new(&exe), Path::new("/"), &paths.log)
                    .map_err(|source| RouteError::SpawnBroker { exe, source })?;
                return wait_for(&paths.endpoint, cfg, deadline, &mut child);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                // Someone else is starting it. Should they give up, the
                // lock frees and we try ourselves.
                match Conn::connect(&paths.endpoint, cfg.connect_timeout) {
                    Ok(conn) => return Ok(conn),
                    Err(err) if !err.is_nobody_home() => return Err(RouteError::Broker(err)),
                    Err(_) if Instant::now() >= deadline => {
                        return Err(RouteError::BrokerTimeout(cfg.spawn_timeout))
                    }
                    Err(_) => backoff.sleep(),
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(lock_error(err)),
        }
    }
}

/// Polls `endpoint` with backoff until it answers or `deadline` passes. A
/// child we started that exits early ends the wait after one last try: it
/// may have found a live broker and left it in charge.
fn wait_for(
    endpoint: &Path,
    cfg: &Config,
    deadline: Instant,
    child: &mut Child,
) -> Result<Conn, RouteError> {
    let mut backoff = Backoff::new();
    loop {
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        match Conn::connect(endpoint, cfg.connect_timeout) {
            Ok(conn) => return Ok(conn),
            Err(err) if !err.is_nobody_home() || exited => return Err(RouteError::Broker(err)),
            Err(_) if Instant::now() >= deadline => {
                return Err(RouteError::BrokerTimeout(cfg.spawn_timeout))
            }
            Err(_) => backoff.sleep(),
        }
    }
}

/// `ZCCACHE_BROKER_EXE`, else `zccache-broker` next to our executable.
fn broker_exe(cfg: &Config) -> PathBuf {
    if let Some(exe) = &cfg.broker_exe {
        return exe.clone();
    }
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    dir.unwrap_or_default().join("zccache-broker")
}

/// Sleeps 1 ms, doubling up to 100 ms.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_millis(1))
    }

    fn sleep(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(100));
    }
}

impl PlaceError {
    /// Whether only a person can fix it (a cache root that cannot be made
    /// or used), as opposed to a passing state.
    pub(crate) fn needs_a_person(&self) -> bool {
        matches!(self, PlaceError::CacheRoot(_) | PlaceError::Namespace(_))
    }
}

impl fmt::Display for PlaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaceError::CacheRoot(e) => write!(f, "cache root: {e}"),
            PlaceError::Namespace(e) => write!(f, "namespace: {e}"),
            PlaceError::RuntimeDir(e) => write!(f, "runtime directory: {e}"),
        }
    }
}

impl Error for PlaceError {}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Broker(e) => write!(f, "broker: {e}"),
            RouteError::SpawnBroker { exe, source } => {
                write!(f, "start the broker {}: {source}", exe.display())
            }
            RouteError::BrokerLock { path, source } => {
                write!(f, "lock {}: {source}", path.display())
            }
            RouteError::BrokerTimeout(t) => {
                write!(f, "the broker did not answer within {} ms", t.as_millis())
            }
            RouteError::Refused(what) => write!(f, "broker answered the route with {what}"),
            RouteError::NotUsed { reason, detail } => write!(f, "{detail} ({reason})"),
            RouteError::Daemon(e) => write!(f, "routed daemon: {e}"),
        }
    }
}

impl Error for RouteError {}

/// `p` against our cwd when relative: the daemon reads the files from
/// elsewhere.
fn absolute(p: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) if p.is_relative() => cwd.join(p),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped() {
        let mut b = Backoff(Duration::from_millis(64));
        b.sleep();
        assert_eq!(b.0, Duration::from_millis(100));
        b.sleep();
        assert_eq!(b.0, Duration::from_millis(100));
    }
}
