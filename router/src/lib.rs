//! Router: from a cache root, a namespace and a protocol version, the names
//! of everything the broker and daemons use (runtime directory, daemon key,
//! endpoints, locks, logs, identity files), and the verdict on whether a
//! published daemon is stale. It never connects and never spawns; its only
//! I/O is creating and checking the runtime directory and cache root
//! (whether it is ours alone), reading identity files and reading facts about processes from `/proc`.
//!
//! Unix only. Process facts are read on Linux; on other Unix systems they
//! are unknown, and an unknown fact never proves a daemon is ours.

mod identity;
mod namespace;
#[cfg_attr(target_os = "linux", path = "os/linux.rs")]
#[cfg_attr(not(target_os = "linux"), path = "os/other.rs")]
mod os;
mod paths;
mod probe;
mod process;
mod root;
mod runtime;
mod sockaddr;
mod trust;
mod verdict;

#[cfg(test)]
mod test_util;

pub use identity::{
    read_identity, read_identity_file, Identity, IdentityError, IdentityErrorKind, IdentityFile,
    MAX_IDENTITY_LEN,
};
pub use namespace::{sanitize_namespace, NamespaceError, DEFAULT_NAMESPACE, MAX_NAMESPACE_LEN};
pub use paths::{broker_paths, daemon_paths, identity_dir, BrokerPaths, DaemonPaths};
pub use probe::{check_probe_reply, probe_nonce_reply, MAX_PROBE_REPLY_LEN, PROBE_NONCE_LEN};
pub use process::{
    current_boot_id, file_blake3, is_zombie, pid_alive, process_exe, process_facts,
    process_start_time, process_state, process_uid, running_start_time, still_proven,
};
pub use root::{choose_cache_root, daemon_key, resolve_cache_root, CacheRootEnv, CacheRootError};
pub use runtime::{
    euid, runtime_dir, runtime_dir_in, verify_runtime_dir, RuntimeDir, RuntimeDirEnv,
    RuntimeDirError,
};
pub use sockaddr::{endpoint_fits, LONGEST_RUNTIME_ENTRY};
pub use trust::{check_cache_root, RootRefusal, CACHE_ROOT_DIRS, FOREIGN_CACHE_ROOT};
pub use verdict::{
    is_daemon_exe, verdict, Expected, ProcessFacts, StaleReason, Verdict, DAEMON_EXE_NAME,
};
