//! The wrapper's settings (timeouts, logging, the kill switch, the cache dir and namespace), read once into a value from the environment and the config files through the `settings` crate; it does not resolve the cache root or namespace into daemon paths (router does) and acts on no daemon setting (it hands those on).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use settings::{Origin, Scope, Settings};

/// How loudly the wrapper reports that it fell back to a direct compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogLevel {
    Off,
    Warn,
    Debug,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `disable`: run the compiler directly, touch nothing.
    pub(crate) disabled: bool,
    /// `log`: warn for one line per compile that was not a hit, debug for more.
    pub(crate) log: LogLevel,
    pub(crate) connect_timeout: Duration,
    /// Waiting for a Lookup or Store answer.
    pub(crate) request_timeout: Duration,
    /// A broker we started, until it answers; also what a Route may take,
    /// since the broker may be spawning a daemon.
    pub(crate) spawn_timeout: Duration,
    /// `ZCCACHE_BROKER_EXE` (environment only, for tests): the broker
    /// binary, instead of the one next to us.
    pub(crate) broker_exe: Option<PathBuf>,
    /// Everything resolved, with origins and errors.
    pub(crate) settings: Settings,
}

impl Config {
    /// Reads the environment through `var` and the config files it points
    /// at (the user's, then the cache root's own, found from `cwd`).
    pub(crate) fn load(var: &dyn Fn(&str) -> Option<OsString>, cwd: Option<&Path>) -> Config {
        Config::load_with(var, cwd, &mut |s, path| s.apply_file(path))
    }

    /// `load` with the reading of each file through `apply_file`. The
    /// user's file is read once: its layer both finds the cache root (it
    /// may set `cache_dir`) and lies under the root's own file.
    fn load_with(
        var: &dyn Fn(&str) -> Option<OsString>,
        cwd: Option<&Path>,
        apply_file: &mut dyn FnMut(&mut Settings, &Path),
    ) -> Config {
        let user_files = settings::user_files(var);
        let mut files = Settings::defaults();
        for path in &user_files {
            apply_file(&mut files, path);
        }
        let mut user = files.clone();
        user.apply_env(var);
        let root_path = cwd.and_then(|cwd| {
            let env = router::CacheRootEnv {
                zccache_cache_dir: user.text("cache_dir").map(OsString::from),
                xdg_cache_home: var("XDG_CACHE_HOME"),
                home: var("HOME"),
            };
            router::choose_cache_root(&env, cwd).ok()
        });
        let settings = match &root_path {
            Some(root) => {
                // `files_for` is the user's files, then the root's own.
                for path in settings::files_for(var, root).iter().skip(user_files.len()) {
                    apply_file(&mut files, path);
                }
                files.apply_env(var);
                files
            }
            None => user,
        };
        Config::from_settings(settings, var("ZCCACHE_BROKER_EXE"))
    }

    fn from_settings(s: Settings, broker: Option<OsString>) -> Config {
        let millis = |key: &str| Duration::from_millis(s.number(key));
        Config {
            disabled: s.flag("disable"),
            log: match s.text("log") {
                Some("debug") => LogLevel::Debug,
                Some("warn") => LogLevel::Warn,
                _ => LogLevel::Off,
            },
            connect_timeout: millis("connect_timeout_ms"),
            request_timeout: millis("request_timeout_ms"),
            spawn_timeout: millis("spawn_timeout_ms"),
            broker_exe: broker.filter(|v| !v.is_empty()).map(PathBuf::from),
            settings: s,
        }
    }

    /// The daemon settings a Route hands to a daemon it starts: those the
    /// environment sets (the files the daemon reads itself, so that an
    /// edit reaches a running daemon).
    pub(crate) fn daemon_overrides(&self) -> Vec<(String, String)> {
        self.settings
            .iter()
            .filter(|s| s.spec.scope == Scope::Daemon && matches!(s.origin, Origin::Env(_)))
            .map(|s| (s.spec.key.to_owned(), s.value.raw()))
            .collect()
    }

    /// Lookup settings a config file sets and the environment does not, as
    /// the variables the daemon reads from the Lookup.
    pub(crate) fn lookup_additions(&self) -> Vec<(&'static str, String)> {
        self.settings
            .iter()
            .filter(|s| s.spec.scope == Scope::Lookup && matches!(s.origin, Origin::File { .. }))
            .map(|s| (s.spec.env, s.value.raw()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::load(
            &|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            None,
        )
    }

    #[test]
    fn defaults() {
        let c = load(&[]);
        assert!(!c.disabled);
        assert_eq!(c.log, LogLevel::Off);
        assert_eq!(c.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.spawn_timeout, Duration::from_secs(10));
        assert_eq!(c.broker_exe, None);
    }

    #[test]
    fn knobs() {
        assert!(load(&[("ZCCACHE_DISABLE", "1")]).disabled);
        assert!(load(&[("ZCCACHE_DISABLE", "Yes")]).disabled);
        assert!(load(&[("ZCCACHE_DISABLE", "true")]).disabled);
        assert!(!load(&[("ZCCACHE_DISABLE", "0")]).disabled);
        assert_eq!(load(&[("ZCCACHE_LOG", "1")]).log, LogLevel::Warn);
        assert_eq!(load(&[("ZCCACHE_LOG", "warn")]).log, LogLevel::Warn);
        assert_eq!(load(&[("ZCCACHE_LOG", "DEBUG")]).log, LogLevel::Debug);
        assert_eq!(load(&[("ZCCACHE_LOG", "0")]).log, LogLevel::Off);
        let c = load(&[("ZCCACHE_CONNECT_TIMEOUT_MS", "250")]);
        assert_eq!(c.connect_timeout, Duration::from_millis(250));
        let c = load(&[("ZCCACHE_REQUEST_TIMEOUT_MS", "junk")]);
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.settings.errors.len(), 1, "junk is reported, not used");
        let c = load(&[("ZCCACHE_SPAWN_TIMEOUT_MS", "20")]);
        assert_eq!(c.spawn_timeout, Duration::from_millis(20));
        let c = load(&[("ZCCACHE_BROKER_EXE", "/x/b")]);
        assert_eq!(c.broker_exe, Some("/x/b".into()));
        assert_eq!(load(&[("ZCCACHE_BROKER_EXE", "")]).broker_exe, None);
    }

    #[test]
    fn each_config_file_is_read_once_and_layered_in_order() {
        let dir = std::env::temp_dir().join(format!("zccache-config-once-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let user = dir.join("xdg").join("zccache").join("config.toml");
        let root = dir.join("root");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        // The user's file names the root; the root's own file overrides a
        // user setting; the environment overrides both.
        std::fs::write(
            &user,
            format!(
                "cache_dir = \"{}\"\nlog = \"warn\"\nconnect_timeout_ms = 111\nrequest_timeout_ms = 222\n",
                root.display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join(settings::ROOT_FILE),
            "connect_timeout_ms = 333\nrequest_timeout_ms = 444\n",
        )
        .unwrap();
        let vars: Vec<(&str, OsString)> = vec![
            ("XDG_CONFIG_HOME", dir.join("xdg").into()),
            ("ZCCACHE_REQUEST_TIMEOUT_MS", "555".into()),
        ];
        let var = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        let mut read: Vec<PathBuf> = Vec::new();
        let c = Config::load_with(&var, Some(&dir), &mut |s, path| {
            read.push(path.to_path_buf());
            s.apply_file(path)
        });
        assert_eq!(read, [user.clone(), root.join(settings::ROOT_FILE)]);
        assert_eq!(c.log, LogLevel::Warn);
        assert_eq!(c.connect_timeout, Duration::from_millis(333));
        assert_eq!(c.request_timeout, Duration::from_millis(555));
        assert_eq!(c.settings.files, read);
        assert!(c.settings.errors.is_empty(), "{:?}", c.settings.errors);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn daemon_settings_from_the_environment_are_handed_on_and_file_lookups_added() {
        let c = load(&[("ZCCACHE_MAX_SIZE", "1M"), ("ZCCACHE_LOG", "1")]);
        assert_eq!(
            c.daemon_overrides(),
            [("max_size".to_owned(), "1048576".to_owned())]
        );
        assert!(c.lookup_additions().is_empty());
    }
}
