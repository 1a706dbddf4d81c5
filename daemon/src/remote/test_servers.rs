//! Real Redis servers for the remote tier's tests: `redis-server` on a
//! loopback port chosen free at run time, in its own temp dir, killed (and
//! the dir removed) when dropped; a three-master cluster made with
//! `redis-cli --cluster create`; and a loopback TCP proxy that can delay
//! replies. Readiness is polled (`PING`, `cluster_state:ok`), never slept
//! for. Test-only; not a mock: every byte goes to a real server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous bound for anything a loaded machine must finish.
pub(super) const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `f` until it returns `Some`, failing the test after `PATIENCE`.
#[track_caller]
pub(super) fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "zccache-redis-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Whether a Redis answers `PING` on `port`.
fn pings(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

pub(super) struct RedisServer {
    pub(super) port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A fresh server with `extra` arguments (`--maxmemory 1mb`, …).
    pub(super) fn start(extra: &[&str]) -> RedisServer {
        let mut s = RedisServer {
            port: 0,
            dir: scratch("node"),
            args: extra.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        // Another process may take the port between the probe and the
        // server's bind; try a few.
        for _ in 0..5 {
            s.port = free_port();
            if s.launch() {
                return s;
            }
        }
        panic!("redis-server did not start; is it installed (scripts/test.sh)?");
    }

    /// Starts the process on `self.port` and waits for `PING`; false if it
    /// exited (a port taken).
    fn launch(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let start = Instant::now();
        loop {
            if pings(self.port) {
                self.child = Some(child);
                return true;
            }
            if child.try_wait().expect("wait").is_some() {
                return false;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "redis-server never answered PING"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// SIGKILL, and wait until it is gone.
    pub(super) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (its data is gone).
    pub(super) fn restart(&mut self) {
        assert!(self.launch(), "redis-server did not come back on its port");
    }

    /// A plain client for setting up and inspecting.
    pub(super) fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to redis")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three masters, no replicas. Nodes keep serving their own slots while
/// another is down (`cluster-require-full-coverage no`), as a cache wants.
pub(super) struct RedisCluster {
    pub(super) nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub(super) fn start() -> RedisCluster {
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            "--cluster-require-full-coverage",
            "no",
            "--cluster-allow-reads-when-down",
            "yes",
        ];
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start(&args)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli (redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for n in &nodes {
            wait_for("cluster_state:ok", || {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut n.client())
                    .ok()?;
                info.contains("cluster_state:ok").then_some(())
            });
        }
        RedisCluster { nodes }
    }

    pub(super) fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Which node holds `name`: the one that answers GET without MOVED.
    pub(super) fn owner(&self, name: &str) -> usize {
        let owners: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                redis::cmd("GET")
                    .arg(name)
                    .query::<Option<Vec<u8>>>(&mut self.nodes[i].client())
                    .is_ok()
            })
            .collect();
        assert_eq!(owners.len(), 1, "exactly one node owns {name}");
        owners[0]
    }
}

/// A loopback TCP proxy in front of `upstream`: replies are held back by
/// `delay` (milliseconds, changeable while running) before being passed on.
pub(super) struct SlowProxy {
    pub(super) port: u16,
    pub(super) delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl SlowProxy {
    pub(super) fn start(upstream: u16) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (delay, stopping) = (Arc::clone(&delay_ms), Arc::clone(&stop));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client, server, None));
                let d = Arc::clone(&delay);
                std::thread::spawn(move || pump(s2, c2, Some(d)));
            }
        });
        SlowProxy {
            port,
            delay_ms,
            stop,
        }
    }

    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub(super) fn set_delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to`, holding each read back by `delay` first.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Option<Arc<AtomicU64>>) {
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(d) = &delay {
            // The behaviour under test: a server that answers late.
            std::thread::sleep(Duration::from_millis(d.load(Ordering::Relaxed)));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
