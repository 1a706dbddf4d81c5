//! Finds the real compiler the way a POSIX shell would (a name with a '/' is a path from cwd, any other name is searched on PATH), skipping this executable; it never runs anything.

use std::error::Error;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::invocation::is_wrapper_name;
use crate::os;

/// `execvp`'s search path when PATH is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The program to run and the argv[0] to give it.
#[derive(Debug, PartialEq, Eq, Clone)]
pub(crate) struct Compiler {
    /// Absolute (not canonicalized: a `clang++ -> clang-17` link keeps the
    /// name that selects the driver mode).
    pub(crate) exe: PathBuf,
    pub(crate) argv0: OsString,
}

/// Where and how to look.
pub(crate) struct Search<'a> {
    pub(crate) path: Option<&'a OsStr>,
    pub(crate) cwd: &'a Path,
    pub(crate) is_self: &'a dyn Fn(&Path) -> bool,
}

/// Why no compiler could be found; the shell's exit codes apply.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// A name searched on PATH and not found there.
    NotFound(OsString),
    /// A path (the name has a '/') with nothing at it.
    NoSuchFile(PathBuf),
    NotExecutable(PathBuf),
    /// `zccache zccache` with nothing after it.
    MissingCompiler,
}

impl<'a> Search<'a> {
    /// `zccache <compiler> args…`: resolves the compiler, skipping nested
    /// `zccache` arguments, and returns it with the compiler's own args.
    pub(crate) fn wrap(
        &self,
        compiler: OsString,
        args: Vec<OsString>,
    ) -> Result<(Compiler, Vec<OsString>), ResolveError> {
        let mut compiler = compiler;
        let mut args = args.into_iter();
        loop {
            let exe = self.lookup(&compiler, false)?;
            if !(self.is_self)(&exe) {
                return Ok((
                    Compiler {
                        exe,
                        argv0: compiler,
                    },
                    args.collect(),
                ));
            }
            if !is_wrapper_name(&compiler) {
                // A compiler-named link to us given as the compiler, as in
                // CC="zccache gcc" with a masquerade directory first on PATH.
                return Ok((self.masquerade(&compiler)?, args.collect()));
            }
            compiler = args.next().ok_or(ResolveError::MissingCompiler)?;
        }
    }

    /// Invoked as `argv0` through a compiler-named link to us: the next
    /// executable of that name on PATH that is not us. Like ccache, the real
    /// compiler gets its own path as argv[0], so that it does not find its
    /// installation through our link.
    pub(crate) fn masquerade(&self, argv0: &OsStr) -> Result<Compiler, ResolveError> {
        let name = Path::new(argv0)
            .file_name()
            .ok_or_else(|| ResolveError::NotFound(argv0.to_owned()))?;
        let exe = self.lookup(name, true)?;
        Ok(Compiler {
            argv0: exe.clone().into_os_string(),
            exe,
        })
    }

    fn lookup(&self, spelled: &OsStr, skip_self: bool) -> Result<PathBuf, ResolveError> {
        if spelled.is_empty() {
            return Err(ResolveError::NotFound(spelled.to_owned()));
        }
        if spelled.as_bytes().contains(&b'/') {
            let candidate = self.absolute(Path::new(spelled));
            return match os::executable(&candidate) {
                Some(true) => Ok(candidate),
                Some(false) => Err(ResolveError::NotExecutable(candidate)),
                None => Err(ResolveError::NoSuchFile(candidate)),
            };
        }
        let path = self.path.unwrap_or(OsStr::new(DEFAULT_PATH));
        std::env::split_paths(path)
            .map(|dir| self.absolute(&dir).join(spelled))
            .find(|candidate| {
                os::executable(candidate) == Some(true) && !(skip_self && (self.is_self)(candidate))
            })
            .ok_or_else(|| ResolveError::NotFound(spelled.to_owned()))
    }

    /// `p` against cwd, with `.` components dropped; `..` is kept, since
    /// resolving it lexically would be wrong across symlinks.
    fn absolute(&self, p: &Path) -> PathBuf {
        self.cwd.join(p).components().collect()
    }
}

impl ResolveError {
    /// What a shell would exit with.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            ResolveError::NotExecutable(_) => 126,
            ResolveError::NotFound(_)
            | ResolveError::NoSuchFile(_)
            | ResolveError::MissingCompiler => 127,
        }
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotFound(name) => {
                write!(f, "{}: command not found", name.to_string_lossy())
            }
            ResolveError::NoSuchFile(path) => {
                write!(f, "{}: no such file or directory", path.display())
            }
            ResolveError::NotExecutable(path) => {
                write!(f, "{}: permission denied", path.display())
            }
            ResolveError::MissingCompiler => f.write_str("missing compiler after zccache"),
        }
    }
}

impl Error for ResolveError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory per test under the system temp dir.
    fn scratch() -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zccache-resolve-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn program(path: &Path, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn os(values: &[&str]) -> Vec<OsString> {
        values.iter().map(OsString::from).collect()
    }

    /// A tree with a "real" zccache binary, masquerade links to it, and
    /// real compilers further down PATH.
    struct Tree {
        root: PathBuf,
        path: OsString,
    }

    impl Tree {
        fn new() -> Tree {
            let root = scratch();
            program(&root.join("bin/zccache"), 0o755);
            fs::create_dir_all(root.join("masq")).unwrap();
            symlink(root.join("bin/zccache"), root.join("masq/gcc")).unwrap();
            symlink("../bin/zccache", root.join("masq/cc")).unwrap();
            fs::hard_link(root.join("bin/zccache"), root.join("masq/clang")).unwrap();
            program(&root.join("usr/gcc"), 0o755);
            program(&root.join("usr/cc"), 0o755);
            program(&root.join("noexec/clang"), 0o644);
            program(&root.join("usr2/clang"), 0o755);
            program(&root.join("work/compiler.sh"), 0o755);
            program(&root.join("work/notes.sh"), 0o644);
            let path = std::env::join_paths(
                ["masq", "bin", "usr", "noexec", "usr2"].map(|d| root.join(d)),
            )
            .unwrap();
            Tree { root, path }
        }

        fn search<R>(&self, path: Option<&OsStr>, f: impl FnOnce(&Search<'_>) -> R) -> R {
            let me = os::file_id(&self.root.join("bin/zccache")).unwrap();
            let is_self = move |p: &Path| os::file_id(p) == Some(me);
            let cwd = self.root.join("work");
            f(&Search {
                path,
                cwd: &cwd,
                is_self: &is_self,
            })
        }

        #[track_caller]
        fn check_wrap(&self, argv: &[&str], expected: Result<(&str, &str, &[&str]), ResolveError>) {
            let mut argv = os(argv);
            let compiler = argv.remove(0);
            let got = self.search(Some(&self.path), |s| s.wrap(compiler, argv));
            let expected = expected.map(|(exe, argv0, args)| {
                (
                    Compiler {
                        exe: self.root.join(exe),
                        argv0: argv0.into(),
                    },
                    os(args),
                )
            });
            assert_eq!(got, expected);
        }

        #[track_caller]
        fn check_masquerade(&self, argv0: &str, expected: Result<&str, ResolveError>) {
            let got = self.search(Some(&self.path), |s| s.masquerade(OsStr::new(argv0)));
            let expected = expected.map(|exe| {
                let exe = self.root.join(exe);
                Compiler {
                    argv0: exe.clone().into(),
                    exe,
                }
            });
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn wrap_searches_path_like_the_shell() {
        let t = Tree::new();
        t.check_wrap(
            &["../usr2/clang"],
            Ok(("work/../usr2/clang", "../usr2/clang", &[])),
        );
        t.check_wrap(
            &["./compiler.sh", "-c"],
            Ok(("work/compiler.sh", "./compiler.sh", &["-c"])),
        );
        t.check_wrap(
            &["compiler.sh"],
            Err(ResolveError::NotFound("compiler.sh".into())),
        );
        t.check_wrap(
            &["./notes.sh"],
            Err(ResolveError::NotExecutable(t.root.join("work/notes.sh"))),
        );
        let abs = t.root.join("usr/cc");
        t.check_wrap(
            &[abs.to_str().unwrap(), "x"],
            Ok(("usr/cc", abs.to_str().unwrap(), &["x"])),
        );
        t.check_wrap(
            &["nonesuch"],
            Err(ResolveError::NotFound("nonesuch".into())),
        );
        t.check_wrap(&[""], Err(ResolveError::NotFound("".into())));
        t.check_wrap(
            &["./absent.sh"],
            Err(ResolveError::NoSuchFile(t.root.join("work/absent.sh"))),
        );
    }

    #[test]
    fn wrap_skips_nested_wrappers() {
        let t = Tree::new();
        t.check_wrap(
            &["zccache", "zccache", "./compiler.sh", "-O2"],
            Ok(("work/compiler.sh", "./compiler.sh", &["-O2"])),
        );
        t.check_wrap(&["zccache"], Err(ResolveError::MissingCompiler));
        let me = t.root.join("bin/zccache");
        t.check_wrap(
            &[me.to_str().unwrap(), "../usr/cc"],
            Ok(("work/../usr/cc", "../usr/cc", &[])),
        );
    }

    #[test]
    fn wrap_of_a_masquerade_link_finds_the_real_compiler() {
        let t = Tree::new();
        // "gcc" on PATH is our link; the real one comes later.
        t.check_wrap(
            &["gcc", "-c", "a.c"],
            Ok((
                "usr/gcc",
                t.root.join("usr/gcc").to_str().unwrap(),
                &["-c", "a.c"],
            )),
        );
        t.check_wrap(
            &["../masq/cc"],
            Ok(("usr/cc", t.root.join("usr/cc").to_str().unwrap(), &[])),
        );
    }

    #[test]
    fn masquerade_finds_the_next_one_that_is_not_us() {
        let t = Tree::new();
        t.check_masquerade("gcc", Ok("usr/gcc"));
        t.check_masquerade("/somewhere/else/cc", Ok("usr/cc"));
        // A hard link is us too; a non-executable file is skipped.
        t.check_masquerade("clang", Ok("usr2/clang"));
        t.check_masquerade("tcc", Err(ResolveError::NotFound("tcc".into())));
    }

    #[test]
    fn empty_path_entries_mean_cwd() {
        let t = Tree::new();
        let path = std::env::join_paths([PathBuf::new(), t.root.join("usr")]).unwrap();
        let got = t.search(Some(&path), |s| s.wrap("compiler.sh".into(), vec![]));
        let exe = t.root.join("work/compiler.sh");
        assert_eq!(
            got,
            Ok((
                Compiler {
                    exe,
                    argv0: "compiler.sh".into()
                },
                vec![]
            ))
        );
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(ResolveError::NotFound("x".into()).exit_code(), 127);
        assert_eq!(ResolveError::NotExecutable("x".into()).exit_code(), 126);
        assert_eq!(ResolveError::NoSuchFile("./x".into()).exit_code(), 127);
        assert_eq!(
            ResolveError::NotFound("cc".into()).to_string(),
            "cc: command not found"
        );
    }
}
