//! The zccache protocol version and the one check every receiver runs on a request; it does not decide what happens after a mismatch (the broker replaces, the wrapper compiles directly).

use crate::v1;

/// The zccache protocol version this build speaks (`Request.protocol_version`).
///
/// It is 2 unless the crate was built with the environment variable
/// `ZCCACHE_PROTOCOL_VERSION_OVERRIDE` set to a positive decimal number, so
/// tests can build a binary that speaks another version. A malformed
/// override fails the build.
pub const PROTOCOL_VERSION: u32 = match option_env!("ZCCACHE_PROTOCOL_VERSION_OVERRIDE") {
    Some(text) => parse_version(text),
    // 2: a Hit carries its outputs and the wrapper writes them; under 1 the
    // daemon had written them, so a protocol-1 wrapper would leave a hit's
    // outputs unwritten.
    None => 2,
};

/// The version of this zccache package, sent to peers in a
/// [`v1::VersionMismatch`] so a person can tell which install is stale.
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Outcome of [`check_request_version`]: a mismatch is an answer to send,
/// not an error.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionCheck {
    Compatible,
    /// Answer with `v1::Response::version_mismatch(..)` and close.
    Mismatch(v1::VersionMismatch),
}

/// Compares `request.protocol_version` with ours.
///
/// A shutdown request is compatible whatever its version: wire.md makes
/// Shutdown version-independent so any zccache can stop a stale process
/// sitting on its name.
pub fn check_request_version(request: &v1::Request) -> VersionCheck {
    let shutdown = matches!(request.body, Some(v1::request::Body::Shutdown(_)));
    if request.protocol_version == PROTOCOL_VERSION || shutdown {
        return VersionCheck::Compatible;
    }
    VersionCheck::Mismatch(v1::VersionMismatch {
        expected: PROTOCOL_VERSION,
        received: request.protocol_version,
        peer_version_string: PACKAGE_VERSION.to_owned(),
    })
}

/// Parses a positive decimal `u32` at compile time; panicking here is a
/// build error, never a runtime one.
const fn parse_version(text: &str) -> u32 {
    let bytes = text.as_bytes();
    assert!(
        !bytes.is_empty(),
        "ZCCACHE_PROTOCOL_VERSION_OVERRIDE is empty"
    );
    let mut value: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let digit = bytes[i];
        assert!(
            digit.is_ascii_digit(),
            "ZCCACHE_PROTOCOL_VERSION_OVERRIDE must be a decimal number"
        );
        value = match value.checked_mul(10) {
            Some(v) => v,
            None => panic!("ZCCACHE_PROTOCOL_VERSION_OVERRIDE does not fit a u32"),
        };
        value = match value.checked_add((digit - b'0') as u32) {
            Some(v) => v,
            None => panic!("ZCCACHE_PROTOCOL_VERSION_OVERRIDE does not fit a u32"),
        };
        i += 1;
    }
    // Version 0 is what a request that never set the field carries.
    assert!(
        value != 0,
        "ZCCACHE_PROTOCOL_VERSION_OVERRIDE must not be 0"
    );
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use v1::request::Body;

    #[test]
    fn parse_version_accepts_decimal() {
        assert_eq!(parse_version("1"), 1);
        assert_eq!(parse_version("42"), 42);
        assert_eq!(parse_version("4294967295"), u32::MAX);
    }

    #[test]
    fn default_is_two_without_override() {
        match option_env!("ZCCACHE_PROTOCOL_VERSION_OVERRIDE") {
            None => assert_eq!(PROTOCOL_VERSION, 2),
            Some(text) => assert_eq!(PROTOCOL_VERSION.to_string(), text.trim_start_matches('0')),
        }
    }

    #[track_caller]
    fn check(request: v1::Request, expected: VersionCheck) {
        assert_eq!(check_request_version(&request), expected);
    }

    #[test]
    fn version_check() {
        let status = || Body::Status(v1::StatusRequest { all: false });
        check(v1::Request::new(status()), VersionCheck::Compatible);
        let other = PROTOCOL_VERSION.wrapping_add(1);
        let mismatch = |received| {
            VersionCheck::Mismatch(v1::VersionMismatch {
                expected: PROTOCOL_VERSION,
                received,
                peer_version_string: PACKAGE_VERSION.to_owned(),
            })
        };
        check(
            v1::Request {
                protocol_version: other,
                body: Some(status()),
            },
            mismatch(other),
        );
        check(
            v1::Request {
                protocol_version: 0,
                body: None,
            },
            mismatch(0),
        );
        check(
            v1::Request {
                protocol_version: other,
                body: Some(Body::Shutdown(v1::ShutdownRequest { all: false })),
            },
            VersionCheck::Compatible,
        );
    }

    #[test]
    fn mismatch_says_who_is_older() {
        let m = |expected, received| v1::VersionMismatch {
            expected,
            received,
            peer_version_string: String::new(),
        };
        assert!(m(2, 1).sender_is_older());
        assert!(!m(1, 2).sender_is_older());
    }
}
