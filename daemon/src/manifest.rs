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
use std::path::{Path, PathBuf};

use crate::codec::{Dec, Enc};
use crate::meta::{Digest, MetaCache, StatId};
use crate::remap::{self, Root};

/// Newest entries first; older ones fall off.
pub(crate) const MAX_ENTRIES: usize = 16;
/// 4: negatives are witnessed by the deepest existing directory of each
/// name, and a name behind a symlink is checked through it on every lookup.
const FORMAT: u32 = 4;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) entries: Vec<ManifestEntry>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ManifestEntry {
    /// Paths as the compiler wrote them (relative ones resolve against the
    /// request's cwd), with their digests.
    pub(crate) includes: Vec<(Vec<u8>, Digest)>,
    pub(crate) negatives: Vec<NegativeDir>,
    pub(crate) temporal: Temporal,
    /// Environment variables the compile read (rustc's `# env-dep:`): their
    /// current values join the result key, unset distinct from empty.
    pub(crate) env_deps: Vec<Vec<u8>>,
    pub(crate) remap: EntryRemap,
    pub(crate) result_key: [u8; 32],
}

/// How an entry stored under path remap relates to worktree roots
/// (`remap.rs`). Paths under the root are stored root-free (`\0R/…`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct EntryRemap {
    /// The root of the worktree that stored the entry; empty without remap.
    pub(crate) origin_root: Vec<u8>,
    /// An output embeds the origin root's bytes: the entry serves that root
    /// only (the root is salted into its result key).
    pub(crate) root_bound: bool,
}

/// Names that did not exist in `dir` when the entry was recorded, as the
/// compiler opens them (through links). While the directory's mtime is
/// unchanged none can have appeared, so one stat covers them all; otherwise,
/// or when no mtime can prove it (`mtime_ns` is `i128::MIN`: a symlink on
/// the way, or a directory that changed during the compile), each name is
/// checked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NegativeDir {
    pub(crate) dir: Vec<u8>,
    pub(crate) existed: bool,
    pub(crate) mtime_ns: i128,
    pub(crate) names: Vec<Vec<u8>>,
}

/// Which temporal macros the include set uses (cache-keys.md §4).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Temporal {
    pub(crate) date: bool,
    /// Files containing `__TIMESTAMP__`: their mtimes join the result key.
    pub(crate) timestamp_files: Vec<Vec<u8>>,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.u32(FORMAT);
        e.u32(self.entries.len() as u32);
        for m in &self.entries {
            e.u32(m.includes.len() as u32);
            for (p, d) in &m.includes {
                e.bytes(p);
                e.digest(d);
            }
            e.u32(m.negatives.len() as u32);
            for n in &m.negatives {
                e.bytes(&n.dir);
                e.u8(n.existed as u8);
                e.i128(n.mtime_ns);
                e.u32(n.names.len() as u32);
                for name in &n.names {
                    e.bytes(name);
                }
            }
            e.u8(m.temporal.date as u8);
            e.u32(m.temporal.timestamp_files.len() as u32);
            for f in &m.temporal.timestamp_files {
                e.bytes(f);
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
                let p = checked_path(d.bytes()?)?;
                includes.push((p, d.digest()?));
            }
            let nn = d.count(25)?;
            let mut negatives = Vec::with_capacity(nn);
            for _ in 0..nn {
                let dir = checked_path(d.bytes()?)?;
                let existed = d.u8()? != 0;
                let mtime_ns = d.i128()?;
                let nnames = d.count(4)?;
                let mut names = Vec::with_capacity(nnames);
                for _ in 0..nnames {
                    names.push(checked_path(d.bytes()?)?);
                }
                negatives.push(NegativeDir {
                    dir,
                    existed,
                    mtime_ns,
                    names,
                });
            }
            let date = d.u8()? != 0;
            let nt = d.count(4)?;
            let mut timestamp_files = Vec::with_capacity(nt);
            for _ in 0..nt {
                timestamp_files.push(checked_path(d.bytes()?)?);
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

/// A stored path: non-empty, and a NUL only in a leading root token.
fn checked_path(p: &[u8]) -> Option<Vec<u8>> {
    let rest = match p.strip_prefix(remap::TOKEN) {
        Some(rest) if rest.is_empty() || rest[0] == b'/' => rest,
        _ => p,
    };
    (!p.is_empty() && !rest.contains(&0)).then(|| p.to_vec())
}

pub(crate) fn resolve(cwd: &Path, p: &[u8]) -> PathBuf {
    let p = Path::new(OsStr::from_bytes(p));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// [`resolve`] for a stored path that may be root-free; `None` when it is
/// and the request has no root.
pub(crate) fn resolve_in(cwd: &Path, root: Option<&Root>, p: &[u8]) -> Option<PathBuf> {
    Some(resolve(cwd, &remap::expand(p, root)?))
}

impl ManifestEntry {
    /// Does this entry still describe the files on disk, seen from `cwd`
    /// in the worktree `root` (if remap is on)? A root-bound entry serves
    /// only its origin root.
    pub(crate) fn matches(&self, cwd: &Path, root: Option<&Root>, meta: &MetaCache) -> bool {
        if self.remap.root_bound && root.map(Root::bytes) != Some(&self.remap.origin_root[..]) {
            return false;
        }
        for (p, digest) in &self.includes {
            let Some(abs) = resolve_in(cwd, root, p) else {
                return false;
            };
            match meta.digest(&abs) {
                Ok((_, d)) if d == *digest => {}
                _ => return false,
            }
        }
        self.negatives.iter().all(|n| n.still_absent(cwd, root))
    }

    /// Whether a hit on this entry serves a worktree other than the one
    /// that stored it (a stats counter).
    pub(crate) fn is_cross_root(&self, root: Option<&Root>) -> bool {
        !self.remap.origin_root.is_empty()
            && root.is_some_and(|r| r.bytes() != &self.remap.origin_root[..])
    }
}

impl NegativeDir {
    fn still_absent(&self, cwd: &Path, root: Option<&Root>) -> bool {
        let Some(dir) = resolve_in(cwd, root, &self.dir) else {
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
                includes: vec![(b"a/foo.h".to_vec(), [7; 32])],
                negatives: vec![NegativeDir {
                    dir: b"b".to_vec(),
                    existed: true,
                    mtime_ns: 42,
                    names: vec![b"foo.h".to_vec()],
                }],
                temporal: Temporal {
                    date: true,
                    timestamp_files: vec![b"t.c".to_vec()],
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
            .push((b"\0R/src/x.h".to_vec(), [3; 32]));
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
            includes: vec![(b"a/foo.h".to_vec(), *blake3::hash(b"A").as_bytes())],
            negatives: vec![NegativeDir {
                dir: b"b".to_vec(),
                existed: true,
                mtime_ns: bmt,
                names: vec![b"foo.h".to_vec()],
            }],
            temporal: Temporal::default(),
            env_deps: Vec::new(),
            remap: EntryRemap::default(),
            result_key: [0; 32],
        };
        assert!(entry.matches(&dir, None, &meta));
        std::fs::write(dir.join("b/foo.h"), b"B").unwrap();
        assert!(!entry.matches(&dir, None, &meta));
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
        let root = |wt: &str| Root::new(base.join(wt).to_str().unwrap());
        let meta = MetaCache::default();
        let mut entry = ManifestEntry {
            includes: vec![(b"\0R/inc/x.h".to_vec(), *blake3::hash(b"X").as_bytes())],
            negatives: vec![NegativeDir {
                dir: b"\0R/none".to_vec(),
                existed: false,
                mtime_ns: 0,
                names: vec![b"x.h".to_vec()],
            }],
            temporal: Temporal::default(),
            env_deps: Vec::new(),
            remap: EntryRemap {
                origin_root: root("a").bytes().to_vec(),
                root_bound: false,
            },
            result_key: [0; 32],
        };
        let cwd = base.join("b");
        assert!(entry.matches(&cwd, Some(&root("b")), &meta));
        assert!(entry.is_cross_root(Some(&root("b"))));
        assert!(!entry.is_cross_root(Some(&root("a"))));
        assert!(
            !entry.matches(&cwd, None, &meta),
            "root-free paths need a root"
        );
        entry.remap.root_bound = true;
        assert!(!entry.matches(&cwd, Some(&root("b")), &meta));
        assert!(entry.matches(&base.join("a"), Some(&root("a")), &meta));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
