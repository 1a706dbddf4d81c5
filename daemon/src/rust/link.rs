//! What a linked Rust crate (bin, `--test`, proc-macro, dylib, cdylib) adds to its key and its entry: the linker's identity by content, the environment and native search directories the link reads, and, after the miss, every file the linker opened (its `--dependency-file` list) as the entry's inputs.
//!
//! Keying splits in two. Before the compile the key holds what selects
//! the programs and what could change a search: the driver (`-C linker=`,
//! else `cc` on the caller's `PATH`, found as `execvp` finds it), the `ld`
//! on `PATH`, rustc's own linker (`lib/rustlib/<target>/bin`: `rust-lld`
//! and its `gcc-ld` shims), the linker's environment variables and the
//! names in each `-L` native directory (a library appearing before the one
//! used). After the miss, the linker's own list of the files it read (rlibs
//! found through `-L dependency=`, native libraries, crt objects, libc and
//! its linker script, linker scripts) joins the manifest entry by content,
//! so a hit needs every one of them unchanged.
//!
//! The system's library directories (`/usr/lib`, `/lib`, `/usr/local/lib`,
//! their `lib64` and multiarch forms, gcc's `/usr/lib/gcc/<triple>/<version>`)
//! join the key by the names they hold, so a library appearing in one of
//! them before the one the linker used is seen; the listings are memoized
//! by each directory's stat.
//!
//! Not covered, said here as it is a choice: a program the gcc driver finds
//! in its own directories (`collect2`, an `ld` placed in gcc's libexec
//! directory) is keyed only through the driver's bytes; changing it needs a
//! change to the system's compiler installation. This module does not
//! classify arguments (`args`), run anything, or decide where outputs go.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cc::toolchain::search_path;
use crate::depfile;
use crate::domains;
use crate::keys::KeyHasher;
use crate::meta::{Digest, StatId};
use crate::pipeline::Pt;
use crate::reasons::{NotStoredReason, PassthroughReason};
use crate::worktree::{FreePath, KeyBuilder, Worktree};

use super::{Request, Rust};

/// The environment the driver and linker read: their search paths and
/// program prefixes. Keyed as texts of the view (they name directories).
const LINK_ENV: &[&str] = &[
    "LIBRARY_PATH",
    "LD_RUN_PATH",
    "LD_LIBRARY_PATH",
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
];

/// The option that makes the linker list what it read; the miss adds it,
/// and a linker that refuses it makes the wrapper run the caller's own
/// command (`Miss.injected_option`).
pub(super) const DEPENDENCY_FILE: &str = "--dependency-file";

/// The `-C link-arg` a miss adds so the linker writes the files it read
/// to `path`.
pub(super) fn dependency_file_arg(path: &Path) -> OsString {
    let mut a = OsString::from(format!("-Clink-arg=-Wl,{DEPENDENCY_FILE}="));
    a.push(path);
    a
}

impl Rust<'_> {
    /// The link's part of the manifest key.
    pub(super) fn key_link(&self, kb: &mut KeyBuilder<'_>, r: &Request) -> Result<(), Pt> {
        let Some(kind) = r.inv.link else {
            return Ok(());
        };
        kb.bytes("link", kind.as_str().as_bytes());
        let path_var = r.env.get(&b"PATH"[..]).map(Vec::as_slice);
        let linker = r.inv.linker.as_deref().unwrap_or(OsStr::new("cc"));
        let driver = self
            .program(kb.view(), linker, path_var)?
            .ok_or_else(|| Pt::new(PassthroughReason::LinkerNotFound, &linker.to_string_lossy()))?;
        kb.bytes("linker", &driver);
        let ld = self.program(kb.view(), OsStr::new("ld"), path_var)?;
        kb.opt("ld", ld.as_ref().map(|d| &d[..]));
        self.key_rustlib_bin(kb, r)?;
        for var in LINK_ENV {
            kb.bytes("link_env", var.as_bytes());
            kb.text("value", r.env.get(var.as_bytes()).map(Vec::as_slice));
        }
        let library_path = r.env.get(&b"LIBRARY_PATH"[..]);
        let dirs = r.inv.native_dirs.iter().map(|d| d.as_bytes()).chain(
            library_path
                .into_iter()
                .flat_map(|v| v.split(|b| *b == b':'))
                .filter(|d| !d.is_empty()),
        );
        for dir in dirs {
            let abs = kb.view().resolve_raw(dir);
            kb.text("search_dir", Some(dir));
            for name in dir_names(&abs) {
                kb.bytes("name", name.as_bytes());
            }
        }
        let target = r.inv.target.as_deref().unwrap_or(&r.host);
        for dir in system_lib_dirs(&multiarch(target)) {
            if let Some(names) = self.pipe.dir_listing(&dir) {
                kb.os("system_dir", dir.as_os_str()).bytes("names", &names);
            }
        }
        Ok(())
    }

    /// The digest of the program `name` runs: a path (relative to cwd), or
    /// a bare name searched on `path_var` as `execvp` does. `None` when not
    /// found; a relative `PATH` entry passes through.
    fn program(
        &self,
        view: &Worktree,
        name: &OsStr,
        path_var: Option<&[u8]>,
    ) -> Result<Option<Digest>, Pt> {
        let found = if name.as_bytes().contains(&b'/') {
            Some(view.resolve_raw(name.as_bytes()))
        } else {
            search_path(name, path_var).map_err(|_| {
                Pt::new(
                    PassthroughReason::UnsupportedEnvironmentVariable,
                    "PATH has a relative directory",
                )
            })?
        };
        Ok(found.and_then(|p| self.core.meta.digest(&p).ok().map(|(_, d)| d)))
    }

    /// rustc's own linker for the target: every file under
    /// `<sysroot>/lib/rustlib/<target>/bin` (two levels: `gcc-ld/`), by
    /// content. rustc points the driver there (`-B…/gcc-ld -fuse-ld=lld`).
    fn key_rustlib_bin(&self, kb: &mut KeyBuilder<'_>, r: &Request) -> Result<(), Pt> {
        let target = r.inv.target.as_deref().unwrap_or(&r.host);
        let bin = r.sysroot.join("lib/rustlib").join(target).join("bin");
        let mut files = Vec::new();
        for name in dir_names(&bin) {
            let p = bin.join(&name);
            if p.is_dir() {
                files.extend(dir_names(&p).into_iter().map(|n| p.join(n)));
            } else {
                files.push(p);
            }
        }
        files.sort();
        for f in files {
            let (_, d) = self.core.meta.digest(&f).map_err(|e| {
                Pt::new(
                    PassthroughReason::CompilerCheckFailed,
                    &format!("{}: {e}", f.display()),
                )
            })?;
            kb.os("rustlib_bin", f.as_os_str()).bytes("digest", &d);
        }
        Ok(())
    }

    /// The files the linker read (its dependency list `text`), each by
    /// content and written before `moment` (rustc's spawn), as entry
    /// inputs.
    /// The link's own intermediates (the crate's object files in the
    /// out-dir, rustc's temporary directory there) are gone by now and are
    /// products of the keyed compile: they are left out; any other file
    /// that is gone fails the Store.
    pub(super) fn linked_inputs(
        &self,
        view: &Worktree,
        moment: i128,
        out_dir: &Path,
        own_prefix: &[u8],
        text: &[u8],
    ) -> Result<Vec<(FreePath, Digest)>, NotStoredReason> {
        let rule = depfile::parse(text).ok_or(NotStoredReason::BadDepfile)?;
        let mut found = BTreeMap::new();
        for token in &rule.deps {
            let spelled = depfile::unescape(token);
            let abs = view.resolve_raw(&spelled);
            if is_intermediate(&abs, out_dir, own_prefix) {
                continue;
            }
            let digest = self.core.input_digest(&abs, moment)?;
            found.insert(view.free_path(abs.as_os_str().as_bytes()), digest);
        }
        Ok(found.into_iter().collect())
    }
}

/// Whether a file the linker read is the link's own intermediate: an object
/// of this crate in the out-dir (`<crate><extra>.….o`) or a file in rustc's
/// temporary directory there (`rustcXXXXXX/`).
fn is_intermediate(abs: &Path, out_dir: &Path, own_prefix: &[u8]) -> bool {
    let Some(parent) = abs.parent() else {
        return false;
    };
    let name = abs.file_name().unwrap_or_default().as_bytes();
    if parent == out_dir {
        return name.starts_with(own_prefix) && name.ends_with(b".o");
    }
    parent.parent() == Some(out_dir)
        && parent
            .file_name()
            .is_some_and(|n| n.as_bytes().starts_with(b"rustc"))
}

/// The Debian multiarch name of a Rust target: the vendor dropped
/// (`x86_64-unknown-linux-gnu` → `x86_64-linux-gnu`).
fn multiarch(target: &OsStr) -> OsString {
    let t = target.to_string_lossy();
    let parts: Vec<&str> = t.split('-').collect();
    match parts.as_slice() {
        [arch, _vendor, os, env] => format!("{arch}-{os}-{env}").into(),
        _ => target.to_os_string(),
    }
}

/// The directories the linker searches without being told (the driver's
/// built-in library path and ld's default one), as far as they exist.
fn system_lib_dirs(multiarch: &OsStr) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for base in ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"] {
        let base = Path::new(base);
        dirs.push(base.to_path_buf());
        dirs.push(base.join(multiarch));
    }
    let gcc = Path::new("/usr/lib/gcc").join(multiarch);
    dirs.extend(dir_names(&gcc).into_iter().map(|v| gcc.join(v)));
    dirs.retain(|d| d.is_dir());
    dirs
}

impl super::RustPipeline {
    /// The digest of the names in `dir`, memoized by the directory's stat
    /// (a name added or removed moves its mtime). A directory changed in
    /// the last second is listed again each time: a change within the
    /// clock's tick would not move its stat.
    fn dir_listing(&self, dir: &Path) -> Option<Digest> {
        let stat = StatId::of(&std::fs::metadata(dir).ok()?);
        if let Some(m) = self.dir_listings.get(dir) {
            if m.0 == stat {
                return Some(m.1);
            }
        }
        let mut h = KeyHasher::new(domains::RUST_LINK_DIR);
        for name in dir_names(dir) {
            h.bytes("name", name.as_bytes());
        }
        let names = h.finish();
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        if stat.newest_ns() < now_ns - 1_000_000_000 {
            self.dir_listings.insert(dir.to_path_buf(), (stat, names));
        }
        Some(names)
    }
}

/// The names in a directory, sorted; none when it cannot be read.
fn dir_names(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The prefix of the crate's own object files: `<crate><extra>.`.
pub(super) fn own_prefix(crate_name: &OsStr, extra: &OsStr) -> Vec<u8> {
    let mut v = crate_name.as_bytes().to_vec();
    v.extend_from_slice(extra.as_bytes());
    v.push(b'.');
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn intermediates_are_the_crates_objects_and_rustcs_temporary_dir() {
        let out = p("/t/deps");
        let own = own_prefix(OsStr::new("m"), OsStr::new("-x"));
        for (f, want) in [
            ("/t/deps/m-x.m.f19d-cgu.0.rcgu.o", true),
            ("/t/deps/m-x.ej3b.rcgu.o", true),
            ("/t/deps/rustcOyUrDC/symbols.o", true),
            ("/t/deps/libitoa-1.rlib", false),
            ("/t/deps/n-x.a.rcgu.o", false),
            ("/t/deps/m-x.rlib", false),
            ("/t/other/rustcA/symbols.o", false),
            ("/usr/lib/x86_64-linux-gnu/crti.o", false),
        ] {
            assert_eq!(is_intermediate(&p(f), &out, &own), want, "{f}");
        }
    }

    #[test]
    fn the_dependency_file_arg_names_the_private_file() {
        assert_eq!(
            dependency_file_arg(Path::new("/p/l.d")),
            OsString::from("-Clink-arg=-Wl,--dependency-file=/p/l.d")
        );
    }
}
