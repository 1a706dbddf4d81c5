//! C, C++ and Emscripten argument classification: argv in, a typed `Invocation` or a countable `Passthrough` out.
//!
//! It does no I/O besides reading response files through [`FileReader`]: no stat, no
//! compiler runs, no hashing. Whatever needs the file system (does `-o dir` name a
//! directory, which `.gch` sits next to an `-include`, where a `-fprofile-use` directory
//! keeps its data) is left to the caller, which gets the spelled paths.
//!
//! Two stages (style rule 6):
//! 1. syntactic: [`expand_response_files`], then a per-family flag table (`flags.rs`) that
//!    splits argv into flags with their values and positional inputs;
//! 2. semantic: [`classify`] turns that split into an [`Invocation`] (one [`Unit`] per
//!    source) or a [`Passthrough`] whose [`Reason`] is named after ccache's counters.
//!
//! Behaviour that must match the compilers (derived object, depfile, `.dwo` and `.gcno`
//! names, default depfile targets) was checked against gcc 12 and clang 14; the
//! `real_tests` module re-checks it against whatever gcc and clang are installed.

mod classify;
pub(crate) mod date_time;
mod env;
mod flags;
pub(crate) mod key;
pub(crate) mod moment;
mod names;
pub(crate) mod pipeline;
mod profile;
mod rsp;
mod search;
pub(crate) mod toolchain;
pub(crate) mod tz;

#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use crate::reasons::PassthroughReason;

pub(crate) use classify::classify;
pub(crate) use env::{is_emcc_env, is_volatile_for_scripts, key_env_vars, terminal_facts};
pub(crate) use rsp::{expand_response_files, FsReader};
pub(crate) use search::{builtin_probe, env_dirs, parse_builtin_chain, EnvDirs, INCLUDE_PATH_VARS};

/// Compiler family, which decides the flag table, response-file syntax and naming rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Gcc,
    Clang,
    Emcc,
}

/// The classifier's verdict: a cacheable call, or why the compiler must run unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one short-lived value per request"
)]
pub(crate) enum Classified {
    Compile(Invocation),
    Passthrough(Passthrough),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Passthrough {
    pub(crate) reason: Reason,
    /// The offending argument or a short explanation, for logs only.
    pub(crate) detail: String,
}

/// The classifier's passthrough reasons, finer than the counters they map
/// onto (`counter`): `as_str` gives ccache's statistics counter name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Reason {
    CalledForLink,
    CalledForPreprocessing,
    MultipleSourceFiles,
    UnsupportedCompilerOption,
    UnsupportedSourceLanguage,
    NoInputFile,
    /// Source read from stdin (`-`). ccache counts it as `no_input_file`, and so do we.
    StdinInput,
    BadOutputFile,
    /// `-o` given more than once. gcc's driver names a derived depfile after every
    /// `-o`, so the `-MD` a miss adds would break a build that succeeds bare.
    RepeatedOutput,
    /// `-MF`, `-MT`, `-MQ`, `-MP` or `-MG` without `-MD`, `-MMD` or `-M`: gcc refuses
    /// it and clang warns that the argument is unused, which the `-MD` a miss adds
    /// would hide.
    DependencyOptionWithoutDepfile,
    OutputToStdout,
    BadCompilerArguments,
    UnsupportedEnvironmentVariable,
    CouldNotUsePrecompiledHeader,
    CouldNotUseModules,
}

/// What the compiler is asked to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    /// `-c`: an object file.
    Compile,
    /// `-S`: an assembly file.
    Assemble,
    /// `-fsyntax-only`: diagnostics (and a depfile if asked), no output file.
    SyntaxOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DepMode {
    None,
    /// `-MD` or `-Wp,-MD,f`: every header.
    Md,
    /// `-MMD` or `-Wp,-MMD,f`: system headers left out. Wins over `-MD` in either order,
    /// for gcc and clang alike.
    Mmd,
}

/// The dependency-file request as the user spelled it; per-unit results live in [`Unit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DepSpec {
    pub(crate) mode: DepMode,
    /// The last `-MF` value, or the path of `-Wp,-MD,f` / `-Wp,-MMD,f`, as spelled.
    pub(crate) file: Option<OsString>,
    /// `-MT` (raw) and `-MQ` (make-quoted) in order. Empty means the default target.
    pub(crate) targets: Vec<DepTarget>,
    /// `-MP`: a phony rule per dependency.
    pub(crate) phony: bool,
    /// `-MG`: missing headers are listed as if generated.
    pub(crate) missing_ok: bool,
    /// The request came through `-Wp,`: gcc's cc1 then ignores `-o` for the default target.
    pub(crate) via_wp: bool,
}

/// One target of the depfile's first rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DepTarget {
    /// `-MT x`: written as is.
    Raw(OsString),
    /// `-MQ x`, and the default target: make metacharacters escaped.
    Quoted(OsString),
}

/// Include search chain as given on the command line, in order, values as spelled.
/// Built-in system directories are not here: they come from the compiler probe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SearchPath {
    /// `-iquote`: searched for `"…"` only, after the includer's directory.
    pub(crate) iquote: Vec<OsString>,
    /// `-I` (and `--include-directory`).
    pub(crate) angled: Vec<OsString>,
    /// `-isystem`.
    pub(crate) system: Vec<OsString>,
    /// `-idirafter`, searched after the built-in system directories.
    pub(crate) after: Vec<OsString>,
    /// `-nostdinc`: the built-in system directories are not searched.
    pub(crate) nostdinc: bool,
}

/// A file besides the source and its headers whose state goes into the key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ExtraInput {
    /// As spelled, relative to the compiler's cwd.
    pub(crate) path: OsString,
    pub(crate) kind: ExtraInputKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ExtraInputKind {
    /// Hash the contents. If the file cannot be read, the call must pass through: the
    /// compiler may be finding it somewhere else (gcc looks for `-specs` in its own
    /// directories).
    Content,
    /// Only the mtime matters (`-fbuild-session-file`).
    MtimeOnly,
    /// `-include`/`-imacros`: found relative to cwd, else through the `"…"` chain; its
    /// contents reach the key through the include set. gcc and clang use a sibling
    /// `<path>.gch` (or `.pch`) instead when one is valid, which the caller must detect.
    Include,
    /// `-fprofile-use` and friends: a file, or (clang) a directory holding
    /// `default.profdata`. An empty path means the file follows from the object:
    /// gcc reads `<object stem>.gcda`, or under `Invocation::profile_dir` the
    /// object's mangled absolute stem there; clang reads `default.profdata` in cwd.
    ProfileUse,
}

/// Source language, decided per unit from the last `-x` before it or its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Language {
    C,
    Cxx,
    /// Preprocessed C (`.i`, `-x cpp-output`).
    CPreprocessed,
    /// Preprocessed C++ (`.ii`, `-x c++-cpp-output`).
    CxxPreprocessed,
    /// `.s`, `-x assembler`: no preprocessor, so no depfile.
    Asm,
    /// `.S`, `-x assembler-with-cpp`.
    AsmWithCpp,
}

/// One source file of the call, keyed and stored as if compiled alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    /// Where the source sits in the expanded argv.
    pub(crate) arg_index: usize,
    /// As spelled (it is `__FILE__`).
    pub(crate) source: OsString,
    pub(crate) language: Language,
    /// The object (`-c`) or assembly (`-S`) path: `-o`, else derived into cwd. `None`
    /// with `-fsyntax-only`.
    pub(crate) output: Option<OsString>,
    /// Where the compiler writes this unit's depfile, if it writes one. `/dev/null` is
    /// passed on as spelled.
    pub(crate) depfile: Option<OsString>,
    /// The targets of the depfile's first rule as the compiler writes them for this
    /// unit (explicit `-MT`/`-MQ`, else the default). Empty when there is no depfile.
    pub(crate) dep_targets: Vec<DepTarget>,
    /// The `.dwo` the compiler may write (gcc 12 writes one even without `-g`).
    pub(crate) dwo: Option<OsString>,
    /// The `.gcno` coverage notes file.
    pub(crate) gcno: Option<OsString>,
    /// The `.su` of `-fstack-usage`.
    pub(crate) stack_usage: Option<OsString>,
    /// The assembler listing file of `-Wa,-a…=file` (a listing without a
    /// file goes to stdout, which is stored anyway).
    pub(crate) listing: Option<OsString>,
}

/// A cacheable call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// Spans of the expanded argv a dependency-only (`-M`) run must drop:
    /// mode, output, depfile and diagnostics-file flags.
    pub(crate) probe_drop: Vec<(usize, usize)>,
    pub(crate) family: Family,
    /// Driver is g++/c++/clang++/em++: `.c`, `.i` and `.h` inputs are C++.
    pub(crate) cplusplus: bool,
    pub(crate) mode: Mode,
    /// Expanded args in original order, minus `-o` and its value, `-MF`/`-MT`/`-MQ` and
    /// their values, the path of `-Wp,-MD,path` (kept as the marker `-Wp,-MD,`), the
    /// `--serialize-diagnostics` path and the sources. With `record_command_line` it is
    /// the whole expanded argv instead, since the object then embeds all of it.
    pub(crate) key_args: Vec<OsString>,
    /// The path values in `key_args` (see `FlagSpec::value_is_path`): index into
    /// `key_args` and the byte offset at which the path starts.
    pub(crate) key_paths: Vec<(usize, usize)>,
    /// One per source, in order.
    pub(crate) units: Vec<Unit>,
    pub(crate) dep: DepSpec,
    pub(crate) search: SearchPath,
    pub(crate) extra_inputs: Vec<ExtraInput>,
    /// Effective debug level: the last level-setting `-g*` wins, `-g0` turns it off,
    /// `-gz` and other modifiers leave it alone; unknown `-g*` spellings count as 2.
    pub(crate) debug_level: u8,
    /// `-fdebug-prefix-map=old=new` and `-ffile-prefix-map=old=new`, in order.
    pub(crate) prefix_maps: Vec<(OsString, OsString)>,
    /// `-fdebug-compilation-dir` or `-ffile-compilation-dir` given: the object records
    /// that instead of cwd.
    pub(crate) debug_compilation_dir: bool,
    /// Any prefix map or compilation-directory flag of the user's own (every
    /// `MapKind`): path remap then leaves the call alone.
    pub(crate) user_prefix_map: bool,
    /// clang `-include-pch`: a precompiled header is read.
    pub(crate) include_pch: bool,
    /// `--coverage`, `-ftest-coverage` or `-fprofile-arcs`.
    pub(crate) coverage: bool,
    /// `-fprofile-generate` and friends: the object embeds where its profile goes.
    pub(crate) profile_generate: bool,
    /// Something other than debug info records cwd (coverage, `-fprofile-abs-path`,
    /// `-fcoverage-mapping`, profile generation).
    pub(crate) cwd_in_output: bool,
    pub(crate) split_dwarf: bool,
    /// `--serialize-diagnostics` path (clang).
    pub(crate) serialize_diagnostics: Option<OsString>,
    /// The last valid user colour flag: `Some(true)` forces colour, `Some(false)`
    /// forbids it, `None` (no flag, or `=auto`) leaves the decision to us.
    pub(crate) user_color: Option<bool>,
    /// False when gcc was given clang's `-fcolor-diagnostics`: gcc rejects it, so the
    /// call must fail exactly as bare and nothing is stored.
    pub(crate) color_flag_valid: bool,
    /// `-march=native`, `-mcpu=native` or `-mtune=native`: the probe's expansion must
    /// join the key.
    pub(crate) march_native: bool,
    /// clang `-frecord-command-line`/`-grecord-command-line`: the object embeds the full
    /// command line, output paths included.
    pub(crate) record_command_line: bool,
    /// emcc: `--em-config` value, else `EM_CONFIG`; `None` means emcc's default config
    /// file, which the caller must find next to emcc.
    pub(crate) em_config: Option<OsString>,
    /// emcc: `-s NAME=V` / `-sNAME=V` settings as `NAME=V` (or `NAME`), in order.
    pub(crate) emcc_settings: Vec<OsString>,
    /// emcc: a port (`-sUSE_*`, `--use-port`) may be built into the Emscripten cache
    /// during this compile, so a first run must not be trusted as a hit.
    pub(crate) emcc_ports: bool,
    /// `-B` and `--prefix` values in order: the driver looks for `cc1` and
    /// `as` there first.
    pub(crate) program_prefixes: Vec<OsString>,
    /// gcc: the value of the last `-fprofile-use=` or `-fprofile-dir=`, the
    /// directory profile data is read from under the object's mangled path.
    pub(crate) profile_dir: Option<OsString>,
    /// `-Wa,-a…`: GNU as writes a listing (on stdout or into a file), which
    /// may quote the source and headers as `as` finds them.
    pub(crate) asm_listing: bool,
}

impl Family {
    /// Family from the compiler's name (`argv[0]` or the resolved executable's name).
    /// `cc` and `c++` map to gcc here (the argument vectors name them so); the
    /// pipeline asks them instead, since they are clang on some systems
    /// ([`Driver::named`]).
    pub(crate) fn from_argv0(name: &OsStr) -> Option<Family> {
        let base = driver_base(name)?;
        if base == "emcc" || base == "em++" {
            return Some(Family::Emcc);
        }
        if base == "clang"
            || base == "clang++"
            || base.ends_with("-clang")
            || base.ends_with("-clang++")
        {
            return Some(Family::Clang);
        }
        if matches!(base, "gcc" | "g++" | "cc" | "c++")
            || base.ends_with("-gcc")
            || base.ends_with("-g++")
        {
            return Some(Family::Gcc);
        }
        None
    }

    /// Whether the driver compiles `.c` (and `.i`, `.h`) as C++: g++, c++, clang++, em++.
    pub(crate) fn is_cplusplus_driver(name: &OsStr) -> bool {
        driver_base(name).is_some_and(|base| {
            matches!(base, "g++" | "c++" | "clang++" | "em++")
                || base.ends_with("-g++")
                || base.ends_with("-c++")
                || base.ends_with("-clang++")
        })
    }
}

/// A compiler driver: its family and whether it compiles `.c` as C++.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Driver {
    pub(crate) family: Family,
    pub(crate) cplusplus: bool,
}

/// What a compiler not named after its driver is asked, in order:
/// `--version` (which says clang), `-dumpmachine` (which every gcc and
/// clang answers with its target) and what gcc's driver would run for a
/// `.c` file (`cc1` or `cc1plus`: gcc or g++).
pub(crate) const IDENTIFY_RUNS: &[&[&str]] = &[
    &["--version"],
    &["-dumpmachine"],
    &["-###", "-c", "zccache-probe.c"],
];

impl Driver {
    /// The driver its name says it is: any name `Family::from_argv0` knows
    /// but `cc` and `c++`, which are gcc on some systems and clang on
    /// others; the name it was called by first, else the executable's (a
    /// link `mycc` to `gcc-12`). A clang binary still takes its mode from
    /// the name it was called by. `None` when it must be probed.
    pub(crate) fn named(argv0: &OsStr, compiler: &Path) -> Option<Driver> {
        let said = |name: &OsStr| {
            let base = driver_base(name)?;
            if matches!(base, "cc" | "c++") {
                return None;
            }
            Family::from_argv0(name).map(|family| Driver {
                family,
                cplusplus: Family::is_cplusplus_driver(name),
            })
        };
        if let Some(driver) = said(argv0) {
            return Some(driver);
        }
        let driver = said(compiler.file_name()?)?;
        match driver.family {
            Family::Clang => clang_mode(argv0).map(|cplusplus| Driver {
                family: Family::Clang,
                cplusplus,
            }),
            _ => Some(driver),
        }
    }

    /// The drivers a compiler called `argv0` may be, before it is asked.
    pub(crate) fn candidates(argv0: &OsStr) -> Vec<Driver> {
        let mut candidates = vec![
            Driver {
                family: Family::Gcc,
                cplusplus: false,
            },
            Driver {
                family: Family::Gcc,
                cplusplus: true,
            },
        ];
        if let Some(cplusplus) = clang_mode(argv0) {
            candidates.push(Driver {
                family: Family::Clang,
                cplusplus,
            });
        }
        candidates
    }
}

/// A probe run's exit code, stdout and stderr.
pub(crate) type ProbeAnswer<'a> = (i32, &'a [u8], &'a [u8]);

/// Which driver a compiler is from its answers to [`IDENTIFY_RUNS`]
/// (`answer(args)` gives exit code, stdout and stderr of a run): clang when
/// `--version` says so, gcc when its driver would run `cc1` or `cc1plus`,
/// each only with a target from `-dumpmachine`. emcc is a script and never
/// probed.
pub(crate) fn identify_driver<'a>(
    argv0: &OsStr,
    answer: &dyn Fn(&[&str]) -> Option<ProbeAnswer<'a>>,
) -> Option<Driver> {
    let ok = |args: &[&str]| answer(args).filter(|(code, _, _)| *code == 0);
    let (_, machine, _) = ok(IDENTIFY_RUNS[1])?;
    if machine.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let (_, version, _) = ok(IDENTIFY_RUNS[0])?;
    if contains(version, b"clang version") {
        return clang_mode(argv0).map(|cplusplus| Driver {
            family: Family::Clang,
            cplusplus,
        });
    }
    let (_, _, commands) = ok(IDENTIFY_RUNS[2])?;
    // Each command `-###` prints is a line opening with a space and the
    // program, as a path or a bare name.
    let program = commands
        .split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(b" "))
        .filter_map(|line| line.split(|&b| b == b' ').next())
        .map(|p| p.rsplit(|&b| b == b'/').next().unwrap_or(p))
        .find(|p| *p == b"cc1" || *p == b"cc1plus")?;
    Some(Driver {
        family: Family::Gcc,
        cplusplus: program == b"cc1plus",
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// For a clang binary called `argv0`, whether it runs as `clang++`: clang
/// picks its mode from the end of its name (`…++` is C++). `None` for the
/// names that make it another tool (`…cl`, `…cpp`, `…flang`, `…dxc`).
fn clang_mode(argv0: &OsStr) -> Option<bool> {
    let base = driver_base(argv0)?;
    if ["cl", "cpp", "flang", "dxc"]
        .iter()
        .any(|tool| base.ends_with(tool))
    {
        return None;
    }
    Some(base.ends_with("++"))
}

/// The driver's file name without directory, `.exe`/`.bat`/`.py` suffix and trailing
/// version (`gcc-12`, `clang++-14.0`), or `None` if it is not valid UTF-8.
fn driver_base(name: &OsStr) -> Option<&str> {
    let name = Path::new(name).file_name()?.to_str()?;
    let mut base = name;
    for suffix in [".exe", ".bat", ".py"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped;
            break;
        }
    }
    // A version suffix is "-" followed by digits and dots.
    if let Some(dash) = base.rfind('-') {
        let version = &base[dash + 1..];
        if !version.is_empty()
            && version.starts_with(|c: char| c.is_ascii_digit())
            && version.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            base = &base[..dash];
        }
    }
    Some(base)
}

impl Passthrough {
    pub(crate) fn new(reason: Reason, detail: impl Into<String>) -> Passthrough {
        Passthrough {
            reason,
            detail: detail.into(),
        }
    }
}

impl Reason {
    /// The counter this reason is counted under.
    pub(crate) fn counter(self) -> PassthroughReason {
        match self {
            Reason::CalledForLink => PassthroughReason::CalledForLink,
            Reason::CalledForPreprocessing => PassthroughReason::CalledForPreprocessing,
            Reason::MultipleSourceFiles => PassthroughReason::MultipleSourceFiles,
            Reason::UnsupportedCompilerOption => PassthroughReason::UnsupportedCompilerOption,
            Reason::UnsupportedSourceLanguage => PassthroughReason::UnsupportedSourceLanguage,
            Reason::NoInputFile | Reason::StdinInput => PassthroughReason::NoInputFile,
            Reason::BadOutputFile => PassthroughReason::BadOutputFile,
            Reason::RepeatedOutput => PassthroughReason::RepeatedOutputOption,
            Reason::DependencyOptionWithoutDepfile => {
                PassthroughReason::DependencyOptionWithoutDepfile
            }
            Reason::OutputToStdout => PassthroughReason::OutputToStdout,
            Reason::BadCompilerArguments => PassthroughReason::BadCompilerArguments,
            Reason::UnsupportedEnvironmentVariable => {
                PassthroughReason::UnsupportedEnvironmentVariable
            }
            Reason::CouldNotUsePrecompiledHeader => PassthroughReason::CouldNotUsePrecompiledHeader,
            Reason::CouldNotUseModules => PassthroughReason::CouldNotUseModules,
        }
    }

    /// ccache's statistics counter name for this reason (the argument
    /// vectors render it).
    #[cfg(test)]
    pub(crate) fn as_str(self) -> &'static str {
        self.counter().as_str()
    }
}

impl Language {
    /// gcc's `-x` name of the language, for the key.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cxx => "c++",
            Language::CPreprocessed => "cpp-output",
            Language::CxxPreprocessed => "c++-cpp-output",
            Language::Asm => "assembler",
            Language::AsmWithCpp => "assembler-with-cpp",
        }
    }

    /// Whether the preprocessor runs, and so whether `-MD` writes a depfile.
    pub(crate) fn is_preprocessed_by_compiler(self) -> bool {
        matches!(self, Language::C | Language::Cxx | Language::AsmWithCpp)
    }
}

impl DepTarget {
    /// The target as it appears in the depfile.
    pub(crate) fn to_make(&self) -> OsString {
        match self {
            DepTarget::Raw(target) => target.clone(),
            DepTarget::Quoted(target) => names::make_quote(target),
        }
    }
}

impl Invocation {
    /// What the compiler embeds for cwd, to be hashed into the key; `None` when nothing
    /// cwd-dependent reaches the outputs. `cwd` must be the directory the compiler sees
    /// as its logical cwd (gcc prefers `$PWD` when it names the same directory).
    ///
    /// With debug info the object records cwd as `DW_AT_comp_dir`, remapped by the
    /// prefix maps; the remapped value is returned, so `-fdebug-prefix-map=$PWD=X` gives
    /// the same key in every checkout. When several maps match and disagree, the raw
    /// cwd is returned rather than guessing which one the compiler applies.
    pub(crate) fn cwd_key(&self, cwd: &Path) -> Option<OsString> {
        let cwd = cwd.as_os_str();
        if self.cwd_in_output {
            return Some(cwd.to_os_string());
        }
        if self.debug_level == 0 && !self.split_dwarf {
            return None;
        }
        if self.debug_compilation_dir {
            return None;
        }
        let cwd_bytes = cwd.as_encoded_bytes();
        let mut remapped: Option<OsString> = None;
        for (old, new) in &self.prefix_maps {
            let old = old.as_encoded_bytes();
            if !cwd_bytes.starts_with(old) {
                continue;
            }
            // A prefix ending inside a multi-byte character cannot be split here.
            let Some(rest) = names::checked_tail_after(cwd, old.len()) else {
                return Some(cwd.to_os_string());
            };
            let mut candidate = new.clone();
            candidate.push(rest);
            match &remapped {
                Some(previous) if *previous != candidate => return Some(cwd.to_os_string()),
                _ => remapped = Some(candidate),
            }
        }
        Some(remapped.unwrap_or_else(|| cwd.to_os_string()))
    }

    /// `key_args` with every path value passed through `map`.
    pub(crate) fn key_args_mapped<'a>(
        &'a self,
        map: &dyn Fn(&[u8]) -> Cow<'_, [u8]>,
    ) -> Vec<Cow<'a, OsStr>> {
        let mut out: Vec<Cow<'a, OsStr>> = self
            .key_args
            .iter()
            .map(|a| Cow::Borrowed(a.as_os_str()))
            .collect();
        for &(i, at) in &self.key_paths {
            let bytes = self.key_args[i].as_encoded_bytes();
            if let Cow::Owned(path) = map(&bytes[at..]) {
                let mut arg = bytes[..at].to_vec();
                arg.extend_from_slice(&path);
                out[i] = Cow::Owned(OsString::from_vec(arg));
            }
        }
        out
    }

    /// The expanded argv with every other unit's source removed.
    pub(crate) fn args_for_unit(&self, expanded: &[OsString], index: usize) -> Vec<OsString> {
        let others: Vec<usize> = self
            .units
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, u)| u.arg_index)
            .collect();
        expanded
            .iter()
            .enumerate()
            .filter(|(i, _)| !others.contains(i))
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// Arguments for a dependency-only run of one unit (the caller appends
    /// `-M -MF <file>`): no mode, output or depfile flags, other sources gone.
    pub(crate) fn dependency_probe_args(
        &self,
        expanded: &[OsString],
        index: usize,
    ) -> Vec<OsString> {
        let others: Vec<usize> = self
            .units
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, u)| u.arg_index)
            .collect();
        let dropped = |i: usize| {
            others.contains(&i) || self.probe_drop.iter().any(|(s, l)| i >= *s && i < s + l)
        };
        expanded
            .iter()
            .enumerate()
            .filter(|(i, _)| !dropped(*i))
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// Whether the object path is embedded in the outputs (the `.dwo` name with
    /// `-gsplit-dwarf`, the `.gcda` path with coverage or profile generation), so each
    /// unit's output path must join its key.
    pub(crate) fn object_path_matters(&self) -> bool {
        self.split_dwarf || self.coverage || self.profile_generate
    }
}
