//! Response files (`@file`): recursive expansion with each family's own tokenizer.
//!
//! The only I/O of the classifier goes through [`FileReader`], so tests supply file
//! contents from memory. Nothing here interprets flags: a `-include@x` stays as it is
//! because it does not start with `@`, while a separate value such as the `@x` in
//! `-o @x` is expanded, since gcc and clang expand every argv element starting with
//! `@` before parsing options.
//!
//! - gcc (libiberty `expandargv`/`buildargv`): whitespace separates; `'…'` and `"…"`
//!   quote; a backslash escapes the next byte everywhere, inside quotes too; `''` is an
//!   empty argument; a file that cannot be read leaves the argument as it is; nested
//!   names are relative to cwd.
//! - clang (LLVM `TokenizeGNUCommandLine`): the same, except that empty arguments are
//!   dropped, only space, tab, CR and LF separate, and a trailing backslash is kept.
//! - emcc (Python `shlex.split`, one level): backslash is literal inside `'…'` and
//!   escapes only `"` and `\` inside `"…"`; a missing file or an unbalanced quote is an
//!   error, so the call passes through; a nested `@file` would be handed on to clang
//!   unexpanded, which we do not model.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::{Family, Passthrough, Reason};

/// Nesting limit; deeper nesting passes through.
pub(crate) const MAX_DEPTH: usize = 10;

/// Reads a response file. Production code uses [`FsReader`]; tests use a map.
pub(crate) trait FileReader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
}

/// [`FileReader`] over `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FsReader;

impl FileReader for FsReader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// Replaces every `@file` argument by the arguments it holds, recursively.
///
/// Key on the result, but run the compiler with the original argv. `cwd` is the
/// compiler's working directory: relative response-file names resolve against it, at
/// every nesting level, as both gcc and clang do.
pub(crate) fn expand_response_files(
    family: Family,
    args: &[OsString],
    cwd: &Path,
    reader: &dyn FileReader,
) -> Result<Vec<OsString>, Passthrough> {
    let mut out = Vec::with_capacity(args.len());
    match family {
        Family::Gcc | Family::Clang => {
            let mut stack = Vec::new();
            expand_gnu(family, args, cwd, reader, &mut stack, &mut out)?;
        }
        Family::Emcc => expand_emcc(args, cwd, reader, &mut out)?,
    }
    Ok(out)
}

fn expand_gnu(
    family: Family,
    args: &[OsString],
    cwd: &Path,
    reader: &dyn FileReader,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<OsString>,
) -> Result<(), Passthrough> {
    for arg in args {
        let Some(name) = response_file_name(arg) else {
            out.push(arg.clone());
            continue;
        };
        let path = normalize(&cwd.join(name));
        if stack.contains(&path) {
            return Err(Passthrough::new(
                Reason::BadCompilerArguments,
                format!("response file {} includes itself", path.display()),
            ));
        }
        let Ok(bytes) = reader.read(&path) else {
            // gcc and clang both keep an unreadable @file as a literal argument.
            out.push(arg.clone());
            continue;
        };
        if stack.len() == MAX_DEPTH {
            return Err(Passthrough::new(
                Reason::BadCompilerArguments,
                format!("response files nested deeper than {MAX_DEPTH}"),
            ));
        }
        let words = match family {
            Family::Clang => tokenize_llvm(strip_utf8_bom(&bytes)),
            _ => tokenize_libiberty(&bytes),
        };
        let words = words
            .into_iter()
            .map(os_from_bytes)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                Passthrough::new(
                    Reason::BadCompilerArguments,
                    "response file is not valid text",
                )
            })?;
        stack.push(path);
        expand_gnu(family, &words, cwd, reader, stack, out)?;
        stack.pop();
    }
    Ok(())
}

fn expand_emcc(
    args: &[OsString],
    cwd: &Path,
    reader: &dyn FileReader,
    out: &mut Vec<OsString>,
) -> Result<(), Passthrough> {
    for arg in args {
        let Some(name) = response_file_name(arg) else {
            out.push(arg.clone());
            continue;
        };
        let bytes = reader.read(&cwd.join(name)).map_err(|_| {
            Passthrough::new(
                Reason::BadCompilerArguments,
                format!("emcc response file {} unreadable", arg.to_string_lossy()),
            )
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Passthrough::new(
                Reason::BadCompilerArguments,
                "emcc response file is not UTF-8",
            )
        })?;
        let words = shlex_split(&text).map_err(|e| {
            Passthrough::new(
                Reason::BadCompilerArguments,
                format!("emcc response file: {e}"),
            )
        })?;
        for word in words {
            if word.starts_with('@') {
                return Err(Passthrough::new(
                    Reason::UnsupportedCompilerOption,
                    format!("nested response file {word} under emcc"),
                ));
            }
            out.push(word.into());
        }
    }
    Ok(())
}

/// The file name of an `@file` argument.
fn response_file_name(arg: &OsString) -> Option<&Path> {
    let bytes = arg.as_encoded_bytes();
    if bytes.len() < 2 || bytes[0] != b'@' {
        return None;
    }
    Some(Path::new(super::names::tail_after(arg, 1)))
}

/// Lexical normalization for cycle detection only (`./a` and `a` are one file).
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn strip_utf8_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

#[cfg(unix)]
fn os_from_bytes(bytes: Vec<u8>) -> Option<OsString> {
    use std::os::unix::ffi::OsStringExt;
    Some(OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn os_from_bytes(bytes: Vec<u8>) -> Option<OsString> {
    String::from_utf8(bytes).ok().map(OsString::from)
}

/// libiberty `buildargv`, as used by gcc's `expandargv`.
pub(super) fn tokenize_libiberty(input: &[u8]) -> Vec<Vec<u8>> {
    // buildargv works on a NUL-terminated buffer.
    let input = input.split(|&b| b == 0).next().unwrap_or_default();
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut words = Vec::new();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while *i < input.len() && is_space(input[*i]) {
            *i += 1;
        }
    };
    skip(&mut i);
    while i < input.len() {
        let mut word = Vec::new();
        let (mut squote, mut dquote, mut escaped) = (false, false, false);
        while i < input.len() {
            let c = input[i];
            if is_space(c) && !squote && !dquote && !escaped {
                break;
            }
            if escaped {
                escaped = false;
                word.push(c);
            } else if c == b'\\' {
                escaped = true;
            } else if squote {
                if c == b'\'' {
                    squote = false;
                } else {
                    word.push(c);
                }
            } else if dquote {
                if c == b'"' {
                    dquote = false;
                } else {
                    word.push(c);
                }
            } else if c == b'\'' {
                squote = true;
            } else if c == b'"' {
                dquote = true;
            } else {
                word.push(c);
            }
            i += 1;
        }
        words.push(word);
        skip(&mut i);
    }
    words
}

/// LLVM `cl::TokenizeGNUCommandLine`, as used by the clang driver.
pub(super) fn tokenize_llvm(src: &[u8]) -> Vec<Vec<u8>> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut words = Vec::new();
    let mut word = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if c == b'\\' && i + 1 < src.len() {
            word.push(src[i + 1]);
            i += 2;
            continue;
        }
        if c == b'\'' || c == b'"' {
            i += 1;
            while i < src.len() && src[i] != c {
                if src[i] == b'\\' && i + 1 < src.len() {
                    i += 1;
                }
                word.push(src[i]);
                i += 1;
            }
            // Skip the closing quote, if any.
            i += 1;
            continue;
        }
        if is_space(c) {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            i += 1;
            continue;
        }
        word.push(c);
        i += 1;
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Python's `shlex.split(text)` in POSIX mode without comments, after the universal
/// newline translation of a text-mode read. Used for emcc response files and
/// `EMCC_CFLAGS`.
pub(super) fn shlex_split(text: &str) -> Result<Vec<String>, &'static str> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.push(chars.next().ok_or("no escaped character")?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next().ok_or("no closing quotation")? {
                        '\'' => break,
                        other => word.push(other),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next().ok_or("no closing quotation")? {
                        '"' => break,
                        '\\' => match chars.next().ok_or("no closing quotation")? {
                            escaped @ ('"' | '\\') => word.push(escaped),
                            other => {
                                word.push('\\');
                                word.push(other);
                            }
                        },
                        other => word.push(other),
                    }
                }
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(words: Vec<Vec<u8>>) -> Vec<String> {
        words
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[track_caller]
    fn check(tokenizer: fn(&[u8]) -> Vec<Vec<u8>>, input: &str, expected: &[&str]) {
        assert_eq!(
            show(tokenizer(input.as_bytes())),
            expected,
            "input {input:?}"
        );
    }

    #[track_caller]
    fn check_shlex(input: &str, expected: Result<&[&str], &str>) {
        let got = shlex_split(input);
        let expected =
            expected.map(|words| words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn libiberty() {
        let t = tokenize_libiberty;
        check(t, "", &[]);
        check(t, "  \n\t ", &[]);
        check(t, "-c  a.c\n-o x.o\n", &["-c", "a.c", "-o", "x.o"]);
        check(
            t,
            r#"-DA='x y' -DB="p\\q" -DC='it\'s' -DD=a\ b"#,
            &["-DA=x y", r"-DB=p\q", "-DC=it's", "-DD=a b"],
        );
        check(t, "a '' b", &["a", "", "b"]);
        check(t, r#"x"y z"w"#, &["xy zw"]);
        check(t, "'unterminated rest", &["unterminated rest"]);
        check(t, "trailing\\", &["trailing"]);
        check(t, "a\x0bb\x0cc", &["a", "b", "c"]);
        check(t, "before\0after", &["before"]);
    }

    #[test]
    fn llvm() {
        let t = tokenize_llvm;
        check(t, "", &[]);
        check(
            t,
            r#"-DA='x y' -DB="p\\q" -DC='it\'s' -DD=a\ b"#,
            &["-DA=x y", r"-DB=p\q", "-DC=it's", "-DD=a b"],
        );
        check(t, "a '' b", &["a", "b"]);
        check(t, "trailing\\", &["trailing\\"]);
        check(t, "a\x0bb", &["a\x0bb"]);
    }

    #[test]
    fn shlex() {
        check_shlex("-I\"inc dir\" -DX=1", Ok(&["-Iinc dir", "-DX=1"]));
        check_shlex(r"'a\b' c", Ok(&[r"a\b", "c"]));
        check_shlex(r#""q\"x\\y\z""#, Ok(&[r#"q"x\y\z"#]));
        check_shlex("a '' b", Ok(&["a", "", "b"]));
        check_shlex("'open", Err("no closing quotation"));
        check_shlex("end\\", Err("no escaped character"));
        check_shlex("\"cr\r\nlf\"", Ok(&["cr\nlf"]));
        check_shlex("#not-a-comment", Ok(&["#not-a-comment"]));
    }
}
