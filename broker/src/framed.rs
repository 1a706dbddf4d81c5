//! A FrameV1 stream over a tokio Unix socket, for serving wrappers and for talking to daemons as a client; decoding is frame's, this only moves bytes and checks who is on the other end.

use std::io;
use std::path::Path;

use bytes::BytesMut;
use frame::{Frame, FrameCodec, FrameError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::codec::Decoder;

use crate::os;

pub(crate) struct Framed {
    stream: UnixStream,
    codec: FrameCodec,
    buf: BytesMut,
}

impl Framed {
    /// The serving side: small first frame, then up to the frame limit.
    pub(crate) fn server(stream: UnixStream) -> Framed {
        Framed::with_codec(stream, FrameCodec::new())
    }

    /// The calling side, reading answers of at most `limit` bytes.
    pub(crate) fn client(stream: UnixStream, limit: usize) -> Framed {
        Framed::with_codec(stream, FrameCodec::with_limits(limit, limit))
    }

    fn with_codec(stream: UnixStream, codec: FrameCodec) -> Framed {
        Framed {
            stream,
            codec,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// The next frame; `None` on a clean end of stream between frames.
    pub(crate) async fn next(&mut self) -> Option<Result<Frame, FrameError>> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return self.codec.decode_eof(&mut self.buf).transpose(),
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    pub(crate) async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.stream.write_all(&frame::encode_frame(frame)).await
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
