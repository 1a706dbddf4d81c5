//! The daemon's own settings (size limit, idle timeout): from the config files and overrides the request that started it named, re-read when a file changes, never from the environment the broker passed down. It does not apply them (main and the store do).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use settings::{Scope, Settings};

/// What the daemon was started with, and what it last saw of its files.
pub(crate) struct DaemonConfig {
    files: Vec<PathBuf>,
    overrides: Vec<(String, String)>,
    seen: Vec<Option<Stamp>>,
}

/// Enough of a file's metadata to notice an edit or a replacement.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl DaemonConfig {
    pub(crate) fn new(files: Vec<PathBuf>, overrides: Vec<(String, String)>) -> DaemonConfig {
        let seen = stamps(&files);
        DaemonConfig {
            files,
            overrides,
            seen,
        }
    }

    /// The settings now: defaults, the files, then the overrides. Settings
    /// other than the daemon's are left out of its errors: the wrapper
    /// reports those.
    pub(crate) fn load(&self) -> Settings {
        let mut s = Settings::defaults();
        for f in &self.files {
            s.apply_file(f);
        }
        for (key, value) in &self.overrides {
            if let Err(e) = s.set_from_request(key, value) {
                eprintln!("zccache-daemon: ignoring the setting {key}={value}: {e}");
            }
        }
        s.errors.retain(|e| {
            e.key
                .as_deref()
                .and_then(settings::spec_of)
                .is_none_or(|spec| spec.scope == Scope::Daemon)
        });
        s
    }

    /// Whether a file changed (appeared, went, was edited) since the last
    /// call or the start.
    pub(crate) fn changed(&mut self) -> bool {
        let now = stamps(&self.files);
        let changed = now != self.seen;
        self.seen = now;
        changed
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files
        .iter()
        .map(|f| {
            let md = std::fs::metadata(f).ok()?;
            Some(Stamp {
                ino: md.ino(),
                size: md.size(),
                mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
                ctime_ns: i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
            })
        })
        .collect()
}

/// The `key=value` lines of the settings file the broker wrote for this
/// daemon; the file is removed once read (it was for this start only).
pub(crate) fn read_settings_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("read the settings file {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(path);
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("{}: not key=value: {l}", path.display()))
        })
        .collect()
}

/// The settings as the status object shows them: each daemon setting's
/// value (exact) and origin, and what was wrong in the files.
pub(crate) fn status_fields(s: &Settings) -> serde_json::Map<String, serde_json::Value> {
    let mut shown = serde_json::Map::new();
    for setting in s.iter().filter(|x| x.spec.scope == Scope::Daemon) {
        // Secrets and URL passwords are masked: status ends up in CI logs.
        let text = setting.shown();
        let value = if text == setting.value.show(setting.spec.kind) {
            setting.value.raw()
        } else {
            text.clone()
        };
        shown.insert(
            setting.spec.key.into(),
            serde_json::json!({
                "value": value,
                "shown": text,
                "origin": setting.origin.to_string(),
            }),
        );
    }
    let mut m = serde_json::Map::new();
    m.insert("max_size".into(), s.number("max_size").into());
    m.insert("settings".into(), shown.into());
    m.insert(
        "config_errors".into(),
        s.errors
            .iter()
            .map(|e| serde_json::Value::from(e.to_string()))
            .collect::<Vec<_>>()
            .into(),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_then_overrides_and_an_edit_is_noticed() {
        let d = std::env::temp_dir().join(format!("zccache-dconfig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("zccache.toml");
        let mut c = DaemonConfig::new(
            vec![f.clone()],
            vec![
                ("idle_timeout".into(), "5".into()),
                ("remote_key".into(), "hunter2".into()),
                ("remote".into(), "redis://ci:hunter3@cache:6379/0".into()),
            ],
        );
        assert!(!c.changed());
        assert_eq!(c.load().number("max_size"), 10 << 30);
        std::fs::write(&f, "max_size = \"1M\"\nlog = \"debug\"\nbogus = 1\n").unwrap();
        assert!(c.changed());
        assert!(!c.changed());
        let s = c.load();
        assert_eq!(s.number("max_size"), 1 << 20);
        assert_eq!(s.number("idle_timeout"), 5);
        let fields = status_fields(&s);
        assert_eq!(
            fields["settings"]["idle_timeout"]["origin"],
            "the request that started the daemon"
        );
        assert_eq!(fields["max_size"], 1 << 20);
        assert_eq!(fields["settings"]["remote_key"]["value"], "(set)");
        assert!(!serde_json::Value::from(fields.clone())
            .to_string()
            .contains("hunter"));
        assert_eq!(
            fields["settings"]["remote"]["value"],
            "redis://ci:***@cache:6379/0"
        );
        assert_eq!(
            fields["config_errors"].as_array().unwrap().len(),
            1,
            "the unknown key; the wrapper's own settings are not the daemon's to report"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
