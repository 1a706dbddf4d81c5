//! Process facts on Linux, read from `/proc`. Parsing lives in
//! `process.rs` so it can be tested with handed-in text; this file only
//! reads.

use std::path::PathBuf;

use crate::process::{parse_boot_id, parse_stat, parse_status_uid, StatFacts};

pub(crate) fn current_boot_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    parse_boot_id(&text)
}

pub(crate) fn stat(pid: u32) -> Option<StatFacts> {
    let bytes = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&bytes)
}

pub(crate) fn process_exe(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// A path that opens the running executable image itself, which stays
/// readable after the file on disk was replaced or deleted.
pub(crate) fn exe_image(pid: u32) -> Option<PathBuf> {
    Some(PathBuf::from(format!("/proc/{pid}/exe")))
}

/// The real uid of `pid`, from `/proc/<pid>/status`.
pub(crate) fn real_uid(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_uid(&text)
}
