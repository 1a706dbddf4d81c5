//! Source scanning for things that make a compile depend on more than its
//! bytes: temporal macros (`__DATE__`, `__TIME__`, `__TIMESTAMP__`),
//! `__has_include` probes of headers that may appear later, and assembler
//! `.incbin`/`#embed`, which pull in files no depfile lists.
//!
//! Tokens inside comments and string or character literals do not count.
//! A temporal name can also be formed by `##` pasting (`CAT(__TI, ME__)`):
//! a file with a paste, or with a token that could be a pasted piece of a
//! name, says so, and the caller treats a paste anywhere plus a piece
//! anywhere as every temporal macro. Pieces made of a single `_` or of
//! letters alone (`CAT5(_,_,TIME,_,_)`) are not looked for: `_` is gettext's
//! macro and `TIME` an everyday name, and flagging them would leave most
//! programs uncached.
//!
//! Results are memoized by content digest by the caller; this module only
//! reads the bytes it is given.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanResult {
    pub(crate) date: bool,
    pub(crate) time: bool,
    pub(crate) timestamp: bool,
    pub(crate) embeds: bool,
    /// A `##` paste.
    pub(crate) paste: bool,
    /// A token that could be a pasted piece of a temporal name: a proper
    /// part of one holding an underscore (`__TI`, `ME__`, `__`).
    pub(crate) name_piece: bool,
    /// Names probed with `__has_include`/`__has_include_next`.
    pub(crate) has_include: Vec<Vec<u8>>,
}

pub(crate) fn scan(src: &[u8]) -> ScanResult {
    let mut r = ScanResult::default();
    let mut i = 0;
    let n = src.len();
    while i < n {
        let c = src[i];
        if c == b'/' && src.get(i + 1) == Some(&b'/') {
            while i < n && src[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && src.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < n && !(src[i] == b'*' && src[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'"' || c == b'\'' {
            i += 1;
            let start = i;
            while i < n && src[i] != c && src[i] != b'\n' {
                if src[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            // Inline assembly is a string: `__asm__(".incbin \"f\"")`.
            if c == b'"' && mentions_incbin(&src[start..i.min(n)]) {
                r.embeds = true;
            }
            i += 1;
        } else if c == b'_' || c == b'#' || c == b'.' || c.is_ascii_alphabetic() {
            let start = i;
            i += 1;
            while i < n && (src[i] == b'_' || src[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let word = &src[start..i];
            match word {
                b"__DATE__" => r.date = true,
                b"__TIME__" => r.time = true,
                b"__TIMESTAMP__" => r.timestamp = true,
                b"#" if src.get(i) == Some(&b'#') => {
                    r.paste = true;
                    i += 1;
                }
                b".incbin" | b"#embed" => r.embeds = true,
                b"__has_include" | b"__has_include_next" => {
                    if let Some((name, end)) = probe_name(src, i) {
                        r.has_include.push(name);
                        i = end;
                    }
                }
                b"#" => {
                    // `#  embed`: a directive name may follow blanks.
                    let mut j = i;
                    while j < n && (src[j] == b' ' || src[j] == b'\t') {
                        j += 1;
                    }
                    if src[j..].starts_with(b"embed")
                        && !src
                            .get(j + 5)
                            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    {
                        r.embeds = true;
                    }
                }
                _ => r.name_piece |= is_name_piece(word),
            }
        } else {
            i += 1;
        }
    }
    r
}

impl ScanResult {
    /// Whether a temporal macro could be formed by pasting, given what the
    /// whole include set (and the arguments) hold.
    pub(crate) fn could_paste_temporal(all: &[&ScanResult]) -> bool {
        all.iter().any(|s| s.paste) && all.iter().any(|s| s.name_piece)
    }
}

/// A proper part of `__DATE__`, `__TIME__` or `__TIMESTAMP__` with an
/// underscore in it, at least two bytes long.
fn is_name_piece(word: &[u8]) -> bool {
    const NAMES: [&[u8]; 3] = [b"__DATE__", b"__TIME__", b"__TIMESTAMP__"];
    word.len() >= 2
        && word.contains(&b'_')
        && NAMES
            .iter()
            .any(|n| n.len() > word.len() && n.windows(word.len()).any(|w| w == word))
}

/// Whether a string literal's text holds the `.incbin` directive.
fn mentions_incbin(text: &[u8]) -> bool {
    text.windows(7).enumerate().any(|(k, w)| {
        w == b".incbin"
            && !text
                .get(k + 7)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    })
}

/// After `__has_include`, read `( "name" )` or `( <name> )`.
fn probe_name(src: &[u8], mut i: usize) -> Option<(Vec<u8>, usize)> {
    let skip = |src: &[u8], mut i: usize| {
        while i < src.len() && src[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = skip(src, i);
    if src.get(i) != Some(&b'(') {
        return None;
    }
    i = skip(src, i + 1);
    let close = match src.get(i)? {
        b'"' => b'"',
        b'<' => b'>',
        _ => return None,
    };
    let start = i + 1;
    let len = src[start..]
        .iter()
        .position(|&c| c == close || c == b'\n')?;
    (src[start + len] == close).then(|| (src[start..start + len].to_vec(), start + len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(src: &str, date: bool, time: bool, stamp: bool, embeds: bool, probes: &[&str]) {
        let r = scan(src.as_bytes());
        assert_eq!(
            (r.date, r.time, r.timestamp, r.embeds),
            (date, time, stamp, embeds),
            "{src}"
        );
        let got: Vec<String> = r
            .has_include
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        assert_eq!(got, probes, "{src}");
    }

    #[test]
    fn pastes_and_name_pieces() {
        let r = scan(b"#define CAT(a, b) a ## b\nconst char *s = CAT(__TI, ME__);\n");
        assert!(r.paste && r.name_piece && !r.time);
        let r = scan(b"#define CAT(a,b) a##b\n");
        assert!(r.paste && !r.name_piece);
        for piece in ["__", "__TI", "ME__", "_DATE", "STAMP__", "__TIMES"] {
            assert!(scan(piece.as_bytes()).name_piece, "{piece}");
        }
        for other in [
            "_",
            "TIME",
            "T",
            "__TIME__",
            "__DATE__X",
            "x__",
            "_t",
            "STAMP",
        ] {
            assert!(!scan(other.as_bytes()).name_piece, "{other}");
        }
        assert!(!scan(b"/* a ## b */ \"##\" // ##\n").paste);
        let (a, b) = (scan(b"a ## b"), scan(b"__TI"));
        assert!(ScanResult::could_paste_temporal(&[&a, &b]));
        assert!(!ScanResult::could_paste_temporal(&[&a]));
    }

    #[test]
    fn tokens_outside_comments_and_strings_only() {
        check("const char *d = __DATE__;", true, false, false, false, &[]);
        check(
            "// __TIME__ in a comment\n",
            false,
            false,
            false,
            false,
            &[],
        );
        check(
            "/* __TIMESTAMP__ */ \"__DATE__\" '_'",
            false,
            false,
            false,
            false,
            &[],
        );
        check("x = __TIME__ ;", false, true, false, false, &[]);
        check("__TIMESTAMP__", false, false, true, false, &[]);
        check("int __DATE__X;", false, false, false, false, &[]);
        check(
            "// comment mentions #embed\n",
            false,
            false,
            false,
            false,
            &[],
        );
        check("#embed \"data.bin\"\n", false, false, false, true, &[]);
        check(".incbin \"blob\"\n", false, false, false, true, &[]);
        check(
            "__asm__(\".incbin \\\"blob\\\"\");",
            false,
            false,
            false,
            true,
            &[],
        );
        check(
            "const char *s = \"see .incbins\";",
            false,
            false,
            false,
            false,
            &[],
        );
        check(
            "#if __has_include(<foo.h>) && __has_include_next( \"bar/baz.h\" )\n#endif",
            false,
            false,
            false,
            false,
            &["foo.h", "bar/baz.h"],
        );
    }
}
