//! Trust between users, over the real binaries (issue 9): a second uid,
//! created here with `useradd` and run with `setpriv`, forges identity
//! files and poisons cache roots it can write; the broker signals nothing
//! of ours on a file's word, and a cache root that is not ours alone is
//! never used.
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
}
