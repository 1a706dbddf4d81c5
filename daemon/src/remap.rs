//! Path remap across worktrees (`ZCCACHE_PATH_REMAP=auto`): decides a request's worktree root and converts paths and text between the form a compile sees (absolute, under this root) and the root-free form that keys, manifests and stored streams hold. It does not choose which arguments carry paths or add prefix maps to an argv; the C and Rust pipelines do.
//!
//! The root-free form of `<root>/rest` is `\0R/rest`. A NUL can never be in
//! a real path, so the token cannot collide with a file name, and a manifest
//! path that holds it cannot be resolved without a root (such an entry
//! simply does not match a request without remap).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::reasons::RemapFallback;

/// Stands for the worktree root in root-free paths and text.
pub(crate) const TOKEN: &[u8] = b"\0R";

/// A worktree root: absolute, normalized, never `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Root(PathBuf);

/// What remap means for one request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Not asked for: keys and outputs as without remap.
    Off,
    On(Root),
    /// Asked for but impossible here; behaves as `Off`.
    Fallback(RemapFallback),
}

/// Reads `ZCCACHE_PATH_REMAP` and `ZCCACHE_WORKTREE_ROOT` from the
/// request's environment; without an explicit root, the nearest directory
/// at or above `cwd` holding `.git` (a directory in a clone, a file in a
/// `git worktree`) is the root.
pub(crate) fn decide(env: &BTreeMap<Vec<u8>, Vec<u8>>, cwd: &Path) -> Decision {
    match env.get(&b"ZCCACHE_PATH_REMAP"[..]).map(Vec::as_slice) {
        None | Some(b"" | b"0" | b"off" | b"no" | b"false") => return Decision::Off,
        Some(b"auto" | b"1" | b"on") => {}
        Some(_) => return Decision::Fallback(RemapFallback::BadPathRemapSetting),
    }
    let root = match env.get(&b"ZCCACHE_WORKTREE_ROOT"[..]) {
        Some(r) if !r.is_empty() => {
            let p = normalize(Path::new(OsStr::from_bytes(r)));
            if !p.is_absolute() {
                return Decision::Fallback(RemapFallback::RelativeWorktreeRoot);
            }
            p
        }
        _ => match find_git_root(cwd) {
            Some(p) => p,
            None => return Decision::Fallback(RemapFallback::NoWorktreeRoot),
        },
    };
    if root.parent().is_none() {
        return Decision::Fallback(RemapFallback::WorktreeRootIsSlash);
    }
    if !cwd.starts_with(&root) {
        return Decision::Fallback(RemapFallback::CwdOutsideRoot);
    }
    if !root
        .as_os_str()
        .as_bytes()
        .iter()
        .all(|b| is_plain_path_byte(*b))
    {
        return Decision::Fallback(RemapFallback::UnsafeRootPath);
    }
    Decision::On(Root(root))
}

/// A byte no compiler escapes in what it writes (a depfile's `\ `, `$$`,
/// `\#`; a JSON diagnostic's `\"`, `\\`) and no prefix-map option splits at
/// (`=`). A root spelled only with these is found in every text as its
/// bytes, so the one text rewrite sees every mention of it, for C and Rust
/// alike; any other root is refused up front (`unsafe_root_path`).
fn is_plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/._-+~@,".contains(&b) || b >= 0x80
}

fn find_git_root(cwd: &Path) -> Option<PathBuf> {
    let mut dir = normalize(cwd);
    loop {
        if std::fs::symlink_metadata(dir.join(".git")).is_ok() {
            return Some(dir);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Lexical clean-up: no `.` components, no trailing slash. `..` is kept:
/// resolving it needs the file system, and a root spelled with it just
/// matches fewer paths.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

impl Root {
    #[cfg(test)]
    pub(crate) fn new(p: &str) -> Root {
        Root(PathBuf::from(p))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_os_str().as_bytes()
    }

    /// `p` root-free when it is the root or under it, else unchanged.
    pub(crate) fn tokenize<'a>(&self, p: &'a [u8]) -> Cow<'a, [u8]> {
        let r = self.bytes();
        match p.strip_prefix(r) {
            Some(rest) if rest.is_empty() || rest[0] == b'/' => {
                let mut out = TOKEN.to_vec();
                out.extend_from_slice(rest);
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(p),
        }
    }

    /// Every occurrence of the root in `text` that starts and ends at a path
    /// boundary (not inside a longer path),
    /// tokenized; `None` when `text` already holds the token (it could not
    /// be told apart on the way back).
    pub(crate) fn tokenize_text(&self, text: &[u8]) -> Option<Vec<u8>> {
        if find(text, TOKEN, 0).is_some() {
            return None;
        }
        let r = self.bytes();
        let mut out = Vec::with_capacity(text.len());
        let mut at = 0;
        while let Some(i) = find(text, r, at) {
            let end = i + r.len();
            let starts = i == 0 || at_boundary(Some(text[i - 1])) && text[i - 1] != b'/';
            if starts && at_boundary(text.get(end).copied()) {
                out.extend_from_slice(&text[at..i]);
                out.extend_from_slice(TOKEN);
            } else {
                out.extend_from_slice(&text[at..end]);
            }
            at = end;
        }
        out.extend_from_slice(&text[at..]);
        Some(out)
    }

    /// Whether `bytes` holds the root's bytes continued by a name byte, as
    /// in `/w/ab` for the root `/w/a`: the compilers' prefix maps match
    /// strings, not path components, so they would rewrite that path too.
    pub(crate) fn sibling_in(&self, bytes: &[u8]) -> bool {
        let r = self.bytes();
        let mut at = 0;
        while let Some(i) = find(bytes, r, at) {
            let end = i + r.len();
            if !at_boundary(bytes.get(end).copied()) {
                return true;
            }
            at = end;
        }
        false
    }

    /// [`Root::occurs_in`] over a file's contents.
    pub(crate) fn occurs_in_file(&self, path: &Path) -> std::io::Result<bool> {
        Ok(self.occurs_in(&std::fs::read(path)?))
    }

    /// Whether the root's bytes appear anywhere in `bytes` (an output that
    /// embeds them cannot be served to another root).
    pub(crate) fn occurs_in(&self, bytes: &[u8]) -> bool {
        find(bytes, self.bytes(), 0).is_some()
    }
}

/// `p` root-free when remap is on (`root`) and it lies under the root.
pub(crate) fn root_free<'a>(root: Option<&Root>, p: &'a [u8]) -> Cow<'a, [u8]> {
    match root {
        Some(r) => r.tokenize(p),
        None => Cow::Borrowed(p),
    }
}

/// `text` with the root tokenized wherever it starts a path (as
/// [`Root::tokenize_text`]); unchanged without remap, or when it already
/// holds the token.
pub(crate) fn text_free<'a>(root: Option<&Root>, text: &'a [u8]) -> Cow<'a, [u8]> {
    match root.and_then(|r| r.tokenize_text(text)) {
        Some(t) => Cow::Owned(t),
        None => Cow::Borrowed(text),
    }
}

/// A root-free path for `root`; `None` when it needs a root and there is
/// none.
pub(crate) fn expand<'a>(p: &'a [u8], root: Option<&Root>) -> Option<Cow<'a, [u8]>> {
    match p.strip_prefix(TOKEN) {
        None => Some(Cow::Borrowed(p)),
        Some(rest) => {
            let mut out = root?.bytes().to_vec();
            out.extend_from_slice(rest);
            Some(Cow::Owned(out))
        }
    }
}

/// Text with every token replaced by `root` (unchanged without tokens).
pub(crate) fn expand_text<'a>(text: &'a [u8], root: Option<&Root>) -> Cow<'a, [u8]> {
    let Some(root) = root else {
        return Cow::Borrowed(text);
    };
    if find(text, TOKEN, 0).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 64);
    let mut at = 0;
    while let Some(i) = find(text, TOKEN, at) {
        out.extend_from_slice(&text[at..i]);
        out.extend_from_slice(root.bytes());
        at = i + TOKEN.len();
    }
    out.extend_from_slice(&text[at..]);
    Cow::Owned(out)
}

/// A path continues with a name byte; anything else ends it.
fn at_boundary(next: Option<u8>) -> bool {
    !matches!(next, Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'~'))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay[i..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn decide_reads_the_setting_and_finds_the_git_root() {
        let tmp = std::env::temp_dir().join(format!("zcc-remap-{}", std::process::id()));
        let sub = tmp.join("wt/src/deep");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(tmp.join("wt/.git"), "gitdir: /x\n").unwrap();
        assert_eq!(decide(&env(&[]), &sub), Decision::Off);
        assert_eq!(
            decide(&env(&[("ZCCACHE_PATH_REMAP", "off")]), &sub),
            Decision::Off
        );
        assert_eq!(
            decide(&env(&[("ZCCACHE_PATH_REMAP", "auto")]), &sub),
            Decision::On(Root(tmp.join("wt")))
        );
        assert_eq!(
            decide(
                &env(&[
                    ("ZCCACHE_PATH_REMAP", "auto"),
                    (
                        "ZCCACHE_WORKTREE_ROOT",
                        tmp.join("wt/src/").to_str().unwrap()
                    )
                ]),
                &sub
            ),
            Decision::On(Root(tmp.join("wt/src")))
        );
        assert_eq!(
            decide(
                &env(&[
                    ("ZCCACHE_PATH_REMAP", "auto"),
                    ("ZCCACHE_WORKTREE_ROOT", "/elsewhere")
                ]),
                &sub
            ),
            Decision::Fallback(RemapFallback::CwdOutsideRoot)
        );
        for odd in ["/w/a b", "/w/a=b", "/w/a\\b", "/w/a\"b", "/w/a$b", "/w/a#b"] {
            assert_eq!(
                decide(
                    &env(&[
                        ("ZCCACHE_PATH_REMAP", "auto"),
                        ("ZCCACHE_WORKTREE_ROOT", odd)
                    ]),
                    &Path::new(odd).join("src")
                ),
                Decision::Fallback(RemapFallback::UnsafeRootPath),
                "{odd}"
            );
        }
        assert_eq!(
            decide(&env(&[("ZCCACHE_PATH_REMAP", "maybe")]), &sub),
            Decision::Fallback(RemapFallback::BadPathRemapSetting)
        );
        assert_eq!(
            decide(
                &env(&[("ZCCACHE_PATH_REMAP", "auto")]),
                Path::new("/proc/self")
            ),
            Decision::Fallback(RemapFallback::NoWorktreeRoot)
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn paths_tokenize_only_under_the_root_and_come_back() {
        let r = Root::new("/w/a");
        #[track_caller]
        fn check(r: &Root, p: &str, want: &[u8]) {
            assert_eq!(&*r.tokenize(p.as_bytes()), want, "{p}");
            assert_eq!(
                &*expand(&r.tokenize(p.as_bytes()), Some(r)).unwrap(),
                p.as_bytes()
            );
        }
        check(&r, "/w/a/src/x.h", b"\0R/src/x.h");
        check(&r, "/w/a", b"\0R");
        check(&r, "/w/ab/x.h", b"/w/ab/x.h");
        check(&r, "rel/x.h", b"rel/x.h");
        assert_eq!(
            &*expand(b"\0R/x.h", Some(&Root::new("/w/b"))).unwrap(),
            b"/w/b/x.h"
        );
        assert_eq!(expand(b"\0R/x.h", None), None);
    }

    #[test]
    fn text_tokenizes_at_path_boundaries() {
        let r = Root::new("/w/a");
        let text = b"/w/a/src/x.c:1: warning\nIn /w/a: see /w/ab/y.c and '/w/a'\n";
        let tok = r.tokenize_text(text).unwrap();
        assert_eq!(
            tok,
            b"\0R/src/x.c:1: warning\nIn \0R: see /w/ab/y.c and '\0R'\n".to_vec()
        );
        assert_eq!(&*expand_text(&tok, Some(&r)), &text[..]);
        assert_eq!(
            &*expand_text(&tok, Some(&Root::new("/v/b"))),
            &b"/v/b/src/x.c:1: warning\nIn /v/b: see /w/ab/y.c and '/v/b'\n"[..]
        );
        assert_eq!(r.tokenize_text(b"odd \0R text"), None);
        let inside = b"/v/w/a/x.c and x/w/a/y and .w/a";
        assert_eq!(r.tokenize_text(inside).unwrap(), inside.to_vec());
        assert!(r.sibling_in(b"-I/w/ab/inc"));
        assert!(r.sibling_in(b"/w/a/x /w/a_old/y"));
        assert!(!r.sibling_in(b"-I/w/a/inc /w/a: /w/a"));
        assert!(r.occurs_in(b"xx/w/a/yy"));
        assert!(!r.occurs_in(b"xx/w/b/yy"));
    }
}
