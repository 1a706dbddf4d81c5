//! The per-compile journal `zccache explain` reads: one JSON line per outcome (hit, miss, stored, not stored, passthrough, undelivered) in `<root>/journal/<namespace>.jsonl`, moved to `.jsonl.1` past a size bound, so two files bound it. It records what the engine tells it; it decides no outcome and explains nothing (the wrapper's `explain` compares records), and a failed write is dropped, never an error.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Past this many bytes the journal starts over (the old one kept as `.1`).
const BOUND: u64 = 4 << 20;

pub(crate) struct Journal {
    /// `None`: a journal that records nothing (tests that drive an engine).
    path: Option<PathBuf>,
    old: PathBuf,
    lock: Mutex<()>,
    bound: u64,
    /// Nanoseconds spent in `record`, for `status` (`lookup_profile`).
    spent_ns: AtomicU64,
}

/// What one compile's unit was keyed from, for comparing two records: the
/// compiler's identity, the keyed arguments and the keyed environment
/// (values hashed: a journal must not hold a secret an environment
/// variable carries).
#[derive(Clone, Debug, Default)]
pub(crate) struct Inputs {
    pub(crate) compiler: String,
    /// The source's content, hashed.
    pub(crate) source: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
}

/// Why a unit missed.
#[derive(Clone, Debug)]
pub(crate) enum MissWhy {
    /// Nothing stored for this manifest key (a new source, or something in
    /// the key changed: `explain` compares the inputs with the last record).
    NoManifest,
    /// A manifest for this key, but none of its entries matched: the files
    /// named changed or newly exist, or the entries serve another root.
    NoMatchingEntry {
        changed: Vec<String>,
        appeared: Vec<String>,
        other_root: bool,
    },
}

/// One unit of a compile, as a record names it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Unit {
    pub(crate) sources: Vec<String>,
    pub(crate) output: String,
    pub(crate) manifest_key: String,
    pub(crate) inputs: Inputs,
}

impl Journal {
    /// The journal of `namespace` under `cache_root`; nothing is opened yet.
    pub(crate) fn new(cache_root: &Path, namespace: &str) -> Journal {
        let dir = cache_root.join("journal");
        Journal {
            path: Some(dir.join(format!("{namespace}.jsonl"))),
            old: dir.join(format!("{namespace}.jsonl.1")),
            lock: Mutex::new(()),
            bound: BOUND,
            spent_ns: AtomicU64::new(0),
        }
    }

    /// A journal that records nothing.
    pub(crate) fn off() -> Journal {
        Journal {
            path: None,
            old: PathBuf::new(),
            lock: Mutex::new(()),
            bound: BOUND,
            spent_ns: AtomicU64::new(0),
        }
    }

    /// Whether records are kept (callers skip building them otherwise).
    pub(crate) fn is_on(&self) -> bool {
        self.path.is_some()
    }

    /// Nanoseconds spent recording so far.
    pub(crate) fn spent_ns(&self) -> u64 {
        self.spent_ns.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn with_bound(mut self, bound: u64) -> Journal {
        self.bound = bound;
        self
    }

    /// Appends one record: `outcome` with its `reason` (a counter name, or
    /// empty), for the compile `call` (cwd, compiler, argv) and `unit`.
    pub(crate) fn record(
        &self,
        outcome: &str,
        reason: &str,
        call: &Call,
        unit: Option<&Unit>,
        why: Option<&MissWhy>,
    ) {
        let began = Instant::now();
        self.record_value(outcome, reason, call, unit, why);
        self.spent_ns.fetch_add(
            u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn record_value(
        &self,
        outcome: &str,
        reason: &str,
        call: &Call,
        unit: Option<&Unit>,
        why: Option<&MissWhy>,
    ) {
        let mut v = json!({
            "time_ms": now_ms(),
            "outcome": outcome,
            "reason": reason,
            "cwd": call.cwd,
            "compiler": call.compiler,
            "args": call.args,
        });
        if let Some(u) = unit {
            v["sources"] = json!(u.sources);
            v["output"] = json!(u.output);
            v["manifest_key"] = json!(u.manifest_key);
            v["inputs"] = json!({
                "compiler": u.inputs.compiler,
                "source": u.inputs.source,
                "args": u.inputs.args,
                "env": u.inputs.env.iter().map(|(k, h)| json!([k, h])).collect::<Vec<_>>(),
            });
        }
        if let Some(why) = why {
            v["why"] = why_json(why);
        }
        self.append(&v);
    }

    /// Appends one line. The file is opened for each record and closed
    /// again: a descriptor held open for writing would keep the cache
    /// root's file system from being remounted read-only or unmounted
    /// (the daemon must let a sick root go, see `main`'s root check).
    fn append(&self, v: &Value) {
        let Some(path) = &self.path else {
            return;
        };
        let mut line = v.to_string();
        line.push('\n');
        // One writer at a time, so that a rotation never splits a line.
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut f) = self.open() else {
            return;
        };
        if f.write_all(line.as_bytes()).is_err() {
            return;
        }
        if f.metadata().is_ok_and(|m| m.len() > self.bound) {
            let _ = std::fs::rename(path, &self.old);
        }
    }

    /// Opens the journal for appending; the directory is made only when
    /// the open finds it missing (a record per hit: one system call, not
    /// three).
    fn open(&self) -> Option<File> {
        let path = self.path.as_ref()?;
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
        };
        match open() {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(path.parent()?).ok()?;
                open().ok()
            }
            Err(_) => None,
        }
    }
}

/// The compile a record is about, as the wrapper sent it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Call {
    pub(crate) cwd: String,
    pub(crate) compiler: String,
    pub(crate) args: Vec<String>,
}

impl Call {
    pub(crate) fn of(req: &frame::v1::Lookup) -> Call {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Call {
            cwd: text(&req.cwd),
            compiler: text(&req.compiler),
            args: req.args.iter().map(|a| text(a)).collect(),
        }
    }
}

fn why_json(why: &MissWhy) -> Value {
    match why {
        MissWhy::NoManifest => json!({"kind": "no_manifest"}),
        MissWhy::NoMatchingEntry {
            changed,
            appeared,
            other_root,
        } => json!({
            "kind": "no_matching_entry",
            "changed": changed,
            "appeared": appeared,
            "other_root": other_root,
        }),
    }
}

/// A short hash of a value, so a record can say "changed" without holding
/// it.
pub(crate) fn value_hash(value: &[u8]) -> String {
    blake3::hash(value).to_hex()[..16].to_owned()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_whose_directory_went_makes_it_again() {
        let dir = std::env::temp_dir().join(format!("zccache-journal-gone-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let j = Journal::new(&dir, "default");
        let call = Call::default();
        j.record("hit", "", &call, None, None);
        let file = dir.join("journal").join("default.jsonl");
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 1);
        std::fs::remove_dir_all(dir.join("journal")).unwrap();
        j.record("hit", "", &call, None, None);
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 1);
        assert!(j.spent_ns() > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_are_json_lines_and_the_journal_stays_bounded() {
        let dir = std::env::temp_dir().join(format!("zccache-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let j = Journal::new(&dir, "default").with_bound(600);
        let args = vec!["-c".to_owned(), "a.c".to_owned()];
        let call = Call {
            cwd: "/w".into(),
            compiler: "/usr/bin/gcc".into(),
            args: args.clone(),
        };
        let unit = Unit {
            sources: vec!["/w/a.c".into()],
            output: "/w/a.o".into(),
            manifest_key: "ab".into(),
            inputs: Inputs {
                compiler: "c0".into(),
                source: "s0".into(),
                args: args.clone(),
                env: vec![("CPATH".into(), value_hash(b"/x"))],
            },
        };
        let why = MissWhy::NoMatchingEntry {
            changed: vec!["/w/a.h".into()],
            appeared: vec![],
            other_root: false,
        };
        j.record("miss", "", &call, Some(&unit), Some(&why));
        let text = std::fs::read_to_string(dir.join("journal/default.jsonl")).unwrap();
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["outcome"], "miss");
        assert_eq!(v["why"]["changed"][0], "/w/a.h");
        assert_eq!(v["inputs"]["env"][0][0], "CPATH");
        assert_ne!(v["inputs"]["env"][0][1], "/x", "values are hashed");
        for _ in 0..20 {
            j.record("hit", "", &call, Some(&unit), None);
        }
        // Just rotated, the live file may not exist yet.
        let new = std::fs::metadata(dir.join("journal/default.jsonl")).map_or(0, |m| m.len());
        let old = std::fs::metadata(dir.join("journal/default.jsonl.1"))
            .unwrap()
            .len();
        assert!(new <= 600 + 600 && old <= 600 + 600, "{new} {old}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
