//! The broker's accept loop and request dispatch: peer check before the first byte, one version check, Route, and the requests it fans out to every live daemon (Status, ReleaseHandles, Shutdown with `all`); it never carries compile traffic and never interprets what daemons release.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use frame::v1::{
    request, response, ReleaseHandlesReply, ReleaseHandlesRequest, Request, Response, Route,
    ShutdownRequest, StatusReply, VersionMismatch,
};
use frame::{VersionCheck, PACKAGE_VERSION, PROTOCOL_VERSION};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::daemons::{DaemonStart, Daemons, Routed};
use crate::framed::{connect_ours, Framed};
use crate::refusals::{Refusal, Refusals};
use crate::registry::{self, Registry};

/// The reason name of a Route refused while its daemon backs off.
const DAEMON_BACKOFF: &str = "daemon_backoff";

/// A connection that has sent no complete frame within this long is closed.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// An idle connection between requests is closed after this long.
const IDLE_CONNECTION: Duration = Duration::from_secs(60);

pub(crate) struct Broker {
    pub(crate) daemons: Daemons,
    pub(crate) registry: Registry,
    /// The roots routed no daemon, and why.
    pub(crate) refusals: Refusals,
    pub(crate) started: Instant,
    /// Seconds from `started` to the latest Route.
    pub(crate) last_route: AtomicU64,
    /// Notified when a Shutdown has been answered.
    pub(crate) shutdown: Notify,
}

impl Broker {
    /// Seconds since the latest Route (or since start).
    pub(crate) fn idle_for(&self) -> Duration {
        let last = self.last_route.load(Ordering::Relaxed);
        Duration::from_secs(self.started.elapsed().as_secs().saturating_sub(last))
    }

    /// Accepts connections until the task is dropped.
    pub(crate) async fn accept_loop(self: Arc<Self>, listener: UnixListener) {
        let euid = router::euid();
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Before one byte is read: a foreign peer gets nothing.
            if let Some(why) = sys::refusal(&stream, euid) {
                eprintln!("{why}");
                continue;
            }
            tokio::spawn(self.clone().serve(stream));
        }
    }

    async fn serve(self: Arc<Self>, stream: UnixStream) {
        let mut conn = Framed::server(stream);
        let mut first = true;
        loop {
            let wait = if first {
                HEADER_DEADLINE
            } else {
                IDLE_CONNECTION
            };
            let frame = match timeout(wait, conn.next()).await {
                Err(_) | Ok(None) => return,
                Ok(Some(Err(e))) => {
                    if !e.is_io() {
                        eprintln!("refused a frame: {e}");
                        let refusal = Response::error(format!("refused: {e}"));
                        let _ = conn.send(&frame::response_frame(0, &refusal)).await;
                    }
                    return;
                }
                Ok(Some(Ok(frame))) => frame,
            };
            first = false;
            let id = frame.request_id;
            let request = match frame::decode_request(&frame) {
                Ok(request) => request,
                Err(e) => {
                    let _ = conn
                        .send(&frame::response_frame(id, &Response::error(e.to_string())))
                        .await;
                    return;
                }
            };
            if let VersionCheck::Mismatch(m) = frame::check_request_version(&request) {
                let _ = conn
                    .send(&frame::response_frame(id, &Response::version_mismatch(m)))
                    .await;
                return;
            }
            let stop = matches!(request.body, Some(request::Body::Shutdown(_)));
            let answer = self.dispatch(request).await;
            if conn
                .send(&frame::response_frame(id, &answer))
                .await
                .is_err()
            {
                return;
            }
            if stop {
                self.shutdown.notify_one();
                return;
            }
        }
    }

    async fn dispatch(&self, request: Request) -> Response {
        match request.body {
            Some(request::Body::Route(route)) => self.route(route).await,
            Some(request::Body::Status(_)) => Response::new(response::Body::Status(StatusReply {
                json: self.status_all().await,
                refusals_json: self.refusals.json(),
            })),
            Some(request::Body::ReleaseHandles(release)) => Response::new(
                response::Body::ReleaseHandles(self.release_all(release).await),
            ),
            Some(request::Body::Shutdown(shutdown)) => {
                if shutdown.all {
                    self.stop_all().await;
                }
                Response::ack()
            }
            Some(_) => Response::error(
                "the broker answers Route, Status, ReleaseHandles and Shutdown only",
            ),
            None => Response::error("empty request"),
        }
    }

    async fn route(&self, route: Route) -> Response {
        // A daemon started now would outlive the broker that is stopping
        // every daemon; the wrapper compiles directly instead.
        if STOPPING.load(Ordering::SeqCst) {
            return Response::error("the broker is stopping every daemon");
        }
        self.last_route
            .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
        if route.client_protocol_version != PROTOCOL_VERSION {
            return Response::version_mismatch(VersionMismatch {
                expected: PROTOCOL_VERSION,
                received: route.client_protocol_version,
                peer_version_string: PACKAGE_VERSION.to_owned(),
            });
        }
        let start = DaemonStart::of(&route);
        let given = PathBuf::from(OsString::from_vec(route.cache_root));
        if !given.is_absolute() {
            return Response::error(format!("cache root {} is not absolute", given.display()));
        }
        // The key is derived from the canonical root: any other spelling
        // would name a second daemon for the same directory.
        let root = match tokio::fs::canonicalize(&given).await {
            Ok(root) => root,
            Err(e) => return Response::error(format!("cache root {}: {e}", given.display())),
        };
        let namespace = match router::sanitize_namespace(Some(OsStr::new(&route.namespace))) {
            Ok(namespace) => namespace,
            Err(e) => return Response::error(format!("namespace: {e}")),
        };
        // A root anybody else may write is not used: no daemon, and the
        // wrapper compiles directly. Checked on every Route, so a root
        // fixed later is served again.
        if let Err(refusal) = router::check_cache_root(&root) {
            let refusal = Refusal {
                reason: refusal.as_str(),
                detail: refusal.to_string(),
            };
            let reply = self.refusals.refuse(&root, &namespace, refusal);
            return Response::new(response::Body::Route(reply));
        }
        match self.daemons.route(&root, &namespace, &start).await {
            Ok(Routed::Backoff(detail)) => {
                let refusal = Refusal {
                    reason: DAEMON_BACKOFF,
                    detail,
                };
                let reply = self.refusals.refuse(&root, &namespace, refusal);
                Response::new(response::Body::Route(reply))
            }
            Ok(Routed::Reply(reply)) => {
                self.refusals.clear(&root, &namespace);
                self.registry.remember(&root);
                Response::new(response::Body::Route(reply))
            }
            Err(e) => {
                eprintln!("route for {} ({namespace}) failed: {e}", root.display());
                Response::error(e)
            }
        }
    }

    /// A JSON array with the status object of every live daemon.
    async fn status_all(&self) -> String {
        let found = self.live_daemons().await;
        serde_json::Value::Array(found.into_iter().map(|d| d.status).collect()).to_string()
    }

    /// Every live daemon of ours and this protocol, sorted by cache root
    /// and namespace: those with an identity file under a root this broker
    /// or an earlier one served, and those listening on a daemon endpoint
    /// in the runtime directory (which finds a daemon whose identity file
    /// or root has been removed). Live means it answered a Status.
    async fn live_daemons(&self) -> Vec<Live> {
        let mut endpoints = BTreeSet::new();
        for root in self.registry.roots() {
            for namespace in registry::namespaces(&root, PROTOCOL_VERSION) {
                endpoints.insert(self.daemons.paths(&root, &namespace).endpoint);
            }
        }
        endpoints.extend(daemon_endpoints(self.daemons.rt.path()));
        let mut asks = JoinSet::new();
        for endpoint in endpoints {
            asks.spawn(async move {
                let status = crate::daemons::status_at(&endpoint).await?;
                // A daemon of another protocol answers with a mismatch
                // and is left alone; this check covers one that answers
                // anyway.
                let ours = status["protocol_version"].as_u64() == Some(PROTOCOL_VERSION.into());
                ours.then_some(Live { endpoint, status })
            });
        }
        let mut found: Vec<Live> = vec![];
        while let Some(joined) = asks.join_next().await {
            if let Ok(Some(live)) = joined {
                // Two spellings of one endpoint (a symlinked runtime
                // directory) reach the same process.
                if !found.iter().any(|f| f.pid() == live.pid()) {
                    found.push(live);
                }
            }
        }
        found.sort_by_key(Live::sort_key);
        found
    }

    /// Asks every live daemon to release what it holds under the path;
    /// everything is released when every daemon says so. A daemon that
    /// is gone by the time it is asked holds nothing.
    async fn release_all(&self, release: ReleaseHandlesRequest) -> ReleaseHandlesReply {
        let mut asks = JoinSet::new();
        for live in self.live_daemons().await {
            let body = request::Body::ReleaseHandles(release.clone());
            asks.spawn(async move {
                let answer = call(&live.endpoint, body, RELEASE_TIMEOUT).await;
                release_entry(&live, answer)
            });
        }
        let mut entries = vec![];
        let mut all_released = true;
        while let Some(joined) = asks.join_next().await {
            let Ok((key, entry, released)) = joined else {
                all_released = false;
                continue;
            };
            all_released &= released;
            entries.push((key, entry));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let json = serde_json::Value::Array(entries.into_iter().map(|(_, e)| e).collect());
        ReleaseHandlesReply {
            json: json.to_string(),
            all_released,
        }
    }

    /// Shuts down every live daemon and waits, bounded, until each process
    /// is gone, then signals every daemon proven ours that is still there,
    /// so that `zccache stop --all` returning means none runs.
    async fn stop_all(&self) {
        STOPPING.store(true, Ordering::SeqCst);
        let mut asks = JoinSet::new();
        for live in self.live_daemons().await {
            asks.spawn(async move {
                let body = request::Body::Shutdown(ShutdownRequest { all: false });
                if let Err(e) = call(&live.endpoint, body, STOP_TIMEOUT).await {
                    eprintln!("stop daemon at {}: {e}", live.endpoint.display());
                }
                let deadline = Instant::now() + STOP_TIMEOUT;
                while live.pid().is_some_and(is_running) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
        while asks.join_next().await.is_some() {}
        // Those no request reaches (their socket was removed from outside)
        // are found by identity file and stopped on the OS's proof.
        for root in self.registry.roots() {
            for namespace in registry::namespaces(&root, PROTOCOL_VERSION) {
                let paths = self.daemons.paths(&root, &namespace);
                self.daemons.stop_proven(&paths).await;
            }
        }
    }
}

/// Set once a Shutdown with `all` has begun: this broker routes no more.
/// Process-wide because there is one broker per process.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// How long a daemon may take to release handles.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a daemon may take to acknowledge a Shutdown, and then to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A daemon that answered a Status.
struct Live {
    endpoint: PathBuf,
    status: serde_json::Value,
}

impl Live {
    fn pid(&self) -> Option<u32> {
        self.status["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
    }

    fn sort_key(&self) -> (String, String, u64) {
        let text = |k: &str| self.status[k].as_str().unwrap_or_default().to_owned();
        let pid = self.status["pid"].as_u64().unwrap_or_default();
        (text("cache_root"), text("namespace"), pid)
    }
}

/// The daemon endpoints (`d-*.sock`) in the runtime directory.
fn daemon_endpoints(runtime: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(runtime) else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.as_bytes();
            name.starts_with(b"d-") && name.ends_with(b".sock")
        })
        .map(|e| e.path())
        .collect()
}

/// One daemon's line of a release-handles answer: its own report with its
/// cache root, namespace and pid, or what went wrong asking it; and
/// whether it released everything.
fn release_entry(
    live: &Live,
    answer: Result<response::Body, String>,
) -> ((String, String, u64), serde_json::Value, bool) {
    let mut entry = serde_json::Map::new();
    let released = match answer {
        Ok(response::Body::ReleaseHandles(reply)) => {
            match serde_json::from_str(&reply.json) {
                Ok(serde_json::Value::Object(report)) => entry = report,
                _ => {
                    entry.insert("report".into(), reply.json.into());
                }
            }
            reply.all_released
        }
        Ok(other) => {
            entry.insert("error".into(), frame::describe(&other).into());
            false
        }
        // It has gone since it answered the Status: it holds nothing.
        Err(e) if live.pid().is_some_and(|p| !is_running(p)) => {
            entry.insert("gone".into(), e.into());
            true
        }
        Err(e) => {
            entry.insert("error".into(), e.into());
            false
        }
    };
    for key in ["cache_root", "namespace", "pid"] {
        if !entry.contains_key(key) {
            entry.insert(key.into(), live.status[key].clone());
        }
    }
    (live.sort_key(), serde_json::Value::Object(entry), released)
}

/// Sends one request to the daemon at `endpoint` and returns its answer.
async fn call(
    endpoint: &Path,
    body: request::Body,
    limit: Duration,
) -> Result<response::Body, String> {
    let ask = async {
        let stream = connect_ours(endpoint).await.map_err(|e| e.to_string())?;
        let mut conn = Framed::client(stream, frame::MAX_FRAME);
        let request = Request::new(body);
        conn.send(&frame::request_frame(1, &request))
            .await
            .map_err(|e| e.to_string())?;
        let answer = match conn.next().await {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed the connection without answering".to_owned()),
        };
        let response = frame::decode_response(&answer).map_err(|e| e.to_string())?;
        response.body.ok_or_else(|| "an empty answer".to_owned())
    };
    match timeout(limit, ask).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Whether `pid` runs: exists and is not a zombie (a zombie has let go of
/// everything; only its parent can clear it).
fn is_running(pid: u32) -> bool {
    router::running_start_time(pid).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use frame::v1::Error as ErrorReply;

    fn live(pid: u32) -> Live {
        Live {
            endpoint: PathBuf::from("/rt/d-0.sock"),
            status: serde_json::json!({"cache_root": "/c", "namespace": "a", "pid": pid}),
        }
    }

    #[track_caller]
    fn check(
        pid: u32,
        answer: Result<response::Body, String>,
        entry: serde_json::Value,
        released: bool,
    ) {
        let (key, got, got_released) = release_entry(&live(pid), answer);
        assert_eq!(key, ("/c".to_owned(), "a".to_owned(), u64::from(pid)));
        assert_eq!(got, entry);
        assert_eq!(got_released, released);
    }

    #[test]
    fn release_entries_name_their_daemon() {
        let ours = std::process::id();
        let report = |json: &str, all_released| {
            Ok(response::Body::ReleaseHandles(ReleaseHandlesReply {
                json: json.to_owned(),
                all_released,
            }))
        };
        check(
            ours,
            report(r#"{"pid":1,"released":{"scans":2},"held":[]}"#, true),
            serde_json::json!({"cache_root": "/c", "namespace": "a", "pid": 1,
                               "released": {"scans": 2}, "held": []}),
            true,
        );
        check(
            ours,
            report(r#"{"refused":"root under path"}"#, false),
            serde_json::json!({"cache_root": "/c", "namespace": "a", "pid": ours,
                               "refused": "root under path"}),
            false,
        );
        check(
            ours,
            report("not json", true),
            serde_json::json!({"cache_root": "/c", "namespace": "a", "pid": ours,
                               "report": "not json"}),
            true,
        );
        check(
            ours,
            Ok(response::Body::Error(ErrorReply {
                message: "no".to_owned(),
            })),
            serde_json::json!({"cache_root": "/c", "namespace": "a", "pid": ours,
                               "error": "error: no"}),
            false,
        );
        // Still running but silent: it may hold anything.
        check(
            ours,
            Err("no answer".to_owned()),
            serde_json::json!({"cache_root": "/c", "namespace": "a", "pid": ours,
                               "error": "no answer"}),
            false,
        );
        // Gone since it answered the Status: it holds nothing.
        let gone = u32::MAX - 1;
        check(
            gone,
            Err("refused".to_owned()),
            serde_json::json!({"cache_root": "/c", "namespace": "a", "pid": gone,
                               "gone": "refused"}),
            true,
        );
    }

    #[test]
    fn daemon_endpoints_are_the_d_sockets() {
        let dir = std::env::temp_dir().join(format!("zccache-fanout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "d-0123.sock",
            "d-0123.lock",
            "d-0123.log",
            "broker-p1.sock",
            "x-d-1.sock",
        ] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        assert_eq!(daemon_endpoints(&dir), vec![dir.join("d-0123.sock")]);
        assert!(daemon_endpoints(&dir.join("absent")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
