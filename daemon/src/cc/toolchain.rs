//! What runs behind a C driver (corrections.md finding 5): the programs gcc
//! starts (`cc1`, `cc1plus`, `as`), found where gcc finds them, and the
//! default configuration files clang 16+ reads beside its executable. Their
//! bytes join the compiler's identity, so another `as` first on `PATH` or a
//! new `clang.cfg` is another compiler.
//!
//! Where gcc looks depends on its own directories, `COMPILER_PATH`,
//! `GCC_EXEC_PREFIX` and `-B`, which only gcc knows: the daemon asks it
//! through the wrapper (`-print-prog-name=`, one Probe round) and memoizes
//! the answer per (driver identity, those settings). A bare name in the
//! answer means gcc runs it through the caller's `PATH`, which the daemon
//! then searches itself. It runs nothing and decides no cacheability.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use dashmap::DashMap;
use frame::v1;

use crate::cc::Family;
use crate::meta::{is_racy, StatId};

/// The sub-programs gcc starts for a compile.
const GCC_PROGRAMS: &[&str] = &["cc1", "cc1plus", "as"];

/// What selects the programs: `-B` prefixes from the arguments and the
/// environment gcc reads for its search.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Selection {
    /// Memo key: the driver's identity, then everything below.
    pub(crate) key: Vec<u8>,
    /// `-B…` arguments, passed on to each probe run.
    b_args: Vec<OsString>,
    /// Whether clang is told to run an external assembler.
    external_as: bool,
    family: Family,
    /// No `-B`, `COMPILER_PATH` or `GCC_EXEC_PREFIX`: the driver looks only
    /// in its own directories before `PATH`, so its answer may be kept.
    /// Otherwise a program appearing in one of those directories would
    /// change it unseen, and the driver is asked on every compile.
    pub(crate) memoizable: bool,
}

impl Selection {
    /// `prefixes` are the `-B`/`--prefix` values in order, `args` the
    /// expanded arguments, `env` the caller's environment.
    pub(crate) fn of(
        identity: &[u8],
        family: Family,
        prefixes: &[OsString],
        args: &[OsString],
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Selection {
        let b_args: Vec<OsString> = prefixes
            .iter()
            .map(|p| {
                let mut joined = OsString::from("-B");
                joined.push(p);
                joined
            })
            .collect();
        // The last of clang's assembler switches wins.
        let external_as = args
            .iter()
            .rev()
            .find_map(|a| match a.as_bytes() {
                b"-fno-integrated-as" | b"-no-integrated-as" => Some(true),
                b"-fintegrated-as" | b"-integrated-as" => Some(false),
                _ => None,
            })
            .unwrap_or(false);
        let memoizable = b_args.is_empty()
            && !env.contains_key(&b"COMPILER_PATH"[..])
            && !env.contains_key(&b"GCC_EXEC_PREFIX"[..]);
        let mut key = identity.to_vec();
        for b in &b_args {
            key.push(0);
            key.extend_from_slice(b.as_bytes());
        }
        for var in ["COMPILER_PATH", "GCC_EXEC_PREFIX"] {
            key.push(1);
            match env.get(var.as_bytes()) {
                Some(v) => {
                    key.push(1);
                    key.extend_from_slice(v);
                }
                None => key.push(0),
            }
        }
        key.push(external_as as u8);
        Selection {
            key,
            b_args,
            external_as,
            family,
            memoizable,
        }
    }

    /// The programs to ask the driver about: gcc's, or clang's external
    /// assembler. emcc and an integrated-assembler clang need none.
    fn programs(&self) -> &'static [&'static str] {
        match self.family {
            Family::Gcc => GCC_PROGRAMS,
            Family::Clang if self.external_as => &["as"],
            Family::Clang | Family::Emcc => &[],
        }
    }

    /// The probe runs that answer [`Selection::programs`].
    pub(crate) fn probe_runs(&self) -> Vec<Vec<u8>> {
        self.programs()
            .iter()
            .map(|p| format!("-print-prog-name={p}").into_bytes())
            .collect()
    }

    /// The argv\[1..\] of one probe run.
    pub(crate) fn run_args(&self, run: &[u8]) -> Vec<Vec<u8>> {
        let mut args: Vec<Vec<u8>> = self.b_args.iter().map(|b| b.as_bytes().to_vec()).collect();
        args.push(run.to_vec());
        args
    }

    /// Each program and what the driver printed for it, from the probe
    /// results; `None` when one is missing or failed.
    pub(crate) fn answers(&self, results: &[v1::ProbeResult]) -> Option<Programs> {
        let mut found = Vec::new();
        for (program, run) in self.programs().iter().zip(self.probe_runs()) {
            let want = self.run_args(&run);
            let result = results
                .iter()
                .find(|r| r.args == want && r.exit_code == 0)?;
            let printed = result.stdout.strip_suffix(b"\n").unwrap_or(&result.stdout);
            found.push((program.to_string(), printed.to_vec()));
        }
        Some(Programs(found))
    }

    /// Whether the driver runs no program we key (nothing to ask).
    pub(crate) fn is_empty(&self) -> bool {
        self.programs().is_empty()
    }
}

/// What the driver printed for each program: a path, or a bare name it
/// runs through `PATH`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Programs(Vec<(String, Vec<u8>)>);

impl Programs {
    /// The file each program resolves to for a caller with `env` (`None`:
    /// not found, keyed as such: the compile then fails, bare). `Err` when
    /// a search through `PATH` meets a relative directory, which names
    /// something else in every cwd.
    #[allow(clippy::type_complexity)]
    pub(crate) fn resolve(
        &self,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<Vec<(String, Option<PathBuf>)>, RelativePath> {
        self.0
            .iter()
            .map(|(name, printed)| {
                let printed = Path::new(OsStr::from_bytes(printed));
                let path = if printed.components().count() > 1 {
                    Some(printed.to_path_buf())
                } else {
                    search_path(
                        printed.as_os_str(),
                        env.get(&b"PATH"[..]).map(Vec::as_slice),
                    )?
                };
                Ok((name.clone(), path))
            })
            .collect()
    }
}

/// `PATH` has a relative (or empty, meaning the cwd) directory before the
/// program was found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RelativePath;

/// `execvp`'s search: the first executable regular file named `name` in
/// `PATH` (unset: glibc's default).
pub(crate) fn search_path(
    name: &OsStr,
    path: Option<&[u8]>,
) -> Result<Option<PathBuf>, RelativePath> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.unwrap_or(b"/bin:/usr/bin");
    for dir in path.split(|c| *c == b':') {
        if dir.first() != Some(&b'/') {
            return Err(RelativePath);
        }
        let candidate = Path::new(OsStr::from_bytes(dir)).join(name);
        if let Ok(md) = std::fs::metadata(&candidate) {
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return Ok(Some(candidate));
            }
        }
    }
    Ok(None)
}

/// clang's default configuration files that could apply: every `*.cfg` in
/// the directory of the real executable (`<triple>-<mode>.cfg`,
/// `<mode>.cfg` for each driver mode), sorted. Read by clang 16+ unless
/// `--no-default-config` or `CLANG_NO_DEFAULT_CONFIG` (both keyed). The
/// listing is memoized while the directory's stat is unchanged (a file
/// added or removed changes its mtime), so a clang in a large `/usr/bin`
/// is listed once.
#[derive(Default)]
pub(crate) struct ConfigDirs {
    listed: DashMap<PathBuf, (StatId, Vec<PathBuf>)>,
}

impl ConfigDirs {
    pub(crate) fn files(&self, compiler: &Path) -> std::io::Result<Vec<PathBuf>> {
        let real = std::fs::canonicalize(compiler)?;
        let Some(dir) = real.parent() else {
            return Ok(Vec::new());
        };
        let stat = StatId::of(&std::fs::metadata(dir)?);
        if let Some(known) = self.listed.get(dir) {
            if known.0 == stat {
                return Ok(known.1.clone());
            }
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension() == Some(OsStr::new("cfg")) {
                found.push(path);
            }
        }
        found.sort();
        let after = StatId::of(&std::fs::metadata(dir)?);
        if after == stat && !is_racy(&stat) {
            self.listed.insert(dir.to_path_buf(), (stat, found.clone()));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn selection_takes_b_prefixes_and_the_environment() {
        let env = BTreeMap::new();
        let s = Selection::of(b"id", Family::Gcc, &os(&["x/", "y/", "z/"]), &[], &env);
        assert_eq!(s.b_args, os(&["-Bx/", "-By/", "-Bz/"]));
        assert_eq!(
            s.run_args(b"-print-prog-name=as"),
            [
                b"-Bx/".to_vec(),
                b"-By/".to_vec(),
                b"-Bz/".to_vec(),
                b"-print-prog-name=as".to_vec()
            ]
        );
        let plain = Selection::of(b"id", Family::Gcc, &[], &os(&["-c"]), &env);
        let mut with_path = BTreeMap::new();
        with_path.insert(b"COMPILER_PATH".to_vec(), b"/opt".to_vec());
        let other = Selection::of(b"id", Family::Gcc, &[], &os(&["-c"]), &with_path);
        assert_ne!(plain.key, s.key);
        assert_ne!(plain.key, other.key);
        assert!(plain.memoizable && !s.memoizable && !other.memoizable);
        let clang = |args: &[&str]| Selection::of(b"id", Family::Clang, &[], &os(args), &env);
        assert!(clang(&["-c"]).probe_runs().is_empty());
        assert_eq!(
            clang(&["-fno-integrated-as"]).probe_runs(),
            [b"-print-prog-name=as".to_vec()]
        );
        assert!(clang(&["-fno-integrated-as", "-fintegrated-as"])
            .probe_runs()
            .is_empty());
    }

    #[test]
    fn config_files_beside_the_real_executable() {
        let dir = std::env::temp_dir().join(format!("zccache-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(dir.join("bin/clang"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.join("bin/clang"), dir.join("link")).unwrap();
        let dirs = ConfigDirs::default();
        assert!(dirs.files(&dir.join("link")).unwrap().is_empty());
        std::fs::write(dir.join("bin/clang++.cfg"), b"-DX").unwrap();
        std::fs::write(dir.join("clang.cfg"), b"-DY").unwrap();
        assert_eq!(
            dirs.files(&dir.join("link")).unwrap(),
            [dir.join("bin/clang++.cfg")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bare_names_resolve_through_path() {
        let env: BTreeMap<Vec<u8>, Vec<u8>> =
            [(b"PATH".to_vec(), b"/nonexistent:/bin:/usr/bin".to_vec())].into();
        let p = Programs(vec![
            ("as".into(), b"sh".to_vec()),
            ("cc1".into(), b"/x/cc1".to_vec()),
            ("none".into(), b"no-such-program-here".to_vec()),
        ]);
        let r = p.resolve(&env).unwrap();
        assert!(r[0].1.as_ref().is_some_and(|p| p.ends_with("sh")));
        assert_eq!(r[1].1.as_deref(), Some(Path::new("/x/cc1")));
        assert_eq!(r[2].1, None);
        let relative: BTreeMap<Vec<u8>, Vec<u8>> = [(b"PATH".to_vec(), b":/bin".to_vec())].into();
        assert_eq!(p.resolve(&relative), Err(RelativePath));
    }
}
