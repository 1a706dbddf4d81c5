//! Process facts on Unix systems other than Linux: not implemented, every
//! fact is unknown. It does not guess, because the verdict treats an
//! unknown fact as "cannot prove this process is ours".

use std::path::PathBuf;

use crate::process::StatFacts;

pub(crate) fn current_boot_id() -> Option<String> {
    None
}

pub(crate) fn stat(_pid: u32) -> Option<StatFacts> {
    None
}

pub(crate) fn process_exe(_pid: u32) -> Option<PathBuf> {
    None
}

pub(crate) fn exe_image(_pid: u32) -> Option<PathBuf> {
    None
}

pub(crate) fn real_uid(_pid: u32) -> Option<u32> {
    None
}
