//! What the engine lends a language pipeline and what every pipeline
//! shares: the [`Core`] state (store, metadata cache, counters, manifests,
//! miss tokens), the passthrough value [`Pt`] and the request and store
//! helpers both languages use.
//!
//! It names no language: `engine` dispatches to `cc` and `rust`, which
//! import this module and never each other or `engine`, so the daemon's
//! modules import one another in one direction only.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use frame::v1;

use crate::manifest::{Manifest, ManifestEntry};
use crate::meta::MetaCache;
use crate::outputs::Descriptors;
use crate::reasons::{NotStoredReason, PassthroughReason};
use crate::remap::Root;
use crate::stats::Stats;
use crate::store::{Entry, Key, Store, StoreError};

/// The state every pipeline reads and writes through the engine.
pub(crate) struct Core {
    pub(crate) store: Store,
    pub(crate) meta: MetaCache,
    pub(crate) stats: Stats,
    /// Where misses write the dependency files we read at Store.
    pub(crate) private_dir: PathBuf,
    next_token: AtomicU64,
    pub(crate) manifests: DashMap<[u8; 32], Arc<Manifest>>,
}

impl Core {
    pub(crate) fn new(store: Store, stats: Stats, private_dir: PathBuf) -> Core {
        Core {
            store,
            meta: MetaCache::default(),
            stats,
            private_dir,
            next_token: AtomicU64::new(1),
            manifests: DashMap::new(),
        }
    }

    /// A fresh miss token, never 0 (0 means "do not store").
    pub(crate) fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// Puts `entry` first in the manifest under `key`, on disk and in memory.
    pub(crate) fn add_manifest_entry(
        &self,
        key: &[u8; 32],
        entry: ManifestEntry,
    ) -> Result<(), NotStoredReason> {
        let old = self.manifest(key).unwrap_or_default();
        let updated = Arc::new(old.with_entry(entry));
        self.store
            .put_manifest(&Key(*key), &updated.encode())
            .map_err(store_failed)?;
        self.manifests.insert(*key, updated);
        Ok(())
    }

    /// The one hit loop both languages share: the first entry of the
    /// manifest under `manifest_key` whose files match the current tree
    /// (`at`: cwd and worktree root), whose result (`result_key`; `None`
    /// skips the entry) is stored and that `deliver` can hand out. Counts
    /// the hit (and a cross-root hit) or, when none, the miss; a store
    /// that fails to read counts an error and the loop goes on.
    pub(crate) fn find_hit<R>(
        &self,
        language: Language,
        manifest_key: &[u8; 32],
        at: (&Path, Option<&Root>),
        result_key: impl Fn(&ManifestEntry) -> Option<[u8; 32]>,
        mut deliver: impl FnMut(&ManifestEntry, &Entry) -> Option<R>,
    ) -> Option<R> {
        let (cwd, root) = at;
        let rust = language == Language::Rust;
        if let Some(m) = self.manifest(manifest_key) {
            for entry in &m.entries {
                if !entry.matches(cwd, root, &self.meta) {
                    continue;
                }
                let Some(result_key) = result_key(entry) else {
                    continue;
                };
                match self.store.get(&Key(result_key)) {
                    Ok(Some(stored)) => {
                        if let Some(hit) = deliver(entry, &stored) {
                            self.stats.bump(&self.stats.hits);
                            if rust {
                                self.stats.bump(&self.stats.rust_hits);
                            }
                            if entry.is_cross_root(root) {
                                self.stats.bump(&self.stats.cross_root_hits);
                            }
                            return Some(hit);
                        }
                    }
                    Ok(None) => {}
                    Err(_) => self.stats.bump(&self.stats.errors),
                }
            }
        }
        self.stats.bump(&self.stats.misses);
        if rust {
            self.stats.bump(&self.stats.rust_misses);
        }
        None
    }

    /// The manifest under `key`, from memory or the store.
    pub(crate) fn manifest(&self, key: &[u8; 32]) -> Option<Arc<Manifest>> {
        if let Some(m) = self.manifests.get(key) {
            return Some(m.clone());
        }
        let bytes = self.store.get_manifest(&Key(*key)).ok()??;
        let m = Arc::new(Manifest::decode(&bytes)?);
        self.manifests.insert(*key, m.clone());
        Some(m)
    }
}

/// One language's way through the engine's flow (C/C++/emcc in
/// `cc::pipeline`, rustc in `rust`). The engine picks the pipeline by the
/// request's compiler and calls it statically, never through a trait
/// object; it keeps each [`Pipeline::Pending`] between Miss and Store.
pub(crate) trait Pipeline {
    /// What the pipeline remembers between a Miss and its Store.
    type Pending: PendingMiss;

    /// Answers a Lookup: a Probe round, one Hit or Miss per unit, or
    /// "cannot cache this". Each miss that may be stored is handed to
    /// `remember` under its token.
    fn lookup(
        &self,
        core: &Core,
        req: &v1::Lookup,
        fds: &mut Descriptors,
        remember: &dyn Fn(u64, Self::Pending),
    ) -> Result<v1::LookupReply, Pt>;

    /// Records the outputs of the miss `pending` the client's Store
    /// reports: an entry and its manifest entry, or why not.
    fn store(
        &self,
        core: &Core,
        pending: &Self::Pending,
        st: &v1::Store,
    ) -> Result<(), NotStoredReason>;
}

/// What the engine asks of a pending miss while it holds it.
pub(crate) trait PendingMiss {
    /// True when the compile runs in or writes under a directory `under`
    /// accepts (a released directory).
    fn touches(&self, under: &dyn Fn(&Path) -> bool) -> bool;

    /// The file the daemon asked the compiler to write for it (a private
    /// depfile or dep-info), removed once nothing will read it.
    fn private_file(&self) -> Option<&Path>;
}

/// Which pipeline answers: the Rust share of hits and misses is counted
/// apart (`rust_hits`, `rust_misses`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Language {
    Cc,
    Rust,
}

/// A Lookup's environment, by name.
pub(crate) fn request_env(req: &v1::Lookup) -> BTreeMap<Vec<u8>, Vec<u8>> {
    req.env
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect()
}

/// A Lookup's argv[1..].
pub(crate) fn request_args(req: &v1::Lookup) -> Vec<OsString> {
    req.args
        .iter()
        .map(|a| OsString::from_vec(a.clone()))
        .collect()
}

/// The not-stored reason a failed store write is counted under.
pub(crate) fn store_failed(e: StoreError) -> NotStoredReason {
    if e.is_not_regular() {
        NotStoredReason::BadOutputFile
    } else if e.is_no_space() {
        NotStoredReason::StoreFailedNoSpace
    } else {
        NotStoredReason::StoreFailed
    }
}

/// "Cannot cache this", with its counter.
pub(crate) struct Pt {
    pub(crate) reason: PassthroughReason,
    pub(crate) detail: String,
}

impl Pt {
    pub(crate) fn new(reason: PassthroughReason, detail: &str) -> Pt {
        Pt {
            reason,
            detail: detail.to_owned(),
        }
    }
}
