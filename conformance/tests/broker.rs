//! The broker's promises over the real binaries and real gcc (issue 3):
//! a cold herd over three cache roots and two namespaces starts one broker
//! and six daemons; each of the six stale cases of broker.md, set up for
//! real, ends with one fresh daemon and no signal to a stranger; a killed
//! broker is restarted exactly once by racing wrappers; two protocol
//! versions share a machine; peers of another uid are dropped unread;
//! idle exits (the broker outlives its last daemon, clients arriving at
//! shutdown are served); spawned processes keep nothing of the build; a
//! second daemon for a live key leaves the first alone.
//!
//! It observes only what a user could: logs in the runtime directory,
//! identity files, `/proc`, replies on the wire and build outputs. Cases
//! already covered in `faults.rs` (0777 or symlinked runtime directory, a
//! wedged daemon's deadlines) are not repeated.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conformance::{ok, server_pid, wait_for_within, Sandbox};

/// Spawning and replacing daemons under load takes longer than most waits.
const PATIENCE: Duration = Duration::from_secs(90);

#[track_caller]
fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_for_within(PATIENCE, what, f)
}

/// `/proc/<pid>/stat` state letter, `None` once the pid is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn is_dead(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z' | 'X'))
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; pid is one process.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill {pid}: {}", std::io::Error::last_os_error());
}

/// Resumes a stopped process when dropped, so a failing test never leaves
/// one behind.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        if !is_dead(self.0) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGCONT) };
        }
    }
}

/// Kills a child of ours (a foreign stand-in) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runtime(sb: &Sandbox) -> router::RuntimeDir {
    router::RuntimeDir::at(&sb.runtime).expect("sandbox runtime dir")
}

fn paths_for(sb: &Sandbox, root: &Path, namespace: &str, protocol: u32) -> router::DaemonPaths {
    let root = std::fs::canonicalize(root).unwrap();
    router::daemon_paths(&runtime(sb), &root, namespace, protocol)
}

fn default_paths(sb: &Sandbox) -> router::DaemonPaths {
    paths_for(sb, &sb.cache, "default", ::frame::PROTOCOL_VERSION)
}

fn identity(sb: &Sandbox) -> Option<router::Identity> {
    router::read_identity(&default_paths(sb).identity_file).ok()
}

/// How many lines containing `needle` all logs of the runtime dir hold.
fn log_lines(sb: &Sandbox, needle: &str) -> usize {
    let Ok(dir) = std::fs::read_dir(&sb.runtime) else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(needle))
                .count()
        })
        .sum()
}

fn broker_endpoint(sb: &Sandbox, protocol: u32) -> PathBuf {
    router::broker_paths(&runtime(sb), protocol).endpoint
}

/// Asks the broker of `protocol` in this sandbox to exit.
fn stop_broker(sb: &Sandbox, protocol: u32) {
    let shutdown = ::frame::v1::Request::new(::frame::v1::request::Body::Shutdown(
        ::frame::v1::ShutdownRequest::default(),
    ));
    if let Ok(mut s) = std::os::unix::net::UnixStream::connect(broker_endpoint(sb, protocol)) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(&::frame::encode_frame(&::frame::request_frame(
            1, &shutdown,
        )));
        let _ = std::io::Read::read(&mut s, &mut [0u8; 64]);
    }
}

/// Stops the daemons of extra (cache root, namespace) pairs on drop; the
/// sandbox itself stops only its default one.
struct Extra<'a> {
    sb: &'a Sandbox,
    zccache: PathBuf,
    pairs: Vec<(PathBuf, String)>,
}

impl Drop for Extra<'_> {
    fn drop(&mut self) {
        for (root, ns) in &self.pairs {
            let _ = self
                .sb
                .cmd(&self.zccache)
                .env("ZCCACHE_CACHE_DIR", root)
                .env("ZCCACHE_DAEMON_NAMESPACE", ns)
                .arg("stop")
                .output();
        }
    }
}

#[test]
fn b1_cold_herd_over_three_roots_and_two_namespaces() {
    const N: usize = 64;
    let sb = Sandbox::new("b1herd");
    let roots: Vec<PathBuf> = (0..3).map(|r| sb.root.join(format!("c{r}"))).collect();
    let namespaces = ["alpha", "beta"];
    let mut pairs = vec![];
    for root in &roots {
        std::fs::create_dir_all(root).unwrap();
        for ns in namespaces {
            pairs.push((root.clone(), ns.to_owned()));
        }
    }
    let _stop = Extra {
        sb: &sb,
        zccache: conformance::zccache_bin(),
        pairs: pairs.clone(),
    };
    std::fs::create_dir_all(sb.path("ref")).unwrap();
    for i in 0..N {
        sb.write(
            &format!("h{i}.c"),
            format!("int h{i}(int x) {{ return x * {i} + {}; }}\n", i * 7),
        );
        ok(&sb.bare(
            "gcc",
            ["-c", &format!("h{i}.c"), "-o", &format!("ref/h{i}.o")],
        ));
    }

    let burst = Instant::now();
    let children: Vec<Child> = (0..N)
        .map(|i| {
            let (root, ns) = &pairs[i % pairs.len()];
            sb.cmd(conformance::zccache_bin())
                .env("ZCCACHE_CACHE_DIR", root)
                .env("ZCCACHE_DAEMON_NAMESPACE", ns)
                // Generous, so a loaded machine never times a spawn out
                // (a timed-out spawn would be retried by the next Route).
                .env("ZCCACHE_SPAWN_TIMEOUT_MS", "60000")
                .env("ZCCACHE_REQUEST_TIMEOUT_MS", "60000")
                .args(["gcc", "-c", &format!("h{i}.c")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        ok(&child.wait_with_output().unwrap());
        assert_eq!(
            sb.read(&format!("h{i}.o")),
            sb.read(&format!("ref/h{i}.o")),
            "h{i}.o differs from bare gcc's"
        );
    }
    eprintln!("{N} cold wrappers over 6 daemons: {:?}", burst.elapsed());
    assert_eq!(log_lines(&sb, "started broker"), 1, "brokers started");
    assert_eq!(log_lines(&sb, "spawned daemon"), 6, "daemons spawned");
    // Each pair has its own live daemon, and every compile reached one.
    let mut pids = std::collections::BTreeSet::new();
    for (root, ns) in &pairs {
        let id = router::read_identity(
            &paths_for(&sb, root, ns, ::frame::PROTOCOL_VERSION).identity_file,
        )
        .unwrap_or_else(|e| panic!("{} {ns}: {e}", root.display()));
        assert!(!is_dead(id.pid));
        pids.insert(id.pid);
    }
    assert_eq!(pids.len(), 6);
}

/// One stale case: a daemon serves, `make_stale` spoils it (and may return
/// a foreign process to keep alive), then a Route must end with a fresh,
/// healthy daemon and a correct build, and the foreign process untouched.
fn stale_case(name: &str, make_stale: impl FnOnce(&Sandbox, &router::Identity) -> Option<Reaped>) {
    let sb = Sandbox::new(name);
    sb.write("s.c", "int s(int x) { return x * 3 + 1; }\n");
    ok(&sb.bare("gcc", ["-c", "s.c", "-o", "s.ref.o"]));
    ok(&patient(&sb).args(["gcc", "-c", "s.c"]).output().unwrap());
    let old = identity(&sb).expect("a daemon published its identity");
    let spawned = log_lines(&sb, "spawned daemon");
    let _resume = Resume(old.pid);
    let foreign = make_stale(&sb, &old);

    let started = Instant::now();
    ok(&patient(&sb).arg("start").output().unwrap());
    let took = started.elapsed();
    eprintln!("{name}: replaced in {took:?}");
    let new = identity(&sb).expect("the successor published its identity");
    assert_ne!(new.pid, old.pid, "{name}: not replaced");
    assert!(!is_dead(new.pid), "{name}: successor dead");
    assert_eq!(
        log_lines(&sb, "spawned daemon"),
        spawned + 1,
        "{name}: exactly one successor"
    );
    // The Route returned within the wrapper's wait: the spawn deadline
    // plus one request timeout, as `patient` sets them.
    assert!(took < PATIENT_WAIT * 2, "{name}: took {took:?}");
    wait_for(&format!("{name}: the stale daemon to leave"), || {
        is_dead(old.pid).then_some(())
    });

    std::fs::remove_file(sb.path("s.o")).unwrap();
    let (h0, _, _) = sb.hmp();
    // A loaded machine may keep the successor busy for a while; the hit
    // must come however long that takes, not within a fixed time.
    let out = patient(&sb)
        .env("ZCCACHE_LOG", "debug")
        .args(["gcc", "-c", "s.c"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(sb.read("s.o"), sb.read("s.ref.o"), "{name}: wrong object");
    let status = sb.status();
    assert_eq!(status["pid"].as_u64(), Some(u64::from(new.pid)));
    assert_eq!(
        status["hits"].as_u64(),
        Some(h0 + 1),
        "{name}: the successor serves the store: {status}\nwrapper: {}\ndaemon log: {}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(default_paths(&sb).log).unwrap_or_default()
    );

    if let Some(foreign) = foreign {
        let pid = foreign.0.id();
        assert_eq!(
            proc_state(pid),
            Some('S'),
            "{name}: the foreign process was disturbed"
        );
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        for field in ["SigPnd:", "ShdPnd:"] {
            let line = status.lines().find(|l| l.starts_with(field)).unwrap();
            assert!(
                line.trim_end().ends_with("0000000000000000"),
                "{name}: a signal is pending for the foreign process: {line}"
            );
        }
    }
}

/// The spawn and request timeouts `patient` gives the wrapper.
const PATIENT_WAIT: Duration = PATIENCE;

/// `zccache` in the sandbox with spawn and request timeouts long enough
/// for a loaded machine, so a slow daemon is waited for, not compiled
/// around: what a test observes then never depends on timing.
fn patient(sb: &Sandbox) -> Command {
    let millis = PATIENT_WAIT.as_millis().to_string();
    let mut cmd = sb.cmd(conformance::zccache_bin());
    cmd.env("ZCCACHE_SPAWN_TIMEOUT_MS", &millis)
        .env("ZCCACHE_REQUEST_TIMEOUT_MS", &millis);
    cmd
}

/// Rewrites one field of the identity file.
fn rewrite_identity(sb: &Sandbox, field: &str, value: serde_json::Value) {
    let file = default_paths(sb).identity_file;
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    json[field] = value;
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
}

#[test]
fn b2_stale_identity_missing_or_garbage() {
    stale_case("b2noid", |sb, _| {
        std::fs::remove_file(default_paths(sb).identity_file).unwrap();
        None
    });
    stale_case("b2garbage", |sb, _| {
        std::fs::write(default_paths(sb).identity_file, "{\"pid\": \"not json").unwrap();
        None
    });
}

#[test]
fn b2_stale_other_boot() {
    stale_case("b2boot", |sb, _| {
        rewrite_identity(sb, "boot_id", "00000000-0000-4000-8000-000000000000".into());
        None
    });
}

#[test]
fn b2_stale_dead_pid() {
    stale_case("b2dead", |_, old| {
        signal(old.pid, libc::SIGKILL);
        wait_for("the killed daemon to die", || {
            is_dead(old.pid).then_some(())
        });
        None
    });
}

#[test]
fn b2_stale_recycled_pid_is_never_signalled() {
    stale_case("b2recycled", |sb, old| {
        signal(old.pid, libc::SIGKILL);
        wait_for("the killed daemon to die", || {
            is_dead(old.pid).then_some(())
        });
        let sleep = Reaped(
            Command::new("sleep")
                .arg("1000")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let pid = sleep.0.id();
        wait_for("sleep to start", || {
            (proc_state(pid) == Some('S')).then_some(())
        });
        // Same uid, live, a different start time: a stranger on the pid.
        rewrite_identity(sb, "pid", pid.into());
        Some(sleep)
    });
}

#[test]
fn b2_stale_identity_naming_a_process_of_ours_is_never_signalled() {
    // A corrupted identity (still ours, owner-only) naming a live process
    // of ours with its true start time: it runs no daemon executable, so
    // the old daemon is asked to leave over its endpoint and the process
    // named is left alone.
    stale_case("b2notdaemon", |sb, _| {
        let sleep = Reaped(
            Command::new("sleep")
                .arg("1000")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let pid = sleep.0.id();
        wait_for("sleep to start", || {
            (proc_state(pid) == Some('S')).then_some(())
        });
        rewrite_identity(sb, "pid", pid.into());
        rewrite_identity(
            sb,
            "start_time",
            router::running_start_time(pid).unwrap().into(),
        );
        Some(sleep)
    });
}

#[test]
fn b2_stale_other_exe_or_protocol() {
    stale_case("b2exe", |sb, _| {
        rewrite_identity(sb, "exe_path", "/usr/bin/zccache-daemon-old".into());
        None
    });
    stale_case("b2proto", |sb, old| {
        rewrite_identity(sb, "protocol_version", (old.protocol_version + 7).into());
        None
    });
}

#[test]
fn b2_stale_unresponsive_daemon_is_killed_and_replaced() {
    stale_case("b2stopped", |_, old| {
        signal(old.pid, libc::SIGSTOP);
        wait_for("the daemon to stop", || {
            (proc_state(old.pid) == Some('T')).then_some(())
        });
        None
    });
}

/// Every thread of a process held in a ptrace stop (state `t`, as under a
/// debugger): alive and accepting connections on its socket's backlog,
/// but answering nothing, which is what a daemon too busy for the probe
/// looks like from outside. Released (detached) on drop, from the same
/// thread, as ptrace requires.
struct Held(Vec<libc::pid_t>);

impl Held {
    fn hold(pid: u32) -> Held {
        let mut held: Vec<libc::pid_t> = vec![];
        // Threads may start while we attach: repeat until none is new.
        loop {
            let tids: Vec<libc::pid_t> = std::fs::read_dir(format!("/proc/{pid}/task"))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|tid| !held.contains(tid))
                .collect();
            if tids.is_empty() {
                return Held(held);
            }
            for tid in tids {
                // SAFETY: ptrace requests on a thread id with null
                // address and data, as PTRACE_SEIZE/INTERRUPT take them.
                unsafe {
                    assert_eq!(
                        libc::ptrace(libc::PTRACE_SEIZE, tid, 0usize, 0usize),
                        0,
                        "seize {tid}: {}",
                        std::io::Error::last_os_error()
                    );
                    assert_eq!(libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0usize, 0usize), 0);
                    let mut status = 0;
                    assert_eq!(libc::waitpid(tid, &mut status, libc::__WALL), tid);
                }
                held.push(tid);
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for &tid in &self.0 {
            // SAFETY: detaching a thread this thread traces.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, 0usize, 0usize) };
        }
    }
}

#[test]
fn b2_a_busy_daemon_is_routed_to_and_never_signalled() {
    let sb = Sandbox::new("b2busy");
    sb.write("s.c", "int s(int x) { return x * 3 + 1; }\n");
    ok(&sb.bare("gcc", ["-c", "s.c", "-o", "s.ref.o"]));
    ok(&patient(&sb).args(["gcc", "-c", "s.c"]).output().unwrap());
    let old = identity(&sb).expect("a daemon published its identity");
    let spawned = log_lines(&sb, "spawned daemon");
    {
        let _held = Held::hold(old.pid);
        assert_eq!(proc_state(old.pid), Some('t'));
        // Through the broker: its probe goes unanswered, which proves
        // nothing, so the daemon is routed to, not replaced.
        let out = sb
            .cmd(conformance::zccache_bin())
            .env("ZCCACHE_SPAWN_TIMEOUT_MS", "60000")
            .arg("start")
            .output()
            .unwrap();
        ok(&out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            default_paths(&sb).endpoint.to_str().unwrap()
        );
        // A compile it keeps waiting runs the compiler directly.
        std::fs::remove_file(sb.path("s.o")).unwrap();
        let out = sb
            .cmd(conformance::zccache_bin())
            .env("ZCCACHE_REQUEST_TIMEOUT_MS", "300")
            .args(["gcc", "-c", "s.c"])
            .output()
            .unwrap();
        ok(&out);
        assert_eq!(sb.read("s.o"), sb.read("s.ref.o"));
        assert_eq!(
            proc_state(old.pid),
            Some('t'),
            "the busy daemon was disturbed"
        );
    }
    assert_eq!(log_lines(&sb, "spawned daemon"), spawned, "replaced");
    assert_eq!(log_lines(&sb, "stale daemon"), 0, "judged stale");
    assert_eq!(log_lines(&sb, "sent "), 0, "signalled");
    // Released, it serves again: the same process.
    wait_for("the daemon to run again", || {
        (proc_state(old.pid) != Some('t')).then_some(())
    });
    assert_eq!(identity(&sb).map(|id| id.pid), Some(old.pid));
    let status: serde_json::Value = serde_json::from_slice(
        &ok(&patient(&sb).args(["status", "--json"]).output().unwrap()).stdout,
    )
    .unwrap();
    assert_eq!(status["pid"].as_u64(), Some(u64::from(old.pid)));
}

#[test]
fn b3_killed_broker_is_restarted_once_by_racing_wrappers() {
    const N: usize = 32;
    let sb = Sandbox::new("b3broker");
    std::fs::create_dir_all(sb.path("ref")).unwrap();
    for i in 0..N {
        sb.write(
            &format!("r{i}.c"),
            format!("int r{i}(void) {{ return {i}; }}\n"),
        );
        ok(&sb.bare(
            "gcc",
            ["-c", &format!("r{i}.c"), "-o", &format!("ref/r{i}.o")],
        ));
    }
    ok(&sb.zccache(["start"]));
    let broker = server_pid(&broker_endpoint(&sb, ::frame::PROTOCOL_VERSION));
    let daemon = identity(&sb).unwrap().pid;
    signal(broker, libc::SIGKILL);
    wait_for("the broker to die", || is_dead(broker).then_some(()));
    // Without a daemon every wrapper needs the broker.
    signal(daemon, libc::SIGKILL);
    wait_for("the daemon to die", || is_dead(daemon).then_some(()));
    assert_eq!(log_lines(&sb, "started broker"), 1);

    let children: Vec<Child> = (0..N)
        .map(|i| {
            sb.cmd(conformance::zccache_bin())
                .env("ZCCACHE_SPAWN_TIMEOUT_MS", "60000")
                .env("ZCCACHE_REQUEST_TIMEOUT_MS", "60000")
                .args(["gcc", "-c", &format!("r{i}.c")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        ok(&child.wait_with_output().unwrap());
        assert_eq!(sb.read(&format!("r{i}.o")), sb.read(&format!("ref/r{i}.o")));
    }
    assert_eq!(
        log_lines(&sb, "started broker"),
        2,
        "exactly one new broker"
    );
    assert_eq!(
        log_lines(&sb, "spawned daemon"),
        2,
        "exactly one new daemon"
    );
    let successor = server_pid(&broker_endpoint(&sb, ::frame::PROTOCOL_VERSION));
    assert_ne!(successor, broker);
}

/// The protocol of the other build in `b4`: the next one after ours.
const OTHER: u32 = ::frame::PROTOCOL_VERSION + 1;

/// Builds the three binaries speaking protocol [`OTHER`] into
/// `target/proto-other`.
fn build_other_protocol() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = workspace.join("target/proto-other");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace)
        .env("ZCCACHE_PROTOCOL_VERSION_OVERRIDE", OTHER.to_string())
        .args([
            "build",
            "-p",
            "wrapper",
            "-p",
            "broker",
            "-p",
            "daemon",
            "--target-dir",
        ])
        .arg(&target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(&out);
    target.join("debug")
}

#[test]
fn b4_two_protocol_versions_side_by_side() {
    let ours = ::frame::PROTOCOL_VERSION;
    let bin2 = build_other_protocol();
    let sb = Sandbox::new("b4versions");
    let v2 = |args: &[&str]| sb.cmd(bin2.join("zccache")).args(args).output().unwrap();
    let out = v2(&["--version"]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("protocol {OTHER}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _stop = StopV2 {
        sb: &sb,
        zccache: bin2.join("zccache"),
    };
    sb.write("v.c", "int v(int x) { return x ^ 5; }\n");
    ok(&sb.bare("gcc", ["-c", "v.c", "-o", "v.ref.o"]));

    ok(&sb.zccache(["gcc", "-c", "v.c"]));
    let d1 = identity(&sb).unwrap().pid;
    ok(&v2(&["gcc", "-c", "v.c"]));
    let id2 = router::read_identity(&paths_for(&sb, &sb.cache, "default", OTHER).identity_file)
        .expect("the other protocol's daemon has its own identity file");
    let d2 = id2.pid;
    assert_ne!(d1, d2);
    assert_eq!(id2.protocol_version, OTHER);

    // Repeats hit in each, and neither disturbs the other's daemon.
    for round in 0..2 {
        for name in ["v1", "v2"] {
            std::fs::remove_file(sb.path("v.o")).unwrap();
            let out = match name {
                "v1" => sb.zccache(["gcc", "-c", "v.c"]),
                _ => v2(&["gcc", "-c", "v.c"]),
            };
            ok(&out);
            assert_eq!(sb.read("v.o"), sb.read("v.ref.o"), "{name} round {round}");
            assert!(!is_dead(d1) && !is_dead(d2), "{name} round {round}");
        }
    }
    // `start` routes through each broker, which judges only its own.
    ok(&sb.zccache(["start"]));
    ok(&v2(&["start"]));
    assert_eq!(identity(&sb).unwrap().pid, d1);
    assert_eq!(
        router::read_identity(&paths_for(&sb, &sb.cache, "default", OTHER).identity_file)
            .unwrap()
            .pid,
        d2
    );
    let s1 = sb.status();
    let s2: serde_json::Value =
        serde_json::from_slice(&ok(&v2(&["status", "--json"])).stdout).unwrap();
    assert_eq!(s1["pid"].as_u64(), Some(u64::from(d1)));
    assert_eq!(s2["pid"].as_u64(), Some(u64::from(d2)));
    assert!(s1["hits"].as_u64().unwrap() >= 2, "{s1}");
    assert!(s2["hits"].as_u64().unwrap() >= 2, "{s2}");
    let (b1, b2) = (broker_endpoint(&sb, ours), broker_endpoint(&sb, OTHER));
    assert!(
        b1.ends_with(format!("broker-p{ours}.sock"))
            && b2.ends_with(format!("broker-p{OTHER}.sock"))
    );
    assert_ne!(server_pid(&b1), server_pid(&b2));
}

struct StopV2<'a> {
    sb: &'a Sandbox,
    zccache: PathBuf,
}

impl Drop for StopV2<'_> {
    fn drop(&mut self) {
        let _ = self.sb.cmd(&self.zccache).arg("stop").output();
        stop_broker(self.sb, OTHER);
    }
}

/// Runs a tiny client as uid 65534 that connects to `endpoint`, sends
/// `bytes` and reports what came back: `closed` or `reply <n>`.
fn foreign_client(endpoint: &Path, bytes: &[u8]) -> String {
    let script = "import socket,sys\n\
        s=socket.socket(socket.AF_UNIX)\n\
        s.settimeout(30)\n\
        s.connect(sys.argv[1])\n\
        try:\n  s.sendall(bytes.fromhex(sys.argv[2]))\n\
        except OSError: pass\n\
        try:\n  d=s.recv(65536)\n\
        except ConnectionResetError: d=b''\n\
        print('closed' if not d else 'reply %d' % len(d))\n";
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = as_nobody()
        .arg(script)
        .arg(endpoint)
        .arg(hex)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(&out);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `python3 -c` as uid and gid 65534 with no supplementary groups; a
/// system python, since a per-user one (pyenv) is not readable by nobody.
fn as_nobody() -> Command {
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(python)
        .arg("-c")
        .stdin(Stdio::null());
    cmd
}

/// Restores the runtime dir and socket modes on drop.
struct Modes(Vec<(PathBuf, u32)>);

impl Drop for Modes {
    fn drop(&mut self) {
        for (path, mode) in &self.0 {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode));
        }
    }
}

#[test]
fn b5_a_client_of_another_uid_is_dropped_unread() {
    assert_eq!(router::euid(), 0, "this test needs root to switch uids");
    let sb = Sandbox::new("b5peer");
    sb.write("p.c", "int p(void) { return 17; }\n");
    ok(&sb.zccache(["gcc", "-c", "p.c"]));
    let paths = default_paths(&sb);
    let broker = broker_endpoint(&sb, ::frame::PROTOCOL_VERSION);
    let entries = store_entries(&sb);
    let before = sb.hmp();

    // The other uid cannot even reach the private runtime dir.
    let lookup = lookup_bytes(&sb);
    let refused = as_nobody()
        .arg(
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX)\n\
             try:\n  s.connect(sys.argv[1]); print('connected')\n\
             except PermissionError: print('denied')\n",
        )
        .arg(&paths.endpoint)
        .output()
        .unwrap();
    ok(&refused);
    assert_eq!(
        String::from_utf8_lossy(&refused.stdout).trim(),
        "denied",
        "the runtime dir let another uid in"
    );

    // Opened on purpose, the peer check itself must drop it.
    {
        let _restore = Modes(vec![
            (sb.runtime.clone(), 0o700),
            (paths.endpoint.clone(), 0o600),
            (broker.clone(), 0o600),
        ]);
        for (path, mode) in [
            (&sb.runtime, 0o711),
            (&paths.endpoint, 0o666),
            (&broker, 0o666),
        ] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        assert_eq!(foreign_client(&paths.endpoint, &lookup), "closed", "daemon");
        assert_eq!(foreign_client(&broker, &lookup), "closed", "broker");
    }
    wait_for("the daemon's refusal line", || {
        std::fs::read_to_string(&paths.log)
            .unwrap_or_default()
            .contains("refused a connection from uid 65534")
            .then_some(())
    });
    wait_for("the broker's refusal line", || {
        (log_lines(&sb, "refused a connection from uid 65534") >= 2).then_some(())
    });
    assert_eq!(store_entries(&sb), entries, "something was stored");
    assert_eq!(sb.hmp(), before, "the foreign request was counted");
    assert!(
        !sb.path("foreign.o").exists(),
        "the foreign Lookup's output was written"
    );
}

/// A Lookup frame as a wrapper would send it, for a compile whose output
/// must never appear.
fn lookup_bytes(sb: &Sandbox) -> Vec<u8> {
    use ::frame::v1::{request, Lookup, Request};
    let gcc = conformance::which("gcc").unwrap();
    let request = Request::new(request::Body::Lookup(Lookup {
        compiler: gcc.to_str().unwrap().as_bytes().to_vec(),
        args: ["-c", "p.c", "-o", "foreign.o"]
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect(),
        cwd: sb.work.to_str().unwrap().as_bytes().to_vec(),
        argv0: b"gcc".to_vec(),
        ..Default::default()
    }));
    ::frame::encode_frame(&::frame::request_frame(1, &request))
}

/// Every file under the store's entries directory.
fn store_entries(sb: &Sandbox) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(list) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in list.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut found = vec![];
    walk(&sb.cache.join("v1/entries"), &mut found);
    found.sort();
    found
}

#[test]
fn b5_a_foreign_owned_runtime_dir_is_refused() {
    assert_eq!(router::euid(), 0, "this test needs root to chown");
    let sb = Sandbox::new("b5owner");
    sb.write("o.c", "int o(void) { return 4; }\n");
    ok(&sb.bare("gcc", ["-c", "o.c", "-o", "o.ref.o"]));
    let foreign = sb.root.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    let out = sb
        .cmd(conformance::zccache_bin())
        .env("ZCCACHE_RUNTIME_DIR", &foreign)
        .env("ZCCACHE_LOG", "1")
        .args(["gcc", "-c", "o.c"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(sb.read("o.o"), sb.read("o.ref.o"));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("runtime") && text.lines().count() == 1,
        "one warning naming the runtime dir: {text:?}"
    );
    let inside: Vec<_> = std::fs::read_dir(&foreign).unwrap().collect();
    assert!(inside.is_empty(), "the foreign dir was used");
    // The broker refuses it too, before binding anything.
    let broker = Command::new(conformance::bin_dir().join("zccache-broker"))
        .env("ZCCACHE_RUNTIME_DIR", &foreign)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!broker.status.success());
    assert!(std::fs::read_dir(&foreign).unwrap().next().is_none());
}

#[test]
fn b6_idle_exits_daemon_first_then_the_broker() {
    let sb = Sandbox::new("b6idle");
    sb.write("i.c", "int i(void) { return 9; }\n");
    ok(&sb.bare("gcc", ["-c", "i.c", "-o", "i.ref.o"]));
    let out = sb
        .cmd(conformance::zccache_bin())
        .env("ZCCACHE_IDLE_TIMEOUT", "4")
        .env("ZCCACHE_BROKER_IDLE_TIMEOUT_SECS", "1")
        .args(["gcc", "-c", "i.c"])
        .output()
        .unwrap();
    ok(&out);
    let daemon = identity(&sb).unwrap().pid;
    let broker = server_pid(&broker_endpoint(&sb, ::frame::PROTOCOL_VERSION));
    wait_for("the daemon to idle out", || is_dead(daemon).then_some(()));
    // A broker counting from its last Route would have left seconds ago.
    assert!(
        !is_dead(broker),
        "the broker left while its daemon still ran"
    );
    wait_for("the broker to idle out", || is_dead(broker).then_some(()));
    let log =
        std::fs::read_to_string(router::broker_paths(&runtime(&sb), ::frame::PROTOCOL_VERSION).log)
            .unwrap();
    assert!(log.contains("exiting: idle"), "{log}");
    assert!(
        std::fs::read_to_string(default_paths(&sb).log)
            .unwrap()
            .contains("idle for 4s"),
        "the daemon did not leave for idleness"
    );
    assert!(identity(&sb).is_none(), "the idle daemon left its identity");
}

#[test]
fn b6_clients_arriving_while_the_daemon_idles_out_are_served() {
    let sb = Sandbox::new("b6race");
    sb.write("j.c", "int j(int x) { return x + 11; }\n");
    ok(&sb.bare("gcc", ["-c", "j.c", "-o", "j.ref.o"]));
    let compile = || {
        let _ = std::fs::remove_file(sb.path("j.o"));
        let out = patient(&sb)
            .env("ZCCACHE_IDLE_TIMEOUT", "1")
            // A fallback to a direct compile would say so.
            .env("ZCCACHE_LOG", "1")
            .args(["gcc", "-c", "j.c"])
            .output()
            .unwrap();
        ok(&out);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.lines()
                .all(|l| l.starts_with("zccache: miss (stored)")),
            "{said}"
        );
        assert_eq!(sb.read("j.o"), sb.read("j.ref.o"));
    };
    compile();
    // Arrivals spread around the moment the daemon decides to leave (its
    // idle check ticks once a second).
    let mut pause = Duration::from_millis(800);
    for _ in 0..8 {
        std::thread::sleep(pause);
        compile();
        pause += Duration::from_millis(100);
    }
    assert!(
        log_lines(&sb, "idle for 1s") >= 1,
        "no daemon idled out: nothing was tested"
    );
}

/// A client that holds its connection (as a wrapper does between the two
/// halves of a Probe round) keeps a daemon with a one-second idle timeout
/// from leaving under it, however long it waits; once it lets go, the
/// daemon idles out. Before, idleness was counted in whole seconds from
/// the last frame, so such a daemon could leave 0.1 s after a reply.
#[test]
fn b6_a_held_connection_is_never_idled_out_under_its_client() {
    use ::frame::v1::{self, request, response};
    let sb = Sandbox::new("b6held");
    sb.write("h.c", "int h(void) { return 6; }\n");
    ok(&patient(&sb)
        .env("ZCCACHE_IDLE_TIMEOUT", "1")
        .args(["gcc", "-c", "h.c"])
        .output()
        .unwrap());
    let endpoint = PathBuf::from(sb.status()["endpoint"].as_str().expect("an endpoint"));
    let status = ::frame::encode_frame(&::frame::request_frame(
        1,
        &v1::Request::new(request::Body::Status(v1::StatusRequest { all: false })),
    ));
    let mut held = std::os::unix::net::UnixStream::connect(&endpoint).unwrap();
    held.set_read_timeout(Some(conformance::PATIENCE)).unwrap();
    let mut ask = |what: &str| {
        held.write_all(&status).unwrap();
        let reply = ::frame::read_frame(&mut held, ::frame::MAX_FRAME)
            .unwrap_or_else(|e| panic!("{what}: no answer on the held connection: {e}"));
        let body = ::frame::decode_response(&reply).unwrap().body;
        assert!(matches!(body, Some(response::Body::Status(_))), "{what}");
    };
    ask("first");
    // Three idle timeouts with the connection open and silent.
    std::thread::sleep(Duration::from_millis(3000));
    ask("after 3 s held");
    assert_eq!(log_lines(&sb, "idle for 1s"), 0, "it left under its client");
    drop(held);
    wait_for_within(PATIENT_WAIT, "the daemon idles out once let go", || {
        (log_lines(&sb, "idle for 1s") >= 1).then_some(())
    });
}

/// Field 6 of `/proc/<pid>/stat`: the session id.
fn session_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn b7_spawned_processes_keep_nothing_of_the_build() {
    let sb = Sandbox::new("b7hygiene");
    sb.write("g.c", "int g(void) { return 2; }\n");
    let marker = sb.root.join("jobserver-marker");
    std::fs::write(&marker, "").unwrap();
    // The build holds a descriptor (as make's jobserver pipe would) and a
    // preload, and runs from its own directory.
    let out = sb
        .cmd("/bin/sh")
        .arg("-c")
        .arg("exec 7>>\"$1\"; shift; exec \"$@\"")
        .arg("sh")
        .arg(&marker)
        .arg(conformance::zccache_bin())
        .args(["gcc", "-c", "g.c"])
        .env("MAKEFLAGS", "-j8 --jobserver-auth=7,7")
        .output()
        .unwrap();
    ok(&out);
    let daemon = identity(&sb).unwrap().pid;
    let broker = server_pid(&broker_endpoint(&sb, ::frame::PROTOCOL_VERSION));
    let cache = std::fs::canonicalize(&sb.cache).unwrap();
    for (what, pid, cwd) in [
        ("broker", broker, PathBuf::from("/")),
        ("daemon", daemon, cache),
    ] {
        assert_eq!(session_of(pid), pid, "{what}: not a session leader");
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
            cwd,
            "{what}: cwd"
        );
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
            let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
            assert_ne!(target, marker, "{what}: holds the build's descriptor");
            assert!(
                !target.starts_with(&sb.work),
                "{what}: holds {} open",
                target.display()
            );
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(
            !environ
                .split(|&b| b == 0)
                .any(|v| v.starts_with(b"MAKEFLAGS=")),
            "{what}: inherited the jobserver"
        );
    }
}

#[test]
fn b8_a_second_daemon_for_a_live_key_leaves_the_first_alone() {
    let sb = Sandbox::new("b8second");
    sb.write("d.c", "int d(void) { return 8; }\n");
    ok(&sb.zccache(["gcc", "-c", "d.c"]));
    let first = identity(&sb).unwrap();
    let paths = default_paths(&sb);
    let second = sb
        .cmd(conformance::bin_dir().join("zccache-daemon"))
        .arg("--cache-root")
        .arg(&first.cache_root)
        .args(["--namespace", "default", "--endpoint"])
        .arg(&paths.endpoint)
        .arg("--identity")
        .arg(&paths.identity_file)
        .output()
        .unwrap();
    ok(&second);
    assert_eq!(
        server_pid(&paths.endpoint),
        first.pid,
        "the endpoint changed hands"
    );
    assert_eq!(
        identity(&sb),
        Some(first.clone()),
        "the identity was rewritten"
    );
    std::fs::remove_file(sb.path("d.o")).unwrap();
    ok(&sb.zccache(["gcc", "-c", "d.c"]));
    assert_eq!(sb.status()["pid"].as_u64(), Some(u64::from(first.pid)));
}

#[test]
fn b9_a_daemon_dying_at_startup_is_backed_off() {
    let sb = Sandbox::new("b9backoff");
    sb.write("k.c", "int k(int x) { return x + 40; }\n");
    ok(&sb.bare("gcc", ["-c", "k.c", "-o", "k.ref.o"]));
    // A daemon that dies at once, as one that cannot publish its identity.
    let fake = sb.root.join("zccache-daemon");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'zccache-daemon: cannot publish identity: Read-only file system' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |args: &[&str]| {
        patient(&sb)
            .env("ZCCACHE_DAEMON_EXE", &fake)
            // Longer than any test: the backoff never ends within it.
            .env("ZCCACHE_DAEMON_BACKOFF_SECS", "3600")
            .args(args)
            .output()
            .unwrap()
    };
    let mut said = vec![];
    for _ in 0..6 {
        let _ = std::fs::remove_file(sb.path("k.o"));
        let out = run(&["gcc", "-c", "k.c"]);
        ok(&out);
        assert_eq!(sb.read("k.o"), sb.read("k.ref.o"));
        said.extend(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned),
        );
    }
    assert_eq!(log_lines(&sb, "spawned daemon"), 2, "spawns");
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(
        said[0].contains("exited at startup 2 times")
            && said[0].contains("cannot publish identity"),
        "{said:?}"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&ok(&run(&["status", "--json"])).stdout).unwrap();
    assert_eq!(status["refused"], "daemon_backoff", "{status}");
    let all = run(&["status", "--all"]);
    ok(&all);
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(
        text.contains("not served:") && text.contains("daemon_backoff"),
        "{text}"
    );
}

#[test]
fn b10_stop_all_reaches_a_daemon_whose_socket_is_gone() {
    let sb = Sandbox::new("b10nosock");
    sb.write("z.c", "int z(void) { return 10; }\n");
    ok(&patient(&sb).args(["gcc", "-c", "z.c"]).output().unwrap());
    let id = identity(&sb).expect("a daemon published its identity");
    std::fs::remove_file(default_paths(&sb).endpoint).unwrap();
    ok(&patient(&sb).args(["stop", "--all"]).output().unwrap());
    // `stop --all` returns once every daemon is gone: no waiting here.
    assert!(is_dead(id.pid), "the daemon without a socket still runs");
    assert_eq!(log_lines(&sb, "to unreachable daemon pid="), 1);
}
