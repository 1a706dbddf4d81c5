//! Descriptors over a Unix stream socket (`SCM_RIGHTS`): one `sendmsg` that carries bytes and descriptors, one `recvmsg` that collects them. It does not frame messages, retry partial writes or decide what a descriptor is for.
//!
//! The kernel attaches the descriptors to the first byte of the message
//! they are sent with: a reader receives them on the `recvmsg` that reads
//! that byte, so every read of a reply that may carry descriptors must be a
//! [`recv_with_fds`].

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors one message may carry. Linux refuses more than 253
/// (`SCM_MAX_FD`) in one control message.
pub const MAX_FDS_PER_MESSAGE: usize = 253;

/// Sends as much of `bytes` as one `sendmsg` takes, with `fds` attached
/// (`SCM_RIGHTS`). Returns the number of bytes sent: when it is short, the
/// descriptors went with the part that was sent and the rest goes by plain
/// writes. Never blocks on a non-blocking socket (`WouldBlock`: nothing was
/// sent, descriptors included). `bytes` must not be empty when `fds` is
/// not: descriptors need a byte to travel with.
pub fn send_with_fds(
    sock: &impl AsRawFd,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    if fds.len() > MAX_FDS_PER_MESSAGE || (bytes.is_empty() && !fds.is_empty()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptors need 1..=253 per message and at least one byte",
        ));
    }
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let payload = mem::size_of_val(raw.as_slice());
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = if raw.is_empty() {
        0
    } else {
        unsafe { libc::CMSG_SPACE(payload as libc::c_uint) as usize }
    };
    // u64 elements keep the buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !raw.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer holds CMSG_SPACE(payload) bytes, so the
        // first header and its data fit; CMSG_DATA points inside it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload as libc::c_uint) as _;
            std::ptr::copy_nonoverlapping(
                raw.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                payload,
            );
        }
    }
    loop {
        // SAFETY: `msg` points at live buffers for the duration of the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reads into `buf` with one `recvmsg`, appending the descriptors that came
/// with these bytes to `fds` (close-on-exec, so no compiler inherits them).
/// A control message the kernel had to truncate is an error: a descriptor
/// we were sent was dropped.
pub fn recv_with_fds(
    sock: &impl AsRawFd,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe {
        libc::CMSG_SPACE((MAX_FDS_PER_MESSAGE * mem::size_of::<RawFd>()) as libc::c_uint) as usize
    };
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` points at live buffers for the duration of the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    // Take ownership of whatever arrived before judging, so nothing leaks.
    // SAFETY: the kernel filled the control buffer; the CMSG macros walk
    // only within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other(
            "descriptors sent with the message were dropped (control message truncated)",
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn descriptors_arrive_with_the_first_byte() {
        let (a, b) = UnixStream::pair().unwrap();
        let dir = std::env::temp_dir().join(format!("zccache-sys-fds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blob");
        File::create(&path)
            .unwrap()
            .write_all(b"blob bytes")
            .unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(
            send_with_fds(&a, b"hello", &[file.as_fd(), file.as_fd()]).unwrap(),
            5
        );
        (&a).write_all(b" world").unwrap();
        let mut fds = Vec::new();
        let mut buf = [0u8; 2];
        assert_eq!(recv_with_fds(&b, &mut buf, &mut fds).unwrap(), 2);
        assert_eq!(fds.len(), 2);
        let mut rest = [0u8; 9];
        let mut got = 0;
        while got < rest.len() {
            got += recv_with_fds(&b, &mut rest[got..], &mut fds).unwrap();
        }
        assert_eq!(&rest, b"llo world");
        assert_eq!(fds.len(), 2, "descriptors come once, with the first byte");
        for fd in fds {
            // SAFETY: F_GETFD on a descriptor we own.
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
            assert_ne!(flags & libc::FD_CLOEXEC, 0);
            let mut f = File::from(fd);
            f.rewind().unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert_eq!(s, "blob bytes");
        }
        assert!(send_with_fds(&a, b"", &[file.as_fd()]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
