//! `FrameError`: why a frame could not be read, written or unpacked; it does not decide what the connection does next (any error ends it).
//!
//! The kind is private so new failure modes can be added without breaking
//! callers; callers branch with the `is_*` queries.

use std::fmt;
use std::io;

use crate::envelope::{Kind, PayloadEncoding};
use crate::{FRAMING_BYTE, PAYLOAD_ZCCACHE};

/// A frame could not be read, written or unpacked. Any such error is fatal
/// to the connection it happened on and to nothing else.
#[derive(Debug)]
pub struct FrameError {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Io(io::Error),
    /// The stream ended cleanly before the first byte of a frame.
    Closed,
    /// The stream ended inside a frame.
    Truncated {
        have: usize,
        need: usize,
    },
    BadFramingByte(u8),
    TooLong {
        len: usize,
        limit: usize,
    },
    InvalidProtobuf(prost::DecodeError),
    UnsupportedEnvelopeVersion(u32),
    UnsupportedPayloadEncoding(i32),
    UnknownProtocol(u32),
    UnexpectedKind {
        got: i32,
        expected: Kind,
    },
    BadProbe {
        len: usize,
    },
    NonceMismatch,
}

impl FrameError {
    pub(crate) fn closed() -> Self {
        Self {
            kind: ErrorKind::Closed,
        }
    }

    pub(crate) fn truncated(have: usize, need: usize) -> Self {
        Self {
            kind: ErrorKind::Truncated { have, need },
        }
    }

    pub(crate) fn bad_framing_byte(byte: u8) -> Self {
        Self {
            kind: ErrorKind::BadFramingByte(byte),
        }
    }

    pub(crate) fn too_long(len: usize, limit: usize) -> Self {
        Self {
            kind: ErrorKind::TooLong { len, limit },
        }
    }

    pub(crate) fn invalid_protobuf(err: prost::DecodeError) -> Self {
        Self {
            kind: ErrorKind::InvalidProtobuf(err),
        }
    }

    pub(crate) fn unsupported_envelope_version(version: u32) -> Self {
        Self {
            kind: ErrorKind::UnsupportedEnvelopeVersion(version),
        }
    }

    pub(crate) fn unsupported_payload_encoding(encoding: i32) -> Self {
        Self {
            kind: ErrorKind::UnsupportedPayloadEncoding(encoding),
        }
    }

    pub(crate) fn from_unknown_protocol(protocol: u32) -> Self {
        Self {
            kind: ErrorKind::UnknownProtocol(protocol),
        }
    }

    pub(crate) fn unexpected_kind(got: i32, expected: Kind) -> Self {
        Self {
            kind: ErrorKind::UnexpectedKind { got, expected },
        }
    }

    pub(crate) fn bad_probe(len: usize) -> Self {
        Self {
            kind: ErrorKind::BadProbe { len },
        }
    }

    pub(crate) fn nonce_mismatch() -> Self {
        Self {
            kind: ErrorKind::NonceMismatch,
        }
    }

    /// The underlying stream failed; see [`FrameError::io_error`].
    pub fn is_io(&self) -> bool {
        matches!(self.kind, ErrorKind::Io(_))
    }

    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            ErrorKind::Io(err) => Some(err),
            _ => None,
        }
    }

    /// The peer closed the stream between frames: an orderly end, not a
    /// protocol violation.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, ErrorKind::Closed)
    }

    /// The stream ended in the middle of a frame.
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. })
    }

    pub fn is_bad_framing_byte(&self) -> bool {
        matches!(self.kind, ErrorKind::BadFramingByte(_))
    }

    /// The declared (or, when writing, actual) body length exceeds the limit.
    pub fn is_too_long(&self) -> bool {
        matches!(self.kind, ErrorKind::TooLong { .. })
    }

    /// The frame or its payload is not valid protobuf for its message type.
    pub fn is_invalid_protobuf(&self) -> bool {
        matches!(self.kind, ErrorKind::InvalidProtobuf(_))
    }

    pub fn is_unsupported_envelope_version(&self) -> bool {
        matches!(self.kind, ErrorKind::UnsupportedEnvelopeVersion(_))
    }

    pub fn is_unsupported_payload_encoding(&self) -> bool {
        matches!(self.kind, ErrorKind::UnsupportedPayloadEncoding(_))
    }

    /// The payload protocol, when the frame's payload speaks a protocol
    /// other than the one asked for; wire.md says the answer is a zccache
    /// error naming it.
    pub fn unknown_protocol(&self) -> Option<u32> {
        match self.kind {
            ErrorKind::UnknownProtocol(protocol) => Some(protocol),
            _ => None,
        }
    }

    pub fn is_unknown_protocol(&self) -> bool {
        self.unknown_protocol().is_some()
    }

    /// A request was expected and something else came, or the reverse.
    pub fn is_unexpected_kind(&self) -> bool {
        matches!(self.kind, ErrorKind::UnexpectedKind { .. })
    }

    /// An identity probe payload has the wrong length, or its reply does
    /// not echo the nonce.
    pub fn is_bad_probe(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::BadProbe { .. } | ErrorKind::NonceMismatch
        )
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // The cause is exposed through `source()`, so it is not repeated here.
            ErrorKind::Io(_) => f.write_str("i/o error on the frame stream"),
            ErrorKind::Closed => f.write_str("stream closed before a frame"),
            ErrorKind::Truncated { have, need } => {
                write!(f, "stream closed inside a frame ({have} of {need} bytes)")
            }
            ErrorKind::BadFramingByte(byte) => {
                write!(
                    f,
                    "bad framing byte {byte:#04x} (expected {FRAMING_BYTE:#04x})"
                )
            }
            ErrorKind::TooLong { len, limit } => {
                write!(
                    f,
                    "frame body of {len} bytes exceeds the {limit}-byte limit"
                )
            }
            // prost's error is printed, not chained: it carries the field path,
            // which is the useful part, and has no further source.
            ErrorKind::InvalidProtobuf(err) => write!(f, "invalid protobuf: {err}"),
            ErrorKind::UnsupportedEnvelopeVersion(version) => {
                write!(f, "unsupported envelope version {version}")
            }
            ErrorKind::UnsupportedPayloadEncoding(encoding) => {
                match PayloadEncoding::try_from(*encoding) {
                    Ok(known) => {
                        write!(f, "unsupported payload encoding {}", known.as_str_name())
                    }
                    Err(_) => write!(f, "unsupported payload encoding {encoding}"),
                }
            }
            ErrorKind::UnknownProtocol(protocol) => write!(
                f,
                "unknown payload protocol {protocol:#x} (expected {PAYLOAD_ZCCACHE:#x})"
            ),
            ErrorKind::UnexpectedKind { got, expected } => {
                f.write_str("unexpected frame kind ")?;
                match Kind::try_from(*got) {
                    Ok(known) => f.write_str(known.as_str_name())?,
                    Err(_) => write!(f, "{got}")?,
                }
                write!(f, " (expected {})", expected.as_str_name())
            }
            ErrorKind::BadProbe { len } => {
                write!(f, "identity probe payload of {len} bytes (expected 32)")
            }
            ErrorKind::NonceMismatch => f.write_str("identity probe reply does not echo the nonce"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(err: io::Error) -> Self {
        Self {
            kind: ErrorKind::Io(err),
        }
    }
}

/// For callers that speak `io::Result`: an I/O failure comes back as
/// itself, anything else as `InvalidData` wrapping the frame error.
impl From<FrameError> for io::Error {
    fn from(err: FrameError) -> Self {
        match err.kind {
            ErrorKind::Io(err) => err,
            ErrorKind::Closed | ErrorKind::Truncated { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, err)
            }
            _ => io::Error::new(io::ErrorKind::InvalidData, err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(err: FrameError, expected: &str) {
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn messages() {
        check(
            FrameError::too_long(4_294_967_295, 65_536),
            "frame body of 4294967295 bytes exceeds the 65536-byte limit",
        );
        check(
            FrameError::bad_framing_byte(2),
            "bad framing byte 0x02 (expected 0x01)",
        );
        check(
            FrameError::unsupported_envelope_version(7),
            "unsupported envelope version 7",
        );
        check(
            FrameError::unsupported_payload_encoding(1),
            "unsupported payload encoding ZSTD",
        );
        check(
            FrameError::unsupported_payload_encoding(99),
            "unsupported payload encoding 99",
        );
        check(
            FrameError::from_unknown_protocol(0xB232),
            "unknown payload protocol 0xb232 (expected 0x7a63)",
        );
        check(
            FrameError::unexpected_kind(1, Kind::Request),
            "unexpected frame kind RESPONSE (expected REQUEST)",
        );
        check(
            FrameError::unexpected_kind(9, Kind::Response),
            "unexpected frame kind 9 (expected RESPONSE)",
        );
        check(
            FrameError::truncated(3, 5),
            "stream closed inside a frame (3 of 5 bytes)",
        );
        check(FrameError::closed(), "stream closed before a frame");
        check(
            FrameError::bad_probe(31),
            "identity probe payload of 31 bytes (expected 32)",
        );
        check(
            FrameError::nonce_mismatch(),
            "identity probe reply does not echo the nonce",
        );
        check(
            io::Error::other("boom").into(),
            "i/o error on the frame stream",
        );
    }

    #[test]
    fn io_cause_is_chained_not_repeated() {
        let err = FrameError::from(io::Error::new(io::ErrorKind::BrokenPipe, "pipe gone"));
        assert!(err.is_io());
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::BrokenPipe)
        );
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("pipe gone"));
        assert!(!err.to_string().contains("pipe gone"));
        let back = io::Error::from(err);
        assert_eq!(back.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn queries() {
        assert!(FrameError::too_long(5, 4).is_too_long());
        assert!(!FrameError::too_long(5, 4).is_io());
        assert_eq!(
            FrameError::from_unknown_protocol(7).unknown_protocol(),
            Some(7)
        );
        assert!(FrameError::nonce_mismatch().is_bad_probe());
        let as_io = io::Error::from(FrameError::bad_framing_byte(0));
        assert_eq!(as_io.kind(), io::ErrorKind::InvalidData);
        assert_eq!(as_io.to_string(), "bad framing byte 0x00 (expected 0x01)");
    }
}
