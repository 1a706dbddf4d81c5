//! The daemon identity record: its JSON form, parsing, and reading it from
//! the identity file together with who owns that file. Writing the file
//! (atomically) is the daemon's job, and judging a record is `verdict`'s.
//!
//! Format: one JSON object, UTF-8, at most [`MAX_IDENTITY_LEN`] bytes.
//!
//! ```text
//! field               JSON type   meaning
//! pid                 integer     1..=2147483647
//! start_time          integer     /proc/<pid>/stat field 22, clock ticks since boot
//! boot_id             string      /proc/sys/kernel/random/boot_id, trimmed
//! exe_path            path        the daemon's executable
//! exe_blake3          string      lowercase hex blake3 of that executable
//! package_version     string      the daemon's crate version
//! protocol_version    integer     0..=4294967295
//! endpoint            path        the socket the daemon serves
//! cache_root          path        canonical cache root
//! namespace           string      sanitized namespace
//! started_at_unix_ms  integer     wall clock at startup, for people
//! ```
//!
//! A `path` is a JSON string when the path is valid UTF-8 and otherwise an
//! array of its bytes, so any Unix path survives the round trip exactly.
//! Every field is required; unknown fields are ignored so that later
//! versions can add some. There is no version field: a record that lacks
//! a field this reader needs is invalid, which only ever means "stale".

use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The largest identity record accepted, file or probe reply.
pub const MAX_IDENTITY_LEN: usize = 64 * 1024;

/// Who a daemon is, as it published itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub pid: u32,
    pub start_time: u64,
    pub boot_id: String,
    pub exe_path: PathBuf,
    pub exe_blake3: String,
    pub package_version: String,
    pub protocol_version: u32,
    pub endpoint: PathBuf,
    pub cache_root: PathBuf,
    pub namespace: String,
    pub started_at_unix_ms: u64,
}

impl Identity {
    /// The record as pretty-printed JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut map = Map::new();
        map.insert("pid".into(), self.pid.into());
        map.insert("start_time".into(), self.start_time.into());
        map.insert("boot_id".into(), self.boot_id.clone().into());
        map.insert("exe_path".into(), path_to_json(&self.exe_path));
        map.insert("exe_blake3".into(), self.exe_blake3.clone().into());
        map.insert(
            "package_version".into(),
            self.package_version.clone().into(),
        );
        map.insert("protocol_version".into(), self.protocol_version.into());
        map.insert("endpoint".into(), path_to_json(&self.endpoint));
        map.insert("cache_root".into(), path_to_json(&self.cache_root));
        map.insert("namespace".into(), self.namespace.clone().into());
        map.insert("started_at_unix_ms".into(), self.started_at_unix_ms.into());
        let mut out = serde_json::to_vec_pretty(&Value::Object(map))
            .expect("a map of strings, integers and arrays always serializes");
        out.push(b'\n');
        out
    }

    /// Parses a record. Unknown fields are ignored; a missing or mistyped
    /// field is an error naming it.
    pub fn parse(bytes: &[u8]) -> Result<Identity, IdentityError> {
        if bytes.len() > MAX_IDENTITY_LEN {
            return Err(IdentityErrorKind::TooLarge.into());
        }
        let value: Value = serde_json::from_slice(bytes).map_err(IdentityErrorKind::NotJson)?;
        let Value::Object(map) = value else {
            return Err(IdentityErrorKind::NotAnObject.into());
        };
        let fields = Fields(&map);
        Ok(Identity {
            pid: fields.pid("pid")?,
            start_time: fields.u64("start_time")?,
            boot_id: fields.string("boot_id")?,
            exe_path: fields.path("exe_path")?,
            exe_blake3: fields.string("exe_blake3")?,
            package_version: fields.string("package_version")?,
            protocol_version: fields.u32("protocol_version")?,
            endpoint: fields.path("endpoint")?,
            cache_root: fields.path("cache_root")?,
            namespace: fields.string("namespace")?,
            started_at_unix_ms: fields.u64("started_at_unix_ms")?,
        })
    }
}

/// An identity record and the facts about the file it was read from, taken
/// from the opened file itself (`fstat`), so they describe the very bytes
/// that were parsed and not whatever sits at the path a moment later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFile {
    pub identity: Identity,
    /// The file's owner.
    pub owner: u32,
    /// The file's permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

/// Reads and parses an identity file. A missing file is
/// [`IdentityError::is_not_found`]; anything else that goes wrong names the
/// file. Who owns the file is not checked here; see [`read_identity_file`].
pub fn read_identity(path: &Path) -> Result<Identity, IdentityError> {
    read_identity_file(path).map(|file| file.identity)
}

/// Reads and parses an identity file, with its owner and mode. The file is
/// opened without following a symlink and without blocking on a FIFO, and
/// must be a regular file.
pub fn read_identity_file(path: &Path) -> Result<IdentityFile, IdentityError> {
    let at = |kind: IdentityErrorKind| IdentityError {
        path: Some(path.to_path_buf()),
        kind,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(at(IdentityErrorKind::NotFound))
        }
        Err(err) => return Err(at(IdentityErrorKind::Read(err))),
    };
    let meta = file
        .metadata()
        .map_err(|err| at(IdentityErrorKind::Read(err)))?;
    if !meta.is_file() {
        return Err(at(IdentityErrorKind::NotAFile));
    }
    let mut bytes = Vec::new();
    // One byte past the limit tells "at the limit" from "over it" without
    // reading an arbitrarily large file.
    file.take(MAX_IDENTITY_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| at(IdentityErrorKind::Read(err)))?;
    let identity = Identity::parse(&bytes).map_err(|err| at(err.kind))?;
    Ok(IdentityFile {
        identity,
        owner: meta.uid(),
        mode: meta.mode() & 0o7777,
    })
}

/// Why an identity record could not be had.
#[derive(Debug)]
pub struct IdentityError {
    path: Option<PathBuf>,
    kind: IdentityErrorKind,
}

/// What went wrong with an identity record.
#[derive(Debug)]
#[non_exhaustive]
pub enum IdentityErrorKind {
    /// The identity file does not exist.
    NotFound,
    /// The identity file exists but could not be read (a symlink is not
    /// followed and counts here).
    Read(io::Error),
    /// The identity file is not a regular file.
    NotAFile,
    /// The record is larger than [`MAX_IDENTITY_LEN`].
    TooLarge,
    /// The record is not JSON.
    NotJson(serde_json::Error),
    /// The record is JSON but not an object.
    NotAnObject,
    /// A required field is absent.
    MissingField(&'static str),
    /// A field has the wrong type or is out of range.
    BadField {
        field: &'static str,
        expected: &'static str,
    },
}

impl IdentityError {
    /// What went wrong.
    pub fn kind(&self) -> &IdentityErrorKind {
        &self.kind
    }

    /// The identity file, when the record came from one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The identity file does not exist (no daemon published one).
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, IdentityErrorKind::NotFound)
    }

    /// The field that is missing or invalid, if that is the problem.
    pub fn field(&self) -> Option<&'static str> {
        match self.kind {
            IdentityErrorKind::MissingField(field) | IdentityErrorKind::BadField { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

impl From<IdentityErrorKind> for IdentityError {
    fn from(kind: IdentityErrorKind) -> IdentityError {
        IdentityError { path: None, kind }
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "identity file {}", path.display())?,
            None => f.write_str("identity record")?,
        }
        match &self.kind {
            IdentityErrorKind::NotFound => f.write_str(" does not exist"),
            IdentityErrorKind::Read(_) => f.write_str(" could not be read"),
            IdentityErrorKind::NotAFile => f.write_str(" is not a regular file"),
            IdentityErrorKind::TooLarge => {
                write!(f, " is larger than {MAX_IDENTITY_LEN} bytes")
            }
            IdentityErrorKind::NotJson(_) => f.write_str(" is not valid json"),
            IdentityErrorKind::NotAnObject => f.write_str(" is not a json object"),
            IdentityErrorKind::MissingField(field) => write!(f, " lacks field `{field}`"),
            IdentityErrorKind::BadField { field, expected } => {
                write!(f, " has field `{field}` that is not {expected}")
            }
        }
    }
}

impl Error for IdentityError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            IdentityErrorKind::Read(err) => Some(err),
            IdentityErrorKind::NotJson(err) => Some(err),
            _ => None,
        }
    }
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, field: &'static str) -> Result<&Value, IdentityError> {
        self.0
            .get(field)
            .ok_or_else(|| IdentityErrorKind::MissingField(field).into())
    }

    fn u64(&self, field: &'static str) -> Result<u64, IdentityError> {
        self.get(field)?
            .as_u64()
            .ok_or_else(|| bad(field, "an unsigned 64-bit integer"))
    }

    fn u32(&self, field: &'static str) -> Result<u32, IdentityError> {
        self.get(field)?
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(field, "an unsigned 32-bit integer"))
    }

    /// Pid 0 and values beyond `i32::MAX` are refused here, because as a
    /// `kill` target they mean a whole process group or every process.
    fn pid(&self, field: &'static str) -> Result<u32, IdentityError> {
        self.get(field)?
            .as_u64()
            .filter(|&n| (1..=i32::MAX as u64).contains(&n))
            .map(|n| n as u32)
            .ok_or_else(|| bad(field, "a process id in 1..=2147483647"))
    }

    fn string(&self, field: &'static str) -> Result<String, IdentityError> {
        self.get(field)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad(field, "a string"))
    }

    fn path(&self, field: &'static str) -> Result<PathBuf, IdentityError> {
        path_from_json(self.get(field)?).ok_or_else(|| bad(field, "a path (string or byte array)"))
    }
}

fn bad(field: &'static str, expected: &'static str) -> IdentityError {
    IdentityErrorKind::BadField { field, expected }.into()
}

fn path_to_json(path: &Path) -> Value {
    match path.to_str() {
        Some(text) => Value::String(text.to_owned()),
        None => Value::Array(
            path.as_os_str()
                .as_bytes()
                .iter()
                .map(|&b| Value::from(b))
                .collect(),
        ),
    }
}

fn path_from_json(value: &Value) -> Option<PathBuf> {
    match value {
        Value::String(text) => Some(PathBuf::from(text)),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect::<Option<Vec<u8>>>()
            .map(|bytes| PathBuf::from(OsString::from_vec(bytes))),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) fn sample() -> Identity {
    Identity {
        pid: 4242,
        start_time: 987_654,
        boot_id: "6c1b5a8e-2f0d-4c39-9d0a-3b7f1e2d4c5a".into(),
        exe_path: "/usr/bin/zccache-daemon".into(),
        exe_blake3: "ab".repeat(32),
        package_version: "0.1.0".into(),
        protocol_version: 1,
        endpoint: "/run/user/1000/zccache/d-0123456789abcdef.sock".into(),
        cache_root: "/home/u/.cache/zccache".into(),
        namespace: "default".into(),
        started_at_unix_ms: 1_700_000_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let id = sample();
        assert_eq!(Identity::parse(&id.to_json()).unwrap(), id);
    }

    #[test]
    fn non_utf8_paths_round_trip() {
        let mut id = sample();
        id.cache_root = PathBuf::from(OsString::from_vec(b"/home/\xff\xfe/cache".to_vec()));
        let json = id.to_json();
        let value: Value = serde_json::from_slice(&json).unwrap();
        assert!(value["cache_root"].is_array());
        assert_eq!(Identity::parse(&json).unwrap(), id);
    }

    #[test]
    fn json_layout() {
        let value: Value = serde_json::from_slice(&sample().to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "pid": 4242,
                "start_time": 987654,
                "boot_id": "6c1b5a8e-2f0d-4c39-9d0a-3b7f1e2d4c5a",
                "exe_path": "/usr/bin/zccache-daemon",
                "exe_blake3": "ab".repeat(32),
                "package_version": "0.1.0",
                "protocol_version": 1,
                "endpoint": "/run/user/1000/zccache/d-0123456789abcdef.sock",
                "cache_root": "/home/u/.cache/zccache",
                "namespace": "default",
                "started_at_unix_ms": 1700000000000u64,
            })
        );
    }

    #[test]
    fn unknown_fields_ignored() {
        let mut value: Value = serde_json::from_slice(&sample().to_json()).unwrap();
        value["added_later"] = json!({"nested": [1, 2]});
        let parsed = Identity::parse(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(parsed, sample());
    }

    /// Replaces (or with `None`, removes) one field of the sample and
    /// checks the error.
    #[track_caller]
    fn check_field(field: &str, replacement: Option<Value>, expected: &str) {
        let mut value: Value = serde_json::from_slice(&sample().to_json()).unwrap();
        let map = value.as_object_mut().unwrap();
        match replacement {
            Some(v) => map.insert(field.to_owned(), v),
            None => map.remove(field),
        };
        let err = Identity::parse(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert_eq!(err.field(), Some(field));
        assert_eq!(err.to_string(), expected);
        assert!(!err.is_not_found());
    }

    #[test]
    fn bad_fields() {
        for field in [
            "pid",
            "start_time",
            "boot_id",
            "exe_path",
            "exe_blake3",
            "package_version",
            "protocol_version",
            "endpoint",
            "cache_root",
            "namespace",
            "started_at_unix_ms",
        ] {
            check_field(
                field,
                None,
                &format!("identity record lacks field `{field}`"),
            );
        }
        let not_pid = "identity record has field `pid` that is not a process id in 1..=2147483647";
        check_field("pid", Some(json!(0)), not_pid);
        check_field("pid", Some(json!(-1)), not_pid);
        check_field("pid", Some(json!(2147483648u64)), not_pid);
        check_field("pid", Some(json!("42")), not_pid);
        check_field("pid", Some(json!(42.5)), not_pid);
        check_field(
            "protocol_version",
            Some(json!(4294967296u64)),
            "identity record has field `protocol_version` that is not an unsigned 32-bit integer",
        );
        check_field(
            "start_time",
            Some(json!(null)),
            "identity record has field `start_time` that is not an unsigned 64-bit integer",
        );
        check_field(
            "boot_id",
            Some(json!(7)),
            "identity record has field `boot_id` that is not a string",
        );
        check_field(
            "endpoint",
            Some(json!([47, 256])),
            "identity record has field `endpoint` that is not a path (string or byte array)",
        );
    }

    #[track_caller]
    fn check_unparsable(bytes: &[u8], expected: &str) {
        let err = Identity::parse(bytes).unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert_eq!(err.field(), None);
    }

    #[test]
    fn unparsable() {
        check_unparsable(b"", "identity record is not valid json");
        check_unparsable(b"{\"pid\": 1", "identity record is not valid json");
        check_unparsable(b"[1, 2]", "identity record is not a json object");
        check_unparsable(b"null", "identity record is not a json object");
        check_unparsable(
            &vec![b' '; MAX_IDENTITY_LEN + 1],
            "identity record is larger than 65536 bytes",
        );
    }

    #[test]
    fn read_from_file() {
        let tmp = TempDir::new();
        let path = tmp.path().join("default.p1.json");

        let err = read_identity(&path).unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.path(), Some(path.as_path()));
        assert_eq!(
            err.to_string(),
            format!("identity file {} does not exist", path.display())
        );

        std::fs::write(&path, b"garbage").unwrap();
        let err = read_identity(&path).unwrap_err();
        assert!(!err.is_not_found());
        assert!(matches!(err.kind(), IdentityErrorKind::NotJson(_)));
        assert!(err.source().is_some());
        assert_eq!(
            err.to_string(),
            format!("identity file {} is not valid json", path.display())
        );

        std::fs::write(&path, vec![b' '; 10 * MAX_IDENTITY_LEN]).unwrap();
        let err = read_identity(&path).unwrap_err();
        assert!(matches!(err.kind(), IdentityErrorKind::TooLarge));

        std::fs::write(&path, sample().to_json()).unwrap();
        assert_eq!(read_identity(&path).unwrap(), sample());

        let err = read_identity(tmp.path()).unwrap_err();
        assert!(matches!(err.kind(), IdentityErrorKind::NotAFile), "{err:?}");
    }

    #[test]
    fn file_facts_come_with_the_record() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = TempDir::new();
        let path = tmp.path().join("default.p1.json");
        std::fs::write(&path, sample().to_json()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o622)).unwrap();
        let file = read_identity_file(&path).unwrap();
        assert_eq!(file.identity, sample());
        assert_eq!(file.owner, crate::euid());
        assert_eq!(file.mode, 0o622);

        // A symlink is not followed, however good its target.
        let link = tmp.path().join("link.p1.json");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let err = read_identity_file(&link).unwrap_err();
        assert!(matches!(err.kind(), IdentityErrorKind::Read(_)), "{err:?}");

        // A FIFO is refused without blocking on it.
        let fifo = tmp.path().join("fifo.p1.json");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path and a mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_identity_file(&fifo).unwrap_err();
        assert!(matches!(err.kind(), IdentityErrorKind::NotAFile), "{err:?}");
    }
}
