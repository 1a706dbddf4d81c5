//! Fault and abuse cases from faults.md over the real binaries and real gcc:
//! a daemon or broker SIGKILLed mid-build, a wedged daemon, a wrapper killed
//! before its Store, damaged entries and manifests, hostile bytes on the
//! daemon and broker sockets, a hostile server on the daemon endpoint, and
//! fallbacks that must never change a build's result.
//!
//! It checks only what a build or a peer can observe (exit codes, streams,
//! output bytes, `status`, replies on the wire, `/proc`); failpoints inside
//! the store and fuzzing of the decoders live with their crates.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ::frame::v1::{self, request, response};
use conformance::{ok, server_pid, wait_for, Sandbox, PATIENCE};

fn runtime(sb: &Sandbox) -> router::RuntimeDir {
    router::RuntimeDir::at(&sb.runtime).expect("sandbox runtime dir")
}

fn daemon_paths(sb: &Sandbox) -> router::DaemonPaths {
    let root = std::fs::canonicalize(&sb.cache).unwrap();
    router::daemon_paths(&runtime(sb), &root, "default", ::frame::PROTOCOL_VERSION)
}

fn broker_endpoint(sb: &Sandbox) -> PathBuf {
    router::broker_paths(&runtime(sb), ::frame::PROTOCOL_VERSION).endpoint
}

/// The pid the daemon's identity file names, if it names one.
fn identity_pid(sb: &Sandbox) -> Option<u32> {
    router::read_identity(&daemon_paths(sb).identity_file)
        .ok()
        .map(|id| id.pid)
}

/// `/proc/<pid>/stat` state letter, `None` once the pid is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesized and may hold spaces.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn is_dead(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z' | 'X'))
}

/// Our daemon for this sandbox, by its command line: only a process that is
/// provably ours is ever signalled (faults.md P7).
fn is_our_daemon(sb: &Sandbox, pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let cache = std::fs::canonicalize(&sb.cache).unwrap();
    args.first().is_some_and(|a| a.ends_with(b"zccache-daemon"))
        && args
            .iter()
            .any(|a| *a == cache.as_os_str().as_encoded_bytes())
}

fn sigkill(pid: u32) {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill {pid}: {}", std::io::Error::last_os_error());
}

/// A `Vm*` line of `/proc/<pid>/status`, in KiB.
fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for pid {pid}"))
}

/// What a server did with bytes we sent.
#[derive(Debug)]
enum Answer {
    Reply(response::Body),
    Closed,
}

/// Connects and sends `bytes`.
fn send(endpoint: &Path, bytes: &[u8]) -> UnixStream {
    let mut stream = UnixStream::connect(endpoint)
        .unwrap_or_else(|e| panic!("connect {}: {e}", endpoint.display()));
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    // A server may refuse and close before reading everything we send.
    let _ = stream.write_all(bytes);
    stream
}

/// Connects, sends `bytes`, and waits for one answer frame or the end of
/// the connection.
fn exchange(endpoint: &Path, bytes: &[u8]) -> Answer {
    read_answer(&mut send(endpoint, bytes))
}

fn read_answer(stream: &mut UnixStream) -> Answer {
    match ::frame::read_frame(stream, ::frame::MAX_FRAME) {
        Ok(f) => match ::frame::decode_response(&f) {
            Ok(r) => Answer::Reply(r.body.expect("a response with a body")),
            Err(e) => panic!("the server answered with a frame that is no response: {e}"),
        },
        Err(e) if e.is_closed() => Answer::Closed,
        Err(e) => match e.io_error().map(std::io::Error::kind) {
            Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) => {
                Answer::Closed
            }
            _ => panic!("no answer and no close: {e}"),
        },
    }
}

/// A refusal is an `Error` reply with a message followed by the end of the
/// connection, or the end of the connection alone.
#[track_caller]
fn assert_refused(what: &str, stream: &mut UnixStream) {
    match read_answer(stream) {
        Answer::Closed => {}
        Answer::Reply(response::Body::Error(e)) => {
            assert!(!e.message.is_empty(), "{what}: empty error");
            assert!(
                matches!(read_answer(stream), Answer::Closed),
                "{what}: connection left open after the refusal"
            );
        }
        Answer::Reply(other) => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

fn request_bytes(id: u64, request: &v1::Request) -> Vec<u8> {
    ::frame::encode_frame(&::frame::request_frame(id, request))
}

fn status_request() -> v1::Request {
    v1::Request::new(request::Body::Status(v1::StatusRequest { all: false }))
}

/// A translation unit heavy enough that a `-O2` compile takes a while, so
/// a kill lands while compiles are in flight.
fn heavy_tu(i: usize) -> String {
    let mut s = format!("#include <stdio.h>\n#include <string.h>\nstatic int table_{i}[64];\n");
    for f in 0..24 {
        s += &format!(
            "int f{i}_{f}(int x) {{ int acc = {f}; for (int k = 0; k < x; k++) {{ acc = acc * 31 + table_{i}[k & 63] + k * {f}; if (acc > {i}00) acc ^= k; }} return acc; }}\n"
        );
    }
    s += &format!("void dump_{i}(void) {{ char buf[64]; snprintf(buf, sizeof buf, \"%d\", f{i}_3(7)); puts(buf); }}\n");
    s
}

/// Compiles every `t<i>.c` through zccache from four threads; calls
/// `mid_build` once `kill_after` compiles have finished, and returns how
/// many had finished by then.
fn parallel_build(sb: &Sandbox, n: usize, kill_after: usize, mid_build: impl FnOnce()) -> usize {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let mut done_at_kill = 0;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let out = sb.zccache(["gcc", "-O2", "-c", &format!("t{i}.c")]);
                if !out.status.success() {
                    failures.lock().unwrap().push(format!(
                        "t{i}.c: {}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        wait_for("compiles to finish before the kill", || {
            (done.load(Ordering::SeqCst) >= kill_after).then_some(())
        });
        done_at_kill = done.load(Ordering::SeqCst);
        mid_build();
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "compiles failed:\n{}",
        failures.join("\n")
    );
    done_at_kill
}

/// Kills this sandbox's daemon and waits until it is gone. First it plants
/// a staging directory such as a Store cut short by the kill leaves behind,
/// which the successor's startup sweep must remove.
fn kill_daemon(sb: &Sandbox) -> u32 {
    let pid = identity_pid(sb).expect("a daemon runs mid-build");
    assert!(
        is_our_daemon(sb, pid),
        "pid {pid} is not this sandbox's daemon"
    );
    let debris = sb
        .cache
        .join(format!("v1/tmp/{pid}-0-00000000deadbeef.staging"));
    std::fs::create_dir_all(&debris).unwrap();
    std::fs::write(debris.join("out-0"), "half an object").unwrap();
    sigkill(pid);
    wait_for("the killed daemon to die", || is_dead(pid).then_some(()));
    pid
}

#[test]
fn f1_daemon_sigkilled_mid_build_breaks_nothing() {
    const N: usize = 30;
    let sb = Sandbox::new("f1kill");
    std::fs::create_dir_all(sb.path("ref")).unwrap();
    for i in 0..N {
        sb.write(&format!("t{i}.c"), heavy_tu(i));
        ok(&sb.bare(
            "gcc",
            [
                "-O2",
                "-c",
                &format!("t{i}.c"),
                "-o",
                &format!("ref/t{i}.o"),
            ],
        ));
    }
    let check_objects = || {
        for i in 0..N {
            assert_eq!(
                sb.read(&format!("t{i}.o")),
                sb.read(&format!("ref/t{i}.o")),
                "t{i}.o differs from bare gcc's"
            );
        }
    };

    // Cold: the kill lands among misses and Stores.
    let mut killed = 0;
    let done = parallel_build(&sb, N, 6, || killed = kill_daemon(&sb));
    assert!(
        done < N,
        "the build finished before the kill; nothing was tested"
    );
    check_objects();

    // A compile after the build is served by a fresh daemon.
    ok(&sb.zccache(["gcc", "-O2", "-c", "t0.c"]));
    let pid = sb.status()["pid"].as_u64().unwrap() as u32;
    assert_ne!(pid, killed, "the killed daemon still answers status");
    assert!(!is_dead(pid));

    // Warm: the kill lands among hits being delivered.
    for i in 0..N {
        std::fs::remove_file(sb.path(&format!("t{i}.o"))).unwrap();
    }
    let mut killed_again = 0;
    let done = parallel_build(&sb, N, 6, || killed_again = kill_daemon(&sb));
    assert_eq!(killed_again, pid);
    assert!(
        done < N,
        "the warm build finished before the kill; nothing was tested"
    );
    check_objects();
    ok(&sb.zccache(["gcc", "-O2", "-c", "t1.c"]));
    let status = sb.status();
    let pid = status["pid"].as_u64().unwrap() as u32;
    assert!(pid != killed && pid != killed_again);
    assert_eq!(sb.read("t1.o"), sb.read("ref/t1.o"));
    // No temporary file of a delivery interrupted by the kill is left.
    let stray: Vec<_> = std::fs::read_dir(&sb.work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.contains("tmp"))
        .collect();
    assert!(stray.is_empty(), "debris in the build dir: {stray:?}");
    let left: Vec<_> = std::fs::read_dir(sb.cache.join("v1/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with(&format!("{killed}-")) || n.starts_with(&format!("{killed_again}-"))
        })
        .collect();
    assert!(
        left.is_empty(),
        "debris of killed daemons survived their successor's start: {left:?}"
    );
}

#[test]
fn f1_broker_sigkilled_mid_build_leaves_the_daemon_serving() {
    const N: usize = 30;
    let sb = Sandbox::new("f1broker");
    std::fs::create_dir_all(sb.path("ref")).unwrap();
    for i in 0..N {
        sb.write(&format!("t{i}.c"), heavy_tu(300 + i));
        ok(&sb.bare(
            "gcc",
            [
                "-O2",
                "-c",
                &format!("t{i}.c"),
                "-o",
                &format!("ref/t{i}.o"),
            ],
        ));
    }
    ok(&sb.zccache(["start"]));
    let daemon = identity_pid(&sb).unwrap();
    let broker_endpoint = broker_endpoint(&sb);
    let broker = server_pid(&broker_endpoint);
    let cmdline = std::fs::read(format!("/proc/{broker}/cmdline")).unwrap();
    assert!(
        cmdline
            .split(|&b| b == 0)
            .next()
            .unwrap()
            .ends_with(b"zccache-broker"),
        "pid {broker} is no broker"
    );

    let done = parallel_build(&sb, N, 6, || {
        sigkill(broker);
        wait_for("the killed broker to die", || is_dead(broker).then_some(()));
    });
    assert!(
        done < N,
        "the build finished before the kill; nothing was tested"
    );
    for i in 0..N {
        assert_eq!(
            sb.read(&format!("t{i}.o")),
            sb.read(&format!("ref/t{i}.o")),
            "t{i}.o differs from bare gcc's"
        );
    }
    // Compiles go straight to the daemon: it served them all, and stays.
    let status = sb.status();
    assert_eq!(
        status["pid"].as_u64(),
        Some(u64::from(daemon)),
        "the daemon was replaced"
    );
    assert_eq!(
        status["misses"].as_u64(),
        Some(N as u64),
        "every compile reached the daemon: {status}"
    );

    // The next broker adopts the live daemon instead of replacing it.
    let started = sb.zccache(["start"]);
    ok(&started);
    assert_eq!(
        String::from_utf8_lossy(&started.stdout).trim(),
        daemon_paths(&sb).endpoint.to_str().unwrap()
    );
    let successor = server_pid(&broker_endpoint);
    assert_ne!(successor, broker);
    assert_eq!(identity_pid(&sb), Some(daemon));
    assert!(!is_dead(daemon));
}

/// A stand-in for gcc that can wait for a gate file before and after the
/// real compile, so a test can order two compiles exactly.
fn gated_gcc(sb: &Sandbox) -> PathBuf {
    let gcc = conformance::which("gcc").expect("gcc on PATH");
    let script = format!(
        "#!/bin/sh\n\
         if [ -n \"$ZCT_BEFORE\" ]; then : > \"$ZCT_BEFORE.waiting\"; while [ ! -e \"$ZCT_BEFORE\" ]; do sleep 0.02; done; fi\n\
         {} \"$@\" || exit $?\n\
         if [ -n \"$ZCT_AFTER\" ]; then : > \"$ZCT_AFTER.waiting\"; while [ ! -e \"$ZCT_AFTER\" ]; do sleep 0.02; done; fi\n",
        gcc.display()
    );
    sb.write("fake/gcc", script);
    let path = sb.path("fake/gcc");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn f1_a_compile_of_a_killed_daemon_never_feeds_its_successor() {
    let sb = Sandbox::new("f1deps");
    let gcc = gated_gcc(&sb);
    let gcc = gcc.to_str().unwrap();
    sb.write("x.h", "#define XV 1\n");
    sb.write("x.c", "#include \"x.h\"\nint x(void) { return XV; }\n");
    sb.write("y.h", "#define YV 1\n");
    sb.write("y.c", "#include \"y.h\"\nint y(void) { return YV; }\n");
    ok(&sb.bare("gcc", ["-c", "x.c", "-o", "x.ref.o"]));
    ok(&sb.bare("gcc", ["-c", "y.c", "-o", "y.ref.o"]));
    let gate = |name: &str| sb.root.join(name);
    let waiting = |name: &str| {
        let marker = sb.root.join(format!("{name}.waiting"));
        wait_for(&format!("{name} to be reached"), || {
            marker.exists().then_some(())
        });
    };

    // The first daemon hands x.c a Miss; its compile waits before running.
    let old = sb
        .cmd(conformance::zccache_bin())
        .env("ZCT_BEFORE", gate("go1"))
        .args([gcc, "-c", "x.c"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    waiting("go1");
    kill_daemon(&sb);

    // Its successor hands y.c a Miss; y.c compiles, then waits before Store
    // while x.c's compile, still running for the dead daemon, finishes.
    let new = sb
        .cmd(conformance::zccache_bin())
        .env("ZCT_AFTER", gate("go2"))
        .args([gcc, "-c", "y.c"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    waiting("go2");
    std::fs::write(gate("go1"), "").unwrap();
    ok(&old.wait_with_output().unwrap());
    assert_eq!(sb.read("x.o"), sb.read("x.ref.o"));
    std::fs::write(gate("go2"), "").unwrap();
    ok(&new.wait_with_output().unwrap());
    assert_eq!(sb.read("y.o"), sb.read("y.ref.o"));

    // y.c's entry hits, and depends on y.h, whatever x.c's compile wrote.
    let again = |expect: &str| {
        std::fs::remove_file(sb.path("y.o")).unwrap();
        let out = sb
            .cmd(conformance::zccache_bin())
            .env("ZCT_AFTER", gate("go2"))
            .args([gcc, "-c", "y.c"])
            .output()
            .unwrap();
        ok(&out);
        assert_eq!(sb.read("y.o"), sb.read(expect), "y.o differs from {expect}");
    };
    let (h0, _, _) = sb.hmp();
    again("y.ref.o");
    assert_eq!(sb.hmp().0, h0 + 1, "y.c was stored and hits");
    sb.write("y.h", "#define YV 2\n");
    ok(&sb.bare("gcc", ["-c", "y.c", "-o", "y.ref2.o"]));
    again("y.ref2.o");
}

/// Resumes a stopped process when dropped, so a failing test never leaves
/// one behind.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGCONT) };
    }
}

#[test]
fn f1_a_wedged_daemon_costs_a_deadline_and_never_acts_late() {
    let sb = Sandbox::new("f1wedged");
    sb.write("w.c", "int w(int x) { return x << 2; }\n");
    sb.write("v.c", "int v(int x) { return x >> 2; }\n");
    ok(&sb.bare("gcc", ["-c", "w.c", "-o", "w.ref.o"]));
    ok(&sb.zccache(["gcc", "-c", "w.c"]));
    std::fs::remove_file(sb.path("w.o")).unwrap();
    let pid = identity_pid(&sb).unwrap();
    assert!(is_our_daemon(&sb, pid));

    // No broker, and none can start: a broker would replace the wedged
    // daemon (tests/broker.rs), and here it must live on to be woken.
    sb.stop_broker();
    let broker = broker_endpoint(&sb);
    wait_for("the broker to leave", || (!broker.exists()).then_some(()));
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) }, 0);
    let resume = Resume(pid);
    let started = Instant::now();
    let out = sb
        .cmd(conformance::zccache_bin())
        .env("ZCCACHE_REQUEST_TIMEOUT_MS", "1000")
        .env("ZCCACHE_BROKER_EXE", "/bin/false")
        .args(["gcc", "-c", "w.c"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(sb.read("w.o"), sb.read("w.ref.o"));
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    // The build moves on and rewrites its object (an objcopy step, say).
    let mut post = sb.read("w.ref.o");
    post.extend_from_slice(b"post-processed");
    std::fs::write(sb.path("w.o"), &post).unwrap();

    // Woken up, the daemon must not act on the Lookup its client gave up on.
    drop(resume);
    ok(&sb.zccache(["gcc", "-c", "v.c"]));
    assert_eq!(
        sb.status()["pid"].as_u64(),
        Some(u64::from(pid)),
        "the wedged daemon was replaced"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        assert_eq!(
            sb.read("w.o"),
            post,
            "a late answer rewrote the build's object"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn f1_a_wrapper_killed_before_its_store_stores_nothing() {
    let sb = Sandbox::new("f1wrapper");
    let gcc = gated_gcc(&sb);
    let gcc = gcc.to_str().unwrap();
    sb.write("k.c", "int k(int x) { return x * 7; }\n");
    ok(&sb.bare("gcc", ["-c", "k.c", "-o", "k.ref.o"]));
    ok(&sb.zccache(["start"]));
    let entries = entry_dirs(&sb);

    // The compile has run; the wrapper dies before it can send the Store.
    let mut wrapper = sb
        .cmd(conformance::zccache_bin())
        .env("ZCT_AFTER", sb.root.join("go"))
        .args([gcc, "-c", "k.c"])
        .spawn()
        .unwrap();
    let marker = sb.root.join("go.waiting");
    wait_for("the compile to finish", || marker.exists().then_some(()));
    sigkill(wrapper.id());
    wrapper.wait().unwrap();
    std::fs::write(sb.root.join("go"), "").unwrap();
    // Whatever the build's object became, nothing was stored from it.
    std::fs::write(sb.path("k.o"), "clobbered by the next build step").unwrap();
    assert_eq!(
        entry_dirs(&sb),
        entries,
        "a Store arrived from a killed wrapper"
    );

    let (h0, m0, _) = sb.hmp();
    let out = sb
        .cmd(conformance::zccache_bin())
        .env("ZCT_AFTER", sb.root.join("go"))
        .args([gcc, "-c", "k.c"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(sb.read("k.o"), sb.read("k.ref.o"));
    assert_eq!(sb.hmp(), (h0, m0 + 1, 0), "the next compile is a miss");
    std::fs::remove_file(sb.path("k.o")).unwrap();
    let out = sb
        .cmd(conformance::zccache_bin())
        .env("ZCT_AFTER", sb.root.join("go"))
        .args([gcc, "-c", "k.c"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(sb.read("k.o"), sb.read("k.ref.o"));
    assert_eq!(sb.hmp(), (h0 + 1, m0 + 1, 0), "and then a hit");
}

/// The entry directories of the store, by name.
fn entry_dirs(sb: &Sandbox) -> Vec<PathBuf> {
    let mut found = vec![];
    let Ok(shards) = std::fs::read_dir(sb.cache.join("v1/entries")) else {
        return found;
    };
    for shard in shards {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            found.push(entry.unwrap().path());
        }
    }
    found.sort();
    found
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate0,
    TruncateHalf,
    TruncateLast,
    /// Three bytes inverted in place, the size unchanged.
    Flip3,
}

fn damage(path: &Path, how: Damage) {
    let len = std::fs::metadata(path).unwrap().len();
    let mode = std::fs::metadata(path).unwrap().permissions();
    // Stored files are read-only; the damage is done as their owner would.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    match how {
        Damage::Truncate0 => f.set_len(0).unwrap(),
        Damage::TruncateHalf => f.set_len(len / 2).unwrap(),
        Damage::TruncateLast => f.set_len(len - 1).unwrap(),
        Damage::Flip3 => {
            use std::io::{Seek, SeekFrom};
            for at in [len / 4, len / 2, len * 3 / 4] {
                let mut b = [0u8];
                f.seek(SeekFrom::Start(at)).unwrap();
                f.read_exact(&mut b).unwrap();
                f.seek(SeekFrom::Start(at)).unwrap();
                f.write_all(&[!b[0]]).unwrap();
            }
        }
    }
    drop(f);
    std::fs::set_permissions(path, mode).unwrap();
    if matches!(how, Damage::Flip3) {
        assert_eq!(
            std::fs::metadata(path).unwrap().len(),
            len,
            "a flip keeps the size"
        );
    }
}

#[test]
fn f2_damaged_entries_are_misses_then_replaced() {
    let sb = Sandbox::new("f2corrupt");
    let cases = [
        ("entry", Damage::Truncate0),
        ("entry", Damage::TruncateHalf),
        ("entry", Damage::TruncateLast),
        ("entry", Damage::Flip3),
        ("out-0", Damage::Truncate0),
        ("out-0", Damage::TruncateHalf),
        ("out-0", Damage::TruncateLast),
        ("out-0", Damage::Flip3),
    ];
    for (i, (file, how)) in cases.into_iter().enumerate() {
        let what = format!("{file} {how:?}");
        let src = format!("c{i}.c");
        let obj = format!("c{i}.o");
        let reference = format!("c{i}.ref.o");
        sb.write(&src, heavy_tu(100 + i));
        ok(&sb.bare("gcc", ["-c", &src, "-o", &reference]));

        let before = entry_dirs(&sb);
        ok(&sb.zccache(["gcc", "-c", &src]));
        let after = entry_dirs(&sb);
        let new: Vec<_> = after.iter().filter(|d| !before.contains(d)).collect();
        assert_eq!(new.len(), 1, "{what}: one new entry expected, got {new:?}");
        let dir = new[0].clone();
        let victim = dir.join(file);
        let original = std::fs::read(&victim).unwrap();
        damage(&victim, how);
        assert_ne!(
            std::fs::read(&victim).unwrap(),
            original,
            "{what}: the damage changed nothing"
        );

        let (h0, m0, _) = sb.hmp();
        let corrupt0 = sb.counter("corrupt_detected");
        std::fs::remove_file(sb.path(&obj)).unwrap();
        ok(&sb.zccache(["gcc", "-c", &src]));
        assert_eq!(
            sb.read(&obj),
            sb.read(&reference),
            "{what}: wrong object after the damage"
        );
        let (h1, m1, _) = sb.hmp();
        assert_eq!(
            (h1, m1),
            (h0, m0 + 1),
            "{what}: the compile after the damage must be a miss"
        );
        assert_eq!(
            sb.counter("corrupt_detected"),
            corrupt0 + 1,
            "{what}: corrupt_detected"
        );
        assert_eq!(
            std::fs::read(&victim).ok().as_ref(),
            Some(&original),
            "{what}: the entry was not replaced by a good one"
        );

        std::fs::remove_file(sb.path(&obj)).unwrap();
        ok(&sb.zccache(["gcc", "-c", &src]));
        assert_eq!(
            sb.read(&obj),
            sb.read(&reference),
            "{what}: wrong object from the new entry"
        );
        let (h2, m2, _) = sb.hmp();
        assert_eq!((h2, m2), (h1 + 1, m1), "{what}: the third compile must hit");
    }
}

/// Files two levels below `dir` (`<shard>/<name>`), sorted.
fn sharded(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    if let Ok(shards) = std::fs::read_dir(dir) {
        for shard in shards {
            for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                found.push(f.unwrap().path());
            }
        }
    }
    found.sort();
    found
}

/// Stops the daemon and waits until its process is gone.
fn stop_daemon(sb: &Sandbox) {
    let pid = identity_pid(sb).expect("a daemon runs");
    ok(&sb.zccache(["stop"]));
    wait_for("the daemon to exit", || is_dead(pid).then_some(()));
}

#[test]
fn f2_damaged_manifests_and_stats_are_reset_on_restart() {
    let sb = Sandbox::new("f2manifest");
    for (i, how) in [Damage::Truncate0, Damage::Flip3, Damage::TruncateLast]
        .into_iter()
        .enumerate()
    {
        let what = format!("manifest {how:?}");
        let src = format!("m{i}.c");
        let obj = format!("m{i}.o");
        let reference = format!("m{i}.ref.o");
        sb.write(&src, heavy_tu(200 + i));
        // `-g`: no second-chance index (cc/second_chance.rs) is written
        // beside the compile's manifest, so the one new manifest is it.
        ok(&sb.bare("gcc", ["-g", "-c", &src, "-o", &reference]));
        let before = sharded(&sb.cache.join("v1/manifests"));
        ok(&sb.zccache(["gcc", "-g", "-c", &src]));
        let after = sharded(&sb.cache.join("v1/manifests"));
        let new: Vec<_> = after.iter().filter(|m| !before.contains(m)).collect();
        assert_eq!(
            new.len(),
            1,
            "{what}: one new manifest expected, got {new:?}"
        );
        let manifest = new[0].clone();

        // The daemon keeps manifests in memory; damage shows after a restart.
        stop_daemon(&sb);
        damage(&manifest, how);
        std::fs::write(sb.cache.join("stats-default.json"), b"\x00{garbage").unwrap();

        std::fs::remove_file(sb.path(&obj)).unwrap();
        ok(&sb.zccache(["gcc", "-g", "-c", &src]));
        assert_eq!(sb.read(&obj), sb.read(&reference), "{what}: wrong object");
        let status = sb.status();
        assert_eq!(
            status["hits"].as_u64(),
            Some(0),
            "{what}: stats after garbage: {status}"
        );
        assert_eq!(
            status["misses"].as_u64(),
            Some(1),
            "{what}: the compile after the damage must be a miss"
        );
        assert_eq!(
            status["corrupt_detected"].as_u64(),
            Some(1),
            "{what}: corrupt_detected"
        );

        std::fs::remove_file(sb.path(&obj)).unwrap();
        ok(&sb.zccache(["gcc", "-g", "-c", &src]));
        assert_eq!(
            sb.read(&obj),
            sb.read(&reference),
            "{what}: wrong object on the hit"
        );
        assert_eq!(sb.hmp().0, 1, "{what}: the manifest was rebuilt and hits");
    }
}

/// Sends each hostile input on its own connection and checks that it is
/// refused, that the server did not allocate what the input claimed, and
/// that the same process keeps serving.
fn hostile_inputs(endpoint: &Path, first_cap: usize) {
    let pid = server_pid(endpoint);
    let rss0 = vm_kib(pid, "VmRSS");
    let peak0 = vm_kib(pid, "VmPeak");

    let valid = request_bytes(1, &status_request());
    let mut wrong_byte = valid.clone();
    wrong_byte[0] = 0x02;
    assert_refused("wrong framing byte", &mut send(endpoint, &wrong_byte));
    assert_refused("framing byte alone", &mut send(endpoint, &[0xff]));

    for _ in 0..8 {
        assert_refused(
            "length 0xFFFFFFFF",
            &mut send(endpoint, &[0x01, 0xff, 0xff, 0xff, 0xff]),
        );
    }
    let over_first = (first_cap as u32 + 1).to_le_bytes();
    assert_refused(
        "first frame over its cap",
        &mut send(
            endpoint,
            &[
                0x01,
                over_first[0],
                over_first[1],
                over_first[2],
                over_first[3],
            ],
        ),
    );
    // After a valid first frame the limit is 16 MiB; one byte more is refused.
    {
        let mut stream = UnixStream::connect(endpoint).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(&valid).unwrap();
        assert!(
            matches!(
                read_answer(&mut stream),
                Answer::Reply(response::Body::Status(_))
            ),
            "status on a fresh connection"
        );
        let over = (::frame::MAX_FRAME as u32 + 1).to_le_bytes();
        let _ = stream.write_all(&[0x01, over[0], over[1], over[2], over[3]]);
        assert_refused("later frame over 16 MiB", &mut stream);
    }

    let mut garbage_body = vec![0x01, 16, 0, 0, 0];
    garbage_body.extend([0xff; 16]);
    assert_refused("garbage envelope", &mut send(endpoint, &garbage_body));
    let mut garbage_payload = ::frame::request_frame(1, &status_request());
    garbage_payload.payload = vec![0xff; 24];
    assert_refused(
        "garbage payload",
        &mut send(endpoint, &::frame::encode_frame(&garbage_payload)),
    );
    let mut other_envelope = ::frame::request_frame(1, &status_request());
    other_envelope.envelope_version = 7;
    assert_refused(
        "envelope version 7",
        &mut send(endpoint, &::frame::encode_frame(&other_envelope)),
    );

    let future = v1::Request {
        protocol_version: 999,
        body: Some(request::Body::Status(v1::StatusRequest { all: false })),
    };
    let mut stream = send(endpoint, &request_bytes(1, &future));
    match read_answer(&mut stream) {
        Answer::Reply(response::Body::VersionMismatch(m)) => {
            assert_eq!(m.expected, ::frame::PROTOCOL_VERSION);
            assert_eq!(m.received, 999);
            assert!(
                !m.peer_version_string.is_empty(),
                "mismatch without a version string"
            );
        }
        other => panic!("protocol 999: expected VersionMismatch, got {other:?}"),
    }
    assert!(
        matches!(read_answer(&mut stream), Answer::Closed),
        "a mismatch closes the connection"
    );

    // A connection that sends three bytes and stalls holds nobody up, and
    // the header deadline closes it.
    let mut stalled = UnixStream::connect(endpoint).unwrap();
    stalled.write_all(&[0x01, 0x10, 0x00]).unwrap();
    assert!(
        matches!(
            exchange(endpoint, &valid),
            Answer::Reply(response::Body::Status(_))
        ),
        "status beside a stalled connection"
    );
    stalled.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_refused("stalled header", &mut stalled);

    assert_eq!(server_pid(endpoint), pid, "the server was replaced");
    let rss1 = vm_kib(pid, "VmRSS");
    let peak1 = vm_kib(pid, "VmPeak");
    assert!(
        rss1 < rss0 + 4 * 1024,
        "VmRSS grew from {rss0} to {rss1} KiB"
    );
    // A lazily zeroed 4 GiB buffer would not show in RSS, but in the peak.
    assert!(
        peak1 < peak0 + 512 * 1024,
        "VmPeak grew from {peak0} to {peak1} KiB"
    );
}

#[test]
fn f3_hostile_bytes_on_both_sockets_are_refused() {
    let sb = Sandbox::new("f3hostile");
    sb.write("h.c", "int h(int x) { return x * 3; }\n");
    ok(&sb.bare("gcc", ["-c", "h.c", "-o", "h.ref.o"]));
    ok(&sb.zccache(["gcc", "-c", "h.c"]));

    let daemon = daemon_paths(&sb).endpoint;
    let broker = broker_endpoint(&sb);
    let daemon_pid = server_pid(&daemon);
    let broker_pid = server_pid(&broker);
    // A daemon's first frame may be a Lookup carrying a whole environment.
    hostile_inputs(&daemon, ::frame::MAX_FIRST_LOOKUP_FRAME);
    hostile_inputs(&broker, ::frame::MAX_FIRST_FRAME);

    // Both still serve: a compile hits through the same daemon, the broker
    // still routes and answers status.
    let (h0, _, _) = sb.hmp();
    std::fs::remove_file(sb.path("h.o")).unwrap();
    ok(&sb.zccache(["gcc", "-c", "h.c"]));
    assert_eq!(sb.read("h.o"), sb.read("h.ref.o"));
    assert_eq!(sb.hmp().0, h0 + 1, "the compile after the abuse must hit");
    assert_eq!(sb.status()["pid"].as_u64(), Some(u64::from(daemon_pid)));
    ok(&sb.zccache(["start"]));
    assert_eq!(server_pid(&broker), broker_pid);
    match exchange(&broker, &request_bytes(1, &status_request())) {
        Answer::Reply(response::Body::Status(s)) => {
            let all: serde_json::Value = serde_json::from_str(&s.json).unwrap();
            assert!(all.is_array(), "broker status is a list: {all}");
        }
        other => panic!("broker status: {other:?}"),
    }
}

#[test]
fn f4_unusable_runtime_dir_falls_back_to_a_direct_compile() {
    let sb = Sandbox::new("f4rtdir");
    sb.write("r.c", "int r(int x) { return x - 1; }\n");
    ok(&sb.bare("gcc", ["-c", "r.c", "-o", "r.ref.o"]));
    let open = sb.root.join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let private = sb.root.join("private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = sb.root.join("link");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    let file = sb.root.join("file");
    std::fs::write(&file, "").unwrap();

    let cases: [(&str, &Path); 4] = [
        ("mode 0777", &open),
        ("a symlink to a private dir", &link),
        ("a regular file", &file),
        ("a relative path", Path::new("rt-relative")),
    ];
    for (what, dir) in cases {
        for log in ["0", "1"] {
            let _ = std::fs::remove_file(sb.path("r.o"));
            let out = sb
                .cmd(conformance::zccache_bin())
                .env("ZCCACHE_RUNTIME_DIR", dir)
                .env("ZCCACHE_LOG", log)
                .args(["gcc", "-c", "r.c"])
                .output()
                .unwrap();
            ok(&out);
            assert_eq!(sb.read("r.o"), sb.read("r.ref.o"), "{what}: wrong object");
            assert!(out.stdout.is_empty(), "{what}: stdout changed");
            let text = String::from_utf8_lossy(&out.stderr);
            if log == "0" {
                assert!(
                    text.is_empty(),
                    "{what}: a silent fallback printed: {text:?}"
                );
            } else {
                assert_eq!(
                    text.lines().count(),
                    1,
                    "{what}: one warning line expected: {text:?}"
                );
                assert!(
                    text.starts_with("zccache: ") && text.contains("runtime"),
                    "{what}: warning: {text:?}"
                );
            }
        }
    }

    // Refused, not used: nothing was created in or through them.
    for dir in [&open, &private] {
        let inside: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(inside.is_empty(), "{} was used: {inside:?}", dir.display());
    }
    assert!(
        !sb.path("rt-relative").exists(),
        "the relative runtime dir was created"
    );
    assert_eq!(
        std::fs::metadata(&open).unwrap().permissions().mode() & 0o7777,
        0o777
    );
}

#[test]
fn f4_compile_errors_and_warnings_are_exactly_the_compilers() {
    let sb = Sandbox::new("f4errors");
    sb.write(
        "bad.c",
        "int bad(void) { return missing + 1; }\nint also_bad(void) { return ; }\n",
    );
    sb.write("warn.c", "int warn(int x) { int unused; return x; }\n");
    let open = sb.root.join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();

    let cases: [&[&str]; 4] = [
        &["-c", "bad.c"],
        &["-c", "no-such-file.c"],
        &["-Wall", "-c", "warn.c"],
        &["-Wall", "-Werror", "-c", "warn.c"],
    ];
    for args in cases {
        let bare = sb.bare("gcc", args);
        assert!(
            !bare.stderr.is_empty(),
            "{args:?}: the case must produce diagnostics"
        );
        // Twice through the daemon (a miss, then a hit or a recompile), then
        // once with the cache unreachable.
        for round in ["first", "second", "fallback"] {
            let mut cmd = sb.cmd(conformance::zccache_bin());
            if round == "fallback" {
                cmd.env("ZCCACHE_RUNTIME_DIR", &open);
            }
            let out = cmd.arg("gcc").args(args).output().unwrap();
            assert_eq!(
                out.status.code(),
                bare.status.code(),
                "{args:?} {round}: exit code"
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&bare.stderr),
                "{args:?} {round}: stderr"
            );
            assert_eq!(out.stdout, bare.stdout, "{args:?} {round}: stdout");
        }
    }
    // The successful warning case was cached and replayed.
    assert!(sb.hmp().0 >= 1, "the warning compile never hit");

    // A compiler that fails in its own way: its exit code and both streams
    // come through untouched, from the cache path and the fallback alike.
    sb.write(
        "odd/gcc",
        "#!/bin/sh\necho 'odd: out'\necho 'odd: err' >&2\nexit 3\n",
    );
    let odd = sb.path("odd/gcc");
    std::fs::set_permissions(&odd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let odd = odd.to_str().unwrap();
    sb.write("ok.c", "int ok(void) { return 0; }\n");
    for round in ["first", "second", "fallback"] {
        let mut cmd = sb.cmd(conformance::zccache_bin());
        if round == "fallback" {
            cmd.env("ZCCACHE_RUNTIME_DIR", &open);
        }
        let out = cmd.args([odd, "-c", "ok.c"]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "odd compiler {round}: exit code"
        );
        assert_eq!(out.stdout, b"odd: out\n", "odd compiler {round}: stdout");
        assert_eq!(out.stderr, b"odd: err\n", "odd compiler {round}: stderr");
        assert!(
            !sb.path("ok.o").exists(),
            "odd compiler {round}: an object appeared"
        );
    }
}

/// How a squatter on the daemon endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Squat {
    /// A length prefix of 0xFFFFFFFF.
    HugeLength,
    /// A typed mismatch from a "newer" server.
    Mismatch,
    /// A framed body that is no protobuf.
    Garbage,
    /// Reads the request and never answers.
    Silent,
}

struct SetOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Serves `mode` on `endpoint` until `stop` is set.
fn squat(endpoint: &Path, mode: Squat, stop: &std::sync::atomic::AtomicBool) {
    let listener = std::os::unix::net::UnixListener::bind(endpoint).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::scope(|s| {
        while !stop.load(Ordering::SeqCst) {
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(e) => panic!("accept: {e}"),
            };
            s.spawn(move || {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(PATIENCE)).unwrap();
                let Ok(request) = ::frame::read_frame(&mut stream, ::frame::MAX_FRAME) else {
                    return;
                };
                let reply = match mode {
                    Squat::HugeLength => vec![0x01, 0xff, 0xff, 0xff, 0xff],
                    Squat::Mismatch => {
                        let m = v1::VersionMismatch {
                            expected: 999,
                            received: ::frame::PROTOCOL_VERSION,
                            peer_version_string: "9.9.9".into(),
                        };
                        ::frame::encode_frame(&::frame::response_frame(
                            request.request_id,
                            &v1::Response::version_mismatch(m),
                        ))
                    }
                    Squat::Garbage => vec![0x01, 6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                    Squat::Silent => vec![],
                };
                let _ = stream.write_all(&reply);
                // Hold the connection until the peer gives up.
                let _ = stream.read(&mut [0u8; 1]);
            });
        }
    });
}

#[test]
fn f4_a_hostile_daemon_endpoint_never_breaks_a_build() {
    let sb = Sandbox::new("f4squat");
    sb.write(
        "s.c",
        "#include <stdio.h>\nint s(void) { return puts(\"s\"); }\n",
    );
    ok(&sb.bare("gcc", ["-c", "s.c", "-o", "s.ref.o"]));
    let endpoint = daemon_paths(&sb).endpoint;
    for mode in [
        Squat::HugeLength,
        Squat::Mismatch,
        Squat::Garbage,
        Squat::Silent,
    ] {
        let _ = std::fs::remove_file(&endpoint);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| squat(&endpoint, mode, &stop));
            // Set even when an assertion below panics, or the scope would
            // wait for the squatter forever.
            let _stop_squatter = SetOnDrop(&stop);
            wait_for("the squatter to listen", || {
                UnixStream::connect(&endpoint).ok()
            });
            for log in ["0", "1"] {
                let _ = std::fs::remove_file(sb.path("s.o"));
                let started = Instant::now();
                let out = sb
                    .cmd(conformance::zccache_bin())
                    .env("ZCCACHE_REQUEST_TIMEOUT_MS", "1000")
                    .env("ZCCACHE_LOG", log)
                    .args(["gcc", "-c", "s.c"])
                    .output()
                    .unwrap();
                ok(&out);
                assert_eq!(sb.read("s.o"), sb.read("s.ref.o"), "{mode:?}: wrong object");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.stdout.is_empty(), "{mode:?}: stdout changed: {out:?}");
                // The broker replaces a squatter that fails the identity
                // probe, so the compile may be served by a real daemon; a
                // fallback says so in one line.
                if log == "0" || stderr.is_empty() {
                    assert!(stderr.is_empty(), "{mode:?}: stderr changed: {stderr:?}");
                } else {
                    assert!(
                        stderr.starts_with("zccache: ") && stderr.lines().count() == 1,
                        "{mode:?}: one warning expected: {stderr:?}"
                    );
                }
                // Two one-second answer deadlines and a spawn attempt, at most.
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{mode:?}: took {:?}",
                    started.elapsed()
                );
            }
            // The squatter's endpoint now belongs to a real daemon of ours.
            assert_ne!(
                server_pid(&endpoint),
                std::process::id(),
                "{mode:?}: the squatter still owns the endpoint"
            );
        });
    }
}

/// A compiler too old for the prefix map path remap adds (gcc < 8 rejects
/// `-ffile-prefix-map`): the build is the caller's own command, byte for
/// byte, and a real error in the same setting is still the compiler's.
#[test]
fn f4_a_compiler_refusing_the_remap_option_never_breaks_a_build() {
    let sb = Sandbox::new("f4oldgcc");
    let gcc = conformance::which("gcc").expect("gcc on PATH");
    sb.write(
        "fake/gcc",
        format!(
            "#!/bin/sh\n\
             for a in \"$@\"; do case \"$a\" in -ffile-prefix-map=*) \
             echo \"gcc: error: unrecognized command-line option '$a'\" >&2; exit 1;; esac; done\n\
             exec {} \"$@\"\n",
            gcc.display()
        ),
    );
    let fake = sb.path("fake/gcc");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(sb.path(".git")).unwrap();
    sb.write("a.c", "int a(void) { return 1; }\n");
    sb.write("bad.c", "int b(void) { return }\n");
    conformance::backdate(&sb.path("a.c"));
    conformance::backdate(&sb.path("bad.c"));
    let fake = fake.to_str().unwrap();
    let bare = sb.bare(fake, ["-g", "-c", "a.c", "-o", "bare.o"]);
    ok(&bare);

    for round in 0..2 {
        let via = sb
            .cmd(conformance::zccache_bin())
            .env("ZCCACHE_PATH_REMAP", "auto")
            .args([fake, "-g", "-c", "a.c", "-o", "a.o"])
            .output()
            .unwrap();
        assert!(
            via.status.success() && via.stderr.is_empty(),
            "round {round}: the build broke on the option zccache added: {:?}",
            String::from_utf8_lossy(&via.stderr)
        );
        assert_eq!(sb.read("a.o"), sb.read("bare.o"), "round {round}");
    }
    let bad_bare = sb.bare(fake, ["-c", "bad.c", "-o", "bad.o"]);
    let bad = sb
        .cmd(conformance::zccache_bin())
        .env("ZCCACHE_PATH_REMAP", "auto")
        .args([fake, "-c", "bad.c", "-o", "bad.o"])
        .output()
        .unwrap();
    assert_eq!(
        (bad.status.code(), &bad.stderr),
        (bad_bare.status.code(), &bad_bare.stderr),
        "a real compile error under remap"
    );
}
