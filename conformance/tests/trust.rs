//! Trust between users, over the real binaries (issue 9): a second uid,
//! created here with `useradd` and run with `setpriv`, forges identity
//! files and poisons cache roots it can write; the broker signals nothing
//! of ours on a file's word, and a cache root that is not ours alone is
//! never used. As that user: a squatted `/tmp` runtime name moves the
//! runtime directory home, and a root the daemon cannot publish its
//! identity in is backed off instead of respawned on every compile.
//!
//! It observes what a user could: `/proc`, files in the cache root, the
//! wrapper's stderr and `zccache status`. Runs as root (to create the
//! second user and hand it files), like the rest of the suite.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use conformance::{ok, wait_for, Sandbox};

/// The name of the second user the tests act as.
const OTHER_USER: &str = "zccache-other";

/// The uid and gid of [`OTHER_USER`], created on first use. Concurrent
/// `useradd` runs (other test binaries) may find the user made already, or
/// the passwd file locked for a moment.
fn other_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        assert_eq!(router::euid(), 0, "creating a second user needs root");
        wait_for("useradd to create the second user", || {
            let out = Command::new("useradd")
                .args(["--system", "--no-create-home", "--shell", "/bin/sh"])
                .arg(OTHER_USER)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            // 9: the name is taken already, by us or a concurrent run.
            (out.status.success() || out.status.code() == Some(9)).then_some(())
        });
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .arg(flag)
                .arg(OTHER_USER)
                .output()
                .unwrap();
            ok(&out);
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        (id("-u"), id("-g"))
    })
}

/// `sh -c script` as the second user, no supplementary groups.
fn as_other(script: &str) -> Command {
    let (uid, gid) = other_user();
    let mut cmd = Command::new("setpriv");
    cmd.arg("--reuid")
        .arg(uid.to_string())
        .arg("--regid")
        .arg(gid.to_string())
        .arg("--clear-groups")
        .args(["sh", "-c", script, "sh"])
        .stdin(Stdio::null());
    cmd
}

/// Writes `bytes` to `path` as the second user (creating its directory).
fn write_as_other(path: &Path, bytes: &[u8]) {
    let mut child = as_other("mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"")
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), bytes).unwrap();
    ok(&child.wait_with_output().unwrap());
}

/// A `sleep` of ours (root's) that must survive the test untouched;
/// killed when dropped.
struct Victim(Child);

impl Victim {
    fn start() -> Victim {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        wait_for("the victim to sleep", || {
            (proc_state(pid) == Some('S')).then_some(())
        });
        Victim(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Panics unless the victim still sleeps with no signal pending.
    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        let pid = self.pid();
        assert_eq!(
            proc_state(pid),
            Some('S'),
            "{what}: the victim was disturbed"
        );
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        for field in ["SigPnd:", "ShdPnd:"] {
            let line = status.lines().find(|l| l.starts_with(field)).unwrap();
            assert!(
                line.trim_end().ends_with("0000000000000000"),
                "{what}: a signal is pending for the victim: {line}"
            );
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `/proc/<pid>/stat` state letter, `None` once the pid is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn default_paths(sb: &Sandbox) -> router::DaemonPaths {
    let rt = router::RuntimeDir::at(&sb.runtime).expect("sandbox runtime dir");
    let root = std::fs::canonicalize(&sb.cache).unwrap();
    router::daemon_paths(&rt, &root, "default", ::frame::PROTOCOL_VERSION)
}

/// An identity record naming `pid` with its true start time and boot id
/// and this sandbox's endpoint and root: everything a forger can read.
fn forged_identity(sb: &Sandbox, pid: u32, exe: &str) -> Vec<u8> {
    let paths = default_paths(sb);
    router::Identity {
        pid,
        start_time: router::running_start_time(pid).unwrap(),
        boot_id: router::current_boot_id().unwrap(),
        exe_path: PathBuf::from(exe),
        exe_blake3: "00".repeat(32),
        package_version: "0.1.0".into(),
        protocol_version: ::frame::PROTOCOL_VERSION,
        endpoint: paths.endpoint,
        cache_root: std::fs::canonicalize(&sb.cache).unwrap(),
        namespace: "default".into(),
        started_at_unix_ms: 0,
    }
    .to_json()
}

fn compile(sb: &Sandbox, args: &[&str]) -> Output {
    sb.cmd(conformance::zccache_bin())
        .args(args)
        .output()
        .unwrap()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn t1_an_identity_forged_by_another_user_gets_nobody_signalled() {
    let sb = Sandbox::new("t1forged");
    sb.write("f.c", "int f(int x) { return x * 5; }\n");
    ok(&sb.bare("gcc", ["-c", "f.c", "-o", "f.ref.o"]));
    // A root another user may write: they plant an identity naming our
    // sleep, true start time and boot id, and a daemon's executable name.
    set_mode(&sb.cache, 0o777);
    let victim = Victim::start();
    let file = default_paths(&sb).identity_file;
    write_as_other(
        &file,
        &forged_identity(&sb, victim.pid(), "/usr/bin/zccache-daemon"),
    );
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), other_user().0);

    for _ in 0..2 {
        let _ = std::fs::remove_file(sb.path("f.o"));
        ok(&compile(&sb, &["gcc", "-c", "f.c"]));
        assert_eq!(sb.read("f.o"), sb.read("f.ref.o"));
        victim.assert_untouched("forged identity");
    }
    // Give a late signal every chance to land.
    std::thread::sleep(Duration::from_millis(200));
    victim.assert_untouched("forged identity, later");
    // The root is not ours alone, so it is not used at all.
    assert_eq!(spawned(&sb), 0, "a daemon was started for the open root");
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), other_user().0);
}

/// Every path under `dir`, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(list) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in list.flatten() {
            let path = entry.path();
            out.push(path.clone());
            if path.is_dir() && !path.is_symlink() {
                walk(&path, out);
            }
        }
    }
    let mut found = vec![];
    walk(dir, &mut found);
    found.sort();
    found
}

/// Three compiles in a root that is not ours alone: each as bare gcc's,
/// nothing written into the root, the reason said once, and `status`
/// showing it.
fn check_root_not_used(sb: &Sandbox, what: &str) {
    sb.write("n.c", "int n(int x) { return x - 9; }\n");
    ok(&sb.bare("gcc", ["-c", "n.c", "-o", "n.ref.o"]));
    let before = tree(&sb.cache);
    let spawned_before = spawned(sb);
    let mut said = vec![];
    for _ in 0..3 {
        let _ = std::fs::remove_file(sb.path("n.o"));
        let out = compile(sb, &["gcc", "-c", "n.c"]);
        ok(&out);
        assert_eq!(sb.read("n.o"), sb.read("n.ref.o"), "{what}: wrong object");
        said.extend(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned),
        );
    }
    assert_eq!(said.len(), 1, "{what}: one line, once: {said:?}");
    assert!(
        said[0].starts_with("zccache: cache root ") && said[0].contains("is not used"),
        "{what}: {said:?}"
    );
    assert_eq!(tree(&sb.cache), before, "{what}: the root was written");
    let status = sb.status();
    assert_eq!(status["refused"], "foreign_cache_root", "{what}: {status}");
    assert!(
        status["detail"].as_str().unwrap().contains("is not used"),
        "{what}: {status}"
    );
    let text = sb.zccache(["status"]);
    ok(&text);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("is not used"),
        "{what}: {}",
        String::from_utf8_lossy(&text.stdout)
    );
    // No daemon was started for it.
    assert_eq!(spawned(sb), spawned_before, "{what}: a daemon was spawned");
}

/// How many daemons this sandbox's brokers spawned.
fn spawned(sb: &Sandbox) -> usize {
    std::fs::read_to_string(
        sb.runtime
            .join(format!("broker-p{}.log", ::frame::PROTOCOL_VERSION)),
    )
    .unwrap_or_default()
    .matches("spawned daemon")
    .count()
}

#[test]
fn t2_a_root_others_may_write_is_not_used() {
    let sb = Sandbox::new("t2open");
    set_mode(&sb.cache, 0o777);
    check_root_not_used(&sb, "mode 0777");
}

#[test]
fn t2_a_root_of_another_user_is_not_used() {
    let sb = Sandbox::new("t2owner");
    let (uid, gid) = other_user();
    std::os::unix::fs::chown(&sb.cache, Some(uid), Some(gid)).unwrap();
    set_mode(&sb.cache, 0o755);
    check_root_not_used(&sb, "owned by another uid");
}

#[test]
fn t2_a_store_dir_others_may_write_is_not_used() {
    let sb = Sandbox::new("t2store");
    sb.write("s.c", "int s(void) { return 3; }\n");
    ok(&compile(&sb, &["gcc", "-c", "s.c"]));
    ok(&sb.zccache(["stop"]));
    set_mode(&sb.cache.join("v1/entries"), 0o777);
    check_root_not_used(&sb, "v1/entries 0777");
}

#[test]
fn t2_the_daemon_refuses_a_root_others_may_write() {
    let sb = Sandbox::new("t2daemon");
    set_mode(&sb.cache, 0o777);
    let paths = default_paths(&sb);
    std::fs::create_dir_all(&sb.runtime).unwrap();
    set_mode(&sb.runtime, 0o700);
    let out = Command::new(conformance::bin_dir().join("zccache-daemon"))
        .arg("--cache-root")
        .arg(std::fs::canonicalize(&sb.cache).unwrap())
        .args(["--namespace", "default", "--endpoint"])
        .arg(&paths.endpoint)
        .arg("--identity")
        .arg(&paths.identity_file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not used"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tree(&sb.cache).is_empty(), "{:?}", tree(&sb.cache));
    assert!(!paths.endpoint.exists());
}

/// Rewrites the entry file of a one-output entry so that its output is
/// `object`: size, digest and checksum recomputed, as anyone can.
fn poisoned_entry(entry: &[u8], stored: &[u8], object: &[u8]) -> Vec<u8> {
    let payload_len = u32::from_le_bytes(entry[6..10].try_into().unwrap()) as usize;
    let mut out = entry[..10 + payload_len].to_vec();
    let mut at = 10 + 32 + 4;
    for _ in 0..2 {
        let len = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len;
    }
    let count = u16::from_le_bytes(out[at..at + 2].try_into().unwrap());
    at += 2;
    let want = blake3::hash(stored);
    let mut found = false;
    for _ in 0..count {
        at += 1 + out[at] as usize;
        let size = u64::from_le_bytes(out[at..at + 8].try_into().unwrap());
        if size == stored.len() as u64 && out[at + 8..at + 40] == *want.as_bytes() {
            out[at..at + 8].copy_from_slice(&(object.len() as u64).to_le_bytes());
            out[at + 8..at + 40].copy_from_slice(blake3::hash(object).as_bytes());
            found = true;
        }
        at += 40;
    }
    assert!(found, "the stored object is not among the entry's outputs");
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

#[test]
fn t2_a_root_poisoned_by_another_user_is_never_read() {
    let sb = Sandbox::new("t2poison");
    sb.write(
        "good.c",
        "#include <stdio.h>\nint main(void) { puts(\"good\"); return 0; }\n",
    );
    sb.write(
        "evil.c",
        "#include <stdio.h>\nint main(void) { puts(\"evil\"); return 0; }\n",
    );
    ok(&sb.bare("gcc", ["-c", "evil.c", "-o", "evil.o"]));
    ok(&compile(&sb, &["gcc", "-c", "good.c"]));
    ok(&sb.zccache(["stop"]));
    let stored = sb.read("good.o");
    let entries: Vec<PathBuf> = tree(&sb.cache.join("v1/entries"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "entry"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let dir = entries[0].parent().unwrap().to_path_buf();
    let evil = sb.read("evil.o");
    let poisoned = poisoned_entry(&std::fs::read(&entries[0]).unwrap(), &stored, &evil);

    // The root is opened to everyone, and another user poisons it.
    ok(&Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(&sb.cache)
        .output()
        .unwrap());
    for out in std::fs::read_dir(&dir).unwrap().flatten() {
        if std::fs::read(out.path()).unwrap() == stored {
            write_as_other(&out.path(), &evil);
        }
    }
    write_as_other(&entries[0], &poisoned);

    std::fs::remove_file(sb.path("good.o")).unwrap();
    ok(&compile(&sb, &["gcc", "-c", "good.c"]));
    ok(&sb.bare("gcc", ["good.o", "-o", "good"]));
    let run = Command::new(sb.path("good")).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "good\n",
        "the poisoned entry was served"
    );
    assert_eq!(sb.read("good.o"), stored);
}

/// Removes a directory when dropped.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `zccache <args>` as the second user in `sb`, with its own home and the
/// default runtime directory choice (no ZCCACHE_RUNTIME_DIR, no
/// XDG_RUNTIME_DIR).
fn zccache_as_other(sb: &Sandbox, home: &Path, args: &[&str]) -> Output {
    let (uid, gid) = other_user();
    sb.cmd("setpriv")
        .arg("--reuid")
        .arg(uid.to_string())
        .arg("--regid")
        .arg(gid.to_string())
        .arg("--clear-groups")
        .arg(conformance::zccache_bin())
        .args(args)
        .env_remove("ZCCACHE_RUNTIME_DIR")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", home)
        .output()
        .unwrap()
}

#[test]
fn t5_a_squatted_tmp_runtime_dir_moves_to_the_home() {
    let (uid, gid) = other_user();
    let sb = Sandbox::new("t5squat");
    sb.write("q.c", "int q(int x) { return x | 6; }\n");
    ok(&sb.bare("gcc", ["-c", "q.c", "-o", "q.ref.o"]));
    let home = sb.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    ok(&Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(&sb.root)
        .output()
        .unwrap());
    // Someone else (here root) made the second user's /tmp name first.
    let squatted = PathBuf::from(format!("/tmp/zccache-{uid}"));
    let _ = std::fs::remove_dir_all(&squatted);
    std::fs::create_dir(&squatted).unwrap();
    set_mode(&squatted, 0o700);
    let _cleanup = Removed(squatted.clone());
    struct StopAll<'a>(&'a Sandbox, &'a Path);
    impl Drop for StopAll<'_> {
        fn drop(&mut self) {
            let _ = zccache_as_other(self.0, self.1, &["stop", "--all"]);
        }
    }
    let _stop = StopAll(&sb, &home);

    let mut said = vec![];
    for _ in 0..3 {
        let _ = std::fs::remove_file(sb.path("q.o"));
        let out = zccache_as_other(&sb, &home, &["gcc", "-c", "q.c"]);
        ok(&out);
        assert_eq!(sb.read("q.o"), sb.read("q.ref.o"));
        said.extend(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned),
        );
    }
    let fallback = home.join(".cache/zccache-runtime");
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(
        said[0].contains(squatted.to_str().unwrap())
            && said[0].contains(fallback.to_str().unwrap()),
        "{said:?}"
    );
    let meta = std::fs::symlink_metadata(&fallback).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (uid, 0o700));
    assert!(fallback
        .join(format!("broker-p{}.sock", ::frame::PROTOCOL_VERSION))
        .exists());
    assert_eq!(std::fs::read_dir(&squatted).unwrap().count(), 0);
    // Caching works there: the repeats were hits.
    let status = zccache_as_other(&sb, &home, &["status", "--json"]);
    ok(&status);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["hits"].as_u64().unwrap() >= 1, "{status}");
}

#[test]
fn t5_a_root_the_daemon_cannot_publish_in_is_backed_off() {
    // As the second user, since root may write anywhere: its own root,
    // private, but with a daemons/ directory it may not write.
    let (uid, gid) = other_user();
    let sb = Sandbox::new("t5publish");
    sb.write("p.c", "int p(int x) { return x * 11; }\n");
    ok(&sb.bare("gcc", ["-c", "p.c", "-o", "p.ref.o"]));
    let home = sb.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(sb.cache.join("daemons")).unwrap();
    ok(&Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(&sb.root)
        .output()
        .unwrap());
    set_mode(&sb.cache, 0o700);
    set_mode(&sb.cache.join("daemons"), 0o500);
    let run = |args: &[&str]| {
        sb.cmd("setpriv")
            .arg("--reuid")
            .arg(uid.to_string())
            .arg("--regid")
            .arg(gid.to_string())
            .arg("--clear-groups")
            .arg(conformance::zccache_bin())
            .args(args)
            .env("HOME", &home)
            .env("ZCCACHE_DAEMON_BACKOFF_SECS", "3600")
            .env("ZCCACHE_SPAWN_TIMEOUT_MS", "60000")
            .env("ZCCACHE_REQUEST_TIMEOUT_MS", "60000")
            .output()
            .unwrap()
    };
    struct StopAll<F: Fn(&[&str]) -> Output>(F);
    impl<F: Fn(&[&str]) -> Output> Drop for StopAll<F> {
        fn drop(&mut self) {
            let _ = (self.0)(&["stop", "--all"]);
        }
    }
    let run = StopAll(run);
    let mut said = vec![];
    for _ in 0..6 {
        let _ = std::fs::remove_file(sb.path("p.o"));
        let out = (run.0)(&["gcc", "-c", "p.c"]);
        ok(&out);
        assert_eq!(sb.read("p.o"), sb.read("p.ref.o"));
        said.extend(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned),
        );
    }
    assert_eq!(spawned(&sb), 2, "one spawn per compile is a respawn loop");
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(said[0].contains("cannot publish identity"), "{said:?}");
    let status: serde_json::Value =
        serde_json::from_slice(&ok(&(run.0)(&["status", "--json"])).stdout).unwrap();
    assert_eq!(status["refused"], "daemon_backoff", "{status}");
}
