//! The broker's FrameV1 connections over tokio Unix sockets: which limits each side reads with, and, as a client of daemons, checking who is on the other end. Framing and the end-of-file rule are `frame::FrameStream`'s, shared with the daemon.

use std::io;
use std::path::Path;

use frame::{Frame, FrameCodec, FrameError, FrameStream};
use tokio::net::UnixStream;

use crate::os;

/// A connection; the framing is [`FrameStream`]'s, this only picks limits.
pub(crate) struct Framed(FrameStream<UnixStream>);

impl Framed {
    /// The serving side: small first frame, then up to the frame limit.
    pub(crate) fn server(stream: UnixStream) -> Framed {
        Framed(FrameStream::new(stream, FrameCodec::new()))
    }

    /// The calling side, reading answers of at most `limit` bytes.
    pub(crate) fn client(stream: UnixStream, limit: usize) -> Framed {
        Framed(FrameStream::new(
            stream,
            FrameCodec::with_limits(limit, limit),
        ))
    }

    /// The next frame; `None` on a clean end of stream between frames, a
    /// truncated-frame error when it ends inside one.
    pub(crate) async fn next(&mut self) -> Option<Result<Frame, FrameError>> {
        self.0.next().await
    }

    pub(crate) async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.0.send(frame).await
    }
}

/// Connects to `path` and checks that the server runs under our uid: a
/// squatted endpoint must not be able to pose as our daemon.
pub(crate) async fn connect_ours(path: &Path) -> io::Result<UnixStream> {
    let stream = UnixStream::connect(path).await?;
    let uid = os::peer_uid(&stream)?;
    if uid != router::euid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is served by uid {uid}", path.display()),
        ));
    }
    Ok(stream)
}
