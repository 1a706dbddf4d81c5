//! Make-style dependency files: parsing what a compiler wrote, and
//! re-emitting the first rule with other targets exactly as gcc or clang
//! would have written it.
//!
//! Re-emission is self-checking: at Store time the daemon re-formats the
//! compiler's own depfile with the same targets and keeps the formatter only
//! if the bytes are identical; otherwise a hit needing other targets is a
//! miss. This module does no I/O and knows nothing of keys.

/// The first rule of a depfile, tokens kept in their escaped (on-disk) form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DepRule {
    pub(crate) targets: Vec<Vec<u8>>,
    pub(crate) deps: Vec<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Gcc,
    Clang,
}

/// Parse the first rule. `None` when the text has no rule.
pub(crate) fn parse(text: &[u8]) -> Option<DepRule> {
    // Join the first logical line (backslash-newline continuations).
    let mut logical = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'\\' && text.get(i + 1) == Some(&b'\n') {
            logical.push(b' ');
            i += 2;
            continue;
        }
        if c == b'\\' && text.get(i + 1) == Some(&b'\r') && text.get(i + 2) == Some(&b'\n') {
            logical.push(b' ');
            i += 3;
            continue;
        }
        if c == b'\n' {
            break;
        }
        logical.push(c);
        i += 1;
    }
    let tokens = split_tokens(&logical);
    let colon = tokens.iter().position(|t| t.ends_with(b":"))?;
    let mut targets: Vec<Vec<u8>> = tokens[..=colon].to_vec();
    let last = targets.last_mut()?;
    last.pop();
    if last.is_empty() {
        targets.pop();
    }
    let deps = tokens[colon + 1..].to_vec();
    Some(DepRule { targets, deps })
}

/// Unescape one token the way make (and both compilers' writers) mean it.
pub(crate) fn unescape(token: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    let mut i = 0;
    while i < token.len() {
        match (token[i], token.get(i + 1)) {
            (b'\\', Some(&n)) if n == b' ' || n == b'#' || n == b'\\' => {
                out.push(n);
                i += 2;
            }
            (b'$', Some(&b'$')) => {
                out.push(b'$');
                i += 2;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Write the first rule (and `-MP` phony rules) as the compiler would.
pub(crate) fn format(style: Style, rule: &DepRule, phony: bool) -> Vec<u8> {
    match style {
        Style::Gcc => format_gcc(rule, phony),
        Style::Clang => format_clang(rule, phony),
    }
}

// gcc's libcpp mkdeps.cc: wrap before a name that would pass column 72.
fn format_gcc(rule: &DepRule, phony: bool) -> Vec<u8> {
    const COLMAX: usize = 72;
    let mut out = Vec::new();
    let mut col = 0usize;
    let write_name = |out: &mut Vec<u8>, name: &[u8], col: &mut usize| {
        if *col != 0 {
            if *col + name.len() > COLMAX {
                out.extend_from_slice(b" \\\n");
                *col = 0;
            }
            *col += 1;
            out.push(b' ');
        }
        *col += name.len();
        out.extend_from_slice(name);
    };
    for t in &rule.targets {
        write_name(&mut out, t, &mut col);
    }
    out.push(b':');
    col += 1;
    for d in &rule.deps {
        write_name(&mut out, d, &mut col);
    }
    out.push(b'\n');
    if phony {
        for d in rule.deps.iter().skip(1) {
            out.extend_from_slice(d);
            out.extend_from_slice(b":\n");
        }
    }
    out
}

// clang's DependencyFileGenerator::outputDependencyFile: 75 columns,
// continuation lines indented by two spaces (targets) or one (deps).
fn format_clang(rule: &DepRule, phony: bool) -> Vec<u8> {
    const MAX: usize = 75;
    let mut out = Vec::new();
    let mut columns = 0usize;
    for t in &rule.targets {
        let n = t.len();
        if columns == 0 {
            columns += n;
        } else if columns + n + 2 > MAX {
            columns = n + 2;
            out.extend_from_slice(b" \\\n  ");
        } else {
            columns += n + 1;
            out.push(b' ');
        }
        out.extend_from_slice(t);
    }
    out.push(b':');
    columns += 1;
    for d in &rule.deps {
        let n = unescape(d).len();
        if columns + (n + 1) + 2 > MAX {
            out.extend_from_slice(b" \\\n ");
            columns = 2;
        }
        out.push(b' ');
        out.extend_from_slice(d);
        columns += n + 1;
    }
    out.push(b'\n');
    if phony {
        for d in rule.deps.iter().skip(1) {
            out.push(b'\n');
            out.extend_from_slice(d);
            out.extend_from_slice(b":\n");
        }
    }
    out
}

fn split_tokens(line: &[u8]) -> Vec<Vec<u8>> {
    let mut tokens = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if c == b'\\' && i + 1 < line.len() && (line[i + 1] == b' ' || line[i + 1] == b'\t') {
            cur.push(c);
            cur.push(line[i + 1]);
            i += 2;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    // A lone ":" token belongs to the preceding target.
    let mut merged: Vec<Vec<u8>> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if t == b":" {
            if let Some(last) = merged.last_mut() {
                if !last.ends_with(b":") {
                    last.push(b':');
                    continue;
                }
            }
        }
        merged.push(t);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_roundtrip(style: Style, text: &str, phony: bool) {
        let rule = parse(text.as_bytes()).expect("a rule");
        assert_eq!(
            String::from_utf8(format(style, &rule, phony)).unwrap(),
            text
        );
    }

    #[test]
    fn gcc_wrapping_roundtrips() {
        check_roundtrip(
            Style::Gcc,
            "t.o: t.c /usr/include/stdc-predef.h /usr/include/stdio.h \\\n /usr/include/x86_64-linux-gnu/bits/libc-header-start.h\n",
            false,
        );
        check_roundtrip(Style::Gcc, "foo: t.c h.h\nh.h:\n", true);
    }

    #[test]
    fn clang_wrapping_roundtrips() {
        check_roundtrip(
            Style::Clang,
            "te.o: t.c /usr/share/emscripten/cache/sysroot/include/stdio.h \\\n  /usr/share/emscripten/cache/sysroot/include/wasi/api.h\n",
            false,
        );
        check_roundtrip(Style::Clang, "a.o: a.c a.h b.h\n\na.h:\n\nb.h:\n", true);
    }

    #[test]
    fn parse_splits_targets_and_deps() {
        let r = parse(b"a.o b.o: x\\ y.c z.h\n").unwrap();
        assert_eq!(r.targets, vec![b"a.o".to_vec(), b"b.o".to_vec()]);
        assert_eq!(r.deps, vec![b"x\\ y.c".to_vec(), b"z.h".to_vec()]);
        assert_eq!(unescape(b"x\\ y.c"), b"x y.c");
    }
}
