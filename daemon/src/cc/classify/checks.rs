//! The call-wide checks the semantic stage runs once every flag is seen, each a named
//! step returning its typed reason, in the reporting order the module doc of
//! `classify.rs` gives; no per-flag handling (`options.rs`) and no per-unit names
//! (`unit.rs`).

use super::super::names;
use super::super::{DepMode, DepSpec, Language, Mode, Passthrough, Reason};
use super::language::InputKind;
use super::State;

impl State {
    /// There is an input, and none is stdin.
    pub(super) fn check_inputs(&self) -> Result<(), Passthrough> {
        if self.inputs.is_empty() {
            return Err(Passthrough::new(Reason::NoInputFile, "no input file"));
        }
        if self.inputs.iter().any(|input| input.path == "-") {
            return Err(Passthrough::new(Reason::StdinInput, "input from stdin"));
        }
        Ok(())
    }

    /// The first flag refused in argument order, then the flags refused only in
    /// combination: several distinct `-arch`, several profile options.
    pub(super) fn check_flags(&self) -> Result<(), Passthrough> {
        if let Some(error) = &self.first_error {
            return Err(error.clone());
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
        Ok(())
    }

    /// `-fsyntax-only` over `-S` over `-c`; none of them is a link.
    pub(super) fn mode(&self) -> Result<Mode, Passthrough> {
        if self.syntax_only {
            Ok(Mode::SyntaxOnly)
        } else if self.assemble {
            Ok(Mode::Assemble)
        } else if self.compile {
            Ok(Mode::Compile)
        } else {
            Err(Passthrough::new(
                Reason::CalledForLink,
                "no -c, -S or -fsyntax-only",
            ))
        }
    }

    /// Each input's source language. Any link input is reported first, then the first
    /// input that is not a source we compile.
    pub(super) fn languages(&self) -> Result<Vec<Language>, Passthrough> {
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
            let reason = match kind {
                // gcc and clang disagree about the stem of `.c`.
                InputKind::Source(_) if names::is_bare_dotfile(&input.path) => {
                    Reason::UnsupportedSourceLanguage
                }
                InputKind::Source(language) => {
                    languages.push(language);
                    continue;
                }
                InputKind::Header => Reason::CouldNotUsePrecompiledHeader,
                InputKind::Link => unreachable!("links were ruled out above"),
                InputKind::Unsupported => Reason::UnsupportedSourceLanguage,
            };
            return Err(Passthrough::new(reason, detail()));
        }
        Ok(languages)
    }

    /// One source, at most one `-o`, and an `-o` we can write and deliver.
    pub(super) fn check_outputs(&self) -> Result<(), Passthrough> {
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
        let Some(output) = &self.output else {
            return Ok(());
        };
        if output == "-" {
            return Err(Passthrough::new(Reason::OutputToStdout, "-o -"));
        }
        if output.is_empty() || names::is_bare_dotfile(output) || *output == self.inputs[0].path {
            return Err(Passthrough::new(
                Reason::BadOutputFile,
                output.to_string_lossy(),
            ));
        }
        Ok(())
    }

    /// The dependency options taken together.
    pub(super) fn dep_spec(&self) -> Result<DepSpec, Passthrough> {
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
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::super::Input;
    use super::*;
    use crate::cc::Family;

    fn with_inputs(paths: &[&str]) -> State {
        let mut s = State::new(Family::Gcc, false);
        for (at, path) in paths.iter().enumerate() {
            s.inputs.push(Input {
                path: OsString::from(path),
                x: None,
                at,
            });
        }
        s
    }

    fn reason<T: std::fmt::Debug>(r: Result<T, Passthrough>) -> Reason {
        r.unwrap_err().reason
    }

    #[test]
    fn syntax_only_wins_over_assemble_over_compile() {
        let mut s = State::new(Family::Gcc, false);
        assert_eq!(reason(s.mode()), Reason::CalledForLink);
        s.compile = true;
        assert_eq!(s.mode().unwrap(), Mode::Compile);
        s.assemble = true;
        assert_eq!(s.mode().unwrap(), Mode::Assemble);
        s.syntax_only = true;
        assert_eq!(s.mode().unwrap(), Mode::SyntaxOnly);
    }

    #[test]
    fn a_link_input_is_reported_before_an_earlier_header() {
        let s = with_inputs(&["a.h", "b.o"]);
        assert_eq!(reason(s.languages()), Reason::CalledForLink);
        let s = with_inputs(&["a.h", "b.c"]);
        assert_eq!(reason(s.languages()), Reason::CouldNotUsePrecompiledHeader);
        let s = with_inputs(&[".c"]);
        assert_eq!(reason(s.languages()), Reason::UnsupportedSourceLanguage);
        let s = with_inputs(&["a.c", "b.cc"]);
        assert_eq!(s.languages().unwrap(), [Language::C, Language::Cxx]);
    }

    #[test]
    fn output_checks() {
        let mut s = with_inputs(&["a.c"]);
        assert!(s.check_outputs().is_ok());
        for (output, want) in [
            ("-", Reason::OutputToStdout),
            ("", Reason::BadOutputFile),
            ("a.c", Reason::BadOutputFile),
        ] {
            s.output = Some(output.into());
            assert_eq!(reason(s.check_outputs()), want, "{output:?}");
        }
        s.output = Some("a.o".into());
        assert!(s.check_outputs().is_ok());
        s.outputs_given = 2;
        assert_eq!(reason(s.check_outputs()), Reason::RepeatedOutput);
        let s = with_inputs(&["a.c", "b.c"]);
        assert_eq!(reason(s.check_outputs()), Reason::MultipleSourceFiles);
    }

    #[test]
    fn flags_refused_only_together() {
        let mut s = State::new(Family::Clang, false);
        s.archs = vec!["x86_64".into(), "x86_64".into()];
        assert!(s.check_flags().is_ok());
        s.archs.push("arm64".into());
        assert_eq!(reason(s.check_flags()), Reason::UnsupportedCompilerOption);
        let mut s = State::new(Family::Gcc, false);
        s.profile_uses = 1;
        assert!(s.check_flags().is_ok());
        s.profile_generate = true;
        assert_eq!(reason(s.check_flags()), Reason::UnsupportedCompilerOption);
        s.refuse(Reason::CalledForPreprocessing, "-E");
        assert_eq!(reason(s.check_flags()), Reason::CalledForPreprocessing);
        assert_eq!(
            reason(with_inputs(&["a.c", "-"]).check_inputs()),
            Reason::StdinInput
        );
        assert_eq!(reason(with_inputs(&[]).check_inputs()), Reason::NoInputFile);
    }
}
