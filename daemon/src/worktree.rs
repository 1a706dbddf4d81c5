//! A request's worktree view, made once at the edge (each pipeline's
//! `prepare`) from the cwd and the remap decision: every operation a
//! pipeline needs that depends on path remap goes through it. Keying a path
//! or a text ([`KeyBuilder`]), storing a compile's texts (the one
//! root-bound policy, [`Worktree::store`]), delivering them back
//! ([`Delivery`]), and matching a manifest entry's stored paths
//! ([`Worktree::resolve`], [`Worktree::serves`]).
//!
//! It decides nothing about which arguments are paths or which prefix maps a
//! compiler needs (the pipelines do), and it does not convert bytes itself:
//! `remap` holds the token grammar.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::domains::Domain;
use crate::keys::KeyHasher;
use crate::meta::Digest;
use crate::reasons::{NotStoredReason, RemapFallback};
use crate::remap::{self, Root};
use crate::stats::Stats;

/// A path as manifests and keys hold it: under path remap, a path under
/// the worktree root is root-free (`\0R/…`); any other path as spelled.
/// Only the view makes one from a raw path ([`Worktree::free_path`]); a
/// stored one is read back with [`FreePath::from_stored`]. Its bytes are
/// the encoding, unchanged since before the type existed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FreePath(Vec<u8>);

impl FreePath {
    /// A path read from a manifest: non-empty, and a NUL only in a leading
    /// token; `None` otherwise.
    pub(crate) fn from_stored(p: &[u8]) -> Option<FreePath> {
        let rest = match p.strip_prefix(remap::TOKEN) {
            Some(rest) if rest.is_empty() || rest[0] == b'/' => rest,
            _ => p,
        };
        (!p.is_empty() && !rest.contains(&0)).then(|| FreePath(p.to_vec()))
    }

    /// A path known to be root-free already (tests and fixtures).
    #[cfg(test)]
    pub(crate) fn new(p: &[u8]) -> FreePath {
        FreePath::from_stored(p).expect("a valid stored path")
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
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

impl EntryRemap {
    /// An entry stored in the worktree `origin` (tests): shared across
    /// worktrees, or bound to it.
    #[cfg(test)]
    pub(crate) fn stored_in(origin: &[u8], bound: bool) -> EntryRemap {
        EntryRemap {
            origin_root: origin.to_vec(),
            root_bound: bound,
        }
    }
}

/// A raw path as spelled, resolved against `cwd`.
pub(crate) fn resolve(cwd: &Path, p: &[u8]) -> PathBuf {
    let p = Path::new(OsStr::from_bytes(p));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// Where a request runs: its cwd and, under path remap, its worktree root.
#[derive(Clone, Debug)]
pub(crate) struct Worktree {
    cwd: PathBuf,
    root: Option<Root>,
}

impl Worktree {
    pub(crate) fn new(cwd: PathBuf, root: Option<Root>) -> Worktree {
        Worktree { cwd, root }
    }

    /// A view for tests: `tree` is the worktree root under remap.
    #[cfg(test)]
    pub(crate) fn at(cwd: &str, tree: Option<&str>) -> Worktree {
        Worktree::new(PathBuf::from(cwd), tree.map(Root::new))
    }

    pub(crate) fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The worktree root when path remap applies, for what only a pipeline
    /// knows (a compiler's prefix-map argument, its own blockers).
    pub(crate) fn root(&self) -> Option<&Root> {
        self.root.as_ref()
    }

    /// Path remap applies to this request.
    pub(crate) fn remapped(&self) -> bool {
        self.root.is_some()
    }

    /// A raw path (as the compiler or the caller spelled it) resolved
    /// against the cwd.
    pub(crate) fn resolve_raw(&self, p: &[u8]) -> PathBuf {
        resolve(&self.cwd, p)
    }

    /// `p` as manifests and keys hold it.
    pub(crate) fn free_path(&self, p: &[u8]) -> FreePath {
        FreePath(self.free_bytes(p).into_owned())
    }

    /// [`Worktree::free_path`] as bytes, borrowed when unchanged.
    pub(crate) fn free_bytes<'a>(&self, p: &'a [u8]) -> Cow<'a, [u8]> {
        remap::root_free(self.root.as_ref(), p)
    }

    /// A stored path resolved in this worktree; `None` when it is root-free
    /// and the request has no root.
    pub(crate) fn resolve(&self, p: &FreePath) -> Option<PathBuf> {
        Some(self.resolve_raw(&self.expand_path(p.as_bytes())?))
    }

    /// A stored path (or path-valued field) expanded for this worktree;
    /// `None` when it is root-free and the request has no root.
    pub(crate) fn expand_path<'a>(&self, p: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        remap::expand(p, self.root.as_ref())
    }

    /// Whether an entry stored as `r` may serve this request: a root-bound
    /// entry serves only the worktree that stored it.
    pub(crate) fn serves(&self, r: &EntryRemap) -> bool {
        !r.root_bound || self.root.as_ref().map(Root::bytes) == Some(&r.origin_root[..])
    }

    /// Whether a hit on an entry stored as `r` serves another worktree than
    /// the one that stored it (a stats counter).
    pub(crate) fn is_cross(&self, r: &EntryRemap) -> bool {
        !r.origin_root.is_empty()
            && self
                .root
                .as_ref()
                .is_some_and(|root| root.bytes() != &r.origin_root[..])
    }

    /// A key of the kind `domain`, bound to this view.
    pub(crate) fn keyer(&self, domain: Domain) -> KeyBuilder<'_> {
        self.resume(KeyHasher::new(domain))
    }

    /// A key started earlier (a request-wide part), bound to this view.
    pub(crate) fn resume(&self, h: KeyHasher) -> KeyBuilder<'_> {
        KeyBuilder { h, view: self }
    }

    /// The one root-bound policy, for both languages: how a finished
    /// compile's `texts` (streams, depfile or dep-info) are stored and how
    /// the entry relates to worktree roots.
    ///
    /// Without remap, everything is stored as written. Under remap the entry
    /// is root-bound (serves its own root only, its texts stored as the
    /// compiler wrote them, its result key salted) when a binary output
    /// holds the root's bytes, when the pipeline found an input naming the
    /// root (`named`), or when a text already holds the token (it could not
    /// be told apart on the way back); otherwise the texts are stored
    /// root-free. An output that cannot be read is not stored at all: the
    /// search proves nothing, and the writer could not copy it either.
    pub(crate) fn store(
        &self,
        stats: &Stats,
        named: Option<RemapFallback>,
        binaries: &[&Path],
        texts: &[&[u8]],
    ) -> Result<StoredTexts, NotStoredReason> {
        let Some(root) = &self.root else {
            return Ok(StoredTexts {
                remap: EntryRemap::default(),
                free: None,
            });
        };
        let mut in_output = false;
        for path in binaries {
            in_output |= root
                .occurs_in_file(path)
                .map_err(|_| NotStoredReason::CompilerProducedNoOutput)?;
        }
        let free: Option<Vec<Vec<u8>>> = texts.iter().map(|t| root.tokenize_text(t)).collect();
        let bound = in_output
            .then_some(RemapFallback::RootInOutput)
            .or(named)
            .or(free.is_none().then_some(RemapFallback::TokenInText));
        if let Some(reason) = bound {
            stats.remap_fallback(reason);
        }
        Ok(StoredTexts {
            remap: EntryRemap {
                origin_root: root.bytes().to_vec(),
                root_bound: bound.is_some(),
            },
            free: free.filter(|_| bound.is_none()),
        })
    }

    /// Whether an input the compile read (`(resolved path, digest keyed)`)
    /// names the root by its bytes (`#include "/w/a/cfg.h"`, a string a
    /// diagnostic quotes): compiled in another worktree, the same text
    /// still names this one, which no prefix map rewrites, so the entry
    /// must serve this worktree only ([`RemapFallback::RootInSource`], for
    /// [`Worktree::store`]). Every input is read, under the root or not: a
    /// header outside every worktree may include one of this worktree's
    /// files by absolute path. The bytes read must be those the digest
    /// keyed; an input that cannot be read or changed since is
    /// `ModifiedInputFile` (the entry would describe bytes no longer
    /// there). The one rule for C and Rust; `None` without remap.
    pub(crate) fn inputs_name_root<'p>(
        &self,
        inputs: impl IntoIterator<Item = (&'p Path, &'p Digest)>,
    ) -> Result<Option<RemapFallback>, NotStoredReason> {
        let Some(root) = &self.root else {
            return Ok(None);
        };
        for (path, digest) in inputs {
            let bytes = std::fs::read(path).map_err(|_| NotStoredReason::ModifiedInputFile)?;
            if blake3::hash(&bytes).as_bytes() != digest {
                return Err(NotStoredReason::ModifiedInputFile);
            }
            if root.occurs_in(&bytes) {
                return Ok(Some(RemapFallback::RootInSource));
            }
        }
        Ok(None)
    }

    /// How a hit from an entry stored as `r` writes its texts here: expanded
    /// when they were stored root-free, as stored when root-bound.
    pub(crate) fn delivery(&self, r: &EntryRemap) -> Delivery<'_> {
        Delivery {
            root: self.root.as_ref().filter(|_| !r.root_bound),
            origin_len: r.origin_root.len(),
        }
    }

    /// [`Worktree::delivery`] for an entry whose texts are root-free even
    /// though it is root-bound (Rust entries stored before the one policy).
    pub(crate) fn delivery_root_free(&self, r: &EntryRemap) -> Delivery<'_> {
        Delivery {
            root: self.root.as_ref(),
            origin_len: r.origin_root.len(),
        }
    }
}

/// How a finished compile's texts are stored, and the entry's relation to
/// worktree roots.
pub(crate) struct StoredTexts {
    pub(crate) remap: EntryRemap,
    /// The texts root-free, in the order given; `None` stores them as
    /// written (no remap, or a root-bound entry).
    free: Option<Vec<Vec<u8>>>,
}

impl StoredTexts {
    /// Text `i` as stored: root-free, or `written` itself.
    pub(crate) fn take<'a>(&mut self, i: usize, written: &'a [u8]) -> Cow<'a, [u8]> {
        match &mut self.free {
            Some(free) => Cow::Owned(std::mem::take(&mut free[i])),
            None => Cow::Borrowed(written),
        }
    }
}

/// How a hit writes the stored texts for this request.
#[derive(Clone, Copy)]
pub(crate) struct Delivery<'v> {
    root: Option<&'v Root>,
    origin_len: usize,
}

impl Delivery<'_> {
    /// A stored text as this request's compile would have written it.
    pub(crate) fn text<'a>(&self, t: &'a [u8]) -> Cow<'a, [u8]> {
        remap::expand_text(t, self.root)
    }

    /// The paths in the texts change length (gcc lays a depfile out by
    /// length, so it would have been laid out anew).
    pub(crate) fn relaid(&self) -> bool {
        self.root
            .is_some_and(|r| r.bytes().len() != self.origin_len)
    }
}

/// A key bound to a worktree view: paths and texts are keyed as the view
/// spells them (root-free under remap), so key code never sees the root.
#[derive(Clone)]
pub(crate) struct KeyBuilder<'v> {
    h: KeyHasher,
    view: &'v Worktree,
}

impl<'v> KeyBuilder<'v> {
    pub(crate) fn bytes(&mut self, tag: &str, value: &[u8]) -> &mut Self {
        self.h.bytes(tag, value);
        self
    }

    pub(crate) fn os(&mut self, tag: &str, value: &OsStr) -> &mut Self {
        self.h.os(tag, value);
        self
    }

    pub(crate) fn opt(&mut self, tag: &str, value: Option<&[u8]>) -> &mut Self {
        self.h.opt(tag, value);
        self
    }

    /// A path, root-free under remap.
    pub(crate) fn path(&mut self, tag: &str, p: &[u8]) -> &mut Self {
        let free = self.view.free_bytes(p);
        self.h.bytes(tag, &free);
        self
    }

    /// A value as the caller sent it (an argument, an environment value), a
    /// path or any text holding one. Under remap every mention of the root
    /// at a path boundary is keyed root-free, wherever it is in the value:
    /// keyed raw, a value naming this worktree would equal the same text
    /// sent from another worktree, where it names this one from outside. A
    /// value already holding the token is keyed under a tag of its own, so
    /// it never equals a tokenized one.
    pub(crate) fn text(&mut self, tag: &str, value: Option<&[u8]>) -> &mut Self {
        match (self.view.root.as_ref(), value) {
            (Some(root), Some(v)) => match root.tokenize_text(v) {
                Some(t) => self.h.bytes(tag, &t),
                None => self.h.bytes("holds_remap_token", v),
            },
            _ => self.h.opt(tag, value),
        };
        self
    }

    /// A value whose path parts the view already made root-free
    /// ([`Worktree::free_bytes`]): the rest of it is, unless the token is in
    /// it already (then it is keyed as it is, under `tag`).
    pub(crate) fn mapped_text(&mut self, tag: &str, value: &[u8]) -> &mut Self {
        let free = remap::text_free(self.view.root.as_ref(), value);
        self.h.bytes(tag, &free);
        self
    }

    /// Marks a key made under remap: its outputs differ (mapped paths), so
    /// it is never shared with remap off.
    pub(crate) fn remap_mark(&mut self) -> &mut Self {
        if self.view.remapped() {
            self.h.bytes("remap", b"auto");
        }
        self
    }

    /// Salts a result key with the origin of a root-bound entry, so it
    /// serves that worktree only.
    pub(crate) fn home(&mut self, r: &EntryRemap) -> &mut Self {
        if r.root_bound {
            self.h.bytes("root", &r.origin_root);
        }
        self
    }

    /// The view this key is bound to.
    pub(crate) fn view(&self) -> &'v Worktree {
        self.view
    }

    pub(crate) fn finish(&self) -> [u8; 32] {
        self.h.finish()
    }

    /// The hash so far, to resume later with [`Worktree::resume`].
    pub(crate) fn into_hasher(self) -> KeyHasher {
        self.h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domains;

    #[test]
    fn stored_paths_are_checked_and_resolve_in_the_current_root() {
        assert_eq!(FreePath::from_stored(b""), None);
        assert_eq!(FreePath::from_stored(b"a\0b"), None);
        assert_eq!(FreePath::from_stored(b"\0Rx"), None);
        assert!(FreePath::from_stored(b"\0R/x").is_some());
        assert!(FreePath::from_stored(b"\0R").is_some());
        let a = Worktree::at("/w/a/build", Some("/w/a"));
        let p = a.free_path(b"/w/a/inc/x.h");
        assert_eq!(p.as_bytes(), b"\0R/inc/x.h");
        let b = Worktree::at("/w/b/build", Some("/w/b"));
        assert_eq!(b.resolve(&p), Some(PathBuf::from("/w/b/inc/x.h")));
        assert_eq!(Worktree::at("/w/b", None).resolve(&p), None);
        assert_eq!(
            b.resolve(&b.free_path(b"rel/x.h")),
            Some(PathBuf::from("/w/b/build/rel/x.h"))
        );
    }

    #[test]
    fn a_bound_entry_serves_its_origin_only() {
        let (a, b, off) = (
            Worktree::at("/w/a", Some("/w/a")),
            Worktree::at("/w/b", Some("/w/b")),
            Worktree::at("/w/a", None),
        );
        let mut r = EntryRemap {
            origin_root: b"/w/a".to_vec(),
            root_bound: false,
        };
        assert!(a.serves(&r) && b.serves(&r) && off.serves(&r));
        assert!(b.is_cross(&r) && !a.is_cross(&r) && !off.is_cross(&r));
        r.root_bound = true;
        assert!(a.serves(&r) && !b.serves(&r) && !off.serves(&r));
        assert!(!EntryRemap::default().root_bound && off.serves(&EntryRemap::default()));
    }

    fn store_in(
        view: &Worktree,
        dir: &Path,
        binary: &[u8],
        texts: &[&[u8]],
    ) -> (bool, Vec<Vec<u8>>) {
        let out = dir.join("out.o");
        std::fs::write(&out, binary).unwrap();
        let mut s = view.store(&Stats::default(), None, &[&out], texts).unwrap();
        let stored = (0..texts.len())
            .map(|i| s.take(i, texts[i]).into_owned())
            .collect();
        (s.remap.root_bound, stored)
    }

    #[test]
    fn the_one_policy_binds_or_frees_and_delivery_inverts_it() {
        let dir = std::env::temp_dir().join(format!("zcc-worktree-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Worktree::at("/w/a", Some("/w/a"));
        let b = Worktree::at("/w/b", Some("/w/b"));
        // Root-free: texts tokenized, delivered in another root.
        let (bound, texts) = store_in(&a, &dir, b"obj", &[b"/w/a/x.c: warning"]);
        assert!(!bound);
        assert_eq!(texts[0], b"\0R/x.c: warning");
        let free = EntryRemap {
            origin_root: b"/w/a".to_vec(),
            root_bound: false,
        };
        assert_eq!(&*b.delivery(&free).text(&texts[0]), b"/w/b/x.c: warning");
        // The root in a binary output: bound, texts raw.
        let (bound, texts) = store_in(&a, &dir, b"obj /w/a/x", &[b"/w/a/x.c"]);
        assert!(bound);
        assert_eq!(texts[0], b"/w/a/x.c");
        // A text holding the token: bound, raw, delivered byte for byte.
        let (bound, texts) = store_in(&a, &dir, b"obj", &[b"odd \0R/x text /w/a"]);
        assert!(bound);
        let home = EntryRemap {
            origin_root: b"/w/a".to_vec(),
            root_bound: true,
        };
        assert_eq!(&*a.delivery(&home).text(&texts[0]), b"odd \0R/x text /w/a");
        // Rust entries stored before the one policy (extra format 1) kept a
        // bound entry's text root-free: expanded for them alone.
        assert_eq!(
            &*a.delivery_root_free(&home).text(b"\0R/x.rs"),
            b"/w/a/x.rs"
        );
        assert_eq!(&*a.delivery(&home).text(b"\0R/x.rs"), b"\0R/x.rs");
        assert!(!a.delivery(&home).relaid() && !b.delivery(&free).relaid());
        let longer = Worktree::at("/w/abc", Some("/w/abc"));
        assert!(longer.delivery(&free).relaid(), "paths change length");
        // Without remap: as written, nothing bound.
        let (bound, texts) = store_in(&Worktree::at("/w/a", None), &dir, b"/w/a", &[b"\0R"]);
        assert!(!bound);
        assert_eq!(texts[0], b"\0R");
        // An output that cannot be read: not stored.
        let unreadable = Path::new("/proc/self/mem");
        assert_eq!(
            a.store(&Stats::default(), None, &[unreadable], &[]).err(),
            Some(NotStoredReason::CompilerProducedNoOutput)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_input_anywhere_that_names_the_root_binds_and_a_changed_one_refuses() {
        let dir = std::env::temp_dir().join(format!("zcc-wt-named-{}", std::process::id()));
        let tree = dir.join("w");
        std::fs::create_dir_all(&tree).unwrap();
        let file = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, &text).unwrap();
            (p, *blake3::hash(text.as_bytes()).as_bytes())
        };
        let inside = file("w/x.c", "int x;\n".into());
        // Outside the root, naming it: the case the C rule used to miss.
        let outside = file("h.h", format!("#include \"{}/cfg.h\"\n", tree.display()));
        let view = Worktree::new(tree.clone(), Some(Root::new(tree.to_str().unwrap())));
        let check = |inputs: &[&(PathBuf, Digest)]| {
            view.inputs_name_root(inputs.iter().map(|(p, d)| (p.as_path(), d)))
        };
        assert_eq!(check(&[&inside]), Ok(None));
        assert_eq!(
            check(&[&inside, &outside]),
            Ok(Some(RemapFallback::RootInSource))
        );
        let off = Worktree::new(tree.clone(), None);
        assert_eq!(
            off.inputs_name_root([(outside.0.as_path(), &outside.1)]),
            Ok(None),
            "without remap nothing is read"
        );
        let changed = (inside.0.clone(), [0; 32]);
        assert_eq!(check(&[&changed]), Err(NotStoredReason::ModifiedInputFile));
        let gone = (dir.join("gone.h"), [0; 32]);
        assert_eq!(check(&[&gone]), Err(NotStoredReason::ModifiedInputFile));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_bound_to_a_view_name_no_root() {
        let key = |view: &Worktree| {
            let mut k = view.keyer(domains::RUSTC);
            k.remap_mark()
                .path("source", b"/w/x/src/lib.rs")
                .text("value", Some(b"native=/w/x/out"))
                .mapped_text("arg", b"-I\0R/inc -DX=/w/x/y");
            k.finish()
        };
        let (a, b) = (
            Worktree::at("/w/x", Some("/w/x")),
            Worktree::at("/w/x", None),
        );
        assert_ne!(key(&a), key(&b), "remap on never keys as remap off");
        let mut want = KeyHasher::new(domains::RUSTC);
        want.bytes("remap", b"auto")
            .bytes("source", b"\0R/src/lib.rs")
            .bytes("value", b"native=\0R/out")
            .bytes("arg", b"-I\0R/inc -DX=/w/x/y");
        assert_eq!(key(&a), want.finish());
    }
}
