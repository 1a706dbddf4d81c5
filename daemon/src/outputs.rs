//! A hit's outputs as the wrapper receives them (`v1::Output`): where to write each, how the compiler would open it, its size and digest, and its content, inline or as a read-only descriptor of the stored blob. Writes nothing: the wrapper writes every output with its own rights and view of the file system.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use frame::v1::{self, WriteMode};

use crate::store::{Entry, Store};

/// Outputs up to this size travel inline: they cost no descriptor, and the
/// daemon hashes the few bytes it read.
const INLINE_MAX: u64 = 16 << 10;

/// The descriptors of one reply, in the order `Output.descriptor` counts
/// them (from 1). They go out with the reply's frame (`SCM_RIGHTS`).
#[derive(Default)]
pub(crate) struct Descriptors(pub(crate) Vec<OwnedFd>);

/// Why an output cannot be handed over; the unit becomes a miss.
#[derive(Debug)]
pub(crate) enum Unavailable {
    /// The store refused: gone or damaged (expected, and a damage is
    /// already counted), or `unexpected` (an I/O error worth an `errors`
    /// count).
    Store { unexpected: bool },
    /// One reply may carry at most `sys::MAX_FDS_PER_MESSAGE` descriptors.
    TooManyDescriptors,
}

impl Descriptors {
    /// Output `index` of `entry`, to be written at `path` with `write`:
    /// inline when small (verified here), else a descriptor of the blob
    /// (hashed by the wrapper while it copies).
    pub(crate) fn blob(
        &mut self,
        store: &Store,
        entry: &Entry,
        index: usize,
        path: &Path,
        write: WriteMode,
    ) -> Result<v1::Output, Unavailable> {
        let unavailable = |e: crate::store::DeliverError| Unavailable::Store {
            unexpected: !e.is_missing() && !e.is_corrupt(),
        };
        let stored = &entry.outputs[index];
        let mut out = v1::Output {
            path: path.as_os_str().as_bytes().to_vec(),
            write: write as i32,
            size: stored.size,
            digest: stored.digest.to_vec(),
            content: Vec::new(),
            descriptor: 0,
        };
        if stored.size <= INLINE_MAX {
            out.content = store.deliver_bytes(entry, index).map_err(unavailable)?;
            return Ok(out);
        }
        if self.0.len() >= sys::MAX_FDS_PER_MESSAGE {
            return Err(Unavailable::TooManyDescriptors);
        }
        let blob = store.open_output(entry, index).map_err(unavailable)?;
        self.0.push(blob.into());
        out.descriptor = self.0.len() as u32;
        Ok(out)
    }
}

/// Text the daemon rewrote for this request (a depfile, rustc's dep-info),
/// sent inline with the digest of the rewritten bytes.
pub(crate) fn text(path: &Path, write: WriteMode, bytes: Vec<u8>) -> v1::Output {
    v1::Output {
        path: path.as_os_str().as_bytes().to_vec(),
        write: write as i32,
        size: bytes.len() as u64,
        digest: blake3::hash(&bytes).as_bytes().to_vec(),
        content: bytes,
        descriptor: 0,
    }
}

/// How rustc opens an output of `role`: it writes dep-info through a
/// symlink and replaces the rlib, rmeta and staticlib; its linker replaces
/// an executable or shared object, created 0777 less the umask (measured,
/// rustc 1.95).
pub(crate) fn rust_write_mode(role: &str) -> WriteMode {
    match role {
        "dep-info" => WriteMode::WriteThrough,
        "bin" | "dylib" => WriteMode::ReplaceExecutable,
        _ => WriteMode::Replace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustc_writes_dep_info_through_and_replaces_the_rest() {
        use WriteMode::*;
        assert_eq!(rust_write_mode("dep-info"), WriteThrough);
        assert_eq!(rust_write_mode("rlib"), Replace);
        assert_eq!(rust_write_mode("bin"), ReplaceExecutable);
        assert_eq!(rust_write_mode("dylib"), ReplaceExecutable);
    }
}
