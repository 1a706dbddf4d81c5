//! The per-class flag handlers of the semantic stage: what one flag (already split
//! and classed by `flags.rs`) does to the classification in progress; no call-wide
//! decisions (those are `checks.rs`) and no spellings beyond the values of a class
//! (the `-Xclang`, `-g` and `-d` value tables here).

use std::ffi::{OsStr, OsString};

use super::super::flags::{
    ColorFlag, CoverageFlag, DepFlag, InputRole, MapKind, ModeFlag, SearchKind,
};
use super::super::names::{split_once, tail_after};
use super::super::{DepMode, DepTarget, ExtraInput, ExtraInputKind, Family, Reason};
use super::State;

impl State {
    pub(super) fn output_flag(&mut self, value: OsString) {
        self.outputs_given += 1;
        self.output = Some(value);
    }

    pub(super) fn mode_flag(&mut self, mode: ModeFlag, arg: &OsStr) {
        match mode {
            ModeFlag::Compile => self.compile = true,
            ModeFlag::Assemble => self.assemble = true,
            ModeFlag::SyntaxOnly => self.syntax_only = true,
            ModeFlag::Preprocess => {
                self.refuse(Reason::CalledForPreprocessing, arg.to_string_lossy())
            }
        }
    }

    /// macOS builds pass OpenMP this way; it only defines _OPENMP.
    pub(super) fn xpreprocessor(&mut self, value: &OsStr, arg: &OsStr) {
        if value != "-fopenmp" {
            self.unsupported(arg);
        }
    }

    pub(super) fn coverage_flag(&mut self, flag: CoverageFlag) {
        match flag {
            CoverageFlag::Both => (self.arcs, self.notes) = (true, true),
            CoverageFlag::Arcs => self.arcs = true,
            CoverageFlag::Notes => self.notes = true,
            CoverageFlag::NoArcs => self.arcs = false,
            CoverageFlag::NoNotes => self.notes = false,
        }
    }

    /// `-gsplit-dwarf[=split|single]`, `-gno-split-dwarf`; `spec_name` is the table's
    /// spelling of the flag.
    pub(super) fn split_dwarf_flag(&mut self, spec_name: Option<&str>, value: &OsStr, arg: &OsStr) {
        match (spec_name, value.to_str()) {
            (Some("-gno-split-dwarf"), _) | (_, Some("single")) => self.split_dwarf = false,
            (Some("-gsplit-dwarf"), _) | (_, Some("split")) => self.split_dwarf = true,
            _ => self.unsupported(arg),
        }
    }

    /// `-d<letters>`: preprocessor dumps (only meaningful with -E) and assembly
    /// annotations write no files; every other letter dumps compiler passes to files.
    pub(super) fn dump_flag(&mut self, letters: &OsStr, arg: &OsStr) {
        if !is_harmless_dump(letters) {
            self.unsupported(arg);
        }
    }

    /// `-fopt-info[-…][=file]`: a file name is an extra output.
    pub(super) fn opt_info(&mut self, value: &OsStr, arg: &OsStr) {
        if value.as_encoded_bytes().contains(&b'=') {
            self.unsupported(arg);
        }
    }

    pub(super) fn emit_llvm_flag(&mut self, arg: &OsStr) {
        if self.family == Family::Emcc {
            self.unsupported(arg);
        }
        self.emit_llvm = true;
    }

    pub(super) fn dep_flag(&mut self, dep: DepFlag, value: OsString, arg: &OsStr) {
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
    pub(super) fn wp_flag(&mut self, value: &OsStr, arg: &OsStr) {
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
        // No line markers: it only changes `-E` output, which a compile
        // does not write; it stays in the key as spelled.
        if value == "-P" {
            return;
        }
        self.unsupported(arg);
    }

    pub(super) fn include_dir(&mut self, kind: SearchKind, dir: OsString, arg: &OsStr) {
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

    /// gcc's profile-use flags name no file: `-fprofile-use=DIR` is a
    /// directory (like `-fprofile-dir=`) holding one file per object, which
    /// the caller finds from the object's name (an empty path), and a bare
    /// `-fauto-profile` reads `fbdata.afdo`. Other values are kept.
    pub(super) fn gcc_profile_use(&mut self, spec_name: Option<&str>, value: OsString) -> OsString {
        if self.family != Family::Gcc {
            return value;
        }
        match spec_name {
            Some("-fprofile-use=") => {
                self.profile_dir = Some(value);
                OsString::new()
            }
            Some("-fauto-profile") => "fbdata.afdo".into(),
            _ => value,
        }
    }

    pub(super) fn extra_input(&mut self, role: InputRole, path: OsString, arg: &OsStr) {
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

    /// gcc's `set_debug_level` (see [`debug_effect`]).
    pub(super) fn debug_flag(&mut self, rest: &OsStr) {
        match debug_effect(rest) {
            DebugEffect::None => {}
            DebugEffect::Raise if self.debug_level == 0 => self.debug_level = 2,
            DebugEffect::Raise => {}
            DebugEffect::Set(level) => self.debug_level = level,
        }
    }

    pub(super) fn prefix_map(&mut self, kind: MapKind, value: &OsStr) {
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

    pub(super) fn color_flag(&mut self, flag: ColorFlag, value: &OsStr) {
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
    /// are accepted (see [`XCLANG`]); everything else (plugins, PCH and module
    /// emission, extra outputs) passes through.
    pub(super) fn xclang(&mut self, value: &OsStr, arg: &OsStr) {
        if std::mem::take(&mut self.xclang_value_pending) {
            return;
        }
        let Some(option) = value.to_str() else {
            self.unsupported(arg);
            return;
        };
        match xclang_rule(option) {
            XclangRule::Color(on) => self.user_color = Some(on),
            XclangRule::TakesValue => self.xclang_value_pending = true,
            XclangRule::Harmless => {}
            XclangRule::Modules => self.refuse(Reason::CouldNotUseModules, option),
            XclangRule::Unsupported => self.refuse(
                Reason::UnsupportedCompilerOption,
                format!("-Xclang {option}"),
            ),
        }
    }

    /// Assembler options that write files: GNU as's listing (`-a[letters][=file]`,
    /// on stdout or into the file) is an output we store, for gcc only (clang's
    /// integrated assembler rejects it) and once per call; depfiles (`--MD`) and
    /// `-o` are not modelled.
    pub(super) fn asm_options(&mut self, value: &OsStr, comma_separated: bool, arg: &OsStr) {
        let bytes = value.as_encoded_bytes();
        let parts: Vec<&[u8]> = if comma_separated {
            bytes.split(|&b| b == b',').collect()
        } else {
            vec![bytes]
        };
        for part in parts {
            if part.starts_with(b"--MD") || part.starts_with(b"-MD") || part.starts_with(b"-o") {
                self.unsupported(arg);
            } else if part.starts_with(b"-a") && !part.starts_with(b"-arch") {
                match listing_file(part) {
                    Some(file) if self.family == Family::Gcc && self.listing.is_none() => {
                        self.listing = Some(file)
                    }
                    _ => self.unsupported(arg),
                }
            }
        }
    }

    pub(super) fn emcc_setting(&mut self, setting: OsString, arg: &OsStr) {
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
}

/// GNU as's `-a[cdghilmns][=file]`: where the listing goes (`None`: stdout), or
/// `None` when the part is not a listing option we know.
fn listing_file(part: &[u8]) -> Option<Option<OsString>> {
    let rest = part.strip_prefix(b"-a")?;
    let (letters, file) = match rest.iter().position(|&b| b == b'=') {
        Some(eq) => (&rest[..eq], Some(&rest[eq + 1..])),
        None => (rest, None),
    };
    if !letters.iter().all(|b| b"cdghilmns".contains(b)) {
        return None;
    }
    match file {
        None => Some(None),
        Some([]) => None,
        // Split from an `OsStr` at ASCII bytes, so still valid.
        Some(file) => Some(Some(os_from_bytes(file))),
    }
}

/// Bytes cut from an `OsStr` at ASCII boundaries, back as an `OsString`.
fn os_from_bytes(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes).to_os_string()
}

/// What one `-g…` spelling does to the debug level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DebugEffect {
    /// A format or behaviour modifier: the level stays.
    None,
    /// A level-less spelling: 0 becomes 2, any other level stays.
    Raise,
    /// An explicit level.
    Set(u8),
}

/// `-g` modifiers that leave the level alone (besides `-gz…`, `-gno-…` and
/// `-gsimple-template-names=…`).
const DEBUG_MODIFIERS: &[&str] = &[
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

/// `-g` spellings meaning line tables only: level 1.
const DEBUG_LINE_TABLES: &[&str] = &["line-tables-only", "line-directives-only", "mlt"];

/// Formats with an optional trailing level: -g3, -ggdb2, -gstabs+1, -gctf0.
const DEBUG_FORMATS: &[&str] = &[
    "", "gdb", "stabs+", "stabs", "xcoff+", "xcoff", "vms", "btf", "ctf",
];

/// gcc's `set_debug_level` for what follows `-g`: an explicit level sets it, a
/// level-less spelling only raises 0 to 2, and format or behaviour modifiers leave it
/// alone.
fn debug_effect(rest: &OsStr) -> DebugEffect {
    let Some(rest) = rest.to_str() else {
        return DebugEffect::Raise;
    };
    if rest.starts_with('z')
        || rest.starts_with("no-")
        || rest.starts_with("simple-template-names=")
        || DEBUG_MODIFIERS.contains(&rest)
    {
        return DebugEffect::None;
    }
    if DEBUG_LINE_TABLES.contains(&rest) {
        return DebugEffect::Set(1);
    }
    for format in DEBUG_FORMATS {
        if let Some(level) = rest.strip_prefix(format) {
            match level.as_bytes() {
                [] => return DebugEffect::Raise,
                [d @ b'0'..=b'9'] => return DebugEffect::Set(d - b'0'),
                _ => {}
            }
        }
    }
    // -gdwarf, -gdwarf-4 choose a format version, not a level. Anything unknown is
    // taken as enabling debug info, which can only cost hits.
    DebugEffect::Raise
}

/// The `-d` letters that write no file.
const HARMLESS_DUMP_LETTERS: &[u8] = b"ADIMNUPp";

fn is_harmless_dump(letters: &OsStr) -> bool {
    let letters = letters.as_encoded_bytes();
    !letters.is_empty() && letters.iter().all(|b| HARMLESS_DUMP_LETTERS.contains(b))
}

/// What an `-Xclang` option does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum XclangRule {
    /// `-f[no-]color-diagnostics`: the caller's colour choice.
    Color(bool),
    /// Its value follows in the next `-Xclang`.
    TakesValue,
    Harmless,
    /// Module options: `could_not_use_modules`.
    Modules,
    /// Extra inputs or outputs we do not model: `unsupported_compiler_option`.
    Unsupported,
}

/// Whole `-Xclang` options.
const XCLANG: &[(&str, XclangRule)] = &[
    ("-fcolor-diagnostics", XclangRule::Color(true)),
    ("-fno-color-diagnostics", XclangRule::Color(false)),
    ("-mllvm", XclangRule::TakesValue),
    ("-target-feature", XclangRule::TakesValue),
    ("-target-cpu", XclangRule::TakesValue),
    ("-target-abi", XclangRule::TakesValue),
    ("-tune-cpu", XclangRule::TakesValue),
    ("-disable-llvm-passes", XclangRule::Harmless),
    ("-disable-O0-optnone", XclangRule::Harmless),
    ("-disable-llvm-optzns", XclangRule::Harmless),
    ("-no-opaque-pointers", XclangRule::Harmless),
    ("-opaque-pointers", XclangRule::Harmless),
    ("-vectorize-loops", XclangRule::Harmless),
    ("-vectorize-slp", XclangRule::Harmless),
];

/// `-Xclang` option prefixes, first match wins; an option matching none (and not in
/// [`XCLANG`]) is unsupported.
const XCLANG_PREFIXES: &[(&str, XclangRule)] = &[
    ("-fmodule", XclangRule::Modules),
    ("-fdebug-compilation-dir", XclangRule::Unsupported),
    ("-fcoverage-compilation-dir", XclangRule::Unsupported),
    ("-fprofile", XclangRule::Unsupported),
    ("-fplugin", XclangRule::Unsupported),
    ("-fpass-plugin", XclangRule::Unsupported),
    ("-f", XclangRule::Harmless),
    ("-W", XclangRule::Harmless),
    ("-O", XclangRule::Harmless),
    ("-D", XclangRule::Harmless),
    ("-U", XclangRule::Harmless),
];

fn xclang_rule(option: &str) -> XclangRule {
    XCLANG
        .iter()
        .find(|(name, _)| *name == option)
        .or_else(|| {
            XCLANG_PREFIXES
                .iter()
                .find(|(prefix, _)| option.starts_with(prefix))
        })
        .map_or(XclangRule::Unsupported, |(_, rule)| *rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xclang_rules() {
        assert_eq!(xclang_rule("-fcolor-diagnostics"), XclangRule::Color(true));
        assert_eq!(
            xclang_rule("-fno-color-diagnostics"),
            XclangRule::Color(false)
        );
        assert_eq!(xclang_rule("-mllvm"), XclangRule::TakesValue);
        assert_eq!(xclang_rule("-vectorize-slp"), XclangRule::Harmless);
        // A whole option wins over its prefix; the module prefix over `-f`.
        assert_eq!(xclang_rule("-fmodules-cache-path=/m"), XclangRule::Modules);
        assert_eq!(xclang_rule("-fmodule-map-file=x"), XclangRule::Modules);
        assert_eq!(
            xclang_rule("-fprofile-instrument=clang"),
            XclangRule::Unsupported
        );
        assert_eq!(xclang_rule("-fplugin-arg-x"), XclangRule::Unsupported);
        assert_eq!(xclang_rule("-fno-builtin"), XclangRule::Harmless);
        assert_eq!(xclang_rule("-Wno-x"), XclangRule::Harmless);
        assert_eq!(xclang_rule("-DX=1"), XclangRule::Harmless);
        assert_eq!(xclang_rule("-load"), XclangRule::Unsupported);
        assert_eq!(xclang_rule("-emit-pch"), XclangRule::Unsupported);
        assert_eq!(xclang_rule(""), XclangRule::Unsupported);
    }

    #[test]
    fn debug_effects() {
        let g = |s: &str| debug_effect(OsStr::new(s));
        assert_eq!(g(""), DebugEffect::Raise);
        assert_eq!(g("3"), DebugEffect::Set(3));
        assert_eq!(g("gdb1"), DebugEffect::Set(1));
        assert_eq!(g("stabs+0"), DebugEffect::Set(0));
        assert_eq!(g("gdb"), DebugEffect::Raise);
        assert_eq!(g("line-tables-only"), DebugEffect::Set(1));
        assert_eq!(g("mlt"), DebugEffect::Set(1));
        assert_eq!(g("z"), DebugEffect::None);
        assert_eq!(g("zlib=none"), DebugEffect::None);
        assert_eq!(g("no-column-info"), DebugEffect::None);
        assert_eq!(g("column-info"), DebugEffect::None);
        assert_eq!(g("simple-template-names=mangled"), DebugEffect::None);
        assert_eq!(g("dwarf-4"), DebugEffect::Raise);
        assert_eq!(g("dwarf"), DebugEffect::Raise);
        // Two digits are not a level gcc takes; unknown spellings turn debug info on.
        assert_eq!(g("12"), DebugEffect::Raise);
    }

    #[test]
    fn listing_options() {
        let file = |s: &str| listing_file(s.as_bytes());
        assert_eq!(file("-a"), Some(None));
        assert_eq!(file("-adhln"), Some(None));
        assert_eq!(file("-al=x.lst"), Some(Some("x.lst".into())));
        assert_eq!(file("-a=dir/x,y"), Some(Some("dir/x,y".into())));
        assert_eq!(file("-a="), None);
        assert_eq!(file("-axyz"), None);
        assert_eq!(file("-arch"), None);
    }

    #[test]
    fn dump_letters() {
        assert!(is_harmless_dump(OsStr::new("M")));
        assert!(is_harmless_dump(OsStr::new("DAp")));
        assert!(!is_harmless_dump(OsStr::new("")));
        assert!(!is_harmless_dump(OsStr::new("Mr")));
        assert!(!is_harmless_dump(OsStr::new("a")));
    }
}
