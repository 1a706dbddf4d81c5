//! Whether `##` pasting could form a temporal macro name: each `##` chain
//! is a pattern of fixed operands and parameters, and a name counts as
//! possibly formed when some chain, its parameters filled with pieces the
//! include set holds, spells it. It does not expand macros: a piece that
//! only a paste makes is accounted for by lending that chain's fixed
//! operands to every other chain, which over-approximates and never
//! under-approximates. One-byte pieces are not counted (see the parent
//! module).

use super::{is_name_piece, Kind, Token, NAMES};

/// One operand of a `##` chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Pasted as written: a word of the macro's body that is not one of
    /// its parameters, or any other token.
    Fixed(Vec<u8>),
    /// A parameter (or `__VA_ARGS__`, or an operand outside any
    /// `#define`, such as the arguments' `-DCAT(a,b)=a##b`): whatever a
    /// caller hands it.
    Param,
}

/// `a ## b ## c`: what the paste concatenates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chain(pub(crate) Vec<Part>);

/// The chains of a file, and the indices of the tokens that are fixed
/// operands of one (never a piece on their own).
pub(super) fn chains(src: &[u8], toks: &[Token]) -> (Vec<Chain>, Vec<usize>) {
    let mut out: Vec<Chain> = Vec::new();
    let mut fixed = Vec::new();
    let mut params: Option<Vec<&[u8]>> = None;
    let mut k = 0;
    while k < toks.len() {
        match toks[k].kind {
            Kind::Eol => params = None,
            Kind::Word if params.is_none() && opens_define(src, toks, k) => {
                let (ps, body) = define_header(src, toks, k);
                params = Some(ps);
                k = body;
                continue;
            }
            _ => {}
        }
        let starts_chain = toks.get(k + 1).is_some_and(|t| t.kind == Kind::Paste)
            && (k == 0 || toks[k - 1].kind != Kind::Paste);
        if !starts_chain {
            k += 1;
            continue;
        }
        let mut parts = Vec::new();
        let mut j = k;
        loop {
            let part = operand(src, &toks[j], params.as_deref());
            if matches!(part, Part::Fixed(_)) {
                fixed.push(j);
            }
            parts.push(part);
            let next = j + 2;
            if toks.get(j + 1).is_some_and(|t| t.kind == Kind::Paste)
                && toks.get(next).is_some_and(|t| t.kind != Kind::Eol)
            {
                j = next;
            } else {
                break;
            }
        }
        let chain = Chain(parts);
        if !out.contains(&chain) {
            out.push(chain);
        }
        k = j + 1;
    }
    (out, fixed)
}

/// `#define` or `# define` where a line starts.
fn opens_define(src: &[u8], toks: &[Token], k: usize) -> bool {
    let line_start = k == 0 || toks[k - 1].kind == Kind::Eol;
    let text = toks[k].text(src);
    line_start
        && (text == b"#define"
            || (text == b"#" && toks.get(k + 1).is_some_and(|t| t.text(src) == b"define")))
}

/// From the `#define` at `k`: the macro's parameters (none for an
/// object-like macro) and the index of its body's first token.
fn define_header<'a>(src: &'a [u8], toks: &[Token], k: usize) -> (Vec<&'a [u8]>, usize) {
    let name = if toks[k].text(src) == b"#" {
        k + 2
    } else {
        k + 1
    };
    let Some(name_tok) = toks.get(name) else {
        return (Vec::new(), name);
    };
    let function_like = toks
        .get(name + 1)
        .is_some_and(|t| t.text(src) == b"(" && t.start == name_tok.end);
    if !function_like {
        return (Vec::new(), name + 1);
    }
    let mut params = Vec::new();
    let mut j = name + 2;
    while let Some(t) = toks.get(j) {
        j += 1;
        match (t.kind, t.text(src)) {
            (Kind::Punct, b")") | (Kind::Eol, _) => break,
            (Kind::Word, b".") => params.push(&b"__VA_ARGS__"[..]),
            (Kind::Word, w) => params.push(w),
            _ => {}
        }
    }
    (params, j)
}

fn operand(src: &[u8], t: &Token, params: Option<&[&[u8]]>) -> Part {
    let text = t.text(src);
    let is_param = |ps: &[&[u8]]| text == b"__VA_ARGS__" || ps.contains(&text);
    match (t.kind, params) {
        (Kind::Word, None) => Part::Param,
        (Kind::Word, Some(ps)) if is_param(ps) => Part::Param,
        _ => Part::Fixed(text.to_vec()),
    }
}

impl Chain {
    /// Whether the chain can spell `target` with each parameter filled by
    /// a text `fill` accepts (the empty text included: an empty argument
    /// pastes as nothing).
    fn matches(&self, target: &[u8], fill: &dyn Fn(&[u8]) -> bool) -> bool {
        let mut reach = vec![false; target.len() + 1];
        reach[0] = true;
        for part in &self.0 {
            let mut next = vec![false; target.len() + 1];
            for i in (0..=target.len()).filter(|&i| reach[i]) {
                match part {
                    Part::Fixed(text) if target[i..].starts_with(text) => {
                        next[i + text.len()] = true
                    }
                    Part::Fixed(_) => {}
                    Part::Param => {
                        for j in i..=target.len() {
                            next[j] |= fill(&target[i..j]);
                        }
                    }
                }
            }
            reach = next;
        }
        reach[target.len()]
    }

    /// Whether the chain, given anything, can paste a proper part of a
    /// temporal name (which another paste could then use).
    fn could_make_a_piece(&self) -> bool {
        NAMES.iter().any(|name| {
            (2..name.len()).any(|len| {
                name.windows(len)
                    .any(|sub| self.matches(sub, &|_: &[u8]| true))
            })
        })
    }

    fn fixed_pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().filter_map(|p| match p {
            Part::Fixed(t) if is_name_piece(t) => Some(t.as_slice()),
            _ => None,
        })
    }
}

/// Whether any of `chains`, handed concatenations of `pieces` (and of the
/// fixed operands of chains that can make a piece), spells a temporal
/// name.
pub(super) fn could_spell_a_name<'a>(chains: &[&'a Chain], mut pieces: Vec<&'a [u8]>) -> bool {
    if chains.is_empty() {
        return false;
    }
    for c in chains.iter().filter(|c| c.could_make_a_piece()) {
        pieces.extend(c.fixed_pieces());
    }
    let fill = |text: &[u8]| spelled_by(text, &pieces);
    chains
        .iter()
        .any(|c| NAMES.iter().any(|name| c.matches(name, &fill)))
}

/// Whether `text` is a concatenation of `pieces` (each usable again; the
/// empty text is).
fn spelled_by(text: &[u8], pieces: &[&[u8]]) -> bool {
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for i in 0..text.len() {
        if !reach[i] {
            continue;
        }
        for p in pieces {
            if text[i..].starts_with(p) {
                reach[i + p.len()] = true;
            }
        }
    }
    reach[text.len()]
}
