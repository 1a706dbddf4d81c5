//! A sick cache root never breaks a build: a cache file system that is
//! full, a root deleted mid-build and a root remounted read-only mid-build
//! (issue 9, item 4). Every compile must end exactly as plain gcc would, and
//! a daemon whose root is gone or read-only leaves.
//!
//! The full and read-only cases need their own tmpfs, so they run inside a
//! private mount namespace (`unshare -m`, which needs root); they say so and
//! return when that cannot be had. Nothing here injects faults into
//! zccache itself: the file system does the failing.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use conformance::{ok, wait_for, Sandbox};

const SOURCES: [&str; 3] = ["a", "b", "c"];

fn write_sources(sb: &Sandbox) {
    sb.write("h.h", "#define K 3\n");
    for (i, name) in SOURCES.iter().enumerate() {
        sb.write(
            &format!("{name}.c"),
            format!("#include \"h.h\"\nint {name}(int x) {{ return x * K + {i}; }}\n"),
        );
    }
}

/// A process holding a private mount namespace; commands enter it with
/// `nsenter`. Killed on drop (daemons started inside keep the namespace
/// alive until they leave).
struct Namespace(Child);

impl Namespace {
    /// `None` (with the reason printed) where no mount namespace can be had.
    fn new() -> Option<Namespace> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: a private mount namespace needs root");
            return None;
        }
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sleep", "100000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("run unshare");
        let ns = Namespace(child);
        let own = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let pid = ns.0.id();
        wait_for("the namespace holder to unshare", || {
            let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
            (theirs != own).then_some(())
        });
        Some(ns)
    }

    /// `program args…` inside the namespace, with the sandbox's environment
    /// and cwd.
    fn run(&self, sb: &Sandbox, program: &str, args: &[&str]) -> Output {
        let pid = self.0.id().to_string();
        // Entering a mount namespace moves the cwd to its root.
        let wd = format!("--wd={}", sb.work.display());
        sb.cmd("nsenter")
            .args(["-t", &pid, "-m", &wd, "--", program])
            .args(args)
            .output()
            .expect("run nsenter")
    }

    /// A tmpfs of `size` at the sandbox's cache root, private to us.
    fn mount_cache(&self, sb: &Sandbox, size: &str) {
        let opts = format!("size={size},mode=0700");
        let cache = sb.cache.to_str().unwrap();
        ok(&self.run(sb, "mount", &["-t", "tmpfs", "-o", &opts, "tmpfs", cache]));
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Compiles `name.c` through zccache (by `run`) and with plain gcc, and
/// asserts both ended the same: exit code, streams and object bytes.
fn assert_compiles_like_gcc(sb: &Sandbox, run: impl Fn(&[&str]) -> Output, name: &str) {
    let (src, obj, reference) = (
        format!("{name}.c"),
        format!("{name}.o"),
        format!("{name}.ref.o"),
    );
    let _ = std::fs::remove_file(sb.path(&obj));
    let cached = run(&["gcc", "-c", &src, "-o", &obj]);
    let plain = ok(&sb.bare("gcc", ["-c", &src, "-o", &reference])).clone();
    // zccache may say once why it compiles directly (a root it backs off
    // from); everything else on stderr is the compiler's.
    let stderr: Vec<u8> = cached
        .stderr
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b"zccache: "))
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        (cached.status.code(), &cached.stdout, &stderr),
        (plain.status.code(), &plain.stdout, &plain.stderr),
        "{src}: zccache and plain gcc differ:\n{}",
        String::from_utf8_lossy(&cached.stderr)
    );
    assert_eq!(sb.read(&obj), sb.read(&reference), "{obj} differs");
}

fn zccache_in<'a>(sb: &'a Sandbox, ns: &'a Namespace) -> impl Fn(&[&str]) -> Output + 'a {
    move |args| ns.run(sb, conformance::zccache_bin().to_str().unwrap(), args)
}

fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.trim_start().as_bytes()[0], b'Z' | b'X')),
    }
}

#[test]
fn sick_root_a_full_cache_file_system_never_breaks_a_build() {
    let Some(ns) = Namespace::new() else { return };
    let sb = Sandbox::new("sick-full");
    write_sources(&sb);
    ns.mount_cache(&sb, "2m");
    let zccache = zccache_in(&sb, &ns);
    // The first compile starts the daemon and lays out the store.
    assert_compiles_like_gcc(&sb, &zccache, "a");
    let filler = sb.cache.join("filler");
    let fill = format!("cat /dev/zero > '{}'", filler.display());
    let _ = ns.run(&sb, "sh", &["-c", &fill]);
    let df = ns.run(&sb, "df", &["--output=avail", sb.cache.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&df.stdout).trim().ends_with('0'),
        "the cache file system is not full: {}",
        String::from_utf8_lossy(&df.stdout)
    );
    for name in SOURCES {
        assert_compiles_like_gcc(&sb, &zccache, name);
    }
    // The daemon still serves (status answers) with a full disk.
    ok(&zccache(&["status", "--json"]));
}

#[test]
fn sick_root_a_cache_root_deleted_mid_build_never_breaks_it() {
    let sb = Sandbox::new("sick-deleted");
    write_sources(&sb);
    let zccache = |args: &[&str]| sb.zccache(args);
    assert_compiles_like_gcc(&sb, zccache, "a");
    let pid = sb.status()["pid"].as_u64().expect("a daemon pid") as u32;
    std::fs::remove_dir_all(&sb.cache).unwrap();
    // Right away, before the daemon can notice: misses must still work.
    for name in SOURCES {
        assert_compiles_like_gcc(&sb, zccache, name);
    }
    wait_for("the daemon of a deleted root to leave", || {
        is_gone(pid).then_some(())
    });
    // A fresh daemon serves the recreated root: a miss, then a hit.
    std::fs::create_dir_all(&sb.cache).unwrap();
    wait_for("a hit from the new daemon", || {
        assert_compiles_like_gcc(&sb, zccache, "b");
        (sb.counter("hits") > 0).then_some(())
    });
    assert_ne!(sb.status()["pid"].as_u64(), Some(u64::from(pid)));
}

#[test]
fn sick_root_a_cache_root_remounted_read_only_mid_build_never_breaks_it() {
    let Some(ns) = Namespace::new() else { return };
    let sb = Sandbox::new("sick-ro");
    write_sources(&sb);
    ns.mount_cache(&sb, "16m");
    let zccache = zccache_in(&sb, &ns);
    // Until a hit: a source written within the too-new window of its
    // first compile is compiled but not stored.
    let status = wait_for("a hit from the tmpfs root", || {
        assert_compiles_like_gcc(&sb, &zccache, "a");
        let status = ok(&zccache(&["status", "--json"])).stdout.clone();
        let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
        (status["hits"].as_u64() > Some(0)).then_some(status)
    });
    let pid = status["pid"].as_u64().unwrap() as u32;
    let cache = sb.cache.to_str().unwrap();
    ok(&ns.run(&sb, "mount", &["-o", "remount,ro", cache]));
    // Right away, before the daemon can notice: misses must still work.
    for name in SOURCES {
        assert_compiles_like_gcc(&sb, &zccache, name);
    }
    wait_for("the daemon of a read-only root to leave", || {
        is_gone(pid).then_some(())
    });
    // No daemon can serve the root now; compiles go on without one.
    for name in SOURCES {
        assert_compiles_like_gcc(&sb, &zccache, name);
    }
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_gone(pid));
}
