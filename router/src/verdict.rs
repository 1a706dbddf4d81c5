//! The staleness verdict: from an identity file (its record, owner and
//! mode) and facts about the pid it names, decide whether the daemon may be
//! healthy or must be replaced, and whether it may be signalled. Pure: the
//! facts are handed in, and the identity probe (the last check) is the
//! broker's to run.
//!
//! Checks run in the order of broker.md, and proof of ownership comes
//! first: the identity file is ours (our uid owns it, nobody else may write
//! it), then boot id, liveness and start time (the pid is the process the
//! file describes), then the process's real uid is ours and its executable
//! is a zccache daemon. Only once all of those hold is the pid known to be
//! a daemon of ours, so only the reasons found after that point allow a
//! signal (P7 in faults.md); a file's word alone never does. A fact that
//! could not be read never proves anything: an unknown boot id, start time,
//! uid or executable counts as a mismatch.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::identity::{IdentityError, IdentityFile};

/// The file name of every zccache daemon executable, any version.
pub const DAEMON_EXE_NAME: &str = "zccache-daemon";

/// Whether `exe` (a `/proc/<pid>/exe` target) is a zccache daemon binary of
/// any version: its file name is [`DAEMON_EXE_NAME`], possibly with the
/// `" (deleted)"` Linux appends once the file was replaced (an upgrade).
///
/// Why the name suffices as the last of the proofs: the kernel sets
/// `/proc/<pid>/exe` at `execve` and a process cannot change it (short of
/// `CAP_SYS_RESOURCE`), so a forged identity file cannot make a shell, a
/// compiler or a `sleep` look like a daemon. It is checked only after the
/// process is shown to run under our own uid, and only a process of our
/// uid can have exec'd a file of that name on our behalf; whoever can do
/// that can signal our processes anyway. A content hash would prove one
/// build only, and must not: a daemon of an older version is still ours to
/// replace.
pub fn is_daemon_exe(exe: &Path) -> bool {
    let bytes = exe.as_os_str().as_bytes();
    let bytes = bytes.strip_suffix(b" (deleted)").unwrap_or(bytes);
    Path::new(OsStr::from_bytes(bytes)).file_name() == Some(OsStr::new(DAEMON_EXE_NAME))
}

/// What is known now about the process an identity names. See
/// [`crate::process_facts`] for the live reader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessFacts {
    /// The current boot's id.
    pub boot_id: Option<String>,
    /// Whether the pid exists (and is not a zombie).
    pub alive: bool,
    /// The pid's kernel start time.
    pub start_time: Option<u64>,
    /// The pid's state letter (`/proc/<pid>/stat` field 3): `T` is stopped.
    pub state: Option<u8>,
    /// The pid's real uid.
    pub uid: Option<u32>,
    /// The pid's executable path.
    pub exe_path: Option<PathBuf>,
    /// The blake3 hash (hex) of the pid's running executable image.
    pub exe_blake3: Option<String>,
}

/// What the judging process (the broker) requires of a daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Our effective uid: the identity file's owner and the daemon's uid.
    pub euid: u32,
    /// The protocol version the daemon must speak.
    pub protocol_version: u32,
    /// The hash of the daemon executable the broker would spawn; `None`
    /// accepts any executable, provided it matches its own identity.
    pub exe_blake3: Option<String>,
    /// The endpoint the daemon must serve (from [`crate::daemon_paths`]).
    pub endpoint: PathBuf,
}

/// The outcome of [`verdict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed except the identity probe, which the broker
    /// runs next.
    Alive,
    /// The daemon must be replaced, for this reason.
    Stale(StaleReason),
}

/// Why a daemon is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleReason {
    /// There is no identity file.
    NoIdentity,
    /// The identity file cannot be read or parsed; the text says why.
    Unparsable(String),
    /// The identity file is not owned by us, or others may write it: its
    /// word is anybody's.
    UntrustedIdentity,
    /// The identity is from another boot, or this boot's id is unknown.
    OtherBoot,
    /// The pid is not alive.
    DeadPid,
    /// The pid is alive but its start time differs or cannot be read: it
    /// now belongs to another process, possibly another user's.
    RecycledPid,
    /// The pid runs under another real uid (or its uid cannot be read).
    ForeignProcess,
    /// The pid does not run a zccache daemon executable.
    NotADaemon,
    /// The pid is ours but serves an endpoint other than the expected one,
    /// for example a daemon started under another `XDG_RUNTIME_DIR`. It
    /// belongs to whoever owns that endpoint and is not signalled.
    OtherEndpoint,
    /// The daemon is stopped (state `T`, SIGSTOP or a terminal stop): it
    /// cannot serve until someone resumes it.
    Stopped,
    /// The daemon runs another executable than the identity records, or
    /// the identity's executable is not the expected one (an upgrade).
    OtherExe,
    /// The identity's protocol version is not the expected one.
    OtherProtocol,
    /// Nothing accepts connections on the endpoint (no socket, or a socket
    /// nobody listens on). Never produced by [`verdict`]; the broker finds
    /// it with the probe.
    Unreachable,
    /// Whoever serves the endpoint answered the probe with another
    /// identity. Never produced by [`verdict`]; the broker's probe finds it.
    OtherIdentity,
}

impl StaleReason {
    /// Whether the identity's pid is proven to be a daemon of ours (its
    /// identity file ours, same boot, pid and start time, our uid, a
    /// daemon executable), so that signalling it hits nobody else.
    pub fn may_signal(&self) -> bool {
        match self {
            StaleReason::NoIdentity
            | StaleReason::Unparsable(_)
            | StaleReason::UntrustedIdentity
            | StaleReason::OtherBoot
            | StaleReason::DeadPid
            | StaleReason::RecycledPid
            | StaleReason::ForeignProcess
            | StaleReason::NotADaemon
            | StaleReason::OtherEndpoint => false,
            StaleReason::Stopped
            | StaleReason::OtherExe
            | StaleReason::OtherProtocol
            | StaleReason::Unreachable
            | StaleReason::OtherIdentity => true,
        }
    }

    /// A stable snake_case name for logs and counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            StaleReason::NoIdentity => "no_identity",
            StaleReason::Unparsable(_) => "unparsable",
            StaleReason::UntrustedIdentity => "untrusted_identity",
            StaleReason::OtherBoot => "other_boot",
            StaleReason::DeadPid => "dead_pid",
            StaleReason::RecycledPid => "recycled_pid",
            StaleReason::ForeignProcess => "foreign_process",
            StaleReason::NotADaemon => "not_a_daemon",
            StaleReason::OtherEndpoint => "other_endpoint",
            StaleReason::Stopped => "stopped",
            StaleReason::OtherExe => "other_exe",
            StaleReason::OtherProtocol => "other_protocol",
            StaleReason::Unreachable => "unreachable",
            StaleReason::OtherIdentity => "other_identity",
        }
    }
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleReason::Unparsable(detail) => write!(f, "unparsable: {detail}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Judges a daemon from its identity file (as read) and the facts about
/// the identity's pid. `facts_of` is called only when the identity file is
/// ours.
pub fn verdict(
    identity: &Result<IdentityFile, IdentityError>,
    facts_of: impl FnOnce(u32) -> ProcessFacts,
    expected: &Expected,
) -> Verdict {
    match judge(identity, facts_of, expected) {
        Ok(()) => Verdict::Alive,
        Err(reason) => Verdict::Stale(reason),
    }
}

fn judge(
    identity: &Result<IdentityFile, IdentityError>,
    facts_of: impl FnOnce(u32) -> ProcessFacts,
    expected: &Expected,
) -> Result<(), StaleReason> {
    let file = match identity {
        Ok(file) => file,
        Err(err) if err.is_not_found() => return Err(StaleReason::NoIdentity),
        Err(err) => return Err(StaleReason::Unparsable(err.to_string())),
    };
    require(file.owner == expected.euid, StaleReason::UntrustedIdentity)?;
    require(file.mode & 0o022 == 0, StaleReason::UntrustedIdentity)?;
    let id = &file.identity;
    let facts = facts_of(id.pid);
    require(
        facts.boot_id.as_ref() == Some(&id.boot_id),
        StaleReason::OtherBoot,
    )?;
    require(facts.alive, StaleReason::DeadPid)?;
    require(
        facts.start_time == Some(id.start_time),
        StaleReason::RecycledPid,
    )?;
    require(
        facts.uid == Some(expected.euid),
        StaleReason::ForeignProcess,
    )?;
    require(
        facts.exe_path.as_deref().is_some_and(is_daemon_exe),
        StaleReason::NotADaemon,
    )?;
    // Proven a daemon of ours from here on.
    require(id.endpoint == expected.endpoint, StaleReason::OtherEndpoint)?;
    require(facts.state != Some(b'T'), StaleReason::Stopped)?;
    require(
        id.protocol_version == expected.protocol_version,
        StaleReason::OtherProtocol,
    )?;
    require(
        facts.exe_path.as_ref() == Some(&id.exe_path),
        StaleReason::OtherExe,
    )?;
    require(
        facts.exe_blake3.as_ref() == Some(&id.exe_blake3),
        StaleReason::OtherExe,
    )?;
    if let Some(want) = &expected.exe_blake3 {
        require(*want == id.exe_blake3, StaleReason::OtherExe)?;
    }
    Ok(())
}

fn require(holds: bool, otherwise: StaleReason) -> Result<(), StaleReason> {
    if holds {
        Ok(())
    } else {
        Err(otherwise)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{sample, Identity, IdentityErrorKind};

    const EUID: u32 = 1000;

    fn file(identity: Identity) -> IdentityFile {
        IdentityFile {
            identity,
            owner: EUID,
            mode: 0o644,
        }
    }

    /// Facts that match `sample()` exactly.
    fn matching() -> ProcessFacts {
        let id = sample();
        ProcessFacts {
            boot_id: Some(id.boot_id),
            alive: true,
            start_time: Some(id.start_time),
            state: Some(b'S'),
            uid: Some(EUID),
            exe_path: Some(id.exe_path),
            exe_blake3: Some(id.exe_blake3),
        }
    }

    fn expected() -> Expected {
        let id = sample();
        Expected {
            euid: EUID,
            protocol_version: id.protocol_version,
            exe_blake3: Some(id.exe_blake3),
            endpoint: id.endpoint,
        }
    }

    #[track_caller]
    fn check(
        identity: Result<IdentityFile, IdentityError>,
        facts: ProcessFacts,
        expected: Expected,
        want: Verdict,
    ) {
        let pid = identity.as_ref().ok().map(|f| f.identity.pid);
        let got = verdict(
            &identity,
            |asked| {
                assert_eq!(Some(asked), pid, "facts asked for the wrong pid");
                facts
            },
            &expected,
        );
        assert_eq!(got, want);
    }

    #[track_caller]
    fn check_facts(change: impl FnOnce(&mut ProcessFacts), want: StaleReason) {
        let mut facts = matching();
        change(&mut facts);
        check(Ok(file(sample())), facts, expected(), Verdict::Stale(want));
    }

    #[track_caller]
    fn check_file(change: impl FnOnce(&mut IdentityFile), want: Verdict) {
        let mut f = file(sample());
        change(&mut f);
        let got = verdict(
            &Ok(f),
            |_| panic!("facts gathered for an identity file that is not ours"),
            &expected(),
        );
        assert_eq!(got, want);
    }

    #[track_caller]
    fn check_expected(change: impl FnOnce(&mut Expected), want: Verdict) {
        let mut exp = expected();
        change(&mut exp);
        check(Ok(file(sample())), matching(), exp, want);
    }

    #[test]
    fn alive() {
        check(Ok(file(sample())), matching(), expected(), Verdict::Alive);
        check_expected(|e| e.exe_blake3 = None, Verdict::Alive);
        // Mode 0600 and 0400 are as good as 0644; running and disk sleep too.
        for mode in [0o600, 0o400, 0o640] {
            let mut f = file(sample());
            f.mode = mode;
            check(Ok(f), matching(), expected(), Verdict::Alive);
        }
        for state in [b'R', b'D', b'I'] {
            let mut facts = matching();
            facts.state = Some(state);
            check(Ok(file(sample())), facts, expected(), Verdict::Alive);
        }
    }

    #[test]
    fn case_1_no_or_unparsable_identity() {
        let not_found = IdentityError::from(IdentityErrorKind::NotFound);
        check(
            Err(not_found),
            matching(),
            expected(),
            Verdict::Stale(StaleReason::NoIdentity),
        );
        let broken = Identity::parse(b"{}").unwrap_err();
        check(
            Err(broken),
            matching(),
            expected(),
            Verdict::Stale(StaleReason::Unparsable(
                "identity record lacks field `pid`".into(),
            )),
        );
    }

    #[test]
    fn fact_identity_file_owner() {
        check_file(
            |f| f.owner = EUID + 1,
            Verdict::Stale(StaleReason::UntrustedIdentity),
        );
        check_file(
            |f| f.owner = 0,
            Verdict::Stale(StaleReason::UntrustedIdentity),
        );
    }

    #[test]
    fn fact_identity_file_mode() {
        for mode in [0o666, 0o646, 0o664, 0o622, 0o602, 0o620, 0o777] {
            check_file(
                |f| f.mode = mode,
                Verdict::Stale(StaleReason::UntrustedIdentity),
            );
        }
    }

    #[test]
    fn fact_boot_id() {
        check_facts(
            |f| f.boot_id = Some("another-boot".into()),
            StaleReason::OtherBoot,
        );
        check_facts(|f| f.boot_id = None, StaleReason::OtherBoot);
        // Boot is checked before liveness: after a reboot a live pid with
        // the same number is a stranger.
        check_facts(
            |f| {
                f.boot_id = Some("another-boot".into());
                f.start_time = Some(1);
            },
            StaleReason::OtherBoot,
        );
    }

    #[test]
    fn fact_alive() {
        check_facts(
            |f| {
                f.alive = false;
                f.start_time = None;
            },
            StaleReason::DeadPid,
        );
    }

    #[test]
    fn fact_start_time() {
        check_facts(|f| f.start_time = Some(1), StaleReason::RecycledPid);
        check_facts(|f| f.start_time = None, StaleReason::RecycledPid);
        // A stranger's process also runs something else; the start time
        // decides first, so no signal is allowed.
        check_facts(
            |f| {
                f.start_time = Some(1);
                f.exe_path = Some("/bin/sleep".into());
            },
            StaleReason::RecycledPid,
        );
    }

    #[test]
    fn fact_real_uid() {
        check_facts(|f| f.uid = Some(0), StaleReason::ForeignProcess);
        check_facts(|f| f.uid = Some(EUID + 1), StaleReason::ForeignProcess);
        check_facts(|f| f.uid = None, StaleReason::ForeignProcess);
    }

    #[test]
    fn fact_daemon_executable() {
        // A forged or corrupted identity naming one of our own processes
        // with its true start time: not a daemon, never signalled.
        check_facts(
            |f| f.exe_path = Some("/usr/bin/sleep".into()),
            StaleReason::NotADaemon,
        );
        check_facts(
            |f| f.exe_path = Some("/usr/bin/zccache-daemon-old".into()),
            StaleReason::NotADaemon,
        );
        check_facts(|f| f.exe_path = None, StaleReason::NotADaemon);
        // Even with every recorded field matching what the process runs.
        let mut id = sample();
        id.exe_path = "/bin/sh".into();
        let mut facts = matching();
        facts.exe_path = Some("/bin/sh".into());
        check(
            Ok(file(id)),
            facts,
            expected(),
            Verdict::Stale(StaleReason::NotADaemon),
        );
    }

    #[test]
    fn daemon_executables() {
        for (exe, is) in [
            ("/usr/bin/zccache-daemon", true),
            ("/usr/bin/zccache-daemon (deleted)", true),
            ("/t/debug/zccache-daemon", true),
            ("zccache-daemon", true),
            ("/usr/bin/zccache-daemon.old", false),
            ("/usr/bin/zccache-daemon (deleted) (deleted)", false),
            ("/usr/bin/zccache", false),
            ("/usr/bin/sleep", false),
            ("/zccache-daemon/sleep", false),
            ("", false),
        ] {
            assert_eq!(is_daemon_exe(Path::new(exe)), is, "{exe}");
        }
    }

    #[test]
    fn fact_state_stopped() {
        check_facts(|f| f.state = Some(b'T'), StaleReason::Stopped);
        // Traced (a debugger) is not stopped for good: the probe decides.
        let mut facts = matching();
        facts.state = Some(b't');
        check(Ok(file(sample())), facts, expected(), Verdict::Alive);
    }

    #[test]
    fn other_exe_or_protocol() {
        check_facts(
            |f| f.exe_path = Some("/other/zccache-daemon".into()),
            StaleReason::OtherExe,
        );
        check_facts(
            |f| f.exe_path = Some("/usr/bin/zccache-daemon (deleted)".into()),
            StaleReason::OtherExe,
        );
        check_facts(
            |f| f.exe_blake3 = Some("cd".repeat(32)),
            StaleReason::OtherExe,
        );
        check_facts(|f| f.exe_blake3 = None, StaleReason::OtherExe);
        check_expected(
            |e| e.exe_blake3 = Some("cd".repeat(32)),
            Verdict::Stale(StaleReason::OtherExe),
        );
        check_expected(
            |e| e.protocol_version += 1,
            Verdict::Stale(StaleReason::OtherProtocol),
        );
    }

    #[test]
    fn other_endpoint_is_left_alone() {
        check_expected(
            |e| e.endpoint = "/tmp/zccache-1000/d-0123456789abcdef.sock".into(),
            Verdict::Stale(StaleReason::OtherEndpoint),
        );
    }

    #[test]
    fn facts_not_gathered_without_identity() {
        let got = verdict(
            &Err(IdentityError::from(IdentityErrorKind::NotFound)),
            |_| panic!("facts gathered for a missing identity"),
            &expected(),
        );
        assert_eq!(got, Verdict::Stale(StaleReason::NoIdentity));
    }

    #[track_caller]
    fn check_reason(reason: StaleReason, name: &str, may_signal: bool) {
        assert_eq!(reason.as_str(), name);
        assert_eq!(reason.may_signal(), may_signal, "{name}");
    }

    #[test]
    fn reasons() {
        check_reason(StaleReason::NoIdentity, "no_identity", false);
        check_reason(StaleReason::Unparsable("x".into()), "unparsable", false);
        check_reason(StaleReason::UntrustedIdentity, "untrusted_identity", false);
        check_reason(StaleReason::OtherBoot, "other_boot", false);
        check_reason(StaleReason::DeadPid, "dead_pid", false);
        check_reason(StaleReason::RecycledPid, "recycled_pid", false);
        check_reason(StaleReason::ForeignProcess, "foreign_process", false);
        check_reason(StaleReason::NotADaemon, "not_a_daemon", false);
        check_reason(StaleReason::OtherEndpoint, "other_endpoint", false);
        check_reason(StaleReason::Stopped, "stopped", true);
        check_reason(StaleReason::OtherExe, "other_exe", true);
        check_reason(StaleReason::OtherProtocol, "other_protocol", true);
        check_reason(StaleReason::Unreachable, "unreachable", true);
        check_reason(StaleReason::OtherIdentity, "other_identity", true);
        assert_eq!(
            StaleReason::Unparsable("identity record is not valid json".into()).to_string(),
            "unparsable: identity record is not valid json"
        );
    }
}
