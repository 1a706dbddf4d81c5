//! What `__DATE__`, `__TIME__` and `__TIMESTAMP__` expand to besides the
//! files (cache-keys.md §4): `SOURCE_DATE_EPOCH` as this compiler treats it
//! (decided from its `--version`, not its family), and the caller's zone and
//! local date (from the caller's `TZ`, never the daemon's).
//!
//! It decides nothing about files: which sources use the macros is
//! `scan.rs`'s, and keying them is `cc::pipeline`'s.

use std::collections::BTreeMap;

use crate::cc::tz::Zone;
use crate::cc::Family;

/// How a compiler treats `SOURCE_DATE_EPOCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SdeSupport {
    /// `__DATE__` and `__TIME__` come from it (gcc 7+, clang 16+); clang
    /// 16+ also refuses any compile when it is not a valid epoch.
    Honoured,
    /// It changes nothing (clang before 16).
    Ignored,
    /// Not known (emcc's clang, Apple clang, an unrecognized `--version`):
    /// keyed as if honoured, while the date and time are still taken as
    /// the clock's.
    Unknown,
}

impl SdeSupport {
    /// The probe run that tells: `--version`, whose first line names the
    /// compiler and its version.
    pub(crate) const PROBE: &'static [u8] = b"--version";

    /// From the first line of `--version`.
    pub(crate) fn from_version(family: Family, stdout: &[u8]) -> SdeSupport {
        let text = String::from_utf8_lossy(stdout);
        let first = text.lines().next().unwrap_or_default();
        let major = |v: &str| -> Option<u32> {
            v.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        };
        if let Some(at) = first.find("clang version ") {
            if first[..at].contains("Apple") {
                return SdeSupport::Unknown;
            }
            return match major(&first[at + "clang version ".len()..]) {
                Some(m) if m >= 16 => SdeSupport::Honoured,
                Some(_) => SdeSupport::Ignored,
                None => SdeSupport::Unknown,
            };
        }
        // gcc: "gcc (Debian 12.2.0-14) 12.2.0".
        if family == Family::Gcc && first.contains(" (") {
            return match first.split_whitespace().last().and_then(major) {
                Some(m) if m >= 7 => SdeSupport::Honoured,
                Some(_) => SdeSupport::Ignored,
                None => SdeSupport::Unknown,
            };
        }
        SdeSupport::Unknown
    }
}

/// Everything besides the files that the temporal macros of one request
/// can expand from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Moment {
    /// `SOURCE_DATE_EPOCH` as set, when the compiler may read it: keyed
    /// wherever a temporal macro is used.
    pub(crate) sde: Option<Vec<u8>>,
    /// `__DATE__` and `__TIME__` come from `sde`: the time is then fixed,
    /// and the date needs no clock.
    pub(crate) sde_fixes_time: bool,
    /// The caller's zone, which formats `__TIMESTAMP__` (and the date).
    pub(crate) zone: Vec<u8>,
    /// The caller's local day number at the compile's start; `None` when
    /// its zone cannot be evaluated, so a `__DATE__` cannot be cached.
    pub(crate) today: Option<Vec<u8>>,
}

/// Why a request cannot be looked up at all.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MomentError {
    /// A compiler that honours (or may honour) `SOURCE_DATE_EPOCH` is
    /// given one that is not a valid epoch: clang 16+ fails every compile.
    InvalidSourceDateEpoch,
}

impl Moment {
    /// The moment of a request started at `start_unix_secs` with `env`,
    /// for a compiler treating `SOURCE_DATE_EPOCH` as `support` (`None`
    /// when it is unset and so does not matter).
    pub(crate) fn of(
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
        support: Option<SdeSupport>,
        start_unix_secs: i64,
    ) -> Result<Moment, MomentError> {
        let set = env.get(&b"SOURCE_DATE_EPOCH"[..]);
        let (sde, sde_fixes_time) = match (set, support) {
            (None, _) | (_, None) | (_, Some(SdeSupport::Ignored)) => (None, false),
            (Some(v), Some(s)) => {
                if !is_valid_epoch(v) {
                    return Err(MomentError::InvalidSourceDateEpoch);
                }
                (Some(v.clone()), s == SdeSupport::Honoured)
            }
        };
        let zone = Zone::of(
            env.get(&b"TZ"[..]).map(Vec::as_slice),
            env.get(&b"TZDIR"[..]).map(Vec::as_slice),
        );
        let today = zone
            .local_day(start_unix_secs)
            .map(|d| d.to_string().into_bytes());
        Ok(Moment {
            sde,
            sde_fixes_time,
            zone: zone.identity,
            today,
        })
    }
}

/// What gcc and clang accept: decimal digits, at most 253402300799
/// (9999-12-31T23:59:59Z).
fn is_valid_epoch(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 12
        && v.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|n| n <= 253_402_300_799)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_from_version_lines() {
        let check = |family, line: &str, want| {
            assert_eq!(
                SdeSupport::from_version(family, line.as_bytes()),
                want,
                "{line}"
            );
        };
        use SdeSupport::*;
        check(
            Family::Gcc,
            "gcc (Debian 12.2.0-14+deb12u1) 12.2.0\n",
            Honoured,
        );
        check(Family::Gcc, "gcc (GCC) 6.5.0\n", Ignored);
        check(
            Family::Clang,
            "Debian clang version 16.0.6 (15~deb12u1)\n",
            Honoured,
        );
        check(
            Family::Clang,
            "Debian clang version 14.0.6\nTarget: x\n",
            Ignored,
        );
        check(Family::Clang, "clang version 18.1.8\n", Honoured);
        check(Family::Gcc, "Ubuntu clang version 15.0.7\n", Ignored);
        check(
            Family::Clang,
            "Apple clang version 15.0.0 (clang-1500)\n",
            Unknown,
        );
        check(
            Family::Emcc,
            "emcc (Emscripten gcc/clang-like replacement) 3.1.6\n",
            Unknown,
        );
        check(Family::Clang, "", Unknown);
    }

    #[test]
    fn epochs() {
        for ok in ["0", "86400", "253402300799"] {
            assert!(is_valid_epoch(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-1", "abc", "1e3", "253402300800", " 1"] {
            assert!(!is_valid_epoch(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn the_date_is_the_callers() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<Vec<u8>, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        // 1970-01-01 20:00 UTC is already the 2nd at UTC-10 (TZ=UTC-10).
        let at = 20 * 3600;
        let utc = Moment::of(&env(&[("TZ", "UTC")]), None, at).unwrap();
        let east = Moment::of(&env(&[("TZ", "UTC-10")]), None, at).unwrap();
        assert_eq!(utc.today.as_deref(), Some(&b"0"[..]));
        assert_eq!(east.today.as_deref(), Some(&b"1"[..]));
        assert_ne!(utc.zone, east.zone);
        let sde = [("SOURCE_DATE_EPOCH", "0")];
        let m = Moment::of(&env(&sde), Some(SdeSupport::Ignored), at).unwrap();
        assert_eq!((m.sde, m.sde_fixes_time), (None, false));
        let m = Moment::of(&env(&sde), Some(SdeSupport::Unknown), at).unwrap();
        assert_eq!(
            (m.sde.as_deref(), m.sde_fixes_time),
            (Some(&b"0"[..]), false)
        );
        let m = Moment::of(&env(&sde), Some(SdeSupport::Honoured), at).unwrap();
        assert_eq!(
            (m.sde.as_deref(), m.sde_fixes_time),
            (Some(&b"0"[..]), true)
        );
        assert_eq!(
            Moment::of(
                &env(&[("SOURCE_DATE_EPOCH", "")]),
                Some(SdeSupport::Honoured),
                at
            ),
            Err(MomentError::InvalidSourceDateEpoch)
        );
    }
}
