//! Rust toolchain identity without the daemon running a program: the wrapper runs `rustc -vV` and `rustc --print sysroot` when asked (a Probe reply), and the daemon hashes their answers with the sysroot's libraries; memoized per toolchain selection, re-validated by stat on every use.
//!
//! What selects a toolchain: the compiler file (a rustup proxy is one file
//! for every toolchain), `RUSTUP_TOOLCHAIN`, `RUSTUP_HOME`, rustup's
//! settings file and the nearest `rust-toolchain[.toml]` above cwd. This
//! module never executes anything and never decides cacheability.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dashmap::DashMap;
use frame::v1;

use crate::domains;
use crate::keys::KeyHasher;
use crate::meta::{MetaCache, StatId};

/// What one toolchain selection resolved to.
pub(crate) struct Toolchain {
    pub(crate) identity: [u8; 32],
    /// The files hashed into `identity`, re-checked by stat on every use.
    files: Vec<(PathBuf, StatId)>,
    /// `rustc --print sysroot`: where a link finds rustc's own linker
    /// (`lib/rustlib/<target>/bin`).
    pub(crate) sysroot: PathBuf,
    /// The host triple (`-vV`), the target when none is given.
    pub(crate) host: OsString,
}

/// The outcome of asking for a toolchain's identity.
pub(crate) enum Ident {
    Known(Arc<Toolchain>),
    /// Run these (argv[1..] of the compiler) and ask again.
    Probe(v1::Probe),
    /// The probes ran and failed: pass the compile through.
    Failed(String),
}

#[derive(Default)]
pub(crate) struct Toolchains {
    memo: DashMap<[u8; 32], Arc<Toolchain>>,
}

impl Toolchains {
    /// `lead` is the leading rustc argument of a clippy-driver call; it
    /// prefixes every probe run so they go through the same driver.
    pub(crate) fn identify(
        &self,
        meta: &MetaCache,
        compiler: &Path,
        lead: Option<&OsStr>,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
        cwd: &Path,
        probes: &[v1::ProbeResult],
    ) -> Ident {
        let Some(selection) = selection_key(meta, compiler, lead, env, cwd) else {
            return Ident::Failed("compiler not found".into());
        };
        if let Some(t) = self.memo.get(&selection) {
            let fresh = t
                .files
                .iter()
                .all(|(p, s)| std::fs::metadata(p).is_ok_and(|m| StatId::of(&m) == *s));
            if fresh {
                return Ident::Known(t.clone());
            }
        }
        let runs = probe_runs(lead);
        let answer = |want: &[Vec<u8>]| {
            probes
                .iter()
                .find(|p| p.args == want)
                .map(|p| (p.exit_code, p.stdout.as_slice()))
        };
        let (Some(vv), Some(sysroot)) = (answer(&runs[0]), answer(&runs[1])) else {
            return Ident::Probe(v1::Probe {
                runs: runs.into_iter().map(|args| v1::ProbeRun { args }).collect(),
            });
        };
        if vv.0 != 0 || sysroot.0 != 0 {
            return Ident::Failed("rustc -vV or --print sysroot failed".into());
        }
        let sysroot_text = sysroot.1.strip_suffix(b"\n").unwrap_or(sysroot.1);
        let sysroot_path = PathBuf::from(OsString::from_vec(sysroot_text.to_vec()));
        match hash_toolchain(meta, compiler, lead.is_some(), vv.1, &sysroot_path) {
            Ok(t) => {
                let t = Arc::new(t);
                self.memo.insert(selection, t.clone());
                Ident::Known(t)
            }
            Err(e) => Ident::Failed(e),
        }
    }

    pub(crate) fn clear(&self) {
        self.memo.clear();
    }
}

fn probe_runs(lead: Option<&OsStr>) -> [Vec<Vec<u8>>; 2] {
    let with = |rest: &[&str]| {
        let mut v: Vec<Vec<u8>> = lead.map(|l| l.as_bytes().to_vec()).into_iter().collect();
        v.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
        v
    };
    [with(&["-vV"]), with(&["--print", "sysroot"])]
}

/// Everything that decides which toolchain `compiler` runs, as a key.
fn selection_key(
    meta: &MetaCache,
    compiler: &Path,
    lead: Option<&OsStr>,
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
    cwd: &Path,
) -> Option<[u8; 32]> {
    let stat = |p: &Path| -> Option<Vec<u8>> {
        let s = StatId::of(&std::fs::metadata(p).ok()?);
        let mut v = s.size.to_le_bytes().to_vec();
        v.extend(s.mtime_ns.to_le_bytes());
        v.extend(s.ino.to_le_bytes());
        v.extend(s.dev.to_le_bytes());
        Some(v)
    };
    let mut h = KeyHasher::new(domains::RUST_TOOLCHAIN_SELECTION);
    h.os("compiler", compiler.as_os_str());
    h.bytes("stat", &stat(compiler)?);
    if let Some(lead) = lead {
        h.os("lead", lead);
        let lead_path = Path::new(lead);
        h.opt("lead_stat", stat(&cwd.join(lead_path)).as_deref());
    }
    for var in ["RUSTUP_TOOLCHAIN", "RUSTUP_HOME", "HOME", "RUSTC_BOOTSTRAP"] {
        h.opt(var, env.get(var.as_bytes()).map(Vec::as_slice));
    }
    let rustup_home = env
        .get(&b"RUSTUP_HOME"[..])
        .map(|v| PathBuf::from(OsStr::from_bytes(v)))
        .or_else(|| {
            env.get(&b"HOME"[..])
                .map(|h| Path::new(OsStr::from_bytes(h)).join(".rustup"))
        });
    if let Some(home) = rustup_home {
        let settings = home.join("settings.toml");
        h.opt(
            "rustup_settings",
            meta.digest(&settings)
                .ok()
                .map(|(_, d)| d)
                .as_ref()
                .map(|d| &d[..]),
        );
    }
    for dir in cwd.ancestors() {
        for name in ["rust-toolchain", "rust-toolchain.toml"] {
            let f = dir.join(name);
            if let Ok((_, d)) = meta.digest(&f) {
                h.os("toolchain_file", f.as_os_str()).bytes("digest", &d);
                return Some(h.finish());
            }
        }
    }
    Some(h.finish())
}

/// The identity: `-vV`, the sysroot, and the digests of the sysroot's
/// shared libraries (the compiler itself) and the host's std rlibs.
fn hash_toolchain(
    meta: &MetaCache,
    compiler: &Path,
    clippy: bool,
    version: &[u8],
    sysroot: &Path,
) -> Result<Toolchain, String> {
    let host = version
        .split(|b| *b == b'\n')
        .find_map(|l| l.strip_prefix(b"host: "))
        .ok_or("no host in rustc -vV")?;
    let mut files: Vec<PathBuf> = Vec::new();
    let list = |dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>| {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                let name = e.file_name();
                let name = name.as_bytes();
                if exts.iter().any(|x| name.ends_with(x.as_bytes()))
                    || name.windows(4).any(|w| w == b".so.")
                {
                    out.push(p);
                }
            }
        }
    };
    list(&sysroot.join("lib"), &[".so"], &mut files);
    let host_lib = sysroot
        .join("lib/rustlib")
        .join(OsStr::from_bytes(host))
        .join("lib");
    list(&host_lib, &[".rlib", ".so"], &mut files);
    if !files.iter().any(|f| {
        f.file_name()
            .is_some_and(|n| n.as_bytes().starts_with(b"librustc_driver"))
    }) {
        return Err(format!("no librustc_driver under {}", sysroot.display()));
    }
    files.sort();
    let mut h = KeyHasher::new(domains::RUST_TOOLCHAIN);
    h.bytes("version", version);
    h.os("sysroot", sysroot.as_os_str());
    let mut stats = Vec::new();
    for f in files {
        let (stat, d) = meta
            .digest(&f)
            .map_err(|e| format!("{}: {e}", f.display()))?;
        h.os("file", f.as_os_str()).bytes("digest", &d);
        stats.push((f, stat));
    }
    if clippy {
        // The proxy in ~/.cargo/bin is rustup; the driver is in the sysroot.
        let real = sysroot.join("bin/clippy-driver");
        let driver = if real.is_file() {
            real
        } else {
            compiler.to_path_buf()
        };
        let (stat, d) = meta
            .digest(&driver)
            .map_err(|e| format!("{}: {e}", driver.display()))?;
        h.bytes("clippy", &d);
        stats.push((driver, stat));
    }
    Ok(Toolchain {
        identity: h.finish(),
        files: stats,
        sysroot: sysroot.to_path_buf(),
        host: OsString::from_vec(host.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_for_probes_then_remembers_the_answer() {
        let dir = std::env::temp_dir().join(format!("zccache-toolchain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sysroot = dir.join("sys");
        std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-t/lib")).unwrap();
        std::fs::create_dir_all(sysroot.join("bin")).unwrap();
        std::fs::write(sysroot.join("lib/librustc_driver-1.so"), b"driver").unwrap();
        std::fs::write(
            sysroot.join("lib/rustlib/x86_64-t/lib/libstd-1.rlib"),
            b"std",
        )
        .unwrap();
        let rustc = sysroot.join("bin/rustc");
        std::fs::write(&rustc, b"#!").unwrap();
        let env = BTreeMap::new();
        let meta = MetaCache::default();
        let t = Toolchains::default();
        let Ident::Probe(p) = t.identify(&meta, &rustc, None, &env, &dir, &[]) else {
            panic!("no probe asked");
        };
        assert_eq!(p.runs.len(), 2);
        let answers = |vv: &str| {
            vec![
                v1::ProbeResult {
                    args: p.runs[0].args.clone(),
                    exit_code: 0,
                    stdout: vv.as_bytes().to_vec(),
                    stderr: Vec::new(),
                },
                v1::ProbeResult {
                    args: p.runs[1].args.clone(),
                    exit_code: 0,
                    stdout: format!("{}\n", sysroot.display()).into_bytes(),
                    stderr: Vec::new(),
                },
            ]
        };
        let id = |vv: &str| match t.identify(&meta, &rustc, None, &env, &dir, &answers(vv)) {
            Ident::Known(k) => k.identity,
            _ => panic!("not known"),
        };
        let a = id("rustc 1\nhost: x86_64-t\n");
        // Memoized: no probe needed any more.
        assert!(matches!(
            t.identify(&meta, &rustc, None, &env, &dir, &[]),
            Ident::Known(_)
        ));
        t.clear();
        assert_ne!(a, id("rustc 2\nhost: x86_64-t\n"));
        // A changed std rlib is another toolchain, and it is noticed by stat.
        std::fs::write(
            sysroot.join("lib/rustlib/x86_64-t/lib/libstd-1.rlib"),
            b"std2",
        )
        .unwrap();
        assert!(matches!(
            t.identify(&meta, &rustc, None, &env, &dir, &[]),
            Ident::Probe(_)
        ));
        let b = id("rustc 2\nhost: x86_64-t\n");
        assert_ne!(a, b);
        // A rust-toolchain file above cwd selects anew.
        std::fs::write(dir.join("rust-toolchain"), b"nightly").unwrap();
        assert!(matches!(
            t.identify(&meta, &rustc, None, &env, &dir.join("sys"), &[]),
            Ident::Probe(_)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
