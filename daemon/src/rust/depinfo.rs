//! rustc's dep-info (`.d`) files and `--json=artifacts` notifications: reading the sources and `# env-dep:` lines a compile used, and moving a stored entry's out-dir paths to the current out-dir on a hit; no I/O.

use crate::depfile;

/// What one compile read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DepInfo {
    /// Source files, unescaped, as rustc wrote them (relative to cwd or
    /// absolute), without duplicates.
    pub(crate) sources: Vec<Vec<u8>>,
    /// Names from `# env-dep:NAME[=VALUE]`, sorted, without duplicates.
    pub(crate) env_deps: Vec<Vec<u8>>,
}

/// `None` when the text has no rule.
pub(crate) fn parse(text: &[u8]) -> Option<DepInfo> {
    let rule = depfile::parse(text)?;
    let mut sources: Vec<Vec<u8>> = Vec::new();
    for dep in &rule.deps {
        let raw = depfile::unescape(dep);
        if !sources.contains(&raw) {
            sources.push(raw);
        }
    }
    let mut env_deps: Vec<Vec<u8>> = text
        .split(|b| *b == b'\n')
        .filter_map(|l| l.strip_prefix(b"# env-dep:"))
        .map(|rest| {
            let end = rest.iter().position(|b| *b == b'=').unwrap_or(rest.len());
            rest[..end].to_vec()
        })
        .collect();
    env_deps.sort();
    env_deps.dedup();
    Some(DepInfo { sources, env_deps })
}

/// Replaces `old/` with `new/` in a dep-info file, in plain and in
/// make-escaped (`\ ` for spaces) spelling.
pub(crate) fn rewrite_out_dir(text: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    if old == new {
        return text.to_vec();
    }
    let escape = |p: &[u8]| {
        let mut v = Vec::with_capacity(p.len());
        for b in p {
            if *b == b' ' {
                v.push(b'\\');
            }
            v.push(*b);
        }
        v.push(b'/');
        v
    };
    let (old_e, new_e) = (escape(old), escape(new));
    let mut plain_old = old.to_vec();
    plain_old.push(b'/');
    let mut plain_new = new.to_vec();
    plain_new.push(b'/');
    replace_all(&replace_all(text, &old_e, &new_e), &plain_old, &plain_new)
}

/// Moves the paths in `{"artifact":"…"}` lines of a stored stderr from
/// `old` to `new` (JSON-escaped); other lines are untouched.
pub(crate) fn rewrite_artifacts(stderr: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    if old == new {
        return stderr.to_vec();
    }
    let json = |p: &[u8]| -> Option<Vec<u8>> {
        let s = std::str::from_utf8(p).ok()?;
        let quoted = serde_json::to_string(&format!("{s}/")).ok()?;
        // Without the closing quote: the file name follows.
        Some(quoted.as_bytes()[..quoted.len() - 1].to_vec())
    };
    let (Some(old_j), Some(new_j)) = (json(old), json(new)) else {
        return stderr.to_vec();
    };
    let mut out = Vec::with_capacity(stderr.len());
    for line in stderr.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"{\"artifact\":") {
            out.extend(replace_all(line, &old_j, &new_j));
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

fn replace_all(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &[u8] = b"/t/a\\ b/deps/libfoo-1.rmeta: src/lib.rs src/m\\ n.rs /o/gen.rs\n\n\
/t/a\\ b/deps/foo-1.d: src/lib.rs src/m\\ n.rs /o/gen.rs\n\nsrc/lib.rs:\nsrc/m\\ n.rs:\n/o/gen.rs:\n\n\
# env-dep:TEST_ENV_VAR=x\n# env-dep:OPT\n# env-dep:CARGO_PKG_NAME=foo\n";

    #[test]
    fn sources_and_env_deps() {
        let d = parse(D).unwrap();
        assert_eq!(
            d.sources,
            vec![
                b"src/lib.rs".to_vec(),
                b"src/m n.rs".to_vec(),
                b"/o/gen.rs".to_vec()
            ]
        );
        assert_eq!(
            d.env_deps,
            vec![
                b"CARGO_PKG_NAME".to_vec(),
                b"OPT".to_vec(),
                b"TEST_ENV_VAR".to_vec()
            ]
        );
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn out_dir_moves_in_dep_info_and_artifacts() {
        let moved = rewrite_out_dir(D, b"/t/a b/deps", b"/u/deps");
        assert!(moved.starts_with(b"/u/deps/libfoo-1.rmeta: src/lib.rs src/m\\ n.rs"));
        assert!(!moved.windows(3).any(|w| w == b"/t/"));
        let stderr = b"{\"artifact\":\"/t/a b/deps/libfoo-1.rmeta\",\"emit\":\"metadata\"}\n\
{\"message\":\"/t/a b/deps/ stays\"}\n";
        let out = rewrite_artifacts(stderr, b"/t/a b/deps", b"/u/\"q\"");
        assert_eq!(
            out,
            b"{\"artifact\":\"/u/\\\"q\\\"/libfoo-1.rmeta\",\"emit\":\"metadata\"}\n\
{\"message\":\"/t/a b/deps/ stays\"}\n"
                .to_vec()
        );
    }
}
