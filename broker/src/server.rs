//! The broker's accept loop and request dispatch: peer check before the first byte, one version check, Route / Status / Shutdown; it never carries compile traffic.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use frame::v1::{request, response, Request, Response, Route, StatusReply, VersionMismatch};
use frame::{VersionCheck, PACKAGE_VERSION, PROTOCOL_VERSION};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::daemons::Daemons;
use crate::framed::Framed;
use crate::os;
use crate::registry::{self, Registry};

/// A connection that has sent no complete frame within this long is closed.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// An idle connection between requests is closed after this long.
const IDLE_CONNECTION: Duration = Duration::from_secs(60);

pub(crate) struct Broker {
    pub(crate) daemons: Daemons,
    pub(crate) registry: Registry,
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
            match os::peer_uid(&stream) {
                Ok(uid) if uid == euid => {}
                Ok(uid) => {
                    eprintln!("refused a connection from uid {uid} (we serve uid {euid} only)");
                    continue;
                }
                Err(e) => {
                    eprintln!("refused a connection without peer credentials: {e}");
                    continue;
                }
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
            })),
            Some(request::Body::Shutdown(_)) => Response::ack(),
            Some(_) => Response::error("the broker answers Route, Status and Shutdown only"),
            None => Response::error("empty request"),
        }
    }

    async fn route(&self, route: Route) -> Response {
        self.last_route
            .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
        if route.client_protocol_version != PROTOCOL_VERSION {
            return Response::version_mismatch(VersionMismatch {
                expected: PROTOCOL_VERSION,
                received: route.client_protocol_version,
                peer_version_string: PACKAGE_VERSION.to_owned(),
            });
        }
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
        match self.daemons.route(&root, &namespace).await {
            Ok(reply) => {
                self.registry.remember(&root);
                Response::new(response::Body::Route(reply))
            }
            Err(e) => {
                eprintln!("route for {} ({namespace}) failed: {e}", root.display());
                Response::error(e)
            }
        }
    }

    /// A JSON array with the status object of every daemon that answers,
    /// found through the roots this broker (or an earlier one) served.
    async fn status_all(&self) -> String {
        let mut asks = JoinSet::new();
        for root in self.registry.roots() {
            for namespace in registry::namespaces(&root, PROTOCOL_VERSION) {
                let paths = self.daemons.paths(&root, &namespace);
                let root = root.clone();
                asks.spawn(async move { status_of(paths.endpoint, root, namespace).await });
            }
        }
        let mut found = vec![];
        while let Some(joined) = asks.join_next().await {
            if let Ok(Some(entry)) = joined {
                found.push(entry);
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        serde_json::Value::Array(found.into_iter().map(|(_, status)| status).collect()).to_string()
    }
}

/// (sort key, status object) of the daemon at `endpoint`.
async fn status_of(
    endpoint: PathBuf,
    root: PathBuf,
    namespace: String,
) -> Option<((PathBuf, String), serde_json::Value)> {
    let status = crate::daemons::status_at(&endpoint).await?;
    Some(((root, namespace), status))
}
