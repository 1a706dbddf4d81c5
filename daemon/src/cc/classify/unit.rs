//! A unit's output names: the object or assembly, the depfile and its targets, the
//! `.dwo`, the `.gcno`, the `.su` and the assembler listing, derived the way gcc and clang derive them for one source;
//! it reads nothing (whether a directory exists is the pipeline's to check).

use std::ffi::{OsStr, OsString};

use super::super::names::{derived, is_dev_null, with_suffix};
use super::super::{
    DepMode, DepSpec, DepTarget, Family, Language, Mode, Passthrough, Reason, Unit,
};
use super::State;

fn unsupported<T>(detail: &str) -> Result<T, Passthrough> {
    Err(Passthrough::new(Reason::UnsupportedCompilerOption, detail))
}

impl State {
    /// One source's unit; its `arg_index` is the caller's to set.
    pub(super) fn unit(
        &self,
        mode: Mode,
        dep: &DepSpec,
        source: &OsStr,
        language: Language,
    ) -> Result<Unit, Passthrough> {
        let output = self.output_name(mode, source);
        let to_dev_null = self.output.as_deref().is_some_and(is_dev_null);
        let (depfile, dep_targets) =
            if dep.mode != DepMode::None && language.is_preprocessed_by_compiler() {
                let depfile = self.depfile(mode, dep, source, to_dev_null)?;
                (Some(depfile), self.dep_targets(dep, source))
            } else {
                (None, Vec::new())
            };
        let dwo = self.dwo(mode, output.as_deref(), to_dev_null)?;
        let gcno = self.gcno(mode, output.as_deref(), to_dev_null)?;
        let stack_usage = self.stack_usage_file(mode, source, language, to_dev_null)?;
        // `as` runs only under `-c`; under `-S` the listing is never written.
        let listing = match &self.listing {
            Some(Some(file)) if mode == Mode::Compile => Some(file.clone()),
            _ => None,
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
            stack_usage,
            listing,
        })
    }

    /// The `.su` `-fstack-usage` writes: named after `-o` with its last
    /// extension replaced, else after the source in cwd; cc1 writes it, so
    /// never for assembler input. gcc names it oddly for `-fsyntax-only` and
    /// `-o /dev/null` (after the source, in cwd), clang writes none then.
    fn stack_usage_file(
        &self,
        mode: Mode,
        source: &OsStr,
        language: Language,
        to_dev_null: bool,
    ) -> Result<Option<OsString>, Passthrough> {
        if !self.stack_usage || matches!(language, Language::Asm | Language::AsmWithCpp) {
            return Ok(None);
        }
        let odd = mode == Mode::SyntaxOnly || to_dev_null;
        Ok(match self.family {
            Family::Emcc => return unsupported("-fstack-usage under emcc"),
            Family::Gcc if odd => return unsupported("gcc -fstack-usage without an object"),
            Family::Clang if odd => None,
            _ => Some(match &self.output {
                Some(output) => with_suffix(output, ".su"),
                None => derived(source, ".su"),
            }),
        })
    }

    /// The object (`-c`) or assembly (`-S`): `-o`, else derived from the source
    /// (`.bc`/`.ll` for clang's `-emit-llvm`); none under `-fsyntax-only`.
    fn output_name(&self, mode: Mode, source: &OsStr) -> Option<OsString> {
        let bitcode = self.emit_llvm && self.family != Family::Gcc;
        let suffix = match mode {
            Mode::Compile if bitcode => ".bc",
            Mode::Compile => ".o",
            Mode::Assemble if bitcode => ".ll",
            Mode::Assemble => ".s",
            Mode::SyntaxOnly => return None,
        };
        Some(
            self.output
                .clone()
                .unwrap_or_else(|| derived(source, suffix)),
        )
    }

    /// The depfile: `-MF` (or `-Wp,-MD,file`), else named after `-o`, else after the
    /// source.
    fn depfile(
        &self,
        mode: Mode,
        dep: &DepSpec,
        source: &OsStr,
        to_dev_null: bool,
    ) -> Result<OsString, Passthrough> {
        match (&dep.file, &self.output) {
            (Some(file), _) => Ok(file.clone()),
            (None, Some(_)) if to_dev_null => unsupported("depfile named after /dev/null"),
            (None, Some(output)) => Ok(with_suffix(output, ".d")),
            (None, None)
                if self.family == Family::Gcc
                    && mode == Mode::SyntaxOnly
                    && !self.compile
                    && !self.assemble =>
            {
                // gcc 11+ names it after the link-mode dump base ("a-t.d").
                unsupported("gcc -fsyntax-only depfile without -o, -c or -S")
            }
            (None, None) => Ok(derived(source, ".d")),
        }
    }

    /// The depfile's targets: the explicit ones (in gcc's order for gcc), else the
    /// object.
    fn dep_targets(&self, dep: &DepSpec, source: &OsStr) -> Vec<DepTarget> {
        if self.family == Family::Gcc && !dep.targets.is_empty() {
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
        }
    }

    /// The `.dwo` split DWARF writes beside the object, if any.
    fn dwo(
        &self,
        mode: Mode,
        output: Option<&OsStr>,
        to_dev_null: bool,
    ) -> Result<Option<OsString>, Passthrough> {
        let debug = self.debug_level > 0;
        Ok(match (self.split_dwarf, self.family, mode) {
            (false, _, _) | (_, _, Mode::SyntaxOnly) => None,
            // gcc writes the .dwo from its assembler step, even without -g.
            (true, Family::Gcc, Mode::Compile) if to_dev_null => None,
            (true, Family::Gcc, Mode::Compile) => output.map(|o| with_suffix(o, ".dwo")),
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
            (true, Family::Clang, Mode::Compile) => output.map(|o| with_suffix(o, ".dwo")),
        })
    }

    /// The `.gcno` coverage notes write beside the object, if any.
    fn gcno(
        &self,
        mode: Mode,
        output: Option<&OsStr>,
        to_dev_null: bool,
    ) -> Result<Option<OsString>, Passthrough> {
        Ok(match (self.notes, self.family, mode) {
            (false, _, _) => None,
            (true, Family::Emcc, _) => return unsupported("coverage under emcc"),
            // gcc writes a .gcno even then, named unlike any other output.
            (true, Family::Gcc, Mode::SyntaxOnly) => {
                return unsupported("gcc -fsyntax-only with coverage")
            }
            (true, _, Mode::SyntaxOnly) => None,
            (true, _, _) if to_dev_null => return unsupported("coverage into /dev/null"),
            (true, _, _) => output.map(|o| with_suffix(o, ".gcno")),
        })
    }
}

/// The order in which gcc writes explicit targets. Its driver hands cc1 every `-MQ`
/// before every `-MT`, and cc1 (`deps_add_target`) keeps raw targets ahead of quoted
/// ones by swapping each new raw target with the lowest quoted one: `-MQ q1 -MQ q2
/// -MT t1` is written `t1 q2 q1`. clang keeps the command-line order.
pub(super) fn gcc_target_order(targets: &[DepTarget]) -> Vec<DepTarget> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn gcc_writes_raw_targets_ahead_of_quoted_ones() {
        let q = |s: &str| DepTarget::Quoted(os(s));
        let r = |s: &str| DepTarget::Raw(os(s));
        assert_eq!(
            gcc_target_order(&[q("q1"), q("q2"), r("t1")]),
            [r("t1"), q("q2"), q("q1")]
        );
        assert_eq!(
            gcc_target_order(&[r("t1"), q("q1"), r("t2")]),
            [r("t1"), r("t2"), q("q1")]
        );
        assert_eq!(gcc_target_order(&[q("a"), q("b")]), [q("a"), q("b")]);
    }

    #[test]
    fn object_names() {
        let mut s = State::new(Family::Clang, false);
        let src = OsStr::new("src/a.c");
        assert_eq!(s.output_name(Mode::Compile, src), Some(os("a.o")));
        assert_eq!(s.output_name(Mode::Assemble, src), Some(os("a.s")));
        assert_eq!(s.output_name(Mode::SyntaxOnly, src), None);
        s.emit_llvm = true;
        assert_eq!(s.output_name(Mode::Compile, src), Some(os("a.bc")));
        assert_eq!(s.output_name(Mode::Assemble, src), Some(os("a.ll")));
        s.output = Some(os("o/x.obj"));
        assert_eq!(s.output_name(Mode::Compile, src), Some(os("o/x.obj")));
        let mut g = State::new(Family::Gcc, false);
        g.emit_llvm = true;
        assert_eq!(g.output_name(Mode::Compile, src), Some(os("a.o")));
    }

    #[test]
    fn split_dwarf_and_coverage_names() {
        let out = Some(OsStr::new("o/x.o"));
        let mut gcc = State::new(Family::Gcc, false);
        gcc.split_dwarf = true;
        // gcc writes the .dwo from its assembler, even without -g.
        assert_eq!(
            gcc.dwo(Mode::Compile, out, false).unwrap(),
            Some(os("o/x.dwo"))
        );
        assert_eq!(gcc.dwo(Mode::Compile, out, true).unwrap(), None);
        assert_eq!(gcc.dwo(Mode::Assemble, out, false).unwrap(), None);
        let mut clang = State::new(Family::Clang, false);
        clang.split_dwarf = true;
        assert_eq!(clang.dwo(Mode::Compile, out, false).unwrap(), None);
        clang.debug_level = 1;
        let refused = clang.dwo(Mode::Compile, out, false).unwrap_err();
        assert_eq!(refused.reason, Reason::UnsupportedCompilerOption);
        clang.debug_level = 2;
        assert_eq!(
            clang.dwo(Mode::Compile, out, false).unwrap(),
            Some(os("o/x.dwo"))
        );
        assert!(clang.dwo(Mode::Assemble, out, false).is_err());

        gcc.notes = true;
        assert_eq!(
            gcc.gcno(Mode::Compile, out, false).unwrap(),
            Some(os("o/x.gcno"))
        );
        assert!(gcc.gcno(Mode::SyntaxOnly, None, false).is_err());
        assert!(gcc.gcno(Mode::Compile, out, true).is_err());
        clang.notes = true;
        assert_eq!(clang.gcno(Mode::SyntaxOnly, None, false).unwrap(), None);
        let mut emcc = State::new(Family::Emcc, false);
        emcc.notes = true;
        assert!(emcc.gcno(Mode::Compile, out, false).is_err());
    }
}
