//! Facts about a running process (boot id, liveness, start time, state,
//! real uid, executable and its hash), gathered for the staleness verdict and for a
//! daemon describing itself. It reads and signals nothing beyond a
//! `kill(pid, 0)` existence check.
//!
//! The parsers are pure and take the file contents; the platform readers
//! live in `os/`.

use std::io;
use std::path::{Path, PathBuf};

use crate::os;
use crate::verdict::ProcessFacts;

/// This boot's id (`/proc/sys/kernel/random/boot_id`), or `None` where it
/// cannot be read.
pub fn current_boot_id() -> Option<String> {
    parse_boot_id(&os::boot_id_text()?)
}

/// The kernel's start time of `pid` (`/proc/<pid>/stat` field 22, clock
/// ticks since boot), or `None` when the process does not exist or is not
/// readable by us.
pub fn process_start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|stat| stat.start_time)
}

/// The start time of `pid` while it runs: `None` when there is no such
/// process, it is a zombie (exited, waiting for its parent: it serves and
/// holds nothing) or it cannot be read.
pub fn running_start_time(pid: u32) -> Option<u64> {
    stat(pid)
        .filter(|stat| !is_dead_state(stat.state))
        .map(|stat| stat.start_time)
}

/// The state letter of `pid` (`/proc/<pid>/stat` field 3: `R`, `S`, `T`
/// for stopped, `t` for traced, ...), or `None` when it cannot be read.
pub fn process_state(pid: u32) -> Option<u8> {
    stat(pid).map(|stat| stat.state)
}

/// The real uid of `pid` (`/proc/<pid>/status`, the first `Uid:` field),
/// or `None` when it cannot be read.
pub fn process_uid(pid: u32) -> Option<u32> {
    real_uid(pid)
}

/// Whether `pid` is still, right now, a process we proved ours: running
/// with this start time, our real uid, and a zccache daemon executable.
/// The broker calls it right before each signal, after pinning the pid.
pub fn still_proven(pid: u32, start_time: u64, euid: u32) -> bool {
    running_start_time(pid) == Some(start_time)
        && process_uid(pid) == Some(euid)
        && process_exe(pid).is_some_and(|exe| crate::verdict::is_daemon_exe(&exe))
}

/// Whether `pid` is known to be a zombie; `false` where that cannot be read.
pub fn is_zombie(pid: u32) -> bool {
    stat(pid).is_some_and(|stat| is_dead_state(stat.state))
}

fn is_dead_state(state: u8) -> bool {
    state == b'Z' || state == b'X'
}

/// The executable of `pid` (`/proc/<pid>/exe`). Linux appends
/// `" (deleted)"` when the file was removed since, which then no longer
/// matches a recorded path.
pub fn process_exe(pid: u32) -> Option<PathBuf> {
    os::process_exe(pid)
}

/// Whether a process with this id exists (possibly another user's).
/// Ids that `kill` would read as a group or as "every process" (0 and
/// anything above `i32::MAX`) are never alive.
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid) = kill_target(pid) else {
        return false;
    };
    // SAFETY: signal 0 performs only the existence and permission check,
    // and `kill_target` excludes the group and broadcast ids.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The blake3 hash of a file's contents, as 64 lowercase hex characters.
pub fn file_blake3(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Every fact the verdict needs about `pid`, read now. A daemon can also
/// use it on its own pid to fill in its identity. A zombie counts as not
/// alive: it serves nothing and only its parent can clear it.
///
/// Hashing the executable reads the whole file, so callers should gather
/// facts only once an identity file has been read.
pub fn process_facts(pid: u32) -> ProcessFacts {
    let alive = pid_alive(pid);
    let stat = if alive { stat(pid) } else { None };
    let zombie = stat.as_ref().is_some_and(|stat| is_dead_state(stat.state));
    ProcessFacts {
        boot_id: current_boot_id(),
        alive: alive && !zombie,
        start_time: stat.map(|stat| stat.start_time),
        state: stat.map(|stat| stat.state),
        uid: if alive { real_uid(pid) } else { None },
        exe_path: os::process_exe(pid),
        exe_blake3: os::exe_image(pid).and_then(|image| file_blake3(&image).ok()),
    }
}

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatFacts {
    /// Field 3, one letter: `R`, `S`, `Z`, ...
    pub(crate) state: u8,
    /// Field 22.
    pub(crate) start_time: u64,
}

/// `/proc/<pid>/stat`, parsed.
fn stat(pid: u32) -> Option<StatFacts> {
    parse_stat(&os::stat_bytes(pid)?)
}

/// The real uid of `pid`, from `/proc/<pid>/status`.
fn real_uid(pid: u32) -> Option<u32> {
    parse_status_uid(&os::status_text(pid)?)
}

/// Parses `/proc/<pid>/stat`. Field 2 is the command name in parentheses,
/// which may itself contain spaces, parentheses and non-UTF-8 bytes, so
/// the fields are counted from the last `)`.
fn parse_stat(bytes: &[u8]) -> Option<StatFacts> {
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&bytes[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    // Fields 3 onwards; field 22 is the 20th of them.
    let state = fields.next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    match state.as_bytes() {
        &[state] => Some(StatFacts { state, start_time }),
        _ => None,
    }
}

/// The real uid from `/proc/<pid>/status`: the first number of the
/// `Uid:` line (real, effective, saved, file system).
fn parse_status_uid(text: &str) -> Option<u32> {
    let line = text.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_ascii_whitespace().next()?.parse().ok()
}

fn parse_boot_id(text: &str) -> Option<String> {
    let id = text.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn kill_target(pid: u32) -> Option<libc::pid_t> {
    libc::pid_t::try_from(pid).ok().filter(|&pid| pid > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stat line for a process named `comm`, with start time 4711 and
    /// the field layout of Linux 6.x.
    fn stat_line(comm: &[u8], state: &str) -> Vec<u8> {
        let mut line = b"1234 (".to_vec();
        line.extend_from_slice(comm);
        line.extend_from_slice(
            format!(
                ") {state} 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4711 \
                 10000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
            )
            .as_bytes(),
        );
        line
    }

    #[track_caller]
    fn check_stat(bytes: &[u8], expected: Option<(u8, u64)>) {
        let got = parse_stat(bytes).map(|s| (s.state, s.start_time));
        assert_eq!(got, expected, "{}", String::from_utf8_lossy(bytes));
    }

    #[test]
    fn stat_parsing() {
        check_stat(&stat_line(b"zccache-daemon", "S"), Some((b'S', 4711)));
        check_stat(&stat_line(b"a b", "R"), Some((b'R', 4711)));
        check_stat(&stat_line(b"x) (y", "S"), Some((b'S', 4711)));
        check_stat(&stat_line(b") (", "Z"), Some((b'Z', 4711)));
        check_stat(
            &stat_line(b") 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 (", "S"),
            Some((b'S', 4711)),
        );
        check_stat(&stat_line(b"\xff\xfe", "S"), Some((b'S', 4711)));
        check_stat(&stat_line(b"", "S"), Some((b'S', 4711)));
        check_stat(b"", None);
        check_stat(b"1234 (x", None);
        check_stat(b"1234 (x) S 1 2 3", None);
        check_stat(
            b"1234 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 notanumber",
            None,
        );
        check_stat(
            b"1234 (x) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 6",
            None,
        );
    }

    #[track_caller]
    fn check_boot_id(text: &str, expected: Option<&str>) {
        assert_eq!(parse_boot_id(text).as_deref(), expected);
    }

    #[test]
    fn boot_id_parsing() {
        check_boot_id(
            "6c1b5a8e-2f0d-4c39-9d0a-3b7f1e2d4c5a\n",
            Some("6c1b5a8e-2f0d-4c39-9d0a-3b7f1e2d4c5a"),
        );
        check_boot_id("  abc  ", Some("abc"));
        check_boot_id("\n", None);
        check_boot_id("", None);
    }

    #[test]
    fn status_uid_parsing() {
        let status = "Name:\tsleep\nState:\tS (sleeping)\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n";
        assert_eq!(parse_status_uid(status), Some(1000));
        assert_eq!(parse_status_uid("Uid:\t0\t0\t0\t0\n"), Some(0));
        assert_eq!(parse_status_uid("Uid:\tx\n"), None);
        assert_eq!(parse_status_uid("Gid:\t1\n"), None);
        assert_eq!(parse_status_uid(""), None);
    }

    #[track_caller]
    fn check_alive(pid: u32, expected: bool) {
        assert_eq!(pid_alive(pid), expected, "pid {pid}");
    }

    #[test]
    fn liveness() {
        check_alive(std::process::id(), true);
        check_alive(1, true);
        check_alive(0, false);
        check_alive(u32::MAX, false);
        check_alive(i32::MAX as u32 + 1, false);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        check_alive(pid, false);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn zombie_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Until reaped the child is a zombie: kill(0) still succeeds.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stat(pid).map(|s| s.state) != Some(b'Z') {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(pid_alive(pid));
        assert!(!process_facts(pid).alive);
        child.wait().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_facts() {
        let me = std::process::id();
        let facts = process_facts(me);
        assert!(facts.alive);
        let boot = current_boot_id().expect("linux has a boot id");
        assert_eq!(boot.len(), 36, "{boot}");
        assert_eq!(facts.boot_id.as_deref(), Some(boot.as_str()));
        assert_eq!(facts.start_time, process_start_time(me));
        assert!(facts.start_time.is_some());
        assert_eq!(facts.uid, Some(crate::euid()));
        assert_eq!(facts.uid, process_uid(me));
        // The main thread (whose state /proc shows) waits for this test's.
        assert!(
            matches!(facts.state, Some(b'R' | b'S')),
            "{:?}",
            facts.state
        );
        // The test binary is not a daemon.
        assert!(!still_proven(me, facts.start_time.unwrap(), crate::euid()));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(facts.exe_path.as_deref(), Some(exe.as_path()));
        assert_eq!(facts.exe_blake3, Some(file_blake3(&exe).unwrap()));
    }

    #[test]
    fn dead_facts() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let facts = process_facts(pid);
        assert!(!facts.alive);
        assert_eq!(facts.start_time, None);
        assert_eq!(process_start_time(pid), None);
        assert_eq!(process_exe(pid), None);
    }

    #[test]
    fn blake3_of_file() {
        let tmp = crate::test_util::TempDir::new();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            file_blake3(&path).unwrap(),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(
            file_blake3(&tmp.path().join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
