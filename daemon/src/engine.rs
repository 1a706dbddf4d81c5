//! The engine: the one Lookup → Hit/Miss → Store flow both languages
//! share. It checks the client's view, picks the pipeline by language
//! (`cc` or `rust`, static dispatch), drives each unit (key, the one hit
//! loop over a manifest's entries, delivery or the Miss), owns the one
//! table of pending compiles between a Miss and its Store (with its expiry
//! and release), writes the draft a pipeline records from a Store, counts
//! undelivered hits, and clears.
//!
//! It does not compute keys, build misses or decide what an entry holds:
//! the pipelines do, through the [`Core`] this engine lends them.

use std::cell::RefCell;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use frame::v1;

use crate::cc::pipeline::{self as cc_pipeline, CcPipeline};
use crate::journal::{self, Journal, MissWhy};
use crate::manifest::{Manifest, ManifestEntry, Mismatch};
use crate::outputs::Descriptors;
use crate::pipeline::{
    store_failed, Core, Draft, DraftOutput, Language, PendingMiss, Pipeline, Prepared, Pt,
    SecondChance, Tier,
};
use crate::reasons::{self, Counter, NotStoredReason, PassthroughReason};
use crate::remote::Remote;
use crate::rust::{self, RustPipeline};
use crate::stats::Stats;
use crate::store::{Entry, Key, Store};
use crate::worktree::Worktree;

/// A Store must arrive within this long after its Miss.
pub(crate) const PENDING_DEADLINE: Duration = Duration::from_secs(3600);

pub(crate) struct Engine {
    pub(crate) core: Core,
    /// Every miss that may still be stored, C and Rust alike, by token.
    pending: DashMap<u64, PendingCompile>,
    cc: CcPipeline,
    rust: RustPipeline,
    /// Where every outcome is recorded for `zccache explain`.
    journal: Journal,
}

/// What one release-handles call dropped, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Released {
    pub(crate) metadata_entries: usize,
    pub(crate) manifests: usize,
    pub(crate) scans: usize,
    pub(crate) pending_compiles: usize,
}

/// A unit's answer, or the Probe round its second chance needs first.
enum Answered {
    Unit(v1::unit_answer::Answer),
    Ask(v1::LookupReply),
}

/// A miss the engine remembers until its Store, its expiry or a release.
struct PendingCompile {
    created: Instant,
    unit: Pending,
    /// The compile and unit as the journal names them, for its Store's
    /// record; `None` when the journal is off.
    note: Option<Box<Note>>,
}

/// A unit as the journal records it: the call and the unit's facts.
struct Note {
    call: journal::Call,
    unit: journal::Unit,
}

/// What a pipeline remembers between its Miss and the Store.
pub(crate) enum Pending {
    Cc(Box<cc_pipeline::Pending>),
    Rust(Box<rust::Pending>),
}

impl Pending {
    /// True when the compile runs in or writes under a directory `under`
    /// accepts.
    fn touches(&self, under: &dyn Fn(&Path) -> bool) -> bool {
        match self {
            Pending::Cc(p) => p.touches(under),
            Pending::Rust(p) => p.touches(under),
        }
    }

    /// Removes the file the daemon asked the compiler to write for it
    /// (a private depfile or dep-info), once nothing will read it.
    fn discard(&self) {
        let private = match self {
            Pending::Cc(p) => p.private_file(),
            Pending::Rust(p) => p.private_file(),
        };
        if let Some(f) = private {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl Engine {
    pub(crate) fn new(store: Store, stats: Stats, private_dir: PathBuf) -> Engine {
        let _ = std::fs::remove_dir_all(&private_dir);
        let _ = std::fs::create_dir_all(&private_dir);
        Engine {
            core: Core::new(store, stats, private_dir),
            pending: DashMap::new(),
            cc: CcPipeline::default(),
            rust: RustPipeline::default(),
            journal: Journal::off(),
        }
    }

    /// This engine, recording every outcome in `journal`.
    pub(crate) fn with_journal(mut self, journal: Journal) -> Engine {
        self.journal = journal;
        self
    }

    /// The engine with a remote tier behind its local store.
    pub(crate) fn with_remote(mut self, remote: Remote) -> Engine {
        self.core.remote = Some(remote);
        self
    }

    /// Answers a Lookup from a client whose file-system view the server
    /// established (`PeerView`); a Hit's descriptors come with the reply.
    /// Nanoseconds the journal has spent recording (`status`).
    pub(crate) fn journal_ns(&self) -> u64 {
        self.journal.spent_ns()
    }

    pub(crate) fn lookup(
        &self,
        req: &v1::Lookup,
        peer: &PeerView,
    ) -> (v1::LookupReply, Descriptors) {
        let mut fds = Descriptors::default();
        let looked = match peer_blocker(req, peer) {
            Some(pt) => Err(pt),
            None => {
                self.expire_pending();
                if rust::is_rustc(req) {
                    self.answer(&self.rust, req, &mut fds, Pending::Rust)
                } else {
                    self.answer(&self.cc, req, &mut fds, Pending::Cc)
                }
            }
        };
        match looked {
            Ok(reply) => (reply, fds),
            Err(pt) => {
                self.core.stats.passthrough(pt.reason);
                if self.journal.is_on() {
                    let call = journal::Call::of(req);
                    let reason = pt.reason.as_str();
                    self.journal
                        .record("passthrough", reason, &call, None, None);
                }
                (
                    passthrough_reply(pt.reason, &pt.detail),
                    Descriptors::default(),
                )
            }
        }
    }

    /// Runs `pipeline` over a Lookup: prepared, then each unit keyed and
    /// answered by a hit or a miss. Each miss it may store joins the one
    /// pending table as `wrap` makes it.
    fn answer<P: Pipeline>(
        &self,
        pipeline: &P,
        req: &v1::Lookup,
        fds: &mut Descriptors,
        wrap: fn(Box<P::Pending>) -> Pending,
    ) -> Result<v1::LookupReply, Pt> {
        let r = match pipeline.prepare(&self.core, req)? {
            Prepared::Reply(reply) => return Ok(reply),
            Prepared::Units(r) => r,
        };
        let call = self.journal.is_on().then(|| journal::Call::of(req));
        // The unit being answered, for the pending miss `remember` keeps.
        let noted: RefCell<Option<Box<Note>>> = RefCell::new(None);
        let remember = |token: u64, p: P::Pending| {
            let unit = wrap(Box::new(p));
            let created = Instant::now();
            let note = noted.borrow_mut().take();
            self.pending.insert(
                token,
                PendingCompile {
                    created,
                    unit,
                    note,
                },
            );
        };
        let mut units = Vec::with_capacity(P::units(&r));
        for index in 0..P::units(&r) {
            let journaled = call.as_ref().map(|c| (c, &noted));
            let answer = match self.answer_unit(pipeline, &r, index, fds, &remember, journaled)? {
                Answered::Unit(answer) => answer,
                // Only a single-unit request asks, before anything is
                // counted or remembered.
                Answered::Ask(reply) => return Ok(reply),
            };
            units.push(v1::UnitAnswer {
                answer: Some(answer),
            });
        }
        Ok(v1::LookupReply {
            outcome: Some(v1::lookup_reply::Outcome::Units(v1::Units { units })),
        })
    }

    /// Unit `index` of `r`: the first stored result that can be delivered,
    /// or its Miss.
    /// With the journal on (`journaled`: the call, and where to leave the
    /// unit's note for a pending miss), the unit's outcome is recorded.
    fn answer_unit<P: Pipeline>(
        &self,
        pipeline: &P,
        r: &P::Request,
        index: usize,
        fds: &mut Descriptors,
        remember: &dyn Fn(u64, P::Pending),
        journaled: Option<(&journal::Call, &RefCell<Option<Box<Note>>>)>,
    ) -> Result<Answered, Pt> {
        let mut keyed = pipeline.key(&self.core, r, index)?;
        let manifest_key = keyed.manifest_key;
        let mut hit = self.find_hit(
            &manifest_key,
            P::worktree(r),
            |entry| P::result_key(r, &manifest_key, entry),
            |entry, stored| pipeline.deliver(&self.core, r, index, entry, stored, fds),
        );
        let mut second = None;
        if hit.is_none() {
            match pipeline.second_chance(&self.core, r, index, &mut keyed, fds) {
                SecondChance::NotTried => {}
                SecondChance::Ask(reply) => return Ok(Answered::Ask(reply)),
                SecondChance::Hit(answer) => {
                    hit = Some(answer);
                    second = Some(true);
                }
                SecondChance::Missed => second = Some(false),
            }
        }
        self.count(P::LANGUAGE, hit.is_some(), second);
        let Some((call, noted)) = journaled else {
            return Ok(Answered::Unit(match hit {
                Some(hit) => hit,
                None => pipeline.miss(&self.core, r, index, keyed, remember),
            }));
        };
        let mut unit = P::journal_unit(r, index, &keyed.facts);
        unit.manifest_key = Key(manifest_key).to_hex();
        Ok(Answered::Unit(match hit {
            Some(hit) => {
                self.journal.record("hit", "", call, Some(&unit), None);
                hit
            }
            None => {
                let why = self.why_missed(&manifest_key, P::worktree(r));
                self.journal
                    .record("miss", "", call, Some(&unit), Some(&why));
                let call = call.clone();
                *noted.borrow_mut() = Some(Box::new(Note { call, unit }));
                pipeline.miss(&self.core, r, index, keyed, remember)
            }
        }))
    }

    /// Counts a unit's outcome: a hit or a miss, the Rust share apart, and
    /// whether a second chance (`second`: tried, and with what) served it.
    fn count(&self, language: Language, hit: bool, second: Option<bool>) {
        let stats = &self.core.stats;
        let rust = language == Language::Rust;
        let (all, rusts, preprocessed) = if hit {
            (&stats.hits, &stats.rust_hits, &stats.preprocessed_hits)
        } else {
            (
                &stats.misses,
                &stats.rust_misses,
                &stats.preprocessed_misses,
            )
        };
        stats.bump(all);
        if rust {
            stats.bump(rusts);
        }
        if second.is_some() {
            stats.bump(preprocessed);
        }
    }

    /// Why the manifest under `manifest_key` served nothing here: there is
    /// none, or its newest entry differs from the files in `view`.
    fn why_missed(&self, manifest_key: &[u8; 32], view: &Worktree) -> MissWhy {
        // The local store only: the remote was asked already, if at all.
        let Some(m) = self.core.local_manifest(manifest_key) else {
            return MissWhy::NoManifest;
        };
        let Some(newest) = m.entries.first() else {
            return MissWhy::NoManifest;
        };
        let Mismatch {
            changed,
            appeared,
            other_root,
        } = newest.mismatch(view, &self.core.meta);
        MissWhy::NoMatchingEntry {
            changed,
            appeared,
            other_root,
        }
    }

    /// The one hit loop both languages share: the first entry of the
    /// manifest under `manifest_key` whose files match the current tree
    /// (`view`: the request's worktree), whose result (`result_key`; `None`
    /// skips the entry) is stored and that `deliver` can hand out. Counts
    /// a cross-root hit; a store that fails to read counts an error and
    /// the loop goes on (the caller counts the hit or miss). With a
    /// remote tier, a local manifest that serves nothing is followed by
    /// the remote's (an entry it serves joins the local manifest), and a
    /// remote manifest that serves nothing is counted.
    fn find_hit<R>(
        &self,
        manifest_key: &[u8; 32],
        view: &Worktree,
        result_key: impl Fn(&ManifestEntry) -> Option<[u8; 32]>,
        mut deliver: impl FnMut(&ManifestEntry, &Entry) -> Option<R>,
    ) -> Option<R> {
        let found = self.core.manifest(manifest_key);
        let mut hit = found.as_ref().and_then(|(m, _)| {
            self.first_hit(m, &[], view, &result_key, &mut deliver)
                .map(|(hit, _)| hit)
        });
        if hit.is_none() {
            let remote_asked = matches!(found, Some((_, Tier::Remote)));
            let second = match found {
                Some((_, Tier::Local)) => self.core.remote_manifest(manifest_key),
                _ => None,
            };
            if let (Some((m, _)), Some((tried, _))) = (&second, &found) {
                let tried = &tried.entries;
                if let Some((h, entry)) = self.first_hit(m, tried, view, &result_key, &mut deliver)
                {
                    // Kept, so the next lookup finds it locally.
                    let _ = self.core.add_manifest_entry(manifest_key, entry.clone());
                    hit = Some(h);
                }
            }
            if hit.is_none() && (remote_asked || second.is_some()) {
                self.core.remote_manifest_unused();
            }
        }
        hit
    }

    /// The first entry of `m` (but those in `tried`) that matches `view`,
    /// whose result is stored (locally, or fetched from the remote tier)
    /// and that `deliver` hands out, with that entry; counts a cross-root
    /// hit.
    fn first_hit<'m, R>(
        &self,
        m: &'m Manifest,
        tried: &[ManifestEntry],
        view: &Worktree,
        result_key: &impl Fn(&ManifestEntry) -> Option<[u8; 32]>,
        deliver: &mut impl FnMut(&ManifestEntry, &Entry) -> Option<R>,
    ) -> Option<(R, &'m ManifestEntry)> {
        for entry in m.entries.iter().filter(|e| !tried.contains(e)) {
            if !entry.matches(view, &self.core.meta) {
                continue;
            }
            let Some(result_key) = result_key(entry) else {
                continue;
            };
            match self.core.entry(&Key(result_key)) {
                Ok(Some(stored)) => {
                    if let Some(hit) = deliver(entry, &stored) {
                        if entry.is_cross_root(view) {
                            self.core.stats.bump(&self.core.stats.cross_root_hits);
                        }
                        return Some((hit, entry));
                    }
                }
                Ok(None) => {}
                Err(_) => self.core.stats.bump(&self.core.stats.errors),
            }
        }
        None
    }

    /// The wrapper did not write the hit from entry `u.entry` and compiled
    /// instead: it counts as a miss, not a hit. When an output failed its
    /// digest, the entry's blobs are hashed again and the entry is
    /// quarantined if the store's copy is damaged (a client's word alone
    /// drops nothing).
    pub(crate) fn undelivered(&self, u: &v1::Undelivered) {
        // Counter names are ours, whatever a client sends.
        let reason = match NotStoredReason::from_name(&u.reason) {
            Some(
                r @ (NotStoredReason::CorruptOutput
                | NotStoredReason::OutputToDevice
                | NotStoredReason::OutputNotWritable
                | NotStoredReason::SiblingUndelivered),
            ) => r,
            _ => NotStoredReason::BadHitAnswer,
        };
        let entry = <[u8; 32]>::try_from(u.entry.as_slice())
            .ok()
            .and_then(|key| self.core.store.get(&Key(key)).ok().flatten());
        let has_role = |roles: &[&str]| {
            entry
                .as_ref()
                .is_some_and(|e| e.outputs.iter().any(|o| roles.contains(&o.role.as_str())))
        };
        let link = has_role(&["bin", "dylib"]);
        let rust = link || has_role(&["rlib", "rmeta", "staticlib", "dep-info"]);
        self.core.stats.unhit(rust, reason);
        if link {
            self.core.stats.link_unhit();
        }
        if self.journal.is_on() {
            let call = journal::Call::default();
            self.journal
                .record("undelivered", reason.as_str(), &call, None, None);
        }
        if let (Some(entry), NotStoredReason::CorruptOutput) = (entry, reason) {
            for index in 0..entry.outputs.len() {
                if self.core.store.check_output(&entry, index).is_err() {
                    break;
                }
            }
        }
    }

    /// Records the outputs of the miss `st.token` through the pipeline that
    /// answered it, and counts and answers the outcome.
    pub(crate) fn store_result(&self, st: &v1::Store) -> v1::StoreReply {
        let Some((_, p)) = self.pending.remove(&st.token) else {
            return not_stored(reasons::UNKNOWN_TOKEN);
        };
        let outcome = match &p.unit {
            Pending::Cc(c) => self.cc.record(&self.core, c, st).and_then(|draft| {
                let entry = draft.entry.clone();
                self.commit(draft)?;
                // What a later near miss's second chance finds.
                self.cc.index_stored(&self.core, c, st, &entry);
                Ok(())
            }),
            Pending::Rust(r) => self
                .rust
                .record(&self.core, r, st)
                .and_then(|draft| self.commit(draft)),
        };
        p.unit.discard();
        if let Some(note) = &p.note {
            let (what, reason) = match outcome {
                Ok(()) => ("stored", ""),
                Err(reason) => ("not_stored", reason.as_str()),
            };
            self.journal
                .record(what, reason, &note.call, Some(&note.unit), None);
        }
        let rust = matches!(p.unit, Pending::Rust(_));
        if let (Pending::Rust(r), Err(NotStoredReason::CompileFailed)) = (&p.unit, &outcome) {
            if r.links() {
                self.core.stats.link_compile_failed();
            }
        }
        self.store_reply(outcome, rust)
    }

    /// Writes a recorded Store: the entry (outputs snapshotted, then
    /// published under its result key), then its manifest entry.
    fn commit(&self, draft: Draft<'_>) -> Result<(), NotStoredReason> {
        self.replace_if_lacking(&draft);
        let mut writer = self.core.store.begin_entry().map_err(store_failed)?;
        for (role, output) in &draft.outputs {
            match output {
                DraftOutput::File(path) => writer.add_output_from_file(role, path),
                DraftOutput::Bytes(bytes) => writer.add_output_bytes(role, bytes),
            }
            .map_err(store_failed)?;
        }
        let key = Key(draft.entry.result_key);
        writer
            .commit(&key, 0, &draft.stdout, &draft.stderr, &draft.extra)
            .map_err(store_failed)?;
        self.core
            .add_manifest_entry(&draft.manifest_key, draft.entry)?;
        self.core.publish(&draft.manifest_key, key);
        Ok(())
    }

    /// Removes the entry already under the draft's result key when it
    /// lacks an output the draft has: stored once without a depfile
    /// (`-MF /dev/null`), it can never serve a compile that wants one, so
    /// keeping it would make every such compile miss forever.
    fn replace_if_lacking(&self, draft: &Draft<'_>) {
        let key = Key(draft.entry.result_key);
        let Ok(Some(old)) = self.core.store.get(&key) else {
            return;
        };
        let lacks = draft
            .outputs
            .iter()
            .any(|(role, _)| !old.outputs.iter().any(|o| o.role == *role));
        if lacks {
            self.core.store.remove(&key);
        }
    }

    /// Count the outcome of a Store and answer it (C/C++ and Rust alike).
    fn store_reply(&self, outcome: Result<(), NotStoredReason>, rust: bool) -> v1::StoreReply {
        match outcome {
            Ok(()) => {
                self.core.stats.bump(&self.core.stats.stored);
                v1::StoreReply {
                    stored: true,
                    reason: String::new(),
                }
            }
            // As ccache counts it: a failed compile is no miss of the
            // cache (nothing could have been served), only `compile_failed`.
            Err(NotStoredReason::CompileFailed) => {
                self.core.stats.compile_failed(rust);
                not_stored(NotStoredReason::CompileFailed.as_str())
            }
            Err(reason) => {
                self.core.stats.not_stored(reason);
                not_stored(reason.as_str())
            }
        }
    }

    /// Forgets misses whose Store did not come within [`PENDING_DEADLINE`].
    fn expire_pending(&self) {
        let now = Instant::now();
        self.pending.retain(|_, p| {
            let keep = now.duration_since(p.created) < PENDING_DEADLINE;
            if !keep {
                p.unit.discard();
            }
            keep
        });
    }

    /// Forgets what this engine remembers about files under any of
    /// `spellings` (one directory, as given and canonical): their cached
    /// metadata and the pending misses that compile in or write there (a
    /// later Store of those tokens answers "unknown token"). In-memory
    /// manifests and scan results all go: they are reloaded from the store
    /// or recomputed, and sorting them by path would cost more than that.
    pub(crate) fn release_under(&self, spellings: &[PathBuf]) -> Released {
        let under = |p: &Path| spellings.iter().any(|s| p.starts_with(s));
        let metadata_entries = spellings
            .iter()
            .map(|s| self.core.meta.forget_under(s))
            .sum();
        let manifests = self.core.manifests.len();
        self.core.manifests.clear();
        let scans = self.cc.release_scans();
        let mut pending_compiles = 0;
        self.pending.retain(|_, p| {
            let touches = p.unit.touches(&under);
            if touches {
                pending_compiles += 1;
                p.unit.discard();
            }
            !touches
        });
        Released {
            metadata_entries,
            manifests,
            scans,
            pending_compiles,
        }
    }

    pub(crate) fn clear(&self) {
        self.core.manifests.clear();
        self.rust.clear();
        self.core.meta.clear();
        let _ = self.core.store.clear();
    }

    /// The manifest key a pending miss was answered under.
    #[cfg(test)]
    pub(crate) fn pending_manifest_key(&self, token: u64) -> Option<[u8; 32]> {
        self.pending.get(&token).map(|p| match &p.unit {
            Pending::Cc(c) => c.manifest_key,
            Pending::Rust(r) => r.manifest_key,
        })
    }
}

/// The client's file-system view as the server found it from the OS
/// (`SO_PEERCRED`'s pid, `/proc/<pid>`), never from the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PeerView {
    /// Our mount namespace and root; the kernel's word for its cwd.
    Ours { cwd: PathBuf },
    /// Another system (container, chroot, sandbox) or facts we could not
    /// read; the text says which.
    Foreign(String),
}

/// Why a client's Lookup must pass through before anything is read for it:
/// keys and outputs would name files in our view, not the client's (one
/// system per daemon), or its cwd is not the one it claims.
fn peer_blocker(req: &v1::Lookup, peer: &PeerView) -> Option<Pt> {
    match peer {
        PeerView::Foreign(why) => Some(Pt::new(PassthroughReason::ForeignMountNamespace, why)),
        PeerView::Ours { cwd } if cwd.as_os_str().as_bytes() != req.cwd.as_slice() => {
            Some(Pt::new(
                PassthroughReason::CwdMismatch,
                &format!(
                    "the request names {}, the kernel {}",
                    String::from_utf8_lossy(&req.cwd),
                    cwd.display()
                ),
            ))
        }
        PeerView::Ours { .. } => None,
    }
}
fn not_stored(reason: &str) -> v1::StoreReply {
    v1::StoreReply {
        stored: false,
        reason: reason.into(),
    }
}

fn passthrough_reply(reason: PassthroughReason, detail: &str) -> v1::LookupReply {
    v1::LookupReply {
        outcome: Some(v1::lookup_reply::Outcome::Passthrough(v1::Passthrough {
            reason: reason.as_str().into(),
            detail: detail.into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn only_clients_of_our_system_at_the_cwd_they_name_are_served() {
        let lookup = v1::Lookup {
            cwd: b"/w/build".to_vec(),
            ..Default::default()
        };
        let ours = |cwd: &str| PeerView::Ours {
            cwd: PathBuf::from(cwd),
        };
        assert!(peer_blocker(&lookup, &ours("/w/build")).is_none());
        let reason = |peer| peer_blocker(&lookup, &peer).map(|pt| pt.reason.as_str());
        assert_eq!(reason(ours("/w")), Some("cwd_mismatch"));
        assert_eq!(
            reason(PeerView::Foreign("another mount namespace".into())),
            Some("foreign_mount_namespace")
        );
        // Counted like every other passthrough, before anything is read.
        let dir = std::env::temp_dir().join(format!("zccache-peer-{}", std::process::id()));
        let engine = Engine::new(
            Store::open(&dir, 1 << 20).unwrap(),
            Stats::default(),
            dir.join("private"),
        );
        let (reply, fds) = engine.lookup(&lookup, &PeerView::Foreign("chroot".into()));
        assert!(fds.0.is_empty());
        assert!(matches!(
            reply.outcome,
            Some(v1::lookup_reply::Outcome::Passthrough(p)) if p.reason == "foreign_mount_namespace"
        ));
        assert_eq!(engine.core.stats.passthrough.load(Ordering::Relaxed), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_undelivered_hit_counts_as_a_miss_under_our_own_reason_names() {
        let dir = std::env::temp_dir().join(format!("zccache-undel-{}", std::process::id()));
        let engine = Engine::new(
            Store::open(&dir, 1 << 20).unwrap(),
            Stats::default(),
            dir.join("private"),
        );
        engine.core.stats.bump(&engine.core.stats.hits);
        for reason in ["output_to_device", "made up by a client"] {
            engine.undelivered(&v1::Undelivered {
                entry: vec![0; 32],
                reason: reason.into(),
            });
        }
        let json = engine.core.stats.to_json();
        assert_eq!(
            (json["hits"].as_u64(), json["misses"].as_u64()),
            (Some(0), Some(2))
        );
        assert_eq!(
            json["not_stored_reasons"],
            serde_json::json!({"output_to_device": 1, "bad_hit_answer": 1})
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
