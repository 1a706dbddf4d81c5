//! Rust types for `proto/envelope.proto` (package `zccache.envelope`), written by hand to match it tag for tag; no I/O and no payload knowledge.
//!
//! The shapes are the ones `prost-build` would generate, so that the
//! `.proto` stays the documentation. A test in `tests/schema.rs` parses the
//! `.proto` and proves the two agree.

/// One FrameV1 envelope: the body of every frame on the wire.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Frame {
    /// Always [`crate::ENVELOPE_VERSION`]; any other value is refused.
    #[prost(uint32, tag = "1")]
    pub envelope_version: u32,
    #[prost(enumeration = "Kind", tag = "2")]
    pub kind: i32,
    /// Which protocol `payload` speaks, e.g. [`crate::PAYLOAD_ZCCACHE`].
    #[prost(uint32, tag = "3")]
    pub payload_protocol: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub payload: ::prost::alloc::vec::Vec<u8>,
    /// Per connection, from 1; echoed in the response.
    #[prost(uint64, tag = "5")]
    pub request_id: u64,
    /// Only [`PayloadEncoding::None`] is accepted.
    #[prost(enumeration = "PayloadEncoding", tag = "6")]
    pub payload_encoding: i32,
    /// 0 means no deadline.
    #[prost(uint64, tag = "7")]
    pub deadline_unix_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum Kind {
    Request = 0,
    Response = 1,
    Event = 2,
    Cancel = 3,
}

impl Kind {
    /// The name of the value as it appears in the `.proto`.
    pub fn as_str_name(&self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Response => "RESPONSE",
            Self::Event => "EVENT",
            Self::Cancel => "CANCEL",
        }
    }

    /// The value named `value` in the `.proto`, if there is one.
    pub fn from_str_name(value: &str) -> Option<Self> {
        match value {
            "REQUEST" => Some(Self::Request),
            "RESPONSE" => Some(Self::Response),
            "EVENT" => Some(Self::Event),
            "CANCEL" => Some(Self::Cancel),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum PayloadEncoding {
    /// The only encoding we accept.
    None = 0,
    Zstd = 1,
    Snappy = 2,
    Lz4 = 3,
}

impl PayloadEncoding {
    /// The name of the value as it appears in the `.proto`.
    pub fn as_str_name(&self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Zstd => "ZSTD",
            Self::Snappy => "SNAPPY",
            Self::Lz4 => "LZ4",
        }
    }

    /// The value named `value` in the `.proto`, if there is one.
    pub fn from_str_name(value: &str) -> Option<Self> {
        match value {
            "NONE" => Some(Self::None),
            "ZSTD" => Some(Self::Zstd),
            "SNAPPY" => Some(Self::Snappy),
            "LZ4" => Some(Self::Lz4),
            _ => None,
        }
    }
}
