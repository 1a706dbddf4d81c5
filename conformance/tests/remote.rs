//! The remote tier (issue 14) black-box: real `redis-server`s on loopback
//! (one node, a three-master cluster, a proxy that delays replies) behind
//! the real binaries, with real gcc and cargo builds. A "machine" is a
//! sandbox (its own cache root, runtime dir, broker and daemon) with its
//! own checkout of one small project at its own path, built with
//! `ZCCACHE_PATH_REMAP=auto`: C units through `zccache gcc` (`-g -O1 -MD`,
//! an absolute `-I<root>/include`, one absolute source path, `__FILE__`),
//! and a two-crate cargo workspace with `RUSTC_WRAPPER=zccache`.
//!
//! Every build must succeed whatever the remote does, and every object must
//! equal bare gcc's with the mapping the cache injects
//! (`-ffile-prefix-map=<root>=.`); the remote's counters in
//! `status --json` must say what happened. Polls, never fixed sleeps.
//!
//! It does not test the `file://` tier or the chunking (the daemon's unit
//! tests do), nor speed (`bench/remote.sh`).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::rust::{cargo_exe, scrubbed};
use conformance::servers::{RedisCluster, RedisServer, SlowProxy};
use conformance::{ok, wait_for, zccache_bin, Sandbox};

/// C units every checkout holds at first.
const UNITS: usize = 16;

/// The crates of the cargo workspace, each one cacheable rustc run.
const CRATES: [(&str, &str); 2] = [
    (
        "wcore",
        "pub const WHERE: &str = file!();\npub fn scale(x: u32) -> u32 {\n    x * 3\n}\n",
    ),
    (
        "wapp",
        "pub fn run(x: u32) -> u32 {\n    wcore::scale(x) + wcore::WHERE.len() as u32\n}\n",
    ),
];

fn c_source(i: usize) -> String {
    format!(
        "#include <p/config.h>\n#include \"local.h\"\n\
         const char *u{i}_file(void) {{ return __FILE__; }}\n\
         int u{i}(int x) {{ return local_twice(x) * P_SCALE + {i}; }}\n"
    )
}

/// The remote tests start servers and build on two cores: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// One machine: a sandbox, a checkout of the project at `root`, and the
/// remote settings its daemon starts with.
struct Machine {
    sb: Sandbox,
    /// The checkout, relative to the sandbox's work dir.
    checkout: String,
    root: PathBuf,
    env: Vec<(String, String)>,
}

impl Machine {
    /// A machine with a checkout at `checkout` using the tier at `url`,
    /// with `env` on top (mode, key, deadline).
    fn new(name: &str, checkout: &str, url: &str, env: &[(&str, &str)]) -> Machine {
        let sb = Sandbox::new(name);
        let root = sb.work.join(checkout);
        let mut all = vec![
            ("ZCCACHE_REMOTE".to_owned(), url.to_owned()),
            ("ZCCACHE_PATH_REMAP".to_owned(), "auto".to_owned()),
            (
                "ZCCACHE_WORKTREE_ROOT".to_owned(),
                root.display().to_string(),
            ),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let m = Machine {
            sb,
            checkout: checkout.to_owned(),
            root,
            env: all,
        };
        m.write("include/p/config.h", "#define P_SCALE 3\n");
        m.write(
            "src/local.h",
            "static inline int local_twice(int x) { return 2 * x; }\n",
        );
        for i in 0..UNITS {
            m.write(&format!("src/u{i}.c"), &c_source(i));
        }
        std::fs::create_dir_all(m.root.join("out")).unwrap();
        m.write(
            "rs/Cargo.toml",
            "[workspace]\nmembers = [\"wcore\", \"wapp\"]\nresolver = \"2\"\n",
        );
        for (name, lib) in CRATES {
            let dep = if name == "wapp" {
                "wcore = { path = \"../wcore\" }\n"
            } else {
                ""
            };
            m.write(
                &format!("rs/{name}/Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                     [dependencies]\n{dep}"
                ),
            );
            m.write(&format!("rs/{name}/src/lib.rs"), lib);
        }
        m
    }

    fn write(&self, rel: &str, body: &str) {
        self.sb.write(&format!("{}/{rel}", self.checkout), body);
    }

    /// A command with this machine's settings.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = self.sb.cmd(program);
        c.current_dir(&self.root);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// gcc's argv for unit `i` (after `gcc`); unit 0 names its source by
    /// its absolute path, as CMake does.
    fn c_args(&self, i: usize) -> Vec<String> {
        let src = if i == 0 {
            format!("{}/src/u0.c", self.root.display())
        } else {
            format!("src/u{i}.c")
        };
        vec![
            format!("-I{}/include", self.root.display()),
            "-g".into(),
            "-O1".into(),
            "-MD".into(),
            "-c".into(),
            src,
            "-o".into(),
            format!("out/u{i}.o"),
        ]
    }

    /// Compiles C units `units` through zccache (writing any source not
    /// there yet); each must succeed.
    fn build_c(&self, units: Range<usize>) {
        for i in units {
            if !self.root.join(format!("src/u{i}.c")).exists() {
                self.write(&format!("src/u{i}.c"), &c_source(i));
            }
            let out = self
                .cmd(zccache_bin())
                .arg("gcc")
                .args(self.c_args(i))
                .output()
                .expect("run zccache gcc");
            ok(&out);
        }
    }

    /// `cargo build` of the workspace through zccache, or through
    /// `wrapper` when given.
    fn cargo(&self, wrapper: Option<&Path>) -> Output {
        let rs = self.root.join("rs");
        let mut c = scrubbed(self.cmd(cargo_exe()));
        c.args(["build", "--offline"])
            .current_dir(&rs)
            .env("CARGO_TARGET_DIR", rs.join("target"))
            .env("CARGO_INCREMENTAL", "0")
            .env("CARGO_TERM_COLOR", "never")
            .env(
                "RUSTC_WRAPPER",
                wrapper.map_or(zccache_bin(), Path::to_path_buf),
            );
        let out = c.output().expect("run cargo build");
        ok(&out);
        out
    }

    fn status(&self) -> Value {
        self.sb.status()
    }

    /// The remote tier's counter `name`.
    fn remote(&self, name: &str) -> u64 {
        let s = self.status();
        assert!(
            s["remote"].is_object(),
            "no remote in the status: is the tier configured? {s}"
        );
        s["remote"][name].as_u64().unwrap_or(0)
    }

    /// Waits until every Store so far has had its entry and manifest
    /// publication tried (sent, refused or dropped); the remote counters
    /// then.
    fn publications_settled(&self) -> Value {
        wait_for("the background publications to finish", || {
            let s = self.status();
            let r = &s["remote"];
            let n = |k: &str| r[k].as_u64().unwrap_or(0);
            let tried = n("published") + n("publish_errors") + n("publish_dropped");
            (tried >= 2 * s["stored"].as_u64().unwrap_or(0)).then(|| r.clone())
        })
    }

    /// C units of `units` whose object differs from bare gcc's with the
    /// same argv plus the mapping remap-on compiles get.
    fn c_differs_from_bare(&self, units: Range<usize>) -> Vec<String> {
        let mut differ = Vec::new();
        for i in units {
            let obj = self.root.join(format!("out/u{i}.o"));
            let cached = std::fs::read(&obj).unwrap();
            std::fs::remove_file(&obj).unwrap();
            let bare = self
                .sb
                .cmd("gcc")
                .current_dir(&self.root)
                .args(self.c_args(i))
                .arg(format!("-ffile-prefix-map={}=.", self.root.display()))
                .output()
                .expect("run gcc");
            ok(&bare);
            if std::fs::read(&obj).unwrap() != cached {
                differ.push(format!("out/u{i}.o"));
            }
        }
        differ
    }

    /// The workspace built again without zccache (a wrapper that adds the
    /// remap the cache injects) into the same target path; rlibs and
    /// rmetas that differ from the cached build's, or exist in one only.
    fn rust_differs_from_bare(&self) -> Vec<String> {
        let target = self.root.join("rs/target");
        let cached = self.root.join("rs/target.cached");
        std::fs::rename(&target, &cached).unwrap();
        let wrapper = self.sb.root.join("bare-wrapper");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec \"$@\" '--remap-path-prefix={}=.'\n",
                self.root.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.cargo(Some(&wrapper));
        let listing = |t: &Path| -> Vec<(String, Vec<u8>)> {
            let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(t.join("debug/deps"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "rlib" || x == "rmeta"))
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read(&p).unwrap())
                })
                .collect();
            v.sort();
            v
        };
        let (want, got) = (listing(&target), listing(&cached));
        assert_eq!(
            want.len(),
            2 * CRATES.len(),
            "the no-cache build's rlibs and rmetas"
        );
        let mut differ: Vec<String> = want
            .iter()
            .filter(|w| !got.contains(w))
            .map(|(n, _)| n.clone())
            .collect();
        differ.extend(
            got.iter()
                .filter(|g| !want.iter().any(|w| w.0 == g.0))
                .map(|(n, _)| format!("{n} (only in the cached build)")),
        );
        std::fs::remove_dir_all(&target).unwrap();
        std::fs::rename(&cached, &target).unwrap();
        differ
    }
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

/// Where a test's servers keep their files.
fn server_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/zcc-redis-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A generous lookup deadline for tests that want every answer in time on
/// a loaded machine (the default is 100 ms).
const PATIENT: (&str, &str) = ("ZCCACHE_REMOTE_TIMEOUT_MS", "10000");

/// Issue 14 (6): machine A builds, machine B (another cache root, another
/// checkout path, remap on) builds the same and is served every unit from
/// the remote, byte-identical to a no-cache build in B; B is read-only and
/// writes nothing, not even for a miss it stores locally.
#[test]
fn remote_machine_b_is_served_all_of_a_and_read_only_b_writes_nothing() {
    let _one = serial();
    let redis = RedisServer::start(&server_dir("ab"), &[]);
    let secret = ("ZCCACHE_REMOTE_KEY", "team secret");
    let a = Machine::new("rmt-a", "src-a/proj", &redis.url(), &[secret, PATIENT]);
    a.build_c(0..UNITS);
    a.cargo(None);
    let sa = a.status();
    let units = UNITS as u64 + CRATES.len() as u64;
    assert_eq!(
        (n(&sa, "misses"), n(&sa, "stored")),
        (units, units),
        "A compiles and stores every unit: {sa}"
    );
    let ra = a.publications_settled();
    assert_eq!(
        n(&ra, "published"),
        2 * units,
        "A publishes an entry and a manifest per unit: {ra}"
    );
    let keys = redis.dbsize();
    assert!(keys >= 2 * units, "Redis holds {keys} keys after A");

    let b = Machine::new(
        "rmt-b",
        "checkouts/feature-b/proj",
        &redis.url(),
        &[secret, PATIENT, ("ZCCACHE_REMOTE_MODE", "read-only")],
    );
    b.build_c(0..UNITS);
    b.cargo(None);
    let sb = b.status();
    let rb = &sb["remote"];
    eprintln!("A's remote counters: {ra}\nB's remote counters: {rb}");
    assert_eq!(
        (n(&sb, "hits"), n(&sb, "misses"), n(&sb, "rust_hits")),
        (units, 0, CRATES.len() as u64),
        "B: every unit a hit: {sb}"
    );
    assert_eq!(
        (n(rb, "hits"), n(rb, "manifest_hits"), n(rb, "misses")),
        (units, units, 0),
        "B: every hit from the remote: {rb}"
    );
    for k in ["errors", "timeouts", "bad_signatures", "corrupt"] {
        assert_eq!(n(rb, k), 0, "B: remote {k}: {rb}");
    }
    assert_eq!(rb["mode"], "read-only");
    let differ = b.c_differs_from_bare(0..UNITS);
    assert!(differ.is_empty(), "B's objects vs bare gcc: {differ:?}");
    let differ = b.rust_differs_from_bare();
    assert!(
        differ.is_empty(),
        "B's rlibs vs a no-cache build: {differ:?}"
    );

    // A unit only B has: a miss B stores locally and never publishes.
    let stored = n(&b.status(), "stored");
    b.build_c(UNITS..UNITS + 1);
    assert_eq!(n(&b.status(), "stored"), stored + 1, "B stores its miss");
    assert_eq!(redis.dbsize(), keys, "read-only B wrote to Redis");
    assert_eq!(b.remote("published") + b.remote("publish_errors"), 0);

    // The summary line names the tier and its counters, never the secret.
    let stats = b.sb.zccache(["stats"]);
    let text = String::from_utf8_lossy(&ok(&stats).stdout).into_owned();
    assert!(
        text.contains(&format!("{} (read-only): {units} hits", redis.url())),
        "{text}"
    );
    let config = b.cmd(zccache_bin()).arg("config").output().unwrap();
    let text = String::from_utf8_lossy(&ok(&config).stdout).into_owned();
    assert!(!text.contains("team secret"), "{text}");
    assert!(text.contains("(set)"), "{text}");
}

/// Issue 14: what B was served from the remote stays B's: after B's
/// daemon restarts with Redis gone, every unit is still a hit, from B's
/// own store (the fetched manifests are kept on disk, written off the
/// lookup's path, and the entries were imported).
#[test]
fn remote_served_units_stay_local_hits_after_a_restart_with_redis_gone() {
    let _one = serial();
    let mut redis = RedisServer::start(&server_dir("keep"), &[]);
    let a = Machine::new("rmt-keep-a", "src-a/proj", &redis.url(), &[PATIENT]);
    a.build_c(0..4);
    a.publications_settled();
    let b = Machine::new("rmt-keep-b", "checkouts/b/proj", &redis.url(), &[PATIENT]);
    b.build_c(0..4);
    let rb = b.status()["remote"].clone();
    assert_eq!((n(&rb, "hits"), n(&rb, "manifest_hits")), (4, 4), "{rb}");
    wait_for("B's fetched manifests kept", || {
        (b.remote("manifests_kept") == 4).then_some(())
    });
    let before = b.status();
    ok(&b.cmd(zccache_bin()).arg("stop").output().unwrap());
    redis.kill();
    b.build_c(0..4);
    let after = b.status();
    assert_eq!(
        (
            n(&after, "hits") - n(&before, "hits"),
            n(&after, "misses") - n(&before, "misses")
        ),
        (4, 0),
        "B after the restart: {after}"
    );
    assert_eq!(n(&after["remote"], "hits"), 0, "{after}");
    let differ = b.c_differs_from_bare(0..4);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
}

/// Issue 14 (6): Redis killed in the middle of a build and restarted:
/// every compile succeeds, the failures are counted, and publishing
/// resumes once the server is back.
#[test]
fn remote_redis_killed_mid_build_and_restarted_never_fails_a_compile() {
    let _one = serial();
    let mut redis = RedisServer::start(&server_dir("kill"), &[]);
    let a = Machine::new(
        "rmt-kill",
        "proj",
        &redis.url(),
        &[("ZCCACHE_REMOTE_TIMEOUT_MS", "2000")],
    );
    a.build_c(0..4);
    let before = a.publications_settled();
    assert_eq!(n(&before, "published"), 8, "{before}");

    redis.kill();
    a.build_c(4..UNITS);
    let down = a.publications_settled();
    eprintln!("remote counters with Redis down: {down}");
    let failures = ["errors", "timeouts", "breaker_skips", "publish_errors"]
        .iter()
        .map(|k| n(&down, k))
        .sum::<u64>()
        + n(&down, "publish_dropped");
    assert!(failures > 0, "nothing counted while Redis was down: {down}");
    assert_eq!(n(&down, "published"), 8, "{down}");

    redis.restart();
    // Fresh units until one is published: the breaker lets a probe through
    // after its cooldown and the client reconnects.
    let mut next = UNITS;
    wait_for("publications to reach the restarted Redis", || {
        a.build_c(next..next + 1);
        next += 1;
        a.publications_settled();
        (redis.dbsize() > 0).then_some(())
    });
    eprintln!(
        "remote counters after the restart: {}",
        a.status()["remote"]
    );
    let differ = a.c_differs_from_bare(0..next);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
    assert_eq!(n(&a.status(), "stored"), next as u64);
}

/// Issue 14 (6): a three-master cluster loses a node: the build succeeds,
/// and the survivors still serve what they hold.
#[test]
fn remote_cluster_node_killed_the_build_succeeds_and_survivors_serve() {
    let _one = serial();
    let mut cluster = RedisCluster::start(&server_dir("cluster"));
    let a = Machine::new("rmt-cl-a", "src-a/proj", &cluster.url(), &[PATIENT]);
    a.build_c(0..UNITS);
    let ra = a.publications_settled();
    assert_eq!(n(&ra, "published"), 2 * UNITS as u64, "{ra}");
    assert!(
        cluster.nodes.iter().all(|node| node.dbsize() > 0),
        "every node holds some of A's values"
    );

    cluster.nodes[1].kill();
    let b = Machine::new(
        "rmt-cl-b",
        "checkouts/b/proj",
        &cluster.url(),
        &[("ZCCACHE_REMOTE_TIMEOUT_MS", "1000")],
    );
    b.build_c(0..UNITS);
    let rb = b.status()["remote"].clone();
    eprintln!("B's remote counters, a node down: {rb}");
    assert!(
        n(&rb, "hits") > 0,
        "the surviving nodes served nothing: {rb}"
    );
    assert!(
        n(&rb, "hits") < UNITS as u64,
        "every unit hit although a third of the values are gone: {rb}"
    );
    let differ = b.c_differs_from_bare(0..UNITS);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
}

/// Issue 14 (3, 6): a Redis Cluster with a replica per primary loses a
/// primary between compiles of B's build: every compile succeeds, the
/// failures while the replica takes over are counted, the client connects
/// again with the new slot map (`reconnects`), and hits resume, served by
/// the promoted replica too.
#[test]
fn remote_cluster_primary_killed_fails_over_to_its_replica_and_hits_resume() {
    let _one = serial();
    let mut cluster = RedisCluster::start_with_replicas(&server_dir("failover"), 1);
    let units = 40;
    let a = Machine::new("rmt-fo-a", "src-a/proj", &cluster.url(), &[PATIENT]);
    a.build_c(0..units);
    let ra = a.publications_settled();
    assert_eq!(n(&ra, "published"), 2 * units as u64, "{ra}");
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3);
    let held = |nodes: &[usize]| -> u64 { nodes.iter().map(|&i| cluster.nodes[i].dbsize()).sum() };
    let replicas: Vec<usize> = (0..cluster.nodes.len())
        .filter(|i| !primaries.contains(i))
        .collect();
    wait_for("the replicas to hold all of A's values", || {
        (held(&replicas) == held(&primaries)).then_some(())
    });

    let b = Machine::new(
        "rmt-fo-b",
        "checkouts/b/proj",
        &cluster.url(),
        &[("ZCCACHE_REMOTE_TIMEOUT_MS", "1000")],
    );
    b.build_c(0..8);
    assert_eq!(b.remote("hits"), 8, "{}", b.status()["remote"]);
    let victim = *primaries
        .iter()
        .max_by_key(|&&i| cluster.nodes[i].dbsize())
        .unwrap();
    cluster.nodes[victim].kill();
    b.build_c(8..24);
    let during = b.status()["remote"].clone();
    eprintln!("B's remote counters, a primary just killed: {during}");
    assert!(
        n(&during, "errors") + n(&during, "timeouts") + n(&during, "breaker_skips") > 0,
        "nothing counted although a third of the values were unreachable: {during}"
    );

    // The replica takes over after the node timeout (2 s).
    let promoted = wait_for("a replica promoted", || {
        let now = cluster.primaries();
        (now.len() == 3).then(|| *now.iter().find(|i| !primaries.contains(i)).unwrap())
    });
    cluster.wait_until_ok();
    let gets = || {
        let stats = cluster.nodes[promoted].cli(&["INFO", "commandstats"]);
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
            .and_then(|l| l.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let gets_before = gets();
    // Fresh units, one at a time, until the promoted replica has answered
    // B (the breaker's cooldown and the reconnect come first)…
    let mut next = 24;
    wait_for("B to reach the promoted replica", || {
        assert!(next < units, "no unit left: {}", b.status()["remote"]);
        b.build_c(next..next + 1);
        next += 1;
        (gets() > gets_before).then_some(())
    });
    // …then every unit left is a remote hit.
    let before = b.status();
    b.build_c(next..units);
    let after = b.status();
    let rest = (units - next) as u64;
    assert!(rest > 0, "no unit left to show hits resume");
    assert_eq!(
        n(&after["remote"], "hits") - n(&before["remote"], "hits"),
        rest,
        "after the failover: {}",
        after["remote"]
    );
    assert!(
        n(&after["remote"], "reconnects") > 0,
        "the client never connected again: {}",
        after["remote"]
    );
    eprintln!(
        "B's remote counters after the failover: {}",
        after["remote"]
    );
    let differ = b.c_differs_from_bare(0..units);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
}

/// Issue 14 (6): a Redis that answers after the deadline (a proxy holding
/// replies back): the build succeeds without its answers, timeouts counted.
#[test]
fn remote_slow_redis_times_out_and_the_build_goes_on() {
    let _one = serial();
    let redis = RedisServer::start(&server_dir("slow"), &[]);
    let a = Machine::new("rmt-sl-a", "src-a/proj", &redis.url(), &[PATIENT]);
    a.build_c(0..8);
    a.publications_settled();
    let proxy = SlowProxy::start(redis.port);
    proxy.set_delay(Duration::from_secs(3));
    let b = Machine::new(
        "rmt-sl-b",
        "checkouts/b/proj",
        &proxy.url(),
        &[("ZCCACHE_REMOTE_TIMEOUT_MS", "200")],
    );
    b.build_c(0..8);
    let rb = b.status()["remote"].clone();
    eprintln!("B's remote counters behind the slow proxy: {rb}");
    assert!(n(&rb, "timeouts") > 0, "no timeout counted: {rb}");
    assert_eq!(n(&rb, "hits"), 0, "{rb}");
    let differ = b.c_differs_from_bare(0..8);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
}

/// Issue 14 (4, 6): entries signed with another secret, and entries whose
/// bytes were altered in Redis, are refused and counted; the compiles run
/// and their outputs are right.
#[test]
fn remote_wrong_signatures_and_corrupt_values_are_misses_counted() {
    let _one = serial();
    let redis = RedisServer::start(&server_dir("trust"), &[]);
    let key = ("ZCCACHE_REMOTE_KEY", "the right one");
    let a = Machine::new("rmt-tr-a", "src-a/proj", &redis.url(), &[key, PATIENT]);
    a.build_c(0..8);
    a.publications_settled();

    let wrong = Machine::new(
        "rmt-tr-w",
        "checkouts/w/proj",
        &redis.url(),
        &[
            ("ZCCACHE_REMOTE_KEY", "another"),
            ("ZCCACHE_REMOTE_MODE", "read-only"),
            PATIENT,
        ],
    );
    wrong.build_c(0..8);
    let sw = wrong.status();
    eprintln!("remote counters, another key: {}", sw["remote"]);
    assert_eq!(n(&sw, "hits"), 0, "{sw}");
    assert!(n(&sw["remote"], "bad_signatures") >= 8, "{}", sw["remote"]);
    let differ = wrong.c_differs_from_bare(0..8);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");

    // The last byte of every entry head (its inline content) changed.
    let altered: u64 = redis
        .cli(&[
            "EVAL",
            "local n = 0 \
             for _, k in ipairs(redis.call('KEYS', 'zc1:*:e')) do \
               local v = redis.call('GET', k) \
               local last = (string.byte(v, -1) + 1) % 256 \
               redis.call('SET', k, string.sub(v, 1, -2) .. string.char(last), 'KEEPTTL') \
               n = n + 1 \
             end \
             return n",
            "0",
        ])
        .parse()
        .unwrap();
    assert_eq!(altered, 8, "entry heads altered");
    let b = Machine::new(
        "rmt-tr-b",
        "checkouts/b/proj",
        &redis.url(),
        &[key, PATIENT],
    );
    b.build_c(0..8);
    let sb = b.status();
    let rb = &sb["remote"];
    eprintln!("remote counters, altered entries: {rb}");
    assert_eq!(n(&sb, "hits"), 0, "{sb}");
    assert_eq!(
        (n(rb, "corrupt"), n(rb, "manifest_without_entry")),
        (8, 8),
        "{rb}"
    );
    let differ = b.c_differs_from_bare(0..8);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
}

/// Issue 14 (5, 6): a Redis out of memory (a tiny `maxmemory`,
/// `noeviction`) refuses every write: nothing breaks, publish errors are
/// counted, reads still answer.
#[test]
fn remote_redis_out_of_memory_breaks_nothing_and_publish_errors_are_counted() {
    let _one = serial();
    let redis = RedisServer::start(
        &server_dir("oom"),
        &["--maxmemory", "100kb", "--maxmemory-policy", "noeviction"],
    );
    let a = Machine::new("rmt-oom-a", "src-a/proj", &redis.url(), &[PATIENT]);
    a.build_c(0..8);
    let ra = a.publications_settled();
    eprintln!("remote counters, Redis out of memory: {ra}");
    assert_eq!(n(&ra, "published"), 0, "{ra}");
    assert!(n(&ra, "publish_errors") > 0, "{ra}");
    assert_eq!(redis.dbsize(), 0);
    let differ = a.c_differs_from_bare(0..8);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");

    // Reads still work: plain misses, no errors.
    let b = Machine::new("rmt-oom-b", "checkouts/b/proj", &redis.url(), &[PATIENT]);
    b.build_c(0..8);
    let rb = b.status()["remote"].clone();
    assert_eq!(
        (
            n(&rb, "manifest_misses"),
            n(&rb, "errors"),
            n(&rb, "timeouts")
        ),
        (8, 0, 0),
        "{rb}"
    );
}

/// The daemon never fails over its second tier: a `remote` it cannot use
/// is logged and the daemon serves without it; a Redis that is not there
/// when the daemon starts is counted, not an error; an edit of the remote
/// settings in a config file is logged as applying at the next start.
#[test]
fn remote_a_bad_or_absent_remote_never_stops_the_daemon() {
    let _one = serial();
    let bad = Machine::new("rmt-bad", "proj", "bogus://nowhere", &[]);
    bad.build_c(0..2);
    let s = bad.status();
    assert!(
        s["remote"].is_null(),
        "an unusable remote in the status: {s}"
    );
    assert_eq!(n(&s, "stored"), 2, "{s}");
    let log = PathBuf::from(s["log"].as_str().expect("status names the log"));
    let logged = |what: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(what)
    };
    assert!(
        logged("running without the remote tier"),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    std::fs::write(
        bad.sb.cache.join("zccache.toml"),
        // Not set by the environment, which would win over the file.
        "remote_mode = \"read-only\"\n",
    )
    .unwrap();
    wait_for(
        "the daemon to log that the remote settings need a restart",
        || logged("the remote settings apply when the daemon restarts").then_some(()),
    );

    // A port nobody listens on: the listener is gone before the daemon starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let absent = Machine::new(
        "rmt-absent",
        "proj",
        &format!("redis://127.0.0.1:{port}/0"),
        &[],
    );
    absent.build_c(0..6);
    let r = absent.status()["remote"].clone();
    eprintln!("remote counters, no Redis at all: {r}");
    assert!(
        n(&r, "errors") + n(&r, "timeouts") + n(&r, "breaker_skips") > 0,
        "{r}"
    );
    assert_eq!(n(&r, "hits"), 0, "{r}");
    let differ = absent.c_differs_from_bare(0..6);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
}

/// A machine whose own manifest for a unit serves nothing (it built the
/// unit against another header) asks the remote's manifest too: what A
/// published since is a remote hit, and joins B's local manifest so the
/// next lookup hits locally.
#[test]
fn remote_a_local_manifest_that_serves_nothing_is_followed_by_the_remotes() {
    let _one = serial();
    let redis = RedisServer::start(&server_dir("follow"), &[]);
    let b = Machine::new(
        "rmt-fo-b",
        "checkouts/b/proj",
        &redis.url(),
        &[PATIENT, ("ZCCACHE_REMOTE_MODE", "read-only")],
    );
    // B first builds against another header: its local manifests hold
    // entries no other machine has.
    b.write("include/p/config.h", "#define P_SCALE 4\n");
    b.build_c(0..4);
    let a = Machine::new("rmt-fo-a", "src-a/proj", &redis.url(), &[PATIENT]);
    a.build_c(0..4);
    a.publications_settled();

    b.write("include/p/config.h", "#define P_SCALE 3\n");
    b.build_c(0..4);
    let s = b.status();
    eprintln!("B's remote counters: {}", s["remote"]);
    assert_eq!(
        (n(&s, "hits"), n(&s["remote"], "hits")),
        (4, 4),
        "B's second build: every unit from A's manifest and entry: {s}"
    );
    let differ = b.c_differs_from_bare(0..4);
    assert!(differ.is_empty(), "objects vs bare gcc: {differ:?}");
    // Rebuilt against A's header once more: local hits now, nothing asked.
    let asked = n(&s["remote"], "manifest_hits") + n(&s["remote"], "manifest_misses");
    b.build_c(0..4);
    let s = b.status();
    assert_eq!(n(&s, "hits"), 8, "{s}");
    assert_eq!(
        n(&s["remote"], "manifest_hits") + n(&s["remote"], "manifest_misses"),
        asked,
        "the remote was asked again: {}",
        s["remote"]
    );
}
