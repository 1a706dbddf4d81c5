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
    /// Hits served from an entry another worktree root stored (path remap).
    pub(crate) cross_root_hits: AtomicU64,
    /// Why a compile was not cacheable, or was compiled but not stored.
    reasons: Mutex<BTreeMap<String, u64>>,
    no_store: Mutex<BTreeMap<String, u64>>,
    /// Why path remap was asked for but not applied (cache-keys.md §2).
    remap_fallbacks: Mutex<BTreeMap<String, u64>>,
    dirty: AtomicBool,
}

impl Stats {
    pub(crate) fn bump(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub(crate) fn passthrough(&self, reason: &str) {
        self.bump(&self.passthrough);
        count(&self.reasons, reason);
    }

    /// A hit the wrapper could not write (it compiled instead): it moves
    /// from the hits to the misses, with `reason` among the reasons a
    /// compile was not stored.
    pub(crate) fn unhit(&self, rust: bool, reason: &str) {
        let down = |c: &AtomicU64| {
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        };
        down(&self.hits);
        self.bump(&self.misses);
        if rust {
            down(&self.rust_hits);
            self.bump(&self.rust_misses);
        }
        self.not_stored(reason);
    }

    pub(crate) fn not_stored(&self, reason: &str) {
        count(&self.no_store, reason);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub(crate) fn remap_fallback(&self, reason: &str) {
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
            &self.cross_root_hits,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        for m in [&self.reasons, &self.no_store, &self.remap_fallbacks] {
            m.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
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
        m.insert("cross_root_hits".into(), get(&self.cross_root_hits));
        let map = |b: &Mutex<BTreeMap<String, u64>>| {
            serde_json::Value::Object(
                b.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
                    .collect(),
            )
        };
        m.insert("passthrough_reasons".into(), map(&self.reasons));
        m.insert("not_stored_reasons".into(), map(&self.no_store));
        m.insert("remap_fallbacks".into(), map(&self.remap_fallbacks));
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
        s.cross_root_hits
            .store(num("cross_root_hits"), Ordering::Relaxed);
        for (field, target) in [
            ("passthrough_reasons", &s.reasons),
            ("not_stored_reasons", &s.no_store),
            ("remap_fallbacks", &s.remap_fallbacks),
        ] {
            if let Some(serde_json::Value::Object(r)) = v.get(field) {
                let mut t = target.lock().unwrap_or_else(|e| e.into_inner());
                for (k, n) in r {
                    t.insert(k.clone(), n.as_u64().unwrap_or(0));
                }
            }
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

fn count(m: &Mutex<BTreeMap<String, u64>>, reason: &str) {
    *m.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(reason.to_owned())
        .or_default() += 1;
}
