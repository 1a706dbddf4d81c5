//! Writing cached outputs to a build's paths: verify every byte against the
//! entry's digest, write a temporary file beside the destination, rename it
//! over the final name. Never opens the final path for writing, so a symlink
//! there is replaced and its target untouched, and never replaces anything
//! but a regular file or a symlink (no directory, device, FIFO or socket).
//! Does not fsync outputs (a fresh compile would not either) and does not
//! hardlink.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::error::DeliverError;
use super::{copy_hashing, hash_file, os, out_name, CopyError, Entry, Store, COUNTER};

/// Largest output `deliver_bytes` loads into memory.
const MAX_IN_MEMORY: u64 = 64 << 20;
/// Keeps temporary names within NAME_MAX however long the destination's is.
const MAX_STEM: usize = 100;

/// Which modification time a delivered file gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MtimePolicy {
    /// As a fresh compile would leave it.
    Now,
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "every output gets the current time; kept for a stored-mtime policy"
        )
    )]
    Set(SystemTime),
}

/// True for exactly `/dev/null` when it really is a character device. The
/// caller delivers nothing there; delivery itself refuses every device.
pub(crate) fn is_dev_null(path: &Path) -> bool {
    path == Path::new("/dev/null")
        && fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

/// Writes `bytes` to `dest` by temporary file and rename, with the same
/// refusals as `Store::deliver`.
pub(crate) fn write_file_atomic(
    dest: &Path,
    bytes: &[u8],
    mtime: MtimePolicy,
) -> Result<(), DeliverError> {
    check_dest(dest)?;
    let mut tmp = TempFile::beside(dest)?;
    tmp.file
        .write_all(bytes)
        .map_err(|e| DeliverError::io("write temporary file", &tmp.path, e))?;
    tmp.rename_over(dest, mtime)
}

impl Store {
    /// Writes output `index` of `entry` to `dest`, verified against the
    /// recorded size and digest. A vanished blob is `is_missing` (a miss); a
    /// mismatch quarantines the entry and is `is_corrupt`. On any error no
    /// temporary file is left and `dest` is unchanged.
    pub(crate) fn deliver(
        &self,
        entry: &Entry,
        index: usize,
        dest: &Path,
        mtime: MtimePolicy,
    ) -> Result<(), DeliverError> {
        check_dest(dest)?;
        let (mut blob, blob_path) = self.open_blob(entry, index)?;
        let mut tmp = TempFile::beside(dest)?;
        let got = if os::reflink(&blob, &tmp.file) {
            // The clone shares the blob's extents; hashing it checks exactly
            // the bytes being delivered.
            hash_file(&mut tmp.file)
                .map_err(|e| DeliverError::io("read back temporary file", &tmp.path, e))?
        } else {
            copy_hashing(&mut blob, &mut tmp.file).map_err(|e| match e {
                CopyError::Read(e) => DeliverError::io("read cached output", &blob_path, e),
                CopyError::Write(e) => DeliverError::io("write temporary file", &tmp.path, e),
            })?
        };
        self.verify(entry, index, got, &blob_path)?;
        tmp.rename_over(dest, mtime)
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
    fn open_blob(&self, entry: &Entry, index: usize) -> Result<(File, PathBuf), DeliverError> {
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

    fn verify(
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

/// Accepts a destination that is absent, a regular file, or a symlink (which
/// the rename replaces without following).
fn check_dest(dest: &Path) -> Result<(), DeliverError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_file() || m.file_type().is_symlink() => Ok(()),
        Ok(_) => Err(DeliverError::NotRegular {
            path: dest.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DeliverError::io("inspect", dest, e)),
    }
}

/// A temporary file beside a destination, removed on drop unless renamed
/// over it.
struct TempFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

impl TempFile {
    /// Creates `.<name>.zccache-tmp-<pid>-<counter>` exclusively in the
    /// destination's directory, mode 0666 less the umask as a compiler's
    /// output would get.
    fn beside(dest: &Path) -> Result<TempFile, DeliverError> {
        let Some(name) = dest.file_name() else {
            return Err(DeliverError::NoFileName {
                path: dest.to_owned(),
            });
        };
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let stem = &name.as_bytes()[..name.len().min(MAX_STEM)];
        let mut last_err = None;
        for _ in 0..8 {
            let mut tmp_name = OsString::from(".");
            tmp_name.push(OsStr::from_bytes(stem));
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            tmp_name.push(format!(".zccache-tmp-{}-{n}", std::process::id()));
            let path = dir.join(tmp_name);
            match os::create_new(&path, 0o666) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        armed: true,
                    })
                }
                // Left by an earlier process with our pid; try the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some((path, e)),
                Err(e) => return Err(DeliverError::io("create temporary file", path, e)),
            }
        }
        let (path, e) = last_err.expect("the loop ran");
        Err(DeliverError::io("create temporary file", path, e))
    }

    fn rename_over(mut self, dest: &Path, mtime: MtimePolicy) -> Result<(), DeliverError> {
        if let MtimePolicy::Set(t) = mtime {
            self.file
                .set_modified(t)
                .map_err(|e| DeliverError::io("set the mtime of", &self.path, e))?;
        }
        // Checked again because the copy took time: a directory, FIFO or
        // device that appeared meanwhile must not be replaced.
        check_dest(dest)?;
        fs::rename(&self.path, dest)
            .map_err(|e| DeliverError::io("rename a temporary file over", dest, e))?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}
