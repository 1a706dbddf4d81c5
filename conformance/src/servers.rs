//! Real Redis servers for the remote-tier conformance tests: `redis-server`
//! on a loopback port chosen free at run time, in its own directory under
//! the test's sandbox, killed when dropped; a three-master Redis Cluster
//! made with `redis-cli --cluster create`, with or without replicas; a loopback TCP proxy that holds
//! replies back; and `redis-cli` to look inside. Readiness is polled
//! (`PING`, `cluster_state:ok`), never slept for.
//!
//! Not a mock: every byte goes to a real server. It asserts nothing about
//! zccache (the tests in `tests/remote.rs` do).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::wait_for;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
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

/// `redis-cli -p port <args>`: its stdout, trimmed; panics when it fails.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli (redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One `redis-server`, owned by the test.
pub struct RedisServer {
    pub port: u16,
    /// The TLS port, for a server started with [`RedisServer::start_tls`].
    pub tls_port: Option<u16>,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

/// A certificate authority made for a test with the `openssl` CLI, and a
/// server certificate it signed for `127.0.0.1` and `localhost`.
pub struct TestCa {
    /// The CA's certificate (PEM): what a client trusts.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCa {
    /// Makes the CA `name` and its server certificate in `dir` (created).
    pub fn new(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).expect("certificate dir");
        let at = |f: &str| dir.join(format!("{name}-{f}"));
        // Paths under the test's sandbox, which have no spaces.
        let openssl = |command: String| {
            let args: Vec<&str> = command.split_whitespace().collect();
            let out = Command::new("openssl")
                .args(&args)
                .current_dir(dir)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let (ca, ca_key) = (at("ca.crt"), at("ca.key"));
        let (cert, key, csr, ext) = (
            at("server.crt"),
            at("server.key"),
            at("server.csr"),
            at("ext.cnf"),
        );
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
        openssl(format!(
            "req -x509 -nodes -days 2 {ec} -subj /CN=zccache-test-ca-{name} -keyout {} -out {}",
            ca_key.display(),
            ca.display()
        ));
        openssl(format!(
            "req -nodes {ec} -subj /CN=127.0.0.1 -keyout {} -out {}",
            key.display(),
            csr.display()
        ));
        std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        openssl(format!(
            "x509 -req -days 2 -in {} -CA {} -CAkey {} -CAcreateserial -extfile {} -out {}",
            csr.display(),
            ca.display(),
            ca_key.display(),
            ext.display(),
            cert.display()
        ));
        TestCa {
            ca,
            server_cert: cert,
            server_key: key,
        }
    }
}

impl RedisServer {
    /// A fresh server in `dir` (created) with `extra` arguments
    /// (`--maxmemory 100kb`, …).
    pub fn start(dir: &Path, extra: &[&str]) -> RedisServer {
        RedisServer::start_with(dir, extra, false, |_| Vec::new())
    }

    /// A fresh server in `dir` that also serves TLS (`tls_port`) with the
    /// server certificate of `ca`; clients need no certificate.
    pub fn start_tls(dir: &Path, ca: &TestCa) -> RedisServer {
        RedisServer::start_with(dir, &[], true, |tls_port| {
            let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
            vec![
                "--tls-port".into(),
                tls_port.to_string(),
                "--tls-cert-file".into(),
                path(&ca.server_cert),
                "--tls-key-file".into(),
                path(&ca.server_key),
                "--tls-ca-cert-file".into(),
                path(&ca.ca),
                "--tls-auth-clients".into(),
                "no".into(),
            ]
        })
    }

    /// `extra` arguments, and with `tls` those `tls_args` makes for a TLS
    /// port chosen free.
    fn start_with(
        dir: &Path,
        extra: &[&str],
        tls: bool,
        tls_args: impl Fn(u16) -> Vec<String>,
    ) -> RedisServer {
        std::fs::create_dir_all(dir).expect("redis dir");
        let mut s = RedisServer {
            port: 0,
            tls_port: None,
            dir: dir.to_path_buf(),
            args: Vec::new(),
            child: None,
        };
        // Another process may take a port between the probe and the
        // server's bind; try a few.
        for _ in 0..5 {
            s.port = free_port();
            s.args = extra.iter().map(|a| a.to_string()).collect();
            if tls {
                let port = free_port();
                s.tls_port = Some(port);
                s.args.extend(tls_args(port));
            }
            if s.launch() {
                return s;
            }
        }
        panic!("redis-server did not start; is it installed (apt-get install redis-server)?");
    }

    /// Starts the process on `self.port` and waits for `PING`; false if it
    /// exited (its port taken).
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
        let mut exited = false;
        wait_for("redis-server to answer PING", || {
            if pings(self.port) {
                return Some(());
            }
            exited = child.try_wait().expect("wait").is_some();
            exited.then_some(())
        });
        if exited {
            return false;
        }
        self.child = Some(child);
        true
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The `rediss://` URL of a TLS server.
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("a server started with start_tls");
        format!("rediss://127.0.0.1:{port}/0")
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (its data is gone).
    pub fn restart(&mut self) {
        assert!(self.launch(), "redis-server did not come back on its port");
    }

    /// `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    /// How many keys it holds.
    pub fn dbsize(&self) -> u64 {
        self.cli(&["DBSIZE"]).parse().expect("DBSIZE is a number")
    }

    /// Whether it is a primary (`ROLE` says master).
    pub fn is_primary(&self) -> bool {
        self.cli(&["ROLE"]).lines().next() == Some("master")
    }

    /// Every key name.
    pub fn keys(&self) -> Vec<String> {
        let all = self.cli(&["--scan"]);
        all.lines().map(str::to_owned).collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three primaries, each with `replicas` replicas; a node keeps serving
/// its own slots while another is down, as a cache wants, and a replica
/// takes over a primary that stops answering (after the 2 s node timeout).
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three primaries, no replicas.
    pub fn start(dir: &Path) -> RedisCluster {
        RedisCluster::start_with_replicas(dir, 0)
    }

    /// Three primaries with `replicas` replicas each, every replica in sync
    /// with its primary before this returns.
    pub fn start_with_replicas(dir: &Path, replicas: usize) -> RedisCluster {
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
            // A replica may take over however long it was cut off.
            "--cluster-replica-validity-factor",
            "0",
        ];
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|i| RedisServer::start(&dir.join(format!("node{i}")), &args))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("run redis-cli (redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        for n in cluster.nodes.iter().filter(|n| !n.is_primary()) {
            wait_for("a replica in sync with its primary", || {
                n.cli(&["INFO", "replication"])
                    .contains("master_link_status:up")
                    .then_some(())
            });
        }
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        for n in self.nodes.iter().filter(|n| n.child.is_some()) {
            wait_for("cluster_state:ok", || {
                n.cli(&["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
                    .then_some(())
            });
        }
    }

    /// The running primaries, by index.
    pub fn primaries(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_some() && self.nodes[i].is_primary())
            .collect()
    }

    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Keys over every node still running.
    pub fn dbsize(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(RedisServer::dbsize)
            .sum()
    }
}

/// A loopback TCP proxy in front of `upstream`: replies are held back by
/// `delay` (changeable while running) before being passed on.
pub struct SlowProxy {
    pub port: u16,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl SlowProxy {
    pub fn start(upstream: u16) -> SlowProxy {
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

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn set_delay(&self, d: Duration) {
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
