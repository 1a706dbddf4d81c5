//! Test support for the black-box conformance suite: locating the built
//! binaries, a private sandbox per test (cache root, runtime dir, work dir),
//! running commands through `zccache` and reading its status.
//!
//! It holds no assertions about zccache's behaviour; those live in
//! `tests/`. It never mocks a component: every call runs a real binary.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod diff;
pub mod servers;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The directory holding `zccache`, `zccache-broker` and `zccache-daemon`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ZCCACHE_BIN_DIR") {
        return PathBuf::from(d);
    }
    // conformance/ → workspace root → target/<profile>
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target"));
    target.join("debug")
}

pub fn zccache_bin() -> PathBuf {
    bin_dir().join("zccache")
}

/// One test's private world: its own cache root, runtime directory (so its
/// own broker and daemons) and work directory. Dropping it stops them.
pub struct Sandbox {
    pub root: PathBuf,
    pub cache: PathBuf,
    pub runtime: PathBuf,
    pub work: PathBuf,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Short paths: socket names must fit in 108 bytes.
        let root = PathBuf::from(format!(
            "/tmp/zcc-t{}-{}-{}",
            std::process::id(),
            n,
            &name[..name.len().min(12)]
        ));
        let _ = std::fs::remove_dir_all(&root);
        let cache = root.join("cache");
        let runtime = root.join("rt");
        let work = root.join("w");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        Sandbox {
            root,
            cache,
            runtime,
            work,
        }
    }

    /// A command with the sandbox's environment, cwd = work dir.
    /// Waits first until the files this thread backdated have settled
    /// (see [`backdate`]).
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        settle();
        let mut c = Command::new(program);
        c.current_dir(&self.work)
            .env("ZCCACHE_CACHE_DIR", &self.cache)
            .env("ZCCACHE_RUNTIME_DIR", &self.runtime)
            .env("ZCCACHE_IDLE_TIMEOUT", "600")
            // No config file of the machine's user applies in here.
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env_remove("ZCCACHE_CONFIG")
            .env_remove("ZCCACHE_MAX_SIZE")
            .env_remove("ZCCACHE_DISABLE")
            .env_remove("ZCCACHE_DAEMON_NAMESPACE")
            .env_remove("SOURCE_DATE_EPOCH")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        c
    }

    /// `zccache <args…>` in the work dir.
    pub fn zccache<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(zccache_bin())
            .args(args)
            .output()
            .expect("run zccache")
    }

    /// The bare compiler, same environment, for reference outputs.
    pub fn bare<I, S>(&self, compiler: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(compiler)
            .args(args)
            .output()
            .expect("run compiler")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    /// Write a file under the work dir, backdated so the too-new guard
    /// (inputs modified after the compile started) does not interfere.
    pub fn write(&self, rel: &str, body: impl AsRef<[u8]>) {
        let p = self.work.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, body).unwrap();
        backdate(&p);
    }

    /// Makes the next command wait until every file and directory under
    /// the work dir has a ctime old enough for the too-new guard: for files
    /// a test or a compile just wrote, whose ctime backdating cannot move.
    pub fn settle_work(&self) {
        fn walk(dir: &Path) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = entry.path();
                register_ctime(&p);
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&p);
                }
            }
        }
        register_ctime(&self.work);
        walk(&self.work);
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.work.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// `zccache status --json` as a JSON value.
    pub fn status(&self) -> serde_json::Value {
        let out = self.zccache(["status", "--json"]);
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.status()[name].as_u64().unwrap_or(0)
    }

    /// (hits, misses, passthrough) right now.
    pub fn hmp(&self) -> (u64, u64, u64) {
        let s = self.status();
        let g = |k: &str| s[k].as_u64().unwrap_or(0);
        (g("hits"), g("misses"), g("passthrough"))
    }
}

impl Sandbox {
    /// Ask this sandbox's broker to exit (it would idle out after minutes).
    pub fn stop_broker(&self) {
        use std::io::Write;
        let endpoint = self
            .runtime
            .join(format!("broker-p{}.sock", frame::PROTOCOL_VERSION));
        let shutdown = frame::v1::Request::new(frame::v1::request::Body::Shutdown(
            frame::v1::ShutdownRequest { all: false },
        ));
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(endpoint) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(&frame::encode_frame(&frame::request_frame(1, &shutdown)));
            let _ = std::io::Read::read(&mut s, &mut [0u8; 64]);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.zccache(["stop"]);
        self.stop_broker();
        // The broker exits on its own; give processes a moment, then remove.
        std::thread::sleep(Duration::from_millis(50));
        if std::env::var_os("ZCCACHE_KEEP_SANDBOX").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// How long a test waits for something that should happen: long enough
/// for a loaded 2-core machine; only failures ever wait it out.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `f` until it returns `Some`, panicking with `what` after
/// [`PATIENCE`].
#[track_caller]
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_for_within(PATIENCE, what, f)
}

/// [`wait_for`] with another patience.
#[track_caller]
pub fn wait_for_within<T>(patience: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// The pid of whoever listens on `endpoint` (SO_PEERCRED).
pub fn server_pid(endpoint: &Path) -> u32 {
    let stream = std::os::unix::net::UnixStream::connect(endpoint)
        .unwrap_or_else(|e| panic!("connect {}: {e}", endpoint.display()));
    sys::peer_cred(&stream).expect("SO_PEERCRED").0
}

/// Set a file's mtime an hour into the past. Setting it makes the ctime
/// "now", which the daemon's too-new guard (20 ms, or one coarse clock tick
/// if longer) counts as a change during a compile that starts right after:
/// such a compile is not stored. So the next command this thread builds
/// with [`Sandbox::cmd`] waits until the ctime is old enough (see
/// [`settle`]); without that, whether a test's first compile stores would
/// depend on how fast the machine is.
pub fn backdate(p: &Path) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    let t = SystemTime::now() - Duration::from_secs(3600);
    f.set_modified(t).unwrap();
    drop(f);
    wait_for_ctime(p);
}

/// Makes the next command this thread builds with [`Sandbox::cmd`] wait
/// until `p`'s ctime is old enough for the too-new guard (see [`backdate`]).
pub fn wait_for_ctime(p: &Path) {
    std::fs::metadata(p).unwrap();
    register_ctime(p);
}

/// Registers `p`'s own ctime (a link's, not its target's) with
/// [`settle`]; a path that vanished has nothing to wait for.
fn register_ctime(p: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return;
    };
    let ctime = UNIX_EPOCH + Duration::new(md.ctime() as u64, md.ctime_nsec() as u32);
    SETTLED_AT.with(|at| at.set(at.get().max(ctime + CTIME_SETTLE)));
}

/// How long after a file's ctime a compile reading it may be stored: the
/// guard's 20 ms plus room for a coarse clock tick (at most 10 ms).
const CTIME_SETTLE: Duration = Duration::from_millis(50);

thread_local! {
    /// When every file this thread backdated has a settled ctime.
    static SETTLED_AT: std::cell::Cell<SystemTime> = const { std::cell::Cell::new(UNIX_EPOCH) };
}

/// Wait until every file this thread backdated has a ctime the too-new
/// guard accepts. A wait on the clock for a condition, not a fixed sleep.
pub fn settle() {
    let at = SETTLED_AT.with(|at| at.get());
    while let Ok(left) = at.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Assert a command succeeded, printing its streams otherwise.
#[track_caller]
pub fn ok(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
