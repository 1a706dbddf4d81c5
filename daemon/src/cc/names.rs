//! Path-name arithmetic the compilers do: basenames, suffix stripping, derived output
//! names and make quoting of depfile targets.
//!
//! Purely lexical, on encoded bytes; it never touches the file system. All splits
//! happen next to ASCII bytes, which keeps every piece a valid `OsStr`.

use std::ffi::{OsStr, OsString};

/// `s[start..end]`, where each boundary is an end of `s` or next to an ASCII byte.
fn slice(s: &OsStr, start: usize, end: usize) -> &OsStr {
    checked_slice(s, start, end).expect("split point must be next to an ASCII byte")
}

/// `s[start..end]` if each boundary is an end of `s` or next to an ASCII byte.
fn checked_slice(s: &OsStr, start: usize, end: usize) -> Option<&OsStr> {
    let bytes = s.as_encoded_bytes();
    let valid =
        |i: usize| i == 0 || i == bytes.len() || bytes[i - 1].is_ascii() || bytes[i].is_ascii();
    if start > end || end > bytes.len() || !valid(start) || !valid(end) {
        return None;
    }
    // SAFETY: the bytes come from an `OsStr` and both boundaries are at its ends or
    // immediately before or after an ASCII (hence valid UTF-8) byte, which the
    // encoding allows.
    Some(unsafe { OsStr::from_encoded_bytes_unchecked(&bytes[start..end]) })
}

/// The part of `s` after its first `len` bytes, if that is a clean split point.
pub(super) fn checked_tail_after(s: &OsStr, len: usize) -> Option<&OsStr> {
    checked_slice(s, len, s.len())
}

/// The part of `s` after its first `len` bytes.
pub(super) fn tail_after(s: &OsStr, len: usize) -> &OsStr {
    slice(s, len, s.len())
}

/// The first `len` bytes of `s`.
pub(super) fn head_before(s: &OsStr, len: usize) -> &OsStr {
    slice(s, 0, len)
}

/// Splits at the first `sep` (an ASCII byte): `"a=b=c"` gives `("a", "b=c")`.
pub(super) fn split_once(s: &OsStr, sep: u8) -> Option<(&OsStr, &OsStr)> {
    debug_assert!(sep.is_ascii());
    let at = s.as_encoded_bytes().iter().position(|&b| b == sep)?;
    Some((head_before(s, at), tail_after(s, at + 1)))
}

fn is_separator(b: u8) -> bool {
    b == b'/' || (cfg!(windows) && b == b'\\')
}

/// Byte offset where the file name starts.
fn basename_start(path: &OsStr) -> usize {
    let bytes = path.as_encoded_bytes();
    bytes
        .iter()
        .rposition(|&b| is_separator(b))
        .map_or(0, |i| i + 1)
}

pub(super) fn basename(path: &OsStr) -> &OsStr {
    tail_after(path, basename_start(path))
}

/// Offset of the last `.` in the file name, if any.
fn last_dot_in_name(path: &OsStr) -> Option<usize> {
    let start = basename_start(path);
    let bytes = path.as_encoded_bytes();
    bytes[start..]
        .iter()
        .rposition(|&b| b == b'.')
        .map(|i| start + i)
}

/// The extension as gcc sees it: after the last `.` of the file name, unless that dot
/// starts the name. `foo.` has the empty extension, `.c` and `foo` have none.
pub(super) fn extension(path: &OsStr) -> Option<&OsStr> {
    let dot = last_dot_in_name(path)?;
    if dot == basename_start(path) {
        return None;
    }
    Some(tail_after(path, dot + 1))
}

/// A file name that starts with `.` and has no other dot (`.c`, `.hid`). gcc and clang
/// disagree about its stem, so such names are not handled.
pub(super) fn is_bare_dotfile(path: &OsStr) -> bool {
    let name = basename(path).as_encoded_bytes();
    name.first() == Some(&b'.') && !name[1..].contains(&b'.')
}

/// gcc's `%b`: the file name without directory and without the suffix starting at
/// its last dot (a leading dot is not a suffix). `src/foo.c.c` gives `foo.c`.
pub(super) fn stem(path: &OsStr) -> &OsStr {
    let name = basename(path);
    match last_dot_in_name(name) {
        Some(dot) if dot > 0 => head_before(name, dot),
        _ => name,
    }
}

/// `path` with the suffix of its file name replaced: gcc's `%.d%*` applied to `-o`,
/// and clang's `replace_extension`. `out/x.o` gives `out/x.d`; `out/noext` gives
/// `out/noext.d`. Callers rule out bare dotfiles, where the two compilers differ.
pub(super) fn with_suffix(path: &OsStr, suffix: &str) -> OsString {
    let kept = match last_dot_in_name(path) {
        Some(dot) if dot > basename_start(path) => head_before(path, dot),
        _ => path,
    };
    let mut out = kept.to_os_string();
    out.push(suffix);
    out
}

/// The name the driver derives in cwd for a source: `src/foo.c` with `.o` gives `foo.o`.
pub(super) fn derived(source: &OsStr, suffix: &str) -> OsString {
    let mut out = stem(source).to_os_string();
    out.push(suffix);
    out
}

/// Quotes a depfile target the way gcc's `munge` and clang's `QuoteTarget` do: `$`
/// doubled, `#` escaped, and a space or tab escaped together with the backslashes just
/// before it (GNU make's rule for backslashes in front of whitespace).
pub(super) fn make_quote(target: &OsStr) -> OsString {
    let bytes = target.as_encoded_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut slashes = 0usize;
    for &b in bytes {
        match b {
            b'\\' => slashes += 1,
            b'$' => {
                out.push(b'$');
                slashes = 0;
            }
            b' ' | b'\t' => {
                out.resize(out.len() + slashes + 1, b'\\');
                slashes = 0;
            }
            b'#' => {
                out.push(b'\\');
                slashes = 0;
            }
            _ => slashes = 0,
        }
        out.push(b);
    }
    // SAFETY: only ASCII bytes were inserted, each next to an ASCII byte of a valid
    // encoded `OsStr`, so every original boundary is still a valid split point.
    unsafe { OsString::from_encoded_bytes_unchecked(out) }
}

pub(super) fn is_dev_null(path: &OsStr) -> bool {
    path == "/dev/null"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(f: fn(&OsStr) -> String, input: &str, expected: &str) {
        assert_eq!(f(OsStr::new(input)), expected, "input {input:?}");
    }

    fn show_stem(p: &OsStr) -> String {
        stem(p).to_string_lossy().into_owned()
    }
    fn show_ext(p: &OsStr) -> String {
        extension(p).map_or("<none>".to_owned(), |e| e.to_string_lossy().into_owned())
    }
    fn show_d(p: &OsStr) -> String {
        with_suffix(p, ".d").to_string_lossy().into_owned()
    }
    fn show_quote(p: &OsStr) -> String {
        make_quote(p).to_string_lossy().into_owned()
    }

    #[test]
    fn stems() {
        check(show_stem, "src/foo.c.c", "foo.c");
        check(show_stem, "foo.", "foo");
        check(show_stem, "src/foo", "foo");
        check(show_stem, ".hid.c", ".hid");
        check(show_stem, "a.b/c", "c");
    }

    #[test]
    fn extensions() {
        check(show_ext, "t.c", "c");
        check(show_ext, "foo.", "");
        check(show_ext, "foo", "<none>");
        check(show_ext, ".c", "<none>");
        check(show_ext, "dir.x/foo", "<none>");
        check(show_ext, "a/b.tar.gz", "gz");
    }

    #[test]
    fn suffix_replacement() {
        check(show_d, "out/x.o", "out/x.d");
        check(show_d, "out.dir/noext", "out.dir/noext.d");
        check(show_d, "a.b.o", "a.b.d");
        check(show_d, "foo.", "foo.d");
        check(show_d, "/dev/null", "/dev/null.d");
    }

    #[test]
    fn quoting() {
        check(show_quote, "plain.o", "plain.o");
        check(show_quote, "a$b#c d", "a$$b\\#c\\ d");
        check(show_quote, "x\\ y", "x\\\\\\ y");
        check(show_quote, "x\\y", "x\\y");
        check(show_quote, "tab\there", "tab\\\there");
    }
}
