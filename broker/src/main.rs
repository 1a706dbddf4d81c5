//! `zccache-broker`: one per user and protocol version, on a well-known endpoint; the only process that starts daemons, which it probes, spawns under their lock and lists. It never hashes, never touches cache contents and never carries compile traffic.
//!
//! Started detached by the wrapper when nobody answers on the broker
//! endpoint. It binds first; a live broker already there means this one
//! exits 0. It exits on Shutdown, or once `ZCCACHE_BROKER_IDLE_TIMEOUT_SECS`
//! (default 600, 0 = never) have passed since its last live daemon exited
//! and its last Route. Its log is its stderr.

#[cfg(unix)]
#[path = "os/unix.rs"]
mod os;

mod daemons;
mod framed;
mod refusals;
mod registry;
mod server;

use std::error::Error;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use frame::PROTOCOL_VERSION;
use tokio::sync::Notify;

use crate::daemons::Daemons;
use crate::registry::Registry;
use crate::server::Broker;

fn main() {
    if let Err(e) = run() {
        eprintln!("zccache-broker: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let rt = router::runtime_dir()?;
    let paths = router::broker_paths(&rt, PROTOCOL_VERSION);
    // The umask is process-wide, so bind before the runtime starts threads.
    let Some(listener) = sys::bind_endpoint(&paths.endpoint)? else {
        eprintln!(
            "a live broker already answers on {}; exiting",
            paths.endpoint.display()
        );
        return Ok(());
    };
    let bound = os::file_id(&paths.endpoint);
    eprintln!(
        "started broker pid={} endpoint={}",
        std::process::id(),
        paths.endpoint.display()
    );

    let secs = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    let idle_timeout = Duration::from_secs(secs("ZCCACHE_BROKER_IDLE_TIMEOUT_SECS", 600));
    let spawn_timeout = Duration::from_millis(secs("ZCCACHE_SPAWN_TIMEOUT_MS", 10_000));
    let broker = Arc::new(Broker {
        daemons: Daemons::new(
            rt,
            daemons::daemon_exe(std::env::var_os("ZCCACHE_DAEMON_EXE")),
            spawn_timeout,
            Duration::from_secs(secs("ZCCACHE_DAEMON_BACKOFF_SECS", 10)),
        ),
        registry: Registry::load(paths.registry.clone()),
        refusals: Default::default(),
        started: Instant::now(),
        last_route: AtomicU64::new(0),
        shutdown: Notify::new(),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let why = runtime.block_on(async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::UnixListener::from_std(listener)?;
        let accepting = tokio::spawn(broker.clone().accept_loop(listener));
        let reaping = tokio::spawn(reap_loop(broker.clone()));
        let why = tokio::select! {
            () = broker.shutdown.notified() => "shutdown requested",
            () = idle(&broker, idle_timeout) => "idle",
        };
        accepting.abort();
        reaping.abort();
        io::Result::Ok(why)
    })?;
    // New wrappers now find no socket and start a fresh broker, instead of
    // connecting to one that is leaving. Only our own socket is removed.
    if bound.is_some() && os::file_id(&paths.endpoint) == bound {
        let _ = std::fs::remove_file(&paths.endpoint);
    }
    eprintln!("broker pid={} exiting: {why}", std::process::id());
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// Returns once, for `limit`, no daemon of ours has run and no Route
/// arrived; never when `limit` is 0. Daemons started by an earlier broker
/// count too: they are found through the roots file.
async fn idle(broker: &Broker, limit: Duration) {
    if limit.is_zero() {
        std::future::pending::<()>().await;
    }
    let mut last_live = Instant::now();
    loop {
        if any_daemon_runs(broker) {
            last_live = Instant::now();
        }
        let quiet = last_live.elapsed().min(broker.idle_for());
        if quiet >= limit {
            return;
        }
        tokio::time::sleep((limit - quiet).min(LIVENESS_POLL)).await;
    }
}

/// How often the broker looks whether any of its daemons still runs.
const LIVENESS_POLL: Duration = Duration::from_secs(1);

fn any_daemon_runs(broker: &Broker) -> bool {
    broker.registry.roots().iter().any(|root| {
        registry::namespaces(root, PROTOCOL_VERSION)
            .iter()
            .any(|namespace| broker.daemons.runs(&broker.daemons.paths(root, namespace)))
    })
}

/// Reaps exited daemons every few seconds.
async fn reap_loop(broker: Arc<Broker>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        broker.daemons.reap();
    }
}
