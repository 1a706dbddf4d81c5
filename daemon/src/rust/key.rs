//! What goes into a Rust key (cache-keys.md §8): the crate's manifest key
//! from its key arguments, inputs, environment and cwd, and the result key
//! of a manifest entry.
//!
//! Every path and text is keyed through a [`KeyBuilder`] bound to the
//! request's worktree view, so this module never sees path remap. It does
//! not classify arguments (`args`) or read dep-info (`depinfo`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::domains;
use crate::manifest::ManifestEntry;
use crate::meta::{Digest, StatId};
use crate::pipeline::{Keyed, Pt};
use crate::reasons::PassthroughReason;
use crate::worktree::{KeyBuilder, Worktree};

use super::args::{Invocation, KeyArg};
use super::{Request, Rust, Source};

/// `CARGO_*` variables that are not inputs of the compile: the jobserver,
/// parallelism, incremental (its own passthrough), flags already in the
/// argv, and anything that may hold credentials (never hashed or stored).
fn cargo_var_is_volatile(name: &[u8]) -> bool {
    matches!(
        name,
        b"CARGO_MAKEFLAGS"
            | b"CARGO_BUILD_JOBS"
            | b"CARGO_ENCODED_RUSTFLAGS"
            | b"CARGO_INCREMENTAL"
    ) || [
        &b"CARGO_REGISTRIES_"[..],
        b"CARGO_REGISTRY_",
        b"CARGO_HTTP_",
        b"CARGO_NET_",
        b"CARGO_TERM_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

impl Rust<'_> {
    /// The crate keyed: its manifest key and its root source.
    pub(super) fn key(&self, r: &Request) -> Result<Keyed<Source>, Pt> {
        let mut kb = r.view.keyer(domains::RUSTC);
        kb.bytes("toolchain", &r.toolchain);
        kb.bytes("clippy", &[r.clippy as u8]);
        let mut source = None;
        for a in &r.inv.key_args {
            if let Some(s) = self.key_arg(&mut kb, &r.inv, a)? {
                source = Some(s);
            }
        }
        let source = source.ok_or_else(|| Pt::new(PassthroughReason::NoInputFile, ""))?;
        self.key_link(&mut kb, r)?;
        key_context(&mut kb, &r.env);
        Ok(Keyed {
            manifest_key: kb.finish(),
            facts: source,
        })
    }

    /// One key argument keyed; the crate's root source when it is one.
    fn key_arg(
        &self,
        kb: &mut KeyBuilder<'_>,
        inv: &Invocation,
        a: &KeyArg,
    ) -> Result<Option<Source>, Pt> {
        let view = kb.view();
        match a {
            KeyArg::Opt(name, value) => {
                kb.bytes("opt", name.as_bytes());
                kb.text("value", value.as_ref().map(|v| v.as_bytes()));
            }
            KeyArg::Extern { name, path } => {
                let abs = view.resolve_raw(path.as_bytes());
                let (_, d) = self.input(&abs, "--extern ")?;
                // The file name carries the dependency's metadata hash
                // and kind (rlib or rmeta), so it is keyed too.
                let file = abs.file_name().unwrap_or_default();
                kb.os("extern", name).os("file", file).bytes("digest", &d);
            }
            KeyArg::StaticLib { spec, name } => {
                let d = self.static_lib(view, inv, spec, name)?;
                kb.text("static_lib", Some(spec.as_bytes()));
                kb.bytes("digest", &d);
            }
            KeyArg::TargetFile(spec) => {
                let abs = view.resolve_raw(spec.as_bytes());
                let (_, d) = self.input(&abs, "--target ")?;
                kb.text("target_file", Some(spec.as_bytes()));
                kb.bytes("digest", &d);
            }
            KeyArg::Input(spelled) => {
                let abs = view.resolve_raw(spelled.as_bytes());
                let (stat, d) = self.input(&abs, "")?;
                kb.text("input", Some(spelled.as_bytes()));
                kb.bytes("digest", &d);
                return Ok(Some(Source {
                    path: abs,
                    stat,
                    digest: d,
                }));
            }
        }
        Ok(None)
    }

    /// An input file's stat and digest; a missing one is "cannot cache
    /// this", named after `what` (the option that named it).
    fn input(&self, abs: &Path, what: &str) -> Result<(StatId, Digest), Pt> {
        self.core.meta.digest(abs).map_err(|e| {
            Pt::new(
                PassthroughReason::NoInputFile,
                &format!("{what}{}: {e}", abs.display()),
            )
        })
    }

    /// The digest of the static library `-l static=name` links, the first
    /// found over the `-L` directories.
    fn static_lib(
        &self,
        view: &Worktree,
        inv: &Invocation,
        spec: &OsStr,
        name: &OsStr,
    ) -> Result<Digest, Pt> {
        let mut file = b"lib".to_vec();
        file.extend_from_slice(name.as_bytes());
        file.extend_from_slice(b".a");
        let found = inv.native_dirs.iter().find_map(|d| {
            let p = view
                .resolve_raw(d.as_bytes())
                .join(OsStr::from_bytes(&file));
            self.core.meta.digest(&p).ok()
        });
        let (_, d) = found.ok_or_else(|| {
            Pt::new(
                PassthroughReason::UnsupportedCompilerOption,
                &format!("-l {}: not found over -L", spec.to_string_lossy()),
            )
        })?;
        Ok(d)
    }
}

/// The result key: the manifest key, the sources with their digests and
/// the current value of every variable the crate read (unset ≠ empty).
/// Values are keyed as texts of the view, as the entry's sources are stored
/// root-free; a root-bound entry is salted with its origin.
pub(super) fn result_key_for(
    view: &Worktree,
    manifest_key: &[u8; 32],
    entry: &ManifestEntry,
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> [u8; 32] {
    let mut kb = view.keyer(domains::RUSTC_RESULT);
    kb.bytes("manifest", manifest_key);
    kb.home(&entry.remap);
    let mut sorted: Vec<_> = entry.includes.iter().collect();
    sorted.sort();
    for (p, d) in sorted {
        kb.bytes("source", p.as_bytes()).bytes("digest", d);
    }
    for name in &entry.env_deps {
        kb.bytes("env_dep", name);
        kb.text("value", env.get(name).map(Vec::as_slice));
    }
    kb.finish()
}

/// The variables every Rust key holds, in order: cargo's (but for the
/// volatile and secret ones), `OUT_DIR`, `RUSTC_BOOTSTRAP`.
pub(super) fn keyed_env(
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
    env.iter().filter(|(name, _)| {
        (name.starts_with(b"CARGO") && !cargo_var_is_volatile(name))
            || name.as_slice() == b"OUT_DIR"
            || name.as_slice() == b"RUSTC_BOOTSTRAP"
    })
}

/// The environment and working directory part of the manifest key. `CARGO_*`
/// values such as `CARGO_MANIFEST_DIR` and `OUT_DIR` name paths: they are
/// keyed as texts of the view.
fn key_context(kb: &mut KeyBuilder<'_>, env: &BTreeMap<Vec<u8>, Vec<u8>>) {
    kb.remap_mark();
    for (name, value) in keyed_env(env) {
        kb.bytes("env", name);
        kb.text("value", Some(value));
    }
    // cargo runs rustc in the workspace directory (path packages) or the
    // package directory; diagnostics and relative source paths depend on it.
    let cwd = kb.view().cwd().as_os_str().as_bytes();
    kb.text("cwd", Some(cwd));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyHasher;
    use crate::manifest::Temporal;
    use crate::worktree::{EntryRemap, FreePath};

    #[test]
    fn volatile_and_secret_cargo_vars_stay_out() {
        for v in [
            "CARGO_MAKEFLAGS",
            "CARGO_BUILD_JOBS",
            "CARGO_REGISTRIES_X_TOKEN",
            "CARGO_REGISTRY_TOKEN",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_INCREMENTAL",
            "CARGO_HTTP_PROXY",
        ] {
            assert!(cargo_var_is_volatile(v.as_bytes()), "{v}");
        }
        for v in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_CRATE_NAME",
            "CARGO",
        ] {
            assert!(!cargo_var_is_volatile(v.as_bytes()), "{v}");
        }
    }

    fn entry(includes: &[&[u8]], env_deps: &[&[u8]], origin: &[u8]) -> ManifestEntry {
        ManifestEntry {
            includes: includes
                .iter()
                .map(|p| (FreePath::new(p), [1; 32]))
                .collect(),
            negatives: vec![],
            temporal: Temporal::default(),
            env_deps: env_deps.iter().map(|v| v.to_vec()).collect(),
            remap: EntryRemap::stored_in(origin, false),
            result_key: [0; 32],
        }
    }

    #[test]
    fn env_deps_split_unset_from_empty() {
        let e = entry(&[b"src/lib.rs"], &[b"V"], b"");
        let view = Worktree::at("/w", None);
        let mut env = BTreeMap::new();
        let unset = result_key_for(&view, &[0; 32], &e, &env);
        env.insert(b"V".to_vec(), Vec::new());
        let empty = result_key_for(&view, &[0; 32], &e, &env);
        env.insert(b"V".to_vec(), b"1".to_vec());
        let one = result_key_for(&view, &[0; 32], &e, &env);
        assert_ne!(unset, empty);
        assert_ne!(empty, one);
    }

    fn cargo_env(r: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
        [
            ("CARGO_MANIFEST_DIR", format!("{r}/lib")),
            ("OUT_DIR", format!("{r}/target/debug/build/x-1/out")),
            ("CARGO", "/usr/bin/cargo".into()),
            ("CARGO_PKG_NAME", "x".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
        .collect()
    }

    #[test]
    fn remapped_keys_agree_across_worktrees_and_differ_from_remap_off() {
        let key = |tree: Option<&str>, r: &str| {
            let view = Worktree::at(r, tree);
            let mut k = view.keyer(domains::RUSTC);
            key_context(&mut k, &cargo_env(r));
            let lib = format!("native={r}/target/debug/build/x-1/out");
            k.text("-L", Some(lib.as_bytes()));
            k.finish()
        };
        assert_eq!(key(Some("/w/a"), "/w/a"), key(Some("/w/b"), "/w/b"));
        assert_ne!(key(None, "/w/a"), key(None, "/w/b"));
        // Remap on is never remap off, even with the same paths.
        assert_ne!(key(Some("/w/a"), "/w/a"), key(None, "/w/a"));
        assert_ne!(
            key(Some("/w/a"), "/w/a"),
            key(Some("/v/c"), "/w/b"),
            "outside the worktree"
        );

        let mut e = entry(
            &[b"\0R/target/debug/build/x-1/out/gen.rs"],
            &[b"OUT_DIR"],
            b"/w/a",
        );
        let rk = |e: &ManifestEntry, r: &str| {
            result_key_for(&Worktree::at(r, Some(r)), &[0; 32], e, &cargo_env(r))
        };
        assert_eq!(rk(&e, "/w/a"), rk(&e, "/w/b"));
        let free = rk(&e, "/w/a");
        e.remap = EntryRemap::stored_in(b"/w/a", true);
        assert_ne!(rk(&e, "/w/a"), free, "a bound entry is salted");
    }

    #[test]
    fn values_key_free_of_the_worktree_wherever_they_name_it() {
        let a = Worktree::at("/w/a", Some("/w/a"));
        #[track_caller]
        fn check(view: &Worktree, v: &str, want: &[u8]) {
            let mut got = view.keyer(domains::RUSTC);
            got.text("value", Some(v.as_bytes()));
            let mut k = KeyHasher::new(domains::RUSTC);
            k.bytes("value", want);
            assert_eq!(got.finish(), k.finish(), "{v}");
        }
        check(&a, "native=/w/a/out", b"native=\0R/out");
        check(&a, "all=/w/a", b"all=\0R");
        check(&a, "/w/a/lib", b"\0R/lib");
        check(&a, "native=/usr/lib", b"native=/usr/lib");
        check(&a, "native=/w/ab", b"native=/w/ab");
        let off = Worktree::at("/w/a", None);
        check(&off, "native=/w/a/out", b"native=/w/a/out");
        check(&a, "x=\"/w/a/cfg\"", b"x=\"\0R/cfg\"");
        check(
            &a,
            "link-arg=-Wl,-rpath,/w/a/lib:/w/a/x",
            b"link-arg=-Wl,-rpath,\0R/lib:\0R/x",
        );
        // A path under the worktree keys as the view's free path spells it.
        for p in ["/w/a/src/lib.rs", "/w/a", "src/lib.rs", "/w/ab/lib.rs"] {
            check(&a, p, a.free_path(p.as_bytes()).as_bytes());
        }
        // Text already holding the token never keys like a tokenized value.
        let mut raw = a.keyer(domains::RUSTC);
        raw.text("value", Some(b"\0R/cfg"));
        let mut tok = a.keyer(domains::RUSTC);
        tok.text("value", Some(b"/w/a/cfg"));
        assert_ne!(raw.finish(), tok.finish());
    }

    #[test]
    fn a_value_naming_another_worktree_keys_apart_from_one_naming_its_own() {
        // The argv and env as the two worktrees send them, keyed as `key`
        // and `key_context` do.
        let key = |r: &str, cfg: &str| {
            let view = Worktree::at(r, Some(r));
            let mut k = view.keyer(domains::RUSTC);
            for v in [
                format!("x=\"{cfg}/cfg\""),
                format!("link-arg=-Wl,-rpath,{cfg}/lib"),
            ] {
                k.bytes("opt", b"--cfg");
                k.text("value", Some(v.as_bytes()));
            }
            let env: BTreeMap<Vec<u8>, Vec<u8>> = [
                ("CARGO_PKG_NAME", "x".to_string()),
                ("CARGO_CFG_DATA", format!("data:{cfg}/data")),
            ]
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
            .collect();
            key_context(&mut k, &env);
            k.finish()
        };
        // Each names its own tree: shared.
        assert_eq!(key("/w/a", "/w/a"), key("/w/b", "/w/b"));
        // The same literal naming A: its own tree in A, another in B.
        assert_ne!(key("/w/a", "/w/a"), key("/w/b", "/w/a"));
        // Text outside both worktrees stays shared.
        assert_eq!(key("/w/a", "/v/c"), key("/w/b", "/v/c"));

        let e = entry(&[b"\0R/src/lib.rs"], &[b"DATA"], b"/w/a");
        let rk = |r: &str, data: &str| {
            let env = BTreeMap::from([(b"DATA".to_vec(), data.as_bytes().to_vec())]);
            result_key_for(&Worktree::at(r, Some(r)), &[0; 32], &e, &env)
        };
        assert_eq!(rk("/w/a", "x:/w/a/d"), rk("/w/b", "x:/w/b/d"));
        assert_ne!(rk("/w/a", "x:/w/a/d"), rk("/w/b", "x:/w/a/d"));
    }
}
