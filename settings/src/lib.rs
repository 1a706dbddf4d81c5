//! Every zccache setting in one table (its config-file key, environment variable, default and how its value reads), where the config files live, and how defaults, files and the environment combine, each value remembering where it came from. It reads config files but acts on no setting: the wrapper, broker and daemon do.
//!
//! Precedence, lowest first: the default, the user's file
//! (`$XDG_CONFIG_HOME/zccache/config.toml`), the cache root's own file
//! (`<root>/zccache.toml`), the environment. `ZCCACHE_CONFIG` names one
//! file that replaces both. A bad value or unknown key is an error naming
//! the file, line and key; the setting then keeps its lower-layer value, so
//! a broken config never breaks a build.

mod file;
mod value;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

pub use file::{set_in_file, ConfigError};
pub use value::{parse_size, show_size, Value};

/// Who reads a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The wrapper, for itself (routing, logging, timeouts).
    Wrapper,
    /// The daemon, from the Lookup's environment: the wrapper adds a value
    /// from a config file under the variable's name when the environment
    /// does not set it.
    Lookup,
    /// The daemon, for its whole life: from its cache root's config and the
    /// request that started it, never from the broker's environment.
    Daemon,
}

/// How a value is spelled and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `1/true/yes/on` or `0/false/no/off`.
    Bool,
    /// Bytes, with an optional binary suffix: `500M`, `20G`, `1TiB`.
    Size,
    /// A whole number of seconds.
    Seconds,
    /// A whole number of milliseconds.
    Millis,
    /// `off`, `warn` (also `1`) or `debug` (also `2`).
    Log,
    /// `off` or `auto` (and the spellings the daemon accepts for them).
    Remap,
    /// Any text (a path, a name).
    Text,
}

/// One setting.
#[derive(Debug)]
pub struct Spec {
    /// The config-file key.
    pub key: &'static str,
    /// The environment variable.
    pub env: &'static str,
    pub kind: Kind,
    /// The default, as it would be spelled; empty means "unset".
    pub default: &'static str,
    pub scope: Scope,
    /// One line for `--show-config` and the README.
    pub doc: &'static str,
    /// Whether the cache root's own file may set it (the cache dir cannot
    /// be chosen by a file inside it).
    pub in_root_file: bool,
    /// Never shown: `zccache config` and `status` say only "(set)".
    pub secret: bool,
}

const fn spec(
    key: &'static str,
    env: &'static str,
    kind: Kind,
    default: &'static str,
    scope: Scope,
    doc: &'static str,
) -> Spec {
    Spec {
        key,
        env,
        kind,
        default,
        scope,
        doc,
        in_root_file: true,
        secret: false,
    }
}

/// Every setting, in the order `--show-config` lists them.
pub const SPECS: &[Spec] = &[
    Spec {
        in_root_file: false,
        ..spec(
            "cache_dir",
            "ZCCACHE_CACHE_DIR",
            Kind::Text,
            "",
            Scope::Wrapper,
            "cache root (default $XDG_CACHE_HOME/zccache, else ~/.cache/zccache)",
        )
    },
    spec(
        "namespace",
        "ZCCACHE_DAEMON_NAMESPACE",
        Kind::Text,
        "",
        Scope::Wrapper,
        "a separate daemon and counters for one experiment (default `default`)",
    ),
    spec(
        "max_size",
        "ZCCACHE_MAX_SIZE",
        Kind::Size,
        "10G",
        Scope::Daemon,
        "size limit; least recently used entries go first",
    ),
    spec(
        "idle_timeout",
        "ZCCACHE_IDLE_TIMEOUT",
        Kind::Seconds,
        "3600",
        Scope::Daemon,
        "seconds before an idle daemon exits (0 = never)",
    ),
    spec(
        "disable",
        "ZCCACHE_DISABLE",
        Kind::Bool,
        "false",
        Scope::Wrapper,
        "run the compiler directly",
    ),
    spec(
        "log",
        "ZCCACHE_LOG",
        Kind::Log,
        "off",
        Scope::Wrapper,
        "say on stderr why a compile was not a hit (warn), and more (debug)",
    ),
    spec(
        "path_remap",
        "ZCCACHE_PATH_REMAP",
        Kind::Remap,
        "off",
        Scope::Lookup,
        "auto: share the cache between git worktrees",
    ),
    spec(
        "worktree_root",
        "ZCCACHE_WORKTREE_ROOT",
        Kind::Text,
        "",
        Scope::Lookup,
        "the root to remap, instead of the enclosing git worktree",
    ),
    spec(
        "connect_timeout_ms",
        "ZCCACHE_CONNECT_TIMEOUT_MS",
        Kind::Millis,
        "1000",
        Scope::Wrapper,
        "waiting for a connection to the daemon or broker",
    ),
    spec(
        "request_timeout_ms",
        "ZCCACHE_REQUEST_TIMEOUT_MS",
        Kind::Millis,
        "5000",
        Scope::Wrapper,
        "waiting for the daemon's answer",
    ),
    spec(
        "spawn_timeout_ms",
        "ZCCACHE_SPAWN_TIMEOUT_MS",
        Kind::Millis,
        "10000",
        Scope::Wrapper,
        "waiting for a broker or daemon being started",
    ),
    spec(
        "remote",
        "ZCCACHE_REMOTE",
        Kind::Text,
        "",
        Scope::Daemon,
        "a shared second tier: redis://host:port/db (rediss:// for TLS), redis+cluster://h1:p1,h2:p2 (rediss+cluster://), file:///dir",
    ),
    spec(
        "remote_tls_ca",
        "ZCCACHE_REMOTE_TLS_CA",
        Kind::Text,
        "",
        Scope::Daemon,
        "PEM file of the CA(s) a rediss:// server's certificate must chain to (default: the system's roots)",
    ),
    spec(
        "remote_mode",
        "ZCCACHE_REMOTE_MODE",
        Kind::Text,
        "read-write",
        Scope::Daemon,
        "read-write, read-only (never writes) or write-only (never reads)",
    ),
    Spec {
        secret: true,
        ..spec(
            "remote_key",
            "ZCCACHE_REMOTE_KEY",
            Kind::Text,
            "",
            Scope::Daemon,
            "secret signing remote entries; unsigned or badly signed ones are ignored (required for file://)",
        )
    },
    spec(
        "remote_timeout_ms",
        "ZCCACHE_REMOTE_TIMEOUT_MS",
        Kind::Millis,
        "100",
        Scope::Daemon,
        "deadline of one remote lookup",
    ),
    spec(
        "remote_ttl",
        "ZCCACHE_REMOTE_TTL",
        Kind::Seconds,
        "1814400",
        Scope::Daemon,
        "seconds a remote entry lives after it is written (default 21 days)",
    ),
    spec(
        "remote_max_value",
        "ZCCACHE_REMOTE_MAX_VALUE",
        Kind::Size,
        "1M",
        Scope::Daemon,
        "largest single remote value; bigger entries are stored in chunks of this size",
    ),
];

/// The spec of `key`.
pub fn spec_of(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    File {
        path: PathBuf,
        line: usize,
    },
    Env(&'static str),
    /// Handed to a daemon by the request that started it.
    Request,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env(name) => write!(f, "environment {name}"),
            Origin::Request => f.write_str("the request that started the daemon"),
        }
    }
}

/// One setting's value and where it came from.
#[derive(Clone, Debug)]
pub struct Setting {
    pub spec: &'static Spec,
    pub value: Value,
    pub origin: Origin,
}

impl Setting {
    /// The value as `zccache config` and `status` show it: a secret only as
    /// `(set)`, a password in a URL masked (both end up in CI logs).
    pub fn shown(&self) -> String {
        let shown = self.value.show(self.spec.kind);
        if self.spec.secret && !shown.is_empty() {
            return "(set)".to_owned();
        }
        mask_url_password(&shown)
    }
}

/// `scheme://user:password@host…` with the password replaced by `***`;
/// anything else unchanged (a `redis+cluster://` list has one credential
/// part, before its last `@`).
pub fn mask_url_password(text: &str) -> String {
    let (Some(scheme), Some(at)) = (text.find("://"), text.rfind('@')) else {
        return text.to_owned();
    };
    let auth_start = scheme + 3;
    if at < auth_start {
        return text.to_owned();
    }
    // `user:password`, or a password alone (`redis://password@host`).
    let user = text[auth_start..at]
        .split_once(':')
        .map_or(String::new(), |(user, _)| format!("{user}:"));
    format!("{}{user}***{}", &text[..auth_start], &text[at..])
}

/// Every setting resolved, and what was wrong on the way.
#[derive(Clone, Debug)]
pub struct Settings {
    settings: Vec<Setting>,
    pub errors: Vec<ConfigError>,
    /// The files read (or looked for), lowest precedence first.
    pub files: Vec<PathBuf>,
}

impl Settings {
    /// Defaults, then `files` in order, then the environment `var` gives.
    pub fn resolve(var: &dyn Fn(&str) -> Option<OsString>, files: &[PathBuf]) -> Settings {
        let mut s = Settings::defaults();
        for path in files {
            s.apply_file(path);
        }
        s.apply_env(var);
        s
    }

    /// Layers the environment `var` gives over what is there: the last
    /// layer, so that a caller that layers files itself reads each once.
    pub fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<OsString>) {
        for spec in SPECS {
            let Some(raw) = var(spec.env).filter(|v| !v.is_empty()) else {
                continue;
            };
            match Value::parse_os(spec.kind, &raw) {
                Ok(value) => self.set(spec, value, Origin::Env(spec.env)),
                Err(e) => self.errors.push(ConfigError::env(spec.env, &e)),
            }
        }
    }

    /// Every setting at its default.
    pub fn defaults() -> Settings {
        let settings = SPECS
            .iter()
            .map(|spec| Setting {
                spec,
                value: Value::parse(spec.kind, spec.default).expect("defaults parse"),
                origin: Origin::Default,
            })
            .collect();
        Settings {
            settings,
            errors: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Layers the file at `path` over what is there; a missing file is no
    /// error.
    pub fn apply_file(&mut self, path: &Path) {
        self.files.push(path.to_path_buf());
        let is_root_file = path.file_name() == Some(ROOT_FILE.as_ref());
        match file::read(path) {
            Ok(None) => {}
            Ok(Some(entries)) => {
                for entry in entries {
                    match entry {
                        Ok((spec, value, line)) if is_root_file && !spec.in_root_file => {
                            self.errors.push(ConfigError::at(
                                path,
                                line,
                                spec.key,
                                "has no effect in the cache root's own config file",
                            ));
                            let _ = value;
                        }
                        Ok((spec, value, line)) => self.set(
                            spec,
                            value,
                            Origin::File {
                                path: path.to_path_buf(),
                                line,
                            },
                        ),
                        Err(e) => self.errors.push(e),
                    }
                }
            }
            Err(e) => self.errors.push(e),
        }
    }

    /// Sets `key` from a daemon's starting request.
    pub fn set_from_request(&mut self, key: &str, raw: &str) -> Result<(), String> {
        let spec = spec_of(key).ok_or_else(|| format!("unknown setting {key}"))?;
        let value = Value::parse(spec.kind, raw).map_err(|e| format!("{key}: {e}"))?;
        self.set(spec, value, Origin::Request);
        Ok(())
    }

    fn set(&mut self, spec: &'static Spec, value: Value, origin: Origin) {
        if let Some(s) = self.settings.iter_mut().find(|s| s.spec.key == spec.key) {
            s.value = value;
            s.origin = origin;
        }
    }

    /// Every setting, in table order.
    pub fn iter(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter()
    }

    /// The setting `key` (one of [`SPECS`]).
    pub fn get(&self, key: &str) -> &Setting {
        self.settings
            .iter()
            .find(|s| s.spec.key == key)
            .unwrap_or_else(|| panic!("no setting named {key}"))
    }

    pub fn number(&self, key: &str) -> u64 {
        self.get(key).value.number()
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key).value.flag()
    }

    /// The text of `key`; `None` when empty.
    pub fn text(&self, key: &str) -> Option<&str> {
        Some(self.get(key).value.text()).filter(|t| !t.is_empty())
    }
}

/// The name of a cache root's own config file.
pub const ROOT_FILE: &str = "zccache.toml";

/// The files read before the cache root is known: `ZCCACHE_CONFIG` alone,
/// else the user's file if there is a place for it.
pub fn user_files(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    if let Some(one) = explicit_file(var) {
        return vec![one];
    }
    let base = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            var("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".config"))
        });
    base.map(|b| b.join("zccache").join("config.toml"))
        .into_iter()
        .collect()
}

/// Every file for the cache root `root`, lowest precedence first.
pub fn files_for(var: &dyn Fn(&str) -> Option<OsString>, root: &Path) -> Vec<PathBuf> {
    let mut files = user_files(var);
    if explicit_file(var).is_none() {
        files.push(root.join(ROOT_FILE));
    }
    files
}

/// The file settings written by the command line go to: `ZCCACHE_CONFIG`,
/// else the cache root's own file.
pub fn writable_file(var: &dyn Fn(&str) -> Option<OsString>, root: &Path) -> PathBuf {
    explicit_file(var).unwrap_or_else(|| root.join(ROOT_FILE))
}

fn explicit_file(var: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    var("ZCCACHE_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests;
