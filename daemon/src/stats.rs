//! Counters the daemon reports in `zccache status`, persisted beside the
//! cache root so they survive a daemon restart.
//!
//! Names follow ccache's statistics counters where ccache has a word for
//! the thing. This module counts and serializes; it does not decide what
//! happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::reasons::{Counter, NotStoredReason, PassthroughReason, RemapFallback};

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) passthrough: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) stored: AtomicU64,
    /// The Rust share of `hits` and `misses`.
    pub(crate) rust_hits: AtomicU64,
    pub(crate) rust_misses: AtomicU64,
    /// The linked Rust crates' share of `rust_hits` and `rust_misses`
    /// (bin, `--test`, proc-macro, dylib, cdylib).
    pub(crate) link_hits: AtomicU64,
    pub(crate) link_misses: AtomicU64,
    /// Hits served from an entry another worktree root stored (path remap).
    pub(crate) cross_root_hits: AtomicU64,
    /// The share of `hits` and `misses` a direct-mode miss's second chance
    /// (the preprocessor's text) decided: ccache's "preprocessed cache
    /// hit/miss".
    pub(crate) preprocessed_hits: AtomicU64,
    pub(crate) preprocessed_misses: AtomicU64,
    /// Why a compile was not cacheable, or was compiled but not stored.
    reasons: Mutex<Counts<PassthroughReason>>,
    no_store: Mutex<Counts<NotStoredReason>>,
    /// Why path remap was asked for but not applied (cache-keys.md §2).
    remap_fallbacks: Mutex<Counts<RemapFallback>>,
    dirty: AtomicBool,
}

impl Stats {
    pub(crate) fn bump(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub(crate) fn passthrough(&self, reason: PassthroughReason) {
        self.bump(&self.passthrough);
        count(&self.reasons, reason);
    }

    /// A hit the wrapper could not write (it compiled instead): it moves
    /// from the hits to the misses, with `reason` among the reasons a
    /// compile was not stored.
    pub(crate) fn unhit(&self, rust: bool, reason: NotStoredReason) {
        take_back(&self.hits);
        self.bump(&self.misses);
        if rust {
            take_back(&self.rust_hits);
            self.bump(&self.rust_misses);
        }
        self.not_stored(reason);
    }

    /// A miss whose compile failed: ccache counts it as `compile_failed`
    /// only, not as a miss (no cache could have served it), so it leaves
    /// the misses and the hit rate.
    pub(crate) fn compile_failed(&self, rust: bool) {
        take_back(&self.misses);
        if rust {
            take_back(&self.rust_misses);
        }
        self.not_stored(NotStoredReason::CompileFailed);
    }

    /// A linked crate's hit the wrapper could not write: as [`Self::unhit`],
    /// for the link share.
    pub(crate) fn link_unhit(&self) {
        take_back(&self.link_hits);
        self.bump(&self.link_misses);
    }

    /// A linked crate's miss whose compile failed: as
    /// [`Self::compile_failed`], for the link share.
    pub(crate) fn link_compile_failed(&self) {
        take_back(&self.link_misses);
    }

    pub(crate) fn not_stored(&self, reason: NotStoredReason) {
        count(&self.no_store, reason);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub(crate) fn remap_fallback(&self, reason: RemapFallback) {
        count(&self.remap_fallbacks, reason);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub(crate) fn zero(&self) {
        for c in [
            &self.hits,
            &self.misses,
            &self.passthrough,
            &self.errors,
            &self.stored,
            &self.rust_hits,
            &self.rust_misses,
            &self.link_hits,
            &self.link_misses,
            &self.cross_root_hits,
            &self.preprocessed_hits,
            &self.preprocessed_misses,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        lock(&self.reasons).clear();
        lock(&self.no_store).clear();
        lock(&self.remap_fallbacks).clear();
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// The counters as JSON fields (merged into the status object).
    pub(crate) fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        let get = |c: &AtomicU64| serde_json::Value::from(c.load(Ordering::Relaxed));
        m.insert("hits".into(), get(&self.hits));
        m.insert("misses".into(), get(&self.misses));
        m.insert("passthrough".into(), get(&self.passthrough));
        m.insert("errors".into(), get(&self.errors));
        m.insert("stored".into(), get(&self.stored));
        m.insert("rust_hits".into(), get(&self.rust_hits));
        m.insert("rust_misses".into(), get(&self.rust_misses));
        m.insert("link_hits".into(), get(&self.link_hits));
        m.insert("link_misses".into(), get(&self.link_misses));
        m.insert("cross_root_hits".into(), get(&self.cross_root_hits));
        m.insert("preprocessed_hits".into(), get(&self.preprocessed_hits));
        m.insert("preprocessed_misses".into(), get(&self.preprocessed_misses));
        m.insert("passthrough_reasons".into(), lock(&self.reasons).to_json());
        m.insert("not_stored_reasons".into(), lock(&self.no_store).to_json());
        m.insert(
            "remap_fallbacks".into(),
            lock(&self.remap_fallbacks).to_json(),
        );
        m
    }

    pub(crate) fn load(path: &Path) -> Stats {
        let s = Stats::default();
        let Ok(bytes) = std::fs::read(path) else {
            return s;
        };
        let Ok(serde_json::Value::Object(v)) = serde_json::from_slice(&bytes) else {
            return s;
        };
        let num = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        s.hits.store(num("hits"), Ordering::Relaxed);
        s.misses.store(num("misses"), Ordering::Relaxed);
        s.passthrough.store(num("passthrough"), Ordering::Relaxed);
        s.errors.store(num("errors"), Ordering::Relaxed);
        s.stored.store(num("stored"), Ordering::Relaxed);
        s.rust_hits.store(num("rust_hits"), Ordering::Relaxed);
        s.rust_misses.store(num("rust_misses"), Ordering::Relaxed);
        s.link_hits.store(num("link_hits"), Ordering::Relaxed);
        s.link_misses.store(num("link_misses"), Ordering::Relaxed);
        s.cross_root_hits
            .store(num("cross_root_hits"), Ordering::Relaxed);
        s.preprocessed_hits
            .store(num("preprocessed_hits"), Ordering::Relaxed);
        s.preprocessed_misses
            .store(num("preprocessed_misses"), Ordering::Relaxed);
        let field = |k: &str| match v.get(k) {
            Some(serde_json::Value::Object(r)) => Some(r),
            _ => None,
        };
        if let Some(r) = field("passthrough_reasons") {
            lock(&s.reasons).load(r);
        }
        if let Some(r) = field("not_stored_reasons") {
            lock(&s.no_store).load(r);
        }
        if let Some(r) = field("remap_fallbacks") {
            lock(&s.remap_fallbacks).load(r);
        }
        s
    }

    /// Write the counters if they changed since the last save (temp + rename).
    pub(crate) fn save_if_dirty(&self, path: &Path) {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let body = serde_json::Value::Object(self.to_json()).to_string();
        let tmp: PathBuf = path.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, body).is_ok() && std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// One kind's counters by reason, printed by counter name. Names a daemon
/// of another version persisted that this one does not know are carried
/// as they are, so that no count is lost across an upgrade.
struct Counts<R> {
    known: BTreeMap<R, u64>,
    carried: BTreeMap<String, u64>,
}

impl<R> Default for Counts<R> {
    fn default() -> Self {
        Counts {
            known: BTreeMap::new(),
            carried: BTreeMap::new(),
        }
    }
}

impl<R: Counter> Counts<R> {
    fn clear(&mut self) {
        self.known.clear();
        self.carried.clear();
    }

    fn to_json(&self) -> serde_json::Value {
        let known = self.known.iter().map(|(r, n)| (r.name().to_owned(), *n));
        let carried = self.carried.iter().map(|(k, n)| (k.clone(), *n));
        serde_json::Value::Object(
            known
                .chain(carried)
                .map(|(k, n)| (k, serde_json::Value::from(n)))
                .collect(),
        )
    }

    fn load(&mut self, persisted: &serde_json::Map<String, serde_json::Value>) {
        for (k, n) in persisted {
            let n = n.as_u64().unwrap_or(0);
            match R::from_name(k) {
                Some(r) => {
                    self.known.insert(r, n);
                }
                None => {
                    self.carried.insert(k.clone(), n);
                }
            }
        }
    }
}

/// Takes back one count of `c` that an outcome turned out not to be (never
/// below zero: counters loaded from another version may be behind).
fn take_back(c: &AtomicU64) {
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

fn lock<R>(m: &Mutex<Counts<R>>) -> std::sync::MutexGuard<'_, Counts<R>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn count<R: Counter>(m: &Mutex<Counts<R>>, reason: R) {
    *lock(m).known.entry(reason).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters are printed by name, survive a save and load, and a name
    /// this daemon does not know (another version's) is kept as it was.
    #[test]
    fn counters_round_trip_by_name_and_keep_unknown_names() {
        let dir = std::env::temp_dir().join(format!("zccache-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stats.json");
        std::fs::write(
            &path,
            r#"{"passthrough_reasons":{"called_for_link":2,"from_the_future":5}}"#,
        )
        .unwrap();
        let s = Stats::load(&path);
        s.passthrough(PassthroughReason::CalledForLink);
        s.not_stored(NotStoredReason::TimeMacro);
        s.remap_fallback(RemapFallback::RootInOutput);
        s.save_if_dirty(&path);
        let json = Stats::load(&path).to_json();
        assert_eq!(
            json["passthrough_reasons"],
            serde_json::json!({"called_for_link": 3, "from_the_future": 5})
        );
        assert_eq!(
            json["not_stored_reasons"],
            serde_json::json!({"time_macro": 1})
        );
        assert_eq!(
            json["remap_fallbacks"],
            serde_json::json!({"root_in_output": 1})
        );
        assert_eq!(json["passthrough"], 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
