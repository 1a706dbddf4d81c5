//! An input's language: the `-x` names and the drivers' suffix tables, as gcc and
//! clang apply them; no cacheability decision (what a header or a link input means to
//! the call is `checks.rs`'s).

use std::ffi::OsStr;

use super::super::names;
use super::super::{Family, Language};
use super::{Input, State};

/// What an input's language turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InputKind {
    Source(Language),
    /// A header: the call would build a precompiled header.
    Header,
    /// An object or library: the call links.
    Link,
    Unsupported,
}

impl State {
    /// The language of `input`: its `-x`, else its suffix.
    pub(super) fn input_kind(&self, input: &Input) -> InputKind {
        match &input.x {
            Some(x) => language_from_x(x),
            None => language_from_extension(self.family, self.cplusplus, &input.path),
        }
    }
}

/// The `-x` languages we know; any other passes through.
const X_LANGUAGES: &[(&str, InputKind)] = &[
    ("c", InputKind::Source(Language::C)),
    ("c++", InputKind::Source(Language::Cxx)),
    ("cpp-output", InputKind::Source(Language::CPreprocessed)),
    (
        "c++-cpp-output",
        InputKind::Source(Language::CxxPreprocessed),
    ),
    ("assembler", InputKind::Source(Language::Asm)),
    (
        "assembler-with-cpp",
        InputKind::Source(Language::AsmWithCpp),
    ),
    ("c-header", InputKind::Header),
    ("c++-header", InputKind::Header),
    ("c++-system-header", InputKind::Header),
    ("c++-user-header", InputKind::Header),
    ("c-header-cpp-output", InputKind::Header),
    ("c++-header-cpp-output", InputKind::Header),
];

pub(super) fn language_from_x(x: &OsStr) -> InputKind {
    X_LANGUAGES
        .iter()
        .find(|(name, _)| OsStr::new(name) == x)
        .map_or(InputKind::Unsupported, |(_, kind)| *kind)
}

/// The driver's suffix table. C++ drivers compile `.c`, `.i` and `.h` as C++.
pub(super) fn language_from_extension(family: Family, cplusplus: bool, path: &OsStr) -> InputKind {
    let clangish = family != Family::Gcc;
    let Some(ext) = names::extension(path).and_then(OsStr::to_str) else {
        return InputKind::Unsupported;
    };
    let lang = match ext {
        "c" if cplusplus => Language::Cxx,
        "c" => Language::C,
        "i" if cplusplus => Language::CxxPreprocessed,
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
        "wasm" if family == Family::Emcc => return InputKind::Link,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_names() {
        let x = |s: &str| language_from_x(OsStr::new(s));
        assert_eq!(x("c"), InputKind::Source(Language::C));
        assert_eq!(
            x("c++-cpp-output"),
            InputKind::Source(Language::CxxPreprocessed)
        );
        assert_eq!(
            x("assembler-with-cpp"),
            InputKind::Source(Language::AsmWithCpp)
        );
        assert_eq!(x("c++-header"), InputKind::Header);
        assert_eq!(x("objective-c"), InputKind::Unsupported);
        assert_eq!(x("C"), InputKind::Unsupported);
    }

    #[test]
    fn suffixes_by_driver() {
        let ext = |family, cplusplus, path: &str| {
            language_from_extension(family, cplusplus, OsStr::new(path))
        };
        assert_eq!(
            ext(Family::Gcc, false, "a.c"),
            InputKind::Source(Language::C)
        );
        assert_eq!(
            ext(Family::Gcc, true, "a.c"),
            InputKind::Source(Language::Cxx)
        );
        assert_eq!(
            ext(Family::Clang, true, "a.i"),
            InputKind::Source(Language::CxxPreprocessed)
        );
        assert_eq!(ext(Family::Gcc, false, "a.CC"), InputKind::Unsupported);
        assert_eq!(
            ext(Family::Clang, false, "a.CC"),
            InputKind::Source(Language::Cxx)
        );
        assert_eq!(
            ext(Family::Gcc, false, "a.sx"),
            InputKind::Source(Language::AsmWithCpp)
        );
        assert_eq!(ext(Family::Clang, false, "a.sx"), InputKind::Unsupported);
        assert_eq!(ext(Family::Gcc, false, "a.hpp"), InputKind::Header);
        assert_eq!(ext(Family::Gcc, false, "a.o"), InputKind::Link);
        assert_eq!(ext(Family::Emcc, false, "a.wasm"), InputKind::Link);
        assert_eq!(ext(Family::Clang, false, "a.wasm"), InputKind::Unsupported);
        assert_eq!(ext(Family::Gcc, false, "libz.so.1"), InputKind::Link);
        assert_eq!(ext(Family::Gcc, false, "Makefile"), InputKind::Unsupported);
    }
}
