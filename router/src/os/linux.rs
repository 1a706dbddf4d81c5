//! Process facts on Linux, read from `/proc` as raw text. Parsing lives in
//! `process.rs` so it can be tested with handed-in text; this file only
//! reads, and imports nothing of the crate (no module cycle).

use std::path::PathBuf;

/// `/proc/sys/kernel/random/boot_id`.
pub(crate) fn boot_id_text() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()
}

/// `/proc/<pid>/stat`.
pub(crate) fn stat_bytes(pid: u32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/stat")).ok()
}

pub(crate) fn process_exe(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// A path that opens the running executable image itself, which stays
/// readable after the file on disk was replaced or deleted.
pub(crate) fn exe_image(pid: u32) -> Option<PathBuf> {
    Some(PathBuf::from(format!("/proc/{pid}/exe")))
}

/// `/proc/<pid>/status`, which holds the real uid.
pub(crate) fn status_text(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}
