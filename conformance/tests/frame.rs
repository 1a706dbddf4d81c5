//! Black-box checks of the committed frame vectors through the frame crate's public API only; the value-by-value comparison lives in the frame crate's own vector test.
//!
//! Every `vectors/frame/*.hex` must be exactly one valid frame that a
//! server accepts as a first frame (requests) or a client reads
//! (responses), whose payload decodes for its protocol, and which encodes
//! back to the same bytes: the encoding is canonical, so any other
//! implementation can compare bytes.

use std::fs;
use std::path::{Path, PathBuf};

use ::frame::envelope::Kind;
use ::frame::{
    decode_probe, decode_request, decode_response, encode_frame, read_frame, MAX_FIRST_FRAME,
    MAX_FRAME, NONCE_LEN, PAYLOAD_IDENTITY, PAYLOAD_ZCCACHE,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/frame");

fn hex_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(DIR)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "hex"))
        .collect();
    files.sort();
    files
}

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let pairs = digits.chunks_exact(2);
    assert!(pairs.remainder().is_empty(), "odd number of hex digits");
    pairs
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[track_caller]
fn check(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy();
    let text = fs::read_to_string(path).unwrap();
    assert!(
        text.lines()
            .all(|line| line.len() <= 64 && !line.is_empty()),
        "{name}: lines are at most 32 bytes"
    );
    assert!(
        path.with_extension("txt").is_file(),
        "{name}: the readable rendering is missing"
    );
    let wire = unhex(&text);

    let mut rest = &wire[..];
    let frame = read_frame(&mut rest, MAX_FRAME).unwrap_or_else(|err| panic!("{name}: {err}"));
    assert!(rest.is_empty(), "{name}: bytes after the frame");
    assert_eq!(encode_frame(&frame), wire, "{name}: not canonical");
    assert!(frame.request_id >= 1, "{name}: request ids start at 1");

    match (frame.payload_protocol, frame.kind()) {
        (PAYLOAD_ZCCACHE, Kind::Request) => {
            let request = decode_request(&frame).unwrap();
            assert!(request.body.is_some(), "{name}: request without a body");
            assert!(
                wire.len() - 5 <= MAX_FIRST_FRAME,
                "{name}: a request must fit a first frame"
            );
        }
        (PAYLOAD_ZCCACHE, Kind::Response) => {
            assert!(
                decode_response(&frame).unwrap().body.is_some(),
                "{name}: empty response"
            );
        }
        (PAYLOAD_IDENTITY, Kind::Request) => {
            decode_probe(&frame).unwrap();
        }
        (PAYLOAD_IDENTITY, Kind::Response) => {
            assert!(
                frame.payload.len() >= NONCE_LEN,
                "{name}: reply shorter than the nonce"
            );
        }
        other => panic!("{name}: unexpected protocol and kind {other:?}"),
    }
}

#[test]
fn frame_vectors_are_canonical_frames() {
    let files = hex_files();
    assert!(
        files.len() >= 19,
        "expected a vector per message kind, found {}",
        files.len()
    );
    for path in &files {
        check(path);
    }
}
