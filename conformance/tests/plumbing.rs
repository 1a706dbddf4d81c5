//! The plumbing the daemon and the broker share (issue 11 item 6), over the real binaries: one end-of-file rule for frames (a request cut short by the peer hanging up is refused, logged and answered, never dropped silently) and one bind rule (a file at an endpoint that is not a socket is never unlinked).
//!
//! It observes what a user could: replies on the wire, the logs in the
//! runtime directory, the file at the endpoint. Unit tests of the same
//! rules are in `frame/src/stream.rs` and `sys/src/bind.rs`.

use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use ::frame::v1;
use conformance::{ok, wait_for, Sandbox};

fn runtime(sb: &Sandbox) -> router::RuntimeDir {
    router::RuntimeDir::at(&sb.runtime).expect("sandbox runtime dir")
}

fn daemon_paths(sb: &Sandbox) -> router::DaemonPaths {
    let root = std::fs::canonicalize(&sb.cache).unwrap();
    router::daemon_paths(&runtime(sb), &root, "default", ::frame::PROTOCOL_VERSION)
}

/// Sends the first `cut` bytes of a Status request to `endpoint`, closes
/// our writing half and returns the answer the server gives, if any.
fn send_cut_request(endpoint: &Path, cut: usize) -> Option<v1::Response> {
    let status = v1::Request::new(v1::request::Body::Status(v1::StatusRequest::default()));
    let wire = ::frame::encode_frame(&::frame::request_frame(9, &status));
    assert!(cut < wire.len());
    let mut stream = UnixStream::connect(endpoint).unwrap();
    stream
        .set_read_timeout(Some(conformance::PATIENCE))
        .unwrap();
    stream.write_all(&wire[..cut]).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let answer = ::frame::read_frame(&mut stream, ::frame::MAX_FRAME).ok()?;
    Some(::frame::decode_response(&answer).expect("a zccache response"))
}

/// The text of an Error answer.
fn error_text(answer: Option<v1::Response>) -> String {
    match answer.and_then(|r| r.body) {
        Some(v1::response::Body::Error(e)) => e.message,
        other => panic!("expected an Error answer, got {other:?}"),
    }
}

fn log_has(log: &Path, needle: &str) -> bool {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
}

const TRUNCATED: &str = "stream closed inside a frame";

#[test]
fn a_request_cut_short_is_refused_and_logged_by_daemon_and_broker_alike() {
    let sb = Sandbox::new("cutframe");
    sb.write("c.c", "int c(void) { return 11; }\n");
    ok(&sb.zccache(["gcc", "-c", "c.c"]));
    let daemon = daemon_paths(&sb);
    let broker = router::broker_paths(&runtime(&sb), ::frame::PROTOCOL_VERSION);
    for (who, endpoint, log) in [
        ("daemon", &daemon.endpoint, &daemon.log),
        ("broker", &broker.endpoint, &broker.log),
    ] {
        // Inside the head, and inside the body.
        for cut in [3, 9] {
            let text = error_text(send_cut_request(endpoint, cut));
            assert!(
                text.contains(TRUNCATED),
                "{who}, cut at {cut}: answered {text:?}"
            );
        }
        wait_for(&format!("the {who} to log the refusal"), || {
            log_has(log, &format!("refused a frame: {TRUNCATED}")).then_some(())
        });
    }
    // Both still serve.
    std::fs::remove_file(sb.path("c.o")).unwrap();
    ok(&sb.zccache(["gcc", "-c", "c.c"]));
    assert_eq!(sb.counter("hits"), 1);
}

#[test]
fn a_file_at_a_daemon_endpoint_that_is_no_socket_is_never_unlinked() {
    let sb = Sandbox::new("nosock");
    let paths = daemon_paths(&sb);
    std::fs::write(&paths.endpoint, b"not a socket\n").unwrap();
    let mut daemon = sb
        .cmd(conformance::bin_dir().join("zccache-daemon"))
        .arg("--cache-root")
        .arg(&sb.cache)
        .args(["--namespace", "default", "--endpoint"])
        .arg(&paths.endpoint)
        .arg("--identity")
        .arg(&paths.identity_file)
        .env("ZCCACHE_IDLE_TIMEOUT", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A daemon that unlinked the file would serve until it idled out.
    let deadline = Instant::now() + conformance::PATIENCE;
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            let _ = daemon.wait();
            panic!("the daemon never exited");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "the daemon bound anyway: {stderr}");
    assert!(stderr.contains("is not a socket"), "stderr: {stderr}");
    assert_eq!(
        std::fs::read(&paths.endpoint).unwrap(),
        b"not a socket\n",
        "the file at the endpoint was touched"
    );
}
