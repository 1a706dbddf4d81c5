//! The daemon's socket server: accepts connections, checks the peer's uid
//! before reading a byte, decodes FrameV1 envelopes, checks the protocol
//! version, answers identity probes and dispatches requests.
//!
//! Compile logic lives in `engine` and its pipelines, storage in `store`;
//! this module only moves frames (a hit's descriptors with them,
//! `SCM_RIGHTS`), enforces deadlines, so a slow or hostile client costs one
//! task and never a stuck daemon, and asks the OS which file system a client sees (`PeerView`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use frame::{v1, Frame, FrameCodec, FrameError, FrameStream, PAYLOAD_IDENTITY, PAYLOAD_ZCCACHE};
use tokio::io::Interest;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use crate::engine::{Engine, PeerView};
use crate::os;
use crate::outputs::Descriptors;

/// A connection that has sent no complete frame within this long is closed.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// An idle connection between requests is closed after this long.
const IDLE_CONNECTION: Duration = Duration::from_secs(120);

pub(crate) struct Server {
    pub(crate) engine: Arc<Engine>,
    pub(crate) identity_json: Vec<u8>,
    pub(crate) status_base: serde_json::Map<String, serde_json::Value>,
    /// The settings in force, as `status` shows them (`config::status_fields`).
    pub(crate) settings_status: std::sync::Mutex<serde_json::Map<String, serde_json::Value>>,
    pub(crate) started: Instant,
    /// Milliseconds since `started` of the last frame in or reply out.
    pub(crate) last_activity: AtomicU64,
    /// Connections being served: a client between the two halves of a
    /// Probe round holds one, and the daemon never idles out under it.
    pub(crate) open_connections: std::sync::atomic::AtomicUsize,
    pub(crate) shutdown: Notify,
    pub(crate) cache_root: PathBuf,
    /// Unpublish the endpoint and identity and save the counters: run once,
    /// before a Shutdown is acknowledged, so that after `zccache stop`
    /// returns nothing of ours writes into the cache root any more.
    pub(crate) retire: Box<dyn Fn() + Send + Sync>,
    pub(crate) retired: std::sync::Once,
    /// Where the Lookups' time went, for `status`.
    pub(crate) lookup_profile: LookupProfile,
}

/// Where the daemon's time on Lookups goes, summed in nanoseconds over
/// every Lookup answered (`status --json`, `lookup_profile`;
/// `bench/steps.sh` divides by `count`). Always on: a few clock reads and
/// relaxed adds per Lookup.
#[derive(Default)]
pub(crate) struct LookupProfile {
    count: AtomicU64,
    /// The frame read to the request decoded and its version checked.
    decode_ns: AtomicU64,
    /// From the request decoded to the work starting.
    queue_ns: AtomicU64,
    /// The client's file-system view from /proc.
    view_ns: AtomicU64,
    /// The engine: keys, metadata checks, store look-ups, the journal.
    engine_ns: AtomicU64,
    /// From the engine's answer to the response being built.
    back_ns: AtomicU64,
    /// Encoding and sending the answer with its descriptors.
    send_ns: AtomicU64,
}

impl LookupProfile {
    fn add(field: &AtomicU64, d: Duration) {
        field.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn to_json(&self, journal_ns: u64) -> serde_json::Value {
        let get = |f: &AtomicU64| f.load(Ordering::Relaxed);
        serde_json::json!({
            "count": get(&self.count),
            "decode_ns": get(&self.decode_ns),
            "queue_ns": get(&self.queue_ns),
            "view_ns": get(&self.view_ns),
            "engine_ns": get(&self.engine_ns),
            "journal_ns": journal_ns,
            "back_ns": get(&self.back_ns),
            "send_ns": get(&self.send_ns),
        })
    }
}

impl Server {
    pub(crate) fn retire_once(&self) {
        self.retired.call_once(|| (self.retire)());
    }

    pub(crate) fn touch(&self) {
        self.last_activity
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long no client has been connected or sent anything; zero while
    /// one is connected. Milliseconds, so that a full idle period always
    /// separates the last activity from an exit (whole seconds let a
    /// daemon with a one-second timeout leave 0.1 s after a reply, between
    /// the halves of a Probe round).
    pub(crate) fn idle_for(&self) -> Duration {
        if self.open_connections.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = self.last_activity.load(Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(last))
    }

    pub(crate) async fn accept_loop(self: Arc<Self>, listener: UnixListener) {
        let euid = router::euid();
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("zccache-daemon: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Some(why) = sys::refusal(&stream, euid) {
                eprintln!("zccache-daemon: {why}");
                continue;
            }
            self.touch();
            let server = self.clone();
            tokio::spawn(async move { server.serve(stream).await });
        }
    }

    async fn serve(self: Arc<Self>, stream: UnixStream) {
        /// Counts the connection open for as long as it is served.
        struct Open<'a>(&'a Server);
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                self.0.touch();
                self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        let _open = Open(&self);
        let mut conn = FrameStream::new(
            stream,
            FrameCodec::with_limits(frame::MAX_FIRST_LOOKUP_FRAME, frame::MAX_FRAME),
        );
        let mut first = true;
        loop {
            let wait = if first {
                HEADER_DEADLINE
            } else {
                IDLE_CONNECTION
            };
            let frame = match tokio::time::timeout(wait, conn.next()).await {
                Err(_) | Ok(None) => return,
                Ok(Some(Err(e))) => {
                    self.refuse(&mut conn, 0, &e).await;
                    return;
                }
                Ok(Some(Ok(f))) => f,
            };
            let received = Instant::now();
            first = false;
            self.touch();
            let id = frame.request_id;
            if frame.payload_protocol == PAYLOAD_IDENTITY {
                let reply = match frame::decode_probe(&frame) {
                    Ok(nonce) => frame::probe_reply_frame(id, &nonce, &self.identity_json),
                    Err(e) => frame::response_frame(id, &error_response(&e.to_string())),
                };
                let _ = conn.send(&reply).await;
                continue;
            }
            if frame.payload_protocol != PAYLOAD_ZCCACHE {
                let msg = format!("unknown payload protocol {:#x}", frame.payload_protocol);
                let _ = conn
                    .send(&frame::response_frame(id, &error_response(&msg)))
                    .await;
                return;
            }
            let req = match frame::decode_request(&frame) {
                Ok(r) => r,
                Err(e) => {
                    self.refuse(&mut conn, id, &e).await;
                    return;
                }
            };
            if let frame::VersionCheck::Mismatch(m) = frame::check_request_version(&req) {
                let resp = v1::Response {
                    body: Some(v1::response::Body::VersionMismatch(m)),
                };
                let _ = conn.send(&frame::response_frame(id, &resp)).await;
                return;
            }
            let stop = matches!(req.body, Some(v1::request::Body::Shutdown(_)));
            let lookup = matches!(req.body, Some(v1::request::Body::Lookup(_)));
            if lookup {
                LookupProfile::add(&self.lookup_profile.decode_ns, received.elapsed());
            }
            let client = Client {
                deadline_unix_ms: frame.deadline_unix_ms,
                fd: conn.get_ref().as_raw_fd(),
            };
            let (resp, fds) = self.dispatch(req, client).await;
            let answered = Instant::now();
            let sent = send_with(&mut conn, frame::response_frame(id, &resp), fds).await;
            if lookup {
                let p = &self.lookup_profile;
                LookupProfile::add(&p.send_ns, answered.elapsed());
                p.count.fetch_add(1, Ordering::Relaxed);
            }
            if sent.is_err() {
                return;
            }
            if stop {
                self.shutdown.notify_one();
                return;
            }
        }
    }

    /// Logs a refused frame (a truncated last frame too: the peer sent
    /// part of a request and hung up) and tells the peer why, if it still
    /// listens.
    async fn refuse(&self, conn: &mut Conn, id: u64, e: &FrameError) {
        if !e.is_io() && !e.is_closed() {
            eprintln!("zccache-daemon: refused a frame: {e}");
            let _ = conn
                .send(&frame::response_frame(
                    id,
                    &error_response(&format!("refused: {e}")),
                ))
                .await;
        }
    }

    async fn dispatch(
        self: &Arc<Self>,
        req: v1::Request,
        client: Client,
    ) -> (v1::Response, Descriptors) {
        use v1::request::Body as Rq;
        use v1::response::Body as Rs;
        let engine = self.engine.clone();
        let mut fds = Descriptors::default();
        // Checked on the blocking thread, right before the work starts: a
        // request may wait there behind others.
        let body = match req.body {
            Some(Rq::Lookup(l)) => {
                let asked = Instant::now();
                let p = &self.lookup_profile;
                // On this worker thread: a hit is a few hundred µs of
                // blocking work, and a hand-off to the blocking pool and
                // back cost as much again on a loaded machine (issue 16).
                // A panic is caught as `spawn_blocking` would have.
                match run_here(|| {
                    let started = Instant::now();
                    LookupProfile::add(&p.queue_ns, started - asked);
                    (!client.gave_up()).then(|| {
                        let view = client.view();
                        let viewed = Instant::now();
                        LookupProfile::add(&p.view_ns, viewed - started);
                        let answer = engine.lookup(&l, &view);
                        LookupProfile::add(&p.engine_ns, viewed.elapsed());
                        (answer, Instant::now())
                    })
                }) {
                    Ok(Some(((r, descriptors), done))) => {
                        LookupProfile::add(&self.lookup_profile.back_ns, done.elapsed());
                        fds = descriptors;
                        Rs::Lookup(r)
                    }
                    Ok(None) => Rs::Error(v1::Error {
                        message: GAVE_UP.into(),
                    }),
                    Err(_) => {
                        self.engine.core.stats.bump(&self.engine.core.stats.errors);
                        Rs::Error(v1::Error {
                            message: "lookup failed internally".into(),
                        })
                    }
                }
            }
            Some(Rq::Store(s)) => {
                // On the worker thread too: the compile waits for this
                // answer, and on a loaded machine the hand-off to the pool
                // cost more than the Store itself (issue 16).
                match run_here(|| (!client.gave_up()).then(|| engine.store_result(&s))) {
                    Ok(Some(r)) => Rs::Store(r),
                    Ok(None) => Rs::Error(v1::Error {
                        message: GAVE_UP.into(),
                    }),
                    Err(_) => Rs::Error(v1::Error {
                        message: "store failed internally".into(),
                    }),
                }
            }
            Some(Rq::Undelivered(u)) => {
                let _ = tokio::task::spawn_blocking(move || engine.undelivered(&u)).await;
                Rs::Ack(v1::Ack {})
            }
            Some(Rq::Status(_)) => Rs::Status(v1::StatusReply {
                json: self.status_json().to_string(),
                ..Default::default()
            }),
            Some(Rq::ZeroStats(_)) => {
                self.engine.core.stats.zero();
                Rs::Ack(v1::Ack {})
            }
            Some(Rq::Clear(_)) => {
                let _ = tokio::task::spawn_blocking(move || engine.clear()).await;
                Rs::Ack(v1::Ack {})
            }
            Some(Rq::ReleaseHandles(r)) => Rs::ReleaseHandles(self.release_handles(&r)),
            Some(Rq::Shutdown(_)) => {
                self.retire_once();
                Rs::Ack(v1::Ack {})
            }
            Some(Rq::Route(_)) => Rs::Error(v1::Error {
                message: "Route goes to the broker, not to a daemon".into(),
            }),
            None => Rs::Error(v1::Error {
                message: "empty request".into(),
            }),
        };
        (v1::Response { body: Some(body) }, fds)
    }

    /// Drops everything this daemon holds under the requested path and
    /// says what it dropped and what it still holds; refuses, dropping
    /// nothing, when its cache root or cwd lies there: deleting the path
    /// would delete the cache under a running daemon, which must be
    /// stopped instead.
    fn release_handles(&self, r: &v1::ReleaseHandlesRequest) -> v1::ReleaseHandlesReply {
        use std::os::unix::ffi::OsStrExt;
        let given = PathBuf::from(std::ffi::OsStr::from_bytes(&r.path));
        let mut json = serde_json::Map::new();
        for key in ["cache_root", "namespace", "pid"] {
            if let Some(v) = self.status_base.get(key) {
                json.insert(key.into(), v.clone());
            }
        }
        let spellings = spellings(&given);
        let cwd = std::env::current_dir().unwrap_or_else(|_| self.cache_root.clone());
        let refusal = if !given.is_absolute() {
            Some(format!("{} is not an absolute path", given.display()))
        } else {
            [&self.cache_root, &cwd]
                .into_iter()
                .find(|ours| under(ours, &spellings))
                .map(|ours| {
                    format!(
                        "{} lies under {}: stop this daemon instead (zccache stop with ZCCACHE_CACHE_DIR={} ZCCACHE_DAEMON_NAMESPACE={})",
                        ours.display(),
                        given.display(),
                        self.cache_root.display(),
                        json.get("namespace").and_then(|n| n.as_str()).unwrap_or("default"),
                    )
                })
        };
        if let Some(refusal) = refusal {
            json.insert("released".into(), serde_json::json!({}));
            json.insert("held".into(), serde_json::json!([]));
            json.insert("refused".into(), refusal.into());
            return v1::ReleaseHandlesReply {
                json: serde_json::Value::Object(json).to_string(),
                all_released: false,
            };
        }
        let released = self.engine.release_under(&spellings);
        let held: Vec<String> = match os::open_descriptor_targets() {
            Ok(targets) => targets
                .iter()
                .filter(|t| under(t, &spellings))
                .map(|t| t.display().to_string())
                .collect(),
            Err(e) => vec![format!("open descriptors unknown: /proc/self/fd: {e}")],
        };
        json.insert(
            "released".into(),
            serde_json::json!({
                "metadata_entries": released.metadata_entries,
                "manifests": released.manifests,
                "scans": released.scans,
                "pending_compiles": released.pending_compiles,
                // No file watches exist in this daemon: stat is the authority.
                "watches": 0,
            }),
        );
        let all_released = held.is_empty();
        json.insert("held".into(), held.into());
        json.insert("refused".into(), serde_json::Value::Null);
        v1::ReleaseHandlesReply {
            json: serde_json::Value::Object(json).to_string(),
            all_released,
        }
    }

    pub(crate) fn status_json(&self) -> serde_json::Value {
        let mut m = self.status_base.clone();
        m.insert(
            "uptime_secs".into(),
            self.started.elapsed().as_secs().into(),
        );
        m.extend(self.engine.core.stats.to_json());
        m.insert(
            "lookup_profile".into(),
            self.lookup_profile.to_json(self.engine.journal_ns()),
        );
        m.extend(
            self.settings_status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        );
        let s = self.engine.core.store.stats();
        m.insert("entries".into(), s.entries.into());
        m.insert("bytes".into(), s.bytes.into());
        m.insert("corrupt_detected".into(), s.corrupt_detected.into());
        m.insert("evictions".into(), s.evictions.into());
        m.insert(
            "metadata_entries".into(),
            (self.engine.core.meta.len() as u64).into(),
        );
        if let Some(remote) = &self.engine.core.remote {
            m.insert("remote".into(), remote.status().into());
        }
        serde_json::Value::Object(m)
    }
}

/// `path` as given and, when it differs, canonical: cached paths are
/// spelled the way the build spelled them, which may go through symlinks.
/// A path that no longer exists has only its given spelling.
fn spellings(path: &std::path::Path) -> Vec<PathBuf> {
    let mut all = vec![path.to_path_buf()];
    if let Ok(canonical) = std::fs::canonicalize(path) {
        if canonical != path {
            all.push(canonical);
        }
    }
    all
}

fn under(path: &std::path::Path, spellings: &[PathBuf]) -> bool {
    spellings.iter().any(|s| path.starts_with(s))
}

/// What the daemon can tell about whether the client of a request is still
/// waiting for it. A Lookup or Store whose client gave up (it compiled
/// directly and its build moved on, perhaps rewriting the outputs) must not
/// be acted on: a late Hit would overwrite the build's files, a late Store
/// would snapshot whatever they have become.
#[derive(Clone, Copy)]
struct Client {
    /// The frame's `deadline_unix_ms`; 0 when the client set none.
    deadline_unix_ms: u64,
    fd: RawFd,
}

/// Runs blocking `work` on the current worker thread (`block_in_place`:
/// the runtime moves its other tasks to another thread meanwhile), with a
/// panic caught and returned as an error, as `spawn_blocking` returns it.
fn run_here<T>(work: impl FnOnce() -> T) -> Result<T, ()> {
    tokio::task::block_in_place(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|_| ())
    })
}

const GAVE_UP: &str = "the client's deadline passed before the request was served";

/// Work is not started this close to the client's deadline: it would likely
/// finish after the client stopped waiting.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

impl Client {
    /// The client's file-system view, from the OS: the pid behind the
    /// socket, then `/proc/<pid>/ns/mnt`, `/proc/<pid>/root` and
    /// `/proc/<pid>/cwd` (two stats and a readlink).
    fn view(&self) -> PeerView {
        static OURS: OnceLock<Result<sys::FsView, String>> = OnceLock::new();
        // SAFETY: the descriptor is the connection's, open while its
        // request is served.
        let stream = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let pid = match sys::peer_cred(&stream) {
            Ok((pid, _)) if pid != 0 => pid,
            Ok(_) => return PeerView::Foreign("the client's pid is not visible to us".into()),
            Err(e) => return PeerView::Foreign(format!("peer credentials: {e}")),
        };
        let ours = OURS.get_or_init(|| sys::own_fs_view().map_err(|e| e.to_string()));
        let ours = match ours {
            Ok(v) => v,
            Err(e) => return PeerView::Foreign(format!("our own /proc entry: {e}")),
        };
        match sys::fs_view(pid) {
            Ok(theirs) if theirs.mount_ns != ours.mount_ns => {
                PeerView::Foreign(format!("pid {pid} runs in another mount namespace"))
            }
            Ok(theirs) if theirs.root != ours.root => {
                PeerView::Foreign(format!("pid {pid} has another root directory"))
            }
            Ok(_) => match sys::process_cwd(pid) {
                Ok(cwd) => PeerView::Ours { cwd },
                Err(e) => PeerView::Foreign(format!("/proc/{pid}/cwd: {e}")),
            },
            Err(e) => PeerView::Foreign(format!("/proc/{pid}: {e}")),
        }
    }

    fn gave_up(&self) -> bool {
        if self.deadline_unix_ms != 0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + DEADLINE_MARGIN;
            if now.as_millis() >= u128::from(self.deadline_unix_ms) {
                return true;
            }
        }
        peer_hung_up(self.fd)
    }
}

/// Whether the peer has closed its end: a wrapper closes the connection
/// when it stops waiting. It sends one request at a time, so nothing is
/// pending to peek at while it waits.
fn peer_hung_up(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: the buffer is one writable byte; MSG_PEEK leaves the stream
    // as it is and MSG_DONTWAIT keeps the call from blocking.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n == 0 {
        return true;
    }
    n < 0
        && !matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EAGAIN | libc::EINTR)
        )
}

/// One connection: frames over a socket (`frame::FrameStream`, which owns
/// the end-of-file rule shared with the broker).
type Conn = FrameStream<UnixStream>;

/// Sends `f` with `fds` attached to its first byte: one `sendmsg` that the
/// socket takes at least a byte of, then plain writes for the rest.
async fn send_with(conn: &mut Conn, f: Frame, fds: Descriptors) -> std::io::Result<()> {
    if fds.0.is_empty() {
        return conn.send(&f).await;
    }
    let bytes = frame::encode_frame(&f);
    let sent = {
        let borrowed: Vec<BorrowedFd<'_>> = fds.0.iter().map(AsFd::as_fd).collect();
        let stream = conn.get_ref();
        loop {
            stream.writable().await?;
            match stream.try_io(Interest::WRITABLE, || {
                sys::send_with_fds(stream, &bytes, &borrowed)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    };
    conn.write_all(&bytes[sent..]).await
}

fn error_response(message: &str) -> v1::Response {
    v1::Response {
        body: Some(v1::response::Body::Error(v1::Error {
            message: message.into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_ms(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn release_paths_match_by_component_and_through_symlinks() {
        let dir = std::env::temp_dir().join(format!("zccache-release-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let canonical = std::fs::canonicalize(dir.join("real")).unwrap();
        let via_link = spellings(&dir.join("link"));
        assert_eq!(via_link, vec![dir.join("link"), canonical.clone()]);
        assert!(under(&canonical.join("sub/a.h"), &via_link));
        assert!(under(&dir.join("link/a.h"), &via_link));
        assert!(!under(&dir.join("realm/a.h"), &via_link));
        assert!(!under(&dir, &via_link));
        let gone = dir.join("gone");
        assert_eq!(spellings(&gone), vec![gone.clone()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_client_of_our_own_system_is_seen_at_its_kernel_cwd() {
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let client = Client {
            deadline_unix_ms: 0,
            fd: ours.as_raw_fd(),
        };
        assert_eq!(
            client.view(),
            PeerView::Ours {
                cwd: std::env::current_dir().unwrap()
            }
        );
    }

    #[test]
    fn a_client_gives_up_at_its_deadline_or_when_it_hangs_up() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let client = |deadline_unix_ms| Client {
            deadline_unix_ms,
            fd: ours.as_raw_fd(),
        };
        let later = unix_ms(SystemTime::now() + Duration::from_secs(60));
        let past = unix_ms(SystemTime::now() - Duration::from_secs(1));
        let within_margin = unix_ms(SystemTime::now() + DEADLINE_MARGIN / 2);
        assert!(!client(0).gave_up());
        assert!(!client(later).gave_up());
        assert!(client(past).gave_up());
        assert!(client(within_margin).gave_up());
        drop(theirs);
        assert!(client(0).gave_up());
        assert!(client(later).gave_up());
    }

    #[test]
    fn work_run_on_the_worker_returns_its_value_and_a_panic_as_an_error() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let here = std::thread::current().id();
            let on = tokio::spawn(async { run_here(|| std::thread::current().id()) })
                .await
                .unwrap()
                .unwrap();
            // The runtime's worker, not the caller and not a second thread
            // the work was handed to and waited for.
            assert_ne!(on, here);
            // (The panic's message on stderr is expected.)
            let caught = tokio::spawn(async { run_here(|| -> u32 { panic!("boom") }) })
                .await
                .expect("the task survives the panic");
            assert!(caught.is_err());
            // And the runtime keeps serving.
            assert_eq!(tokio::spawn(async { run_here(|| 7) }).await.unwrap(), Ok(7));
        });
    }
}
