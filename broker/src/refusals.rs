//! The (cache root, namespace) pairs the broker routes no daemon for, and why: a root that is not ours alone, a daemon that keeps dying at startup. It decides nothing itself; `server.rs` and `daemons.rs` refuse, this remembers so a refusal is announced once and `status` can show it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use frame::v1::RouteReply;

/// Why one pair gets no daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The reason name (`foreign_cache_root`, `daemon_backoff`).
    pub(crate) reason: &'static str,
    /// One line for people.
    pub(crate) detail: String,
}

#[derive(Default)]
pub(crate) struct Refusals(Mutex<BTreeMap<(PathBuf, String), Refusal>>);

impl Refusals {
    /// The answer to a Route refused for `refusal`, announced when this
    /// pair was not refused for the same reason before (then also logged).
    pub(crate) fn refuse(&self, root: &Path, namespace: &str, refusal: Refusal) -> RouteReply {
        let announce = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let key = (root.to_path_buf(), namespace.to_owned());
            let new = map.get(&key).is_none_or(|old| old.reason != refusal.reason);
            map.insert(key, refusal.clone());
            new
        };
        if announce {
            eprintln!(
                "refused {} ({namespace}): {}",
                root.display(),
                refusal.detail
            );
        }
        RouteReply {
            refused: refusal.reason.to_owned(),
            detail: refusal.detail,
            announce,
            ..Default::default()
        }
    }

    /// Forgets a refusal once the pair is served again.
    pub(crate) fn clear(&self, root: &Path, namespace: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(root.to_path_buf(), namespace.to_owned()));
    }

    /// Every current refusal as a JSON array of `{cache_root, namespace,
    /// refused, detail}`, sorted by root and namespace.
    pub(crate) fn json(&self) -> String {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<serde_json::Value> = map
            .iter()
            .map(|((root, namespace), refusal)| {
                serde_json::json!({
                    "cache_root": root.display().to_string(),
                    "namespace": namespace,
                    "refused": refusal.reason,
                    "detail": refusal.detail,
                })
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(reason: &'static str) -> Refusal {
        Refusal {
            reason,
            detail: format!("{reason} detail"),
        }
    }

    #[test]
    fn announced_once_per_pair_and_reason() {
        let refusals = Refusals::default();
        let root = Path::new("/c");
        let first = refusals.refuse(root, "a", refusal("foreign_cache_root"));
        assert!(first.announce);
        assert_eq!(first.refused, "foreign_cache_root");
        assert_eq!(first.detail, "foreign_cache_root detail");
        assert!(first.endpoint.is_empty());
        assert!(
            !refusals
                .refuse(root, "a", refusal("foreign_cache_root"))
                .announce
        );
        // Another namespace, another reason: announced again.
        assert!(
            refusals
                .refuse(root, "b", refusal("foreign_cache_root"))
                .announce
        );
        assert!(
            refusals
                .refuse(root, "a", refusal("daemon_backoff"))
                .announce
        );
        let json: serde_json::Value = serde_json::from_str(&refusals.json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"cache_root": "/c", "namespace": "a", "refused": "daemon_backoff",
                 "detail": "daemon_backoff detail"},
                {"cache_root": "/c", "namespace": "b", "refused": "foreign_cache_root",
                 "detail": "foreign_cache_root detail"},
            ])
        );
        // Served again, then refused again: announced again.
        refusals.clear(root, "a");
        assert!(
            refusals
                .refuse(root, "a", refusal("daemon_backoff"))
                .announce
        );
    }
}
