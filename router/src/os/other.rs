//! Process facts on Unix systems other than Linux: not implemented, every
//! fact is unknown. It does not guess, because the verdict treats an
//! unknown fact as "cannot prove this process is ours".

use std::path::PathBuf;

pub(crate) fn boot_id_text() -> Option<String> {
    None
}

pub(crate) fn stat_bytes(_pid: u32) -> Option<Vec<u8>> {
    None
}

pub(crate) fn process_exe(_pid: u32) -> Option<PathBuf> {
    None
}

pub(crate) fn exe_image(_pid: u32) -> Option<PathBuf> {
    None
}

pub(crate) fn status_text(_pid: u32) -> Option<String> {
    None
}
