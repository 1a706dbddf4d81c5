//! What `Miss.strip_ansi` and colour-blind hit replay mean byte for byte: ANSI SGR colour sequences removed from compiler output, raw (`ESC [ … m`) and as JSON string escapes (`\u001b[ … m`); nothing else in the text is touched.
//!
//! Lives in the wire crate because the daemon (replaying a hit) and the
//! wrapper (showing a miss) must strip identically.

use std::borrow::Cow;

const RAW: &[u8] = b"\x1b[";
const JSON_LOWER: &[u8] = b"\\u001b[";
const JSON_UPPER: &[u8] = b"\\u001B[";

/// `text` without SGR sequences: an introducer, then parameter bytes
/// (`0-9`, `;`), then `m`. An introducer not followed by that shape is
/// kept as it is.
pub fn strip(text: &[u8]) -> Cow<'_, [u8]> {
    if !contains(text, RAW) && !contains(text, JSON_LOWER) && !contains(text, JSON_UPPER) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if let Some(len) = sgr_len(&text[i..]) {
            i += len;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Length of the SGR sequence starting `s`, if one does.
fn sgr_len(s: &[u8]) -> Option<usize> {
    let intro = [RAW, JSON_LOWER, JSON_UPPER]
        .into_iter()
        .find(|p| s.starts_with(p))?;
    let params = s[intro.len()..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    (s.get(intro.len() + params) == Some(&b'm')).then_some(intro.len() + params + 1)
}

fn contains(text: &[u8], needle: &[u8]) -> bool {
    text.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn strips_raw_and_json_escaped_sgr_only() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"plain\n", b"plain\n"),
            (
                b"\x1b[0m\x1b[1m\x1b[33mwarning\x1b[0m: x\n",
                b"warning: x\n",
            ),
            (
                br#"{"rendered":"\u001b[0m\u001b[1m\u001b[38;5;11mwarning\u001b[0m"}"#,
                br#"{"rendered":"warning"}"#,
            ),
            (br#""\u001B[1mX""#, br#""X""#),
            // Not SGR: kept.
            (b"\x1b[2Kline", b"\x1b[2Kline"),
            (b"ends in \x1b[", b"ends in \x1b["),
        ];
        for (input, want) in cases {
            assert_eq!(&*strip(input), want, "{}", String::from_utf8_lossy(input));
        }
    }
}
