//! Making sure a healthy daemon serves a (cache root, namespace): the staleness verdict plus the identity probe, replacing a stale daemon under its per-key lock, spawning and waiting. It never hashes cache contents and never touches them, and it signals only a process the OS proves to be a daemon of ours (router's verdict: our identity file, same boot, pid and start time, our uid, a daemon executable).
//!
//! Replacement happens only on proof that the daemon is dead, refuses
//! connections, has another identity, is stopped (state `T`) or is of
//! another build or protocol. A daemon that is proven ours and alive but
//! does not answer the probe in time is busy: it is routed to (the wrapper
//! compiles directly should it stay silent) and never signalled.
//!
//! Replacement, under the key's lock: ask the old daemon to shut down over
//! its endpoint (a request, which any process of ours may send); if it is
//! proven ours and still there, SIGTERM, then SIGKILL after a grace period,
//! re-checking the proof right before each signal; unlink the endpoint
//! only once nothing serves it any more. A stale daemon that is not proven
//! ours gets the request at most, never a signal.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use frame::v1::{request, response, Request, RouteReply, ShutdownRequest, StatusRequest};
use frame::{NONCE_LEN, PROTOCOL_VERSION};
use router::{
    DaemonPaths, Identity, IdentityError, ProcessFacts, RuntimeDir, StaleReason, Verdict,
};
use tokio::sync::oneshot;
use tokio::time::timeout;

use crate::framed::{connect_ours, Framed};
use crate::os::{self, Signal};

/// How long a daemon may take to answer an identity probe (broker.md).
/// Missing it proves nothing: a daemon that misses it is busy, not stale.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a daemon may take to answer a Status request.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a stale daemon may take to answer a Shutdown request.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a stale daemon gets to leave after a Shutdown request or a
/// SIGTERM before the next step.
const GRACE: Duration = Duration::from_secs(1);
/// A probe reply is a nonce and an identity; nothing bigger is read.
const PROBE_REPLY_LIMIT: usize = router::MAX_PROBE_REPLY_LEN + 64;
/// Facts cached per (pid, start time): hashing an executable reads it whole.
const FACTS_CACHE_LIMIT: usize = 256;

pub(crate) struct Daemons {
    pub(crate) rt: RuntimeDir,
    pub(crate) daemon_exe: PathBuf,
    pub(crate) spawn_timeout: Duration,
    /// Daemons we started and have not yet seen exit; see [`Daemons::reap`].
    pub(crate) children: Mutex<Vec<Child>>,
    /// What we know of processes that never change while they live: their
    /// executable's path and hash, keyed by (pid, start time).
    pub(crate) facts: Mutex<HashMap<(u32, u64), ProcessFacts>>,
    /// The hash of `daemon_exe`, keyed by its (dev, ino, size, mtime), so a
    /// rebuilt or upgraded daemon is noticed and the old one replaced once.
    pub(crate) exe_hash: Mutex<Option<(ExeStamp, String)>>,
    /// Daemons that keep exiting at startup, by key: not spawned again
    /// until their backoff has passed.
    failures: Mutex<HashMap<String, Failures>>,
    /// The first backoff; each further failure doubles it, up to
    /// [`MAX_BACKOFF`].
    backoff: Duration,
}

/// Consecutive startup failures of one key's daemon for one reason.
#[derive(Debug, Clone)]
struct Failures {
    count: u32,
    /// The last line the daemon wrote before exiting (or its exit status).
    reason: String,
    /// No spawn before this, once backing off.
    until: Option<Instant>,
}

/// Startup failures for the same reason after which a key backs off.
const FAILURES_BEFORE_BACKOFF: u32 = 2;
/// The longest backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What a daemon started for a Route is handed: its settings come from
/// these, never from the broker's own environment (which is whatever the
/// command that started the broker had).
#[derive(Debug, Default)]
pub(crate) struct DaemonStart {
    /// Absolute config file paths, lowest precedence first.
    pub(crate) config_files: Vec<PathBuf>,
    /// `key`, `value` pairs; a key is a plain word.
    pub(crate) settings: Vec<(String, String)>,
}

impl DaemonStart {
    /// What `route` asks for, keeping only well-formed parts (an absolute
    /// file; a word key with a UTF-8 value).
    pub(crate) fn of(route: &frame::v1::Route) -> DaemonStart {
        let config_files = route
            .config_files
            .iter()
            .map(|f| PathBuf::from(std::ffi::OsStr::from_bytes(f)))
            .filter(|f| f.is_absolute())
            .collect();
        let settings = route
            .daemon_settings
            .iter()
            .filter_map(|v| {
                let key = std::str::from_utf8(&v.name).ok()?;
                let value = std::str::from_utf8(&v.value).ok()?;
                let word =
                    !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                (word && !value.contains('\n')).then(|| (key.to_owned(), value.to_owned()))
            })
            .collect();
        DaemonStart {
            config_files,
            settings,
        }
    }
}

impl DaemonStart {
    /// The settings as the daemon's settings file holds them: `key=value`
    /// lines.
    fn lines(&self) -> String {
        self.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

/// Writes `text` to a new file at `path` only its owner may read.
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// What a Route ends in when it does not fail.
#[derive(Debug)]
pub(crate) enum Routed {
    /// A daemon serves: its endpoint.
    Reply(RouteReply),
    /// The key's daemon keeps dying at startup; nothing was spawned (or
    /// this spawn just failed once more). The text says why, for people.
    Backoff(String),
}

type ExeStamp = (u64, u64, u64, i64, i64);

/// What the broker concluded about the daemon of one key.
#[derive(Debug)]
enum Judged {
    /// It answers the probe as its identity says: serve its endpoint.
    Healthy(u32),
    /// It is proven ours, alive and not stopped, and accepts connections,
    /// but did not answer the probe in time: busy, so route to it (a
    /// client it keeps waiting compiles directly) and never signal it.
    Busy(u32),
    /// It must be replaced; the identity, when one could be read, tells
    /// whom to ask to leave.
    Stale(StaleReason, Option<Box<Identity>>),
}

impl Daemons {
    pub(crate) fn new(
        rt: RuntimeDir,
        daemon_exe: PathBuf,
        spawn_timeout: Duration,
        backoff: Duration,
    ) -> Daemons {
        Daemons {
            failures: Mutex::new(HashMap::new()),
            backoff,
            rt,
            daemon_exe,
            spawn_timeout,
            children: Mutex::new(Vec::new()),
            facts: Mutex::new(HashMap::new()),
            exe_hash: Mutex::new(None),
        }
    }

    pub(crate) fn paths(&self, root: &Path, namespace: &str) -> DaemonPaths {
        router::daemon_paths(&self.rt, root, namespace, PROTOCOL_VERSION)
    }

    /// The endpoint and pid of a healthy daemon for (`root`, `namespace`),
    /// replacing a stale one and spawning one if needed. Spawns for one key
    /// are serialized by its lock file and re-checked under it, so
    /// concurrent Routes start at most one daemon.
    pub(crate) async fn route(
        &self,
        root: &Path,
        namespace: &str,
        start: &DaemonStart,
    ) -> Result<Routed, String> {
        let paths = self.paths(root, namespace);
        if let Judged::Healthy(pid) | Judged::Busy(pid) = self.judge(&paths).await {
            return Ok(Routed::Reply(reply(&paths, pid)));
        }
        let _held = lock_exclusive(paths.lock.clone())
            .await
            .map_err(|e| format!("lock {}: {e}", paths.lock.display()))?;
        let deadline = Instant::now() + self.spawn_timeout;
        // Whoever held the lock before us may have replaced it already.
        match self.judge(&paths).await {
            Judged::Healthy(pid) | Judged::Busy(pid) => {
                return Ok(Routed::Reply(reply(&paths, pid)))
            }
            Judged::Stale(..) if self.backing_off(&paths).is_some() => {
                let detail = self.backing_off(&paths).unwrap_or_default();
                return Ok(Routed::Backoff(detail));
            }
            Judged::Stale(reason, identity) => {
                if identity.is_some() || paths.endpoint.exists() {
                    let pid = identity.as_ref().map_or(0, |id| id.pid);
                    eprintln!("stale daemon key={} pid={pid}: {reason}", paths.key);
                }
                self.retire(&paths, &reason, identity.as_deref(), deadline)
                    .await?;
            }
        }
        self.spawn_and_wait(&paths, root, namespace, start, deadline)
            .await
    }

    /// The verdict on the daemon of `paths` from its identity file and the
    /// facts about its pid, then, if those pass, the identity probe.
    async fn judge(&self, paths: &DaemonPaths) -> Judged {
        let identity_file = paths.identity_file.clone();
        let identity =
            tokio::task::spawn_blocking(move || router::read_identity_file(&identity_file))
                .await
                .unwrap_or_else(|_| Err(IdentityError::from(router::IdentityErrorKind::NotFound)));
        let expected = self.expected(paths).await;
        let facts = match &identity {
            Ok(file) => Some(self.process_facts(file.identity.pid).await),
            Err(_) => None,
        };
        let verdict = router::verdict(&identity, |_| facts.clone().unwrap_or_default(), &expected);
        let identity = identity.ok().map(|file| file.identity);
        match (verdict, identity) {
            (Verdict::Alive, Some(id)) => match probe(&paths.endpoint, &id).await {
                Probe::Answered => Judged::Healthy(id.pid),
                Probe::Silent => Judged::Busy(id.pid),
                Probe::Unreachable => Judged::Stale(StaleReason::Unreachable, Some(Box::new(id))),
                Probe::OtherIdentity => {
                    Judged::Stale(StaleReason::OtherIdentity, Some(Box::new(id)))
                }
            },
            (Verdict::Alive, None) => Judged::Stale(StaleReason::NoIdentity, None),
            (Verdict::Stale(reason), identity) => Judged::Stale(reason, identity.map(Box::new)),
        }
    }

    /// What a daemon of `paths` must be, for the verdict.
    async fn expected(&self, paths: &DaemonPaths) -> router::Expected {
        router::Expected {
            euid: router::euid(),
            protocol_version: PROTOCOL_VERSION,
            exe_blake3: self.expected_exe_hash().await,
            endpoint: paths.endpoint.clone(),
        }
    }

    /// Stops the daemon the identity file of `paths` names, if the OS
    /// proves it a live daemon of ours (the verdict finds it alive, or
    /// stale only for a reason found after the proof): SIGTERM, then
    /// SIGKILL after a grace period. For daemons no Shutdown request can
    /// reach, such as one whose socket was removed from outside.
    pub(crate) async fn stop_proven(&self, paths: &DaemonPaths) {
        let identity_file = paths.identity_file.clone();
        let Ok(Ok(file)) =
            tokio::task::spawn_blocking(move || router::read_identity_file(&identity_file)).await
        else {
            return;
        };
        let expected = self.expected(paths).await;
        let facts = self.process_facts(file.identity.pid).await;
        let proven = match router::verdict(&Ok(file.clone()), |_| facts, &expected) {
            Verdict::Alive => true,
            Verdict::Stale(reason) => reason.may_signal(),
        };
        if !proven {
            return;
        }
        let (pid, start_time) = (file.identity.pid, file.identity.start_time);
        for signal in [Signal::Term, Signal::Kill] {
            if self.gone(pid, start_time) {
                break;
            }
            match os::signal_if_proven(pid, start_time, signal) {
                Ok(true) => eprintln!(
                    "sent {signal:?} to unreachable daemon pid={pid} key={}",
                    paths.key
                ),
                _ => break,
            }
            self.wait_gone(pid, start_time, Instant::now() + GRACE)
                .await;
        }
    }

    /// Facts about `pid`, the executable's hash taken from the cache when
    /// this very process (same start time) was hashed before.
    async fn process_facts(&self, pid: u32) -> ProcessFacts {
        let start_time = router::process_start_time(pid);
        let cached = start_time.and_then(|st| {
            let cache = self.facts.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&(pid, st)).cloned()
        });
        if let Some(mut facts) = cached {
            // Liveness, state and uid change; the executable does not.
            let stat = router::running_start_time(pid);
            facts.alive = start_time.is_some() && stat == start_time;
            facts.state = router::process_state(pid);
            facts.uid = router::process_uid(pid);
            return facts;
        }
        let facts = tokio::task::spawn_blocking(move || router::process_facts(pid))
            .await
            .unwrap_or_default();
        if let (true, Some(st)) = (facts.alive, facts.start_time) {
            let mut cache = self.facts.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= FACTS_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert((pid, st), facts.clone());
        }
        facts
    }

    /// The hash of the daemon executable we would spawn, rehashed only when
    /// the file changed; `None` when it cannot be read (then any executable
    /// matching its own identity is accepted).
    async fn expected_exe_hash(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.daemon_exe).ok()?;
        let stamp = (
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
        );
        {
            let cached = self.exe_hash.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, hash)) = cached.as_ref() {
                if *at == stamp {
                    return Some(hash.clone());
                }
            }
        }
        let exe = self.daemon_exe.clone();
        let hash = tokio::task::spawn_blocking(move || router::file_blake3(&exe).ok())
            .await
            .ok()
            .flatten()?;
        *self.exe_hash.lock().unwrap_or_else(|e| e.into_inner()) = Some((stamp, hash.clone()));
        Some(hash)
    }

    /// Makes the stale daemon of `paths` go away, as far as we may, and
    /// frees its endpoint for a successor.
    async fn retire(
        &self,
        paths: &DaemonPaths,
        reason: &StaleReason,
        identity: Option<&Identity>,
        deadline: Instant,
    ) -> Result<(), String> {
        // A request, not a signal: whoever of our uid serves the endpoint
        // may be asked to leave, proven ours or not. Nothing listens on an
        // unreachable one, and a stopped one cannot answer.
        let asked = !matches!(reason, StaleReason::Unreachable | StaleReason::Stopped)
            && ask_shutdown(&paths.endpoint).await;
        let ours = match identity {
            Some(id) if reason.may_signal() => Some((id.pid, id.start_time)),
            _ => None,
        };
        if let Some((pid, start_time)) = ours {
            if asked {
                self.wait_gone(pid, start_time, Instant::now() + GRACE)
                    .await;
            }
            for (signal, wait) in [(Signal::Term, GRACE), (Signal::Kill, self.spawn_timeout)] {
                if self.gone(pid, start_time) {
                    break;
                }
                // Checked right before the signal: the pid is still the
                // daemon of ours the verdict proved, not a stranger.
                let sent = os::signal_if_proven(pid, start_time, signal)
                    .map_err(|e| format!("signal stale daemon pid={pid}: {e}"))?;
                if !sent {
                    break;
                }
                eprintln!(
                    "sent {signal:?} to stale daemon pid={pid} key={}",
                    paths.key
                );
                let until = (Instant::now() + wait).min(deadline.max(Instant::now() + GRACE));
                self.wait_gone(pid, start_time, until).await;
            }
            if !self.gone(pid, start_time) {
                return Err(format!(
                    "stale daemon pid={pid} did not exit; see {}",
                    paths.log.display()
                ));
            }
        } else if asked {
            self.wait_endpoint_dead(&paths.endpoint, Instant::now() + GRACE)
                .await;
        }
        unlink_endpoint(&paths.endpoint);
        Ok(())
    }

    /// Whether the process (pid, start time) no longer runs: exited, a
    /// zombie, or the pid now names another process.
    fn gone(&self, pid: u32, start_time: u64) -> bool {
        self.reap();
        router::running_start_time(pid) != Some(start_time)
    }

    async fn wait_gone(&self, pid: u32, start_time: u64, until: Instant) {
        while !self.gone(pid, start_time) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_endpoint_dead(&self, endpoint: &Path, until: Instant) {
        while endpoint_answers(endpoint).await && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Why the daemon of `paths` is not spawned now, while it backs off.
    fn backing_off(&self, paths: &DaemonPaths) -> Option<String> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let f = failures.get(&paths.key)?;
        let left = f.until?.checked_duration_since(Instant::now())?;
        Some(format!(
            "the daemon for this cache root exited at startup {} times in a row ({}); \
             compiling directly, next try in {} s; see {}",
            f.count,
            f.reason,
            left.as_secs() + 1,
            paths.log.display()
        ))
    }

    /// Records that the daemon of `paths` exited at startup, with the last
    /// line of its log as the reason; backs off once it failed
    /// [`FAILURES_BEFORE_BACKOFF`] times for the same reason.
    fn startup_failed(&self, paths: &DaemonPaths, status: std::process::ExitStatus) {
        let reason = last_line(&paths.log).unwrap_or_else(|| status.to_string());
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let f = failures.entry(paths.key.clone()).or_insert(Failures {
            count: 0,
            reason: reason.clone(),
            until: None,
        });
        if f.reason != reason {
            *f = Failures {
                count: 0,
                reason,
                until: None,
            };
        }
        f.count += 1;
        if f.count >= FAILURES_BEFORE_BACKOFF {
            let doublings = (f.count - FAILURES_BEFORE_BACKOFF).min(16);
            let wait = self.backoff.saturating_mul(1 << doublings).min(MAX_BACKOFF);
            f.until = Some(Instant::now() + wait);
            eprintln!(
                "daemon key={} exited at startup {} times ({}); backing off {} s",
                paths.key,
                f.count,
                f.reason,
                wait.as_secs()
            );
        }
    }

    /// Spawns the daemon and waits until its probe passes, its process
    /// exits, or `deadline` passes.
    async fn spawn_and_wait(
        &self,
        paths: &DaemonPaths,
        root: &Path,
        namespace: &str,
        start: &DaemonStart,
        deadline: Instant,
    ) -> Result<Routed, String> {
        let mut child = self
            .spawn(paths, root, namespace, start)
            .map_err(|e| format!("start {}: {e}", self.daemon_exe.display()))?;
        let pid = child.id();
        eprintln!("spawned daemon pid={pid} key={}", paths.key);
        let deadline = deadline.max(Instant::now() + Duration::from_secs(1));
        let mut backoff = Duration::from_millis(2);
        let healthy = || async {
            match self.judge(paths).await {
                Judged::Healthy(pid) | Judged::Busy(pid) => {
                    let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
                    failures.remove(&paths.key);
                    Some(Routed::Reply(reply(paths, pid)))
                }
                Judged::Stale(..) => None,
            }
        };
        let outcome = loop {
            if let Some(found) = healthy().await {
                break Ok(found);
            }
            if let Ok(Some(status)) = child.try_wait() {
                // It may have found a live daemon on the endpoint and left
                // it in charge: one last look.
                if let Some(found) = healthy().await {
                    break Ok(found);
                }
                self.startup_failed(paths, status);
                if let Some(detail) = self.backing_off(paths) {
                    break Ok(Routed::Backoff(detail));
                }
                break Err(format!(
                    "daemon pid={pid} exited ({status}) without answering; see {}",
                    paths.log.display()
                ));
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
    /// zombie. Called periodically and while waiting for one to exit.
    pub(crate) fn reap(&self) {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        children.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    }

    /// Whether the identity file of `paths` names a process that still runs
    /// (same boot, pid and start time). Cheap: no probe, no hashing.
    pub(crate) fn runs(&self, paths: &DaemonPaths) -> bool {
        let Ok(id) = router::read_identity(&paths.identity_file) else {
            return false;
        };
        router::current_boot_id().as_ref() == Some(&id.boot_id)
            && router::running_start_time(id.pid) == Some(id.start_time)
    }

    /// Starts the daemon detached: its own session, stdio to its log, cwd
    /// the cache root, no inherited descriptors, a clean environment.
    fn spawn(
        &self,
        paths: &DaemonPaths,
        root: &Path,
        namespace: &str,
        start: &DaemonStart,
    ) -> io::Result<Child> {
        let mut cmd = Command::new(&self.daemon_exe);
        cmd.arg("--cache-root")
            .arg(root)
            .arg("--namespace")
            .arg(namespace)
            .arg("--endpoint")
            .arg(&paths.endpoint)
            .arg("--identity")
            .arg(&paths.identity_file);
        for f in &start.config_files {
            cmd.arg("--config").arg(f);
        }
        // Under the key's lock: no other spawn writes this file now.
        let _ = std::fs::remove_file(&paths.settings);
        if !start.settings.is_empty() {
            write_private(&paths.settings, &start.lines())?;
            cmd.arg("--settings-file").arg(&paths.settings);
        }
        os::spawn_detached(cmd, root, &paths.log)
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

/// The last non-empty line of a daemon's log, from its last 4 KiB.
fn last_line(log: &Path) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(line.trim().chars().take(300).collect())
}

fn reply(paths: &DaemonPaths, pid: u32) -> RouteReply {
    use std::os::unix::ffi::OsStrExt;
    RouteReply {
        endpoint: paths.endpoint.as_os_str().as_bytes().to_vec(),
        daemon_pid: pid,
        ..Default::default()
    }
}

/// What the identity probe found on a daemon's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A fresh nonce came back with the identity the file records.
    Answered,
    /// Nothing accepts connections there.
    Unreachable,
    /// Another process accepted (its pid from `SO_PEERCRED`), or something
    /// answered, but not as the identity says (another identity, a stale
    /// nonce, not a probe reply, another uid).
    OtherIdentity,
    /// It accepted the connection but gave no answer in time, or closed it
    /// unanswered: busy, or leaving; proof of nothing.
    Silent,
}

/// Sends a fresh nonce to `endpoint` and sorts out what came back within
/// the probe timeout.
async fn probe(endpoint: &Path, identity: &Identity) -> Probe {
    let Ok(nonce) = nonce() else {
        return Probe::Silent;
    };
    let ask = async {
        let stream = match connect_ours(endpoint).await {
            Ok(stream) => stream,
            Err(e) if is_unreachable(&e) => return Probe::Unreachable,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Probe::OtherIdentity,
            Err(_) => return Probe::Silent,
        };
        // Who accepted is the OS's word: another process on the endpoint
        // is not the daemon the identity names, whatever it answers.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match sys::peer_cred(&stream) {
            Ok((pid, _)) if pid == identity.pid => {}
            _ => return Probe::OtherIdentity,
        }
        let mut conn = Framed::client(stream, PROBE_REPLY_LIMIT);
        if conn.send(&frame::probe_frame(1, &nonce)).await.is_err() {
            return Probe::Silent;
        }
        let answer = match conn.next().await {
            Some(Ok(answer)) => answer,
            Some(Err(e)) if e.is_io() => return Probe::Silent,
            Some(Err(_)) => return Probe::OtherIdentity,
            None => return Probe::Silent,
        };
        let fresh = frame::decode_probe_reply(&answer, &nonce).is_ok()
            && router::check_probe_reply(&nonce, &answer.payload, identity);
        if fresh {
            Probe::Answered
        } else {
            Probe::OtherIdentity
        }
    };
    timeout(PROBE_TIMEOUT, ask).await.unwrap_or(Probe::Silent)
}

/// A connect error that means nobody listens: no socket file, or one with
/// no listener behind it.
fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// Asks whoever of our uid serves `endpoint` to shut down; true when it
/// acknowledged.
async fn ask_shutdown(endpoint: &Path) -> bool {
    let ask = async {
        let stream = connect_ours(endpoint).await.ok()?;
        let mut conn = Framed::client(stream, frame::MAX_FRAME);
        let stop = Request::new(request::Body::Shutdown(ShutdownRequest::default()));
        conn.send(&frame::request_frame(1, &stop)).await.ok()?;
        let answer = conn.next().await?.ok()?;
        match frame::decode_response(&answer).ok()?.body? {
            response::Body::Ack(_) => Some(()),
            _ => None,
        }
    };
    timeout(SHUTDOWN_TIMEOUT, ask)
        .await
        .ok()
        .flatten()
        .is_some()
}

/// Whether anything accepts connections on `endpoint`.
async fn endpoint_answers(endpoint: &Path) -> bool {
    tokio::net::UnixStream::connect(endpoint).await.is_ok()
}

/// Removes the endpoint of a daemon being replaced. Called only once its
/// process is gone, or, for one not proven ours, once it was asked to
/// leave: then whatever still accepts there is wedged (a stopped process's
/// backlog still takes connects) and would make the successor believe a
/// live daemon serves, and exit.
fn unlink_endpoint(endpoint: &Path) {
    match std::fs::remove_file(endpoint) {
        Ok(()) => eprintln!("unlinked stale endpoint {}", endpoint.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => eprintln!("cannot unlink {}: {e}", endpoint.display()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_exe_override() {
        assert_eq!(daemon_exe(Some("/opt/d".into())), PathBuf::from("/opt/d"));
        assert!(daemon_exe(Some("".into())).ends_with("zccache-daemon"));
        assert!(daemon_exe(None).ends_with("zccache-daemon"));
    }

    #[test]
    fn last_lines_of_logs() {
        let dir = std::env::temp_dir().join(format!("zccache-lastline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("d.log");
        assert_eq!(last_line(&log), None);
        std::fs::write(&log, "first\nzccache-daemon: cannot publish identity\n\n").unwrap();
        assert_eq!(
            last_line(&log).as_deref(),
            Some("zccache-daemon: cannot publish identity")
        );
        std::fs::write(&log, format!("{}\nlast", "x".repeat(10_000))).unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("last"));
        std::fs::remove_dir_all(&dir).unwrap();
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
