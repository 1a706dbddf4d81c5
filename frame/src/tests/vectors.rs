//! Checks the committed wire vectors in `conformance/vectors/frame/` both ways (encode equals the file, the file decodes to the value); with `UPDATE_VECTORS=1` it rewrites them instead, which must never be done blindly.
//!
//! Each vector is `NNN-name.hex` (the full wire bytes of one frame, 32
//! bytes per line) and `NNN-name.txt` (a readable rendering, also
//! compared). Values use literal versions, not `PROTOCOL_VERSION` or
//! `PACKAGE_VERSION`, so a version bump or override cannot move the bytes.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::envelope::{Frame, Kind, PayloadEncoding};
use crate::v1::{self, request, response};
use crate::{
    decode_probe, decode_probe_reply, decode_request, decode_response, encode_frame, probe_frame,
    probe_reply_frame, read_frame, request_frame, response_frame, FrameCodec, MAX_FRAME, NONCE_LEN,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/vectors/frame");

enum Payload {
    Request(v1::Request),
    Response(v1::Response),
    Probe([u8; NONCE_LEN]),
    ProbeReply([u8; NONCE_LEN], Vec<u8>),
}

struct Vector {
    name: &'static str,
    frame: Frame,
    payload: Payload,
}

fn request(name: &'static str, request_id: u64, body: request::Body) -> Vector {
    request_v(name, request_id, 1, body)
}

/// A request of a message that exists from `protocol_version` on.
fn request_v(
    name: &'static str,
    request_id: u64,
    protocol_version: u32,
    body: request::Body,
) -> Vector {
    let request = v1::Request {
        protocol_version,
        body: Some(body),
    };
    Vector {
        name,
        frame: request_frame(request_id, &request),
        payload: Payload::Request(request),
    }
}

fn response(name: &'static str, request_id: u64, body: response::Body) -> Vector {
    let response = v1::Response { body: Some(body) };
    Vector {
        name,
        frame: response_frame(request_id, &response),
        payload: Payload::Response(response),
    }
}

fn bytes(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

fn args(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|a| bytes(a)).collect()
}

const NONCE: [u8; NONCE_LEN] = {
    let mut nonce = [0u8; NONCE_LEN];
    let mut i = 0;
    while i < NONCE_LEN {
        nonce[i] = i as u8;
        i += 1;
    }
    nonce
};

fn vectors() -> Vec<Vector> {
    use request::Body as Rq;
    use response::Body as Rs;
    let env = |name: &str, value: &str| v1::EnvVar {
        name: bytes(name),
        value: bytes(value),
    };
    let mut route = request(
        "003-request-route",
        1,
        Rq::Route(v1::Route {
            cache_root: bytes("/home/user/.cache/zccache"),
            namespace: "default".to_owned(),
            client_protocol_version: 1,
            ..Default::default()
        }),
    );
    // One vector carries a deadline so tag 7 of the envelope is frozen too.
    route.frame.deadline_unix_ms = 1_700_000_005_000;
    vec![
        request(
            "001-request-lookup",
            1,
            Rq::Lookup(v1::Lookup {
                compiler: bytes("/usr/bin/gcc"),
                args: args(&["-c", "hello.c", "-o", "hello.o"]),
                cwd: bytes("/home/user/project"),
                env: vec![env("PATH", "/usr/bin:/bin"), env("LANG", "C")],
                argv0: bytes("gcc"),
                stderr_is_tty: true,
                start_unix_ns: 1_700_000_000_123_456_789,
                probes: Vec::new(),
                terminal: None,
            }),
        ),
        request(
            "002-request-store",
            2,
            Rq::Store(v1::Store {
                token: 42,
                exit_code: 0,
                stdout: Vec::new(),
                stderr: bytes("hello.c:3:5: warning: unused variable 'x'\n"),
                deps_exit_code: 0,
                spawn_unix_ns: 0,
            }),
        ),
        route,
        request(
            "004-request-status",
            1,
            Rq::Status(v1::StatusRequest { all: true }),
        ),
        request("005-request-clear", 1, Rq::Clear(v1::ClearRequest {})),
        request(
            "006-request-zero-stats",
            1,
            Rq::ZeroStats(v1::ZeroStatsRequest {}),
        ),
        request(
            "007-request-release-handles",
            1,
            Rq::ReleaseHandles(v1::ReleaseHandlesRequest {
                path: bytes("/home/user/project/build"),
            }),
        ),
        request(
            "008-request-shutdown",
            1,
            Rq::Shutdown(v1::ShutdownRequest { all: false }),
        ),
        response(
            "009-response-lookup-passthrough",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Passthrough(v1::Passthrough {
                    reason: "called_for_preprocessing".to_owned(),
                    detail: "-E".to_owned(),
                })),
            }),
        ),
        response(
            "010-response-lookup-units",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![
                        v1::UnitAnswer {
                            answer: Some(v1::unit_answer::Answer::Hit(v1::Hit {
                                stdout: Vec::new(),
                                stderr: bytes("a.c:1: warning: x\n"),
                                exit_code: 0,
                                outputs: Vec::new(),
                                entry: Vec::new(),
                            })),
                        },
                        v1::UnitAnswer {
                            answer: Some(v1::unit_answer::Answer::Miss(v1::Miss {
                                token: 7,
                                args: args(&["-c", "b.c", "-o", "b.o"]),
                                deps_args: args(&["-M", "b.c"]),
                                no_store_reason: String::new(),
                                strip_ansi: false,
                                injected_option: String::new(),
                                stream_stderr: false,
                                private_paths: Vec::new(),
                                stderr_pty: false,
                            })),
                        },
                        v1::UnitAnswer {
                            answer: Some(v1::unit_answer::Answer::Miss(v1::Miss {
                                token: 0,
                                args: args(&["-c", "c.c"]),
                                deps_args: Vec::new(),
                                no_store_reason: "output_to_stdout".to_owned(),
                                strip_ansi: false,
                                injected_option: String::new(),
                                stream_stderr: false,
                                private_paths: Vec::new(),
                                stderr_pty: false,
                            })),
                        },
                    ],
                })),
            }),
        ),
        response(
            "011-response-store",
            2,
            Rs::Store(v1::StoreReply {
                stored: true,
                reason: String::new(),
            }),
        ),
        response(
            "012-response-route",
            1,
            Rs::Route(v1::RouteReply {
                endpoint: bytes("/run/user/1000/zccache-1/daemon-0123abcd.sock"),
                daemon_pid: 4242,
                ..Default::default()
            }),
        ),
        response(
            "013-response-status",
            1,
            Rs::Status(v1::StatusReply {
                json: r#"{"hits":3,"misses":1}"#.to_owned(),
                ..Default::default()
            }),
        ),
        response("014-response-ack", 1, Rs::Ack(v1::Ack {})),
        response(
            "015-response-release-handles",
            1,
            Rs::ReleaseHandles(v1::ReleaseHandlesReply {
                json: r#"{"released":2}"#.to_owned(),
                all_released: true,
            }),
        ),
        response(
            "016-response-error",
            1,
            Rs::Error(v1::Error {
                message: "unknown payload protocol 0x1234 (expected 0x7a63)".to_owned(),
            }),
        ),
        response(
            "017-response-version-mismatch",
            1,
            Rs::VersionMismatch(v1::VersionMismatch {
                expected: 1,
                received: 2,
                peer_version_string: "0.1.0".to_owned(),
            }),
        ),
        Vector {
            name: "018-probe-request",
            frame: probe_frame(1, &NONCE),
            payload: Payload::Probe(NONCE),
        },
        Vector {
            name: "019-probe-reply",
            frame: probe_reply_frame(1, &NONCE, b"opaque identity bytes"),
            payload: Payload::ProbeReply(NONCE, bytes("opaque identity bytes")),
        },
        // Negative int32 values take ten bytes on the wire; freeze that.
        request(
            "020-request-store-negative-exit",
            3,
            Rq::Store(v1::Store {
                token: 43,
                exit_code: -1_073_741_819,
                stdout: Vec::new(),
                stderr: Vec::new(),
                deps_exit_code: 0,
                spawn_unix_ns: 0,
            }),
        ),
        // ShutdownRequest.all (tag 1): to the broker, every daemon first.
        request(
            "022-request-shutdown-all",
            1,
            Rq::Shutdown(v1::ShutdownRequest { all: true }),
        ),
        // LookupReply.probe (tag 3): the daemon asks for compiler runs.
        response(
            "023-response-lookup-probe",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Probe(v1::Probe {
                    runs: vec![
                        v1::ProbeRun {
                            args: args(&["-vV"]),
                        },
                        v1::ProbeRun {
                            args: args(&["--print", "sysroot"]),
                        },
                    ],
                })),
            }),
        ),
        // Lookup.probes (tag 9): the same Lookup again with the answers.
        request(
            "024-request-lookup-probes",
            1,
            Rq::Lookup(v1::Lookup {
                compiler: bytes("/r/rustc"),
                args: args(&["-"]),
                cwd: bytes("/w"),
                env: Vec::new(),
                argv0: bytes("rustc"),
                stderr_is_tty: false,
                start_unix_ns: 1,
                probes: vec![v1::ProbeResult {
                    args: args(&["-vV"]),
                    exit_code: 0,
                    stdout: bytes("rustc 1\n"),
                    stderr: Vec::new(),
                }],
                terminal: None,
            }),
        ),
        // Route.config_files (tag 4) and daemon_settings (tag 5): what a
        // daemon started for this Route reads its settings from.
        request(
            "043-request-route-settings",
            1,
            Rq::Route(v1::Route {
                cache_root: bytes("/home/user/.cache/zccache"),
                namespace: "default".to_owned(),
                client_protocol_version: 1,
                config_files: vec![
                    bytes("/home/user/.config/zccache/config.toml"),
                    bytes("/home/user/.cache/zccache/zccache.toml"),
                ],
                daemon_settings: vec![v1::EnvVar {
                    name: bytes("max_size"),
                    value: bytes("1048576"),
                }],
            }),
        ),
        // Store.spawn_unix_ns (tag 6): the coarse clock at the compiler's
        // spawn, the too-new guard's moment.
        request(
            "044-request-store-spawn",
            1,
            Rq::Store(v1::Store {
                token: 44,
                exit_code: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
                deps_exit_code: 0,
                spawn_unix_ns: 1_700_000_000_120_000_000,
            }),
        ),
        // ProbeResult.stderr (tag 4): the search list `-E -v` prints.
        request(
            "042-request-lookup-probe-stderr",
            1,
            Rq::Lookup(v1::Lookup {
                compiler: bytes("/usr/bin/gcc"),
                args: args(&["-c", "a.c"]),
                cwd: bytes("/w"),
                env: Vec::new(),
                argv0: bytes("gcc"),
                stderr_is_tty: false,
                start_unix_ns: 1,
                probes: vec![v1::ProbeResult {
                    args: args(&["-E", "-v", "-x", "c", "/dev/null"]),
                    exit_code: 0,
                    stdout: Vec::new(),
                    stderr: bytes(
                        "#include <...> search starts here:\n /usr/include\nEnd of search list.\n",
                    ),
                }],
                terminal: None,
            }),
        ),
        // Miss.injected_option (tag 6): a C miss with a prefix map added.
        response(
            "026-response-lookup-miss-injected-option",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![v1::UnitAnswer {
                        answer: Some(v1::unit_answer::Answer::Miss(v1::Miss {
                            token: 3,
                            args: args(&["-c", "a.c", "-ffile-prefix-map=/w/a=."]),
                            deps_args: Vec::new(),
                            no_store_reason: String::new(),
                            strip_ansi: false,
                            injected_option: "-ffile-prefix-map".to_owned(),
                            stream_stderr: false,
                            private_paths: Vec::new(),
                            stderr_pty: false,
                        })),
                    }],
                })),
            }),
        ),
        // Miss.stream_stderr (tag 7): a rustc miss whose stderr is shown live.
        response(
            "027-response-lookup-miss-stream-stderr",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![v1::UnitAnswer {
                        answer: Some(v1::unit_answer::Answer::Miss(v1::Miss {
                            token: 4,
                            args: args(&["--crate-name", "x", "x.rs"]),
                            deps_args: Vec::new(),
                            no_store_reason: String::new(),
                            strip_ansi: true,
                            injected_option: String::new(),
                            stream_stderr: true,
                            private_paths: Vec::new(),
                            stderr_pty: false,
                        })),
                    }],
                })),
            }),
        ),
        // Miss.private_paths (tag 8): a C miss with a private depfile added.
        response(
            "030-response-lookup-miss-private-paths",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![v1::UnitAnswer {
                        answer: Some(v1::unit_answer::Answer::Miss(v1::Miss {
                            token: 5,
                            args: args(&["-c", "a.c", "-MD", "-MF", "/run/z/priv/dep-5.d"]),
                            deps_args: Vec::new(),
                            no_store_reason: String::new(),
                            strip_ansi: false,
                            injected_option: String::new(),
                            stream_stderr: false,
                            private_paths: vec![bytes("/run/z/priv/dep-5.d")],
                            stderr_pty: false,
                        })),
                    }],
                })),
            }),
        ),
        // Miss.strip_ansi (tag 5): a rustc miss run with colour forced on.
        response(
            "025-response-lookup-miss-strip-ansi",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![v1::UnitAnswer {
                        answer: Some(v1::unit_answer::Answer::Miss(v1::Miss {
                            token: 9,
                            args: args(&["--crate-name", "x", "x.rs", "--color=always"]),
                            deps_args: Vec::new(),
                            no_store_reason: String::new(),
                            strip_ansi: true,
                            injected_option: String::new(),
                            stream_stderr: false,
                            private_paths: Vec::new(),
                            stderr_pty: false,
                        })),
                    }],
                })),
            }),
        ),
        // Protocol 2: a Hit carries its outputs (Hit.outputs, Hit.entry),
        // one by descriptor and one inline, for the wrapper to write.
        response(
            "028-response-lookup-hit-outputs",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![v1::UnitAnswer {
                        answer: Some(v1::unit_answer::Answer::Hit(v1::Hit {
                            stdout: Vec::new(),
                            stderr: Vec::new(),
                            exit_code: 0,
                            outputs: vec![
                                v1::Output {
                                    path: bytes("a.o"),
                                    write: v1::WriteMode::ReplaceUnlessDangling as i32,
                                    size: 1234,
                                    digest: vec![0xab; 32],
                                    content: Vec::new(),
                                    descriptor: 1,
                                },
                                v1::Output {
                                    path: bytes("/w/a.d"),
                                    write: v1::WriteMode::WriteThrough as i32,
                                    size: 9,
                                    digest: vec![0xcd; 32],
                                    content: bytes("a.o: a.c\n"),
                                    descriptor: 0,
                                },
                            ],
                            entry: vec![0x11; 32],
                        })),
                    }],
                })),
            }),
        ),
        // Request.undelivered (tag 10): a hit's output failed its digest.
        request_v(
            "029-request-undelivered",
            2,
            2,
            Rq::Undelivered(v1::Undelivered {
                entry: vec![0x11; 32],
                reason: "corrupt_output".to_owned(),
            }),
        ),
        // Lookup.terminal (tag 10): a caller whose stderr is a terminal.
        request(
            "031-request-lookup-terminal",
            1,
            Rq::Lookup(v1::Lookup {
                compiler: bytes("/usr/bin/gcc"),
                args: args(&["-c", "a.c"]),
                cwd: bytes("/w"),
                env: vec![env("TERM", "xterm-256color")],
                argv0: bytes("gcc"),
                stderr_is_tty: true,
                start_unix_ns: 1,
                probes: Vec::new(),
                terminal: Some(v1::Terminal {
                    stdin_columns: 80,
                    stderr_columns: 120,
                }),
            }),
        ),
        // Miss.stderr_pty (tag 9): a C miss whose stderr goes to a pty.
        response(
            "032-response-lookup-miss-stderr-pty",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![v1::UnitAnswer {
                        answer: Some(v1::unit_answer::Answer::Miss(v1::Miss {
                            token: 4,
                            args: args(&["-c", "a.c"]),
                            deps_args: Vec::new(),
                            no_store_reason: String::new(),
                            strip_ansi: false,
                            injected_option: String::new(),
                            stream_stderr: false,
                            private_paths: Vec::new(),
                            stderr_pty: true,
                        })),
                    }],
                })),
            }),
        ),
        // WriteMode.REPLACE_EXECUTABLE (3): a linked Rust crate's executable.
        response(
            "038-response-lookup-hit-executable",
            1,
            Rs::Lookup(v1::LookupReply {
                outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units {
                    units: vec![v1::UnitAnswer {
                        answer: Some(v1::unit_answer::Answer::Hit(v1::Hit {
                            stdout: Vec::new(),
                            stderr: Vec::new(),
                            exit_code: 0,
                            outputs: vec![v1::Output {
                                path: bytes("/t/debug/deps/m-1f"),
                                write: v1::WriteMode::ReplaceExecutable as i32,
                                size: 4096,
                                digest: vec![0xef; 32],
                                content: Vec::new(),
                                descriptor: 1,
                            }],
                            entry: vec![0x22; 32],
                        })),
                    }],
                })),
            }),
        ),
        // Numbered apart from the Lookup vectors, which grow on their own.
        response(
            "040-response-route-refused",
            1,
            Rs::Route(v1::RouteReply {
                endpoint: Vec::new(),
                daemon_pid: 0,
                refused: "foreign_cache_root".to_owned(),
                detail: "cache root /c is not used, compiling directly: /c has mode 0777"
                    .to_owned(),
                announce: true,
            }),
        ),
        response(
            "041-response-status-refusals",
            1,
            Rs::Status(v1::StatusReply {
                json: "[]".to_owned(),
                refusals_json: r#"[{"cache_root":"/c","refused":"daemon_backoff"}]"#.to_owned(),
            }),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.chunks(32) {
        for byte in line {
            write!(out, "{byte:02x}").unwrap();
        }
        out.push('\n');
    }
    out
}

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let pairs = digits.chunks_exact(2);
    assert!(pairs.remainder().is_empty(), "odd number of hex digits");
    pairs
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// `{:#?}` with every list of byte values shown as a `b"..."` literal.
///
/// The schema has no repeated numeric fields, so a multi-line list of
/// integers is always a `bytes` field.
fn pretty(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:#?}");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(prefix) = line.strip_suffix('[') {
            let items: Vec<Option<u8>> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.trim_start().starts_with(']'))
                .map(|l| l.trim().strip_suffix(',').and_then(|n| n.parse().ok()))
                .collect();
            if !items.is_empty() && items.iter().all(Option::is_some) {
                let closing = lines[i + 1 + items.len()]
                    .trim_start()
                    .trim_start_matches(']');
                let escaped: String = items
                    .iter()
                    .flat_map(|b| std::ascii::escape_default(b.unwrap()))
                    .map(char::from)
                    .collect();
                writeln!(out, "{prefix}b\"{escaped}\"{closing}").unwrap();
                i += items.len() + 2;
                continue;
            }
        }
        writeln!(out, "{line}").unwrap();
        i += 1;
    }
    out
}

fn render(vector: &Vector, wire_len: usize) -> String {
    let frame = &vector.frame;
    let kind = Kind::try_from(frame.kind)
        .map(|k| k.as_str_name())
        .unwrap_or("?");
    let encoding = PayloadEncoding::try_from(frame.payload_encoding)
        .map(|e| e.as_str_name())
        .unwrap_or("?");
    let mut out = format!(
        "# {name}: {wire_len} bytes on the wire (framing byte, u32 LE body length, body)\n\
         envelope_version: {}\nkind: {kind}\npayload_protocol: {:#x}\nrequest_id: {}\n\
         payload_encoding: {encoding}\ndeadline_unix_ms: {}\npayload: {} bytes, ",
        frame.envelope_version,
        frame.payload_protocol,
        frame.request_id,
        frame.deadline_unix_ms,
        frame.payload.len(),
        name = vector.name,
    );
    match &vector.payload {
        Payload::Request(request) => {
            out.push_str("zccache.v1.Request\n");
            out.push_str(&pretty(request));
        }
        Payload::Response(response) => {
            out.push_str("zccache.v1.Response\n");
            out.push_str(&pretty(response));
        }
        Payload::Probe(nonce) => {
            writeln!(out, "identity probe\nnonce: {}", hex(nonce).trim_end()).unwrap();
        }
        Payload::ProbeReply(nonce, identity) => {
            writeln!(
                out,
                "identity probe reply\nnonce: {}",
                hex(nonce).trim_end()
            )
            .unwrap();
            out.push_str("identity (opaque here; the router crate owns its format): ");
            out.push_str(&pretty(identity));
        }
    }
    out
}

/// The file decodes to the vector's frame and payload, through both the
/// blocking reader and the server-side async codec.
#[track_caller]
fn check_decodes(vector: &Vector, wire: &[u8]) {
    let frame = read_frame(&mut &wire[..], MAX_FRAME).unwrap();
    assert_eq!(frame, vector.frame, "{}: frame", vector.name);

    let mut codec = match vector.payload {
        Payload::Request(_) | Payload::Probe(_) => FrameCodec::new(),
        Payload::Response(_) | Payload::ProbeReply(..) => FrameCodec::for_responses(),
    };
    let mut buf = BytesMut::from(wire);
    assert_eq!(
        codec.decode(&mut buf).unwrap().as_ref(),
        Some(&frame),
        "{}: codec",
        vector.name
    );
    assert!(buf.is_empty(), "{}: trailing bytes", vector.name);

    match &vector.payload {
        Payload::Request(request) => assert_eq!(&decode_request(&frame).unwrap(), request),
        Payload::Response(response) => assert_eq!(&decode_response(&frame).unwrap(), response),
        Payload::Probe(nonce) => assert_eq!(&decode_probe(&frame).unwrap(), nonce),
        Payload::ProbeReply(nonce, identity) => {
            assert_eq!(
                decode_probe_reply(&frame, nonce).unwrap(),
                identity.as_slice()
            );
        }
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn vectors_match_both_ways() {
    let dir = Path::new(DIR);
    let update = std::env::var_os("UPDATE_VECTORS").is_some_and(|v| v == "1");
    let vectors = vectors();
    let mut expected_files = Vec::new();
    for vector in &vectors {
        let wire = encode_frame(&vector.frame);
        let hex_text = hex(&wire);
        let txt_text = render(vector, wire.len());
        let hex_path = dir.join(format!("{}.hex", vector.name));
        let txt_path = dir.join(format!("{}.txt", vector.name));
        if update {
            fs::create_dir_all(dir).unwrap();
            fs::write(&hex_path, &hex_text).unwrap();
            fs::write(&txt_path, &txt_text).unwrap();
        }
        let committed = fs::read_to_string(&hex_path).unwrap_or_else(|err| {
            panic!("{}: {err} (UPDATE_VECTORS=1 writes it)", hex_path.display())
        });
        assert_eq!(
            committed, hex_text,
            "{}: encoding differs from the committed bytes",
            vector.name
        );
        let committed_txt = fs::read_to_string(&txt_path).unwrap();
        assert_eq!(
            committed_txt, txt_text,
            "{}: rendering differs",
            vector.name
        );
        check_decodes(vector, &unhex(&committed));
        expected_files.extend([hex_path, txt_path]);
    }
    expected_files.sort();
    assert_eq!(
        files_in(dir),
        expected_files,
        "files in {DIR} without a vector, or the reverse"
    );
}

#[test]
fn pretty_shows_bytes_as_literals() {
    let lookup = v1::Lookup {
        compiler: bytes("/cc \"q\"\n"),
        args: args(&["-c", ""]),
        ..Default::default()
    };
    let text = pretty(&lookup);
    assert!(
        text.contains("compiler: b\"/cc \\\"q\\\"\\n\",\n"),
        "{text}"
    );
    assert!(text.contains("        b\"-c\",\n        [],\n"), "{text}");
    assert!(text.contains("cwd: [],\n"), "{text}");
    assert!(text.contains("start_unix_ns: 0,\n"), "{text}");
}
