//! The FrameV1 byte format: blocking `encode_frame`/`read_frame`/`write_frame` for the wrapper and a tokio-util `FrameCodec` for the servers; no sockets, no runtime, no payload knowledge.
//!
//! Grammar (wire.md is the authority; this restates it where the code is):
//!
//! ```text
//! frame        = framing-byte body-length body
//! framing-byte = %x01                 ; anything else: refuse, close
//! body-length  = u32, little endian   ; number of body bytes that follow
//! body         = protobuf zccache.envelope.Frame (proto/envelope.proto)
//! ```
//!
//! Limits: `body-length` is checked against the limit before any buffer is
//! reserved for the body. A server applies [`MAX_FIRST_FRAME`] (64 KiB) to
//! the first frame of a connection and [`MAX_FRAME`] (16 MiB) to later ones;
//! nothing larger than [`MAX_FRAME`] is ever written.
//!
//! Version: inside the body, `envelope_version` (tag 1) must equal
//! [`ENVELOPE_VERSION`] and `payload_encoding` (tag 6) must be NONE;
//! anything else is refused after decoding. The payload's own version
//! (`zccache.v1.Request.protocol_version`) is checked one layer up, by
//! [`crate::check_request_version`].

use std::io::{self, Read, Write};

use bytes::{Buf, BufMut, BytesMut};
use prost::Message;
use tokio_util::codec::{Decoder, Encoder};

use crate::envelope::{Frame, PayloadEncoding};
use crate::{FrameError, ENVELOPE_VERSION, FRAMING_BYTE, MAX_FIRST_FRAME, MAX_FRAME};

/// Framing byte plus the u32 length.
const HEAD_LEN: usize = 5;

/// The full wire bytes of `frame`: framing byte, u32 LE body length, body.
///
/// This does not enforce [`MAX_FRAME`]; [`write_frame`] and [`FrameCodec`]
/// do.
///
/// # Panics
///
/// If the encoded body exceeds `u32::MAX` bytes, which the length field
/// cannot express (and no peer would accept).
pub fn encode_frame(frame: &Frame) -> Vec<u8> {
    let len = frame.encoded_len();
    let wire_len = u32::try_from(len).expect("frame body longer than u32::MAX bytes");
    let mut out = Vec::with_capacity(HEAD_LEN + len);
    out.push(FRAMING_BYTE);
    out.extend_from_slice(&wire_len.to_le_bytes());
    frame.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// Writes `frame` in one `write_all` and flushes.
///
/// A frame whose body exceeds [`MAX_FRAME`] is refused with
/// `io::ErrorKind::InvalidData` (wrapping a too-long [`FrameError`]) and
/// nothing is written, since every peer would refuse it.
pub fn write_frame(w: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let len = frame.encoded_len();
    if len > MAX_FRAME {
        return Err(FrameError::too_long(len, MAX_FRAME).into());
    }
    w.write_all(&encode_frame(frame))?;
    w.flush()
}

/// Reads exactly one frame, refusing a body longer than `limit` before
/// allocating for it, then checks the envelope version and encoding.
///
/// The stream ending before the first byte is [`FrameError::is_closed`];
/// ending later is [`FrameError::is_truncated`].
pub fn read_frame(r: &mut impl Read, limit: usize) -> Result<Frame, FrameError> {
    let mut head = [0u8; HEAD_LEN];
    // Read the framing byte alone so a wrong one is refused at once instead
    // of waiting for four more bytes that may never come.
    let got = read_full(r, &mut head[..1])?;
    if got == 0 {
        return Err(FrameError::closed());
    }
    if head[0] != FRAMING_BYTE {
        return Err(FrameError::bad_framing_byte(head[0]));
    }
    let got = read_full(r, &mut head[1..])?;
    if got < HEAD_LEN - 1 {
        return Err(FrameError::truncated(1 + got, HEAD_LEN));
    }
    let len = check_len(&head, limit)?;
    let mut body = vec![0u8; len];
    let got = read_full(r, &mut body)?;
    if got < len {
        return Err(FrameError::truncated(HEAD_LEN + got, HEAD_LEN + len));
    }
    decode_body(&body)
}

/// A tokio-util codec for FrameV1 frames.
///
/// Decoding returns `Ok(None)` until a whole frame is buffered, checks the
/// declared length before reserving space for the body, and never panics.
/// After an `Err` the connection must be dropped: the codec's state is not
/// meant to be resumed.
#[derive(Debug)]
pub struct FrameCodec {
    state: DecodeState,
    first_limit: usize,
    later_limit: usize,
    decoded: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    /// Waiting for the framing byte and the length.
    Head,
    /// The head is consumed; waiting for this many body bytes.
    Data(usize),
}

impl FrameCodec {
    /// For the serving side of a connection, which reads requests: the
    /// first frame may be at most [`MAX_FIRST_FRAME`], later ones
    /// [`MAX_FRAME`].
    pub fn new() -> Self {
        Self::with_limits(MAX_FIRST_FRAME, MAX_FRAME)
    }

    /// For the calling side, which reads responses: the first response can
    /// carry a whole compiler output, so every frame may be [`MAX_FRAME`].
    pub fn for_responses() -> Self {
        Self::with_limits(MAX_FRAME, MAX_FRAME)
    }

    /// Custom limits; `later_limit` also bounds what this codec encodes.
    pub fn with_limits(first_limit: usize, later_limit: usize) -> Self {
        Self {
            state: DecodeState::Head,
            first_limit,
            later_limit,
            decoded: 0,
        }
    }

    fn current_limit(&self) -> usize {
        if self.decoded == 0 {
            self.first_limit
        } else {
            self.later_limit
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let len = match self.state {
            DecodeState::Data(len) => len,
            DecodeState::Head => {
                let Some(&first) = src.first() else {
                    return Ok(None);
                };
                if first != FRAMING_BYTE {
                    return Err(FrameError::bad_framing_byte(first));
                }
                if src.len() < HEAD_LEN {
                    return Ok(None);
                }
                let head: [u8; HEAD_LEN] = src[..HEAD_LEN].try_into().expect("length checked");
                let len = check_len(&head, self.current_limit())?;
                src.advance(HEAD_LEN);
                self.state = DecodeState::Data(len);
                len
            }
        };
        if src.len() < len {
            // `len` has passed the limit check, so this reserves at most
            // the checked length.
            src.reserve(len - src.len());
            return Ok(None);
        }
        let body = src.split_to(len);
        self.state = DecodeState::Head;
        self.decoded += 1;
        decode_body(&body).map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.state {
            DecodeState::Head if src.is_empty() => Ok(None),
            DecodeState::Head => Err(FrameError::truncated(src.len(), HEAD_LEN)),
            DecodeState::Data(len) => {
                Err(FrameError::truncated(HEAD_LEN + src.len(), HEAD_LEN + len))
            }
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        <Self as Encoder<&Frame>>::encode(self, &frame, dst)
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = frame.encoded_len();
        if len > self.later_limit {
            return Err(FrameError::too_long(len, self.later_limit));
        }
        let wire_len =
            u32::try_from(len).map_err(|_| FrameError::too_long(len, self.later_limit))?;
        dst.reserve(HEAD_LEN + len);
        dst.put_u8(FRAMING_BYTE);
        dst.put_u32_le(wire_len);
        frame.encode(dst).expect("capacity reserved above");
        Ok(())
    }
}

/// The body length declared by `head`, if it is within `limit`. The
/// framing byte must already have been checked.
fn check_len(head: &[u8; HEAD_LEN], limit: usize) -> Result<usize, FrameError> {
    let declared = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    // On a 16-bit target a u32 may not fit a usize; saturating keeps the
    // comparison honest there.
    let len = usize::try_from(declared).unwrap_or(usize::MAX);
    if len > limit {
        return Err(FrameError::too_long(len, limit));
    }
    Ok(len)
}

/// Decodes a frame body and refuses envelope versions and payload
/// encodings we do not speak.
fn decode_body(body: &[u8]) -> Result<Frame, FrameError> {
    let frame = Frame::decode(body).map_err(FrameError::invalid_protobuf)?;
    if frame.envelope_version != ENVELOPE_VERSION {
        return Err(FrameError::unsupported_envelope_version(
            frame.envelope_version,
        ));
    }
    // Compare the raw value: prost's `payload_encoding()` getter maps
    // unknown values to the default, NONE, which would accept them.
    if frame.payload_encoding != PayloadEncoding::None as i32 {
        return Err(FrameError::unsupported_payload_encoding(
            frame.payload_encoding,
        ));
    }
    Ok(frame)
}

/// Like `read_exact`, but reports how many bytes arrived before the end of
/// the stream instead of failing, so callers can tell a clean close from a
/// truncated frame.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests;
