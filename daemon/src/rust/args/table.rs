//! The rustc option tables: every option spelling we understand with its role, and the
//! values of `--crate-type`, `--emit` and `-C` that matter to the cache; no decisions
//! beyond lookup (what a role does to the key is `scan.rs`'s job).

use super::LinkKind;
use crate::reasons::PassthroughReason;

/// What an option means to the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    CrateName,
    CrateType,
    Emit,
    OutDir,
    LibPath,
    Extern,
    NativeLib,
    Codegen,
    Target,
    /// `--color`: out of the key, see [`super::Colour`].
    Color,
    /// `--error-format`: in the key; `json` changes what colour means.
    ErrorFormat,
    /// `--json`: in the key without `diagnostic-rendered-ansi`.
    Json,
    /// Cosmetic: never in the key.
    Drop,
    /// In the key as given.
    Keep,
    /// `--remap-path-prefix`: kept; the caller maps paths itself.
    PrefixMap,
    /// `-Z`: kept; `-Z remap-…` (`remap-cwd-prefix`, `remap-path-scope`) means the
    /// caller maps paths itself.
    Unstable,
    /// Not a compile: `--print`, `--explain`, `-V`, `--help`.
    NotCompile,
    /// Passes through with `unsupported_compiler_option`.
    Unsupported,
    /// `--test` builds a linked test binary.
    Test,
}

/// One option: its spellings, the canonical name keyed for all of them, whether it
/// takes a value, and its role. Short options take their value attached (`-Cx`) or as
/// the next argument; long ones as `--name=value` or the next argument.
#[derive(Debug)]
pub(super) struct Spec {
    pub(super) spellings: &'static [&'static str],
    pub(super) name: &'static str,
    pub(super) takes_value: bool,
    pub(super) role: Role,
}

const fn opt(spellings: &'static [&'static str], name: &'static str, role: Role) -> Spec {
    Spec {
        spellings,
        name,
        takes_value: true,
        role,
    }
}

const fn flag(spellings: &'static [&'static str], name: &'static str, role: Role) -> Spec {
    Spec {
        spellings,
        name,
        takes_value: false,
        role,
    }
}

/// Every option rustc accepts that we understand; anything else passes through.
const TABLE: &[Spec] = &[
    opt(&["--crate-name"], "--crate-name", Role::CrateName),
    opt(&["--crate-type"], "--crate-type", Role::CrateType),
    opt(&["--emit"], "--emit", Role::Emit),
    opt(&["--out-dir"], "--out-dir", Role::OutDir),
    opt(&["-L"], "-L", Role::LibPath),
    opt(&["--extern"], "--extern", Role::Extern),
    opt(&["-C", "--codegen"], "-C", Role::Codegen),
    opt(&["--target"], "--target", Role::Target),
    opt(&["--diagnostic-width"], "--diagnostic-width", Role::Drop),
    opt(&["--color"], "--color", Role::Color),
    opt(&["-l"], "-l", Role::NativeLib),
    opt(&["-o"], "-o", Role::Unsupported),
    opt(&["--sysroot"], "--sysroot", Role::Unsupported),
    opt(&["--print"], "--print", Role::NotCompile),
    opt(&["--explain"], "--explain", Role::NotCompile),
    opt(&["-Z"], "-Z", Role::Unstable),
    opt(&["--edition"], "--edition", Role::Keep),
    opt(&["--cfg"], "--cfg", Role::Keep),
    opt(&["--check-cfg"], "--check-cfg", Role::Keep),
    opt(&["--cap-lints"], "--cap-lints", Role::Keep),
    opt(&["--error-format"], "--error-format", Role::ErrorFormat),
    opt(&["--json"], "--json", Role::Json),
    opt(
        &["--remap-path-prefix"],
        "--remap-path-prefix",
        Role::PrefixMap,
    ),
    opt(&["-A", "--allow"], "-A", Role::Keep),
    opt(&["-W", "--warn"], "-W", Role::Keep),
    opt(&["--force-warn"], "--force-warn", Role::Keep),
    opt(&["-D", "--deny"], "-D", Role::Keep),
    opt(&["-F", "--forbid"], "-F", Role::Keep),
    flag(&["-g"], "-g", Role::Keep),
    flag(&["-O"], "-O", Role::Keep),
    flag(&["-v", "--verbose"], "-v", Role::Keep),
    flag(&["--test"], "--test", Role::Test),
    flag(&["-V", "--version", "-vV", "-Vv"], "-V", Role::NotCompile),
    flag(&["-h", "--help"], "--help", Role::NotCompile),
];

/// Finds `arg` in the table: its spec and the value attached to the argument, if any.
pub(super) fn lookup(arg: &[u8]) -> Option<(&'static Spec, Option<&[u8]>)> {
    TABLE.iter().find_map(|spec| {
        spec.spellings
            .iter()
            .find_map(|spelling| match_spelling(spec, spelling.as_bytes(), arg))
            .map(|attached| (spec, attached))
    })
}

/// Whether `arg` is `spelling` of `spec`: `Some(None)` bare, `Some(Some(value))` with
/// the value attached (`--name=value`, or `-Xvalue` for a two-byte short option).
fn match_spelling<'a>(spec: &Spec, spelling: &[u8], arg: &'a [u8]) -> Option<Option<&'a [u8]>> {
    if arg == spelling {
        return Some(None);
    }
    if !spec.takes_value {
        return None;
    }
    let rest = arg.strip_prefix(spelling)?;
    if spelling.starts_with(b"--") {
        rest.strip_prefix(b"=").map(Some)
    } else if spelling.len() == 2 {
        Some(Some(rest))
    } else {
        None
    }
}

/// What one `--crate-type` value means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CrateType {
    /// Cacheable: the canonical name recorded in `Invocation::crate_types`.
    Stored(&'static str),
    /// A linked artefact: cached when the link can be keyed.
    Linked(LinkKind),
}

const CRATE_TYPES: &[(&str, CrateType)] = &[
    ("lib", CrateType::Stored("lib")),
    ("rlib", CrateType::Stored("rlib")),
    ("staticlib", CrateType::Stored("staticlib")),
    ("bin", CrateType::Linked(LinkKind::Bin)),
    ("proc-macro", CrateType::Linked(LinkKind::ProcMacro)),
    ("dylib", CrateType::Linked(LinkKind::Dylib)),
    ("cdylib", CrateType::Linked(LinkKind::Cdylib)),
];

/// One `--crate-type` value; `None` for a type rustc may know and we do not.
pub(super) fn crate_type(value: &[u8]) -> Option<CrateType> {
    CRATE_TYPES
        .iter()
        .find(|(name, _)| name.as_bytes() == value)
        .map(|(_, kind)| *kind)
}

/// The `--emit` kinds whose files we know how to name and store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EmitKind {
    Link,
    Metadata,
    DepInfo,
}

const EMIT_KINDS: &[(&str, EmitKind)] = &[
    ("link", EmitKind::Link),
    ("metadata", EmitKind::Metadata),
    ("dep-info", EmitKind::DepInfo),
];

/// One `--emit` kind; `None` for one we do not store (`asm`, `llvm-ir`, `mir`, …).
pub(super) fn emit_kind(value: &[u8]) -> Option<EmitKind> {
    EMIT_KINDS
        .iter()
        .find(|(name, _)| name.as_bytes() == value)
        .map(|(_, kind)| *kind)
}

/// What a `-C` option does beyond being keyed as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CodegenRule {
    /// The call passes through at once with this reason.
    Refuse(PassthroughReason),
    /// `extra-filename`: the suffix of every output name.
    ExtraFilename,
    /// Writes files into the out-dir that we do not track, unless its value is the
    /// given one: passes through with `unsupported_compiler_option`.
    ExtraOutputsUnless(Option<&'static str>),
    /// `linker=`: the program that links (keyed by content when the crate links).
    Linker,
    /// `link-arg`, `link-args`: keyed, and looked at for what the link would read
    /// unseen (a response file, another linker, a plugin).
    LinkArg,
    /// Changes the link in ways the key cannot follow: a linked crate passes
    /// through with `unkeyable_link`.
    UnkeyableLink,
}

const CODEGEN: &[(&str, CodegenRule)] = &[
    (
        "incremental",
        CodegenRule::Refuse(PassthroughReason::Incremental),
    ),
    ("extra-filename", CodegenRule::ExtraFilename),
    ("save-temps", CodegenRule::ExtraOutputsUnless(None)),
    (
        "split-debuginfo",
        CodegenRule::ExtraOutputsUnless(Some("off")),
    ),
    ("linker", CodegenRule::Linker),
    ("link-arg", CodegenRule::LinkArg),
    ("link-args", CodegenRule::LinkArg),
    ("linker-plugin-lto", CodegenRule::UnkeyableLink),
    ("linker-flavor", CodegenRule::UnkeyableLink),
];

/// The rule for `-C name`, with the table's spelling of the name; `None` when the
/// option is only keyed.
pub(super) fn codegen_rule(name: &[u8]) -> Option<(&'static str, CodegenRule)> {
    CODEGEN.iter().find(|(n, _)| n.as_bytes() == name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(arg: &str) -> Option<(&'static str, Option<&str>)> {
        lookup(arg.as_bytes())
            .map(|(spec, v)| (spec.name, v.map(|v| std::str::from_utf8(v).unwrap())))
    }

    #[test]
    fn every_spelling_form_finds_its_canonical_name() {
        assert_eq!(found("--crate-name"), Some(("--crate-name", None)));
        assert_eq!(found("--crate-name=x"), Some(("--crate-name", Some("x"))));
        assert_eq!(found("--crate-name="), Some(("--crate-name", Some(""))));
        assert_eq!(found("-Copt-level=3"), Some(("-C", Some("opt-level=3"))));
        assert_eq!(
            found("--codegen=opt-level=3"),
            Some(("-C", Some("opt-level=3")))
        );
        assert_eq!(found("--codegen"), Some(("-C", None)));
        assert_eq!(found("-Lnative=/x"), Some(("-L", Some("native=/x"))));
        assert_eq!(found("--allow=warnings"), Some(("-A", Some("warnings"))));
        assert_eq!(found("-vV"), Some(("-V", None)));
        assert_eq!(found("--verbose"), Some(("-v", None)));
    }

    #[test]
    fn near_spellings_are_not_found() {
        // A long option needs `=` before an attached value.
        assert_eq!(found("--crate-namex"), None);
        // A flag takes no attached value.
        assert_eq!(found("-gx"), None);
        assert_eq!(found("--test=x"), None);
        assert_eq!(found("--frobnicate"), None);
        // `-vX` is not `-v` with a value; only the listed `-vV` is known.
        assert_eq!(found("-vx"), None);
    }

    #[test]
    fn value_tables() {
        assert_eq!(crate_type(b"rlib"), Some(CrateType::Stored("rlib")));
        assert_eq!(
            crate_type(b"proc-macro"),
            Some(CrateType::Linked(LinkKind::ProcMacro))
        );
        assert_eq!(crate_type(b"weird"), None);
        assert_eq!(emit_kind(b"dep-info"), Some(EmitKind::DepInfo));
        assert_eq!(emit_kind(b"asm"), None);
        assert_eq!(
            codegen_rule(b"split-debuginfo"),
            Some((
                "split-debuginfo",
                CodegenRule::ExtraOutputsUnless(Some("off"))
            ))
        );
        assert_eq!(codegen_rule(b"opt-level"), None);
    }
}
