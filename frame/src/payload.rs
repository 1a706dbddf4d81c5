//! Packing zccache messages and identity probes into envelopes and back; it does not read or write bytes, and does not interpret the identity that follows a probe nonce.

use prost::Message;

use crate::envelope::{Frame, Kind, PayloadEncoding};
use crate::{v1, FrameError, ENVELOPE_VERSION, PAYLOAD_IDENTITY, PAYLOAD_ZCCACHE};

/// Length of an identity probe nonce.
pub const NONCE_LEN: usize = 32;

/// A REQUEST frame carrying a `zccache.v1.Request`.
pub fn request_frame(request_id: u64, request: &v1::Request) -> Frame {
    frame(
        Kind::Request,
        PAYLOAD_ZCCACHE,
        request_id,
        request.encode_to_vec(),
    )
}

/// A RESPONSE frame carrying a `zccache.v1.Response`; `request_id` echoes
/// the request's.
pub fn response_frame(request_id: u64, response: &v1::Response) -> Frame {
    frame(
        Kind::Response,
        PAYLOAD_ZCCACHE,
        request_id,
        response.encode_to_vec(),
    )
}

/// An identity probe: a REQUEST frame whose payload is the nonce alone.
pub fn probe_frame(request_id: u64, nonce: &[u8; NONCE_LEN]) -> Frame {
    frame(Kind::Request, PAYLOAD_IDENTITY, request_id, nonce.to_vec())
}

/// The answer to a probe: the nonce followed by the answering process's
/// encoded identity, whose format the router crate owns.
pub fn probe_reply_frame(request_id: u64, nonce: &[u8; NONCE_LEN], identity: &[u8]) -> Frame {
    let mut payload = Vec::with_capacity(NONCE_LEN + identity.len());
    payload.extend_from_slice(nonce);
    payload.extend_from_slice(identity);
    frame(Kind::Response, PAYLOAD_IDENTITY, request_id, payload)
}

/// The request inside a REQUEST frame of the zccache protocol.
pub fn decode_request(frame: &Frame) -> Result<v1::Request, FrameError> {
    expect(frame, Kind::Request, PAYLOAD_ZCCACHE)?;
    v1::Request::decode(frame.payload.as_slice()).map_err(FrameError::invalid_protobuf)
}

/// The response inside a RESPONSE frame of the zccache protocol.
pub fn decode_response(frame: &Frame) -> Result<v1::Response, FrameError> {
    expect(frame, Kind::Response, PAYLOAD_ZCCACHE)?;
    v1::Response::decode(frame.payload.as_slice()).map_err(FrameError::invalid_protobuf)
}

/// The nonce of an identity probe request.
pub fn decode_probe(frame: &Frame) -> Result<[u8; NONCE_LEN], FrameError> {
    expect(frame, Kind::Request, PAYLOAD_IDENTITY)?;
    frame
        .payload
        .as_slice()
        .try_into()
        .map_err(|_| FrameError::bad_probe(frame.payload.len()))
}

/// The identity bytes of a probe reply, once the reply is shown to echo
/// `nonce`.
pub fn decode_probe_reply<'a>(
    frame: &'a Frame,
    nonce: &[u8; NONCE_LEN],
) -> Result<&'a [u8], FrameError> {
    expect(frame, Kind::Response, PAYLOAD_IDENTITY)?;
    match frame.payload.split_at_checked(NONCE_LEN) {
        Some((echoed, identity)) if echoed == nonce => Ok(identity),
        Some(_) => Err(FrameError::nonce_mismatch()),
        None => Err(FrameError::bad_probe(frame.payload.len())),
    }
}

fn frame(kind: Kind, payload_protocol: u32, request_id: u64, payload: Vec<u8>) -> Frame {
    Frame {
        envelope_version: ENVELOPE_VERSION,
        kind: kind as i32,
        payload_protocol,
        payload,
        request_id,
        payload_encoding: PayloadEncoding::None as i32,
        deadline_unix_ms: 0,
    }
}

fn expect(frame: &Frame, kind: Kind, payload_protocol: u32) -> Result<(), FrameError> {
    if frame.payload_protocol != payload_protocol {
        return Err(FrameError::from_unknown_protocol(frame.payload_protocol));
    }
    if frame.kind != kind as i32 {
        return Err(FrameError::unexpected_kind(frame.kind, kind));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: [u8; NONCE_LEN] = [7; NONCE_LEN];

    #[test]
    fn request_round_trip() {
        let request = v1::Request::new(v1::request::Body::Clear(v1::ClearRequest {}));
        let frame = request_frame(3, &request);
        assert_eq!(frame.request_id, 3);
        assert_eq!(frame.kind(), Kind::Request);
        assert_eq!(decode_request(&frame).unwrap(), request);
        assert!(decode_response(&frame).unwrap_err().is_unexpected_kind());
    }

    #[test]
    fn response_round_trip() {
        let response = v1::Response::error("no such namespace");
        let frame = response_frame(9, &response);
        assert_eq!(decode_response(&frame).unwrap(), response);
        assert!(decode_request(&frame).unwrap_err().is_unexpected_kind());
    }

    #[test]
    fn other_protocols_are_named() {
        let mut frame = request_frame(1, &v1::Request::default());
        frame.payload_protocol = 0x1234;
        let err = decode_request(&frame).unwrap_err();
        assert_eq!(err.unknown_protocol(), Some(0x1234));
        let probe = probe_frame(1, &NONCE);
        assert_eq!(
            decode_request(&probe).unwrap_err().unknown_protocol(),
            Some(PAYLOAD_IDENTITY)
        );
    }

    #[test]
    fn garbage_payload_is_invalid_protobuf() {
        let mut frame = request_frame(1, &v1::Request::default());
        frame.payload = vec![0xff, 0xff, 0xff];
        assert!(decode_request(&frame).unwrap_err().is_invalid_protobuf());
    }

    #[test]
    fn probe_round_trip() {
        let probe = probe_frame(2, &NONCE);
        assert_eq!(decode_probe(&probe).unwrap(), NONCE);
        let reply = probe_reply_frame(2, &NONCE, b"identity");
        assert_eq!(decode_probe_reply(&reply, &NONCE).unwrap(), b"identity");
        assert!(decode_probe_reply(&reply, &[8; NONCE_LEN])
            .unwrap_err()
            .is_bad_probe());
        assert!(decode_probe(&reply).unwrap_err().is_unexpected_kind());
    }

    #[test]
    fn short_probes_are_refused() {
        let mut probe = probe_frame(2, &NONCE);
        probe.payload.pop();
        assert!(decode_probe(&probe).unwrap_err().is_bad_probe());
        let mut reply = probe_reply_frame(2, &NONCE, b"");
        reply.payload.pop();
        assert!(decode_probe_reply(&reply, &NONCE)
            .unwrap_err()
            .is_bad_probe());
    }
}
