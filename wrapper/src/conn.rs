//! A blocking client connection to a daemon or the broker: bounded connect, the server's uid check, requests with their answers (and the descriptors sent with them, `SCM_RIGHTS`) under a deadline; it has no fallback policy of its own.

use std::error::Error;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use frame::v1::{request, response, Request};
use frame::{FrameError, MAX_FIRST_FRAME, MAX_FRAME};

use crate::os;

/// An open connection whose server has been shown to run under our uid.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: UnixStream,
    next_id: u64,
    /// The descriptors that came with the last answer, in order.
    fds: Vec<OwnedFd>,
}

/// Why a request got no usable answer.
#[derive(Debug)]
pub(crate) enum ConnError {
    Connect {
        path: PathBuf,
        source: io::Error,
    },
    PeerCheck(io::Error),
    /// Someone else's process sits on our endpoint.
    ForeignServer {
        uid: u32,
    },
    Send(io::Error),
    Receive(FrameError),
    /// The answer carries another request id than the one we sent.
    WrongId {
        sent: u64,
        got: u64,
    },
    /// A response frame with no body.
    EmptyAnswer,
    /// An answer of another kind than the request calls for (an error, a
    /// version mismatch); the text describes it.
    Answer(String),
    /// The request is larger than a server accepts as the first frame of a
    /// connection, so it was not sent.
    TooLarge {
        len: usize,
        limit: usize,
    },
}

impl Conn {
    pub(crate) fn connect(path: &Path, timeout: Duration) -> Result<Conn, ConnError> {
        let stream = os::connect(path, timeout).map_err(|source| ConnError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        let uid = os::peer_uid(&stream).map_err(ConnError::PeerCheck)?;
        if uid != router::euid() {
            return Err(ConnError::ForeignServer { uid });
        }
        Ok(Conn {
            stream,
            next_id: 1,
            fds: Vec::new(),
        })
    }

    /// Sends `body` and waits at most `timeout` for the whole answer. A
    /// `VersionMismatch` or `Error` answer is returned as it came, since
    /// callers differ in what they make of it.
    pub(crate) fn call(
        &mut self,
        body: request::Body,
        timeout: Duration,
    ) -> Result<response::Body, ConnError> {
        self.call_request(&Request::new(body), timeout)
    }

    pub(crate) fn call_request(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<response::Body, ConnError> {
        let deadline = Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        let mut request_frame = frame::request_frame(id, request);
        // Tells the server when we stop waiting, so it does not act on a
        // request we have given up on (and compiled directly instead).
        request_frame.deadline_unix_ms = SystemTime::now()
            .checked_add(timeout)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let bytes = frame::encode_frame(&request_frame);
        crate::profile::lap("encode");
        // Servers refuse a big first frame before reading it; the length
        // prefix is counted too, which errs on the safe side.
        let first_limit = match request.body {
            Some(frame::v1::request::Body::Lookup(_)) => frame::MAX_FIRST_LOOKUP_FRAME,
            _ => MAX_FIRST_FRAME,
        };
        let limit = if id == 1 { first_limit } else { MAX_FRAME };
        if bytes.len() > limit {
            return Err(ConnError::TooLarge {
                len: bytes.len(),
                limit,
            });
        }
        self.stream
            .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(ConnError::Send)?;
        (&self.stream).write_all(&bytes).map_err(ConnError::Send)?;
        crate::profile::lap("send");
        self.fds.clear();
        let mut reader = DeadlineReader {
            stream: &self.stream,
            deadline,
            fds: &mut self.fds,
        };
        let reply = frame::read_frame(&mut reader, MAX_FRAME).map_err(ConnError::Receive)?;
        crate::profile::lap("reply");
        if reply.request_id != id {
            return Err(ConnError::WrongId {
                sent: id,
                got: reply.request_id,
            });
        }
        let body = frame::decode_response(&reply)
            .map_err(ConnError::Receive)?
            .body
            .ok_or(ConnError::EmptyAnswer);
        crate::profile::lap("decode");
        body
    }
}

impl Conn {
    /// The descriptors that came with the last answer (a Hit's outputs,
    /// `Output.descriptor` counting from 1); they close when dropped.
    pub(crate) fn take_descriptors(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.fds)
    }
}

impl ConnError {
    pub(crate) fn is_too_large(&self) -> bool {
        matches!(self, ConnError::TooLarge { .. })
    }

    /// Nothing listens at the endpoint (no socket, or a dead one): the
    /// case in which starting a server is the right answer.
    pub(crate) fn is_nobody_home(&self) -> bool {
        match self {
            ConnError::Connect { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ),
            _ => false,
        }
    }
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Connect { path, source } => {
                write!(f, "connect to {}: {source}", path.display())
            }
            ConnError::PeerCheck(err) => write!(f, "check the server's uid: {err}"),
            ConnError::ForeignServer { uid } => {
                write!(f, "the server runs as uid {uid}, not as us")
            }
            ConnError::Send(err) => write!(f, "send a request: {err}"),
            ConnError::Receive(err) => {
                // FrameError hides its io cause behind source(); a timeout
                // is worth naming in a one-line warning.
                match err.io_error() {
                    Some(io) => write!(f, "receive an answer: {io}"),
                    None => write!(f, "receive an answer: {err}"),
                }
            }
            ConnError::WrongId { sent, got } => {
                write!(f, "answer to request {got} arrived for request {sent}")
            }
            ConnError::EmptyAnswer => f.write_str("empty answer"),
            ConnError::Answer(what) => write!(f, "answered with {what}"),
            ConnError::TooLarge { len, limit } => {
                write!(
                    f,
                    "request of {len} bytes exceeds the first-frame limit of {limit}"
                )
            }
        }
    }
}

impl Error for ConnError {}

/// Reads from the stream but never past `deadline`, however slowly the
/// bytes arrive, keeping the descriptors that come with the bytes: every
/// read is a `recvmsg`, since they arrive with whichever read takes the
/// first byte of the frame that carries them.
struct DeadlineReader<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
    fds: &'a mut Vec<OwnedFd>,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer before the deadline",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        match sys::recv_with_fds(self.stream, buf, self.fds) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer before the deadline",
            )),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frame::v1::{Ack, ShutdownRequest};
    use std::os::unix::net::UnixListener;

    fn socket_path(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("zc-conn-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    /// Serves one connection: reads one request, answers with `reply`
    /// (built from the request id) unless it is `None`.
    fn serve_once(path: &Path, reply: impl FnOnce(u64) -> Option<Vec<u8>> + Send + 'static) {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let Ok(request) = frame::read_frame(&mut stream, frame::MAX_FIRST_FRAME) else {
                return;
            };
            if let Some(bytes) = reply(request.request_id) {
                std::io::Write::write_all(&mut stream, &bytes).unwrap();
            }
            // Hold the connection open until the client is done.
            let _ = stream.read(&mut [0u8; 1]);
        });
    }

    fn shutdown() -> request::Body {
        request::Body::Shutdown(ShutdownRequest { all: false })
    }

    #[test]
    fn answers_are_returned() {
        let path = socket_path("ack");
        serve_once(&path, |id| {
            Some(frame::encode_frame(&frame::response_frame(
                id,
                &frame::v1::Response::ack(),
            )))
        });
        let mut conn = Conn::connect(&path, Duration::from_secs(1)).unwrap();
        let body = conn.call(shutdown(), Duration::from_secs(5)).unwrap();
        assert_eq!(body, response::Body::Ack(Ack {}));
    }

    #[test]
    fn silence_times_out() {
        let path = socket_path("silent");
        serve_once(&path, |_| None);
        let mut conn = Conn::connect(&path, Duration::from_secs(1)).unwrap();
        let started = Instant::now();
        let err = conn
            .call(shutdown(), Duration::from_millis(100))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        let ConnError::Receive(err) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::TimedOut)
        );
    }

    #[test]
    fn oversized_answers_are_refused_before_reading_them() {
        let path = socket_path("huge");
        serve_once(&path, |_| Some(vec![0x01, 0xff, 0xff, 0xff, 0xff]));
        let mut conn = Conn::connect(&path, Duration::from_secs(1)).unwrap();
        let err = conn.call(shutdown(), Duration::from_secs(5)).unwrap_err();
        let ConnError::Receive(err) = err else {
            panic!("{err:?}")
        };
        assert!(err.is_too_long());
    }

    #[test]
    fn wrong_ids_are_refused() {
        let path = socket_path("id");
        serve_once(&path, |id| {
            Some(frame::encode_frame(&frame::response_frame(
                id + 7,
                &frame::v1::Response::ack(),
            )))
        });
        let mut conn = Conn::connect(&path, Duration::from_secs(1)).unwrap();
        let err = conn.call(shutdown(), Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(err, ConnError::WrongId { sent: 1, got: 8 }),
            "{err:?}"
        );
    }

    #[test]
    fn oversized_first_requests_are_not_sent() {
        let path = socket_path("big");
        serve_once(&path, |_| None);
        let mut conn = Conn::connect(&path, Duration::from_secs(1)).unwrap();
        let big = request::Body::ReleaseHandles(frame::v1::ReleaseHandlesRequest {
            path: vec![b'x'; frame::MAX_FIRST_FRAME],
        });
        let err = conn.call(big, Duration::from_secs(5)).unwrap_err();
        assert!(err.is_too_large(), "{err}");
    }

    #[test]
    fn requests_carry_their_deadline() {
        let path = socket_path("deadline");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let request = frame::read_frame(&mut stream, frame::MAX_FIRST_FRAME).unwrap();
            let ack = frame::response_frame(request.request_id, &frame::v1::Response::ack());
            std::io::Write::write_all(&mut stream, &frame::encode_frame(&ack)).unwrap();
            request.deadline_unix_ms
        });
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let mut conn = Conn::connect(&path, Duration::from_secs(1)).unwrap();
        conn.call(shutdown(), Duration::from_secs(5)).unwrap();
        let deadline = server.join().unwrap();
        assert!(
            (now + 4_000..now + 60_000).contains(&deadline),
            "deadline {deadline}, now {now}"
        );
    }

    #[test]
    fn descriptors_come_with_the_answer() {
        let path = socket_path("fds");
        let listener = UnixListener::bind(&path).unwrap();
        let blob = std::env::temp_dir().join(format!("zc-conn-{}-blob", std::process::id()));
        std::fs::write(&blob, b"blob").unwrap();
        let file = std::fs::File::open(&blob).unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let request = frame::read_frame(&mut stream, frame::MAX_FIRST_FRAME).unwrap();
            let ack = frame::response_frame(request.request_id, &frame::v1::Response::ack());
            let bytes = frame::encode_frame(&ack);
            // Only the first byte goes with the descriptor, as in a short sendmsg.
            use std::os::fd::AsFd;
            assert_eq!(
                sys::send_with_fds(&stream, &bytes[..1], &[file.as_fd()]).unwrap(),
                1
            );
            std::io::Write::write_all(&mut stream, &bytes[1..]).unwrap();
            let _ = stream.read(&mut [0u8; 1]);
        });
        let mut conn = Conn::connect(&path, Duration::from_secs(1)).unwrap();
        conn.call(shutdown(), Duration::from_secs(5)).unwrap();
        let fds = conn.take_descriptors();
        assert_eq!(fds.len(), 1);
        let mut text = String::new();
        std::fs::File::from(fds.into_iter().next().unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "blob");
        assert!(conn.take_descriptors().is_empty());
        std::fs::remove_file(&blob).unwrap();
    }

    #[test]
    fn nobody_home() {
        let path = socket_path("absent");
        let err = Conn::connect(&path, Duration::from_secs(1)).unwrap_err();
        assert!(err.is_nobody_home(), "{err}");
        // A socket file nobody listens on any more.
        drop(UnixListener::bind(&path).unwrap());
        let err = Conn::connect(&path, Duration::from_secs(1)).unwrap_err();
        assert!(err.is_nobody_home(), "{err}");
    }
}
