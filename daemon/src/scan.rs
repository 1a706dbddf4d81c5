//! Source scanning for things that make a compile depend on more than its
//! bytes: temporal macros (`__DATE__`, `__TIME__`, `__TIMESTAMP__`),
//! `__has_include` probes of headers that may appear later, and assembler
//! `.incbin`/`#embed`, which pull in files no depfile lists.
//!
//! Tokens inside comments and string or character literals do not count.
//! A temporal name can also be formed by `##` pasting (`CAT(__TI, ME__)`):
//! a file says whether it pastes and which tokens it holds that are pieces
//! of a name, and the caller treats a paste anywhere plus pieces anywhere
//! that spell a whole name as every temporal macro. One-byte pieces (`_`,
//! `T`) are not counted: `_` is gettext's macro and `T` every template's
//! parameter, and glibc's `math.h` pastes with `__`, so counting them would
//! leave most programs uncached; a name pasted from single characters is
//! not detected.
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
    /// Tokens that are proper parts of a temporal name, two bytes or more
    /// (`__TI`, `ME__`, `__`, `TIME`): what a paste could spell one from.
    pub(crate) name_pieces: Vec<Vec<u8>>,
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
                b".incbin" if !is_member_call(src, start, i) => r.embeds = true,
                b"#embed" => r.embeds = true,
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
                _ if is_name_piece(word) && !r.name_pieces.iter().any(|p| p == word) => {
                    r.name_pieces.push(word.to_vec());
                }
                _ => {}
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
        if !all.iter().any(|s| s.paste) {
            return false;
        }
        let pieces: Vec<&[u8]> = all
            .iter()
            .flat_map(|s| s.name_pieces.iter().map(Vec::as_slice))
            .collect();
        NAMES.iter().any(|name| spelled_by(name, &pieces))
    }
}

const NAMES: [&[u8]; 3] = [b"__DATE__", b"__TIME__", b"__TIMESTAMP__"];

/// A proper part of a temporal name, at least two bytes long.
fn is_name_piece(word: &[u8]) -> bool {
    word.len() >= 2
        && NAMES
            .iter()
            .any(|n| n.len() > word.len() && n.windows(word.len()).any(|w| w == word))
}

/// Whether `name` is a concatenation of `pieces` (each usable again).
fn spelled_by(name: &[u8], pieces: &[&[u8]]) -> bool {
    // reach[i]: the first i bytes can be spelled.
    let mut reach = vec![false; name.len() + 1];
    reach[0] = true;
    for i in 0..name.len() {
        if !reach[i] {
            continue;
        }
        for p in pieces {
            if name[i..].starts_with(p) {
                reach[i + p.len()] = true;
            }
        }
    }
    reach[name.len()]
}

/// Whether the word `src[start..end]` (`.incbin`) is C++ calling a member
/// of that name (`obj.incbin(…)`): after an operand and before a `(`. The
/// assembler directive never sits there (it follows a line start, a label
/// or a `;`, and is followed by its operand), so a real one is never
/// missed.
fn is_member_call(src: &[u8], start: usize, end: usize) -> bool {
    let before = src[..start]
        .iter()
        .rev()
        .find(|b| !matches!(b, b' ' | b'\t'));
    let after = src[end..].iter().find(|b| !matches!(b, b' ' | b'\t'));
    let operand =
        before.is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b')' | b']'));
    operand && after == Some(&b'(')
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
        assert!(r.paste && !r.time);
        assert!(ScanResult::could_paste_temporal(&[&r]));
        let r = scan(b"#define CAT(a,b) a##b\n");
        assert!(r.paste && r.name_pieces.is_empty());
        for piece in [
            "__", "__TI", "ME__", "_DATE", "STAMP__", "__TIMES", "TIME", "STAMP",
        ] {
            assert_eq!(
                scan(piece.as_bytes()).name_pieces,
                [piece.as_bytes()],
                "{piece}"
            );
        }
        for other in ["_", "T", "__TIME__", "__DATE__X", "x__", "_t"] {
            assert!(scan(other.as_bytes()).name_pieces.is_empty(), "{other}");
        }
        assert!(!scan(b"/* a ## b */ \"##\" // ##\n").paste);
        // Pieces from several files; a paste anywhere.
        let (paste, a, b, c) = (scan(b"a ## b"), scan(b"__"), scan(b"TIME"), scan(b"__T"));
        assert!(ScanResult::could_paste_temporal(&[&paste, &a, &b]));
        assert!(!ScanResult::could_paste_temporal(&[&a, &b]), "no paste");
        assert!(
            !ScanResult::could_paste_temporal(&[&paste, &a, &c]),
            "math.h's __ and __T"
        );
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
        check("blob: .incbin \"blob\"\n", false, false, false, true, &[]);
        check("\t.incbin\t\"blob\", 4\n", false, false, false, true, &[]);
        // C++ calling a member named incbin pulls in no file.
        check("r = obj.incbin(4);\n", false, false, false, false, &[]);
        check("r = get().incbin (4);\n", false, false, false, false, &[]);
        check("r = a[1].incbin(4);\n", false, false, false, false, &[]);
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
