//! The wrapper's environment knobs (timeouts, logging, the kill switch), read once into a value; it does not resolve the cache root or namespace (router does).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

/// How loudly the wrapper reports that it fell back to a direct compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogLevel {
    Off,
    Warn,
    Debug,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// `ZCCACHE_DISABLE`: run the compiler directly, touch nothing.
    pub(crate) disabled: bool,
    /// `ZCCACHE_LOG`: 1 or warn for one line per fallback, debug for more.
    pub(crate) log: LogLevel,
    /// `ZCCACHE_CONNECT_TIMEOUT_MS`
    pub(crate) connect_timeout: Duration,
    /// `ZCCACHE_REQUEST_TIMEOUT_MS`: waiting for a Lookup or Store answer.
    pub(crate) request_timeout: Duration,
    /// `ZCCACHE_SPAWN_TIMEOUT_MS`: a broker we started, until it answers;
    /// also what a Route may take, since the broker may be spawning a daemon.
    pub(crate) spawn_timeout: Duration,
    /// `ZCCACHE_BROKER_EXE`: the broker binary, instead of the one next to us.
    pub(crate) broker_exe: Option<PathBuf>,
}

impl Config {
    pub(crate) fn from_env(var: impl Fn(&str) -> Option<OsString>) -> Config {
        let millis = |name: &str, default: u64| {
            let value = var(name).and_then(|v| v.to_str().and_then(|v| v.trim().parse().ok()));
            Duration::from_millis(value.unwrap_or(default))
        };
        Config {
            disabled: var("ZCCACHE_DISABLE").is_some_and(|v| truthy(&v)),
            log: var("ZCCACHE_LOG").map_or(LogLevel::Off, |v| log_level(&v)),
            connect_timeout: millis("ZCCACHE_CONNECT_TIMEOUT_MS", 1_000),
            request_timeout: millis("ZCCACHE_REQUEST_TIMEOUT_MS", 5_000),
            spawn_timeout: millis("ZCCACHE_SPAWN_TIMEOUT_MS", 10_000),
            broker_exe: var("ZCCACHE_BROKER_EXE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

fn truthy(value: &OsStr) -> bool {
    let value = value.to_string_lossy();
    ["1", "true", "yes"]
        .iter()
        .any(|t| value.trim().eq_ignore_ascii_case(t))
}

fn log_level(value: &OsStr) -> LogLevel {
    let value = value.to_string_lossy().trim().to_ascii_lowercase();
    match value.as_str() {
        "" | "0" | "off" | "false" | "no" => LogLevel::Off,
        "debug" | "2" => LogLevel::Debug,
        _ => LogLevel::Warn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(vars: &[(&str, &str)], expected: impl FnOnce(&mut Config)) {
        let got = Config::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        });
        let mut want = Config::from_env(|_| None);
        expected(&mut want);
        assert_eq!(got, want);
    }

    #[test]
    fn defaults() {
        let c = Config::from_env(|_| None);
        assert!(!c.disabled);
        assert_eq!(c.log, LogLevel::Off);
        assert_eq!(c.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.spawn_timeout, Duration::from_secs(10));
        assert_eq!(c.broker_exe, None);
    }

    #[test]
    fn knobs() {
        check(&[("ZCCACHE_DISABLE", "1")], |c| c.disabled = true);
        check(&[("ZCCACHE_DISABLE", "Yes")], |c| c.disabled = true);
        check(&[("ZCCACHE_DISABLE", "true")], |c| c.disabled = true);
        check(&[("ZCCACHE_DISABLE", "0")], |_| {});
        check(&[("ZCCACHE_LOG", "1")], |c| c.log = LogLevel::Warn);
        check(&[("ZCCACHE_LOG", "warn")], |c| c.log = LogLevel::Warn);
        check(&[("ZCCACHE_LOG", "DEBUG")], |c| c.log = LogLevel::Debug);
        check(&[("ZCCACHE_LOG", "0")], |_| {});
        check(&[("ZCCACHE_CONNECT_TIMEOUT_MS", "250")], |c| {
            c.connect_timeout = Duration::from_millis(250)
        });
        check(&[("ZCCACHE_REQUEST_TIMEOUT_MS", "junk")], |_| {});
        check(&[("ZCCACHE_SPAWN_TIMEOUT_MS", "20")], |c| {
            c.spawn_timeout = Duration::from_millis(20)
        });
        check(&[("ZCCACHE_BROKER_EXE", "/x/b")], |c| {
            c.broker_exe = Some("/x/b".into())
        });
        check(&[("ZCCACHE_BROKER_EXE", "")], |_| {});
    }
}
