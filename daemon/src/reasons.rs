//! Every reason the daemon counts, as values: why a compile passed through, why a compiled result was not stored, why path remap fell back. `as_str` gives the counter name `zccache status` prints and the README lists (a public contract). It does not decide when a reason applies (the pipelines do) nor count (`stats`).
//!
//! Three enums, one per kind, rather than one with categories: each kind
//! is counted in its own map with its own meaning, and some names exist in
//! two kinds with different meanings (`bad_output_file` is a passthrough
//! when `-o` names a directory before the compile, and not-stored when the
//! compiler left no regular file; likewise `unsupported_source_feature`).
//! A type per kind makes counting a reason in the wrong map a type error.
//! The classifier's finer `cc::Reason` maps onto [`PassthroughReason`].

/// What `stats` needs of a reason: its name, and the way back from a name
/// (counters persisted by a daemon are read again by the next one).
pub(crate) trait Counter: Copy + Ord + 'static {
    fn name(self) -> &'static str;
    fn from_name(name: &str) -> Option<Self>;
}

/// Declares a reason enum with its counter names, `ALL` (every variant, so
/// the tests below see a new one) and [`Counter`].
macro_rules! reasons {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every variant.
            #[cfg_attr(not(test), expect(dead_code, reason = "read by tests"))]
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The counter name (ccache's where ccache has a word for it).
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }
        }

        impl Counter for $name {
            fn name(self) -> &'static str {
                self.as_str()
            }

            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $text => Some($name::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    /// Why a Lookup is answered Passthrough: the compiler runs unchanged and
    /// nothing is looked up or stored.
    PassthroughReason {
        CalledForLink => "called_for_link",
        CalledForPreprocessing => "called_for_preprocessing",
        MultipleSourceFiles => "multiple_source_files",
        UnsupportedCompilerOption => "unsupported_compiler_option",
        UnsupportedSourceLanguage => "unsupported_source_language",
        /// No source file; for C also a source read from stdin, as ccache counts it.
        NoInputFile => "no_input_file",
        /// An output the compile cannot write as a file (`-o` a directory,
        /// two outputs that are one file).
        BadOutputFile => "bad_output_file",
        RepeatedOutputOption => "repeated_output_option",
        DependencyOptionWithoutDepfile => "dependency_option_without_depfile",
        OutputToStdout => "output_to_stdout",
        BadCompilerArguments => "bad_compiler_arguments",
        UnsupportedEnvironmentVariable => "unsupported_environment_variable",
        CouldNotUsePrecompiledHeader => "could_not_use_precompiled_header",
        CouldNotUseModules => "could_not_use_modules",
        /// Not a gcc, clang or emcc driver.
        UnsupportedCompiler => "unsupported_compiler",
        /// The compiler or its toolchain could not be identified.
        CompilerCheckFailed => "compiler_check_failed",
        /// The source uses `#embed` or `.incbin`, whose file the depfile does not name.
        UnsupportedSourceFeature => "unsupported_source_feature",
        /// The client sees another file system than ours.
        ForeignMountNamespace => "foreign_mount_namespace",
        /// The client's cwd is not the one the kernel reports.
        CwdMismatch => "cwd_mismatch",
        /// stderr is a terminal, but the wrapper sent no terminal facts (an
        /// older wrapper, which cannot run a miss on a pseudo-terminal).
        TerminalUnknown => "terminal_unknown",
        /// rustc: a probe (`-vV`, `--print`) or no arguments.
        NotACompile => "not_a_compile",
        /// rustc: the source is stdin.
        StdinInput => "stdin_input",
        /// rustc: `-C incremental`.
        Incremental => "incremental",
        /// rustc: a crate that links in a way not cached: several crate
        /// types with a linked one, no dep-info, a target not named as ELF.
        CrateTypeLinks => "crate_type_links",
        /// rustc: a link the key cannot follow (`-Z`, a linker plugin or
        /// flavour, a link argument naming a response file, spec file or
        /// other linker).
        UnkeyableLink => "unkeyable_link",
        /// rustc: the linker (`-C linker=`, else `cc` on `PATH`) is not found.
        LinkerNotFound => "linker_not_found",
        UnsupportedCrateType => "unsupported_crate_type",
        UnsupportedEmit => "unsupported_emit",
        MultipleInputs => "multiple_inputs",
    }
}

reasons! {
    /// Why a compile that ran (a miss, or a hit the wrapper could not
    /// write) left nothing in the cache.
    NotStoredReason {
        CompileFailed => "compile_failed",
        /// The dependency pass of a miss failed.
        PreprocessorError => "preprocessor_error",
        /// An input changed during the compile, or may have.
        ModifiedInputFile => "modified_input_file",
        /// `__TIME__` without a `SOURCE_DATE_EPOCH` that fixes it.
        TimeMacro => "time_macro",
        /// `__DATE__` in a time zone we cannot evaluate.
        TimeZone => "time_zone",
        OutputToDevNull => "output_to_dev_null",
        CompilerProducedNoOutput => "compiler_produced_no_output",
        /// An output is not a regular file.
        BadOutputFile => "bad_output_file",
        CompilerProducedEmptyOutput => "compiler_produced_empty_output",
        MissingDepfile => "missing_depfile",
        BadDepfile => "bad_depfile",
        /// A header uses `#embed` or `.incbin`.
        UnsupportedSourceFeature => "unsupported_source_feature",
        /// rustc: a stream or dep-info already holds the remap token.
        RemapTokenInOutput => "remap_token_in_output",
        StoreFailed => "store_failed",
        StoreFailedNoSpace => "store_failed_no_space",
        /// Undelivered hit: an output failed its digest.
        CorruptOutput => "corrupt_output",
        /// Undelivered hit: an output is a device.
        OutputToDevice => "output_to_device",
        /// Undelivered hit: an output could not be written.
        OutputNotWritable => "output_not_writable",
        /// Undelivered hit: another unit of the same call was not delivered.
        SiblingUndelivered => "sibling_undelivered",
        /// Undelivered hit with a reason we do not know.
        BadHitAnswer => "bad_hit_answer",
    }
}

reasons! {
    /// Why path remap was asked for but not applied (cache-keys.md §2):
    /// the compile is cached as without remap, or its entry serves its own
    /// worktree only (root-bound).
    RemapFallback {
        BadPathRemapSetting => "bad_path_remap_setting",
        RelativeWorktreeRoot => "relative_worktree_root",
        NoWorktreeRoot => "no_worktree_root",
        WorktreeRootIsSlash => "worktree_root_is_slash",
        CwdOutsideRoot => "cwd_outside_root",
        /// The root holds bytes a prefix map or a depfile cannot carry.
        UnsafeRootPath => "unsafe_root_path",
        UserPrefixMap => "user_prefix_map",
        Pch => "pch",
        ProfileUse => "profile_use",
        SplitDwarf => "split_dwarf",
        Coverage => "coverage",
        CwdInOutput => "cwd_in_output",
        RecordCommandLine => "record_command_line",
        /// `-Wa,-a…`: the assembler listing quotes sources found by path.
        AsmListing => "asm_listing",
        /// `$PWD` reaches the checkout through a symlink.
        LogicalCwd => "logical_cwd",
        /// A path or value names a sibling of the root (`/w/ab` for `/w/a`).
        RootPrefixOfOtherPath => "root_prefix_of_other_path",
        /// `-fmessage-length=N`: diagnostics wrap by column, so a root of
        /// another length would wrap them differently.
        MessageLength => "message_length",
        RootInSource => "root_in_source",
        RootInOutput => "root_in_output",
        /// A stream or depfile already holds the remap token.
        TokenInText => "token_in_text",
        EscapedRootInText => "escaped_root_in_text",
    }
}

/// The StoreReply text for a token this daemon does not hold (expired, or
/// issued before a restart). Not a counter: no compile we answered ended.
pub(crate) const UNKNOWN_TOKEN: &str = "unknown or expired token";

#[cfg(test)]
mod tests {
    use super::*;

    fn names<R: Counter>(all: &[R]) -> Vec<&'static str> {
        all.iter().map(|r| r.name()).collect()
    }

    /// Within a kind, no two reasons share a counter, and every name reads
    /// back as its reason.
    #[test]
    fn names_are_distinct_and_read_back() {
        fn check<R: Counter + std::fmt::Debug>(all: &[R]) {
            let mut seen = std::collections::BTreeSet::new();
            for r in all {
                assert!(seen.insert(r.name()), "{} twice", r.name());
                assert_eq!(R::from_name(r.name()), Some(*r));
                assert!(
                    r.name()
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{r:?}"
                );
            }
            assert_eq!(R::from_name("made up"), None);
        }
        check(PassthroughReason::ALL);
        check(NotStoredReason::ALL);
        check(RemapFallback::ALL);
    }

    /// The README's list of counter names is the code's: each kind's
    /// names, in order, on the README line that starts with its heading.
    #[test]
    fn readme_lists_every_name() {
        let readme = include_str!("../../README.md");
        for (heading, names) in [
            ("passthrough_reasons", names(PassthroughReason::ALL)),
            ("not_stored_reasons", names(NotStoredReason::ALL)),
            ("remap_fallbacks", names(RemapFallback::ALL)),
        ] {
            let prefix = format!("- `{heading}`: ");
            let line = readme
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("README has no line {prefix:?}"));
            let listed: Vec<&str> = line[prefix.len()..]
                .trim_end_matches('.')
                .split(", ")
                .map(|n| n.trim_matches('`'))
                .collect();
            assert_eq!(listed, names, "README's {heading}");
        }
    }
}
