//! The caller's time zone, as glibc's `localtime` would read it from the
//! caller's `TZ` and `TZDIR`: which zone that is (to key `__TIMESTAMP__`) and
//! its UTC offset at an instant (to key the local date `__DATE__` shows).
//!
//! It never touches the daemon's own environment (`setenv` + `tzset` in a
//! threaded server is unsound, and the daemon's `TZ` is not the caller's).
//! What it cannot evaluate exactly (leap-second zone files, a DST zone
//! without transition rules, a malformed `TZ`) yields no offset, and the
//! caller must then not cache the date.

use std::path::{Path, PathBuf};

/// glibc's compiled-in defaults.
const TZDEFAULT: &str = "/etc/localtime";
const TZDIR_DEFAULT: &str = "/usr/share/zoneinfo";

/// A zone as named by the caller's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Zone {
    /// What identifies the zone: `TZ` and `TZDIR` as set, and the zone
    /// file's bytes (or their absence). The same identity formats every
    /// instant the same way.
    pub(crate) identity: Vec<u8>,
    rules: Option<Rules>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rules {
    File(TzFile),
    Posix(Posix),
}

impl Zone {
    /// The zone `localtime` uses for a process with this `TZ` and `TZDIR`
    /// (`None` = unset).
    pub(crate) fn of(tz: Option<&[u8]>, tzdir: Option<&[u8]>) -> Zone {
        let mut identity = Vec::new();
        let mut push = |tag: &[u8], v: Option<&[u8]>| {
            identity.extend_from_slice(tag);
            match v {
                None => identity.push(0),
                Some(v) => {
                    identity.push(1);
                    identity.extend_from_slice(&(v.len() as u64).to_le_bytes());
                    identity.extend_from_slice(v);
                }
            }
        };
        push(b"tz", tz);
        push(b"tzdir", tzdir);
        // glibc: an empty TZ names the file "Universal"; a leading ':' is
        // dropped; unset means /etc/localtime.
        let name: &[u8] = match tz {
            None => TZDEFAULT.as_bytes(),
            Some(b"") => b"Universal",
            Some(v) => v.strip_prefix(b":").unwrap_or(v),
        };
        let file = zone_file(name, tzdir);
        let bytes = file.as_deref().and_then(|f| std::fs::read(f).ok());
        push(b"file", bytes.as_deref());
        let rules = match &bytes {
            Some(b) => TzFile::parse(b).map(Rules::File),
            // No file: UTC when nothing usable was named, else a POSIX TZ.
            None if tz.is_none() || name.is_empty() || name == TZDEFAULT.as_bytes() => {
                Some(Rules::Posix(Posix::utc()))
            }
            None => Posix::parse(name).map(Rules::Posix),
        };
        Zone { identity, rules }
    }

    /// Seconds east of UTC at `unix_secs`, if known.
    pub(crate) fn offset_at(&self, unix_secs: i64) -> Option<i64> {
        match self.rules.as_ref()? {
            Rules::File(f) => f.offset_at(unix_secs),
            Rules::Posix(p) => p.offset_at(unix_secs),
        }
    }

    /// The local day number (days since 1970-01-01 in this zone) at
    /// `unix_secs`: what decides `__DATE__`.
    pub(crate) fn local_day(&self, unix_secs: i64) -> Option<i64> {
        Some((unix_secs + self.offset_at(unix_secs)?).div_euclid(86_400))
    }
}

/// The file glibc reads for `name`: absolute, or under `TZDIR`.
fn zone_file(name: &[u8], tzdir: Option<&[u8]>) -> Option<PathBuf> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    if name.is_empty() {
        return None;
    }
    let name = Path::new(OsStr::from_bytes(name));
    if name.is_absolute() {
        return Some(name.to_path_buf());
    }
    let dir = match tzdir {
        Some(d) if !d.is_empty() => Path::new(OsStr::from_bytes(d)),
        _ => Path::new(TZDIR_DEFAULT),
    };
    Some(dir.join(name))
}

/// A TZif file (RFC 8536): transitions, their offsets and the footer rule
/// for instants after the last one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TzFile {
    transitions: Vec<i64>,
    /// Offset east of UTC after each transition.
    offsets: Vec<i64>,
    /// Before the first transition: the first time type.
    initial: i64,
    footer: Option<Posix>,
}

impl TzFile {
    /// `None` for anything malformed or with leap seconds (whose times are
    /// not Unix times).
    fn parse(b: &[u8]) -> Option<TzFile> {
        let (v1, rest) = Header::read(b)?;
        if v1.leapcnt != 0 {
            return None;
        }
        if v1.version == 0 {
            return TzFile::data(&v1, rest, 4).map(|(f, _)| f);
        }
        // Version 2+: skip the 32-bit block, read the 64-bit one and the
        // footer.
        let skip = v1.block_len(4);
        let (v2, rest) = Header::read(rest.get(skip..)?)?;
        if v2.leapcnt != 0 {
            return None;
        }
        let (mut file, rest) = TzFile::data(&v2, rest, 8)?;
        let footer = rest.strip_prefix(b"\n")?;
        let end = footer.iter().position(|&c| c == b'\n')?;
        let footer = &footer[..end];
        if !footer.is_empty() {
            file.footer = Some(Posix::parse(footer)?);
        }
        Some(file)
    }

    fn data<'a>(h: &Header, b: &'a [u8], time_size: usize) -> Option<(TzFile, &'a [u8])> {
        let need = h.block_len(time_size);
        let body = b.get(..need)?;
        let times = &body[..h.timecnt * time_size];
        let indices = &body[h.timecnt * time_size..h.timecnt * (time_size + 1)];
        let types = &body[h.timecnt * (time_size + 1)..][..h.typecnt * 6];
        let offset_of = |i: usize| -> Option<i64> {
            let t = types.get(i * 6..i * 6 + 4)?;
            Some(i64::from(i32::from_be_bytes(t.try_into().ok()?)))
        };
        let transitions = times
            .chunks(time_size)
            .map(|c| match time_size {
                4 => i64::from(i32::from_be_bytes(c.try_into().unwrap())),
                _ => i64::from_be_bytes(c.try_into().unwrap()),
            })
            .collect();
        let offsets = indices
            .iter()
            .map(|&i| offset_of(usize::from(i)))
            .collect::<Option<Vec<_>>>()?;
        let file = TzFile {
            transitions,
            offsets,
            initial: offset_of(0)?,
            footer: None,
        };
        Some((file, &b[need..]))
    }

    fn offset_at(&self, t: i64) -> Option<i64> {
        let after = self.transitions.partition_point(|&x| x <= t);
        if after == 0 {
            return Some(self.initial);
        }
        if after == self.transitions.len() {
            if let Some(footer) = &self.footer {
                return footer.offset_at(t);
            }
        }
        Some(self.offsets[after - 1])
    }
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(b: &[u8]) -> Option<(Header, &[u8])> {
        if b.get(..4)? != b"TZif" {
            return None;
        }
        let version = match *b.get(4)? {
            0 => 0,
            v @ b'2'..=b'9' => v - b'0',
            _ => return None,
        };
        let count = |i: usize| -> Option<usize> {
            let c = b.get(20 + 4 * i..24 + 4 * i)?;
            Some(u32::from_be_bytes(c.try_into().ok()?) as usize)
        };
        let h = Header {
            version,
            isutcnt: count(0)?,
            isstdcnt: count(1)?,
            leapcnt: count(2)?,
            timecnt: count(3)?,
            typecnt: count(4)?,
            charcnt: count(5)?,
        };
        if h.typecnt == 0 {
            return None;
        }
        Some((h, b.get(44..)?))
    }

    fn block_len(&self, time_size: usize) -> usize {
        self.timecnt * (time_size + 1)
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (time_size + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

/// A POSIX TZ rule: `std offset [dst [offset] ,start[/time],end[/time]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Posix {
    /// Seconds east of UTC in standard time.
    std: i64,
    dst: Option<Dst>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Dst {
    offset: i64,
    start: (DayRule, i64),
    end: (DayRule, i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DayRule {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(i64),
    /// `n`: day 0..=365, leap days counted.
    Julian0(i64),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Month(i64, i64, i64),
}

impl Posix {
    fn utc() -> Posix {
        Posix { std: 0, dst: None }
    }

    /// Strict: anything glibc might read another way is `None`. A DST name
    /// without rules (glibc then reads a `posixrules` file) is `None` too.
    fn parse(s: &[u8]) -> Option<Posix> {
        let mut p = Parser { s, i: 0 };
        p.name()?;
        let std = -p.offset()?;
        if p.done() {
            return Some(Posix { std, dst: None });
        }
        p.name()?;
        let offset = if p.peek().is_some_and(|c| c != b',') {
            -p.offset()?
        } else {
            std + 3600
        };
        p.eat(b',')?;
        let start = p.rule()?;
        p.eat(b',')?;
        let end = p.rule()?;
        p.done().then_some(Posix {
            std,
            dst: Some(Dst { offset, start, end }),
        })
    }

    /// `None` before 1970, where glibc does not apply DST rules the same way.
    fn offset_at(&self, t: i64) -> Option<i64> {
        let Some(dst) = &self.dst else {
            return Some(self.std);
        };
        let (year, _, _) = civil_from_days((t + self.std).div_euclid(86_400));
        if year < 1970 {
            return None;
        }
        // Transitions are given in local time: the start in standard time,
        // the end in daylight time.
        let start = dst.start.0.day(year) * 86_400 + dst.start.1 - self.std;
        let end = dst.end.0.day(year) * 86_400 + dst.end.1 - dst.offset;
        let in_dst = if start < end {
            start <= t && t < end
        } else {
            !(end <= t && t < start)
        };
        Some(if in_dst { dst.offset } else { self.std })
    }
}

impl DayRule {
    /// Days since the epoch of this rule's day in `year`.
    fn day(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        match self {
            DayRule::Julian0(n) => jan1 + n,
            DayRule::Julian1(n) => {
                let leap_before = is_leap(year) && n >= 60;
                jan1 + n - 1 + i64::from(leap_before)
            }
            DayRule::Month(m, w, d) => {
                let first = days_from_civil(year, m, 1);
                // 1970-01-01 was a Thursday (4).
                let weekday = (first + 4).rem_euclid(7);
                let mut day = first + (d - weekday).rem_euclid(7) + (w - 1) * 7;
                let next_month = if m == 12 {
                    days_from_civil(year + 1, 1, 1)
                } else {
                    days_from_civil(year, m + 1, 1)
                };
                while day >= next_month {
                    day -= 7;
                }
                day
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i == self.s.len()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// `<…>` or three or more letters.
    fn name(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'<') {
            while self.peek()? != b'>' {
                self.i += 1;
            }
            self.i += 1;
            return (self.i - start >= 5).then_some(());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - start >= 3).then_some(())
    }

    fn number(&mut self, max_digits: usize) -> Option<i64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) && self.i - start < max_digits {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    /// `[+-]hh[:mm[:ss]]` in seconds (west positive, as written).
    fn offset(&mut self) -> Option<i64> {
        let sign = match self.peek()? {
            b'-' => {
                self.i += 1;
                -1
            }
            b'+' => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        Some(sign * self.clock(24)?)
    }

    /// `hh[:mm[:ss]]` with hours up to `max_hours`.
    fn clock(&mut self, max_hours: i64) -> Option<i64> {
        let h = self.number(3)?;
        let mut secs = h * 3600;
        if self.peek() == Some(b':') {
            self.i += 1;
            let m = self.number(2)?;
            secs += m * 60;
            if self.peek() == Some(b':') {
                self.i += 1;
                secs += self.number(2)?;
            }
        }
        (h <= max_hours).then_some(secs)
    }

    /// A day rule and its `/time` (default 02:00, which may be negative or
    /// up to 167 hours in TZif footers).
    fn rule(&mut self) -> Option<(DayRule, i64)> {
        let day = match self.peek()? {
            b'J' => {
                self.i += 1;
                let n = self.number(3)?;
                (1..=365).contains(&n).then_some(DayRule::Julian1(n))?
            }
            b'M' => {
                self.i += 1;
                let m = self.number(2)?;
                self.eat(b'.')?;
                let w = self.number(1)?;
                self.eat(b'.')?;
                let d = self.number(1)?;
                ((1..=12).contains(&m) && (1..=5).contains(&w) && (0..=6).contains(&d))
                    .then_some(DayRule::Month(m, w, d))?
            }
            _ => {
                let n = self.number(3)?;
                (0..=365).contains(&n).then_some(DayRule::Julian0(n))?
            }
        };
        let time = if self.peek() == Some(b'/') {
            self.i += 1;
            let sign = if self.peek() == Some(b'-') {
                self.i += 1;
                -1
            } else {
                self.eat(b'+');
                1
            };
            sign * self.clock(167)?
        } else {
            7200
        };
        Some((day, time))
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (H. Hinnant).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `date` (glibc) says the offset is, in seconds east.
    fn glibc_offset(tz: Option<&str>, t: i64) -> i64 {
        let mut c = Command::new("date");
        c.args([format!("-d@{t}"), "+%z".to_owned()]);
        match tz {
            Some(v) => c.env("TZ", v),
            None => c.env_remove("TZ"),
        };
        c.env_remove("TZDIR");
        let out = String::from_utf8(c.output().unwrap().stdout).unwrap();
        let z = out.trim();
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let h: i64 = z[1..3].parse().unwrap();
        let m: i64 = z[3..5].parse().unwrap();
        sign * (h * 3600 + m * 60)
    }

    #[test]
    fn offsets_match_glibc() {
        let zones = [
            None,
            Some(""),
            Some("UTC"),
            Some("UTC+10"),
            Some("<+0530>-5:30"),
            Some("EST5EDT,M3.2.0,M11.1.0"),
            Some("AEST-10AEDT,M10.1.0,M4.1.0/3"),
            Some("Europe/Berlin"),
            Some(":America/New_York"),
            Some("Australia/Lord_Howe"),
            Some("Asia/Kathmandu"),
            Some("America/Sao_Paulo"),
            Some("Etc/GMT-14"),
            Some("/usr/share/zoneinfo/Pacific/Chatham"),
        ];
        // Around DST changes in 2025 and 2040 (after the 2037 transitions
        // in the files, where the footer rules), and now.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let instants = [
            now,
            1_741_500_000, // 2025-03-09
            1_741_572_000,
            1_743_300_000, // 2025-03-30
            1_761_800_000, // 2025-10-30
            1_762_066_800, // 2025-11-02
            2_214_000_000, // 2040-02
            2_225_000_000, // 2040-07
            40_000_000,    // 1971-04
        ];
        for tz in zones {
            let zone = Zone::of(tz.map(str::as_bytes), None);
            for t in instants {
                assert_eq!(
                    zone.offset_at(t),
                    Some(glibc_offset(tz, t)),
                    "TZ={tz:?} at {t}"
                );
            }
        }
    }

    #[test]
    fn what_cannot_be_evaluated_has_no_offset() {
        // A DST name without rules, malformed strings, a leap-second zone
        // (or, where those are not installed, a name that is no rule).
        for tz in ["ABC5DEF", "no such zone 1", "X+1", "right/UTC"] {
            let zone = Zone::of(Some(tz.as_bytes()), None);
            assert_eq!(zone.offset_at(0), None, "{tz}");
        }
    }

    #[test]
    fn identity_covers_tz_tzdir_and_the_file() {
        let a = Zone::of(Some(b"UTC+10"), None);
        let b = Zone::of(Some(b"UTC+11"), None);
        let c = Zone::of(Some(b"UTC+10"), Some(b"/nowhere"));
        let d = Zone::of(None, None);
        assert_ne!(a.identity, b.identity);
        assert_ne!(a.identity, c.identity);
        assert_ne!(a.identity, d.identity);
        assert_eq!(a.local_day(36_000 - 1), Some(-1));
        assert_eq!(a.local_day(36_000), Some(0));
    }

    #[test]
    fn civil_days_round_trip() {
        for z in [-800_000, -1, 0, 59, 60, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
