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
//!
//! Here: the entry point, the state one pass over the flags builds (`visit` hands each
//! flag to its class's handler in `classify/options.rs`), `finish` (the checks of
//! `classify/checks.rs` in that order, then the units of `classify/unit.rs`, whose
//! languages `classify/language.rs` decides) and the key arguments.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

use super::env::check_env;
use super::flags::{self, DepFlag, FlagClass, Item};
use super::rsp::shlex_split;
use super::{
    Classified, DepMode, DepSpec, DepTarget, ExtraInput, ExtraInputKind, Family, Invocation,
    Language, Mode, Passthrough, Reason, SearchPath, Unit,
};

mod checks;
mod language;
mod options;
mod unit;

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
    /// gcc: the directory of the last `-fprofile-use=` or `-fprofile-dir=`.
    profile_dir: Option<OsString>,
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
    stack_usage: bool,
    /// The assembler listing (`-Wa,-a…`): `Some(None)` on stdout,
    /// `Some(Some(file))` into a file.
    listing: Option<Option<OsString>>,
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
            profile_dir: None,
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
            stack_usage: false,
            listing: None,
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

    /// One split item: a positional input, or a flag handed to its class's handler.
    fn visit(&mut self, item: &Item, arg: &OsString) {
        if dropped_from_probe(item.class(), arg) {
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
        let shown = shown(arg, item.len, &value);
        self.flag(class, item, value, &shown);
    }

    /// Dispatches a flag on its class (the table in `flags.rs` gave it). `arg` is the
    /// flag as shown in a reason's detail.
    fn flag(&mut self, class: FlagClass, item: &Item, value: OsString, arg: &OsStr) {
        let spec_name = item.spec.map(|s| s.name);
        match class {
            FlagClass::Plain => {}
            FlagClass::Output => self.output_flag(value),
            FlagClass::Mode(mode) => self.mode_flag(mode, arg),
            FlagClass::Language => self.x = (value != "none").then_some(value),
            FlagClass::Dep(dep) => self.dep_flag(dep, value, arg),
            FlagClass::Wp => self.wp_flag(&value, arg),
            FlagClass::Xpreprocessor => self.xpreprocessor(&value, arg),
            FlagClass::IncludeDir(kind) => self.include_dir(kind, value, arg),
            FlagClass::NoStdInc => self.search.nostdinc = true,
            FlagClass::ExtraInput(role) => {
                self.include_pch |= spec_name == Some("-include-pch");
                let value = self.gcc_profile_use(spec_name, value);
                self.extra_input(role, value, arg)
            }
            FlagClass::Debug => self.debug_flag(&value),
            FlagClass::PrefixMap(kind) => self.prefix_map(kind, &value),
            FlagClass::Coverage(flag) => self.coverage_flag(flag),
            FlagClass::ProfileGenerate => self.profile_generate = true,
            FlagClass::ProfileDir => self.profile_dir = Some(value),
            FlagClass::CwdSensitive => self.cwd_sensitive = true,
            FlagClass::SplitDwarf => self.split_dwarf_flag(spec_name, &value, arg),
            FlagClass::SerializeDiagnostics => self.serialize_diagnostics = Some(value),
            FlagClass::Color(flag) => self.color_flag(flag, &value),
            FlagClass::RecordCommandLine(on) => self.record_command_line = on,
            FlagClass::Machine => self.march_native |= value == "native",
            FlagClass::ProgramPrefix => self.program_prefixes.push(value),
            FlagClass::Arch => self.archs.push(value),
            FlagClass::Xclang => self.xclang(&value, arg),
            FlagClass::AsmOptions => self.asm_options(&value, item.len == 1, arg),
            FlagClass::StackUsage => self.stack_usage = true,
            FlagClass::Dump => self.dump_flag(&value, arg),
            FlagClass::OptInfo => self.opt_info(&value, arg),
            FlagClass::EmitLlvm => self.emit_llvm_flag(arg),
            FlagClass::EmConfig => self.em_config = Some(value),
            FlagClass::EmSetting => self.emcc_setting(value, arg),
            FlagClass::EmPort => self.emcc_ports = true,
            FlagClass::Passthrough(reason) => self.refuse(reason, arg.to_string_lossy()),
        }
    }

    /// The call-wide checks in reporting order (see the module doc), then the units.
    fn finish(
        self,
        args: &[OsString],
        items: &[Item],
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Invocation, Passthrough> {
        self.check_inputs()?;
        self.check_flags()?;
        check_env(self.family, env)?;
        let mode = self.mode()?;
        let languages = self.languages()?;
        self.check_outputs()?;
        let dep = self.dep_spec()?;
        let units = self.units(mode, &dep, languages)?;
        let em_config = self.em_config_file(env);
        let (key_args, key_paths) = key_args(args, items, &dep, self.record_command_line);
        Ok(self.into_invocation(mode, dep, units, em_config, (key_args, key_paths)))
    }

    /// The units, one per input, with where each sits in the caller's argv.
    fn units(
        &self,
        mode: Mode,
        dep: &DepSpec,
        languages: Vec<Language>,
    ) -> Result<Vec<Unit>, Passthrough> {
        let mut units = Vec::with_capacity(self.inputs.len());
        for (input, language) in self.inputs.iter().zip(languages) {
            let mut unit = self.unit(mode, dep, &input.path, language)?;
            unit.arg_index = input.at;
            units.push(unit);
        }
        Ok(units)
    }

    /// emcc's config file: `--em-config`, else `EM_CONFIG`.
    fn em_config_file(&self, env: &dyn Fn(&str) -> Option<OsString>) -> Option<OsString> {
        match self.family {
            Family::Emcc => self
                .em_config
                .clone()
                .or_else(|| env("EM_CONFIG").filter(|v| !v.is_empty())),
            _ => None,
        }
    }

    fn into_invocation(
        self,
        mode: Mode,
        dep: DepSpec,
        units: Vec<Unit>,
        em_config: Option<OsString>,
        (key_args, key_paths): (Vec<OsString>, Vec<(usize, usize)>),
    ) -> Invocation {
        let mut extra_inputs = self.extra_inputs;
        if let Some(config) = &em_config {
            extra_inputs.push(ExtraInput {
                path: config.clone(),
                kind: ExtraInputKind::Content,
            });
        }
        Invocation {
            probe_drop: self.probe_drop,
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
            profile_dir: self.profile_dir,
            asm_listing: self.listing.is_some(),
        }
    }
}

/// Whether a miss's probe run (the dependency run) leaves this flag out: outputs,
/// modes, dependency options and the flags that write extra files.
fn dropped_from_probe(class: Option<FlagClass>, arg: &OsStr) -> bool {
    match class {
        Some(
            FlagClass::Output
            | FlagClass::Mode(_)
            | FlagClass::Dep(_)
            | FlagClass::SerializeDiagnostics
            | FlagClass::SplitDwarf
            | FlagClass::Coverage(_),
        ) => true,
        Some(FlagClass::Wp) => is_wp_dep(arg),
        _ => false,
    }
}

/// A flag as a reason's detail names it: with its separate value, if any.
fn shown(arg: &OsStr, len: usize, value: &OsStr) -> OsString {
    let mut shown = arg.to_os_string();
    if len > 1 {
        shown.push(" ");
        shown.push(value);
    }
    shown
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

#[cfg(test)]
mod tests {
    use super::flags::{CoverageFlag, ModeFlag};
    use super::*;

    #[test]
    fn what_the_probe_run_leaves_out() {
        let drop = |class, arg: &str| dropped_from_probe(Some(class), OsStr::new(arg));
        assert!(drop(FlagClass::Output, "-o"));
        assert!(drop(FlagClass::Mode(ModeFlag::Compile), "-c"));
        assert!(drop(FlagClass::Dep(DepFlag::Mf), "-MF"));
        assert!(drop(FlagClass::Coverage(CoverageFlag::Both), "--coverage"));
        assert!(drop(FlagClass::SplitDwarf, "-gsplit-dwarf"));
        assert!(drop(
            FlagClass::SerializeDiagnostics,
            "--serialize-diagnostics"
        ));
        assert!(drop(FlagClass::Wp, "-Wp,-MD,a.d"));
        assert!(drop(FlagClass::Wp, "-Wp,-MMD,a.d"));
        assert!(!drop(FlagClass::Wp, "-Wp,-DX"));
        assert!(!drop(FlagClass::Plain, "-O2"));
        assert!(!drop(FlagClass::Debug, "-g"));
        assert!(!dropped_from_probe(None, OsStr::new("t.c")));
    }

    #[test]
    fn a_flag_is_shown_with_its_separate_value() {
        let v = OsStr::new("dir");
        assert_eq!(shown(OsStr::new("-I"), 2, v), "-I dir");
        assert_eq!(shown(OsStr::new("-Idir"), 1, v), "-Idir");
    }

    #[test]
    fn key_args_leave_out_what_is_rewritten_per_request() {
        let args: Vec<OsString> = ["-c", "-o", "t.o", "-MD", "-MF", "t.d", "-Iinc", "t.c"]
            .iter()
            .map(OsString::from)
            .collect();
        let items = flags::split(Family::Gcc, &args).unwrap();
        let dep = DepSpec {
            mode: DepMode::Md,
            file: Some("t.d".into()),
            targets: Vec::new(),
            phony: false,
            missing_ok: false,
            via_wp: false,
        };
        let (key, paths) = key_args(&args, &items, &dep, false);
        assert_eq!(key, ["-c", "-MD", "-Iinc"]);
        // `-Iinc`'s path starts two bytes into argument 2.
        assert_eq!(paths, [(2, 2)]);
        let (whole, _) = key_args(&args, &items, &dep, true);
        assert_eq!(whole, args);
    }
}
