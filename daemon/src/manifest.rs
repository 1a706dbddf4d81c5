//! Direct-mode manifests: for one manifest key (everything but the include
//! contents), the include sets seen so far, each with the result key it
//! produced.
//!
//! An entry matches when every include still has its recorded digest and
//! every negative candidate (a header that would shadow one of ours if it
//! appeared earlier on the search path) still does not exist. This module
//! checks and encodes entries; it does not decide what goes into them
//! (`cc::pipeline` does) and does not store them (`store` does).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::codec::{Dec, Enc};
use crate::meta::{Digest, MetaCache, StatId};
use crate::worktree::{EntryRemap, FreePath, Worktree};

/// Newest entries first; older ones fall off.
pub(crate) const MAX_ENTRIES: usize = 16;
/// 4: negatives are witnessed by the deepest existing directory of each
/// name, and a name behind a symlink is checked through it on every lookup.
const FORMAT: u32 = 4;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) entries: Vec<ManifestEntry>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ManifestEntry {
    /// Paths as the compiler wrote them (relative ones resolve against the
    /// request's cwd; root-free under remap), with their digests.
    pub(crate) includes: Vec<(FreePath, Digest)>,
    pub(crate) negatives: Vec<NegativeDir>,
    pub(crate) temporal: Temporal,
    /// Environment variables the compile read (rustc's `# env-dep:`): their
    /// current values join the result key, unset distinct from empty.
    pub(crate) env_deps: Vec<Vec<u8>>,
    pub(crate) remap: EntryRemap,
    pub(crate) result_key: [u8; 32],
}

/// Names that did not exist in `dir` when the entry was recorded, as the
/// compiler opens them (through links). While the directory's mtime is
/// unchanged none can have appeared, so one stat covers them all; otherwise,
/// or when no mtime can prove it (`mtime_ns` is `i128::MIN`: a symlink on
/// the way, or a directory that changed during the compile), each name is
/// checked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NegativeDir {
    pub(crate) dir: FreePath,
    pub(crate) existed: bool,
    pub(crate) mtime_ns: i128,
    pub(crate) names: Vec<Vec<u8>>,
}

/// Why a manifest entry does not serve a request ([`ManifestEntry::mismatch`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Mismatch {
    pub(crate) changed: Vec<String>,
    pub(crate) appeared: Vec<String>,
    pub(crate) other_root: bool,
}

/// Which temporal macros the include set uses (cache-keys.md §4).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Temporal {
    /// `__DATE__` or `__TIME__`.
    pub(crate) date: bool,
    /// `__TIME__` (or a paste that could spell it): the time of day
    /// matters, not only the day. Stored as the byte after `date`'s meaning:
    /// 0 none, 1 date and maybe time (every entry before this), 2 the date
    /// only.
    pub(crate) time: bool,
    /// Files containing `__TIMESTAMP__`: their mtimes join the result key.
    pub(crate) timestamp_files: Vec<FreePath>,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.u32(FORMAT);
        e.u32(self.entries.len() as u32);
        for m in &self.entries {
            e.u32(m.includes.len() as u32);
            for (p, d) in &m.includes {
                e.bytes(p.as_bytes());
                e.digest(d);
            }
            e.u32(m.negatives.len() as u32);
            for n in &m.negatives {
                e.bytes(n.dir.as_bytes());
                e.u8(n.existed as u8);
                e.i128(n.mtime_ns);
                e.u32(n.names.len() as u32);
                for name in &n.names {
                    e.bytes(name);
                }
            }
            e.u8(match (m.temporal.date, m.temporal.time) {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => 2,
            });
            e.u32(m.temporal.timestamp_files.len() as u32);
            for f in &m.temporal.timestamp_files {
                e.bytes(f.as_bytes());
            }
            e.u32(m.env_deps.len() as u32);
            for v in &m.env_deps {
                e.bytes(v);
            }
            e.bytes(&m.remap.origin_root);
            e.u8(m.remap.root_bound as u8);
            e.digest(&m.result_key);
        }
        e.0
    }

    /// `None` for anything malformed: the caller treats it as no manifest.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Manifest> {
        let mut d = Dec::new(bytes);
        if d.u32()? != FORMAT {
            return None;
        }
        let n = d.count(4)?;
        let mut entries = Vec::with_capacity(n.min(MAX_ENTRIES));
        for _ in 0..n {
            let ni = d.count(36)?;
            let mut includes = Vec::with_capacity(ni);
            for _ in 0..ni {
                let p = FreePath::from_stored(d.bytes()?)?;
                includes.push((p, d.digest()?));
            }
            let nn = d.count(25)?;
            let mut negatives = Vec::with_capacity(nn);
            for _ in 0..nn {
                let dir = FreePath::from_stored(d.bytes()?)?;
                let existed = d.u8()? != 0;
                let mtime_ns = d.i128()?;
                let nnames = d.count(4)?;
                let mut names = Vec::with_capacity(nnames);
                for _ in 0..nnames {
                    names.push(checked_name(d.bytes()?)?);
                }
                negatives.push(NegativeDir {
                    dir,
                    existed,
                    mtime_ns,
                    names,
                });
            }
            // 1 (and anything newer this daemon does not know) takes the
            // time as used: the key then holds the whole epoch.
            let (date, time) = match d.u8()? {
                0 => (false, false),
                2 => (true, false),
                _ => (true, true),
            };
            let nt = d.count(4)?;
            let mut timestamp_files = Vec::with_capacity(nt);
            for _ in 0..nt {
                timestamp_files.push(FreePath::from_stored(d.bytes()?)?);
            }
            let ne = d.count(4)?;
            let mut env_deps = Vec::with_capacity(ne);
            for _ in 0..ne {
                env_deps.push(d.bytes()?.to_vec());
            }
            let origin_root = d.bytes()?.to_vec();
            let root_bound = d.u8()? != 0;
            let result_key = d.digest()?;
            entries.push(ManifestEntry {
                includes,
                negatives,
                temporal: Temporal {
                    date,
                    time,
                    timestamp_files,
                },
                env_deps,
                remap: EntryRemap {
                    origin_root,
                    root_bound,
                },
                result_key,
            });
        }
        d.is_empty().then_some(Manifest { entries })
    }

    /// Put `entry` first, dropping an older entry with the same include set
    /// and anything past `MAX_ENTRIES`.
    pub(crate) fn with_entry(&self, entry: ManifestEntry) -> Manifest {
        let mut entries = vec![entry];
        for old in &self.entries {
            let new = &entries[0];
            // Root-bound entries of two worktrees share an include set but
            // not a result: both stay.
            let same = old.includes == new.includes
                && old.env_deps == new.env_deps
                && old.remap.root_bound == new.remap.root_bound
                && (!new.remap.root_bound || old.remap.origin_root == new.remap.origin_root);
            if !same && entries.len() < MAX_ENTRIES {
                entries.push(old.clone());
            }
        }
        Manifest { entries }
    }
}

/// A stored name, checked as a stored path is (as before names and paths
/// had types of their own).
fn checked_name(p: &[u8]) -> Option<Vec<u8>> {
    FreePath::from_stored(p).map(|_| p.to_vec())
}

impl ManifestEntry {
    /// Does this entry still describe the files on disk, seen from the
    /// request's worktree `view`? A root-bound entry serves only its origin
    /// root.
    pub(crate) fn matches(&self, view: &Worktree, meta: &MetaCache) -> bool {
        if !view.serves(&self.remap) {
            return false;
        }
        for (p, digest) in &self.includes {
            let Some(abs) = view.resolve(p) else {
                return false;
            };
            match meta.digest(&abs) {
                Ok((_, d)) if d == *digest => {}
                _ => return false,
            }
        }
        self.negatives.iter().all(|n| n.still_absent(view))
    }

    /// Why this entry does not match, for `zccache explain`: the include
    /// files whose content changed (or went), the names that now exist
    /// where the compiler would find them first, and whether it serves
    /// another worktree only. Paths as this request resolves them. Only
    /// for a miss: it stats every file, where [`matches`] stops at the
    /// first difference.
    ///
    /// [`matches`]: ManifestEntry::matches
    pub(crate) fn mismatch(&self, view: &Worktree, meta: &MetaCache) -> Mismatch {
        let shown = |p: &FreePath| {
            view.resolve(p).map_or_else(
                || String::from_utf8_lossy(p.as_bytes()).into_owned(),
                |a| a.display().to_string(),
            )
        };
        let changed = self
            .includes
            .iter()
            .filter(|(p, digest)| {
                view.resolve(p)
                    .is_none_or(|abs| !matches!(meta.digest(&abs), Ok((_, d)) if d == *digest))
            })
            .map(|(p, _)| shown(p))
            .collect();
        let appeared = self
            .negatives
            .iter()
            .filter(|n| !n.still_absent(view))
            .flat_map(|n| {
                let dir = view.resolve(&n.dir);
                n.names.iter().filter_map(move |name| {
                    let p = dir.as_ref()?.join(OsStr::from_bytes(name));
                    std::fs::metadata(&p)
                        .is_ok()
                        .then(|| p.display().to_string())
                })
            })
            .collect();
        Mismatch {
            changed,
            appeared,
            other_root: !view.serves(&self.remap),
        }
    }

    /// Whether a hit on this entry serves a worktree other than the one
    /// that stored it (a stats counter).
    pub(crate) fn is_cross_root(&self, view: &Worktree) -> bool {
        view.is_cross(&self.remap)
    }
}

impl NegativeDir {
    fn still_absent(&self, view: &Worktree) -> bool {
        let Some(dir) = view.resolve(&self.dir) else {
            return false;
        };
        let now = std::fs::metadata(&dir).ok();
        let unchanged = match (&now, self.existed) {
            (None, false) => true,
            (Some(md), true) => StatId::of(md).mtime_ns == self.mtime_ns,
            _ => false,
        };
        if unchanged {
            return true;
        }
        // As the compiler opens a header: through links. A dangling link
        // is absent until its target appears.
        self.names
            .iter()
            .all(|n| std::fs::metadata(dir.join(OsStr::from_bytes(n))).is_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            entries: vec![ManifestEntry {
                includes: vec![(FreePath::new(b"a/foo.h"), [7; 32])],
                negatives: vec![NegativeDir {
                    dir: FreePath::new(b"b"),
                    existed: true,
                    mtime_ns: 42,
                    names: vec![b"foo.h".to_vec()],
                }],
                temporal: Temporal {
                    date: true,
                    time: false,
                    timestamp_files: vec![FreePath::new(b"t.c")],
                },
                env_deps: vec![b"TEST_ENV".to_vec(), b"".to_vec()],
                remap: EntryRemap {
                    origin_root: b"/w/a".to_vec(),
                    root_bound: true,
                },
                result_key: [9; 32],
            }],
        }
    }

    #[test]
    fn encode_decode_roundtrip_and_rejects_truncation() {
        let mut m = sample();
        m.entries[0]
            .includes
            .push((FreePath::new(b"\0R/src/x.h"), [3; 32]));
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes), Some(m));
        for cut in 0..bytes.len() {
            assert_eq!(Manifest::decode(&bytes[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn root_bound_entries_of_two_roots_both_stay() {
        let entry = |root: &str, bound: bool| ManifestEntry {
            remap: EntryRemap {
                origin_root: root.as_bytes().to_vec(),
                root_bound: bound,
            },
            ..sample().entries[0].clone()
        };
        let m = Manifest::default()
            .with_entry(entry("/w/a", true))
            .with_entry(entry("/w/b", true));
        assert_eq!(m.entries.len(), 2);
        let m = m.with_entry(entry("/w/a", true));
        assert_eq!(m.entries.len(), 2, "same root and include set replaces");
        let m = m
            .with_entry(entry("/w/c", false))
            .with_entry(entry("/w/d", false));
        assert_eq!(m.entries.len(), 3, "unbound entries of any root are one");
    }

    #[test]
    fn appearing_shadow_header_breaks_the_match() {
        let dir = std::env::temp_dir().join(format!("zccache-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("a/foo.h"), b"A").unwrap();
        let meta = MetaCache::default();
        let bmt = StatId::of(&std::fs::metadata(dir.join("b")).unwrap()).mtime_ns;
        let entry = ManifestEntry {
            includes: vec![(FreePath::new(b"a/foo.h"), *blake3::hash(b"A").as_bytes())],
            negatives: vec![NegativeDir {
                dir: FreePath::new(b"b"),
                existed: true,
                mtime_ns: bmt,
                names: vec![b"foo.h".to_vec()],
            }],
            temporal: Temporal::default(),
            env_deps: Vec::new(),
            remap: EntryRemap::default(),
            result_key: [0; 32],
        };
        let view = Worktree::new(dir.clone(), None);
        assert!(entry.matches(&view, &meta));
        std::fs::write(dir.join("b/foo.h"), b"B").unwrap();
        assert!(!entry.matches(&view, &meta));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn root_free_paths_resolve_in_the_current_root_and_bound_entries_stay_home() {
        let base = std::env::temp_dir().join(format!("zccache-manifest-r-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for wt in ["a", "b"] {
            std::fs::create_dir_all(base.join(wt).join("inc")).unwrap();
            std::fs::write(base.join(wt).join("inc/x.h"), b"X").unwrap();
        }
        let tree = |wt: &str| base.join(wt).to_str().unwrap().to_owned();
        let view = |wt: &str, remap: bool| {
            let t = tree(wt);
            Worktree::at(&t, remap.then_some(t.as_str()))
        };
        let meta = MetaCache::default();
        let mut entry = ManifestEntry {
            includes: vec![(
                FreePath::new(b"\0R/inc/x.h"),
                *blake3::hash(b"X").as_bytes(),
            )],
            negatives: vec![NegativeDir {
                dir: FreePath::new(b"\0R/none"),
                existed: false,
                mtime_ns: 0,
                names: vec![b"x.h".to_vec()],
            }],
            temporal: Temporal::default(),
            env_deps: Vec::new(),
            remap: EntryRemap {
                origin_root: tree("a").into_bytes(),
                root_bound: false,
            },
            result_key: [0; 32],
        };
        assert!(entry.matches(&view("b", true), &meta));
        assert!(entry.is_cross_root(&view("b", true)));
        assert!(!entry.is_cross_root(&view("a", true)));
        assert!(
            !entry.matches(&view("b", false), &meta),
            "root-free paths need a root"
        );
        entry.remap.root_bound = true;
        assert!(!entry.matches(&view("b", true), &meta));
        assert!(entry.matches(&view("a", true), &meta));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
