//! What each rustc option role does to a classification in progress (one handler per
//! role), and the checks that turn the scanned argv into an [`Invocation`]; pure, and
//! blind to spellings (`table.rs` maps those to roles).
//!
//! Reasons come in two strengths, kept apart because the order they are reported in is
//! part of the contract: a hard one (`Err` from a handler) ends the scan at once; a
//! deferred one (an unsupported option, a linked crate type) is remembered and only
//! reported once the whole argv has been seen, so that e.g. `--print` after `-o`
//! still says `not_a_compile`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::table::{self, CodegenRule, CrateType, EmitKind, Role};
use super::{pt, Colour, Emits, Invocation, KeyArg, LinkKind, Passthrough};
use crate::reasons::PassthroughReason;

/// The classification so far, in argv order.
#[derive(Default)]
pub(super) struct Scan {
    crate_name: Option<OsString>,
    crate_types: Vec<&'static str>,
    emits: Option<Emits>,
    out_dir: Option<OsString>,
    inputs: Vec<OsString>,
    extra_filename: OsString,
    key_args: Vec<KeyArg>,
    native_dirs: Vec<OsString>,
    color_always: bool,
    /// A `--color` was seen: rustc refuses a second one.
    color_seen: bool,
    json_ansi: bool,
    json: bool,
    user_prefix_map: bool,
    /// The first unsupported option or bad argument (deferred).
    unsupported: Option<Passthrough>,
    /// Linked crate types seen (`--test` included), each once.
    linked: Vec<LinkKind>,
    /// `-C linker=`.
    linker: Option<OsString>,
    /// The first option that makes a link unkeyable; reported only when the
    /// crate links (deferred).
    unkeyable_link: Option<Passthrough>,
    /// `--target`, as given.
    target: Option<OsString>,
}

/// The values rustc takes for `--color`.
const COLOR_WHENS: &[&str] = &["auto", "always", "never"];

const NO_EMITS: Emits = Emits {
    link: false,
    metadata: false,
    dep_info: false,
};

impl Scan {
    /// Remembers an unsupported option; the first one is the one reported.
    pub(super) fn defer_unsupported(&mut self, detail: impl Into<String>) {
        self.unsupported
            .get_or_insert(pt(PassthroughReason::UnsupportedCompilerOption, detail));
    }

    /// Remembers why a link could not be keyed; the first one is reported.
    fn defer_unkeyable_link(&mut self, detail: impl Into<String>) {
        self.unkeyable_link
            .get_or_insert(pt(PassthroughReason::UnkeyableLink, detail));
    }

    fn linked(&mut self, kind: LinkKind) {
        if !self.linked.contains(&kind) {
            self.linked.push(kind);
        }
    }

    fn keep(&mut self, name: &'static str, value: Option<OsString>) {
        self.key_args.push(KeyArg::Opt(name, value));
    }

    /// A positional argument: the crate root, keyed as spelled.
    pub(super) fn input(&mut self, arg: &OsString) {
        self.inputs.push(arg.clone());
        self.key_args.push(KeyArg::Input(arg.clone()));
    }

    /// Applies one known option; `value` is `Some` exactly when the option takes one.
    pub(super) fn option(
        &mut self,
        role: Role,
        name: &'static str,
        value: Option<OsString>,
    ) -> Result<(), Passthrough> {
        let v = value.clone().unwrap_or_default();
        match role {
            Role::NotCompile => return Err(pt(PassthroughReason::NotACompile, name)),
            Role::Unsupported => self.defer_unsupported(name),
            Role::Test => {
                self.linked(LinkKind::Test);
                self.keep(name, value);
            }
            Role::Drop => {}
            Role::Keep => self.keep(name, value),
            Role::PrefixMap => {
                self.user_prefix_map = true;
                self.keep(name, value);
            }
            Role::Unstable => {
                self.user_prefix_map |= v.as_bytes().starts_with(b"remap-");
                // What an unstable option does to the linker is not known here.
                self.defer_unkeyable_link(format!("-Z {}", v.to_string_lossy()));
                self.keep(name, value);
            }
            Role::Color => self.color(&v),
            Role::ErrorFormat => {
                self.json = v == "json";
                self.keep(name, value);
            }
            Role::Json => self.json_option(name, &v),
            Role::CrateName => {
                self.crate_name = Some(v);
                self.keep(name, value);
            }
            Role::OutDir => self.out_dir = Some(v),
            Role::LibPath => self.lib_path(name, v),
            Role::Extern => self.key_args.push(extern_arg(name, v)),
            Role::NativeLib => self.key_args.push(native_lib_arg(name, v)),
            Role::Target => {
                self.target = Some(v.clone());
                self.key_args.push(target_arg(name, v));
            }
            Role::CrateType => self.crate_types(name, v)?,
            Role::Emit => self.emit(name, v)?,
            Role::Codegen => self.codegen(name, v)?,
        }
        Ok(())
    }

    /// `--color`: out of the key, but a miss replaces it (see [`super::with_colour`]),
    /// so a value or a repetition rustc refuses must not reach a miss, where it would
    /// turn a failing build into a succeeding one.
    fn color(&mut self, value: &OsStr) {
        if std::mem::replace(&mut self.color_seen, true) {
            self.defer_bad("--color given twice");
        } else if !COLOR_WHENS.iter().any(|w| value == *w) {
            self.defer_bad(format!("--color={}", value.to_string_lossy()));
        }
        self.color_always = value == "always";
    }

    /// Remembers an argument rustc itself refuses; reported like an unsupported one.
    fn defer_bad(&mut self, detail: impl Into<String>) {
        self.unsupported
            .get_or_insert(pt(PassthroughReason::BadCompilerArguments, detail));
    }

    /// `--json`: `diagnostic-rendered-ansi` is colour (out of the key), the rest is kept.
    fn json_option(&mut self, name: &'static str, value: &OsStr) {
        let (ansi, rest) = split_json(value);
        self.json_ansi |= ansi;
        if let Some(rest) = rest {
            self.keep(name, Some(rest));
        }
    }

    /// `-L [KIND=]PATH`. `-L dependency=` only helps find `--extern`-less transitive
    /// crates; their identity is in the extern digests, so the directory does not
    /// matter and is not keyed.
    fn lib_path(&mut self, name: &'static str, value: OsString) {
        if value.as_bytes().starts_with(b"dependency=") {
            return;
        }
        if let Some(dir) = native_dir(&value) {
            self.native_dirs.push(dir);
        }
        self.keep(name, Some(value));
    }

    /// `--crate-type a,b`: each at most once; a linked type is deferred, an unknown one
    /// ends the scan.
    fn crate_types(&mut self, name: &'static str, value: OsString) -> Result<(), Passthrough> {
        for t in value.as_bytes().split(|b| *b == b',') {
            match table::crate_type(t) {
                Some(CrateType::Stored(t)) if !self.crate_types.contains(&t) => {
                    self.crate_types.push(t)
                }
                Some(CrateType::Stored(_)) => {}
                Some(CrateType::Linked(kind)) => self.linked(kind),
                None => {
                    return Err(pt(
                        PassthroughReason::UnsupportedCrateType,
                        String::from_utf8_lossy(t),
                    ))
                }
            }
        }
        self.keep(name, Some(value));
        Ok(())
    }

    /// `--emit a,b`: a kind with a path is deferred as unsupported (we name the
    /// outputs ourselves), an unknown kind ends the scan.
    fn emit(&mut self, name: &'static str, value: OsString) -> Result<(), Passthrough> {
        let mut emits = self.emits.unwrap_or(NO_EMITS);
        // Recorded before the kinds are checked, as an `--emit` was seen either way.
        self.emits = Some(emits);
        for kind in value.as_bytes().split(|b| *b == b',') {
            if kind.contains(&b'=') {
                self.defer_unsupported("--emit with a path");
                continue;
            }
            match table::emit_kind(kind) {
                Some(EmitKind::Link) => emits.link = true,
                Some(EmitKind::Metadata) => emits.metadata = true,
                Some(EmitKind::DepInfo) => emits.dep_info = true,
                None => {
                    return Err(pt(
                        PassthroughReason::UnsupportedEmit,
                        String::from_utf8_lossy(kind),
                    ))
                }
            }
            self.emits = Some(emits);
        }
        self.keep(name, Some(value));
        Ok(())
    }

    /// `-C opt[=value]`: always keyed; some options also name outputs or refuse.
    fn codegen(&mut self, name: &'static str, value: OsString) -> Result<(), Passthrough> {
        let (opt, val) = split_eq(value.as_bytes());
        match table::codegen_rule(opt) {
            Some((opt, CodegenRule::Refuse(reason))) => {
                return Err(pt(reason, format!("-C {opt}")))
            }
            Some((_, CodegenRule::ExtraFilename)) => {
                self.extra_filename = OsStr::from_bytes(val).to_os_string()
            }
            Some((opt, CodegenRule::ExtraOutputsUnless(harmless)))
                if harmless.is_none_or(|h| h.as_bytes() != val) =>
            {
                self.defer_unsupported(format!("-C {opt}"))
            }
            Some((_, CodegenRule::Linker)) => self.linker = Some(OsStr::from_bytes(val).into()),
            Some((_, CodegenRule::LinkArg)) => {
                if let Some(why) = unkeyable_link_arg(opt == b"link-args", val) {
                    self.defer_unkeyable_link(why);
                }
            }
            Some((opt, CodegenRule::UnkeyableLink)) => {
                self.defer_unkeyable_link(format!("-C {opt}"))
            }
            Some((_, CodegenRule::ExtraOutputsUnless(_))) | None => {}
        }
        self.keep(name, Some(value));
        Ok(())
    }

    /// The argv is done: reports the first reason in contract order, or the
    /// invocation.
    pub(super) fn finish(mut self) -> Result<Invocation, Passthrough> {
        if let Some(p) = self.unsupported.take() {
            return Err(p);
        }
        self.check_single_input()?;
        let link = self.check_link()?;
        let emits = self.check_outputs()?;
        let crate_name = self.crate_name.take().ok_or_else(|| {
            pt(
                PassthroughReason::UnsupportedCompilerOption,
                "no --crate-name",
            )
        })?;
        let out_dir = self
            .out_dir
            .take()
            .ok_or_else(|| pt(PassthroughReason::UnsupportedCompilerOption, "no --out-dir"))?;
        let colour = Colour {
            json: self.json,
            requested: if self.json {
                self.json_ansi
            } else {
                self.color_always
            },
        };
        Ok(Invocation {
            crate_name,
            crate_types: self.crate_types,
            link,
            linker: self.linker,
            target: self.target,
            emits,
            out_dir,
            input: self.inputs.remove(0),
            extra_filename: self.extra_filename,
            key_args: self.key_args,
            native_dirs: self.native_dirs,
            colour,
            user_prefix_map: self.user_prefix_map,
        })
    }

    fn check_single_input(&self) -> Result<(), Passthrough> {
        match self.inputs.len() {
            0 => Err(pt(PassthroughReason::NoInputFile, "")),
            1 => Ok(()),
            _ => Err(pt(PassthroughReason::MultipleInputs, "")),
        }
    }

    /// The link a linked crate type asks for: one linked type alone (a mix with
    /// others or each other passes through), for a target whose file names we
    /// know (ELF), with cargo's dep-info (the daemon's one private file per
    /// miss is the linker's list of inputs), and nothing that makes the link
    /// unkeyable. `None` when rustc does not link (`--emit=metadata`: the
    /// crate is checked, as a library is).
    fn check_link(&mut self) -> Result<Option<LinkKind>, Passthrough> {
        let kind = match self.linked[..] {
            [] => return Ok(None),
            [kind] if self.crate_types.is_empty() => kind,
            _ => {
                return Err(pt(
                    PassthroughReason::CrateTypeLinks,
                    "several crate types with one that links",
                ))
            }
        };
        let emits = self.emits.unwrap_or(NO_EMITS);
        if !emits.link {
            return Ok(None);
        }
        if !emits.dep_info {
            return Err(pt(
                PassthroughReason::CrateTypeLinks,
                "a link without dep-info",
            ));
        }
        if let Some(t) = &self.target {
            if !elf_target(t.as_bytes()) {
                return Err(pt(
                    PassthroughReason::CrateTypeLinks,
                    format!("a link for --target {}", t.to_string_lossy()),
                ));
            }
        }
        if let Some(p) = self.unkeyable_link.take() {
            return Err(p);
        }
        Ok(Some(kind))
    }

    /// Something we store is asked for: an `--emit` with a link or metadata kind, and a
    /// crate type.
    fn check_outputs(&self) -> Result<Emits, Passthrough> {
        let emits = self
            .emits
            .ok_or_else(|| pt(PassthroughReason::UnsupportedEmit, "no --emit"))?;
        if self.crate_types.is_empty() && self.linked.is_empty() {
            return Err(pt(
                PassthroughReason::UnsupportedCrateType,
                "no --crate-type",
            ));
        }
        if !emits.link && !emits.metadata {
            return Err(pt(PassthroughReason::UnsupportedEmit, "dep-info only"));
        }
        Ok(emits)
    }
}

/// A target whose outputs are named as on Linux (no `.exe`, `.so`): one
/// for a Linux or Android system. A target JSON file's naming is its own.
fn elf_target(target: &[u8]) -> bool {
    !target.ends_with(b".json")
        && target
            .split(|b| *b == b'-')
            .any(|part| part == b"linux" || part.starts_with(b"android") || part == b"freebsd")
}

/// Why a `-C link-arg` (`link-args`: several, split at spaces) makes the
/// link unkeyable: the driver or linker would read a file the key does not
/// see (a response file, a spec file, a plugin), run a linker found
/// elsewhere (`-fuse-ld`, `-B`), or write a dependency list of its own
/// beside ours.
fn unkeyable_link_arg(several: bool, value: &[u8]) -> Option<String> {
    let args: Vec<&[u8]> = if several {
        value
            .split(|b| b.is_ascii_whitespace())
            .filter(|a| !a.is_empty())
            .collect()
    } else {
        vec![value]
    };
    let bad = |a: &[u8]| {
        let has = |n: &[u8]| a.windows(n.len()).any(|w| w == n);
        a.starts_with(b"@")
            || a.split(|b| *b == b',').any(|p| p.starts_with(b"@"))
            || a.starts_with(b"-B")
            || has(b"-fuse-ld")
            || has(b"plugin")
            || has(b"specs")
            || has(b"dependency-file")
            || has(b"--sysroot")
    };
    args.into_iter()
        .find(|a| bad(a))
        .map(|a| format!("-C link-arg={}", String::from_utf8_lossy(a)))
}

/// `--json` parts: whether `diagnostic-rendered-ansi` was among them, and the others
/// joined back (`None` when there are none).
fn split_json(value: &OsStr) -> (bool, Option<OsString>) {
    let mut ansi = false;
    let mut rest: Vec<&[u8]> = Vec::new();
    for part in value.as_bytes().split(|b| *b == b',') {
        if part == b"diagnostic-rendered-ansi" {
            ansi = true;
        } else {
            rest.push(part);
        }
    }
    let rest = (!rest.is_empty()).then(|| OsString::from_vec(rest.join(&b","[..])));
    (ansi, rest)
}

/// The directory a `-L` value adds to the native library search (not `dependency=`,
/// `crate=` or `framework=`), without its `native=` or `all=` kind.
fn native_dir(value: &OsStr) -> Option<OsString> {
    let b = value.as_bytes();
    if [&b"dependency="[..], b"crate=", b"framework="]
        .iter()
        .any(|p| b.starts_with(p))
    {
        return None;
    }
    let dir = [&b"native="[..], b"all="]
        .iter()
        .find_map(|p| b.strip_prefix(*p))
        .unwrap_or(b);
    Some(OsStr::from_bytes(dir).to_os_string())
}

/// `--extern NAME=PATH` keys the name and the path's content; a bare `NAME` is kept.
fn extern_arg(name: &'static str, value: OsString) -> KeyArg {
    match split_at_eq(value.as_bytes()) {
        Some((crate_name, path)) => KeyArg::Extern {
            name: OsStr::from_bytes(crate_name).to_os_string(),
            path: OsStr::from_bytes(path).to_os_string(),
        },
        None => KeyArg::Opt(name, Some(value)),
    }
}

/// `-l [KIND[:MODIFIERS]=]NAME[:RENAME]`: only static libraries are bundled into what
/// we store, so only their content is keyed.
fn native_lib_arg(name: &'static str, value: OsString) -> KeyArg {
    let b = value.as_bytes();
    match split_at_eq(b) {
        Some((kind, rest)) if kind.split(|c| *c == b':').next() == Some(b"static") => {
            let end = rest.iter().position(|c| *c == b':').unwrap_or(rest.len());
            KeyArg::StaticLib {
                name: OsStr::from_bytes(&rest[..end]).to_os_string(),
                spec: value,
            }
        }
        _ => KeyArg::Opt(name, Some(value)),
    }
}

/// `--target FILE.json` keys the file's content; a target name is kept.
fn target_arg(name: &'static str, value: OsString) -> KeyArg {
    if value.as_bytes().ends_with(b".json") {
        KeyArg::TargetFile(value)
    } else {
        KeyArg::Opt(name, Some(value))
    }
}

/// Splits at the first `=`.
fn split_at_eq(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = b.iter().position(|c| *c == b'=')?;
    Some((&b[..eq], &b[eq + 1..]))
}

/// Splits at the first `=`; without one, the value is empty.
fn split_eq(b: &[u8]) -> (&[u8], &[u8]) {
    split_at_eq(b).unwrap_or((b, b""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn json_parts_lose_only_the_ansi_rendering() {
        assert_eq!(
            split_json(&os("diagnostic-rendered-ansi,artifacts")),
            (true, Some(os("artifacts")))
        );
        assert_eq!(split_json(&os("diagnostic-rendered-ansi")), (true, None));
        assert_eq!(split_json(&os("a,b")), (false, Some(os("a,b"))));
        assert_eq!(split_json(&os("")), (false, Some(os(""))));
    }

    #[test]
    fn native_dirs_by_kind() {
        assert_eq!(native_dir(&os("native=/n")), Some(os("/n")));
        assert_eq!(native_dir(&os("all=/a")), Some(os("/a")));
        assert_eq!(native_dir(&os("/plain")), Some(os("/plain")));
        assert_eq!(native_dir(&os("crate=/c")), None);
        assert_eq!(native_dir(&os("framework=/f")), None);
        assert_eq!(native_dir(&os("dependency=/d")), None);
    }

    #[test]
    fn extern_target_and_native_lib_key_args() {
        assert_eq!(
            extern_arg("--extern", os("a=/p=q")),
            KeyArg::Extern {
                name: os("a"),
                path: os("/p=q")
            }
        );
        assert_eq!(
            extern_arg("--extern", os("proc_macro")),
            KeyArg::Opt("--extern", Some(os("proc_macro")))
        );
        assert_eq!(
            target_arg("--target", os("/t/x.json")),
            KeyArg::TargetFile(os("/t/x.json"))
        );
        assert_eq!(
            target_arg("--target", os("x86_64-unknown-linux-gnu")),
            KeyArg::Opt("--target", Some(os("x86_64-unknown-linux-gnu")))
        );
        assert_eq!(
            native_lib_arg("-l", os("static:+whole-archive=z:y")),
            KeyArg::StaticLib {
                spec: os("static:+whole-archive=z:y"),
                name: os("z")
            }
        );
        assert_eq!(
            native_lib_arg("-l", os("staticx=z")),
            KeyArg::Opt("-l", Some(os("staticx=z")))
        );
    }

    #[test]
    fn codegen_rules() {
        let scan = |v: &str| {
            let mut s = Scan::default();
            let r = s.codegen("-C", os(v));
            (r.map_err(|p| p.reason), s)
        };
        let (r, s) = scan("split-debuginfo=off");
        assert!(r.is_ok() && s.unsupported.is_none());
        let (r, s) = scan("split-debuginfo=packed");
        assert!(r.is_ok());
        assert_eq!(s.unsupported.unwrap().detail, "-C split-debuginfo");
        let (_, s) = scan("save-temps");
        assert_eq!(s.unsupported.unwrap().detail, "-C save-temps");
        let (r, s) = scan("incremental=/i");
        assert_eq!(r, Err(PassthroughReason::Incremental));
        assert!(s.key_args.is_empty());
        let (r, s) = scan("extra-filename=-ab");
        assert!(r.is_ok());
        assert_eq!(s.extra_filename, "-ab");
        assert_eq!(
            s.key_args,
            vec![KeyArg::Opt("-C", Some(os("extra-filename=-ab")))]
        );
    }

    #[test]
    fn an_emit_is_recorded_even_when_a_kind_is_refused() {
        let mut s = Scan::default();
        assert!(s.emit("--emit", os("link,asm")).is_err());
        assert_eq!(
            s.emits,
            Some(Emits {
                link: true,
                metadata: false,
                dep_info: false
            })
        );
        let mut s = Scan::default();
        assert!(s.emit("--emit", os("metadata=/x")).is_ok());
        assert_eq!(s.emits, Some(NO_EMITS));
        assert!(s.unsupported.is_some());
    }
}
