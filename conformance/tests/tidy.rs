//! Repository-wide style checks that cannot be seen in any one file: every
//! `.rs` file opens with a `//!` line saying what it is for, and
//! ARCHITECTURE.md's code map names every source file (and no file that is
//! not there).
//!
//! It reads files only; it formats nothing and fixes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    assert!(
        files.len() > 20,
        "found only {} .rs files under {}",
        files.len(),
        root.display()
    );
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files without a leading //! line: {offenders:#?}"
    );
}

/// The workspace members named in the root `Cargo.toml`.
fn workspace_members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let start = manifest.find("members").expect("a members list") + "members".len();
    let list = &manifest[start..];
    let list = &list[list.find('[').unwrap() + 1..list.find(']').unwrap()];
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Every source file the code map must name, relative to the repository:
/// each member's `.rs` files under `src/` (library, binaries, modules,
/// in-crate tests) and its `build.rs`.
fn source_files(root: &Path, members: &[String]) -> BTreeSet<String> {
    let mut files = Vec::new();
    for member in members {
        rust_files(&root.join(member).join("src"), &mut files);
        let build = root.join(member).join("build.rs");
        if build.exists() {
            files.push(build);
        }
    }
    files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect()
}

/// The `## Code map` section of ARCHITECTURE.md, as one bullet per crate:
/// (crate directory, the bullet's text).
fn code_map_bullets(architecture: &str) -> Vec<(String, String)> {
    let start = architecture
        .find("\n## Code map\n")
        .expect("ARCHITECTURE.md has a `## Code map` section");
    let section = &architecture[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut bullets: Vec<(String, String)> = Vec::new();
    for line in section.lines() {
        if let Some(rest) = line.strip_prefix("- `") {
            let dir = rest.split('`').next().unwrap_or("");
            bullets.push((dir.trim_end_matches('/').to_owned(), String::new()));
        }
        if let Some((_, text)) = bullets.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    bullets
}

/// The files a crate's bullet names: every backquoted `*.rs`, a path
/// under the crate's `src/` or, when there is none there (`build.rs`,
/// `tests/it.rs`), under the crate itself. A name found in neither is
/// reported under `src/`.
fn named_files(root: &Path, dir: &str, text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| t.ends_with(".rs") && !t.contains(' '))
        .map(|t| {
            let in_src = format!("{dir}/src/{t}");
            let in_crate = format!("{dir}/{t}");
            if !root.join(&in_src).is_file() && root.join(&in_crate).is_file() {
                in_crate
            } else {
                in_src
            }
        })
        .collect()
}

/// ARCHITECTURE.md's code map names every source file of every workspace
/// crate, each in its crate's bullet, and names no file that is not there.
#[test]
fn the_code_map_names_every_source_file_and_no_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let members = workspace_members(root);
    assert!(members.len() >= 7, "members: {members:?}");
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let bullets = code_map_bullets(&architecture);
    for member in &members {
        assert!(
            bullets.iter().any(|(dir, _)| dir == member),
            "the code map has no bullet for `{member}/`"
        );
    }
    let named: BTreeSet<String> = bullets
        .iter()
        .filter(|(dir, _)| members.contains(dir))
        .flat_map(|(dir, text)| named_files(root, dir, text))
        .collect();
    let sources = source_files(root, &members);
    assert!(sources.len() > 20, "found only {} sources", sources.len());
    let missing: Vec<&String> = sources.difference(&named).collect();
    let phantom: Vec<&String> = named.iter().filter(|f| !root.join(f).is_file()).collect();
    assert!(
        missing.is_empty() && phantom.is_empty(),
        "ARCHITECTURE.md's code map is out of date.\n\
         Files it does not name (add each to its crate's bullet, as a path \
         under the crate's src/): {missing:#?}\n\
         Files it names that do not exist: {phantom:#?}"
    );
}

#[test]
fn code_map_paths_resolve_per_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert_eq!(
        named_files(
            root,
            "daemon",
            "`rust/args.rs` and `main.rs`, `cc/` and `store/`, `gone.rs`"
        ),
        [
            "daemon/src/rust/args.rs",
            "daemon/src/main.rs",
            "daemon/src/gone.rs"
        ]
    );
    assert_eq!(
        named_files(root, "frame", "`build.rs`, `tests/schema.rs`"),
        ["frame/build.rs", "frame/src/tests/schema.rs"]
    );
    assert_eq!(
        named_files(root, "conformance", "`src/diff.rs` then `tests/it.rs`"),
        ["conformance/src/diff.rs", "conformance/tests/it.rs"]
    );
    let map = "intro\n\n## Code map\n\n- `frame/`: `codec.rs`\n  and `v1.rs`.\n- `sys/`: `fds.rs`.\n\n## Invariants\n\n- `x.rs`\n";
    let bullets = code_map_bullets(map);
    assert_eq!(
        bullets,
        [
            (
                "frame".to_owned(),
                "- `frame/`: `codec.rs`\n  and `v1.rs`.\n".to_owned()
            ),
            ("sys".to_owned(), "- `sys/`: `fds.rs`.\n".to_owned()),
        ]
    );
}

/// A crate's top-level modules and, for each, the top-level modules it
/// names through `crate::` paths (in `use` lines and inline), comments and
/// `#[cfg(test)]` modules left out: tests may reach anywhere.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let module_of = |f: &Path| -> String {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let edges = graph.entry(from.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            // `crate::{a, b::c}` names several.
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .map(str::trim)
                    .collect()
            } else {
                vec![rest]
            };
            for name in names {
                let target: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if target != from && modules.contains(&target) {
                    edges.insert(target);
                }
            }
        }
    }
    graph
}

/// One cycle of `graph`, if it has any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The library crates' modules import each other in one direction only
/// (issue 11: the router's `paths` and `runtime` imported each other, and
/// the daemon's `compile` and `rust`).
#[test]
fn no_module_cycles_in_the_shared_crates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for krate in ["frame", "router", "sys", "broker", "wrapper", "daemon"] {
        let graph = module_graph(&root.join(krate).join("src"));
        assert!(graph.len() > 2, "{krate}: {graph:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{krate}: modules import each other: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn a_module_cycle_is_found() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).into()).or_default().insert((*b).into());
            g.entry((*b).into()).or_default();
        }
        g
    };
    assert_eq!(
        find_cycle(&graph(&[("paths", "runtime"), ("runtime", "paths")])),
        Some(vec!["paths".into(), "runtime".into(), "paths".into()])
    );
    assert_eq!(
        find_cycle(&graph(&[
            ("paths", "runtime"),
            ("paths", "sockaddr"),
            ("runtime", "sockaddr")
        ])),
        None
    );
}

/// The key-domain tags (`"zccache-<name>-v<N>"` string literals) in the
/// daemon's code, outside its test modules.
fn key_domains_in_code(src: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut domains = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, _) in code.match_indices("\"zccache-") {
            let rest = &code[i + 1..];
            let Some(end) = rest.find('"') else { continue };
            if is_key_domain(&rest[..end]) {
                domains.insert(rest[..end].to_owned());
            }
        }
    }
    domains
}

/// `zccache-<lowercase words>-v<digits>`.
fn is_key_domain(s: &str) -> bool {
    let Some(body) = s.strip_prefix("zccache-") else {
        return false;
    };
    let Some((name, version)) = body.rsplit_once("-v") else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit())
}

/// Every key domain the daemon hashes under is documented in
/// ARCHITECTURE.md's `## Keys` section, and every domain named there is
/// one the code uses (a stale version number is caught).
#[test]
fn every_key_domain_is_documented_and_no_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let in_code = key_domains_in_code(&root.join("daemon/src"));
    assert!(in_code.len() >= 4, "key domains found: {in_code:?}");
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let start = architecture
        .find("\n## Keys")
        .expect("ARCHITECTURE.md has a `## Keys` section");
    let section = &architecture[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let documented: BTreeSet<String> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| is_key_domain(t))
        .map(str::to_owned)
        .collect();
    let undocumented: Vec<&String> = in_code.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&in_code).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "ARCHITECTURE.md's key domains are out of date.\n\
         In the code, not in `## Keys`: {undocumented:#?}\n\
         In `## Keys`, not in the code: {stale:#?}"
    );
}

#[test]
fn key_domain_names() {
    for good in ["zccache-cc-v1", "zccache-rust-toolchain-selection-v12"] {
        assert!(is_key_domain(good), "{good}");
    }
    for bad in [
        "zccache-daemon",
        "zccache-cc-v",
        "zccache-v1",
        "zccache-CC-v1",
        "cc-v1",
    ] {
        assert!(!is_key_domain(bad), "{bad}");
    }
}

/// `text` with comments, string and character literals blanked out: what
/// is left is code (identifiers, keywords, punctuation).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = |k: usize| b.get(i + k).copied();
        if b[i] == '/' && rest(1) == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if b[i] == '/' && rest(1) == Some('*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == 'r' && matches!(rest(1), Some('"' | '#')) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if b[i] == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == '\'' && (rest(1) == Some('\\') || rest(2) == Some('\'')) {
            // A character literal ('a', '\n'); a lifetime has no closing quote.
            i += 1;
            while i < b.len() && b[i] != '\'' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Whether an identifier has the word `root` in it, in any case and
/// either spelling (`root`, `Root`, `origin_root`, `RootFreeText`).
fn names_root(ident: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in ident.chars() {
        if c == '_' || (c.is_uppercase() && prev_lower) {
            words.push(std::mem::take(&mut word));
        }
        if c != '_' {
            word.push(c.to_ascii_lowercase());
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    words.push(word);
    words.iter().any(|w| w == "root")
}

fn identifiers(code: &str) -> Vec<&str> {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
        })
        .collect()
}

/// Issue 11: the C and Rust key code keys paths and texts through a key
/// builder bound to the request's worktree view and never names the root
/// (no `Root`, no `root`, no `root_bound`), so path remap is applied in one
/// place. Comments may mention it; code, tests included, may not.
#[test]
fn key_code_never_names_the_root() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for file in ["daemon/src/cc/key.rs", "daemon/src/rust/key.rs"] {
        let text = std::fs::read_to_string(repo.join(file)).unwrap();
        let code = code_only(&text);
        let named: BTreeSet<&str> = identifiers(&code)
            .into_iter()
            .filter(|i| names_root(i))
            .collect();
        assert!(named.is_empty(), "{file} names the root: {named:?}");
    }
}

#[test]
fn names_of_the_root_are_found_in_code_only() {
    for (ident, want) in [
        ("root", true),
        ("Root", true),
        ("ROOT", true),
        ("origin_root", true),
        ("root_bound", true),
        ("RootFreeText", true),
        ("is_cross_root", true),
        ("rooted", false),
        ("chroot", false),
        ("view", false),
    ] {
        assert_eq!(names_root(ident), want, "{ident}");
    }
    let code = code_only(
        "/// the root\nfn f(v: &View) { // root\n let t = \"root\"; let c = '\"'; /* Root */ \
         let r = r#\"root\"#; v.key(t) }\nfn g<'a>(root: &'a str) {}",
    );
    assert_eq!(
        identifiers(&code)
            .into_iter()
            .filter(|i| names_root(i))
            .collect::<Vec<_>>(),
        ["root"]
    );
}
