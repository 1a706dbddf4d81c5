//! The flag tables (one table, each row tagged with the families it applies to) and the
//! syntactic split of an expanded argv into flags, their values and positional inputs.
//!
//! This stage only knows spellings: which argument is a flag, how it takes its value,
//! and which class of meaning it has. It never decides cacheability; `classify.rs`
//! does. Every flag that takes a separate value is listed, so that the value is never
//! mistaken for a source file; unknown flags are assumed to take none.

use std::ffi::{OsStr, OsString};

use super::names::{split_once, tail_after};
use super::{Family, Passthrough, Reason};

/// How a flag takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// No value: `-c`.
    Flag,
    /// The value is the next argument: `-Xclang x`.
    Separate,
    /// The value is glued on, possibly empty: `-Wl,x`, `-fdump-tree-all`.
    Joined,
    /// `-I dir` or `-Idir`.
    JoinedOrSeparate,
    /// The name ends with `=` and the value follows it: `-std=c11`.
    JoinedEq,
    /// `--sysroot dir` or `--sysroot=dir`.
    EqOrSeparate,
    /// A glued part and the next argument: `-Xarch_x86_64 -O2`.
    JoinedAndSeparate,
    /// The next n arguments: `-sectcreate seg sect file`.
    Multi(u8),
}

/// What a flag means to the classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagClass {
    /// Kept in the key as spelled.
    Plain,
    /// `-o`.
    Output,
    Mode(ModeFlag),
    /// `-x`.
    Language,
    Dep(DepFlag),
    /// `-Wp,…`: only `-MD,f`, `-MMD,f`, `-D…`, `-U…` and `-P` are understood.
    Wp,
    IncludeDir(SearchKind),
    NoStdInc,
    ExtraInput(InputRole),
    /// `-g*`.
    Debug,
    PrefixMap(MapKind),
    Coverage(CoverageFlag),
    ProfileGenerate,
    /// gcc `-fprofile-dir=`: where profile data is read and written.
    ProfileDir,
    /// Records cwd in an output: `-fprofile-abs-path`, `-fcoverage-mapping`.
    CwdSensitive,
    /// `-gsplit-dwarf[=…]`, `-gno-split-dwarf`.
    SplitDwarf,
    SerializeDiagnostics,
    Color(ColorFlag),
    /// clang `-frecord-command-line` and its negation.
    RecordCommandLine(bool),
    /// `-march=`, `-mcpu=`, `-mtune=`: `native` needs the probe.
    Machine,
    /// `-B`, `--prefix`: where the driver looks for its programs first.
    ProgramPrefix,
    Arch,
    Xclang,
    Xpreprocessor,
    /// `-Wa,…` and `-Xassembler`: assembler listings and depfiles are extra outputs.
    AsmOptions,
    /// `-fstack-usage`: a `.su` beside the object.
    StackUsage,
    /// `-d<letters>`: most letters write dump files.
    Dump,
    /// `-fopt-info[-…][=file]`: a file name means an extra output.
    OptInfo,
    /// clang `-emit-llvm`: bitcode, and `.bc`/`.ll` default names.
    EmitLlvm,
    /// emcc `--em-config`.
    EmConfig,
    /// emcc `-s NAME=V` / `-sNAME=V` (recognized before the table, see [`split`]).
    EmSetting,
    /// emcc `--use-port`.
    EmPort,
    Passthrough(Reason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModeFlag {
    Compile,
    Assemble,
    SyntaxOnly,
    Preprocess,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DepFlag {
    M,
    Mm,
    Md,
    Mmd,
    Mf,
    Mt,
    Mq,
    Mp,
    Mg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SearchKind {
    Quote,
    Angled,
    System,
    After,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InputRole {
    /// `-include`, `-imacros`.
    Include,
    /// `-fprofile-use` and friends.
    ProfileUse,
    /// Contents matter.
    Content,
    /// Only the mtime matters.
    MtimeOnly,
    /// `-fplugin=`: a path, or a bare name gcc resolves in its plugin directory.
    Plugin,
    /// clang `--config`: a path, or a bare name clang resolves in its config directories.
    Config,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapKind {
    DebugPrefix,
    FilePrefix,
    MacroPrefix,
    DebugCompilationDir,
    FileCompilationDir,
    CoveragePrefix,
    CoverageCompilationDir,
    ProfilePrefix,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CoverageFlag {
    /// `--coverage`: arcs and notes.
    Both,
    /// `-fprofile-arcs`.
    Arcs,
    /// `-ftest-coverage`: the `.gcno` notes.
    Notes,
    NoArcs,
    NoNotes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColorFlag {
    /// `-fdiagnostics-color`.
    On,
    /// `-fno-diagnostics-color`.
    Off,
    /// `-fdiagnostics-color=WHEN`.
    When,
    /// clang's `-fcolor-diagnostics`, invalid for gcc.
    ClangOn,
    /// clang's `-fno-color-diagnostics`, invalid for gcc.
    ClangOff,
}

/// Set of families a table row applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Families(u8);

impl Families {
    const GCC: Families = Families(1);
    const CLANG: Families = Families(2);
    const EMCC: Families = Families(4);
    /// clang and emcc, which runs clang.
    const CLANGISH: Families = Families(2 | 4);
    const ALL: Families = Families(1 | 2 | 4);

    fn contains(self, family: Family) -> bool {
        let bit = match family {
            Family::Gcc => Families::GCC.0,
            Family::Clang => Families::CLANG.0,
            Family::Emcc => Families::EMCC.0,
        };
        self.0 & bit != 0
    }
}

/// One row of the flag table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlagSpec {
    pub(crate) name: &'static str,
    pub(crate) kind: FlagKind,
    pub(crate) class: FlagClass,
    pub(crate) families: Families,
}

impl FlagSpec {
    /// Whether the value names a file or directory. Path remap keys such values
    /// root-free when they lie under the worktree root; anything else stays as spelled.
    /// `-B` is left out on purpose: the programs it selects are not hashed, so only
    /// the exact path identifies them.
    pub(crate) fn value_is_path(&self) -> bool {
        match self.class {
            FlagClass::IncludeDir(_)
            | FlagClass::ExtraInput(_)
            | FlagClass::EmConfig
            | FlagClass::Output
            | FlagClass::Dep(DepFlag::Mf)
            | FlagClass::SerializeDiagnostics
            | FlagClass::ProfileDir => true,
            FlagClass::Plain => PATH_VALUED.contains(&self.name),
            _ => false,
        }
    }
}

/// Plain rows whose value is a path: directories the compiler reads headers or
/// libraries from.
const PATH_VALUED: &[&str] = &[
    "-isysroot",
    "--sysroot",
    "-iprefix",
    "--include-prefix",
    "-L",
    "--library-directory",
    "-gcc-toolchain",
    "-resource-dir",
    "--cache",
];

/// One element of the split argv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    /// The matching table row; `None` for an unknown flag or a positional argument.
    pub(crate) spec: Option<&'static FlagSpec>,
    /// A positional argument (an input, `-` for stdin included).
    pub(crate) positional: bool,
    /// Index of the first argv element this item spans.
    pub(crate) start: usize,
    /// Number of argv elements it spans.
    pub(crate) len: usize,
    /// The value: the glued part, or the first separate argument.
    pub(crate) value: Option<OsString>,
}

impl Item {
    pub(crate) fn class(&self) -> Option<FlagClass> {
        self.spec.map(|spec| spec.class)
    }
}

/// Splits expanded `args` (without argv\[0\]) into items, following the table of
/// `family`. A flag whose separate value is missing makes the call pass through as
/// `bad_compiler_arguments`.
pub(crate) fn split(family: Family, args: &[OsString]) -> Result<Vec<Item>, Passthrough> {
    let mut items = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let bytes = arg.as_encoded_bytes();
        if bytes.len() < 2 || bytes[0] != b'-' {
            items.push(Item {
                spec: None,
                positional: true,
                start: i,
                len: 1,
                value: None,
            });
            i += 1;
            continue;
        }
        if family == Family::Emcc {
            if let Some(item) = emcc_setting(args, i)? {
                i += item.len;
                items.push(item);
                continue;
            }
        }
        let Some((spec, separate)) = lookup(family, arg) else {
            items.push(Item {
                spec: None,
                positional: false,
                start: i,
                len: 1,
                value: None,
            });
            i += 1;
            continue;
        };
        let needed = match (spec.kind, separate) {
            (FlagKind::Multi(n), _) => usize::from(n),
            (FlagKind::Separate | FlagKind::JoinedAndSeparate, _) => 1,
            (FlagKind::JoinedOrSeparate | FlagKind::EqOrSeparate, true) => 1,
            _ => 0,
        };
        if i + needed >= args.len() && needed > 0 {
            return Err(Passthrough::new(
                Reason::BadCompilerArguments,
                format!("missing argument to {}", arg.to_string_lossy()),
            ));
        }
        let value = match spec.kind {
            FlagKind::Flag => None,
            FlagKind::Separate | FlagKind::Multi(_) => Some(args[i + 1].clone()),
            FlagKind::JoinedOrSeparate | FlagKind::EqOrSeparate if separate => {
                Some(args[i + 1].clone())
            }
            FlagKind::EqOrSeparate => Some(tail_after(arg, spec.name.len() + 1).to_os_string()),
            FlagKind::Joined
            | FlagKind::JoinedEq
            | FlagKind::JoinedOrSeparate
            | FlagKind::JoinedAndSeparate => Some(tail_after(arg, spec.name.len()).to_os_string()),
        };
        items.push(Item {
            spec: Some(spec),
            positional: false,
            start: i,
            len: 1 + needed,
            value,
        });
        i += 1 + needed;
    }
    Ok(items)
}

/// The longest table name that accepts `arg`, and whether its value is the next
/// argument. Exact-only kinds match the whole argument; joined kinds match a prefix.
fn lookup(family: Family, arg: &OsStr) -> Option<(&'static FlagSpec, bool)> {
    let bytes = arg.as_encoded_bytes();
    let mut best: Option<(&'static FlagSpec, bool)> = None;
    for spec in FLAGS.iter().filter(|spec| spec.families.contains(family)) {
        let name = spec.name.as_bytes();
        if !bytes.starts_with(name) {
            continue;
        }
        let exact = bytes.len() == name.len();
        let candidate = match spec.kind {
            FlagKind::Flag | FlagKind::Separate | FlagKind::Multi(_) => exact.then_some(false),
            FlagKind::Joined | FlagKind::JoinedEq | FlagKind::JoinedAndSeparate => Some(false),
            FlagKind::JoinedOrSeparate => Some(exact),
            FlagKind::EqOrSeparate => {
                if exact {
                    Some(true)
                } else {
                    (bytes[name.len()] == b'=').then_some(false)
                }
            }
        };
        if let Some(separate) = candidate {
            let longer = match best {
                None => true,
                Some((current, _)) => current.name.len() < name.len(),
            };
            if longer {
                best = Some((spec, separate));
            }
        }
    }
    best
}

static EM_SETTING: FlagSpec = FlagSpec {
    name: "-s",
    kind: FlagKind::JoinedOrSeparate,
    class: FlagClass::EmSetting,
    families: Families::EMCC,
};

/// emcc's `is_dash_s_for_emcc`: `-sNAME[=V]` or `-s NAME[=V]` is a setting when NAME is
/// an upper-case identifier; otherwise `-s` is the linker's strip flag.
fn emcc_setting(args: &[OsString], i: usize) -> Result<Option<Item>, Passthrough> {
    let arg = &args[i];
    let bytes = arg.as_encoded_bytes();
    if !bytes.starts_with(b"-s") {
        return Ok(None);
    }
    let (value, len) = if bytes.len() == 2 {
        match args.get(i + 1) {
            Some(next) => (next.clone(), 2),
            None => return Ok(None),
        }
    } else {
        (tail_after(arg, 2).to_os_string(), 1)
    };
    let name = split_once(&value, b'=').map_or(value.as_os_str(), |(name, _)| name);
    if !is_setting_name(name) {
        return Ok(None);
    }
    Ok(Some(Item {
        spec: Some(&EM_SETTING),
        positional: false,
        start: i,
        len,
        value: Some(value),
    }))
}

/// Python's `str.isidentifier() and str.isupper()` for ASCII names.
fn is_setting_name(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && bytes.iter().any(u8::is_ascii_uppercase)
        && !bytes.iter().any(u8::is_ascii_lowercase)
}

const fn row(name: &'static str, kind: FlagKind, class: FlagClass, families: Families) -> FlagSpec {
    FlagSpec {
        name,
        kind,
        class,
        families,
    }
}

use Families as F;
use FlagClass as C;
use FlagKind as K;

const UNSUPPORTED: FlagClass = C::Passthrough(Reason::UnsupportedCompilerOption);
const MODULES: FlagClass = C::Passthrough(Reason::CouldNotUseModules);
const PREPROCESS: FlagClass = C::Mode(ModeFlag::Preprocess);

/// The flag table. Order does not matter: the longest matching name wins.
#[rustfmt::skip]
pub(crate) static FLAGS: &[FlagSpec] = &[
    // What to produce and where.
    row("-o", K::JoinedOrSeparate, C::Output, F::ALL),
    row("--output", K::EqOrSeparate, C::Output, F::ALL),
    row("-c", K::Flag, C::Mode(ModeFlag::Compile), F::ALL),
    row("--compile", K::Flag, C::Mode(ModeFlag::Compile), F::ALL),
    row("-S", K::Flag, C::Mode(ModeFlag::Assemble), F::ALL),
    row("--assemble", K::Flag, C::Mode(ModeFlag::Assemble), F::ALL),
    row("-E", K::Flag, PREPROCESS, F::ALL),
    row("--preprocess", K::Flag, PREPROCESS, F::ALL),
    row("-fsyntax-only", K::Flag, C::Mode(ModeFlag::SyntaxOnly), F::ALL),
    row("-x", K::JoinedOrSeparate, C::Language, F::ALL),
    row("--language", K::EqOrSeparate, C::Language, F::ALL),
    row("-emit-llvm", K::Flag, C::EmitLlvm, F::CLANGISH),
    // Dependency files.
    row("-M", K::Flag, C::Dep(DepFlag::M), F::ALL),
    row("--dependencies", K::Flag, C::Dep(DepFlag::M), F::ALL),
    row("-MM", K::Flag, C::Dep(DepFlag::Mm), F::ALL),
    row("--user-dependencies", K::Flag, C::Dep(DepFlag::Mm), F::ALL),
    row("-MD", K::Flag, C::Dep(DepFlag::Md), F::ALL),
    row("--write-dependencies", K::Flag, C::Dep(DepFlag::Md), F::ALL),
    row("-MMD", K::Flag, C::Dep(DepFlag::Mmd), F::ALL),
    row("--write-user-dependencies", K::Flag, C::Dep(DepFlag::Mmd), F::ALL),
    row("-MF", K::JoinedOrSeparate, C::Dep(DepFlag::Mf), F::ALL),
    row("-MT", K::JoinedOrSeparate, C::Dep(DepFlag::Mt), F::ALL),
    row("-MQ", K::JoinedOrSeparate, C::Dep(DepFlag::Mq), F::ALL),
    row("-MP", K::Flag, C::Dep(DepFlag::Mp), F::ALL),
    row("-MG", K::Flag, C::Dep(DepFlag::Mg), F::ALL),
    row("--print-missing-file-dependencies", K::Flag, C::Dep(DepFlag::Mg), F::ALL),
    row("-MJ", K::JoinedOrSeparate, UNSUPPORTED, F::ALL),
    row("-Wp,", K::Joined, C::Wp, F::ALL),
    row("-Xpreprocessor", K::Separate, C::Xpreprocessor, F::ALL),
    // Include search.
    row("-I", K::JoinedOrSeparate, C::IncludeDir(SearchKind::Angled), F::ALL),
    row("--include-directory", K::EqOrSeparate, C::IncludeDir(SearchKind::Angled), F::ALL),
    row("-iquote", K::JoinedOrSeparate, C::IncludeDir(SearchKind::Quote), F::ALL),
    row("-isystem", K::JoinedOrSeparate, C::IncludeDir(SearchKind::System), F::ALL),
    row("-idirafter", K::JoinedOrSeparate, C::IncludeDir(SearchKind::After), F::ALL),
    row("--include-directory-after", K::EqOrSeparate, C::IncludeDir(SearchKind::After), F::ALL),
    row("-nostdinc", K::Flag, C::NoStdInc, F::ALL),
    row("--no-standard-includes", K::Flag, C::NoStdInc, F::ALL),
    row("-iprefix", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--include-prefix", K::EqOrSeparate, C::Plain, F::ALL),
    row("-iwithprefix", K::JoinedOrSeparate, UNSUPPORTED, F::ALL),
    row("-iwithprefixbefore", K::JoinedOrSeparate, UNSUPPORTED, F::ALL),
    row("--include-with-prefix", K::EqOrSeparate, UNSUPPORTED, F::ALL),
    row("--include-with-prefix-after", K::EqOrSeparate, UNSUPPORTED, F::ALL),
    row("--include-with-prefix-before", K::EqOrSeparate, UNSUPPORTED, F::ALL),
    row("-isysroot", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--sysroot", K::EqOrSeparate, C::Plain, F::ALL),
    row("-imultilib", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("-imultiarch", K::JoinedOrSeparate, C::Plain, F::GCC),
    row("-F", K::JoinedOrSeparate, UNSUPPORTED, F::ALL),
    row("-iframework", K::JoinedOrSeparate, UNSUPPORTED, F::ALL),
    row("-iframeworkwithsysroot", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-cxx-isystem", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-isystem-after", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-iwithsysroot", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-imsvc", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-stdlib++-isystem", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-iembed-dir", K::JoinedOrSeparate, UNSUPPORTED, F::ALL),
    row("--embed-dir=", K::JoinedEq, UNSUPPORTED, F::ALL),
    row("-index-header-map", K::Flag, UNSUPPORTED, F::CLANGISH),
    row("--system-header-prefix", K::EqOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("--no-system-header-prefix", K::EqOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-ivfsoverlay", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-ivfsstatcache", K::JoinedOrSeparate, UNSUPPORTED, F::CLANGISH),
    // Files read besides the source and its headers.
    row("-include", K::JoinedOrSeparate, C::ExtraInput(InputRole::Include), F::ALL),
    row("--include", K::EqOrSeparate, C::ExtraInput(InputRole::Include), F::ALL),
    row("-imacros", K::JoinedOrSeparate, C::ExtraInput(InputRole::Include), F::ALL),
    row("--imacros", K::EqOrSeparate, C::ExtraInput(InputRole::Include), F::ALL),
    row("-include-pch", K::JoinedOrSeparate, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fprofile-use", K::Flag, C::ExtraInput(InputRole::ProfileUse), F::ALL),
    row("-fprofile-use=", K::JoinedEq, C::ExtraInput(InputRole::ProfileUse), F::ALL),
    row("-fprofile-instr-use", K::Flag, C::ExtraInput(InputRole::ProfileUse), F::CLANGISH),
    row("-fprofile-instr-use=", K::JoinedEq, C::ExtraInput(InputRole::ProfileUse), F::CLANGISH),
    row("-fprofile-sample-use=", K::JoinedEq, C::ExtraInput(InputRole::ProfileUse), F::CLANGISH),
    row("-fauto-profile", K::Flag, C::ExtraInput(InputRole::ProfileUse), F::ALL),
    row("-fauto-profile=", K::JoinedEq, C::ExtraInput(InputRole::ProfileUse), F::ALL),
    row("-fbranch-probabilities", K::Flag, C::ExtraInput(InputRole::ProfileUse), F::GCC),
    row("-fsanitize-ignorelist=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::ALL),
    row("-fsanitize-blacklist=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::ALL),
    row("-fsanitize-system-ignorelist=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fsanitize-coverage-allowlist=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fsanitize-coverage-ignorelist=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("--warning-suppression-mappings=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-specs=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::GCC),
    row("-specs", K::Separate, C::ExtraInput(InputRole::Content), F::GCC),
    row("--specs", K::EqOrSeparate, C::ExtraInput(InputRole::Content), F::GCC),
    row("--config", K::EqOrSeparate, C::ExtraInput(InputRole::Config), F::CLANGISH),
    row("--config-system-dir=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("--config-user-dir=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("-fbuild-session-file=", K::JoinedEq, C::ExtraInput(InputRole::MtimeOnly), F::CLANGISH),
    row("-fprofile-list=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fprofile-remapping-file=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fxray-attr-list=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fxray-always-instrument=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fxray-never-instrument=", K::JoinedEq, C::ExtraInput(InputRole::Content), F::CLANGISH),
    row("-fplugin=", K::JoinedEq, C::ExtraInput(InputRole::Plugin), F::ALL),
    row("-fpass-plugin=", K::JoinedEq, C::ExtraInput(InputRole::Plugin), F::CLANGISH),
    // Debug information and what it records.
    row("-g", K::Joined, C::Debug, F::ALL),
    row("-gsplit-dwarf", K::Flag, C::SplitDwarf, F::ALL),
    row("-gsplit-dwarf=", K::JoinedEq, C::SplitDwarf, F::ALL),
    row("-gno-split-dwarf", K::Flag, C::SplitDwarf, F::ALL),
    row("-gtoggle", K::Flag, UNSUPPORTED, F::ALL),
    row("-grecord-command-line", K::Flag, C::RecordCommandLine(true), F::CLANGISH),
    row("-gno-record-command-line", K::Flag, C::RecordCommandLine(false), F::CLANGISH),
    row("-frecord-command-line", K::Flag, C::RecordCommandLine(true), F::CLANGISH),
    row("-fno-record-command-line", K::Flag, C::RecordCommandLine(false), F::CLANGISH),
    row("-frecord-gcc-switches", K::Flag, C::RecordCommandLine(true), F::CLANGISH),
    row("-fno-record-gcc-switches", K::Flag, C::RecordCommandLine(false), F::CLANGISH),
    row("-fdebug-prefix-map=", K::JoinedEq, C::PrefixMap(MapKind::DebugPrefix), F::ALL),
    row("-ffile-prefix-map=", K::JoinedEq, C::PrefixMap(MapKind::FilePrefix), F::ALL),
    row("-fmacro-prefix-map=", K::JoinedEq, C::PrefixMap(MapKind::MacroPrefix), F::ALL),
    row("-fdebug-compilation-dir=", K::JoinedEq, C::PrefixMap(MapKind::DebugCompilationDir), F::ALL),
    row("-fdebug-compilation-dir", K::Separate, C::PrefixMap(MapKind::DebugCompilationDir), F::CLANGISH),
    row("-ffile-compilation-dir=", K::JoinedEq, C::PrefixMap(MapKind::FileCompilationDir), F::CLANGISH),
    row("-fcoverage-prefix-map=", K::JoinedEq, C::PrefixMap(MapKind::CoveragePrefix), F::CLANGISH),
    row("-fcoverage-compilation-dir=", K::JoinedEq, C::PrefixMap(MapKind::CoverageCompilationDir), F::CLANGISH),
    row("-fprofile-prefix-map=", K::JoinedEq, C::PrefixMap(MapKind::ProfilePrefix), F::GCC),
    // Coverage and profiles.
    row("--coverage", K::Flag, C::Coverage(CoverageFlag::Both), F::ALL),
    row("-coverage", K::Flag, C::Coverage(CoverageFlag::Both), F::ALL),
    row("-fprofile-arcs", K::Flag, C::Coverage(CoverageFlag::Arcs), F::ALL),
    row("-fno-profile-arcs", K::Flag, C::Coverage(CoverageFlag::NoArcs), F::ALL),
    row("-ftest-coverage", K::Flag, C::Coverage(CoverageFlag::Notes), F::ALL),
    row("-fno-test-coverage", K::Flag, C::Coverage(CoverageFlag::NoNotes), F::ALL),
    row("-fprofile-generate", K::Flag, C::ProfileGenerate, F::ALL),
    row("-fprofile-generate=", K::JoinedEq, C::ProfileGenerate, F::ALL),
    row("-fprofile-instr-generate", K::Flag, C::ProfileGenerate, F::CLANGISH),
    row("-fprofile-instr-generate=", K::JoinedEq, C::ProfileGenerate, F::CLANGISH),
    row("-fcs-profile-generate", K::Flag, C::ProfileGenerate, F::CLANGISH),
    row("-fcs-profile-generate=", K::JoinedEq, C::ProfileGenerate, F::CLANGISH),
    row("-fprofile-abs-path", K::Flag, C::CwdSensitive, F::GCC),
    row("-fcoverage-mapping", K::Flag, C::CwdSensitive, F::CLANGISH),
    row("-fprofile-dir=", K::JoinedEq, C::ProfileDir, F::GCC),
    row("-fprofile-prefix-path=", K::JoinedEq, UNSUPPORTED, F::GCC),
    row("-fprofile-note=", K::JoinedEq, UNSUPPORTED, F::GCC),
    // Diagnostics.
    row("--serialize-diagnostics", K::Separate, C::SerializeDiagnostics, F::CLANGISH),
    row("-serialize-diagnostics", K::Separate, C::SerializeDiagnostics, F::CLANGISH),
    row("-fdiagnostics-color", K::Flag, C::Color(ColorFlag::On), F::ALL),
    row("-fdiagnostics-color=", K::JoinedEq, C::Color(ColorFlag::When), F::ALL),
    row("-fno-diagnostics-color", K::Flag, C::Color(ColorFlag::Off), F::ALL),
    row("-fcolor-diagnostics", K::Flag, C::Color(ColorFlag::ClangOn), F::ALL),
    row("-fno-color-diagnostics", K::Flag, C::Color(ColorFlag::ClangOff), F::ALL),
    row("-fdiagnostics-format=sarif-file", K::Flag, UNSUPPORTED, F::ALL),
    row("-fdiagnostics-add-output=", K::JoinedEq, UNSUPPORTED, F::ALL),
    row("-fdiagnostics-set-output=", K::JoinedEq, UNSUPPORTED, F::ALL),
    row("-fopt-info", K::Joined, C::OptInfo, F::GCC),
    // Target.
    row("-march=", K::JoinedEq, C::Machine, F::ALL),
    row("-mcpu=", K::JoinedEq, C::Machine, F::ALL),
    row("-mtune=", K::JoinedEq, C::Machine, F::ALL),
    row("-arch", K::Separate, C::Arch, F::ALL),
    row("-target", K::Separate, C::Plain, F::CLANGISH),
    row("--target=", K::JoinedEq, C::Plain, F::CLANGISH),
    row("-gcc-toolchain", K::Separate, C::Plain, F::CLANGISH),
    row("-resource-dir", K::Separate, C::Plain, F::CLANGISH),
    row("-mllvm", K::Separate, C::Plain, F::CLANGISH),
    row("-mthread-model", K::Separate, C::Plain, F::CLANGISH),
    row("-meabi", K::Separate, C::Plain, F::CLANGISH),
    row("-Xclang", K::Separate, C::Xclang, F::CLANGISH),
    row("-Xanalyzer", K::Separate, C::Plain, F::CLANGISH),
    row("-Xopenmp-target", K::Separate, C::Plain, F::CLANGISH),
    row("-Xopenmp-target=", K::JoinedAndSeparate, C::Plain, F::CLANGISH),
    row("-Xcuda-fatbinary", K::Separate, C::Plain, F::CLANGISH),
    row("-Xcuda-ptxas", K::Separate, C::Plain, F::CLANGISH),
    row("-Xoffload-linker", K::Separate, C::Plain, F::CLANGISH),
    row("-Xflang", K::Separate, C::Plain, F::CLANGISH),
    row("-Xarch_", K::JoinedAndSeparate, UNSUPPORTED, F::CLANGISH),
    row("-Wa,", K::Joined, C::AsmOptions, F::ALL),
    row("-Xassembler", K::Separate, C::AsmOptions, F::ALL),
    // Values that only matter to a link, listed so that they are never taken for inputs.
    row("-Wl,", K::Joined, C::Plain, F::ALL),
    row("-Xlinker", K::Separate, C::Plain, F::ALL),
    row("-l", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("-L", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--library-directory", K::EqOrSeparate, C::Plain, F::ALL),
    row("-u", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("-T", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("-z", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("-e", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--entry", K::EqOrSeparate, C::Plain, F::ALL),
    row("-rpath", K::Separate, C::Plain, F::CLANGISH),
    row("-framework", K::Separate, C::Plain, F::ALL),
    row("-weak_framework", K::Separate, C::Plain, F::ALL),
    row("-lazy_framework", K::Separate, C::Plain, F::ALL),
    row("-install_name", K::Separate, C::Plain, F::ALL),
    row("-exported_symbols_list", K::Separate, C::Plain, F::ALL),
    row("-unexported_symbols_list", K::Separate, C::Plain, F::ALL),
    row("-compatibility_version", K::Separate, C::Plain, F::ALL),
    row("-current_version", K::Separate, C::Plain, F::ALL),
    row("-seg_addr_table", K::Separate, C::Plain, F::ALL),
    row("-seg_addr_table_filename", K::Separate, C::Plain, F::ALL),
    row("-allowable_client", K::Separate, C::Plain, F::ALL),
    row("-bundle_loader", K::Separate, C::Plain, F::ALL),
    row("-client_name", K::Separate, C::Plain, F::ALL),
    row("-image_base", K::Separate, C::Plain, F::ALL),
    row("-init", K::Separate, C::Plain, F::ALL),
    row("-multiply_defined", K::Separate, C::Plain, F::ALL),
    row("-multiply_defined_unused", K::Separate, C::Plain, F::ALL),
    row("-pagezero_size", K::Separate, C::Plain, F::ALL),
    row("-read_only_relocs", K::Separate, C::Plain, F::ALL),
    row("-segs_read_only_addr", K::Separate, C::Plain, F::ALL),
    row("-segs_read_write_addr", K::Separate, C::Plain, F::ALL),
    row("-seg1addr", K::Separate, C::Plain, F::ALL),
    row("-sub_library", K::Separate, C::Plain, F::ALL),
    row("-sub_umbrella", K::Separate, C::Plain, F::ALL),
    row("-umbrella", K::Separate, C::Plain, F::ALL),
    row("-undefined", K::Separate, C::Plain, F::ALL),
    row("-weak_reference_mismatches", K::Separate, C::Plain, F::ALL),
    row("-filelist", K::Separate, C::Plain, F::ALL),
    row("-dylib_file", K::Separate, C::Plain, F::ALL),
    row("-dylinker_install_name", K::Separate, C::Plain, F::ALL),
    row("-dsym-dir", K::Separate, C::Plain, F::CLANGISH),
    row("-sectalign", K::Multi(3), C::Plain, F::ALL),
    row("-sectcreate", K::Multi(3), C::Plain, F::ALL),
    row("-sectobjectsymbols", K::Multi(2), C::Plain, F::ALL),
    row("-sectorder", K::Multi(3), C::Plain, F::ALL),
    row("-segaddr", K::Multi(2), C::Plain, F::ALL),
    row("-segcreate", K::Multi(3), C::Plain, F::ALL),
    row("-segprot", K::Multi(3), C::Plain, F::ALL),
    // Other flags with a separate value.
    row("-D", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--define-macro", K::EqOrSeparate, C::Plain, F::ALL),
    row("-U", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--undefine-macro", K::EqOrSeparate, C::Plain, F::ALL),
    row("-A", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--assert", K::EqOrSeparate, C::Plain, F::ALL),
    row("-B", K::JoinedOrSeparate, C::ProgramPrefix, F::ALL),
    row("--prefix", K::EqOrSeparate, C::ProgramPrefix, F::ALL),
    row("-G", K::JoinedOrSeparate, C::Plain, F::ALL),
    row("--param", K::EqOrSeparate, C::Plain, F::ALL),
    row("--std", K::EqOrSeparate, C::Plain, F::ALL),
    row("--stdlib", K::EqOrSeparate, C::Plain, F::CLANGISH),
    // Dumps, extra outputs and calls that are not compiles.
    row("-d", K::Joined, C::Dump, F::ALL),
    row("-dumpbase", K::Separate, UNSUPPORTED, F::GCC),
    row("-dumpbase-ext", K::Separate, UNSUPPORTED, F::GCC),
    row("-dumpdir", K::Separate, UNSUPPORTED, F::GCC),
    row("-dumpversion", K::Flag, UNSUPPORTED, F::ALL),
    row("-dumpfullversion", K::Flag, UNSUPPORTED, F::GCC),
    row("-dumpmachine", K::Flag, UNSUPPORTED, F::ALL),
    row("-dumpspecs", K::Flag, UNSUPPORTED, F::GCC),
    row("-dead_strip", K::Flag, C::Plain, F::CLANGISH),
    row("-dynamic", K::Flag, C::Plain, F::CLANGISH),
    row("-dynamiclib", K::Flag, C::Plain, F::CLANGISH),
    row("-fdump-", K::Joined, UNSUPPORTED, F::ALL),
    row("-fstack-usage", K::Flag, C::StackUsage, F::ALL),
    row("-fcallgraph-info", K::Flag, UNSUPPORTED, F::GCC),
    row("-fcallgraph-info=", K::JoinedEq, UNSUPPORTED, F::GCC),
    row("-save-temps", K::Flag, UNSUPPORTED, F::ALL),
    row("-save-temps=", K::JoinedEq, UNSUPPORTED, F::ALL),
    row("--save-temps", K::Flag, UNSUPPORTED, F::ALL),
    row("-ftime-trace", K::Flag, UNSUPPORTED, F::ALL),
    row("-ftime-trace=", K::JoinedEq, UNSUPPORTED, F::ALL),
    row("--analyze", K::Flag, UNSUPPORTED, F::ALL),
    row("-analyze", K::Flag, UNSUPPORTED, F::ALL),
    row("--analyzer-output", K::EqOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-frepo", K::Flag, UNSUPPORTED, F::ALL),
    row("-wrapper", K::Separate, UNSUPPORTED, F::GCC),
    row("-###", K::Flag, UNSUPPORTED, F::ALL),
    row("--dry-run", K::Flag, UNSUPPORTED, F::ALL),
    row("-aux-info", K::Separate, UNSUPPORTED, F::GCC),
    row("-fsave-optimization-record", K::Flag, UNSUPPORTED, F::CLANGISH),
    row("-fsave-optimization-record=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("-foptimization-record-file=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("-save-stats", K::Flag, UNSUPPORTED, F::CLANGISH),
    row("-save-stats=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("--save-stats", K::Flag, UNSUPPORTED, F::CLANGISH),
    row("-fproc-stat-report", K::Flag, UNSUPPORTED, F::CLANGISH),
    row("-fproc-stat-report=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("-fdeps-file=", K::JoinedEq, UNSUPPORTED, F::GCC),
    row("-fdeps-target=", K::JoinedEq, UNSUPPORTED, F::GCC),
    row("-fdeps-format=", K::JoinedEq, UNSUPPORTED, F::GCC),
    row("-index-store-path", K::Separate, UNSUPPORTED, F::CLANGISH),
    row("-index-unit-output-path", K::Separate, UNSUPPORTED, F::CLANGISH),
    row("-working-directory", K::EqOrSeparate, UNSUPPORTED, F::CLANGISH),
    row("-fthinlto-index=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("-fembed-offload-object=", K::JoinedEq, UNSUPPORTED, F::CLANGISH),
    row("-arcmt-migrate-report-output", K::Separate, UNSUPPORTED, F::CLANGISH),
    row("-objcmt-", K::Joined, UNSUPPORTED, F::CLANGISH),
    row("-ccc-", K::Joined, UNSUPPORTED, F::CLANGISH),
    row("-ObjC", K::Flag, C::Passthrough(Reason::UnsupportedSourceLanguage), F::CLANGISH),
    row("-ObjC++", K::Flag, C::Passthrough(Reason::UnsupportedSourceLanguage), F::CLANGISH),
    row("--", K::Flag, UNSUPPORTED, F::ALL),
    row("--help", K::Flag, UNSUPPORTED, F::ALL),
    row("--help=", K::JoinedEq, UNSUPPORTED, F::ALL),
    row("-help", K::Flag, UNSUPPORTED, F::ALL),
    row("--version", K::Flag, UNSUPPORTED, F::ALL),
    row("--target-help", K::Flag, UNSUPPORTED, F::ALL),
    row("-print-", K::Joined, UNSUPPORTED, F::ALL),
    row("--print-", K::Joined, UNSUPPORTED, F::ALL),
    // Modules.
    row("-fmodules", K::Flag, MODULES, F::ALL),
    row("-fmodules-", K::Joined, MODULES, F::ALL),
    row("-fmodule-", K::Joined, MODULES, F::ALL),
    row("-fcxx-modules", K::Flag, MODULES, F::CLANGISH),
    row("-fprebuilt-module-path=", K::JoinedEq, MODULES, F::CLANGISH),
    row("-fimplicit-modules", K::Flag, MODULES, F::CLANGISH),
    row("-fimplicit-module-maps", K::Flag, MODULES, F::CLANGISH),
    row("-fbuiltin-module-map", K::Flag, MODULES, F::CLANGISH),
    row("--precompile", K::Flag, MODULES, F::CLANGISH),
    // Emscripten.
    row("--em-config", K::EqOrSeparate, C::EmConfig, F::EMCC),
    row("--use-port", K::EqOrSeparate, C::EmPort, F::EMCC),
    row("--compiler-wrapper", K::EqOrSeparate, UNSUPPORTED, F::EMCC),
    row("--default-obj-ext", K::EqOrSeparate, UNSUPPORTED, F::EMCC),
    row("--clear-cache", K::Flag, UNSUPPORTED, F::EMCC),
    row("--clear-ports", K::Flag, UNSUPPORTED, F::EMCC),
    row("--show-ports", K::Flag, UNSUPPORTED, F::EMCC),
    row("--check", K::Flag, UNSUPPORTED, F::EMCC),
    row("--cflags", K::Flag, UNSUPPORTED, F::EMCC),
    row("--cache", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--closure", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--closure-args", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--js-opts", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--llvm-opts", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--llvm-lto", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--pre-js", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--post-js", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--extern-pre-js", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--extern-post-js", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--embed-file", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--preload-file", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--exclude-file", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--shell-file", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--source-map-base", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--js-library", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--js-transform", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--valid-abspath", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--output_eol", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--output-eol", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--memory-init-file", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--minify", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--oformat", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--emit-tsd", K::EqOrSeparate, C::Plain, F::EMCC),
    row("--embind-emit-tsd", K::EqOrSeparate, C::Plain, F::EMCC),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a split as `[name:value]`, `<unknown>` or `(positional)` words.
    fn render(family: Family, args: &str) -> String {
        let args: Vec<OsString> = args.split_whitespace().map(OsString::from).collect();
        match split(family, &args) {
            Err(p) => format!("error {} {}", p.reason.as_str(), p.detail),
            Ok(items) => items
                .iter()
                .map(|item| {
                    let spelled = args[item.start..item.start + item.len]
                        .iter()
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(" ");
                    match (item.spec, item.positional) {
                        (_, true) => format!("({spelled})"),
                        (None, false) => format!("<{spelled}>"),
                        (Some(spec), _) => {
                            format!(
                                "[{}:{}]",
                                spec.name,
                                item.value.as_deref().unwrap_or_default().to_string_lossy()
                            )
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    #[track_caller]
    fn check(family: Family, args: &str, expected: &str) {
        assert_eq!(render(family, args), expected, "args {args:?}");
    }

    #[test]
    fn table_has_unique_names_per_family() {
        for family in [Family::Gcc, Family::Clang, Family::Emcc] {
            let mut names: Vec<&str> = FLAGS
                .iter()
                .filter(|s| s.families.contains(family))
                .map(|s| s.name)
                .collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "duplicate flag names for {family:?}");
        }
        for spec in FLAGS {
            assert!(spec.name.starts_with('-'), "{}", spec.name);
            let joined_eq = matches!(spec.kind, FlagKind::JoinedEq | FlagKind::JoinedAndSeparate);
            assert!(
                spec.kind != FlagKind::JoinedEq || spec.name.ends_with('='),
                "{}",
                spec.name
            );
            assert!(!spec.name.ends_with('=') || joined_eq, "{}", spec.name);
        }
    }

    #[test]
    fn splitting() {
        let g = Family::Gcc;
        check(g, "-c t.c -o x.o", "[-c:] (t.c) [-o:x.o]");
        check(g, "-c t.c -odir", "[-c:] (t.c) [-o:dir]");
        check(
            g,
            "-I inc -Iinc2 -isystem sys -isystemsys2",
            "[-I:inc] [-I:inc2] [-isystem:sys] [-isystem:sys2]",
        );
        check(
            g,
            "-iwithprefixbeforex -iwithprefix y",
            "[-iwithprefixbefore:x] [-iwithprefix:y]",
        );
        check(g, "-MF d -MTt -MQ q", "[-MF:d] [-MT:t] [-MQ:q]");
        check(g, "-Wp,-MD,x.d -Wl,-z,now", "[-Wp,:-MD,x.d] [-Wl,:-z,now]");
        check(
            g,
            "--sysroot=/s --sysroot /t",
            "[--sysroot:/s] [--sysroot:/t]",
        );
        check(g, "-std=c11 -Wall -", "<-std=c11> <-Wall> (-)");
        check(g, "-include@x -include @y", "[-include:@x] [-include:@y]");
        check(
            g,
            "-c t.c -I",
            "error bad_compiler_arguments missing argument to -I",
        );
        check(g, "-undefined x -u y -uz", "[-undefined:x] [-u:y] [-u:z]");
        // A linker's -B is a value, not a program prefix.
        check(
            g,
            "-Xlinker -Bsymbolic -B x/ --prefix=y/",
            "[-Xlinker:-Bsymbolic] [-B:x/] [--prefix:y/]",
        );
        // gcc reads -emit-llvm as -e with the entry symbol "mit-llvm".
        check(g, "-emit-llvm", "[-e:mit-llvm]");
        check(Family::Clang, "-emit-llvm", "[-emit-llvm:]");
        check(
            Family::Clang,
            "-Xarch_x86_64 -O2 t.c",
            "[-Xarch_:x86_64] (t.c)",
        );
        check(
            Family::Clang,
            "-sectcreate a b c t.c",
            "[-sectcreate:a] (t.c)",
        );
        check(
            Family::Clang,
            "-gcc-toolchain /x -g3",
            "[-gcc-toolchain:/x] [-g:3]",
        );
        check(
            g,
            "-fdiagnostics-color -fdiagnostics-color=never",
            "[-fdiagnostics-color:] [-fdiagnostics-color=:never]",
        );
    }

    #[test]
    fn emcc_settings() {
        let e = Family::Emcc;
        check(
            e,
            "-sUSE_SDL=2 -s WASM=0 -sSTRICT",
            "[-s:USE_SDL=2] [-s:WASM=0] [-s:STRICT]",
        );
        check(e, "-s -shared -std=c11", "<-s> <-shared> <-std=c11>");
        check(e, "-s t.c", "<-s> (t.c)");
        check(
            e,
            "--em-config cfg --em-config=cfg2",
            "[--em-config:cfg] [--em-config:cfg2]",
        );
        check(Family::Clang, "-sUSE_SDL=2", "<-sUSE_SDL=2>");
    }
}
