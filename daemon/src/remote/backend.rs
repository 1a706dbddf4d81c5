//! Where remote values live: one Redis node, a Redis Cluster, or a shared
//! directory (`dir`), behind four operations (get, get many, exists, put with a
//! TTL). Each failure is classified (transport, server refusal) so the
//! caller can feed its breaker; deadlines are the caller's. Does not encode,
//! sign or count anything.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, RedisError};

use super::breaker::{self, CLUSTER_BUCKETS};
use super::dir::Dir;

/// Why an operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The deadline passed.
    Timeout,
    /// Could not reach the server, or the connection broke.
    Transport,
    /// The server answered with an error (out of memory, read-only replica, …).
    Refused,
}

impl From<RedisError> for Failure {
    fn from(e: RedisError) -> Failure {
        if e.is_timeout() {
            Failure::Timeout
        } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            Failure::Transport
        } else {
            // The server answered, with an error (also a pipeline's errors).
            Failure::Refused
        }
    }
}

pub(super) enum Backend {
    Node(Node),
    Cluster(Cluster),
    Dir(Dir),
}

/// A connection made on first use, and made afresh after it broke.
struct Lazy<C> {
    conn: tokio::sync::Mutex<Option<C>>,
    /// Connections given up as broken (the next operation connects afresh).
    reconnects: AtomicU64,
}

impl<C: Clone> Lazy<C> {
    fn new() -> Lazy<C> {
        Lazy {
            conn: tokio::sync::Mutex::new(None),
            reconnects: AtomicU64::new(0),
        }
    }

    async fn get<F: Future<Output = Result<C, RedisError>>>(
        &self,
        connect: impl FnOnce() -> F,
    ) -> Result<C, Failure> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let c = connect().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// After a failure that says nothing came back from the server (it is
    /// gone, or a cluster node is): the next operation connects afresh,
    /// which for a cluster means a new slot map, so a replica promoted in
    /// the meantime is found.
    async fn broke(&self, failure: Failure) {
        if failure != Failure::Refused && self.conn.lock().await.take().is_some() {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One Redis server; the connection is made on first use and again after
/// it broke, so the daemon starts whether or not Redis is up.
pub(super) struct Node {
    client: redis::Client,
    config: AsyncConnectionConfig,
    conn: Lazy<MultiplexedConnection>,
}

/// A Redis Cluster: the client follows slot moves (`MOVED`) itself; after
/// a node stopped answering the connection is made again, with the slot
/// map as it is then (a failover).
pub(super) struct Cluster {
    client: redis::cluster::ClusterClient,
    conn: Lazy<ClusterConnection>,
}

impl Backend {
    /// One server at `url`; over TLS (`rediss://`) its certificate must
    /// chain to `ca` (PEM) or, without one, to the system's roots.
    pub(super) fn node(
        url: &str,
        deadline: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<Backend, RedisError> {
        let client = match ca {
            Some(pem) => redis::Client::build_with_tls(url, certificates(pem))?,
            None => redis::Client::open(url)?,
        };
        Ok(Backend::Node(Node {
            client,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(deadline))
                .set_response_timeout(Some(deadline)),
            conn: Lazy::new(),
        }))
    }

    /// A cluster seeded by `nodes`; TLS as for [`Backend::node`].
    pub(super) fn cluster(
        nodes: &[String],
        deadline: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<Backend, RedisError> {
        let mut builder = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(deadline)
            .response_timeout(deadline)
            .retries(0);
        if let Some(pem) = ca {
            builder = builder.certs(certificates(pem));
        }
        let client = builder.build()?;
        Ok(Backend::Cluster(Cluster {
            client,
            conn: Lazy::new(),
        }))
    }

    pub(super) fn dir(root: PathBuf, ttl: Duration) -> Backend {
        Backend::Dir(Dir::new(root, ttl))
    }

    /// How many breaker buckets this backend's names spread over.
    pub(super) fn buckets(&self) -> usize {
        match self {
            Backend::Cluster(_) => CLUSTER_BUCKETS,
            _ => 1,
        }
    }

    /// The breaker bucket of the value `name`.
    pub(super) fn bucket(&self, name: &str) -> usize {
        match self {
            Backend::Cluster(_) => usize::from(breaker::slot(name)) * CLUSTER_BUCKETS / 16384,
            _ => 0,
        }
    }

    /// The backend's kind, for the status object.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Backend::Node(_) => "redis",
            Backend::Cluster(_) => "redis-cluster",
            Backend::Dir(_) => "file",
        }
    }

    pub(super) async fn get(&self, name: String) -> Result<Option<Vec<u8>>, Failure> {
        match self {
            Backend::Dir(d) => d.blocking(move |d| d.get(&name)).await,
            _ => {
                let mut cmd = redis::cmd("GET");
                cmd.arg(&name);
                self.query(Query::Cmd(cmd)).await
            }
        }
    }

    /// Values of `names`, in order; all of one item share a hash slot, so a
    /// cluster serves them from one node.
    pub(super) async fn get_many(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, Failure> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Backend::Dir(d) => {
                d.blocking(move |d| names.iter().map(|n| d.get(n)).collect())
                    .await
            }
            _ => {
                let mut cmd = redis::cmd("MGET");
                cmd.arg(&names);
                self.query(Query::Cmd(cmd)).await
            }
        }
    }

    pub(super) async fn exists(&self, name: String) -> Result<bool, Failure> {
        match self {
            Backend::Dir(d) => d.blocking(move |d| Ok(d.get(&name)?.is_some())).await,
            _ => {
                let mut cmd = redis::cmd("EXISTS");
                cmd.arg(&name);
                self.query(Query::Cmd(cmd)).await
            }
        }
    }

    /// Writes `values` in order, each with `ttl`.
    pub(super) async fn put(
        &self,
        values: Vec<(String, Vec<u8>)>,
        ttl: Duration,
    ) -> Result<(), Failure> {
        match self {
            Backend::Dir(d) => {
                d.blocking(move |d| values.iter().try_for_each(|(n, v)| d.put(n, v)))
                    .await
            }
            _ => {
                let mut pipe = redis::pipe();
                let ms = ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64;
                for (name, value) in &values {
                    pipe.cmd("SET")
                        .arg(name)
                        .arg(value)
                        .arg("PX")
                        .arg(ms)
                        .ignore();
                }
                self.query(Query::Pipe(pipe)).await
            }
        }
    }

    /// Connections given up as broken, to be made afresh (a server
    /// restarted, a cluster node failed over), for the status object.
    pub(super) fn reconnects(&self) -> u64 {
        match self {
            Backend::Node(n) => n.conn.reconnects.load(Ordering::Relaxed),
            Backend::Cluster(c) => c.conn.reconnects.load(Ordering::Relaxed),
            Backend::Dir(_) => 0,
        }
    }

    /// Makes the connection now if there is none (the directory has
    /// none); the outcome is left to the next operation to find.
    pub(super) async fn connect(&self) {
        match self {
            Backend::Node(n) => drop(n.connection().await),
            Backend::Cluster(c) => drop(c.connection().await),
            Backend::Dir(_) => {}
        }
    }

    async fn query<T: FromRedisValue>(&self, q: Query) -> Result<T, Failure> {
        match self {
            Backend::Node(n) => {
                let mut conn = n.connection().await?;
                let result = q.send(&mut conn).await.map_err(Failure::from);
                if let Err(f) = result {
                    n.conn.broke(f).await;
                }
                result
            }
            Backend::Cluster(c) => {
                let mut conn = c.connection().await?;
                let result = q.send(&mut conn).await.map_err(Failure::from);
                if let Err(f) = result {
                    c.conn.broke(f).await;
                }
                result
            }
            Backend::Dir(_) => unreachable!("the directory backend has no queries"),
        }
    }
}

/// Server verification against the CAs in `pem`; no client certificate.
fn certificates(pem: Vec<u8>) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }
}

enum Query {
    Cmd(redis::Cmd),
    Pipe(redis::Pipeline),
}

impl Query {
    async fn send<T: FromRedisValue>(
        &self,
        conn: &mut (impl ConnectionLike + Send),
    ) -> redis::RedisResult<T> {
        match self {
            Query::Cmd(c) => c.query_async(conn).await,
            Query::Pipe(p) => p.query_async(conn).await,
        }
    }
}

impl Node {
    async fn connection(&self) -> Result<MultiplexedConnection, Failure> {
        self.conn
            .get(|| {
                self.client
                    .get_multiplexed_async_connection_with_config(&self.config)
            })
            .await
    }
}

impl Cluster {
    async fn connection(&self) -> Result<ClusterConnection, Failure> {
        self.conn.get(|| self.client.get_async_connection()).await
    }
}
