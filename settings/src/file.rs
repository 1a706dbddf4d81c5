//! Config files: reading one into settings with the line each came from, the error that names file, line and key, and rewriting one key in place. It does not decide which files apply (the crate root does).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::{spec_of, Spec, Value};

/// Something wrong in a config file or the environment; the setting it
/// names keeps its lower-layer value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `None` for an environment variable.
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// The key or environment variable, when one is to blame.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn at(path: &Path, line: usize, key: &str, message: &str) -> ConfigError {
        ConfigError {
            file: Some(path.to_path_buf()),
            line: Some(line),
            key: Some(key.to_owned()),
            message: message.to_owned(),
        }
    }

    pub(crate) fn env(name: &str, message: &str) -> ConfigError {
        ConfigError {
            file: None,
            line: None,
            key: Some(name.to_owned()),
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, _) => f.write_str("environment: ")?,
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One key of a file: its setting, value and line; or what is wrong.
pub(crate) type FileEntry = Result<(&'static Spec, Value, usize), ConfigError>;

/// The settings in the file at `path`; `None` when there is no file.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<FileEntry>>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // A cache root that is not a directory has no file in it; that the
        // root is unusable is said where the root is used.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(ConfigError {
                file: Some(path.to_path_buf()),
                line: None,
                key: None,
                message: format!("cannot read it: {e}"),
            })
        }
    };
    let table = DeTable::parse(&text).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: e.span().map(|s| line_of(&text, s.start)),
        key: None,
        message: e.message().to_owned(),
    })?;
    let mut keys: Vec<_> = table.get_ref().iter().collect();
    keys.sort_by_key(|(key, _)| key.span().start);
    let entries = keys
        .into_iter()
        .map(|(key, value)| {
            let line = line_of(&text, key.span().start);
            let name = key.get_ref().as_ref();
            let error = |message: &str| ConfigError::at(path, line, name, message);
            let spec = spec_of(name).ok_or_else(|| error("unknown key"))?;
            let raw = scalar(value.get_ref())
                .ok_or_else(|| error("must be a string, a whole number or true/false"))?;
            let value = Value::parse(spec.kind, &raw).map_err(|e| error(&e))?;
            Ok((spec, value, line))
        })
        .collect();
    Ok(Some(entries))
}

fn scalar(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) if i.radix() == 10 => Some(i.as_str().replace('_', "")),
        DeValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The 1-based line holding byte `at` of `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Sets `key = "value"` in the file at `path`, replacing the key's line if
/// it is there (comments and other keys are kept), creating the file (mode
/// 0600 through the umask) if it is not. The value is checked first, so
/// the file never gets a value the reader refuses.
pub fn set_in_file(path: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
    let fail = |message: String| ConfigError {
        file: Some(path.to_path_buf()),
        line: None,
        key: Some(key.to_owned()),
        message,
    };
    let spec = spec_of(key).ok_or_else(|| fail("unknown key".to_owned()))?;
    Value::parse(spec.kind, value).map_err(fail)?;
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(format!("cannot read it: {e}"))),
    };
    let line = format!("{key} = {}", quoted(value));
    let mut replaced = false;
    let mut lines: Vec<String> = old
        .lines()
        .map(|l| {
            if !replaced && assigns(l, key) {
                replaced = true;
                line.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !replaced {
        lines.push(line);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    DeTable::parse(&text).map_err(|e| fail(format!("would not parse after the edit: {e}")))?;
    let tmp = path.with_extension(format!("toml.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(format!("cannot write it: {e}"))
        })
}

/// Whether `line` is a top-level `key = …` (before any `[table]`).
fn assigns(line: &str, key: &str) -> bool {
    line.trim_start()
        .strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

fn quoted(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}
