//! The daemon's content store under `<cache root>/v1/`: entries (a
//! checksummed `entry` record plus raw output blobs), manifests, size
//! accounting with LRU eviction, and delivery of cached outputs to a build's
//! paths. Does not derive keys, parse compiler arguments, speak the wire
//! protocol or log; it imports nothing from the server.
//!
//! Layout:
//!
//! ```text
//! v1/entries/<hex[0..2]>/<hex>/entry      the entry record (grammar in `format`)
//! v1/entries/<hex[0..2]>/<hex>/out-<n>    raw bytes of output n, so they can be reflinked
//! v1/manifests/<hex[0..2]>/<hex>          a manifest file (grammar in `format`)
//! v1/tmp/<pid>-<counter>-<random>.<kind>  staging directories, temporary files, and
//!                                         directories moved aside before deletion
//! ```
//!
//! Publication is by rename only. An entry directory appears whole, or not
//! at all (nothing is fsynced: after a crash a checksum or digest check
//! turns a short file into a miss), and disappears whole: eviction, `clear` and
//! quarantine first rename it into `v1/tmp`, then delete it. A reader that
//! already opened a blob therefore reads it in full, and one that has not
//! gets `DeliverError::is_missing`, a miss, never a partial output. Every
//! byte served is checked against the digest taken when it was stored; a
//! failed check quarantines the entry and counts `corrupt_detected`.
//!
//! One mutex guards the LRU bookkeeping and is never held across I/O. Races
//! between `clear`, eviction and publishing can leave the accounting briefly
//! counting an entry that is gone; eviction and lookups that find the
//! directory missing correct it.

mod deliver;
mod error;
mod format;
mod lru;
mod os;
mod transfer;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::hash_map::RandomState;
use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

pub(crate) use deliver::is_dev_null;
pub(crate) use error::DeliverError;
pub(crate) use error::StoreError;
#[cfg(test)]
pub(crate) use writer::Committed;
pub(crate) use writer::EntryWriter;

use format::Corrupt;
use lru::Lru;
use os::Identity;

/// A cache key: the blake3 hash the caller derived for an entry or manifest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key(pub(crate) [u8; 32]);

/// One output file of an entry, as recorded when it was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredOutput {
    /// What the output is ("object", "depfile", "dwo", ...); never a path.
    pub(crate) role: String,
    pub(crate) size: u64,
    /// blake3 of the output's bytes.
    pub(crate) digest: [u8; 32],
}

/// A verified entry record. Outputs are delivered with `Store::deliver`,
/// which checks them against `outputs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    key: Key,
    /// The entry directory this record was read from, so delivery notices an
    /// entry replaced in between and quarantine never hits its successor.
    dir: Identity,
    pub(crate) exit_code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) outputs: Vec<StoredOutput>,
    /// Opaque to the store, for example a depfile template.
    pub(crate) extra: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StoreStats {
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
    pub(crate) corrupt_detected: u64,
    pub(crate) evictions: u64,
}

/// Handle to the store; cheap to clone, `Send + Sync`, meant to be used from
/// many blocking tasks at once.
#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
}

impl Key {
    pub(crate) fn to_hex(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }

    /// Parses the lowercase hex produced by `to_hex`; anything else is `None`,
    /// so a directory name parses only if it is the canonical spelling.
    fn from_hex(s: &str) -> Option<Key> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut key = [0; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            key[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Key(key))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.to_hex())
    }
}

impl Entry {
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }
}

impl Store {
    /// Opens (creating if needed) the store under `cache_root/v1`, sweeps
    /// crash debris from `v1/tmp`, scans the entries for size and recency,
    /// removes structurally broken ones, and evicts down to `max_size`.
    ///
    /// The scan touches every entry directory; with very many entries this
    /// takes a while, so call it from a blocking context.
    pub(crate) fn open(cache_root: &Path, max_size: u64) -> Result<Store, StoreError> {
        let root = cache_root.join("v1");
        let inner = Inner {
            entries: root.join("entries"),
            manifests: root.join("manifests"),
            tmp: root.join("tmp"),
            max_size: AtomicU64::new(max_size),
            lru: Mutex::default(),
            corrupt_detected: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        };
        for dir in [&inner.entries, &inner.manifests, &inner.tmp] {
            fs::create_dir_all(dir)
                .map_err(|e| StoreError::io("create store directory", dir, e))?;
        }
        inner.sweep_tmp()?;
        let mut found = inner.scan()?;
        found.sort();
        {
            let mut lru = inner.lock();
            for (_, key, size) in found {
                lru.insert(key, size);
            }
        }
        inner.evict_to_fit(None);
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Starts a new entry in a private staging directory. Nothing is visible
    /// to readers until `EntryWriter::commit`.
    pub(crate) fn begin_entry(&self) -> Result<EntryWriter, StoreError> {
        let staging = self.inner.tmp.join(unique_name("staging"));
        fs::create_dir(&staging)
            .map_err(|e| StoreError::io("create staging directory", &staging, e))?;
        Ok(EntryWriter::new(Arc::clone(&self.inner), staging))
    }

    /// Reads and verifies the entry for `key` and marks it used. A missing
    /// entry is `Ok(None)`; so is a corrupt one, after it is quarantined.
    pub(crate) fn get(&self, key: &Key) -> Result<Option<Entry>, StoreError> {
        let dir_path = self.inner.entry_dir(key);
        let dir = match os::open_dir(&dir_path) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.inner.forget(key);
                return Ok(None);
            }
            Err(e) if is_wrong_type(&e) => {
                self.inner.quarantine(key, None);
                return Ok(None);
            }
            Err(e) => return Err(StoreError::io("open entry directory", dir_path, e)),
        };
        let id = dir
            .metadata()
            .map(|m| os::identity(&m))
            .map_err(|e| StoreError::io("inspect entry directory", &dir_path, e))?;
        let read = match os::open_in(&dir, ENTRY_FILE) {
            Ok(file) => read_checked(&file, format::MAX_ENTRY_FILE)
                .map_err(|e| StoreError::io("read entry", dir_path.join(ENTRY_FILE), e))?,
            // A published directory always holds its record, so a missing one
            // is damage, not a race.
            Err(e) if e.kind() == io::ErrorKind::NotFound || is_wrong_type(&e) => {
                Err(Corrupt("entry record missing"))
            }
            Err(e) => return Err(StoreError::io("open entry", dir_path.join(ENTRY_FILE), e)),
        };
        let decoded = read.and_then(|bytes| Ok((format::decode_entry(key, &bytes)?, bytes.len())));
        let Ok((record, record_len)) = decoded else {
            self.inner.quarantine(key, Some(id));
            return Ok(None);
        };
        let size = record
            .outputs
            .iter()
            .fold(record_len as u64, |sum, o| sum.saturating_add(o.size));
        self.inner.lock().insert(*key, size);
        // Recency on disk only orders the next startup scan; failing to
        // record it costs nothing now.
        let _ = os::touch(&dir);
        Ok(Some(Entry {
            key: *key,
            dir: id,
            exit_code: record.exit_code,
            stdout: record.stdout,
            stderr: record.stderr,
            outputs: record.outputs,
            extra: record.extra,
        }))
    }

    /// Removes every entry and manifest and resets the accounting. Deliveries
    /// racing with it see misses.
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        self.inner.lock().clear();
        for dir in [&self.inner.entries, &self.inner.manifests] {
            let listing =
                fs::read_dir(dir).map_err(|e| StoreError::io("list store directory", dir, e))?;
            for child in listing {
                let child = child.map_err(|e| StoreError::io("list store directory", dir, e))?;
                self.inner
                    .discard(&child.path())
                    .map_err(|e| StoreError::io("move aside", child.path(), e))?;
            }
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> StoreStats {
        let (entries, bytes) = {
            let lru = self.inner.lock();
            (lru.len() as u64, lru.total())
        };
        StoreStats {
            entries,
            bytes,
            corrupt_detected: self.inner.corrupt_detected.load(Ordering::Relaxed),
            evictions: self.inner.evictions.load(Ordering::Relaxed),
        }
    }

    /// Removes the entry under `key` (an entry a better one replaces); a
    /// delivery already reading it keeps its open files.
    pub(crate) fn remove(&self, key: &Key) {
        self.inner.forget(key);
        let _ = self.inner.discard(&self.inner.entry_dir(key));
    }

    /// Moves the size limit and evicts down to it at once; returns how many
    /// entries went.
    pub(crate) fn set_max_size(&self, max_size: u64) -> u64 {
        self.inner.max_size.store(max_size, Ordering::Relaxed);
        self.inner.evict_to_fit(None)
    }

    /// Publishes `bytes` as the manifest for `key`, replacing any previous
    /// one atomically. Manifests are small and are not counted
    /// against `max_size`.
    pub(crate) fn put_manifest(&self, key: &Key, bytes: &[u8]) -> Result<(), StoreError> {
        let file =
            format::encode_manifest(key, bytes).ok_or_else(StoreError::manifest_too_large)?;
        let mut tmp = RemoveOnDrop {
            path: self.inner.tmp.join(unique_name("manifest")),
            armed: true,
        };
        let mut f = os::create_new(&tmp.path, FILE_MODE)
            .map_err(|e| StoreError::io("create manifest", &tmp.path, e))?;
        // Not fsynced, like entries: a manifest a crash cut short fails its
        // checksum and reads as absent, a miss.
        f.write_all(&file)
            .map_err(|e| StoreError::io("write manifest", &tmp.path, e))?;
        drop(f);
        let hex = key.to_hex();
        let shard = self.inner.manifests.join(&hex[..2]);
        let dest = shard.join(&hex);
        rename_into_shard(&tmp.path, &dest, &shard, &self.inner.manifests)
            .map_err(|e| StoreError::io("publish manifest", &dest, e))?;
        tmp.armed = false;
        Ok(())
    }

    /// Reads and verifies the manifest for `key`. Missing is `Ok(None)`; so is
    /// corrupt, after the file is removed.
    pub(crate) fn get_manifest(&self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let hex = key.to_hex();
        let path = self.inner.manifests.join(&hex[..2]).join(&hex);
        let (read, id) = match os::open_read(&path) {
            Ok(file) => {
                let id = file
                    .metadata()
                    .map(|m| os::identity(&m))
                    .map_err(|e| StoreError::io("inspect manifest", &path, e))?;
                let read = read_checked(&file, format::MAX_MANIFEST_FILE)
                    .map_err(|e| StoreError::io("read manifest", &path, e))?;
                (read, Some(id))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if is_wrong_type(&e) => (Err(Corrupt("manifest is a symlink")), None),
            Err(e) => return Err(StoreError::io("open manifest", &path, e)),
        };
        match read.and_then(|bytes| format::decode_manifest(key, &bytes)) {
            Ok(body) => Ok(Some(body)),
            Err(_) => {
                // Remove only what was read: a concurrent put may have
                // replaced it with a good manifest already.
                let same = fs::symlink_metadata(&path).is_ok_and(|m| match id {
                    Some(id) => os::identity(&m) == id,
                    None => true,
                });
                if same && fs::remove_file(&path).is_ok() {
                    self.inner.corrupt_detected.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None)
            }
        }
    }
}

const ENTRY_FILE: &str = "entry";
/// Stored files are never modified in place; read-only modes guard against
/// accidents, not attackers.
const FILE_MODE: u32 = 0o444;
const COPY_BUF: usize = 256 << 10;
/// Debris younger than this from a pid that is alive may belong to another
/// daemon sharing the root, so it is left alone.
const DEBRIS_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

static COUNTER: AtomicU64 = AtomicU64::new(0);

struct Inner {
    entries: PathBuf,
    manifests: PathBuf,
    tmp: PathBuf,
    /// The size limit; a config change moves it while the daemon runs.
    max_size: AtomicU64,
    lru: Mutex<Lru>,
    corrupt_detected: AtomicU64,
    evictions: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Lru> {
        // The bookkeeping cannot be left half-updated by a panic elsewhere,
        // so a poisoned lock is still usable.
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry_dir(&self, key: &Key) -> PathBuf {
        let hex = key.to_hex();
        self.entries.join(&hex[..2]).join(hex)
    }

    fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// Moves a damaged entry aside and deletes it. With `expected`, only if
    /// the path still names that directory, so a good entry published since
    /// the damaged one was read survives.
    fn quarantine(&self, key: &Key, expected: Option<Identity>) {
        let path = self.entry_dir(key);
        if let Some(id) = expected {
            match fs::symlink_metadata(&path) {
                Ok(m) if os::identity(&m) == id => {}
                _ => return,
            }
        }
        self.forget(key);
        if let Ok(true) = self.discard(&path) {
            self.corrupt_detected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Renames `path` into tmp, then deletes it there. `Ok(false)` if it was
    /// already gone. A failed deletion leaves debris for the next sweep.
    fn discard(&self, path: &Path) -> io::Result<bool> {
        let aside = self.tmp.join(unique_name("trash"));
        match fs::rename(path, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        let _ = remove_any(&aside);
        Ok(true)
    }

    /// Evicts least recently used entries, never `keep`, until the total is
    /// within `max_size`. Returns how many were evicted.
    fn evict_to_fit(&self, keep: Option<&Key>) -> u64 {
        let mut evicted = 0;
        loop {
            let victim = {
                let mut lru = self.lock();
                if lru.total() <= self.max_size.load(Ordering::Relaxed) {
                    break;
                }
                lru.pop_oldest(keep)
            };
            let Some(victim) = victim else { break };
            if let Ok(true) = self.discard(&self.entry_dir(&victim)) {
                evicted += 1;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        evicted
    }

    /// Renames a finished staging directory to its final name. `Ok(false)`
    /// when an entry for the key already exists: another writer won.
    fn publish(&self, staging: &Path, key: &Key) -> Result<bool, StoreError> {
        let hex = key.to_hex();
        let shard = self.entries.join(&hex[..2]);
        let dest = shard.join(&hex);
        match rename_into_shard(staging, &dest, &shard, &self.entries) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                return Ok(false)
            }
            Err(e) => return Err(StoreError::io("publish entry", dest, e)),
        }
        // Not fsynced (see `EntryWriter::commit`): a crash may lose the
        // rename, which only costs a miss.
        Ok(true)
    }

    /// Removes what a crashed or finished process left in tmp. Names start
    /// with the creator's pid; a live pid's recent debris may be another
    /// daemon's work in progress on the same root.
    fn sweep_tmp(&self) -> Result<(), StoreError> {
        let listing = fs::read_dir(&self.tmp).map_err(|e| StoreError::io("list", &self.tmp, e))?;
        let now = SystemTime::now();
        for child in listing.flatten() {
            let pid = child
                .file_name()
                .to_str()
                .and_then(|n| n.split('-').next()?.parse::<u32>().ok());
            let recent = child
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).map_or(true, |age| age < DEBRIS_GRACE));
            if pid.is_some_and(os::process_alive) && recent {
                continue;
            }
            let _ = remove_any(&child.path());
        }
        Ok(())
    }

    /// Lists entry directories with their mtime and size, removing anything
    /// that does not fit the layout.
    fn scan(&self) -> Result<Vec<(SystemTime, Key, u64)>, StoreError> {
        let mut found = Vec::new();
        let listing =
            fs::read_dir(&self.entries).map_err(|e| StoreError::io("list", &self.entries, e))?;
        for shard in listing.flatten() {
            let shard_name = shard.file_name();
            let is_shard = shard_name.len() == 2
                && shard_name
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
                && shard.file_type().is_ok_and(|t| t.is_dir());
            if !is_shard {
                let _ = self.discard(&shard.path());
                continue;
            }
            let Ok(entries) = fs::read_dir(shard.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let key = entry
                    .file_name()
                    .to_str()
                    .and_then(Key::from_hex)
                    .filter(|k| k.to_hex().as_bytes()[..2] == *shard_name.as_encoded_bytes());
                let inspected = match key {
                    Some(key) if entry.file_type().is_ok_and(|t| t.is_dir()) => {
                        inspect_entry_dir(&entry.path())
                            .map(|found| found.map(|(mtime, size)| (mtime, key, size)))
                    }
                    _ => Ok(None),
                };
                match inspected {
                    Ok(Some(item)) => found.push(item),
                    Ok(None) => {
                        if let Ok(true) = self.discard(&entry.path()) {
                            self.corrupt_detected.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // Unreadable: leave it; a lookup will judge it.
                    Err(_) => {}
                }
            }
        }
        Ok(found)
    }
}

/// Checks an entry directory's shape without reading the record: exactly an
/// `entry` file and `out-0` .. `out-<n-1>`, all regular files. Returns its
/// mtime and total size, or `None` if the shape is wrong.
fn inspect_entry_dir(path: &Path) -> io::Result<Option<(SystemTime, u64)>> {
    let mtime = fs::symlink_metadata(path)?.modified()?;
    let mut size = 0u64;
    let mut has_record = false;
    let mut outs = Vec::new();
    for file in fs::read_dir(path)? {
        let file = file?;
        if !file.file_type()?.is_file() {
            return Ok(None);
        }
        let name = file.file_name();
        match name.to_str() {
            Some(ENTRY_FILE) => has_record = true,
            Some(n) => match n.strip_prefix("out-").and_then(|i| i.parse::<usize>().ok()) {
                Some(i) if out_name(i) == n && i < format::MAX_OUTPUTS => outs.push(i),
                _ => return Ok(None),
            },
            None => return Ok(None),
        }
        size = size.saturating_add(file.metadata()?.len());
    }
    outs.sort_unstable();
    let contiguous = outs.iter().enumerate().all(|(want, &got)| want == got);
    Ok((has_record && contiguous).then_some((mtime, size)))
}

fn out_name(index: usize) -> String {
    format!("out-{index}")
}

/// A name unique across processes and threads for things created in tmp or
/// beside a destination: the pid lets the sweep tell whose it is.
fn unique_name(kind: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(n);
    format!("{}-{}-{:016x}.{}", std::process::id(), n, h.finish(), kind)
}

/// Renames `src` to `dest` inside `shard`, creating the shard when it is
/// missing: shards are created lazily and `clear` may remove one at any time.
fn rename_into_shard(src: &Path, dest: &Path, shard: &Path, parent: &Path) -> io::Result<()> {
    let mut attempts = 0;
    loop {
        match fs::rename(src, dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
            other => return other,
        }
        match fs::create_dir(shard) {
            Ok(()) => {
                let _ = os::sync_dir(parent);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads a whole stored file, refusing non-regular files and files over
/// `limit` before allocating.
fn read_checked(file: &File, limit: u64) -> io::Result<Result<Vec<u8>, Corrupt>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Err(Corrupt("not a regular file")));
    }
    if meta.len() > limit {
        return Ok(Err(Corrupt("file over its size limit")));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Ok(Err(Corrupt("file over its size limit")));
    }
    Ok(Ok(buf))
}

/// `O_NOFOLLOW` on a symlink and `O_DIRECTORY` on a non-directory: something
/// that is not ours was planted where a store file belongs.
fn is_wrong_type(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
}

fn remove_any(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `src` to `dst` and hashes exactly the bytes copied.
fn copy_hashing(src: &mut File, dst: &mut File) -> Result<(u64, [u8; 32]), CopyError> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
    Ok((total, *hasher.finalize().as_bytes()))
}

/// Hashes a file from its start, for reflinked copies whose bytes were never
/// seen by us.
fn hash_file(f: &mut File) -> io::Result<(u64, [u8; 32])> {
    f.seek(SeekFrom::Start(0))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, *hasher.finalize().as_bytes()))
}

/// Removes a temporary file unless it was renamed into place.
struct RemoveOnDrop {
    path: PathBuf,
    armed: bool,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}
