//! What fits in a Unix socket address: the `sun_path` capacity, the longest name the runtime directory holds, and so the longest runtime directory. A leaf both `runtime` (which refuses a directory too long) and `paths` (which builds the names) depend on; it builds no path and checks no directory.

use std::path::Path;

/// The longest file name placed in the runtime directory:
/// `broker-p4294967295.roots` (`paths::broker_paths` for the widest
/// protocol number; its test checks the two agree).
pub const LONGEST_RUNTIME_ENTRY: usize = "broker-p4294967295.roots".len();

/// Whether `path` fits in a Unix socket address (`sun_path`, with its
/// terminating NUL): fewer than 108 bytes on Linux, 104 on the BSDs.
pub fn endpoint_fits(path: &Path) -> bool {
    path.as_os_str().len() < sun_path_capacity()
}

/// The longest runtime directory path for which every entry still fits.
pub(crate) fn max_runtime_dir_len() -> usize {
    // One byte for the separator and one for the NUL.
    sun_path_capacity() - LONGEST_RUNTIME_ENTRY - 2
}

pub(crate) fn sun_path_capacity() -> usize {
    // SAFETY: sockaddr_un is plain old data (integers and a byte array), for
    // which all-zero bytes are a valid value.
    let addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_path.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[track_caller]
    fn check_fits(len: usize, expected: bool) {
        let path = PathBuf::from(format!("/{}", "a".repeat(len - 1)));
        assert_eq!(path.as_os_str().len(), len);
        assert_eq!(endpoint_fits(&path), expected, "length {len}");
    }

    #[test]
    fn fits_boundary() {
        let cap = sun_path_capacity();
        check_fits(1, true);
        check_fits(cap - 1, true);
        check_fits(cap, false);
        check_fits(cap + 50, false);
    }

    #[test]
    fn a_longest_entry_fits_under_the_longest_runtime_dir() {
        let dir = format!("/{}", "d".repeat(max_runtime_dir_len() - 1));
        let entry = Path::new(&dir).join("e".repeat(LONGEST_RUNTIME_ENTRY));
        assert!(endpoint_fits(&entry), "{}", entry.display());
        let longer = Path::new(&dir).join("e".repeat(LONGEST_RUNTIME_ENTRY + 1));
        assert!(!endpoint_fits(&longer), "{}", longer.display());
    }
}
