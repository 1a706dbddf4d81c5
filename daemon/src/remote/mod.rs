//! The remote tier: a second cache behind the local store, on one Redis
//! node, a Redis Cluster or a directory shared by the users of one machine.
//! A synchronous API for the engine's blocking threads: fetches return
//! within the lookup deadline whatever the remote does, publishes queue a
//! background write and return at once. Every value is checked (framing,
//! key, content digest, and with a secret set its signature) before it is
//! returned; an entry is then verified once more by `Store::import_entry`.
//! Counters say what happened, for the status object.
//!
//! Does not derive keys, decide what to cache, or touch the local store
//! except to export an entry being published and import one fetched (and
//! the manifest that named it).
//!
//! The engine's calls (issue 14), from a blocking thread:
//! - Lookup, local manifest miss: `fetch_manifest(&key)`; on `Hit(body)`
//!   `persist_manifest(&store, &key, body)` (written in the background)
//!   and go on as if it had been local.
//! - A manifest (local or remote) names an entry missing locally:
//!   `fetch_entry_into(&store, &entry_key)`; `Hit(())` means the entry is
//!   now in the local store, verified: `store.get` and serve it. When a
//!   remote manifest matched no entry for these inputs:
//!   `note_manifest_without_entry()`.
//! - Store, after `EntryWriter::commit` and `put_manifest`:
//!   `publish_stored_entry(&store, entry_key)` and
//!   `publish_manifest(&key, body)`; both return at once.
//! - Status: `status()` under a `remote` field.

mod backend;
mod breaker;
mod dir;
mod envelope;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use settings::Settings;

use crate::store::{Key, Store};
use backend::{Backend, Failure};
use breaker::Breakers;
use envelope::{ItemKind, Refusal, Signer};

/// What a fetch found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fetch<T> {
    /// Present and verified.
    Hit(T),
    /// The remote does not have it.
    Miss,
    /// Present but refused: corrupt, or not validly signed (counted).
    Refused,
    /// Not asked or no answer in time: breaker open, error, timeout (counted).
    Unavailable,
    /// The mode does not read (write-only).
    Off,
}

/// Which directions the tier is used in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    ReadWrite,
    ReadOnly,
    WriteOnly,
}

impl Mode {
    fn reads(self) -> bool {
        self != Mode::WriteOnly
    }

    fn writes(self) -> bool {
        self != Mode::ReadOnly
    }

    fn name(self) -> &'static str {
        match self {
            Mode::ReadWrite => "read-write",
            Mode::ReadOnly => "read-only",
            Mode::WriteOnly => "write-only",
        }
    }
}

/// Where the tier lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A `redis://` or `rediss://` (TLS) URL, as given.
    Node(String),
    /// One `redis://host:port` (or `rediss://`) URL per seed node.
    Cluster(Vec<String>),
    /// An absolute directory.
    Dir(PathBuf),
}

/// The tier's settings. Not `Debug`: it holds the secret.
#[derive(Clone)]
pub(crate) struct RemoteConfig {
    pub(crate) target: Target,
    pub(crate) mode: Mode,
    pub(crate) secret: Option<String>,
    /// Deadline of one lookup.
    pub(crate) deadline: Duration,
    pub(crate) ttl: Duration,
    /// Largest value written; larger content goes in chunks this size.
    pub(crate) max_value: usize,
    /// Consecutive failures that open a breaker.
    pub(crate) breaker_threshold: u32,
    /// How long an open breaker refuses before one probe.
    pub(crate) breaker_cooldown: Duration,
    /// Publishes waiting beyond this many are dropped.
    pub(crate) queue: usize,
    /// PEM file of the CAs a TLS server's certificate must chain to;
    /// `None`: the system's roots. Verification is never turned off.
    pub(crate) tls_ca: Option<PathBuf>,
}

/// Why the tier cannot be used as configured.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ConfigError {
    /// `remote` is not a URL this tier reads.
    BadUrl(String),
    /// `remote_mode` is not one of the three.
    BadMode(String),
    /// `file://` without `remote_key`: a shared directory is never trusted
    /// by itself.
    FileNeedsKey,
    /// The Redis client refused the URL.
    Client(String),
    /// A URL asking to skip certificate verification (`#insecure`).
    InsecureTls,
    /// `remote_tls_ca` with a remote that does not use TLS.
    CaWithoutTls,
    /// The `remote_tls_ca` file could not be read.
    TlsCa(PathBuf, String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::BadUrl(u) => write!(
                f,
                "remote {u:?}: expected redis://host:port/db, redis+cluster://host:port,host:port,… or file:///absolute/dir"
            ),
            ConfigError::BadMode(m) => write!(
                f,
                "remote_mode {m:?}: expected read-write, read-only or write-only"
            ),
            ConfigError::FileNeedsKey => f.write_str(
                "remote file:// needs remote_key (ZCCACHE_REMOTE_KEY): a shared directory is trusted only through signatures",
            ),
            ConfigError::Client(e) => write!(f, "remote: {e}"),
            ConfigError::InsecureTls => f.write_str(
                "remote: #insecure (no certificate verification) is refused; give the server's CA with remote_tls_ca (ZCCACHE_REMOTE_TLS_CA)",
            ),
            ConfigError::CaWithoutTls => f.write_str(
                "remote_tls_ca is set but the remote is not rediss:// or rediss+cluster://",
            ),
            ConfigError::TlsCa(path, e) => {
                write!(f, "remote_tls_ca {}: {e}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl RemoteConfig {
    /// The tier the daemon's settings ask for; `Ok(None)` when `remote` is
    /// unset.
    pub(crate) fn from_settings(s: &Settings) -> Result<Option<RemoteConfig>, ConfigError> {
        let Some(url) = s.text("remote") else {
            return Ok(None);
        };
        let mode = match s.text("remote_mode").unwrap_or("read-write") {
            "read-write" | "rw" => Mode::ReadWrite,
            "read-only" | "ro" => Mode::ReadOnly,
            "write-only" | "wo" | "refresh" => Mode::WriteOnly,
            other => return Err(ConfigError::BadMode(other.to_owned())),
        };
        let secret = s.text("remote_key").map(str::to_owned);
        let target = parse_target(url)?;
        if matches!(target, Target::Dir(_)) && secret.is_none() {
            return Err(ConfigError::FileNeedsKey);
        }
        let tls_ca = s.text("remote_tls_ca").map(PathBuf::from);
        if tls_ca.is_some() && !target.tls() {
            return Err(ConfigError::CaWithoutTls);
        }
        Ok(Some(RemoteConfig {
            target,
            mode,
            secret,
            deadline: Duration::from_millis(s.number("remote_timeout_ms").max(1)),
            ttl: Duration::from_secs(s.number("remote_ttl").max(1)),
            max_value: usize::try_from(s.number("remote_max_value"))
                .unwrap_or(usize::MAX)
                .clamp(MIN_VALUE, envelope::MAX_CHUNK),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(2),
            queue: 1024,
            tls_ca,
        }))
    }
}

impl Target {
    /// Whether the remote is reached over TLS.
    fn tls(&self) -> bool {
        match self {
            Target::Node(url) => url.starts_with("rediss://"),
            Target::Cluster(nodes) => nodes.iter().all(|n| n.starts_with("rediss://")),
            Target::Dir(_) => false,
        }
    }
}

/// Smallest `remote_max_value` honoured: smaller would mean absurdly many
/// chunks.
const MIN_VALUE: usize = 4096;

fn parse_target(url: &str) -> Result<Target, ConfigError> {
    let bad = || ConfigError::BadUrl(redact(url));
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        // The client reads `#insecure` as "do not verify the certificate".
        if url.contains('#') {
            return Err(ConfigError::InsecureTls);
        }
        return Ok(Target::Node(url.to_owned()));
    }
    let cluster = [
        ("redis+cluster://", "redis"),
        ("rediss+cluster://", "rediss"),
    ]
    .into_iter()
    .find_map(|(prefix, scheme)| Some((url.strip_prefix(prefix)?, scheme)));
    if let Some((rest, scheme)) = cluster {
        if rest.contains('#') {
            return Err(ConfigError::InsecureTls);
        }
        let rest = rest.trim_end_matches('/');
        let (auth, hosts) = match rest.rsplit_once('@') {
            Some((auth, hosts)) => (format!("{auth}@"), hosts),
            None => (String::new(), rest),
        };
        let nodes: Vec<String> = hosts
            .split(',')
            .map(|h| format!("{scheme}://{auth}{h}"))
            .collect();
        if hosts.split(',').any(|h| h.is_empty() || h.contains('/')) {
            return Err(bad());
        }
        return Ok(Target::Cluster(nodes));
    }
    if let Some(path) = url.strip_prefix("file://") {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(bad());
        }
        return Ok(Target::Dir(path));
    }
    Err(bad())
}

/// A URL with any password replaced, for messages and the status object.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://(credentials)@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Counters; names in `status` are stable.
#[derive(Default)]
struct Counters {
    manifest_hits: AtomicU64,
    manifests_kept: AtomicU64,
    manifest_misses: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    manifest_without_entry: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    breaker_skips: AtomicU64,
    bad_signatures: AtomicU64,
    corrupt: AtomicU64,
    missing_chunks: AtomicU64,
    import_errors: AtomicU64,
    published: AtomicU64,
    publish_errors: AtomicU64,
    publish_dropped: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// State shared with the background writer.
struct Shared {
    backend: Backend,
    mode: Mode,
    signer: Option<Signer>,
    deadline: Duration,
    ttl: Duration,
    max_value: usize,
    breakers: Breakers,
    counters: Counters,
}

enum Job {
    Manifest([u8; 32], Vec<u8>),
    // Built by `publish_entry`, which only the tests call.
    #[cfg_attr(not(test), allow(dead_code))]
    Entry([u8; 32], Vec<u8>),
    Stored(Store, Key),
}

/// The tier; cheap to share behind an `Arc`, `Send + Sync`.
pub(crate) struct Remote {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    queue: tokio::sync::mpsc::Sender<Job>,
    describe: String,
}

/// Bytes per second a chunked entry is allowed beyond the lookup deadline.
const TRANSFER_RATE: u64 = 64 << 20;

impl Remote {
    /// Starts the tier: its own small runtime (so remote I/O never waits on
    /// the daemon's) and the background writer. Connects lazily: a remote
    /// that is down at start is a remote that is down, not an error.
    pub(crate) fn start(config: RemoteConfig) -> Result<Remote, ConfigError> {
        let client = |e: redis::RedisError| ConfigError::Client(e.to_string());
        let ca = match &config.tls_ca {
            Some(path) => Some(
                std::fs::read(path).map_err(|e| ConfigError::TlsCa(path.clone(), e.to_string()))?,
            ),
            None => None,
        };
        let (backend, describe) = match &config.target {
            Target::Node(url) => (
                Backend::node(url, config.deadline, ca).map_err(client)?,
                redact(url),
            ),
            Target::Cluster(nodes) => (
                Backend::cluster(nodes, config.deadline, ca).map_err(client)?,
                nodes
                    .iter()
                    .map(|n| redact(n))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Target::Dir(path) => (
                Backend::dir(path.clone(), config.ttl),
                format!("file://{}", path.display()),
            ),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(4)
            .thread_name("zccache-remote")
            .enable_all()
            .build()
            .map_err(|e| ConfigError::Client(format!("start the remote runtime: {e}")))?;
        let shared = Arc::new(Shared {
            breakers: Breakers::new(
                backend.buckets(),
                config.breaker_threshold,
                config.breaker_cooldown,
            ),
            backend,
            mode: config.mode,
            signer: config.secret.as_deref().map(Signer::new),
            deadline: config.deadline,
            ttl: config.ttl,
            max_value: config.max_value,
            counters: Counters::default(),
        });
        let (queue, jobs) = tokio::sync::mpsc::channel(config.queue.max(1));
        runtime.spawn(write_loop(Arc::clone(&shared), jobs));
        // Connect now, in the background, so the first lookup does not pay
        // the connection (and a cluster's slot map); a failure here is only
        // a remote that is down at start.
        let warm = Arc::clone(&shared);
        runtime.spawn(async move { warm.backend.connect().await });
        Ok(Remote {
            shared,
            runtime: Some(runtime),
            queue,
            describe,
        })
    }

    /// Where the tier lives and how it is used, with no password.
    pub(crate) fn describe(&self) -> String {
        format!("{} ({})", self.describe, self.shared.mode.name())
    }

    /// The manifest body published under `key`.
    pub(crate) fn fetch_manifest(&self, key: &[u8; 32]) -> Fetch<Vec<u8>> {
        let c = &self.shared.counters;
        let got = self.fetch(ItemKind::Manifest, key);
        match &got {
            Fetch::Hit(_) => bump(&c.manifest_hits),
            Fetch::Miss => bump(&c.manifest_misses),
            _ => {}
        }
        got
    }

    /// The exported entry (`Store::export_entry`) published under `key`,
    /// reassembled and signature-checked; `Store::import_entry` verifies the
    /// outputs.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn fetch_entry(&self, key: &[u8; 32]) -> Fetch<Vec<u8>> {
        let got = self.fetch(ItemKind::Entry, key);
        self.count_entry(&got);
        got
    }

    /// Fetches the entry `key` and imports it into `store`, verified; on
    /// `Hit` it is there for `store.get`. An entry whose outputs fail
    /// verification is `Refused` and counted `corrupt`.
    pub(crate) fn fetch_entry_into(&self, store: &Store, key: &Key) -> Fetch<()> {
        let got = match self.fetch(ItemKind::Entry, &key.0) {
            Fetch::Hit(blob) => match store.import_entry(key, &blob) {
                Ok(()) => Fetch::Hit(()),
                Err(e) if e.is_bad_import() => {
                    bump(&self.shared.counters.corrupt);
                    Fetch::Refused
                }
                Err(_) => {
                    bump(&self.shared.counters.import_errors);
                    Fetch::Unavailable
                }
            },
            Fetch::Miss => Fetch::Miss,
            Fetch::Refused => Fetch::Refused,
            Fetch::Unavailable => Fetch::Unavailable,
            Fetch::Off => Fetch::Off,
        };
        self.count_entry(&got);
        got
    }

    fn count_entry<T>(&self, got: &Fetch<T>) {
        let c = &self.shared.counters;
        match got {
            Fetch::Hit(_) => bump(&c.hits),
            Fetch::Miss => bump(&c.misses),
            _ => {}
        }
    }

    /// Writes a fetched manifest into `store` on the tier's blocking pool
    /// and returns at once: the lookup that fetched it serves from memory
    /// and does not wait for the fsync'd write. Counted `manifests_kept`, or
    /// `import_errors` when it fails (it is fetched again next time).
    pub(crate) fn persist_manifest(&self, store: &Store, key: &[u8; 32], body: Vec<u8>) {
        let (store, key, shared) = (store.clone(), Key(*key), Arc::clone(&self.shared));
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        runtime.spawn_blocking(move || {
            let c = &shared.counters;
            bump(match store.put_manifest(&key, &body) {
                Ok(()) => &c.manifests_kept,
                Err(_) => &c.import_errors,
            });
        });
    }

    /// A remote manifest was found but named no entry for these inputs (or
    /// the entry it named was missing): counted apart from plain misses.
    pub(crate) fn note_manifest_without_entry(&self) {
        bump(&self.shared.counters.manifest_without_entry);
    }

    /// Queues `body` for publication as the manifest `key`; returns at once.
    pub(crate) fn publish_manifest(&self, key: &[u8; 32], body: Vec<u8>) {
        self.enqueue(Job::Manifest(*key, body));
    }

    /// Queues an exported entry for publication under `key`; returns at once.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn publish_entry(&self, key: &[u8; 32], blob: Vec<u8>) {
        self.enqueue(Job::Entry(*key, blob));
    }

    /// Queues the local entry `key` of `store` for publication: it is
    /// exported by the background writer, so the caller reads nothing.
    pub(crate) fn publish_stored_entry(&self, store: &Store, key: Key) {
        self.enqueue(Job::Stored(store.clone(), key));
    }

    fn enqueue(&self, job: Job) {
        if !self.shared.mode.writes() {
            return;
        }
        if self.queue.try_send(job).is_err() {
            bump(&self.shared.counters.publish_dropped);
        }
    }

    /// The status object's `remote` field.
    pub(crate) fn status(&self) -> serde_json::Map<String, serde_json::Value> {
        let s = &self.shared;
        let c = &s.counters;
        let mut m = serde_json::Map::new();
        m.insert("backend".into(), s.backend.kind().into());
        m.insert("target".into(), self.describe.clone().into());
        m.insert("mode".into(), s.mode.name().into());
        m.insert("signed".into(), s.signer.is_some().into());
        m.insert(
            "breakers_open".into(),
            (s.breakers.open_buckets() as u64).into(),
        );
        m.insert("reconnects".into(), s.backend.reconnects().into());
        m.insert(
            "breaker_open_ms".into(),
            (s.breakers.open_time().as_millis() as u64).into(),
        );
        for (name, v) in [
            ("manifest_hits", &c.manifest_hits),
            ("manifests_kept", &c.manifests_kept),
            ("manifest_misses", &c.manifest_misses),
            ("hits", &c.hits),
            ("misses", &c.misses),
            ("manifest_without_entry", &c.manifest_without_entry),
            ("errors", &c.errors),
            ("timeouts", &c.timeouts),
            ("breaker_skips", &c.breaker_skips),
            ("bad_signatures", &c.bad_signatures),
            ("corrupt", &c.corrupt),
            ("missing_chunks", &c.missing_chunks),
            ("import_errors", &c.import_errors),
            ("published", &c.published),
            ("publish_errors", &c.publish_errors),
            ("publish_dropped", &c.publish_dropped),
        ] {
            m.insert(name.into(), v.load(Ordering::Relaxed).into());
        }
        m
    }

    /// Head, then chunks; every outcome but a hit counted here.
    fn fetch(&self, kind: ItemKind, key: &[u8; 32]) -> Fetch<Vec<u8>> {
        let s = &self.shared;
        if !s.mode.reads() {
            return Fetch::Off;
        }
        let start = std::time::Instant::now();
        let name = envelope::head_name(kind, key);
        let bucket = s.backend.bucket(&name);
        let head = match self.call(bucket, s.deadline, move |s| async move {
            s.backend.get(name).await
        }) {
            Ok(Some(v)) => v,
            Ok(None) => return Fetch::Miss,
            Err(()) => return Fetch::Unavailable,
        };
        let head = match envelope::decode_head(kind, key, &head, s.signer.as_ref()) {
            Ok(h) => h,
            Err(r) => return self.refused(r),
        };
        let names = head.chunk_names(key);
        let chunks = if names.is_empty() {
            Vec::new()
        } else {
            // One budget for the whole lookup, plus transfer time for the
            // chunks the head announced.
            let allowance = Duration::from_millis(head.length * 1000 / TRANSFER_RATE);
            let left = (s.deadline + allowance).saturating_sub(start.elapsed());
            match self.call(bucket, left, move |s| async move {
                s.backend.get_many(names).await
            }) {
                Ok(chunks) => chunks,
                Err(()) => return Fetch::Unavailable,
            }
        };
        match head.assemble(chunks) {
            Ok(content) => Fetch::Hit(content),
            Err(r) => self.refused(r),
        }
    }

    fn refused(&self, r: Refusal) -> Fetch<Vec<u8>> {
        let c = &self.shared.counters;
        match r {
            Refusal::BadSignature => bump(&c.bad_signatures),
            Refusal::Corrupt(_) => bump(&c.corrupt),
            Refusal::ChunkMissing => {
                bump(&c.missing_chunks);
                return Fetch::Miss;
            }
        }
        Fetch::Refused
    }

    /// Runs one operation on the tier's runtime and waits at most
    /// `deadline` for it, through the breaker of `bucket`; failures are
    /// counted and fed to the breaker.
    fn call<T, F, Fut>(&self, bucket: usize, deadline: Duration, op: F) -> Result<T, ()>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Shared>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let s = &self.shared;
        if !s.breakers.admit(bucket) {
            bump(&s.counters.breaker_skips);
            return Err(());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let shared = Arc::clone(s);
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        runtime.spawn(async move {
            let r = tokio::time::timeout(deadline, op(shared))
                .await
                .unwrap_or(Err(Failure::Timeout));
            let _ = tx.send(r);
        });
        let result = rx.recv_timeout(deadline).unwrap_or(Err(Failure::Timeout));
        match result {
            Ok(v) => {
                s.breakers.success(bucket);
                Ok(v)
            }
            Err(f) => {
                bump(if f == Failure::Timeout {
                    &s.counters.timeouts
                } else {
                    &s.counters.errors
                });
                s.breakers.failure(bucket);
                Err(())
            }
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Queued writes are abandoned: the remote is a cache. Never blocks,
        // so dropping from async code is fine.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Deadline of one background write: generous, since nobody waits on it,
/// plus transfer time.
fn write_deadline(lookup: Duration, bytes: usize) -> Duration {
    (lookup * 10).max(Duration::from_secs(1))
        + Duration::from_millis(bytes as u64 * 1000 / TRANSFER_RATE)
}

async fn write_loop(s: Arc<Shared>, mut jobs: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let (kind, key, content) = match job {
            Job::Manifest(k, body) => (ItemKind::Manifest, k, body),
            Job::Entry(k, blob) => (ItemKind::Entry, k, blob),
            Job::Stored(store, key) => {
                match tokio::task::spawn_blocking(move || store.export_entry(&key)).await {
                    Ok(Ok(Some(blob))) => (ItemKind::Entry, key.0, blob),
                    // Evicted or damaged since it was stored: nothing to share.
                    Ok(Ok(None)) => continue,
                    _ => {
                        bump(&s.counters.publish_errors);
                        continue;
                    }
                }
            }
        };
        publish(&s, kind, &key, &content).await;
    }
}

async fn publish(s: &Shared, kind: ItemKind, key: &[u8; 32], content: &[u8]) {
    let values = envelope::encode(kind, key, content, s.max_value, s.signer.as_ref());
    let head = values.last().expect("a head").0.clone();
    let bucket = s.backend.bucket(&head);
    if !s.breakers.admit(bucket) {
        bump(&s.counters.publish_dropped);
        return;
    }
    let deadline = write_deadline(s.deadline, content.len());
    let write = async {
        // Entries are immutable under their key: one present is not sent
        // again. Manifests grow, so they are replaced.
        if kind == ItemKind::Entry && s.backend.exists(head).await? {
            return Ok(false);
        }
        // Chunks first, the head only once they all are in: a head never
        // names chunks whose write failed.
        let mut values = values;
        let head = values.pop().expect("a head");
        if !values.is_empty() {
            s.backend.put(values, s.ttl).await?;
        }
        s.backend.put(vec![head], s.ttl).await.map(|()| true)
    };
    let result = tokio::time::timeout(deadline, write)
        .await
        .unwrap_or(Err(Failure::Timeout));
    match result {
        Ok(sent) => {
            s.breakers.success(bucket);
            if sent {
                bump(&s.counters.published);
            }
        }
        Err(f) => {
            bump(&s.counters.publish_errors);
            // A refusal (out of memory) says nothing about reads.
            if f != Failure::Refused {
                s.breakers.failure(bucket);
            }
        }
    }
}
