//! Tests of the byte format: split reads, limits checked before allocation, refusals, and a seeded fuzz loop; payload contents are tested elsewhere.

use std::io::{self, Read};

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use crate::envelope::Kind;
use crate::{probe_frame, request_frame, v1, PAYLOAD_ZCCACHE};

fn sample_frame(request_id: u64) -> Frame {
    let lookup = v1::Lookup {
        compiler: b"/usr/bin/cc".to_vec(),
        args: vec![b"-c".to_vec(), b"a.c".to_vec()],
        cwd: b"/src".to_vec(),
        ..Default::default()
    };
    request_frame(
        request_id,
        &v1::Request::new(v1::request::Body::Lookup(lookup)),
    )
}

/// A valid frame whose encoded body is exactly `body_len` bytes long.
fn frame_with_body_len(body_len: usize) -> Frame {
    let mut frame = Frame {
        envelope_version: 1,
        payload_protocol: PAYLOAD_ZCCACHE,
        ..Default::default()
    };
    // The payload's length prefix grows with the payload, so converge.
    let mut payload_len = body_len;
    loop {
        frame.payload = vec![0xAB; payload_len];
        let got = frame.encoded_len();
        if got == body_len {
            return frame;
        }
        payload_len = payload_len + body_len - got;
    }
}

/// Raw wire bytes: a head declaring `body.len()` and then `body`.
fn raw(body: &[u8]) -> Vec<u8> {
    let mut out = vec![FRAMING_BYTE];
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Feeds `chunks` to a fresh server codec one at a time, like a socket
/// that delivers them with "pending" in between, and collects the results.
fn decode_chunks(codec: &mut FrameCodec, chunks: &[&[u8]]) -> Vec<Result<Frame, String>> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(err) => {
                    out.push(Err(err.to_string()));
                    return out;
                }
            }
        }
    }
    out
}

#[track_caller]
fn check_refused(wire: &[u8], expected: &str) {
    let mut codec = FrameCodec::new();
    let got = decode_chunks(&mut codec, &[wire]);
    assert_eq!(got, vec![Err(expected.to_owned())], "async codec");
    let err = read_frame(&mut &wire[..], MAX_FIRST_FRAME).unwrap_err();
    assert_eq!(err.to_string(), expected, "blocking reader");
}

#[test]
fn encode_frame_matches_the_grammar() {
    let frame = sample_frame(1);
    let wire = encode_frame(&frame);
    assert_eq!(wire[0], 0x01);
    let len = u32::from_le_bytes(wire[1..5].try_into().unwrap()) as usize;
    assert_eq!(len, wire.len() - 5);
    assert_eq!(Frame::decode(&wire[5..]).unwrap(), frame);

    let mut via_codec = BytesMut::new();
    FrameCodec::new().encode(&frame, &mut via_codec).unwrap();
    assert_eq!(&via_codec[..], &wire[..]);

    let mut written = Vec::new();
    write_frame(&mut written, &frame).unwrap();
    assert_eq!(written, wire);
}

#[test]
fn one_byte_at_a_time_interleaved() {
    let frames = [sample_frame(1), probe_frame(2, &[9; 32]), sample_frame(3)];
    let wire: Vec<u8> = frames.iter().flat_map(encode_frame).collect();
    let ends: Vec<usize> = frames
        .iter()
        .scan(0, |end, f| {
            *end += encode_frame(f).len();
            Some(*end)
        })
        .collect();

    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::new();
    let mut decoded = Vec::new();
    for (i, byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        match codec.decode(&mut buf).unwrap() {
            Some(frame) => {
                assert!(
                    ends.contains(&(i + 1)),
                    "a frame completed early at byte {i}"
                );
                decoded.push(frame);
            }
            None => assert!(!ends.contains(&(i + 1)), "no frame at its last byte {i}"),
        }
    }
    assert_eq!(decoded, frames);
    assert!(buf.is_empty());
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn every_split_point_of_two_frames() {
    let frames = [sample_frame(1), sample_frame(2)];
    let wire: Vec<u8> = frames.iter().flat_map(encode_frame).collect();
    for cut in 0..=wire.len() {
        let mut codec = FrameCodec::new();
        let got = decode_chunks(&mut codec, &[&wire[..cut], &wire[cut..]]);
        assert_eq!(
            got,
            frames.iter().cloned().map(Ok).collect::<Vec<_>>(),
            "cut at {cut}"
        );
    }
}

#[test]
fn blocking_reader_with_one_byte_reads() {
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((byte, rest)), Some(slot)) => {
                    *slot = *byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }
    let frames = [sample_frame(1), sample_frame(2)];
    let wire: Vec<u8> = frames.iter().flat_map(encode_frame).collect();
    let mut r = Trickle(&wire);
    assert_eq!(read_frame(&mut r, MAX_FRAME).unwrap(), frames[0]);
    assert_eq!(read_frame(&mut r, MAX_FRAME).unwrap(), frames[1]);
    assert!(read_frame(&mut r, MAX_FRAME).unwrap_err().is_closed());
}

#[test]
fn huge_length_is_refused_without_allocating() {
    let wire = [0x01, 0xFF, 0xFF, 0xFF, 0xFF];
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::with_capacity(8);
    buf.extend_from_slice(&wire);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(err.is_too_long());
    assert_eq!(
        err.to_string(),
        "frame body of 4294967295 bytes exceeds the 65536-byte limit"
    );
    assert!(buf.capacity() <= 64, "capacity grew to {}", buf.capacity());

    // Also refused by a codec that already read a frame, and by the
    // blocking reader (which would abort the test on a 4 GiB allocation).
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(&encode_frame(&sample_frame(1))[..]);
    buf.extend_from_slice(&wire);
    assert!(codec.decode(&mut buf).unwrap().is_some());
    let err = codec.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame body of 4294967295 bytes exceeds the 16777216-byte limit"
    );
    assert!(buf.capacity() < 4096, "capacity grew to {}", buf.capacity());
    check_refused(
        &wire,
        "frame body of 4294967295 bytes exceeds the 65536-byte limit",
    );
}

#[test]
fn reserve_never_exceeds_the_declared_length() {
    let frame = frame_with_body_len(40_000);
    let wire = encode_frame(&frame);
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&wire[..10]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(
        buf.capacity() <= 40_000 + 64,
        "capacity grew to {}",
        buf.capacity()
    );
    buf.extend_from_slice(&wire[10..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(frame));
}

#[test]
fn wrong_framing_byte_is_refused_at_once() {
    for byte in [0x00, 0x02, 0x7A, 0xFF] {
        check_refused(
            &[byte],
            &format!("bad framing byte {byte:#04x} (expected 0x01)"),
        );
    }
    let mut wire = encode_frame(&sample_frame(1));
    wire[0] = 0x02;
    check_refused(&wire, "bad framing byte 0x02 (expected 0x01)");
}

#[test]
fn garbage_protobuf_is_refused() {
    let err = read_frame(&mut &raw(&[0xFF, 0xFF, 0xFF])[..], MAX_FRAME).unwrap_err();
    assert!(err.is_invalid_protobuf());
    assert!(err.to_string().starts_with("invalid protobuf: "), "{err}");
    let mut codec = FrameCodec::new();
    let got = decode_chunks(&mut codec, &[&raw(&[0x0A, 0x05, 0x01])]);
    assert!(
        matches!(&got[..], [Err(msg)] if msg.starts_with("invalid protobuf: ")),
        "{got:?}"
    );
}

#[test]
fn wrong_envelope_version_is_refused() {
    for version in [0, 2, 7] {
        let mut frame = sample_frame(1);
        frame.envelope_version = version;
        check_refused(
            &encode_frame(&frame),
            &format!("unsupported envelope version {version}"),
        );
    }
}

#[test]
fn payload_encodings_other_than_none_are_refused() {
    for (encoding, name) in [(1, "ZSTD"), (2, "SNAPPY"), (3, "LZ4"), (9, "9"), (-1, "-1")] {
        let mut frame = sample_frame(1);
        frame.payload_encoding = encoding;
        check_refused(
            &encode_frame(&frame),
            &format!("unsupported payload encoding {name}"),
        );
    }
}

#[test]
fn first_frame_limit_then_later_limit() {
    let at_first = encode_frame(&frame_with_body_len(MAX_FIRST_FRAME));
    let over_first = encode_frame(&frame_with_body_len(MAX_FIRST_FRAME + 1));
    let at_later = encode_frame(&frame_with_body_len(MAX_FRAME));

    let mut codec = FrameCodec::new();
    let got = decode_chunks(&mut codec, &[&at_first, &over_first, &at_later]);
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(Result::is_ok),
        "cap on the first frame, above it later"
    );

    let mut codec = FrameCodec::new();
    let got = decode_chunks(&mut codec, &[&over_first]);
    assert_eq!(
        got,
        vec![Err(
            "frame body of 65537 bytes exceeds the 65536-byte limit".to_owned()
        )]
    );

    // The head alone decides: no body bytes are needed to refuse.
    let mut head_over_later = vec![FRAMING_BYTE];
    head_over_later.extend_from_slice(&u32::try_from(MAX_FRAME + 1).unwrap().to_le_bytes());
    let mut codec = FrameCodec::new();
    let got = decode_chunks(&mut codec, &[&at_first, &head_over_later]);
    assert!(got[0].is_ok());
    assert_eq!(
        got[1],
        Err("frame body of 16777217 bytes exceeds the 16777216-byte limit".to_owned())
    );

    assert!(read_frame(&mut &at_first[..], MAX_FIRST_FRAME).is_ok());
    assert!(read_frame(&mut &over_first[..], MAX_FIRST_FRAME)
        .unwrap_err()
        .is_too_long());
    assert!(read_frame(&mut &at_later[..], MAX_FRAME).is_ok());
    assert!(read_frame(&mut &head_over_later[..], MAX_FRAME)
        .unwrap_err()
        .is_too_long());

    // A client reads a large first response.
    let mut codec = FrameCodec::for_responses();
    assert!(decode_chunks(&mut codec, &[&over_first])[0].is_ok());
}

#[test]
fn oversized_frames_are_never_written() {
    let frame = frame_with_body_len(101);
    let mut codec = FrameCodec::with_limits(100, 100);
    let mut dst = BytesMut::new();
    let err = codec.encode(&frame, &mut dst).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame body of 101 bytes exceeds the 100-byte limit"
    );
    assert!(dst.is_empty());

    let frame = frame_with_body_len(MAX_FRAME + 1);
    let mut sink = Vec::new();
    let err = write_frame(&mut sink, &frame).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(sink.is_empty());
}

#[test]
fn end_of_stream() {
    let wire = encode_frame(&sample_frame(1));
    for cut in 1..wire.len() {
        let expected = if cut < 5 {
            format!("stream closed inside a frame ({cut} of 5 bytes)")
        } else {
            format!(
                "stream closed inside a frame ({cut} of {} bytes)",
                wire.len()
            )
        };
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::from(&wire[..cut]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        let err = codec.decode_eof(&mut buf).unwrap_err();
        assert!(err.is_truncated());
        assert_eq!(err.to_string(), expected);
        let err = read_frame(&mut &wire[..cut], MAX_FRAME).unwrap_err();
        assert!(err.is_truncated());
        assert_eq!(err.to_string(), expected);
    }
    assert!(read_frame(&mut &[][..], MAX_FRAME).unwrap_err().is_closed());
}

#[test]
fn io_errors_surface_as_io() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
        }
    }
    let err = read_frame(&mut Broken, MAX_FRAME).unwrap_err();
    assert_eq!(
        err.io_error().map(io::Error::kind),
        Some(io::ErrorKind::ConnectionReset)
    );
}

/// xorshift64*: enough randomness to shake the decoder, and reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Runs both decoders over one input as a whole stream and renders the
/// outcome, so they can be compared.
fn both_decoders(input: &[u8], rng: &mut XorShift) -> (String, String) {
    let blocking = match read_frame(&mut &input[..], MAX_FIRST_FRAME) {
        Ok(frame) => format!("{frame:?}"),
        Err(err) if err.is_closed() => "none".to_owned(),
        Err(err) => err.to_string(),
    };

    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::new();
    let mut rest = input;
    let mut result = None;
    while result.is_none() && !rest.is_empty() {
        let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => result = Some(format!("{frame:?}")),
            Ok(None) => {}
            Err(err) => result = Some(err.to_string()),
        }
        assert!(
            buf.capacity() <= input.len() + MAX_FIRST_FRAME + 64,
            "reserved past the limit"
        );
    }
    let result = result.unwrap_or_else(|| match codec.decode_eof(&mut buf) {
        Ok(Some(frame)) => format!("{frame:?}"),
        Ok(None) => "none".to_owned(),
        Err(err) => err.to_string(),
    });
    (blocking, result)
}

#[test]
fn fuzz_no_panic_and_both_decoders_agree() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds = [
        encode_frame(&sample_frame(1)),
        encode_frame(&probe_frame(5, &[1; 32])),
        encode_frame(&Frame {
            envelope_version: 1,
            kind: Kind::Cancel as i32,
            ..Default::default()
        }),
    ];
    let (mut ok, mut refused) = (0, 0);
    for round in 0..4000 {
        let input: Vec<u8> = match round % 3 {
            // Pure noise, usually refused at the framing byte or the length.
            0 => (0..rng.below(80)).map(|_| rng.next() as u8).collect(),
            // Noise after a plausible head, to reach the protobuf decoder.
            1 => {
                let body: Vec<u8> = (0..rng.below(60)).map(|_| rng.next() as u8).collect();
                raw(&body)
            }
            // A valid frame with a few bytes flipped, cut or extended.
            _ => {
                let mut input = seeds[rng.below(seeds.len())].clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(input.len());
                    input[at] = rng.next() as u8;
                }
                match rng.below(4) {
                    0 => input.truncate(rng.below(input.len() + 1)),
                    1 => input.extend((0..rng.below(8)).map(|_| rng.next() as u8)),
                    _ => {}
                }
                input
            }
        };
        let (blocking, codec) = both_decoders(&input, &mut rng);
        assert_eq!(blocking, codec, "input {input:02x?}");
        if blocking.starts_with("Frame") {
            ok += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        ok > 50 && refused > 50,
        "the fuzz loop should reach both outcomes: {ok} ok, {refused} refused"
    );
}
