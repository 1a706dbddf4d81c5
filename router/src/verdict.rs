//! The staleness verdict: from an identity record and facts about its pid,
//! decide whether the daemon may be healthy or must be replaced, and
//! whether it may be signalled. Pure: the facts are handed in, and the
//! identity probe (the last check) is the broker's to run.
//!
//! Checks run in the order of broker.md, and ownership comes first: boot
//! id, then liveness, then start time. Only once those three match is the
//! pid known to be the daemon's own process, so only the reasons found
//! after that point allow a signal (P7 in faults.md). A fact that could
//! not be read never proves anything: an unknown boot id or start time
//! counts as a mismatch.

use std::fmt;
use std::path::PathBuf;

use crate::identity::{Identity, IdentityError};

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
    /// The pid's executable path.
    pub exe_path: Option<PathBuf>,
    /// The blake3 hash (hex) of the pid's running executable image.
    pub exe_blake3: Option<String>,
}

/// What the judging process (the broker) requires of a daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
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
    /// runs next; if it fails, the daemon is `Stale(ProbeFailed)`.
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
    /// The identity is from another boot, or this boot's id is unknown.
    OtherBoot,
    /// The pid is not alive.
    DeadPid,
    /// The pid is alive but its start time differs or cannot be read: it
    /// now belongs to another process, possibly another user's.
    RecycledPid,
    /// The pid is ours but serves an endpoint other than the expected one,
    /// for example a daemon started under another `XDG_RUNTIME_DIR`. It
    /// belongs to whoever owns that endpoint and is not signalled.
    OtherEndpoint,
    /// The pid runs another executable than the identity records, or the
    /// identity's executable is not the expected one.
    OtherExe,
    /// The identity's protocol version is not the expected one.
    OtherProtocol,
    /// The identity probe did not come back with the same nonce and
    /// identity in time. Never produced by [`verdict`]; the broker uses it
    /// after an `Alive` verdict.
    ProbeFailed,
}

impl StaleReason {
    /// Whether the identity's pid is proven to be the daemon's own process
    /// (same boot, same pid, same start time), so that asking it to shut
    /// down and then killing it hits nobody else.
    pub fn may_signal(&self) -> bool {
        match self {
            StaleReason::NoIdentity
            | StaleReason::Unparsable(_)
            | StaleReason::OtherBoot
            | StaleReason::DeadPid
            | StaleReason::RecycledPid
            | StaleReason::OtherEndpoint => false,
            StaleReason::OtherExe | StaleReason::OtherProtocol | StaleReason::ProbeFailed => true,
        }
    }

    /// A stable snake_case name for logs and counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            StaleReason::NoIdentity => "no_identity",
            StaleReason::Unparsable(_) => "unparsable",
            StaleReason::OtherBoot => "other_boot",
            StaleReason::DeadPid => "dead_pid",
            StaleReason::RecycledPid => "recycled_pid",
            StaleReason::OtherEndpoint => "other_endpoint",
            StaleReason::OtherExe => "other_exe",
            StaleReason::OtherProtocol => "other_protocol",
            StaleReason::ProbeFailed => "probe_failed",
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

/// Judges a daemon from its identity (as read) and the facts about the
/// identity's pid. `facts_of` is called only when there is an identity.
pub fn verdict(
    identity: &Result<Identity, IdentityError>,
    facts_of: impl FnOnce(u32) -> ProcessFacts,
    expected: &Expected,
) -> Verdict {
    match judge(identity, facts_of, expected) {
        Ok(()) => Verdict::Alive,
        Err(reason) => Verdict::Stale(reason),
    }
}

fn judge(
    identity: &Result<Identity, IdentityError>,
    facts_of: impl FnOnce(u32) -> ProcessFacts,
    expected: &Expected,
) -> Result<(), StaleReason> {
    let id = match identity {
        Ok(id) => id,
        Err(err) if err.is_not_found() => return Err(StaleReason::NoIdentity),
        Err(err) => return Err(StaleReason::Unparsable(err.to_string())),
    };
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
    require(id.endpoint == expected.endpoint, StaleReason::OtherEndpoint)?;
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
    use crate::identity::{sample, IdentityErrorKind};

    /// Facts that match `sample()` exactly.
    fn matching() -> ProcessFacts {
        let id = sample();
        ProcessFacts {
            boot_id: Some(id.boot_id),
            alive: true,
            start_time: Some(id.start_time),
            exe_path: Some(id.exe_path),
            exe_blake3: Some(id.exe_blake3),
        }
    }

    fn expected() -> Expected {
        let id = sample();
        Expected {
            protocol_version: id.protocol_version,
            exe_blake3: Some(id.exe_blake3),
            endpoint: id.endpoint,
        }
    }

    #[track_caller]
    fn check(
        identity: Result<Identity, IdentityError>,
        facts: ProcessFacts,
        expected: Expected,
        want: Verdict,
    ) {
        let pid = identity.as_ref().ok().map(|id| id.pid);
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
        check(Ok(sample()), facts, expected(), Verdict::Stale(want));
    }

    #[track_caller]
    fn check_expected(change: impl FnOnce(&mut Expected), want: Verdict) {
        let mut exp = expected();
        change(&mut exp);
        check(Ok(sample()), matching(), exp, want);
    }

    #[test]
    fn alive() {
        check(Ok(sample()), matching(), expected(), Verdict::Alive);
        check_expected(|e| e.exe_blake3 = None, Verdict::Alive);
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
    fn case_2_other_boot() {
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
    fn case_3_dead_pid() {
        check_facts(
            |f| {
                f.alive = false;
                f.start_time = None;
            },
            StaleReason::DeadPid,
        );
    }

    #[test]
    fn case_4_recycled_pid() {
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
    fn case_5_other_exe_or_protocol() {
        check_facts(
            |f| f.exe_path = Some("/other/daemon".into()),
            StaleReason::OtherExe,
        );
        check_facts(
            |f| f.exe_path = Some("/usr/bin/zccache-daemon (deleted)".into()),
            StaleReason::OtherExe,
        );
        check_facts(|f| f.exe_path = None, StaleReason::OtherExe);
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
        check_reason(StaleReason::OtherBoot, "other_boot", false);
        check_reason(StaleReason::DeadPid, "dead_pid", false);
        check_reason(StaleReason::RecycledPid, "recycled_pid", false);
        check_reason(StaleReason::OtherEndpoint, "other_endpoint", false);
        check_reason(StaleReason::OtherExe, "other_exe", true);
        check_reason(StaleReason::OtherProtocol, "other_protocol", true);
        check_reason(StaleReason::ProbeFailed, "probe_failed", true);
        assert_eq!(
            StaleReason::Unparsable("identity record is not valid json".into()).to_string(),
            "unparsable: identity record is not valid json"
        );
    }
}
