//! Names of the files the broker and daemons use: endpoints, locks, logs,
//! the broker's root registry and identity files. Pure: it computes paths
//! and creates none of them.
//!
//! Every name inside the runtime directory is at most
//! [`crate::LONGEST_RUNTIME_ENTRY`] bytes, and [`crate::RuntimeDir`] refuses a
//! directory too long to hold it, so endpoints built from a `RuntimeDir`
//! always fit a socket address.

use std::path::{Path, PathBuf};

use crate::root::daemon_key;
use crate::runtime::RuntimeDir;

/// Where one daemon (cache root, namespace, protocol) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonPaths {
    /// The daemon key, 16 hex characters (see [`daemon_key`]).
    pub key: String,
    /// `<runtime>/d-<key>.sock`
    pub endpoint: PathBuf,
    /// `<runtime>/d-<key>.lock`: the broker holds it while spawning.
    pub lock: PathBuf,
    /// `<runtime>/d-<key>.log`: the daemon's stdout and stderr.
    pub log: PathBuf,
    /// `<runtime>/d-<key>.settings`: the settings the broker hands a daemon
    /// it starts (0600, read and removed by the daemon; never argv, which
    /// every user can read).
    pub settings: PathBuf,
    /// `<root>/daemons/<namespace>.p<protocol>.json`
    pub identity_file: PathBuf,
}

/// Where the broker for one protocol version lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerPaths {
    /// `<runtime>/broker-p<protocol>.sock`
    pub endpoint: PathBuf,
    /// `<runtime>/broker-p<protocol>.lock`: held by whoever starts the broker.
    pub lock: PathBuf,
    /// `<runtime>/broker-p<protocol>.log`
    pub log: PathBuf,
    /// `<runtime>/broker-p<protocol>.roots`: the cache roots the broker has
    /// served, one absolute path per line, so that `status --all` can find
    /// identity files of daemons the running broker did not start.
    pub registry: PathBuf,
}

/// The paths of the daemon for (`canonical_root`, `namespace`, `protocol`).
/// `namespace` must already be sanitized (see [`crate::sanitize_namespace`]).
///
/// The identity file name carries the protocol version although broker.md
/// names it `<namespace>.json`: daemons of two protocol versions on one
/// root and namespace run side by side (their keys differ), and with a
/// shared file each would find the other's identity, judge it
/// `other_protocol`, and replace it in turn.
pub fn daemon_paths(
    rt: &RuntimeDir,
    canonical_root: &Path,
    namespace: &str,
    protocol: u32,
) -> DaemonPaths {
    let key = daemon_key(canonical_root, namespace, protocol);
    let stem = format!("d-{key}");
    let dir = rt.path();
    DaemonPaths {
        endpoint: dir.join(format!("{stem}.sock")),
        lock: dir.join(format!("{stem}.lock")),
        log: dir.join(format!("{stem}.log")),
        settings: dir.join(format!("{stem}.settings")),
        identity_file: identity_dir(canonical_root).join(format!("{namespace}.p{protocol}.json")),
        key,
    }
}

/// The directory that holds every identity file of a cache root, for
/// callers that list them (`status --all`).
pub fn identity_dir(canonical_root: &Path) -> PathBuf {
    canonical_root.join("daemons")
}

/// The paths of the broker for `protocol`.
pub fn broker_paths(rt: &RuntimeDir, protocol: u32) -> BrokerPaths {
    let stem = format!("broker-p{protocol}");
    let dir = rt.path();
    BrokerPaths {
        endpoint: dir.join(format!("{stem}.sock")),
        lock: dir.join(format!("{stem}.lock")),
        log: dir.join(format!("{stem}.log")),
        registry: dir.join(format!("{stem}.roots")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockaddr::{endpoint_fits, max_runtime_dir_len, LONGEST_RUNTIME_ENTRY};
    use crate::test_util::TempDir;

    #[test]
    fn daemon_layout() {
        let tmp = TempDir::new();
        let rt = RuntimeDir::at(&tmp.path().join("rt")).unwrap();
        let root = Path::new("/home/u/.cache/zccache");
        let paths = daemon_paths(&rt, root, "ci", 3);
        let key = daemon_key(root, "ci", 3);
        assert_eq!(paths.key, key);
        assert_eq!(paths.endpoint, rt.path().join(format!("d-{key}.sock")));
        assert_eq!(paths.lock, rt.path().join(format!("d-{key}.lock")));
        assert_eq!(paths.log, rt.path().join(format!("d-{key}.log")));
        assert_eq!(
            paths.identity_file,
            Path::new("/home/u/.cache/zccache/daemons/ci.p3.json")
        );
        assert_ne!(
            daemon_paths(&rt, root, "ci", 4).identity_file,
            paths.identity_file
        );
        assert!(endpoint_fits(&paths.endpoint));
    }

    #[test]
    fn broker_layout() {
        let tmp = TempDir::new();
        let rt = RuntimeDir::at(&tmp.path().join("rt")).unwrap();
        let paths = broker_paths(&rt, 1);
        assert_eq!(paths.endpoint, rt.path().join("broker-p1.sock"));
        assert_eq!(paths.lock, rt.path().join("broker-p1.lock"));
        assert_eq!(paths.log, rt.path().join("broker-p1.log"));
        assert_eq!(paths.registry, rt.path().join("broker-p1.roots"));
        let widest = broker_paths(&rt, u32::MAX);
        assert_eq!(
            widest.registry.file_name().unwrap().len(),
            LONGEST_RUNTIME_ENTRY
        );
    }

    /// The longest runtime directory `RuntimeDir` accepts still fits every
    /// endpoint, whatever the cache root.
    #[test]
    fn longest_runtime_dir_fits() {
        let tmp = TempDir::new();
        let mut dir = tmp.path().to_path_buf();
        let max = max_runtime_dir_len();
        let pad = max - dir.as_os_str().len() - 1;
        dir.push("y".repeat(pad));
        assert_eq!(dir.as_os_str().len(), max);
        let rt = RuntimeDir::at(&dir).unwrap();
        let deep_root = PathBuf::from(format!("/{}", "r/".repeat(500)));
        let daemon = daemon_paths(&rt, &deep_root, &"n".repeat(64), u32::MAX);
        let broker = broker_paths(&rt, u32::MAX);
        for path in [
            &daemon.endpoint,
            &daemon.lock,
            &daemon.log,
            &broker.endpoint,
            &broker.registry,
        ] {
            assert!(endpoint_fits(path), "{}", path.display());
        }
    }
}
