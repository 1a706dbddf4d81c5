//! The [`Pipeline`] trait each language implements, what the engine lends
//! a pipeline and what every pipeline shares: the [`Core`] state (store, metadata cache, counters, manifests,
//! miss tokens), the passthrough value [`Pt`] and the request and store
//! helpers both languages use.
//!
//! It holds no language's rules: `engine` dispatches to `cc` and `rust`, which
//! import this module and never each other or `engine`, so the daemon's
//! modules import one another in one direction only.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use frame::v1;

use crate::journal;
use crate::manifest::{Manifest, ManifestEntry};
use crate::meta::{MetaCache, StatId};
use crate::outputs::Descriptors;
use crate::reasons::{NotStoredReason, PassthroughReason};
use crate::remote::{Fetch, Remote};
use crate::stats::Stats;
use crate::store::{is_dev_null, Entry, Key, Store, StoreError};
use crate::worktree::Worktree;

/// The state every pipeline reads and writes through the engine.
pub(crate) struct Core {
    pub(crate) store: Store,
    pub(crate) meta: MetaCache,
    pub(crate) stats: Stats,
    /// Where misses write the dependency files we read at Store.
    pub(crate) private_dir: PathBuf,
    next_token: AtomicU64,
    pub(crate) manifests: DashMap<[u8; 32], Arc<Manifest>>,
    /// The shared second tier, when one is configured.
    pub(crate) remote: Option<Remote>,
}

/// Where a manifest was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    Local,
    Remote,
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
            remote: None,
        }
    }

    /// A fresh miss token, never 0 (0 means "do not store").
    pub(crate) fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// Puts `entry` first in the manifest under `key`, on disk and in memory.
    /// Only the local manifest is extended: a remote one the Lookup found
    /// was stored locally then.
    pub(crate) fn add_manifest_entry(
        &self,
        key: &[u8; 32],
        entry: ManifestEntry,
    ) -> Result<(), NotStoredReason> {
        let old = self.local_manifest(key).unwrap_or_default();
        let updated = Arc::new(old.with_entry(entry));
        self.store
            .put_manifest(&Key(*key), &updated.encode())
            .map_err(store_failed)?;
        self.manifests.insert(*key, updated);
        Ok(())
    }

    /// The manifest under `key`, from memory or the store, else from the
    /// remote tier (then stored locally), and which tier had it.
    pub(crate) fn manifest(&self, key: &[u8; 32]) -> Option<(Arc<Manifest>, Tier)> {
        if let Some(m) = self.local_manifest(key) {
            return Some((m, Tier::Local));
        }
        let (m, body) = self.remote_manifest(key)?;
        // Kept in memory for the next lookup and the Store that may follow,
        // and on disk (off this lookup's path: an fsync'd write costs more
        // than the round trip) so what it names is found after a restart
        // with the remote gone.
        self.manifests.insert(*key, m.clone());
        if let Some(remote) = &self.remote {
            remote.persist_manifest(&self.store, key, body);
        }
        Some((m, Tier::Remote))
    }

    /// The remote tier's manifest under `key` and its bytes, when there is
    /// a tier and it has one.
    pub(crate) fn remote_manifest(&self, key: &[u8; 32]) -> Option<(Arc<Manifest>, Vec<u8>)> {
        let Fetch::Hit(body) = self.remote.as_ref()?.fetch_manifest(key) else {
            return None;
        };
        Some((Arc::new(Manifest::decode(&body)?), body))
    }

    /// The manifest under `key`, from memory or the local store.
    pub(crate) fn local_manifest(&self, key: &[u8; 32]) -> Option<Arc<Manifest>> {
        if let Some(m) = self.manifests.get(key) {
            return Some(m.clone());
        }
        let bytes = self.store.get_manifest(&Key(*key)).ok()??;
        let m = Arc::new(Manifest::decode(&bytes)?);
        self.manifests.insert(*key, m.clone());
        Some(m)
    }

    /// The entry `key` from the local store or, when it lacks it, from the
    /// remote tier: imported and verified (every output's digest) into the
    /// local store first, then read back like any local entry.
    pub(crate) fn entry(&self, key: &Key) -> Result<Option<Entry>, StoreError> {
        if let Some(found) = self.store.get(key)? {
            return Ok(Some(found));
        }
        match self
            .remote
            .as_ref()
            .map(|r| r.fetch_entry_into(&self.store, key))
        {
            Some(Fetch::Hit(())) => self.store.get(key),
            _ => Ok(None),
        }
    }

    /// The digest of an input of a finished compile, unless it may have
    /// been written at or after `moment`, the compiler's spawn (the too-new
    /// guard): then the compiler may have read other bytes.
    pub(crate) fn input_digest(
        &self,
        path: &Path,
        moment: i128,
    ) -> Result<crate::meta::Digest, NotStoredReason> {
        match self.meta.digest(path) {
            Ok((stat, digest)) if !stat.written_since(moment) => Ok(digest),
            _ => Err(NotStoredReason::ModifiedInputFile),
        }
    }

    /// A remote manifest named no entry this lookup could use: counted
    /// apart from plain remote misses.
    pub(crate) fn remote_manifest_unused(&self) {
        if let Some(r) = &self.remote {
            r.note_manifest_without_entry();
        }
    }

    /// Shares a committed Store: the entry `result_key`, then the manifest
    /// under `manifest_key` as it is now, queued for the remote tier's
    /// background writer (never waited for; a read-only tier drops them).
    pub(crate) fn publish(&self, manifest_key: &[u8; 32], result_key: Key) {
        let Some(remote) = &self.remote else {
            return;
        };
        remote.publish_stored_entry(&self.store, result_key);
        if let Some(m) = self.manifests.get(manifest_key) {
            remote.publish_manifest(manifest_key, m.encode());
        }
    }
}

/// One language's way through the engine's flow (C/C++/emcc in
/// `cc::pipeline`, rustc in `rust`). The engine picks the pipeline by the
/// request's compiler and calls it statically, never through a trait
/// object. It owns the flow: per unit, the key, the hit loop over the
/// manifest's entries, delivery or the Miss; it keeps each
/// [`Pipeline::Pending`] between Miss and Store.
pub(crate) trait Pipeline {
    /// Whose share of hits and misses this pipeline's are.
    const LANGUAGE: Language;
    /// A Lookup made ready for its units: the facts every unit shares.
    type Request;
    /// What keying a unit learns that its Miss needs.
    type Facts;
    /// What the pipeline remembers between a Miss and its Store.
    type Pending: PendingMiss;

    /// Reads and checks a Lookup: its units' shared facts, the Probe round
    /// that must come first, or "cannot cache this".
    fn prepare(&self, core: &Core, req: &v1::Lookup) -> Result<Prepared<Self::Request>, Pt>;

    /// How many units (sources) the request compiles.
    fn units(r: &Self::Request) -> usize;

    /// Where the request runs (its worktree view, made once in `prepare`),
    /// against which a manifest entry's files are matched.
    fn worktree(r: &Self::Request) -> &Worktree;

    /// Unit `index` keyed: its manifest key and the facts its Miss needs.
    fn key(&self, core: &Core, r: &Self::Request, index: usize) -> Result<Keyed<Self::Facts>, Pt>;

    /// The result key of `entry` (a match of the manifest under
    /// `manifest_key`) for this request; `None` skips the entry.
    fn result_key(
        r: &Self::Request,
        manifest_key: &[u8; 32],
        entry: &ManifestEntry,
    ) -> Option<[u8; 32]>;

    /// The Hit of unit `index` from `stored`, with every output the request
    /// names; `None` makes it a miss.
    fn deliver(
        &self,
        core: &Core,
        r: &Self::Request,
        index: usize,
        entry: &ManifestEntry,
        stored: &Entry,
        fds: &mut Descriptors,
    ) -> Option<v1::unit_answer::Answer>;

    /// The Miss of unit `index`; one that may be stored is handed to
    /// `remember` under its token.
    fn miss(
        &self,
        core: &Core,
        r: &Self::Request,
        index: usize,
        keyed: Keyed<Self::Facts>,
        remember: &dyn Fn(u64, Self::Pending),
    ) -> v1::unit_answer::Answer;

    /// A direct-mode miss's second chance (C: a hit on the preprocessor's
    /// text, `cc::pipeline::second_chance`); a pipeline without one never
    /// tries. `keyed` may learn what the Miss that follows must store under.
    fn second_chance(
        &self,
        _core: &Core,
        _r: &Self::Request,
        _index: usize,
        _keyed: &mut Keyed<Self::Facts>,
        _fds: &mut Descriptors,
    ) -> SecondChance {
        SecondChance::NotTried
    }

    /// What the journal (`zccache explain`) records of unit `index`: its
    /// sources, output and the inputs two compiles are compared by.
    fn journal_unit(r: &Self::Request, index: usize, facts: &Self::Facts) -> journal::Unit;

    /// Records the outputs of the miss `pending` the client's Store
    /// reports into a draft the engine commits, or says why not.
    fn record<'a>(
        &self,
        core: &Core,
        pending: &'a Self::Pending,
        st: &'a v1::Store,
    ) -> Result<Draft<'a>, NotStoredReason>;
}

/// A Store recorded and not yet written: the entry's outputs in order, its
/// streams and extra bytes, and the manifest entry that will point at it
/// (its `result_key` names the entry).
pub(crate) struct Draft<'a> {
    pub(crate) manifest_key: [u8; 32],
    pub(crate) entry: ManifestEntry,
    pub(crate) outputs: Vec<(&'static str, DraftOutput<'a>)>,
    pub(crate) stdout: Cow<'a, [u8]>,
    pub(crate) stderr: Cow<'a, [u8]>,
    pub(crate) extra: Vec<u8>,
}

/// One output of a [`Draft`]: a file the compiler wrote, copied when the
/// entry is written, or bytes the pipeline made (a root-free depfile).
pub(crate) enum DraftOutput<'a> {
    File(&'a Path),
    Bytes(Cow<'a, [u8]>),
}

/// A prepared Lookup: a reply already (a Probe round), or units to answer.
pub(crate) enum Prepared<R> {
    Reply(v1::LookupReply),
    Units(R),
}

/// What a direct-mode miss's second chance came to.
pub(crate) enum SecondChance {
    /// Not plausible here: a plain miss.
    NotTried,
    /// The wrapper must run the preprocessor first (the Lookup's one Probe
    /// round): the whole Lookup is answered by this reply.
    Ask(v1::LookupReply),
    /// Served from an entry another compile of the same text stored.
    Hit(v1::unit_answer::Answer),
    /// Tried and found nothing: a miss.
    Missed,
}

/// A unit keyed.
pub(crate) struct Keyed<F> {
    pub(crate) manifest_key: [u8; 32],
    pub(crate) facts: F,
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

/// What a finished compile is checked against before it is recorded,
/// whatever its language ([`check_finished`]).
pub(crate) struct Finished<'a> {
    /// The source as keyed at Lookup.
    pub(crate) source: &'a Path,
    pub(crate) source_stat: &'a StatId,
    /// Other inputs keyed by their stat (C's extra inputs; none for rustc).
    pub(crate) extra_inputs: &'a [(PathBuf, StatId)],
    pub(crate) outputs: &'a [(&'static str, PathBuf)],
    /// The roles the compile exists to produce (an object, an rlib): one
    /// written to `/dev/null` or left empty is no result to serve.
    pub(crate) primary: &'static [&'static str],
}

/// The Store checks both languages share, in one order: the compile and
/// its dependency run succeeded, the source and every extra input are
/// exactly what was keyed, and every output is a regular file (a primary
/// one neither `/dev/null` nor empty). Returns the newest output's mtime.
/// What only one language can check stays in its pipeline.
pub(crate) fn check_finished(st: &v1::Store, f: &Finished<'_>) -> Result<i128, NotStoredReason> {
    if st.exit_code != 0 {
        return Err(NotStoredReason::CompileFailed);
    }
    if st.deps_exit_code != 0 {
        return Err(NotStoredReason::PreprocessorError);
    }
    // `/dev/null` as the source reads empty whatever its times say (every
    // write to it anywhere moves them).
    let now = std::fs::metadata(f.source).map(|m| StatId::of(&m));
    if !is_dev_null(f.source) && now.ok().as_ref() != Some(f.source_stat) {
        return Err(NotStoredReason::ModifiedInputFile);
    }
    // The compiler read them while it ran.
    for (path, keyed) in f.extra_inputs {
        let now = std::fs::metadata(path).map(|m| StatId::of(&m));
        if now.ok().as_ref() != Some(keyed) {
            return Err(NotStoredReason::ModifiedInputFile);
        }
    }
    let mut newest_ns = 0i128;
    for (role, path) in f.outputs {
        let primary = f.primary.contains(role);
        if primary && is_dev_null(path) {
            return Err(NotStoredReason::OutputToDevNull);
        }
        let md = std::fs::symlink_metadata(path)
            .map_err(|_| NotStoredReason::CompilerProducedNoOutput)?;
        if !md.is_file() {
            return Err(NotStoredReason::BadOutputFile);
        }
        if primary && md.len() == 0 {
            return Err(NotStoredReason::CompilerProducedEmptyOutput);
        }
        newest_ns = newest_ns.max(StatId::of(&md).mtime_ns);
    }
    Ok(newest_ns)
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
