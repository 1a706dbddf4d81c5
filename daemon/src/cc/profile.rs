//! Where gcc and clang read a profile-use flag's profile when the flag
//! names no file: pure naming from the invocation and the logical cwd. It
//! reads nothing and does not decide whether the profile is keyed (the
//! pipeline's extra inputs do).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::cc::{self, Family, Invocation};

/// Where a profile-use flag without a file reads: gcc the object path with
/// its extension replaced by `.gcda`, or under a profile directory
/// ([`gcc_profile_file`]), clang `default.profdata` in cwd. `None` when that
/// depends on which of several units is compiled, or the object is
/// `/dev/null` (gcc then names it otherwise).
pub(crate) fn default_profile_path(inv: &Invocation, pwd: &[u8]) -> Option<OsString> {
    match inv.family {
        Family::Clang | Family::Emcc => Some("default.profdata".into()),
        Family::Gcc => {
            let [unit] = inv.units.as_slice() else {
                return None;
            };
            let object = unit
                .output
                .as_ref()
                .filter(|o| !cc::names::is_dev_null(o))?;
            let stem = Path::new(object)
                .with_extension("")
                .into_os_string()
                .into_vec();
            let Some(dir) = &inv.profile_dir else {
                let mut path = stem;
                path.extend_from_slice(b".gcda");
                return Some(OsString::from_vec(path));
            };
            Some(OsString::from_vec(gcc_profile_file(
                dir.as_bytes(),
                pwd,
                &stem,
            )))
        }
    }
}

/// Where gcc reads an object's profile under a profile directory `dir`
/// (`coverage_init`): `dir/` then the object's stem, absolute as it is,
/// or else joined to the compiler's logical cwd `pwd` with each `/` made
/// `#` and each `..` made `^` (`mangle_path`); then `.gcda`.
fn gcc_profile_file(dir: &[u8], pwd: &[u8], stem: &[u8]) -> Vec<u8> {
    let mut path = dir.to_vec();
    path.push(b'/');
    if stem.first() == Some(&b'/') {
        path.extend_from_slice(stem);
    } else {
        let mut whole = pwd.to_vec();
        whole.push(b'/');
        whole.extend_from_slice(stem);
        let parts: Vec<&[u8]> = whole.split(|&b| b == b'/').collect();
        for (i, part) in parts.iter().enumerate() {
            if *part == b".." {
                path.push(b'^');
            } else {
                path.extend_from_slice(part);
            }
            if i + 1 < parts.len() {
                path.push(b'#');
            }
        }
    }
    path.extend_from_slice(b".gcda");
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classified(args: &[&str]) -> Invocation {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match cc::classify(Family::Gcc, false, &args, &|_| None) {
            cc::Classified::Compile(inv) => inv,
            cc::Classified::Passthrough(p) => panic!("{args:?}: {p:?}"),
        }
    }

    #[test]
    fn gcc_profile_files_are_named_as_gcc_names_them() {
        // What gcc 12 names in `-Wmissing-profile` for each object stem.
        let file = |dir: &str, stem: &str| {
            String::from_utf8(gcc_profile_file(dir.as_bytes(), b"/w/pg", stem.as_bytes())).unwrap()
        };
        assert_eq!(file("P", "dir/x"), "P/#w#pg#dir#x.gcda");
        assert_eq!(file("P", "../pg/dir/x"), "P/#w#pg#^#pg#dir#x.gcda");
        assert_eq!(file("P", "./dir/x"), "P/#w#pg#.#dir#x.gcda");
        assert_eq!(file("P", "dir//x"), "P/#w#pg#dir##x.gcda");
        assert_eq!(file("A/", "a"), "A//#w#pg#a.gcda");
        assert_eq!(file("P", "/w/pg/dir/x"), "P//w/pg/dir/x.gcda");
        let inv = classified(&["-fprofile-use=prof", "-c", "t.c", "-o", "o/t.y.o"]);
        assert_eq!(
            default_profile_path(&inv, b"/w"),
            Some("prof/#w#o#t.y.gcda".into())
        );
        let inv = classified(&["-fprofile-use", "-c", "t.c", "-o", "o/t.o"]);
        assert_eq!(default_profile_path(&inv, b"/w"), Some("o/t.gcda".into()));
        let inv = classified(&["-fprofile-use", "-c", "t.c", "-o", "/dev/null"]);
        assert_eq!(default_profile_path(&inv, b"/w"), None);
    }
}
