//! The remote tier against real servers (`conformance::servers`): round trips on a
//! single node, a three-master cluster and a shared directory; a killed
//! server, a killed cluster node, a slow server behind a delaying proxy, a
//! full server, corrupted and badly signed values; modes and settings.
//! Every timing bound is a generous multiple of the deadline.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::store::{Key, Store};
use conformance::servers::{RedisCluster, RedisServer, SlowProxy, TestCa};
use conformance::wait_for;

// The engine shares one tier between its blocking threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Remote>();
};

/// Deadline of the tests' lookups: loose enough for a loaded machine to
/// answer a healthy server in time.
const DEADLINE: Duration = Duration::from_millis(500);
/// "Returns within the deadline" on a loaded machine.
const BOUND: Duration = Duration::from_millis(500 * 20);

fn config(target: Target) -> RemoteConfig {
    RemoteConfig {
        target,
        mode: Mode::ReadWrite,
        secret: Some("team secret".into()),
        deadline: DEADLINE,
        ttl: Duration::from_secs(3600),
        max_value: 4096,
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(300),
        queue: 1024,
        tls_ca: None,
    }
}

fn node(url: String) -> Target {
    Target::Node(url)
}

fn counter(r: &Remote, name: &str) -> u64 {
    r.status()[name].as_u64().expect(name)
}

/// Waits until the background writer has dealt with `n` publishes.
fn settled(r: &Remote, n: u64) {
    wait_for("publishes to settle", || {
        let done =
            counter(r, "published") + counter(r, "publish_errors") + counter(r, "publish_dropped");
        (done >= n).then_some(())
    });
}

fn key(n: u32) -> [u8; 32] {
    *blake3::hash(&n.to_le_bytes()).as_bytes()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed))
        .collect()
}

/// A scratch directory per test, removed afterwards.
struct Scratch(PathBuf);

/// A plain client of `server`, for setting up and inspecting.
fn client(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("connect to redis")
}

/// Which node of `cluster` holds `name`: the one that answers GET without
/// MOVED.
fn owner(cluster: &RedisCluster, name: &str) -> usize {
    let owners: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| {
            redis::cmd("GET")
                .arg(name)
                .query::<Option<Vec<u8>>>(&mut client(&cluster.nodes[i]))
                .is_ok()
        })
        .collect();
    assert_eq!(owners.len(), 1, "exactly one node owns {name}");
    owners[0]
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "zccache-remote-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn store(&self, name: &str) -> Store {
        Store::open(&self.0.join(name), 1 << 30).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stores an entry with a large object (several chunks) and a depfile.
fn put_entry(store: &Store, k: &Key, seed: u8) -> Vec<u8> {
    let object = pattern(50_000, seed);
    let mut w = store.begin_entry().unwrap();
    w.add_output_bytes("object", &object).unwrap();
    w.add_output_bytes("depfile", b"a.o: a.c a.h\n").unwrap();
    w.commit(k, 0, b"", b"warning: x\n", b"extra").unwrap();
    object
}

#[track_caller]
fn assert_same_entry(a: &Store, b: &Store, k: &Key) {
    let (ea, eb) = (a.get(k).unwrap().unwrap(), b.get(k).unwrap().unwrap());
    assert_eq!(ea.outputs, eb.outputs);
    assert_eq!(
        (ea.stderr.clone(), ea.extra.clone()),
        (eb.stderr.clone(), eb.extra.clone())
    );
    for i in 0..ea.outputs.len() {
        assert_eq!(
            a.deliver_bytes(&ea, i).unwrap(),
            b.deliver_bytes(&eb, i).unwrap()
        );
    }
}

/// Runs `f` and checks it returned within `BOUND`.
#[track_caller]
fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let v = f();
    let took = start.elapsed();
    assert!(took < BOUND, "{what} took {took:?}, over {BOUND:?}");
    v
}

/// Machine A publishes a manifest and a chunked entry; machine B (another
/// store) fetches both, byte-identical, and they count as hits.
fn round_trip(target: Target, name: &str) {
    let t = Scratch::new(name);
    let (a, b) = (t.store("a"), t.store("b"));
    let ra = Remote::start(config(target.clone())).unwrap();
    let ek = Key(key(1));
    put_entry(&a, &ek, 1);
    ra.publish_manifest(&key(2), b"manifest body".to_vec());
    ra.publish_stored_entry(&a, ek);
    settled(&ra, 2);
    assert_eq!(counter(&ra, "published"), 2);
    // Published again: the entry is already there and is not resent.
    ra.publish_stored_entry(&a, ek);
    ra.publish_manifest(&key(2), b"manifest body".to_vec());
    settled(&ra, 3);
    assert_eq!(
        counter(&ra, "published"),
        3,
        "the manifest is replaced, the entry not sent again"
    );

    let rb = Remote::start(config(target)).unwrap();
    assert_eq!(
        quick("manifest fetch", || rb.fetch_manifest(&key(2))),
        Fetch::Hit(b"manifest body".to_vec())
    );
    assert_eq!(
        quick("entry fetch", || rb.fetch_entry_into(&b, &ek)),
        Fetch::Hit(())
    );
    assert_same_entry(&a, &b, &ek);
    let blob = rb.fetch_entry(&ek.0);
    assert_eq!(blob, Fetch::Hit(a.export_entry(&ek).unwrap().unwrap()));
    assert_eq!(rb.fetch_manifest(&key(3)), Fetch::Miss);
    assert_eq!(rb.fetch_entry_into(&b, &Key(key(4))), Fetch::Miss);
    rb.note_manifest_without_entry();
    // A fetched manifest is written into the store off the caller's path.
    rb.persist_manifest(&b, &key(2), b"manifest body".to_vec());
    wait_for("the fetched manifest kept", || {
        (counter(&rb, "manifests_kept") == 1).then_some(())
    });
    assert_eq!(
        b.get_manifest(&Key(key(2))).unwrap().as_deref(),
        Some(&b"manifest body"[..])
    );
    let s = rb.status();
    for (name, want) in [
        ("manifest_hits", 1),
        ("manifest_misses", 1),
        ("hits", 2),
        ("misses", 1),
        ("manifest_without_entry", 1),
        ("errors", 0),
        ("timeouts", 0),
        ("bad_signatures", 0),
        ("corrupt", 0),
    ] {
        assert_eq!(s[name], want, "{name} in {s:?}");
    }
    assert_eq!(s["signed"], true);
    assert_eq!(s["mode"], "read-write");
}

#[test]
fn single_node_round_trip() {
    let t = Scratch::new("node");
    let server = RedisServer::start(&t.0.join("redis"), &[]);
    round_trip(node(server.url()), "node");
    // The entry went in bounded chunks: nothing over the limit plus a head.
    let mut c = client(&server);
    let names: Vec<String> = redis::cmd("KEYS").arg("zc1:*").query(&mut c).unwrap();
    assert!(names.len() > 3, "chunks and heads: {names:?}");
    for n in names {
        let len: usize = redis::cmd("STRLEN").arg(&n).query(&mut c).unwrap();
        assert!(len <= 4096 + 200, "{n} is {len} bytes");
        let ttl: i64 = redis::cmd("TTL").arg(&n).query(&mut c).unwrap();
        assert!(ttl > 0 && ttl <= 3600, "{n} has TTL {ttl}");
    }
}

/// TLS (`rediss://`) against a real `redis-server --tls-port` with a CA
/// made for the test: with that CA given, values round trip; the server's
/// certificate is always verified, so with the system's roots or another
/// CA every call fails and is counted, and nothing is served.
#[test]
fn tls_round_trip_and_the_certificate_is_verified() {
    let t = Scratch::new("tls");
    let ca = TestCa::new(&t.0.join("certs"), "team");
    let other = TestCa::new(&t.0.join("certs"), "other");
    let server = RedisServer::start_tls(&t.0.join("redis"), &ca);
    let target = || parse_target(&server.tls_url()).unwrap();
    let trusted = Remote::start(RemoteConfig {
        tls_ca: Some(ca.ca.clone()),
        ..config(target())
    })
    .unwrap();
    trusted.publish_manifest(&key(1), b"over tls".to_vec());
    settled(&trusted, 1);
    assert_eq!(counter(&trusted, "published"), 1, "{:?}", trusted.status());
    assert_eq!(
        trusted.fetch_manifest(&key(1)),
        Fetch::Hit(b"over tls".to_vec())
    );
    assert_eq!(server.dbsize(), 1, "the value is in the server");

    for (name, tls_ca) in [
        ("the system's roots", None),
        ("another CA", Some(other.ca.clone())),
    ] {
        let r = Remote::start(RemoteConfig {
            tls_ca,
            ..config(target())
        })
        .unwrap();
        let got = quick("a fetch from an untrusted server", || {
            r.fetch_manifest(&key(1))
        });
        assert_eq!(got, Fetch::Unavailable, "{name}");
        assert_eq!(
            counter(&r, "errors") + counter(&r, "timeouts"),
            1,
            "{name}: {:?}",
            r.status()
        );
        r.publish_manifest(&key(2), b"x".to_vec());
        settled(&r, 1);
        assert_eq!(counter(&r, "published"), 0, "{name}");
    }
    assert_eq!(server.dbsize(), 1, "nothing written without trust");
}

/// The tier connects at start, in the background: the first lookup does
/// not pay for the connection.
#[test]
fn connects_at_start() {
    let t = Scratch::new("connect");
    let server = RedisServer::start(&t.0.join("redis"), &[]);
    let clients = || -> u64 {
        let info = server.cli(&["INFO", "clients"]);
        let line = info.lines().find(|l| l.starts_with("connected_clients:"));
        line.and_then(|l| l[18..].trim().parse().ok())
            .expect("connected_clients")
    };
    // Each `cli` is a connection of its own: one is this probe.
    assert_eq!(clients(), 1);
    let _r = Remote::start(config(node(server.url()))).unwrap();
    wait_for("the tier's connection", || (clients() == 2).then_some(()));
}

#[test]
fn file_tier_round_trip() {
    let t = Scratch::new("file-tier");
    round_trip(Target::Dir(t.0.join("shared")), "file");
}

/// A killed server: every call fails within the bound and is counted, the
/// breaker opens and skips, and after a restart the tier is used again.
#[test]
fn killed_server_opens_the_breaker_and_recovers() {
    let t = Scratch::new("killed");
    let mut server = RedisServer::start(&t.0.join("redis"), &[]);
    let r = Remote::start(config(node(server.url()))).unwrap();
    r.publish_manifest(&key(1), b"m".to_vec());
    settled(&r, 1);
    assert_eq!(r.fetch_manifest(&key(1)), Fetch::Hit(b"m".to_vec()));
    server.kill();
    for i in 0..10 {
        let got = quick("a fetch from a dead server", || r.fetch_manifest(&key(1)));
        assert_eq!(got, Fetch::Unavailable, "call {i}");
    }
    let s = r.status();
    let failures = s["errors"].as_u64().unwrap() + s["timeouts"].as_u64().unwrap();
    assert!(failures >= 3, "{s:?}");
    assert!(s["breaker_skips"].as_u64().unwrap() >= 1, "{s:?}");
    assert_eq!(s["breakers_open"], 1);
    // A publish while it is down is dropped or fails, never blocks.
    quick("publish", || r.publish_manifest(&key(2), b"n".to_vec()));
    settled(&r, 2);

    server.restart();
    wait_for("the tier to be used again", || {
        (r.fetch_manifest(&key(1)) == Fetch::Miss).then_some(())
    });
    let s = r.status();
    assert_eq!(s["breakers_open"], 0);
    assert!(s["breaker_open_ms"].as_u64().unwrap() > 0, "{s:?}");
    r.publish_manifest(&key(1), b"again".to_vec());
    wait_for("a publish after the restart", || {
        (r.fetch_manifest(&key(1)) == Fetch::Hit(b"again".to_vec())).then_some(())
    });
}

/// A slow server (replies held back past the deadline): lookups time out
/// within the bound and are counted; publishes never wait and are dropped
/// when the queue is full; when it is fast again the tier is used again.
#[test]
fn slow_server_times_out() {
    let t = Scratch::new("slow");
    let server = RedisServer::start(&t.0.join("redis"), &[]);
    let proxy = SlowProxy::start(server.port);
    let mut cfg = config(node(proxy.url()));
    cfg.queue = 2;
    let r = Remote::start(cfg).unwrap();
    r.publish_manifest(&key(1), b"m".to_vec());
    settled(&r, 1);
    assert_eq!(r.fetch_manifest(&key(1)), Fetch::Hit(b"m".to_vec()));

    proxy.set_delay(DEADLINE * 4);
    for _ in 0..3 {
        let got = quick("a fetch from a slow server", || r.fetch_manifest(&key(1)));
        assert_eq!(got, Fetch::Unavailable);
    }
    assert!(counter(&r, "timeouts") >= 1, "{:?}", r.status());
    quick("publishes to a slow server", || {
        for i in 10..40 {
            r.publish_manifest(&key(i), b"x".to_vec());
        }
    });
    assert!(counter(&r, "publish_dropped") >= 1, "{:?}", r.status());

    proxy.set_delay(Duration::ZERO);
    wait_for("the server to be fast again", || {
        (r.fetch_manifest(&key(1)) == Fetch::Hit(b"m".to_vec())).then_some(())
    });
}

/// Values damaged in Redis, signed with another secret, or unsigned, are
/// refused and counted; an entry whose envelope is sound but whose outputs
/// do not match their digests is refused by the import.
#[test]
fn corrupt_and_badly_signed_values_are_refused() {
    let t = Scratch::new("corrupt");
    let server = RedisServer::start(&t.0.join("redis"), &[]);
    let (a, b) = (t.store("a"), t.store("b"));
    let signed = Remote::start(config(node(server.url()))).unwrap();
    let mut other = config(node(server.url()));
    other.secret = Some("another secret".into());
    let other = Remote::start(other).unwrap();
    let mut none = config(node(server.url()));
    none.secret = None;
    let unsigned = Remote::start(none).unwrap();

    let ek = Key(key(1));
    put_entry(&a, &ek, 7);
    signed.publish_stored_entry(&a, ek);
    unsigned.publish_manifest(&key(2), b"unsigned".to_vec());
    settled(&signed, 1);
    settled(&unsigned, 1);

    assert_eq!(other.fetch_entry_into(&b, &ek), Fetch::Refused);
    assert_eq!(counter(&other, "bad_signatures"), 1);
    assert_eq!(signed.fetch_manifest(&key(2)), Fetch::Refused);
    assert_eq!(counter(&signed, "bad_signatures"), 1);
    assert_eq!(
        unsigned.fetch_manifest(&key(2)),
        Fetch::Hit(b"unsigned".to_vec()),
        "without a secret, unsigned values are read"
    );

    // Flip one byte of one chunk in Redis.
    let mut c = client(&server);
    let chunk = envelope::chunk_name(
        &ek.0,
        blake3::hash(&a.export_entry(&ek).unwrap().unwrap()).as_bytes(),
        3,
    );
    let mut v: Vec<u8> = redis::cmd("GET").arg(&chunk).query(&mut c).unwrap();
    v[100] ^= 1;
    let () = redis::cmd("SET").arg(&chunk).arg(&v).query(&mut c).unwrap();
    assert_eq!(signed.fetch_entry_into(&b, &ek), Fetch::Refused);
    assert_eq!(counter(&signed, "corrupt"), 1);
    assert!(b.get(&ek).unwrap().is_none());
    // A chunk evicted or expired before its head: a miss, not damage.
    let () = redis::cmd("DEL").arg(&chunk).query(&mut c).unwrap();
    assert_eq!(signed.fetch_entry_into(&b, &ek), Fetch::Miss);
    assert_eq!(counter(&signed, "missing_chunks"), 1);
    assert_eq!(counter(&signed, "corrupt"), 1);

    // A sound envelope (unsigned) around an export whose object is not the
    // one its record names.
    let mut blob = a.export_entry(&ek).unwrap().unwrap();
    let at = blob.len() - 100;
    blob[at] ^= 1;
    let fk = Key(key(5));
    unsigned.publish_entry(&fk.0, blob);
    settled(&unsigned, 2);
    assert_eq!(unsigned.fetch_entry_into(&b, &fk), Fetch::Refused);
    assert_eq!(counter(&unsigned, "corrupt"), 1);
    assert!(
        b.get(&fk).unwrap().is_none(),
        "nothing unverified is visible"
    );
}

/// A full Redis (`noeviction`): publishes fail and are counted, lookups
/// still work and the breaker stays closed.
#[test]
fn full_server_counts_publish_errors() {
    let t = Scratch::new("full");
    let server = RedisServer::start(
        &t.0.join("redis"),
        &["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"],
    );
    let mut cfg = config(node(server.url()));
    cfg.max_value = 64 << 10;
    let r = Remote::start(cfg).unwrap();
    for i in 0..20 {
        r.publish_entry(&key(i), pattern(400_000, i as u8));
    }
    settled(&r, 20);
    assert!(counter(&r, "publish_errors") >= 1, "{:?}", r.status());
    let mut served = 0;
    for i in 0..20 {
        match quick("fetch from a full server", || r.fetch_entry(&key(i))) {
            Fetch::Hit(v) => {
                assert_eq!(v, pattern(400_000, i as u8));
                served += 1;
            }
            // A refused write leaves no head: a plain miss.
            Fetch::Miss => {}
            other => panic!("entry {i}: {other:?} {:?}", r.status()),
        }
    }
    assert_eq!(counter(&r, "breakers_open"), 0);
    assert_eq!(counter(&r, "errors"), 0);
    assert!(served < 20);
}

/// A three-master cluster: values spread over the nodes round trip; with a
/// node killed, keys on the survivors are still served and the others fail
/// within the bound.
#[test]
fn cluster_round_trip_and_a_killed_node() {
    let t = Scratch::new("cluster");
    let mut cluster = RedisCluster::start(&t.0.join("redis"));
    round_trip(parse_target(&cluster.url()).unwrap(), "cluster");

    let r = Remote::start(config(parse_target(&cluster.url()).unwrap())).unwrap();
    let n = 40;
    for i in 100..100 + n {
        r.publish_manifest(&key(i), i.to_le_bytes().to_vec());
    }
    settled(&r, u64::from(n));
    assert_eq!(counter(&r, "published"), u64::from(n));
    let owners: Vec<usize> = (100..100 + n)
        .map(|i| owner(&cluster, &envelope::head_name(ItemKind::Manifest, &key(i))))
        .collect();
    assert!(
        (0..3).all(|node| owners.contains(&node)),
        "spread: {owners:?}"
    );

    let dead = 1;
    cluster.nodes[dead].kill();
    let bucket = |i: u32| {
        breaker::slot(&envelope::head_name(ItemKind::Manifest, &key(i))) as usize
            * breaker::CLUSTER_BUCKETS
            / 16384
    };
    let dead_buckets: Vec<usize> = (100..100 + n)
        .zip(&owners)
        .filter(|(_, &o)| o == dead)
        .map(|(i, _)| bucket(i))
        .collect();
    let mut survivors_served = 0;
    for round in 0..3 {
        for (i, &owner) in (100..100 + n).zip(&owners) {
            let got = quick("a fetch from the cluster", || r.fetch_manifest(&key(i)));
            if owner == dead {
                assert_eq!(got, Fetch::Unavailable, "round {round} key {i}");
            } else if !dead_buckets.contains(&bucket(i)) {
                assert_eq!(
                    got,
                    Fetch::Hit(i.to_le_bytes().to_vec()),
                    "round {round} key {i}"
                );
                survivors_served += 1;
            }
        }
    }
    assert!(survivors_served > 0);
    assert!(counter(&r, "breakers_open") >= 1, "{:?}", r.status());
}

/// Read-only never writes; write-only never reads.
#[test]
fn modes() {
    let t = Scratch::new("modes");
    let server = RedisServer::start(&t.0.join("redis"), &[]);
    let mut ro = config(node(server.url()));
    ro.mode = Mode::ReadOnly;
    let ro = Remote::start(ro).unwrap();
    ro.publish_manifest(&key(1), b"m".to_vec());
    ro.publish_entry(&key(2), b"e".to_vec());
    assert_eq!(counter(&ro, "publish_dropped"), 0, "not even queued");
    let mut wo = config(node(server.url()));
    wo.mode = Mode::WriteOnly;
    let wo = Remote::start(wo).unwrap();
    wo.publish_manifest(&key(3), b"w".to_vec());
    settled(&wo, 1);
    assert_eq!(wo.fetch_manifest(&key(3)), Fetch::Off);
    assert_eq!(ro.fetch_manifest(&key(3)), Fetch::Hit(b"w".to_vec()));
    assert_eq!(server.dbsize(), 1, "only the write-only tier wrote");
    assert_eq!(wo.status()["mode"], "write-only");
}

/// The file tier: refused without a key; unsigned or foreign values and
/// symlinks planted in the directory are not served.
#[test]
fn file_tier_trusts_only_signatures() {
    let t = Scratch::new("file-trust");
    let dir = t.0.join("shared");
    let settings = |remote: &str, key: Option<&str>| {
        let mut vars = vec![("ZCCACHE_REMOTE".to_owned(), remote.to_owned())];
        if let Some(k) = key {
            vars.push(("ZCCACHE_REMOTE_KEY".into(), k.into()));
        }
        Settings::resolve(
            &move |name: &str| {
                vars.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| OsString::from(v))
            },
            &[],
        )
    };
    let url = format!("file://{}", dir.display());
    assert_eq!(
        RemoteConfig::from_settings(&settings(&url, None)).err(),
        Some(ConfigError::FileNeedsKey)
    );
    let cfg = RemoteConfig::from_settings(&settings(&url, Some("k1")))
        .unwrap()
        .unwrap();
    assert_eq!(cfg.target, Target::Dir(dir.clone()));
    assert_eq!(cfg.deadline, Duration::from_millis(100), "the default");
    let r = Remote::start(cfg).unwrap();
    r.publish_manifest(&key(1), b"signed".to_vec());
    settled(&r, 1);
    assert_eq!(r.fetch_manifest(&key(1)), Fetch::Hit(b"signed".to_vec()));

    // Another user plants an unsigned value and a symlink.
    let mut cfg = config(Target::Dir(dir.clone()));
    cfg.secret = None;
    let intruder = Remote::start(cfg).unwrap();
    intruder.publish_manifest(&key(2), b"planted".to_vec());
    settled(&intruder, 1);
    assert_eq!(r.fetch_manifest(&key(2)), Fetch::Refused);
    assert_eq!(counter(&r, "bad_signatures"), 1);
    let target = file_of(&dir, &key(1));
    let link = file_of(&dir, &key(3));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(
        r.fetch_manifest(&key(3)),
        Fetch::Miss,
        "a symlink is not followed"
    );
}

fn file_of(dir: &Path, k: &[u8; 32]) -> PathBuf {
    let name = envelope::head_name(ItemKind::Manifest, k)
        .replace(['{', '}'], "")
        .replace(':', ".");
    dir.join(&name[4..6]).join(name)
}

#[test]
fn settings_and_urls() {
    assert_eq!(
        parse_target("redis+cluster://:pw@a:1,b:2").unwrap(),
        Target::Cluster(vec!["redis://:pw@a:1".into(), "redis://:pw@b:2".into()])
    );
    assert_eq!(
        parse_target("redis://h:6379/2").unwrap(),
        Target::Node("redis://h:6379/2".into())
    );
    for bad in ["http://x", "file://relative", "redis+cluster://a:1,,b:2"] {
        assert!(parse_target(bad).is_err(), "{bad}");
    }
    // TLS: a node and a cluster; never without verification.
    assert_eq!(
        parse_target("rediss+cluster://a:1,b:2").unwrap(),
        Target::Cluster(vec!["rediss://a:1".into(), "rediss://b:2".into()])
    );
    assert!(parse_target("rediss://h:1/0").unwrap().tls());
    assert!(!parse_target("redis://h:1/0").unwrap().tls());
    for insecure in [
        "rediss://h:1/0#insecure",
        "rediss+cluster://a:1,b:2#insecure",
    ] {
        assert_eq!(
            parse_target(insecure).unwrap_err(),
            ConfigError::InsecureTls,
            "{insecure}"
        );
    }
    let e = parse_target("memcache://user:hunter2@h")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2"), "{e}");
    assert_eq!(redact("redis://u:pw@h:1/0"), "redis://(credentials)@h:1/0");

    let with = |vars: &'static [(&'static str, &'static str)]| {
        Settings::resolve(
            &|name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            },
            &[],
        )
    };
    assert!(RemoteConfig::from_settings(&with(&[])).unwrap().is_none());
    let tls = RemoteConfig::from_settings(&with(&[
        ("ZCCACHE_REMOTE", "rediss://127.0.0.1:1/0"),
        ("ZCCACHE_REMOTE_TLS_CA", "/etc/team-ca.pem"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(tls.tls_ca, Some(PathBuf::from("/etc/team-ca.pem")));
    assert_eq!(
        RemoteConfig::from_settings(&with(&[
            ("ZCCACHE_REMOTE", "redis://127.0.0.1:1/0"),
            ("ZCCACHE_REMOTE_TLS_CA", "/etc/team-ca.pem"),
        ]))
        .err(),
        Some(ConfigError::CaWithoutTls)
    );
    let missing = Remote::start(RemoteConfig {
        tls_ca: Some(PathBuf::from("/nonexistent/ca.pem")),
        ..config(node("rediss://127.0.0.1:1/0".into()))
    });
    assert!(
        matches!(missing, Err(ConfigError::TlsCa(..))),
        "an unreadable CA file is a configuration error"
    );
    let c = RemoteConfig::from_settings(&with(&[
        ("ZCCACHE_REMOTE", "redis://127.0.0.1:1/0"),
        ("ZCCACHE_REMOTE_MODE", "read-only"),
        ("ZCCACHE_REMOTE_TIMEOUT_MS", "250"),
        ("ZCCACHE_REMOTE_MAX_VALUE", "10"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(c.mode, Mode::ReadOnly);
    for (spelling, mode) in [
        ("read-write", Mode::ReadWrite),
        ("rw", Mode::ReadWrite),
        ("ro", Mode::ReadOnly),
        ("write-only", Mode::WriteOnly),
        ("refresh", Mode::WriteOnly),
    ] {
        let mut s = Settings::defaults();
        s.set_from_request("remote", "redis://h/0").unwrap();
        s.set_from_request("remote_mode", spelling).unwrap();
        let got = RemoteConfig::from_settings(&s).unwrap().unwrap().mode;
        assert_eq!(got, mode, "{spelling}");
    }
    assert_eq!(c.deadline, Duration::from_millis(250));
    assert_eq!(c.max_value, MIN_VALUE, "clamped");
    assert_eq!(c.ttl, Duration::from_secs(21 * 24 * 3600));
    assert!(c.secret.is_none());
    assert_eq!(
        RemoteConfig::from_settings(&with(&[
            ("ZCCACHE_REMOTE", "redis://h/0"),
            ("ZCCACHE_REMOTE_MODE", "sometimes"),
        ]))
        .err(),
        Some(ConfigError::BadMode("sometimes".into()))
    );
    // A server that is down at start is not an error: the tier starts and
    // its lookups fail fast.
    let r = Remote::start(c).unwrap();
    assert_eq!(
        quick("a fetch from nowhere", || r.fetch_manifest(&key(1))),
        Fetch::Unavailable
    );
}
