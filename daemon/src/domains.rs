//! Every key domain of the daemon in one place: the tag and format version that open a key, so that keys of different kinds can never collide and a change of what a kind hashes is one bumped line here. It does not hash anything (`keys`) nor decide which fields a key holds (the pipelines).
//!
//! The bytes of each domain are part of every stored key: changing one
//! invalidates every entry of that kind (`golden_keys` catches it). Bump the
//! version only together with a change of what is hashed under it.

/// A key domain. Only this module makes one, so a key cannot open with a
/// tag that is not listed (and documented) here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Domain(&'static str);

impl Domain {
    /// The bytes hashed as the key's first field.
    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }
}

/// The C/C++/emcc manifest key: compiler identity, toolchain programs,
/// arguments, environment, source digest (cache-keys.md §3).
pub(crate) const CC: Domain = Domain("zccache-cc-v1");
/// The C/C++/emcc result key: the manifest key, the include set with
/// digests, negatives and temporal facts of one manifest entry.
pub(crate) const CC_RESULT: Domain = Domain("zccache-cc-result-v2");
/// The C/C++ second-chance key of a direct-mode miss: the request's key
/// without preprocessor-only arguments, the source's name, the
/// preprocessor's text and dependency list (`cc::pipeline::second_chance`).
pub(crate) const CC_PREPROCESSED: Domain = Domain("zccache-cc-preprocessed-v1");
/// The coarse index "this source was compiled here by this compiler
/// before": compiler identity, argv0, cwd, language and source name; a
/// second chance is tried only where it exists.
pub(crate) const CC_SEEN: Domain = Domain("zccache-cc-seen-v1");
/// A C/C++/emcc compiler's identity (driver bytes; for emcc its version,
/// scripts, config and clang), hashed into the `CC` key.
pub(crate) const CC_COMPILER: Domain = Domain("zccache-compiler-v1");
/// The memo of the built-in include chain probe: compiler identity and the
/// probe's argv (in memory only, never stored).
pub(crate) const CC_BUILTIN_CHAIN: Domain = Domain("zccache-cc-builtin-chain-v1");
/// The rustc and clippy-driver manifest key: toolchain, arguments, inputs,
/// `CARGO_*` environment (cache-keys.md §8).
pub(crate) const RUSTC: Domain = Domain("zccache-rustc-v2");
/// The rustc result key: the manifest key and one entry's sources, env-deps
/// and remap state.
pub(crate) const RUSTC_RESULT: Domain = Domain("zccache-rustc-result-v1");
/// The memo of which toolchain a rustc call selects: its path, the stat of
/// the driver and of the rustup settings that choose it (in memory only).
pub(crate) const RUST_TOOLCHAIN_SELECTION: Domain = Domain("zccache-rust-toolchain-selection-v1");
/// A Rust toolchain's identity: `rustc -vV`, sysroot and the digests of its
/// driver and host libraries, hashed into the `RUSTC` key.
pub(crate) const RUST_TOOLCHAIN: Domain = Domain("zccache-rust-toolchain-v1");
/// The names a system library directory holds, hashed into a linked
/// crate's `RUSTC` key (a library appearing before the one used).
pub(crate) const RUST_LINK_DIR: Domain = Domain("zccache-rust-link-dir-v1");

/// Every domain, for the tests below.
#[cfg(test)]
pub(crate) const ALL: &[Domain] = &[
    CC,
    CC_RESULT,
    CC_PREPROCESSED,
    CC_SEEN,
    CC_COMPILER,
    CC_BUILTIN_CHAIN,
    RUSTC,
    RUSTC_RESULT,
    RUST_TOOLCHAIN_SELECTION,
    RUST_TOOLCHAIN,
    RUST_LINK_DIR,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_distinct_and_versioned() {
        let mut seen = std::collections::BTreeSet::new();
        for d in ALL {
            assert!(seen.insert(d.as_str()), "{} twice", d.as_str());
            let (name, version) = d.as_str().rsplit_once("-v").unwrap();
            assert!(name.starts_with("zccache-"), "{}", d.as_str());
            assert!(version.parse::<u32>().is_ok(), "{}", d.as_str());
        }
    }

    /// Every `pub(crate) const` of this file is in `ALL` and has a doc line,
    /// so the list the test above checks is the whole set.
    #[test]
    fn every_domain_is_listed_and_documented() {
        let src = include_str!("domains.rs");
        let lines: Vec<&str> = src.lines().collect();
        let mut consts = 0;
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.strip_prefix("pub(crate) const ") else {
                continue;
            };
            let name = rest.split(':').next().unwrap();
            if name == "ALL" {
                continue;
            }
            consts += 1;
            assert!(
                i > 0 && lines[i - 1].starts_with("///"),
                "{name} has no doc line"
            );
            assert!(
                src.contains(&format!("    {name},\n")),
                "{name} is not in ALL"
            );
        }
        assert_eq!(consts, ALL.len());
    }
}
