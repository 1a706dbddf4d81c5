//! Daemon namespace: turns `ZCCACHE_DAEMON_NAMESPACE` into a name safe for
//! file names and logs. It does not read the environment itself.
//!
//! The value is sanitized rather than rejected, as broker.md asks: each
//! character outside `[A-Za-z0-9._-]` becomes `_` and the result is cut to
//! 64 characters. A namespace only separates daemons, so two raw values
//! that sanitize to the same name merely share a daemon; refusing them
//! would instead turn a cosmetic mistake into a direct compile on every
//! call. The one refusal is a name made only of dots (`.`, `..`): it would
//! name a directory rather than a daemon wherever the namespace becomes a
//! path component.

use std::error::Error;
use std::ffi::OsStr;
use std::fmt;

/// The namespace used when `ZCCACHE_DAEMON_NAMESPACE` is unset or empty.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The longest namespace kept; longer values are cut to this many characters.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// Sanitizes a raw namespace value (for example the value of
/// `ZCCACHE_DAEMON_NAMESPACE`): unset or empty gives [`DEFAULT_NAMESPACE`].
pub fn sanitize_namespace(raw: Option<&OsStr>) -> Result<String, NamespaceError> {
    let raw = match raw {
        Some(raw) if !raw.is_empty() => raw,
        _ => return Ok(DEFAULT_NAMESPACE.to_owned()),
    };
    // Non-UTF-8 sequences become U+FFFD first, which then becomes `_` like
    // any other character outside the allowed set.
    let sanitized: String = raw
        .to_string_lossy()
        .chars()
        .map(|c| if is_allowed(c) { c } else { '_' })
        .take(MAX_NAMESPACE_LEN)
        .collect();
    if sanitized.chars().all(|c| c == '.') {
        return Err(NamespaceError { sanitized });
    }
    Ok(sanitized)
}

/// A namespace value that cannot name a daemon even after sanitizing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceError {
    sanitized: String,
}

impl NamespaceError {
    /// The offending value after sanitizing (only dots).
    pub fn value(&self) -> &str {
        &self.sanitized
    }
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "daemon namespace {:?} is made only of dots: choose a name with a letter, digit, `_` or `-`",
            self.sanitized
        )
    }
}

impl Error for NamespaceError {}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[track_caller]
    fn check(raw: Option<&[u8]>, expected: Result<&str, &str>) {
        let got = sanitize_namespace(raw.map(OsStr::from_bytes));
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert_eq!(got.value(), want),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn sanitize() {
        check(None, Ok("default"));
        check(Some(b""), Ok("default"));
        check(Some(b"default"), Ok("default"));
        check(Some(b"ci-job_7.x"), Ok("ci-job_7.x"));
        check(Some(b"a/b"), Ok("a_b"));
        check(Some(b"../etc"), Ok(".._etc"));
        check(Some(b"with space"), Ok("with_space"));
        check(Some("caf\u{e9}".as_bytes()), Ok("caf_"));
        check(Some(b"bad\xffbyte"), Ok("bad_byte"));
        check(Some(b"\0"), Ok("_"));
        check(Some(&[b'x'; 64]), Ok(&"x".repeat(64)));
        check(Some(&[b'x'; 65]), Ok(&"x".repeat(64)));
        check(Some("\u{e9}".repeat(70).as_bytes()), Ok(&"_".repeat(64)));
        check(Some(b"."), Err("."));
        check(Some(b".."), Err(".."));
        check(Some(b"..."), Err("..."));
    }

    #[test]
    fn error_message_names_the_value() {
        let err = sanitize_namespace(Some(OsStr::new(".."))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "daemon namespace \"..\" is made only of dots: choose a name with a letter, digit, `_` or `-`"
        );
    }
}
