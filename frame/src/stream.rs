//! `FrameStream`: FrameV1 frames over any tokio byte stream the caller hands in, with the one end-of-file rule shared by the daemon and the broker. It opens no socket, starts no runtime and checks no peer; who is on the other end is the caller's business.
//!
//! The end-of-file rule: the stream ending between frames is a clean close
//! (`None`); the stream ending inside a frame (part of a head, or a head and
//! part of its body) is a protocol error, [`FrameError::is_truncated`], which
//! the caller logs like any other refused frame. A truncated last frame is
//! never dropped silently. The rule itself is [`FrameCodec`]'s `decode_eof`;
//! this type is the one loop that applies it.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

use crate::{encode_frame, Frame, FrameCodec, FrameError};

/// A byte stream, a [`FrameCodec`] and the read buffer between them.
#[derive(Debug)]
pub struct FrameStream<S> {
    stream: S,
    codec: FrameCodec,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FrameStream<S> {
    /// Frames over `stream`, decoded by `codec` (whose limits decide how
    /// long a first and a later frame may be).
    pub fn new(stream: S, codec: FrameCodec) -> Self {
        Self {
            stream,
            codec,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// The next frame; `None` on a clean end of stream between frames, an
    /// error when the stream ends inside one (see the module doc).
    pub async fn next(&mut self) -> Option<Result<Frame, FrameError>> {
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

    /// Writes `frame` whole.
    pub async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.write_all(&encode_frame(frame)).await
    }

    /// Writes raw bytes: the rest of a frame whose first bytes went out
    /// another way (with descriptors attached, `SCM_RIGHTS`).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The underlying stream, for what frames do not carry (peer
    /// credentials, descriptors, a peek at whether the peer hung up).
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{request_frame, v1};
    use tokio::io::{duplex, DuplexStream};

    fn sample(request_id: u64) -> Frame {
        request_frame(
            request_id,
            &v1::Request::new(v1::request::Body::Status(v1::StatusRequest::default())),
        )
    }

    /// Runs `f` on a current-thread runtime.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A reading end that has received `bytes` and then the end of stream.
    async fn fed(bytes: &[u8]) -> FrameStream<DuplexStream> {
        let (ours, mut theirs) = duplex(64 * 1024);
        theirs.write_all(bytes).await.unwrap();
        drop(theirs);
        FrameStream::new(ours, FrameCodec::new())
    }

    #[test]
    fn frames_then_a_clean_close() {
        block_on(async {
            let mut wire = encode_frame(&sample(1));
            wire.extend(encode_frame(&sample(2)));
            let mut conn = fed(&wire).await;
            assert_eq!(conn.next().await.unwrap().unwrap(), sample(1));
            assert_eq!(conn.next().await.unwrap().unwrap(), sample(2));
            assert!(conn.next().await.is_none());
        });
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_an_error_never_a_close() {
        block_on(async {
            let whole = encode_frame(&sample(7));
            // Cut in the head, right after it, and inside the body.
            for cut in [1, 3, 5, whole.len() - 1] {
                let mut wire = encode_frame(&sample(6));
                wire.extend_from_slice(&whole[..cut]);
                let mut conn = fed(&wire).await;
                assert_eq!(conn.next().await.unwrap().unwrap(), sample(6));
                let err = conn
                    .next()
                    .await
                    .unwrap_or_else(|| panic!("cut at {cut}: dropped silently"))
                    .unwrap_err();
                assert!(err.is_truncated(), "cut at {cut}: {err}");
            }
        });
    }

    #[test]
    fn sent_frames_arrive_whole() {
        block_on(async {
            let (a, b) = duplex(64 * 1024);
            let mut sender = FrameStream::new(a, FrameCodec::new());
            let mut receiver = FrameStream::new(b, FrameCodec::new());
            sender.send(&sample(3)).await.unwrap();
            let wire = encode_frame(&sample(4));
            sender.write_all(&wire[..2]).await.unwrap();
            sender.write_all(&wire[2..]).await.unwrap();
            drop(sender);
            assert_eq!(receiver.next().await.unwrap().unwrap(), sample(3));
            assert_eq!(receiver.next().await.unwrap().unwrap(), sample(4));
            assert!(receiver.next().await.is_none());
        });
    }

    #[test]
    fn a_refused_head_is_reported_before_the_stream_ends() {
        block_on(async {
            let (ours, mut theirs) = duplex(1024);
            theirs.write_all(&[0x02, 0, 0, 0, 0]).await.unwrap();
            let mut conn = FrameStream::new(ours, FrameCodec::new());
            // `theirs` stays open: the refusal must not wait for the end.
            let err = conn.next().await.unwrap().unwrap_err();
            assert!(err.is_bad_framing_byte(), "{err}");
            drop(theirs);
        });
    }
}
