//! The zccache wire contract: FrameV1 envelope grammar, the prost messages of `proto/*.proto`, a blocking and an async codec, frames over a byte stream the caller hands in, and the protocol version check. It opens no sockets, starts no runtime and has no file system or compiler knowledge.
//!
//! `proto/envelope.proto` and `proto/zccache.proto` are the contract and
//! document every message; [`envelope`] and [`v1`] match them tag for tag.
//! The byte grammar and its limits are at the top of `codec.rs`.
//!
//! The synchronous wrapper uses [`write_frame`] / [`read_frame`]; the tokio
//! servers use [`FrameStream`] (a [`FrameCodec`] over a byte stream they
//! hand in, with the one end-of-file rule). Either way, [`request_frame`] and
//! [`decode_request`] (and their response twins) move a zccache message in
//! and out of an envelope, and [`check_request_version`] is the one
//! version check, run on the first request of a connection.

pub mod ansi;
pub mod envelope;
pub mod v1;

mod codec;
mod describe;
mod error;
mod payload;
mod stream;
mod version;

pub use codec::{encode_frame, read_frame, write_frame, FrameCodec};
pub use describe::describe;
pub use envelope::Frame;
pub use error::FrameError;
pub use payload::{
    decode_probe, decode_probe_reply, decode_request, decode_response, probe_frame,
    probe_reply_frame, request_frame, response_frame, NONCE_LEN,
};
pub use stream::FrameStream;
pub use version::{check_request_version, VersionCheck, PACKAGE_VERSION, PROTOCOL_VERSION};

/// First byte of every frame; anything else is refused.
pub const FRAMING_BYTE: u8 = 0x01;

/// The only `Frame.envelope_version` we speak.
pub const ENVELOPE_VERSION: u32 = 1;

/// `Frame.payload_protocol` of `zccache.v1` messages ("zc").
pub const PAYLOAD_ZCCACHE: u32 = 0x7A63;

/// `Frame.payload_protocol` of identity probes: a 32-byte nonce, answered
/// by the nonce followed by the answering process's identity.
pub const PAYLOAD_IDENTITY: u32 = 0xB232;

/// Limit on the body of the first frame a server reads on a connection.
pub const MAX_FIRST_FRAME: usize = 64 * 1024;

/// Limit on the body of a first frame that is a `Lookup` to a daemon: it
/// carries the build's argv and whole environment, which big CI
/// environments and long command lines push past `MAX_FIRST_FRAME`.
/// Broker endpoints keep the 64 KiB limit.
pub const MAX_FIRST_LOOKUP_FRAME: usize = 1024 * 1024;

/// Limit on the body of any frame.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[cfg(test)]
mod tests;
