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

mod paste;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanResult {
    pub(crate) date: bool,
    pub(crate) time: bool,
    pub(crate) timestamp: bool,
    pub(crate) embeds: bool,
    /// Every `##` chain (`a ## b ## c`), as the pattern of what it can
    /// paste together.
    pub(crate) pastes: Vec<paste::Chain>,
    /// Tokens that are proper parts of a temporal name, two bytes or more
    /// (`__TI`, `ME__`, `__`, `TIME`), other than the fixed operands of a
    /// paste: what a paste could be handed to spell a name from.
    pub(crate) name_pieces: Vec<Vec<u8>>,
    /// Names probed with `__has_include`/`__has_include_next`.
    pub(crate) has_include: Vec<Vec<u8>>,
    /// A string names `date-time`, `everything` or `system-headers`: a
    /// diagnostic pragma could mute `-Wdate-time`, whose silence then
    /// proves nothing (`cc::date_time`).
    pub(crate) mutes_date_time: bool,
}

pub(crate) fn scan(src: &[u8]) -> ScanResult {
    let toks = tokens(src);
    let (pastes, fixed) = paste::chains(src, &toks);
    let mut r = ScanResult {
        pastes,
        ..ScanResult::default()
    };
    let mut k = 0;
    while k < toks.len() {
        let t = toks[k];
        k += 1;
        match t.kind {
            Kind::Str => {
                let text = t.text(src);
                r.embeds |= mentions_incbin(text);
                r.mutes_date_time |= [&b"date-time"[..], b"everything", b"system-headers"]
                    .iter()
                    .any(|w| text.windows(w.len()).any(|x| x == *w));
                continue;
            }
            Kind::Word => {}
            _ => continue,
        }
        let word = t.text(src);
        match word {
            b"__DATE__" => r.date = true,
            b"__TIME__" => r.time = true,
            b"__TIMESTAMP__" => r.timestamp = true,
            b".incbin" if !is_member_call(src, t.start, t.end) => r.embeds = true,
            b"#embed" => r.embeds = true,
            b"#" if toks.get(k).is_some_and(|n| n.text(src) == b"embed") => r.embeds = true,
            b"__has_include" | b"__has_include_next" => {
                if let Some((name, end)) = probe_name(src, t.end) {
                    r.has_include.push(name);
                    while toks.get(k).is_some_and(|n| n.start < end) {
                        k += 1;
                    }
                }
            }
            _ if is_name_piece(word)
                && !fixed.contains(&(k - 1))
                && !r.name_pieces.iter().any(|p| p == word) =>
            {
                r.name_pieces.push(word.to_vec());
            }
            _ => {}
        }
    }
    r
}

impl ScanResult {
    /// Whether a temporal macro could be formed by pasting, given what the
    /// whole include set (and the arguments) hold.
    pub(crate) fn could_paste_temporal(all: &[&ScanResult]) -> bool {
        let chains: Vec<&paste::Chain> = all.iter().flat_map(|s| s.pastes.iter()).collect();
        let pieces: Vec<&[u8]> = all
            .iter()
            .flat_map(|s| s.name_pieces.iter().map(Vec::as_slice))
            .collect();
        paste::could_spell_a_name(&chains, pieces)
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

/// What the scan sees of a file: words, pastes, string contents and the
/// ends of logical lines; comments and character literals are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An identifier, or one led by `#` (`#embed`, a stringized
    /// parameter) or `.` (`.incbin`).
    Word,
    /// A pp-number (`0x1f`, `1e5`): never a macro name.
    Number,
    /// `##`.
    Paste,
    /// The inside of a `"…"` literal.
    Str,
    /// A `'…'` literal.
    Char,
    /// A newline that is not escaped: the end of a directive.
    Eol,
    /// Any other byte.
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Token {
    fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        &src[self.start..self.end]
    }
}

fn tokens(src: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let n = src.len();
    let mut i = 0;
    let is_ident = |c: u8| c == b'_' || c.is_ascii_alphanumeric();
    while i < n {
        let c = src[i];
        let start = i;
        let kind = if c == b'/' && src.get(i + 1) == Some(&b'/') {
            while i < n && src[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c == b'/' && src.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < n && !(src[i] == b'*' && src[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
            continue;
        } else if c == b'"' || c == b'\'' {
            i += 1;
            while i < n && src[i] != c && src[i] != b'\n' {
                if src[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            let end = i.min(n);
            i += 1;
            if c == b'"' {
                out.push(Token {
                    kind: Kind::Str,
                    start: start + 1,
                    end,
                });
                continue;
            }
            Kind::Char
        } else if c == b'#' && src.get(i + 1) == Some(&b'#') {
            i += 2;
            Kind::Paste
        } else if c == b'_' || c == b'#' || c == b'.' || c.is_ascii_alphabetic() {
            i += 1;
            while i < n && is_ident(src[i]) {
                i += 1;
            }
            Kind::Word
        } else if c.is_ascii_digit() {
            while i < n && (is_ident(src[i]) || src[i] == b'.') {
                i += 1;
            }
            Kind::Number
        } else if c == b'\n' {
            i += 1;
            let escaped = src[..start].strip_suffix(b"\r").unwrap_or(&src[..start]);
            if escaped.ends_with(b"\\") {
                continue;
            }
            Kind::Eol
        } else {
            i += 1;
            if c.is_ascii_whitespace() {
                continue;
            }
            Kind::Punct
        };
        out.push(Token {
            kind,
            start,
            end: i.min(n),
        });
    }
    out
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

    fn pasted(files: &[&str]) -> bool {
        let scans: Vec<ScanResult> = files.iter().map(|f| scan(f.as_bytes())).collect();
        ScanResult::could_paste_temporal(&scans.iter().collect::<Vec<_>>())
    }

    #[test]
    fn pastes_and_name_pieces() {
        let r = scan(b"#define CAT(a, b) a ## b\nconst char *s = CAT(__TI, ME__);\n");
        assert!(!r.pastes.is_empty() && !r.time);
        assert!(ScanResult::could_paste_temporal(&[&r]));
        let r = scan(b"#define CAT(a,b) a##b\n");
        assert_eq!(r.pastes, [paste::Chain(vec![paste::Part::Param; 2])]);
        assert!(r.name_pieces.is_empty());
        for piece in [
            "__", "__TI", "ME__", "_DATE", "STAMP__", "__TIMES", "TIME", "STAMP",
        ] {
            assert_eq!(
                scan(piece.as_bytes()).name_pieces,
                [piece.as_bytes()],
                "{piece}"
            );
        }
        for other in ["_", "T", "__TIME__", "__DATE__X", "x__", "_t", "1__"] {
            assert!(scan(other.as_bytes()).name_pieces.is_empty(), "{other}");
        }
        assert!(scan(b"/* a ## b */ \"##\" // ##\n").pastes.is_empty());
        // Pieces from several files; a paste anywhere.
        assert!(pasted(&["a ## b", "__", "TIME"]));
        assert!(!pasted(&["__", "TIME"]), "no paste");
        assert!(!pasted(&["a ## b", "__", "__T"]), "math.h's __ and __T");
    }

    #[test]
    fn a_pastes_fixed_operands_are_where_it_can_put_them() {
        // glibc's cdefs.h pastes `__ ## f ## _alias`: whatever f is, the
        // result ends in `_alias`, and its `__` is no piece on its own.
        // With zlib's enum member TIME and glibc's __CONCAT, nothing can
        // spell __TIME__ (zlib's inflate.c was never stored).
        let cdefs = "#define __glibc_fortify(f, size, osize, ...) \\\n  (__ ## f ## _alias (__VA_ARGS__) \\\n   : __ ## f ## _chk (__VA_ARGS__, osize))\n#define __CONCAT(x,y)\tx ## y\n";
        let zlib = "typedef enum { HEAD, TIME, OS } inflate_mode;\n";
        assert!(scan(cdefs.as_bytes()).name_pieces.is_empty());
        assert!(!pasted(&[cdefs, zlib]));
        // A standalone __ anywhere makes __CONCAT able to spell it.
        assert!(pasted(&[cdefs, zlib, "int __;"]));
        // Fixed operands that spell a name by themselves.
        assert!(pasted(&["#define X __ ## TIME ## __\n"]));
        assert!(pasted(&["#  define X(a) a ## __\nX(__TIME)\n"]));
        assert!(pasted(&["#define V(...) __ ## __VA_ARGS__\nV(DATE__)\n"]));
        assert!(
            !pasted(&["#define X(a) a ## _t\nX(__TIME)\n"]),
            "ends in _t"
        );
        // A paste that makes a piece lends its fixed operands to the rest.
        let nested = "#define P(x) __ ## x\n#define CAT(a,b) a##b\nCAT(P(TI), ME__)\n";
        assert!(pasted(&[nested]));
        // The arguments hold no #define: every operand is what it is handed.
        assert!(pasted(&["-DCAT(a,b)=a##b\n-DX=CAT(__TI,ME__)"]));
        // A directive ends at an unescaped newline: b is no parameter there.
        assert!(pasted(&["#define F(b) b\n__TI ## b\nME__"]));
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
        for muting in [
            "#pragma GCC diagnostic ignored \"-Wdate-time\"",
            "_Pragma(\"clang diagnostic ignored \\\"-Weverything\\\"\")",
            "#pragma GCC diagnostic ignored \"-Wsystem-headers\"",
        ] {
            assert!(scan(muting.as_bytes()).mutes_date_time, "{muting}");
        }
        assert!(!scan(b"// -Wdate-time\nconst char *s = \"time\";").mutes_date_time);
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
