//! A setting's value and how each [`Kind`] is spelled; no file or environment access.

use std::ffi::OsStr;

use crate::Kind;

/// A setting's value, normalized: `20G` and `21474836480` are one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Flag(bool),
    /// Bytes, seconds or milliseconds, by the setting's kind.
    Number(u64),
    /// Text; for `Log` and `Remap` the canonical word.
    Text(String),
}

impl Value {
    /// Reads `raw` as a `kind`, or says what is wrong with it.
    pub fn parse(kind: Kind, raw: &str) -> Result<Value, String> {
        let word = raw.trim();
        let lower = word.to_ascii_lowercase();
        match kind {
            Kind::Bool => match lower.as_str() {
                "" | "0" | "false" | "no" | "off" => Ok(Value::Flag(false)),
                "1" | "true" | "yes" | "on" => Ok(Value::Flag(true)),
                _ => Err(format!("{raw:?} is not a yes or no (true/false, 1/0)")),
            },
            Kind::Size => parse_size(word).map(Value::Number),
            Kind::Seconds | Kind::Millis => word
                .parse::<u64>()
                .map(Value::Number)
                .map_err(|_| format!("{raw:?} is not a whole number")),
            Kind::Log => Ok(Value::Text(
                match lower.as_str() {
                    "" | "0" | "off" | "false" | "no" => "off",
                    "debug" | "2" => "debug",
                    // Any other word asks for the fallback lines.
                    _ => "warn",
                }
                .to_owned(),
            )),
            Kind::Remap => match lower.as_str() {
                "" | "0" | "off" | "no" | "false" => Ok(Value::Text("off".to_owned())),
                "auto" | "1" | "on" => Ok(Value::Text("auto".to_owned())),
                _ => Err(format!("{raw:?} is neither off nor auto")),
            },
            Kind::Text => Ok(Value::Text(word.to_owned())),
        }
    }

    /// [`Value::parse`] for an environment value, which may not be UTF-8
    /// (only text settings may be, and those the wrapper reads raw).
    pub fn parse_os(kind: Kind, raw: &OsStr) -> Result<Value, String> {
        match raw.to_str() {
            Some(s) => Value::parse(kind, s),
            None => Err(format!("{raw:?} is not UTF-8")),
        }
    }

    pub fn number(&self) -> u64 {
        match self {
            Value::Number(n) => *n,
            Value::Flag(b) => u64::from(*b),
            Value::Text(_) => 0,
        }
    }

    pub fn flag(&self) -> bool {
        matches!(self, Value::Flag(true))
    }

    pub fn text(&self) -> &str {
        match self {
            Value::Text(t) => t,
            _ => "",
        }
    }

    /// Exactly, as [`Value::parse`] reads it back (sizes in bytes).
    pub fn raw(&self) -> String {
        match self {
            Value::Number(n) => n.to_string(),
            Value::Flag(b) => b.to_string(),
            Value::Text(t) => t.clone(),
        }
    }

    /// As a person would write it for `kind` (sizes in binary units).
    pub fn show(&self, kind: Kind) -> String {
        match (self, kind) {
            (Value::Number(n), Kind::Size) => show_size(*n),
            (Value::Number(n), _) => n.to_string(),
            (Value::Flag(b), _) => b.to_string(),
            (Value::Text(t), _) => t.clone(),
        }
    }
}

/// Bytes from `20G`, `500M`, `1.5G`, `64KiB`, `1024`: the suffixes are
/// binary (`K` = 1024) with an optional `i` and `B`, and a bare number is
/// bytes.
pub fn parse_size(raw: &str) -> Result<u64, String> {
    let s = raw.trim();
    let bad = || format!("{raw:?} is not a size (like 500M, 20G, 1TiB)");
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "ki" | "kb" | "kib" => 10,
        "m" | "mi" | "mb" | "mib" => 20,
        "g" | "gi" | "gb" | "gib" => 30,
        "t" | "ti" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Ok(u64::MAX);
    }
    Ok(bytes as u64)
}

/// Bytes in binary units with one decimal, exact below 1 KiB.
pub fn show_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
