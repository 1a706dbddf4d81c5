//! Handing cached outputs to a client: a read-only descriptor of a blob
//! (checked for type and size, hashed by whoever reads it), the bytes of a
//! small or rewritten output verified against the entry's digest, and a
//! re-check of an entry a client found damaged. Writes nothing outside the
//! store: the wrapper writes a hit's outputs with its own rights and view
//! of the file system.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::error::DeliverError;
use super::{hash_file, os, out_name, Entry, Store};

/// Largest output `deliver_bytes` loads into memory.
const MAX_IN_MEMORY: u64 = 64 << 20;

/// True for exactly `/dev/null` when it really is a character device, in
/// the daemon's view: a miss whose user depfile is `/dev/null` needs a
/// private one.
pub(crate) fn is_dev_null(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    path == Path::new("/dev/null")
        && std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

impl Store {
    /// Opens output `index` of `entry` read-only, for a client to copy and
    /// hash: its size matches the entry, but its bytes are not hashed here
    /// (the reader checks them against the digest). A vanished blob is
    /// `is_missing` (a miss); a blob of the wrong type or size quarantines
    /// the entry and is `is_corrupt`.
    pub(crate) fn open_output(&self, entry: &Entry, index: usize) -> Result<File, DeliverError> {
        self.open_blob(entry, index).map(|(blob, _)| blob)
    }

    /// Hashes output `index` of `entry` in full and compares it with the
    /// entry: a client reported a mismatch, so the entry is quarantined
    /// (`is_corrupt`) only if the store really holds damaged bytes.
    pub(crate) fn check_output(&self, entry: &Entry, index: usize) -> Result<(), DeliverError> {
        let (mut blob, blob_path) = self.open_blob(entry, index)?;
        let got = hash_file(&mut blob)
            .map_err(|e| DeliverError::io("read cached output", &blob_path, e))?;
        self.verify(entry, index, got, &blob_path)
    }

    /// Reads output `index` of `entry` into memory, verified like `deliver`,
    /// for outputs the caller rewrites before writing (depfiles).
    pub(crate) fn deliver_bytes(
        &self,
        entry: &Entry,
        index: usize,
    ) -> Result<Vec<u8>, DeliverError> {
        let (blob, blob_path) = self.open_blob(entry, index)?;
        let size = entry.outputs[index].size;
        if size > MAX_IN_MEMORY {
            return Err(DeliverError::TooLarge {
                path: blob_path,
                size,
                limit: MAX_IN_MEMORY,
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        (&blob)
            .take(size + 1)
            .read_to_end(&mut buf)
            .map_err(|e| DeliverError::io("read cached output", &blob_path, e))?;
        let got = (buf.len() as u64, *blake3::hash(&buf).as_bytes());
        self.verify(entry, index, got, &blob_path)?;
        Ok(buf)
    }

    /// Opens a blob inside the very directory `entry` was read from.
    pub(super) fn open_blob(
        &self,
        entry: &Entry,
        index: usize,
    ) -> Result<(File, PathBuf), DeliverError> {
        let Some(expected) = entry.outputs.get(index) else {
            return Err(DeliverError::NoSuchOutput {
                index,
                count: entry.outputs.len(),
            });
        };
        let dir_path = self.inner.entry_dir(&entry.key);
        let name = out_name(index);
        let blob_path = dir_path.join(&name);
        let missing = |path: &Path| DeliverError::Missing {
            path: path.to_owned(),
        };
        let dir = match os::open_dir(&dir_path) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound || super::is_wrong_type(&e) => {
                return Err(missing(&blob_path))
            }
            Err(e) => return Err(DeliverError::io("open entry directory", dir_path, e)),
        };
        let id = dir
            .metadata()
            .map(|m| os::identity(&m))
            .map_err(|e| DeliverError::io("inspect entry directory", &dir_path, e))?;
        if id != entry.dir {
            // Evicted and stored again since it was read: the record in hand
            // may not describe these blobs.
            return Err(missing(&blob_path));
        }
        let blob = match os::open_in(&dir, &name) {
            Ok(blob) => blob,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Published directories are complete and only ever removed
                // whole, so a blob missing from one still in place was
                // deleted from outside; drop the entry so it can be stored
                // anew.
                self.inner.quarantine(&entry.key, Some(id));
                return Err(missing(&blob_path));
            }
            Err(e) if super::is_wrong_type(&e) => {
                return Err(self.corrupt(entry, blob_path, "blob is a symlink"))
            }
            Err(e) => return Err(DeliverError::io("open cached output", blob_path, e)),
        };
        let meta = blob
            .metadata()
            .map_err(|e| DeliverError::io("inspect cached output", &blob_path, e))?;
        if !meta.is_file() {
            return Err(self.corrupt(entry, blob_path, "blob is not a regular file"));
        }
        if meta.len() != expected.size {
            return Err(self.corrupt(entry, blob_path, "size differs from the entry"));
        }
        Ok((blob, blob_path))
    }

    pub(super) fn verify(
        &self,
        entry: &Entry,
        index: usize,
        (size, digest): (u64, [u8; 32]),
        blob_path: &Path,
    ) -> Result<(), DeliverError> {
        let expected = &entry.outputs[index];
        let reason = if size != expected.size {
            "size differs from the entry"
        } else if digest != expected.digest {
            "digest mismatch"
        } else {
            return Ok(());
        };
        Err(self.corrupt(entry, blob_path.to_owned(), reason))
    }

    fn corrupt(&self, entry: &Entry, path: PathBuf, reason: &'static str) -> DeliverError {
        self.inner.quarantine(&entry.key, Some(entry.dir));
        DeliverError::Corrupt { path, reason }
    }
}
