//! Writing one entry: snapshot outputs into a private staging directory, then
//! publish the whole directory with one rename in `commit`. Dropping an
//! uncommitted writer discards the staging directory; `Drop` never
//! publishes. Does not decide what to store or under which key.
//!
//! Snapshotting is the part that must happen before the daemon answers the
//! wrapper's Store (the wrapper's files may change right after); `commit`
//! may run later, for example in a blocking task, since `EntryWriter` is
//! `Send`. Nothing here fsyncs (see `commit`).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::StoreError;
use super::format::{self, MAX_OUTPUTS};
use super::{
    copy_hashing, hash_file, os, out_name, CopyError, Inner, Key, StoredOutput, ENTRY_FILE,
    FILE_MODE,
};

pub(crate) struct EntryWriter {
    inner: Arc<Inner>,
    staging: PathBuf,
    outputs: Vec<StoredOutput>,
    published: bool,
}

/// What `commit` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Committed {
    /// Another writer published this key first; ours was discarded.
    pub(crate) already_present: bool,
    /// Entries evicted to make room.
    pub(crate) evicted: u64,
}

impl EntryWriter {
    pub(super) fn new(inner: Arc<Inner>, staging: PathBuf) -> Self {
        EntryWriter {
            inner,
            staging,
            outputs: Vec::new(),
            published: false,
        }
    }

    /// Snapshots the regular file `src` as the next output, by reflink where
    /// the filesystem supports it, else by copy. The recorded digest is of
    /// the snapshot itself, so later changes to `src` cannot make it lie.
    pub(crate) fn add_output_from_file(
        &mut self,
        role: &str,
        src: &Path,
    ) -> Result<(), StoreError> {
        let dst = self.next_output_path(role)?;
        let meta =
            fs::symlink_metadata(src).map_err(|e| StoreError::io("inspect output", src, e))?;
        if !meta.is_file() {
            return Err(StoreError::NotRegular {
                path: src.to_owned(),
            });
        }
        let mut source = os::open_read(src).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => StoreError::NotRegular {
                path: src.to_owned(),
            },
            _ => StoreError::io("open output", src, e),
        })?;
        // The path may have been swapped between the lstat and the open.
        let is_file = source
            .metadata()
            .map_err(|e| StoreError::io("inspect output", src, e))?
            .is_file();
        if !is_file {
            return Err(StoreError::NotRegular {
                path: src.to_owned(),
            });
        }
        let snapshot = snapshot(&mut source, src, &dst);
        match snapshot {
            Ok((size, digest)) => {
                self.outputs.push(StoredOutput {
                    role: role.to_owned(),
                    size,
                    digest,
                });
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&dst);
                Err(e)
            }
        }
    }

    /// Stores `bytes` as the next output.
    pub(crate) fn add_output_bytes(&mut self, role: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let dst = self.next_output_path(role)?;
        let written = os::create_new(&dst, FILE_MODE).and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written {
            let _ = fs::remove_file(&dst);
            return Err(StoreError::io("write blob", dst, e));
        }
        let digest = *blake3::hash(bytes).as_bytes();
        self.outputs.push(StoredOutput {
            role: role.to_owned(),
            size: bytes.len() as u64,
            digest,
        });
        Ok(())
    }

    /// The outputs snapshotted so far, in order.
    #[cfg(test)]
    pub(crate) fn outputs(&self) -> &[StoredOutput] {
        &self.outputs
    }

    /// Makes the entry visible under `key`: writes the record, renames the
    /// staging directory into place, then evicts least recently used entries (never
    /// this one) while the store is over its size limit. If the key is
    /// already present, another writer won and ours is discarded.
    pub(crate) fn commit(
        mut self,
        key: &Key,
        exit_code: i32,
        stdout: &[u8],
        stderr: &[u8],
        extra: &[u8],
    ) -> Result<Committed, StoreError> {
        let record = format::encode_entry(key, exit_code, stdout, stderr, &self.outputs, extra)
            .ok_or_else(StoreError::entry_too_large)?;
        // No fsync: the compile waits for this Store, and several fsyncs
        // per entry were most of a miss's cost over no cache (issue 16).
        // A crash may leave a published entry short or empty; its record
        // is checksummed and every blob byte served is checked against its
        // digest, so that costs a quarantine and a miss, never a wrong
        // byte. ccache does not fsync either.
        let record_path = self.staging.join(ENTRY_FILE);
        os::create_new(&record_path, FILE_MODE)
            .and_then(|mut f| f.write_all(&record))
            .map_err(|e| StoreError::io("write entry", &record_path, e))?;

        if !self.inner.publish(&self.staging, key)? {
            return Ok(Committed {
                already_present: true,
                evicted: 0,
            });
        }
        self.published = true;
        let size = self
            .outputs
            .iter()
            .fold(record.len() as u64, |sum, o| sum.saturating_add(o.size));
        self.inner.lock().insert(*key, size);
        let evicted = self.inner.evict_to_fit(Some(key));
        Ok(Committed {
            already_present: false,
            evicted,
        })
    }

    fn next_output_path(&self, role: &str) -> Result<PathBuf, StoreError> {
        if !format::valid_role(role) {
            return Err(StoreError::InvalidRole {
                role: role.to_owned(),
            });
        }
        if self.outputs.len() >= MAX_OUTPUTS {
            return Err(StoreError::TooManyOutputs);
        }
        Ok(self.staging.join(out_name(self.outputs.len())))
    }
}

impl Drop for EntryWriter {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

fn snapshot(source: &mut File, src: &Path, dst: &Path) -> Result<(u64, [u8; 32]), StoreError> {
    let mut out =
        os::create_new(dst, FILE_MODE).map_err(|e| StoreError::io("create blob", dst, e))?;
    if os::reflink(source, &out) {
        return hash_file(&mut out).map_err(|e| StoreError::io("read back blob", dst, e));
    }
    copy_hashing(source, &mut out).map_err(|e| match e {
        CopyError::Read(e) => StoreError::io("read output", src, e),
        CopyError::Write(e) => StoreError::io("write blob", dst, e),
    })
}
