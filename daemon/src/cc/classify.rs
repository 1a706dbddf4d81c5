//! Semantic stage: the split argv becomes an [`Invocation`] or a [`Passthrough`].
//!
//! It applies cache-keys.md §5 and §7 and derives the per-unit output names the way
//! gcc and clang do. It reads nothing but the caller's environment lookup: whether an
//! output directory exists or `-o` names a directory is for the caller to check.
//!
//! When several reasons apply, the first one in this order is reported (close to
//! ccache's): missing flag value, no input, stdin input, the first unsupported flag in
//! argument order, environment, link, input language, output, depfile and the other
//! per-unit names.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

use super::env::check_env;
use super::flags::{
    self, ColorFlag, CoverageFlag, DepFlag, FlagClass, InputRole, Item, MapKind, ModeFlag,
    SearchKind,
};
use super::names::{self, derived, is_dev_null, split_once, tail_after, with_suffix};
use super::rsp::shlex_split;
use super::{
    Classified, DepMode, DepSpec, DepTarget, ExtraInput, ExtraInputKind, Family, Invocation,
    Language, Mode, Passthrough, Reason, SearchPath, Unit,
};

/// Classifies an expanded argv (no argv\[0\]; see `expand_response_files`).
///
/// `cplusplus` says whether the driver is a C++ one (`Family::is_cplusplus_driver`).
/// `env` looks up the compiler's environment; for emcc, `EMCC_CFLAGS` is appended to
/// the arguments as emcc does.
pub(crate) fn classify(
    family: Family,
    cplusplus: bool,
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Classified {
    match classify_args(family, cplusplus, args, env) {
        Ok(invocation) => Classified::Compile(invocation),
        Err(passthrough) => Classified::Passthrough(passthrough),
    }
}

fn classify_args(
    family: Family,
    cplusplus: bool,
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Invocation, Passthrough> {
    let given = args.len();
    let args = with_emcc_cflags(family, args, env)?;
    let items = flags::split(family, &args)?;
    let mut state = State::new(family, cplusplus);
    for item in &items {
        state.visit(item, &args[item.start]);
    }
    let invocation = state.finish(&args, &items, env)?;
    // A unit's `arg_index` points into the caller's argv, which lacks `EMCC_CFLAGS`.
    if invocation.units.iter().any(|unit| unit.arg_index >= given) {
        return Err(Passthrough::new(
            Reason::UnsupportedEnvironmentVariable,
            "source file in EMCC_CFLAGS",
        ));
    }
    Ok(invocation)
}

/// emcc appends the shell-split `EMCC_CFLAGS` to its arguments.
fn with_emcc_cflags<'a>(
    family: Family,
    args: &'a [OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Cow<'a, [OsString]>, Passthrough> {
    if family != Family::Emcc {
        return Ok(Cow::Borrowed(args));
    }
    let Some(cflags) = env("EMCC_CFLAGS").filter(|v| !v.is_empty()) else {
        return Ok(Cow::Borrowed(args));
    };
    let bad = |detail: &str| {
        Passthrough::new(
            Reason::BadCompilerArguments,
            format!("EMCC_CFLAGS: {detail}"),
        )
    };
    let text = cflags.to_str().ok_or_else(|| bad("not UTF-8"))?;
    let extra = shlex_split(text).map_err(bad)?;
    let mut all = args.to_vec();
    all.extend(extra.into_iter().map(OsString::from));
    Ok(Cow::Owned(all))
}

/// What an input's language turned out to be.
enum InputKind {
    Source(Language),
    /// A header: the call would build a precompiled header.
    Header,
    /// An object or library: the call links.
    Link,
    Unsupported,
}

/// One positional argument and the `-x` in force before it.
struct Input {
    path: OsString,
    x: Option<OsString>,
    at: usize,
}

struct State {
    probe_drop: Vec<(usize, usize)>,
    family: Family,
    cplusplus: bool,
    compile: bool,
    assemble: bool,
    syntax_only: bool,
    output: Option<OsString>,
    /// How many `-o`/`--output` were given: the last one wins, bare.
    outputs_given: usize,
    /// The `-x` in force; `None` after `-x none`.
    x: Option<OsString>,
    inputs: Vec<Input>,
    first_error: Option<Passthrough>,
    md: bool,
    mmd: bool,
    mf: Option<OsString>,
    wp: Option<(DepMode, OsString)>,
    targets: Vec<DepTarget>,
    phony: bool,
    missing_ok: bool,
    search: SearchPath,
    extra_inputs: Vec<ExtraInput>,
    profile_uses: usize,
    debug_level: u8,
    prefix_maps: Vec<(OsString, OsString)>,
    debug_compilation_dir: bool,
    user_prefix_map: bool,
    include_pch: bool,
    arcs: bool,
    notes: bool,
    profile_generate: bool,
    cwd_sensitive: bool,
    split_dwarf: bool,
    serialize_diagnostics: Option<OsString>,
    user_color: Option<bool>,
    color_flag_valid: bool,
    march_native: bool,
    archs: Vec<OsString>,
    record_command_line: bool,
    emit_llvm: bool,
    /// The previous `-Xclang` value was a cc1 option whose value follows in the next one.
    xclang_value_pending: bool,
    em_config: Option<OsString>,
    emcc_settings: Vec<OsString>,
    emcc_ports: bool,
    program_prefixes: Vec<OsString>,
}

impl State {
    fn new(family: Family, cplusplus: bool) -> State {
        State {
            family,
            cplusplus,
            probe_drop: Vec::new(),
            compile: false,
            assemble: false,
            syntax_only: false,
            output: None,
            outputs_given: 0,
            x: None,
            inputs: Vec::new(),
            first_error: None,
            md: false,
            mmd: false,
            mf: None,
            wp: None,
            targets: Vec::new(),
            phony: false,
            missing_ok: false,
            search: SearchPath::default(),
            extra_inputs: Vec::new(),
            profile_uses: 0,
            debug_level: 0,
            prefix_maps: Vec::new(),
            debug_compilation_dir: false,
            user_prefix_map: false,
            include_pch: false,
            arcs: false,
            notes: false,
            profile_generate: false,
            cwd_sensitive: false,
            split_dwarf: false,
            serialize_diagnostics: None,
            user_color: None,
            color_flag_valid: true,
            march_native: false,
            archs: Vec::new(),
            record_command_line: false,
            emit_llvm: false,
            xclang_value_pending: false,
            em_config: None,
            emcc_settings: Vec::new(),
            emcc_ports: false,
            program_prefixes: Vec::new(),
        }
    }

    /// Records the first reason to pass through; later ones are ignored.
    fn refuse(&mut self, reason: Reason, detail: impl Into<String>) {
        if self.first_error.is_none() {
            self.first_error = Some(Passthrough::new(reason, detail));
        }
    }

    fn unsupported(&mut self, arg: &OsStr) {
        self.refuse(Reason::UnsupportedCompilerOption, arg.to_string_lossy());
    }

    fn visit(&mut self, item: &Item, arg: &OsString) {
        let arg_bytes = arg.as_encoded_bytes();
        if matches!(
            item.class(),
            Some(
                FlagClass::Output
                    | FlagClass::Mode(_)
                    | FlagClass::Dep(_)
                    | FlagClass::SerializeDiagnostics
                    | FlagClass::SplitDwarf
                    | FlagClass::Coverage(_)
            )
        ) || (item.class() == Some(FlagClass::Wp)
            && (arg_bytes.starts_with(b"-Wp,-MD,") || arg_bytes.starts_with(b"-Wp,-MMD,")))
        {
            self.probe_drop.push((item.start, item.len));
        }
        let Some(class) = item.class() else {
            if item.positional {
                self.inputs.push(Input {
                    path: arg.clone(),
                    x: self.x.clone(),
                    at: item.start,
                });
            }
            return;
        };
        let value = item.value.clone().unwrap_or_default();
        // Details name the flag with its separate value, if any.
        let shown = if item.len > 1 {
            let mut shown = arg.clone();
            shown.push(" ");
            shown.push(&value);
            shown
        } else {
            arg.clone()
        };
        let arg = &shown;
        match class {
            FlagClass::Plain => {}
            FlagClass::Output => {
                self.outputs_given += 1;
                self.output = Some(value)
            }
            FlagClass::Mode(ModeFlag::Compile) => self.compile = true,
            FlagClass::Mode(ModeFlag::Assemble) => self.assemble = true,
            FlagClass::Mode(ModeFlag::SyntaxOnly) => self.syntax_only = true,
            FlagClass::Mode(ModeFlag::Preprocess) => {
                self.refuse(Reason::CalledForPreprocessing, arg.to_string_lossy())
            }
            FlagClass::Language => self.x = (value != "none").then_some(value),
            FlagClass::Dep(dep) => self.dep_flag(dep, value, arg),
            FlagClass::Wp => self.wp_flag(&value, arg),
            FlagClass::Xpreprocessor => {
                // macOS builds pass OpenMP this way; it only defines _OPENMP.
                if value != "-fopenmp" {
                    self.unsupported(arg);
                }
            }
            FlagClass::IncludeDir(kind) => self.include_dir(kind, value, arg),
            FlagClass::NoStdInc => self.search.nostdinc = true,
            FlagClass::ExtraInput(role) => {
                self.include_pch |= item.spec.is_some_and(|s| s.name == "-include-pch");
                self.extra_input(role, value, arg)
            }
            FlagClass::Debug => self.debug_flag(&value),
            FlagClass::PrefixMap(kind) => self.prefix_map(kind, &value),
            FlagClass::Coverage(flag) => match flag {
                CoverageFlag::Both => (self.arcs, self.notes) = (true, true),
                CoverageFlag::Arcs => self.arcs = true,
                CoverageFlag::Notes => self.notes = true,
                CoverageFlag::NoArcs => self.arcs = false,
                CoverageFlag::NoNotes => self.notes = false,
            },
            FlagClass::ProfileGenerate => self.profile_generate = true,
            FlagClass::CwdSensitive => self.cwd_sensitive = true,
            FlagClass::SplitDwarf => match (item.spec.map(|s| s.name), value.to_str()) {
                (Some("-gno-split-dwarf"), _) | (_, Some("single")) => self.split_dwarf = false,
                (Some("-gsplit-dwarf"), _) | (_, Some("split")) => self.split_dwarf = true,
                _ => self.unsupported(arg),
            },
            FlagClass::SerializeDiagnostics => self.serialize_diagnostics = Some(value),
            FlagClass::Color(flag) => self.color_flag(flag, &value),
            FlagClass::RecordCommandLine(on) => self.record_command_line = on,
            FlagClass::Machine => self.march_native |= value == "native",
            FlagClass::ProgramPrefix => self.program_prefixes.push(value),
            FlagClass::Arch => self.archs.push(value),
            FlagClass::Xclang => self.xclang(&value, arg),
            FlagClass::AsmOptions => self.asm_options(&value, item.len == 1, arg),
            FlagClass::Dump => {
                // Preprocessor dumps (only meaningful with -E) and assembly annotations
                // write no files; every other letter dumps compiler passes to files.
                let letters = value.as_encoded_bytes();
                if letters.is_empty() || !letters.iter().all(|b| b"ADIMNUPp".contains(b)) {
                    self.unsupported(arg);
                }
            }
            FlagClass::OptInfo => {
                if value.as_encoded_bytes().contains(&b'=') {
                    self.unsupported(arg);
                }
            }
            FlagClass::EmitLlvm => {
                if self.family == Family::Emcc {
                    self.unsupported(arg);
                }
                self.emit_llvm = true;
            }
            FlagClass::EmConfig => self.em_config = Some(value),
            FlagClass::EmSetting => self.emcc_setting(value, arg),
            FlagClass::EmPort => self.emcc_ports = true,
            FlagClass::Passthrough(reason) => self.refuse(reason, arg.to_string_lossy()),
        }
    }

    fn dep_flag(&mut self, dep: DepFlag, value: OsString, arg: &OsStr) {
        match dep {
            // -M and -MM imply -E.
            DepFlag::M | DepFlag::Mm => {
                self.refuse(Reason::CalledForPreprocessing, arg.to_string_lossy())
            }
            DepFlag::Md => self.md = true,
            DepFlag::Mmd => self.mmd = true,
            DepFlag::Mf => self.mf = Some(value),
            DepFlag::Mt => self.targets.push(DepTarget::Raw(value)),
            DepFlag::Mq => self.targets.push(DepTarget::Quoted(value)),
            DepFlag::Mp => self.phony = true,
            DepFlag::Mg => self.missing_ok = true,
        }
    }

    /// `-Wp,` passes options straight to the preprocessor, around the driver. Only the
    /// forms whose effect we can model are accepted (ccache's list).
    fn wp_flag(&mut self, value: &OsStr, arg: &OsStr) {
        let single = |prefix: &str| {
            let bytes = value.as_encoded_bytes();
            bytes.starts_with(prefix.as_bytes()) && !bytes[prefix.len()..].contains(&b',')
        };
        for (prefix, mode) in [("-MD,", DepMode::Md), ("-MMD,", DepMode::Mmd)] {
            if single(prefix) && value.len() > prefix.len() {
                let path = tail_after(value, prefix.len()).to_os_string();
                // With several of them the last one wins for gcc's cc1, while clang's
                // driver turns each into -M[M]D -MF and then prefers -MMD.
                let mode = match &self.wp {
                    Some((DepMode::Mmd, _)) if self.family != Family::Gcc => DepMode::Mmd,
                    _ => mode,
                };
                self.wp = Some((mode, path));
                return;
            }
        }
        if (single("-D") || single("-U")) && value.len() > 2 {
            return;
        }
        self.unsupported(arg);
    }

    fn include_dir(&mut self, kind: SearchKind, dir: OsString, arg: &OsStr) {
        let bytes = dir.as_encoded_bytes();
        // `-I-` splits the chain; `=dir` and `$SYSROOT/dir` are sysroot-relative; a
        // `.hmap` is a clang header map. None of these chains is modelled.
        if dir == "-"
            || bytes.starts_with(b"=")
            || bytes.starts_with(b"$SYSROOT")
            || bytes.ends_with(b".hmap")
        {
            self.unsupported(arg);
            return;
        }
        let list = match kind {
            SearchKind::Quote => &mut self.search.iquote,
            SearchKind::Angled => &mut self.search.angled,
            SearchKind::System => &mut self.search.system,
            SearchKind::After => &mut self.search.after,
        };
        list.push(dir);
    }

    fn extra_input(&mut self, role: InputRole, path: OsString, arg: &OsStr) {
        let kind = match role {
            InputRole::Include => ExtraInputKind::Include,
            InputRole::ProfileUse => {
                self.profile_uses += 1;
                ExtraInputKind::ProfileUse
            }
            InputRole::Content => ExtraInputKind::Content,
            InputRole::MtimeOnly => ExtraInputKind::MtimeOnly,
            InputRole::Plugin | InputRole::Config => {
                // A bare name is looked up in the compiler's own directories.
                let bytes = path.as_encoded_bytes();
                if !bytes.contains(&b'/') || bytes.windows(12).any(|w| w == b"libcc1plugin") {
                    self.unsupported(arg);
                    return;
                }
                ExtraInputKind::Content
            }
        };
        self.extra_inputs.push(ExtraInput { path, kind });
    }

    /// gcc's `set_debug_level`: an explicit level sets it, a level-less spelling only
    /// raises 0 to 2, and format or behaviour modifiers leave it alone.
    fn debug_flag(&mut self, rest: &OsStr) {
        let Some(rest) = rest.to_str() else {
            self.raise_debug();
            return;
        };
        const MODIFIERS: &[&str] = &[
            "column-info",
            "strict-dwarf",
            "record-gcc-switches",
            "describe-dies",
            "pubnames",
            "gnu-pubnames",
            "as-loc-support",
            "as-locview-support",
            "variable-location-views",
            "variable-location-views=incompat5",
            "inline-points",
            "internal-reset-location-views",
            "statement-frontiers",
            "codeview",
            "codeview-ghash",
            "codeview-command-line",
            "embed-source",
            "inline-line-tables",
            "simple-template-names",
            "template-alias",
            "dwarf-aranges",
            "dwarf32",
            "dwarf64",
            "omit-unreferenced-methods",
        ];
        if rest.starts_with('z')
            || rest.starts_with("no-")
            || rest.starts_with("simple-template-names=")
            || MODIFIERS.contains(&rest)
        {
            return;
        }
        if matches!(rest, "line-tables-only" | "line-directives-only" | "mlt") {
            self.debug_level = 1;
            return;
        }
        // Formats with an optional trailing level: -g3, -ggdb2, -gstabs+1, -gctf0.
        for format in [
            "", "gdb", "stabs+", "stabs", "xcoff+", "xcoff", "vms", "btf", "ctf",
        ] {
            if let Some(level) = rest.strip_prefix(format) {
                match level.as_bytes() {
                    [] => return self.raise_debug(),
                    [d @ b'0'..=b'9'] => {
                        self.debug_level = d - b'0';
                        return;
                    }
                    _ => {}
                }
            }
        }
        // -gdwarf, -gdwarf-4 choose a format version, not a level. Anything unknown is
        // taken as enabling debug info, which can only cost hits.
        self.raise_debug();
    }

    fn raise_debug(&mut self) {
        if self.debug_level == 0 {
            self.debug_level = 2;
        }
    }

    fn prefix_map(&mut self, kind: MapKind, value: &OsStr) {
        self.user_prefix_map = true;
        match kind {
            MapKind::DebugPrefix | MapKind::FilePrefix => {
                if let Some((old, new)) = split_once(value, b'=') {
                    self.prefix_maps
                        .push((old.to_os_string(), new.to_os_string()));
                }
            }
            MapKind::DebugCompilationDir | MapKind::FileCompilationDir => {
                self.debug_compilation_dir = true
            }
            MapKind::MacroPrefix
            | MapKind::CoveragePrefix
            | MapKind::CoverageCompilationDir
            | MapKind::ProfilePrefix => {}
        }
    }

    fn color_flag(&mut self, flag: ColorFlag, value: &OsStr) {
        let clang_spelling = matches!(flag, ColorFlag::ClangOn | ColorFlag::ClangOff);
        if clang_spelling && self.family == Family::Gcc {
            self.color_flag_valid = false;
            return;
        }
        self.user_color = match flag {
            ColorFlag::On | ColorFlag::ClangOn => Some(true),
            ColorFlag::Off | ColorFlag::ClangOff => Some(false),
            ColorFlag::When => match value.to_str() {
                Some("always") => Some(true),
                Some("never") => Some(false),
                Some("auto") => None,
                _ => {
                    self.color_flag_valid = false;
                    self.user_color
                }
            },
        };
    }

    /// `-Xclang` hands an option straight to cc1. Only options known to be harmless
    /// are accepted; everything else (plugins, PCH and module emission, extra
    /// outputs) passes through.
    fn xclang(&mut self, value: &OsStr, arg: &OsStr) {
        if std::mem::take(&mut self.xclang_value_pending) {
            return;
        }
        let Some(option) = value.to_str() else {
            self.unsupported(arg);
            return;
        };
        match option {
            "-fcolor-diagnostics" => self.user_color = Some(true),
            "-fno-color-diagnostics" => self.user_color = Some(false),
            "-mllvm" | "-target-feature" | "-target-cpu" | "-target-abi" | "-tune-cpu" => {
                self.xclang_value_pending = true;
            }
            "-disable-llvm-passes"
            | "-disable-O0-optnone"
            | "-disable-llvm-optzns"
            | "-no-opaque-pointers"
            | "-opaque-pointers"
            | "-vectorize-loops"
            | "-vectorize-slp" => {}
            _ if option.starts_with("-fmodule") => self.refuse(Reason::CouldNotUseModules, option),
            _ if [
                "-fdebug-compilation-dir",
                "-fcoverage-compilation-dir",
                "-fprofile",
                "-fplugin",
                "-fpass-plugin",
            ]
            .iter()
            .any(|p| option.starts_with(p)) =>
            {
                self.refuse(
                    Reason::UnsupportedCompilerOption,
                    format!("-Xclang {option}"),
                );
            }
            _ if ["-f", "-W", "-O", "-D", "-U"]
                .iter()
                .any(|p| option.starts_with(p)) => {}
            _ => self.refuse(
                Reason::UnsupportedCompilerOption,
                format!("-Xclang {option}"),
            ),
        }
    }

    /// Assembler options that write listings or depfiles are extra outputs.
    fn asm_options(&mut self, value: &OsStr, comma_separated: bool, arg: &OsStr) {
        let bytes = value.as_encoded_bytes();
        let parts: Vec<&[u8]> = if comma_separated {
            bytes.split(|&b| b == b',').collect()
        } else {
            vec![bytes]
        };
        let writes_file = |p: &&[u8]| {
            (p.starts_with(b"-a") && !p.starts_with(b"-arch"))
                || p.starts_with(b"--MD")
                || p.starts_with(b"-MD")
                || p.starts_with(b"-o")
        };
        if parts.iter().any(writes_file) {
            self.unsupported(arg);
        }
    }

    fn emcc_setting(&mut self, setting: OsString, arg: &OsStr) {
        if let Some((name, value)) = split_once(&setting, b'=') {
            // `-sNAME=@file` reads the value from a file.
            if value.as_encoded_bytes().starts_with(b"@") {
                self.unsupported(arg);
            }
            self.emcc_ports |= name.as_encoded_bytes().starts_with(b"USE_");
        } else {
            self.emcc_ports |= setting.as_encoded_bytes().starts_with(b"USE_");
        }
        self.emcc_settings.push(setting);
    }

    fn finish(
        self,
        args: &[OsString],
        items: &[Item],
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Invocation, Passthrough> {
        if self.inputs.is_empty() {
            return Err(Passthrough::new(Reason::NoInputFile, "no input file"));
        }
        if self.inputs.iter().any(|input| input.path == "-") {
            return Err(Passthrough::new(Reason::StdinInput, "input from stdin"));
        }
        if let Some(error) = self.first_error {
            return Err(error);
        }
        let mut distinct_archs = self.archs.clone();
        distinct_archs.sort();
        distinct_archs.dedup();
        if distinct_archs.len() > 1 {
            return Err(Passthrough::new(
                Reason::UnsupportedCompilerOption,
                "multiple -arch",
            ));
        }
        if self.profile_uses > 1 || (self.profile_uses > 0 && self.profile_generate) {
            return Err(Passthrough::new(
                Reason::UnsupportedCompilerOption,
                "several profile options",
            ));
        }
        check_env(self.family, env)?;

        let mode = if self.syntax_only {
            Mode::SyntaxOnly
        } else if self.assemble {
            Mode::Assemble
        } else if self.compile {
            Mode::Compile
        } else {
            return Err(Passthrough::new(
                Reason::CalledForLink,
                "no -c, -S or -fsyntax-only",
            ));
        };

        let kinds: Vec<InputKind> = self
            .inputs
            .iter()
            .map(|input| self.input_kind(input))
            .collect();
        if let Some(i) = kinds.iter().position(|k| matches!(k, InputKind::Link)) {
            return Err(Passthrough::new(
                Reason::CalledForLink,
                self.inputs[i].path.to_string_lossy(),
            ));
        }
        let mut languages = Vec::with_capacity(kinds.len());
        for (input, kind) in self.inputs.iter().zip(kinds) {
            let detail = || match &input.x {
                Some(x) => format!("-x {} for {:?}", x.to_string_lossy(), input.path),
                None => format!("{:?}", input.path),
            };
            match kind {
                // gcc and clang disagree about the stem of `.c`.
                InputKind::Source(_) if names::is_bare_dotfile(&input.path) => {
                    return Err(Passthrough::new(
                        Reason::UnsupportedSourceLanguage,
                        detail(),
                    ));
                }
                InputKind::Source(language) => languages.push(language),
                InputKind::Header => {
                    return Err(Passthrough::new(
                        Reason::CouldNotUsePrecompiledHeader,
                        detail(),
                    ))
                }
                InputKind::Link => unreachable!("links were ruled out above"),
                InputKind::Unsupported => {
                    return Err(Passthrough::new(
                        Reason::UnsupportedSourceLanguage,
                        detail(),
                    ))
                }
            }
        }

        if self.inputs.len() > 1 {
            // The driver prints its own diagnostics (an unused `-L`, a
            // bad option) once per call, not once per source, and which
            // lines those are differs by compiler and version: replaying
            // per-source results cannot prove bare's stderr (ccache passes
            // these through too).
            return Err(Passthrough::new(
                Reason::MultipleSourceFiles,
                "several sources in one call",
            ));
        }
        if self.outputs_given > 1 {
            // Bare, the last one wins; but gcc's driver derives a depfile
            // name from each of them once `-MD` is in effect, and cc1 then
            // sees two file names ("too many filenames given"), so the
            // `-MD` a miss adds (or a dependency run) would fail a build
            // that succeeds bare.
            return Err(Passthrough::new(Reason::RepeatedOutput, "-o given twice"));
        }
        if let Some(output) = &self.output {
            if output == "-" {
                return Err(Passthrough::new(Reason::OutputToStdout, "-o -"));
            }
            if output.is_empty() || names::is_bare_dotfile(output) || *output == self.inputs[0].path
            {
                return Err(Passthrough::new(
                    Reason::BadOutputFile,
                    output.to_string_lossy(),
                ));
            }
        }
        let dep = self.dep_spec()?;

        let mut units = Vec::with_capacity(self.inputs.len());
        for (input, language) in self.inputs.iter().zip(languages) {
            let mut unit = self.unit(mode, &dep, &input.path, language)?;
            unit.arg_index = input.at;
            units.push(unit);
        }

        let mut extra_inputs = self.extra_inputs;
        let em_config = match self.family {
            Family::Emcc => self
                .em_config
                .or_else(|| env("EM_CONFIG").filter(|v| !v.is_empty())),
            _ => None,
        };
        if let Some(config) = &em_config {
            extra_inputs.push(ExtraInput {
                path: config.clone(),
                kind: ExtraInputKind::Content,
            });
        }

        let (key_args, key_paths) = key_args(args, items, &dep, self.record_command_line);
        Ok(Invocation {
            probe_drop: self.probe_drop.clone(),
            family: self.family,
            cplusplus: self.cplusplus,
            mode,
            key_args,
            key_paths,
            units,
            dep,
            search: self.search,
            extra_inputs,
            debug_level: self.debug_level,
            prefix_maps: self.prefix_maps,
            debug_compilation_dir: self.debug_compilation_dir,
            user_prefix_map: self.user_prefix_map,
            include_pch: self.include_pch,
            coverage: self.arcs || self.notes,
            profile_generate: self.profile_generate,
            cwd_in_output: self.arcs || self.notes || self.profile_generate || self.cwd_sensitive,
            split_dwarf: self.split_dwarf,
            serialize_diagnostics: self.serialize_diagnostics,
            user_color: self.user_color,
            color_flag_valid: self.color_flag_valid,
            march_native: self.march_native,
            record_command_line: self.record_command_line,
            em_config,
            emcc_settings: self.emcc_settings,
            emcc_ports: self.emcc_ports,
            program_prefixes: self.program_prefixes,
        })
    }

    fn dep_spec(&self) -> Result<DepSpec, Passthrough> {
        if self.wp.is_some() && (self.md || self.mmd || self.mf.is_some()) {
            // gcc and clang disagree on which file and which mode win.
            return Err(Passthrough::new(
                Reason::UnsupportedCompilerOption,
                "-Wp,-M[M]D mixed with -MD, -MMD or -MF",
            ));
        }
        let dep_options = self.mf.is_some() || !self.targets.is_empty() || self.phony;
        if self.wp.is_none() && !self.md && !self.mmd && (dep_options || self.missing_ok) {
            // Bare, gcc fails and clang warns "argument unused"; the `-MD`
            // a miss adds to learn the headers would make them succeed
            // quietly instead.
            return Err(Passthrough::new(
                Reason::DependencyOptionWithoutDepfile,
                "-MF, -MT, -MQ, -MP or -MG without -MD or -MMD",
            ));
        }
        let (mode, file, via_wp) = match &self.wp {
            Some((mode, path)) => (*mode, Some(path.clone()), true),
            None if self.mmd => (DepMode::Mmd, self.mf.clone(), false),
            None if self.md => (DepMode::Md, self.mf.clone(), false),
            None => (DepMode::None, self.mf.clone(), false),
        };
        Ok(DepSpec {
            mode,
            file,
            targets: self.targets.clone(),
            phony: self.phony,
            missing_ok: self.missing_ok,
            via_wp,
        })
    }

    fn input_kind(&self, input: &Input) -> InputKind {
        match &input.x {
            Some(x) => language_from_x(x),
            None => self.language_from_extension(&input.path),
        }
    }

    /// The driver's suffix table. C++ drivers compile `.c`, `.i` and `.h` as C++.
    fn language_from_extension(&self, path: &OsStr) -> InputKind {
        let clangish = self.family != Family::Gcc;
        let Some(ext) = names::extension(path).and_then(OsStr::to_str) else {
            return InputKind::Unsupported;
        };
        let lang = match ext {
            "c" if self.cplusplus => Language::Cxx,
            "c" => Language::C,
            "i" if self.cplusplus => Language::CxxPreprocessed,
            "i" => Language::CPreprocessed,
            "ii" => Language::CxxPreprocessed,
            "cc" | "cp" | "cxx" | "cpp" | "CPP" | "c++" | "C" => Language::Cxx,
            "CC" | "CXX" | "C++" if clangish => Language::Cxx,
            "s" => Language::Asm,
            "S" => Language::AsmWithCpp,
            "sx" if !clangish => Language::AsmWithCpp,
            "h" | "hh" | "H" | "hp" | "hxx" | "hpp" | "HPP" | "h++" | "tcc" => {
                return InputKind::Header
            }
            "o" | "obj" | "a" | "so" | "lib" | "dylib" | "dll" | "lo" | "la" | "tbd" | "res" => {
                return InputKind::Link
            }
            "wasm" if self.family == Family::Emcc => return InputKind::Link,
            _ if names::basename(path)
                .as_encoded_bytes()
                .windows(4)
                .any(|w| w == b".so.") =>
            {
                return InputKind::Link;
            }
            _ => return InputKind::Unsupported,
        };
        InputKind::Source(lang)
    }

    fn unit(
        &self,
        mode: Mode,
        dep: &DepSpec,
        source: &OsStr,
        language: Language,
    ) -> Result<Unit, Passthrough> {
        let unsupported =
            |detail: &str| Err(Passthrough::new(Reason::UnsupportedCompilerOption, detail));
        let bitcode = self.emit_llvm && self.family != Family::Gcc;
        let output = match mode {
            Mode::Compile => Some(
                self.output
                    .clone()
                    .unwrap_or_else(|| derived(source, if bitcode { ".bc" } else { ".o" })),
            ),
            Mode::Assemble => Some(
                self.output
                    .clone()
                    .unwrap_or_else(|| derived(source, if bitcode { ".ll" } else { ".s" })),
            ),
            Mode::SyntaxOnly => None,
        };
        let to_dev_null = self.output.as_deref().is_some_and(is_dev_null);

        let mut depfile = None;
        let mut dep_targets = Vec::new();
        if dep.mode != DepMode::None && language.is_preprocessed_by_compiler() {
            depfile = match (&dep.file, &self.output) {
                (Some(file), _) => Some(file.clone()),
                (None, Some(_)) if to_dev_null => {
                    return unsupported("depfile named after /dev/null")
                }
                (None, Some(output)) => Some(with_suffix(output, ".d")),
                (None, None)
                    if self.family == Family::Gcc
                        && mode == Mode::SyntaxOnly
                        && !self.compile
                        && !self.assemble =>
                {
                    // gcc 11+ names it after the link-mode dump base ("a-t.d").
                    return unsupported("gcc -fsyntax-only depfile without -o, -c or -S");
                }
                (None, None) => Some(derived(source, ".d")),
            };
            dep_targets = if self.family == Family::Gcc && !dep.targets.is_empty() {
                gcc_target_order(&dep.targets)
            } else if !dep.targets.is_empty() {
                dep.targets.clone()
            } else {
                match &self.output {
                    // gcc's cc1 ignores -o when the request bypasses the driver.
                    Some(output) if !(dep.via_wp && self.family == Family::Gcc) => {
                        vec![DepTarget::Quoted(output.clone())]
                    }
                    _ => vec![DepTarget::Quoted(derived(source, ".o"))],
                }
            };
        }

        let debug = self.debug_level > 0;
        let dwo = match (self.split_dwarf, self.family, mode) {
            (false, _, _) | (_, _, Mode::SyntaxOnly) => None,
            // gcc writes the .dwo from its assembler step, even without -g.
            (true, Family::Gcc, Mode::Compile) if to_dev_null => None,
            (true, Family::Gcc, Mode::Compile) => output.as_deref().map(|o| with_suffix(o, ".dwo")),
            (true, Family::Gcc, Mode::Assemble) => None,
            (true, _, _) if !debug => None,
            (true, Family::Emcc, _) => return unsupported("-gsplit-dwarf under emcc"),
            (true, Family::Clang, _) if self.debug_level == 1 => {
                return unsupported("-gsplit-dwarf with line tables only")
            }
            (true, Family::Clang, Mode::Assemble) => return unsupported("clang -S -gsplit-dwarf"),
            (true, Family::Clang, Mode::Compile) if to_dev_null => {
                return unsupported("-gsplit-dwarf into /dev/null")
            }
            (true, Family::Clang, Mode::Compile) => {
                output.as_deref().map(|o| with_suffix(o, ".dwo"))
            }
        };

        let gcno = match (self.notes, self.family, mode) {
            (false, _, _) => None,
            (true, Family::Emcc, _) => return unsupported("coverage under emcc"),
            // gcc writes a .gcno even then, named unlike any other output.
            (true, Family::Gcc, Mode::SyntaxOnly) => {
                return unsupported("gcc -fsyntax-only with coverage")
            }
            (true, _, Mode::SyntaxOnly) => None,
            (true, _, _) if to_dev_null => return unsupported("coverage into /dev/null"),
            (true, _, _) => output.as_deref().map(|o| with_suffix(o, ".gcno")),
        };

        Ok(Unit {
            arg_index: 0,
            source: source.to_os_string(),
            language,
            output,
            depfile,
            dep_targets,
            dwo,
            gcno,
        })
    }
}

fn language_from_x(x: &OsStr) -> InputKind {
    let Some(x) = x.to_str() else {
        return InputKind::Unsupported;
    };
    let lang = match x {
        "c" => Language::C,
        "c++" => Language::Cxx,
        "cpp-output" => Language::CPreprocessed,
        "c++-cpp-output" => Language::CxxPreprocessed,
        "assembler" => Language::Asm,
        "assembler-with-cpp" => Language::AsmWithCpp,
        "c-header"
        | "c++-header"
        | "c++-system-header"
        | "c++-user-header"
        | "c-header-cpp-output"
        | "c++-header-cpp-output" => return InputKind::Header,
        _ => return InputKind::Unsupported,
    };
    InputKind::Source(lang)
}

/// The order in which gcc writes explicit targets. Its driver hands cc1 every `-MQ`
/// before every `-MT`, and cc1 (`deps_add_target`) keeps raw targets ahead of quoted
/// ones by swapping each new raw target with the lowest quoted one: `-MQ q1 -MQ q2
/// -MT t1` is written `t1 q2 q1`. clang keeps the command-line order.
fn gcc_target_order(targets: &[DepTarget]) -> Vec<DepTarget> {
    let quoted = targets.iter().filter(|t| matches!(t, DepTarget::Quoted(_)));
    let raw = targets.iter().filter(|t| matches!(t, DepTarget::Raw(_)));
    let mut out: Vec<DepTarget> = Vec::with_capacity(targets.len());
    let mut low_water = 0;
    for target in quoted.chain(raw) {
        let mut target = target.clone();
        if matches!(target, DepTarget::Raw(_)) {
            if low_water != out.len() {
                std::mem::swap(&mut out[low_water], &mut target);
            }
            low_water += 1;
        }
        out.push(target);
    }
    out
}

/// The expanded args in order, minus what is rewritten per request (cache-keys.md §2),
/// and where their path values are. With `whole` (the object records the command
/// line) every argument stays, sources included.
fn key_args(
    args: &[OsString],
    items: &[Item],
    dep: &DepSpec,
    whole: bool,
) -> (Vec<OsString>, Vec<(usize, usize)>) {
    let mut out = Vec::with_capacity(args.len());
    let mut paths = Vec::new();
    for item in items {
        let spelled = &args[item.start..item.start + item.len];
        if whole {
            path_at(item, spelled, out.len(), &mut paths);
            out.extend(spelled.iter().cloned());
            continue;
        }
        if item.positional {
            continue;
        }
        match item.class() {
            Some(FlagClass::Output | FlagClass::Dep(DepFlag::Mf | DepFlag::Mt | DepFlag::Mq)) => {}
            Some(FlagClass::Wp) if dep.via_wp && is_wp_dep(&spelled[0]) => {
                out.push(OsString::from(if is_wp_mmd(&spelled[0]) {
                    "-Wp,-MMD,"
                } else {
                    "-Wp,-MD,"
                }));
            }
            Some(FlagClass::SerializeDiagnostics) => out.push(spelled[0].clone()),
            _ => {
                path_at(item, spelled, out.len(), &mut paths);
                out.extend(spelled.iter().cloned());
            }
        }
    }
    (out, paths)
}

/// Records where `item`'s path value sits once `spelled` is pushed at `base`.
fn path_at(item: &Item, spelled: &[OsString], base: usize, paths: &mut Vec<(usize, usize)>) {
    let (Some(spec), Some(value)) = (item.spec, &item.value) else {
        return;
    };
    if !spec.value_is_path() || value.is_empty() {
        return;
    }
    if item.len > 1 {
        paths.push((base + 1, 0));
    } else {
        paths.push((base, spelled[0].len() - value.len()));
    }
}

fn is_wp_dep(arg: &OsStr) -> bool {
    let bytes = arg.as_encoded_bytes();
    bytes.starts_with(b"-Wp,-MD,") || bytes.starts_with(b"-Wp,-MMD,")
}

fn is_wp_mmd(arg: &OsStr) -> bool {
    arg.as_encoded_bytes().starts_with(b"-Wp,-MMD,")
}
