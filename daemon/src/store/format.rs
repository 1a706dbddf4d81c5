//! Byte formats of the store's `entry` files and manifest files: framing,
//! encoding, and a decoder that treats every inconsistency as corruption.
//! Does no I/O and knows nothing of paths; the caller checks the file length
//! against the limits below before reading it into memory.
//!
//! Grammar (all integers little-endian):
//!
//! ```text
//! file            = magic version payload-len payload checksum
//! magic           = "ZCE\0"                 ; entry file
//!                 | "ZCM\0"                 ; manifest file
//! version         = u16                     ; FORMAT_VERSION, currently 1; any other value is corrupt
//! payload-len     = u32                     ; ≤ MAX_ENTRY_PAYLOAD (64 MiB) or MAX_MANIFEST_PAYLOAD (16 MiB);
//!                                           ; the file is exactly 10 + payload-len + 32 bytes long
//! checksum        = 32 bytes                ; blake3 of every byte before it
//!
//! entry-payload   = key exit-code stdout stderr output-count *output extra
//! key             = 32 bytes                ; must equal the key the file is filed under
//! exit-code       = i32
//! stdout          = bytes
//! stderr          = bytes
//! output-count    = u16                     ; ≤ MAX_OUTPUTS (64)
//! output          = role size digest        ; output n is stored raw in the file `out-<n>` beside `entry`
//! role            = u8 length (1..=32), then that many bytes of [A-Za-z0-9_.-],
//!                   not starting with '.', not containing ".."
//! size            = u64                     ; length of `out-<n>`
//! digest          = 32 bytes                ; blake3 of the contents of `out-<n>`
//! extra           = bytes                   ; opaque to the store
//! bytes           = u32 length, then that many bytes
//!
//! manifest-payload = key body               ; body: the rest of the payload, opaque to the store
//!
//! export          = "ZCX\0" version payload-len payload checksum
//!                                           ; payload-len ≤ MAX_EXPORT_PAYLOAD (256 MiB)
//! export-payload  = record *blob            ; one blob per output of the record, in order
//! record          = bytes                   ; a whole entry file, as above
//! blob            = bytes                   ; its size and blake3 must match the record's output
//! ```
//!
//! The payload must be consumed exactly: trailing bytes are corrupt.

use super::{Key, StoredOutput};

pub(super) const ENTRY_MAGIC: [u8; 4] = *b"ZCE\0";
pub(super) const MANIFEST_MAGIC: [u8; 4] = *b"ZCM\0";
pub(super) const FORMAT_VERSION: u16 = 1;
pub(super) const MAX_ENTRY_PAYLOAD: usize = 64 << 20;
pub(super) const MAX_MANIFEST_PAYLOAD: usize = 16 << 20;
pub(super) const MAX_OUTPUTS: usize = 64;
pub(super) const EXPORT_MAGIC: [u8; 4] = *b"ZCX\0";
pub(super) const MAX_EXPORT_PAYLOAD: usize = 256 << 20;
pub(super) const MAX_ROLE_LEN: usize = 32;

const HEADER_LEN: usize = 4 + 2 + 4;
const CHECKSUM_LEN: usize = 32;

/// Longest entry file a reader should load.
pub(super) const MAX_ENTRY_FILE: u64 = (HEADER_LEN + MAX_ENTRY_PAYLOAD + CHECKSUM_LEN) as u64;
/// Longest manifest file a reader should load.
pub(super) const MAX_MANIFEST_FILE: u64 = (HEADER_LEN + MAX_MANIFEST_PAYLOAD + CHECKSUM_LEN) as u64;

/// Why a file failed to decode; only ever shown to people, never branched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Corrupt(pub(super) &'static str);

/// The decoded contents of an entry file, without the key it was checked against.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) exit_code: i32,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    pub(super) outputs: Vec<StoredOutput>,
    pub(super) extra: Vec<u8>,
}

/// A role names a kind of output and appears in error messages; it must never
/// be usable as a path component that escapes or hides.
pub(super) fn valid_role(role: &str) -> bool {
    let b = role.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_ROLE_LEN
        && b[0] != b'.'
        && !role.contains("..")
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Encodes an entry file; `None` when the record exceeds a limit of the grammar.
pub(super) fn encode_entry(
    key: &Key,
    exit_code: i32,
    stdout: &[u8],
    stderr: &[u8],
    outputs: &[StoredOutput],
    extra: &[u8],
) -> Option<Vec<u8>> {
    if outputs.len() > MAX_OUTPUTS || !outputs.iter().all(|o| valid_role(&o.role)) {
        return None;
    }
    let outputs_len: usize = outputs.iter().map(|o| 1 + o.role.len() + 8 + 32).sum();
    let len =
        32 + 4 + (4 + stdout.len()) + (4 + stderr.len()) + 2 + outputs_len + (4 + extra.len());
    if len > MAX_ENTRY_PAYLOAD {
        return None;
    }
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&key.0);
    p.extend_from_slice(&exit_code.to_le_bytes());
    put_bytes(&mut p, stdout);
    put_bytes(&mut p, stderr);
    p.extend_from_slice(&(outputs.len() as u16).to_le_bytes());
    for o in outputs {
        p.push(o.role.len() as u8);
        p.extend_from_slice(o.role.as_bytes());
        p.extend_from_slice(&o.size.to_le_bytes());
        p.extend_from_slice(&o.digest);
    }
    put_bytes(&mut p, extra);
    Some(frame(ENTRY_MAGIC, &p))
}

pub(super) fn decode_entry(key: &Key, file: &[u8]) -> Result<Record, Corrupt> {
    let payload = unframe(ENTRY_MAGIC, MAX_ENTRY_PAYLOAD, file)?;
    let mut r = Reader(payload);
    if r.take(32)? != key.0 {
        return Err(Corrupt("entry filed under another key"));
    }
    let exit_code = i32::from_le_bytes(r.array()?);
    let stdout = r.bytes()?.to_vec();
    let stderr = r.bytes()?.to_vec();
    let count = usize::from(u16::from_le_bytes(r.array()?));
    if count > MAX_OUTPUTS {
        return Err(Corrupt("too many outputs"));
    }
    let mut outputs = Vec::with_capacity(count);
    for _ in 0..count {
        let role_len = usize::from(r.array::<1>()?[0]);
        let role = std::str::from_utf8(r.take(role_len)?)
            .ok()
            .filter(|role| valid_role(role))
            .ok_or(Corrupt("invalid output role"))?
            .to_owned();
        let size = u64::from_le_bytes(r.array()?);
        let digest = r.array()?;
        outputs.push(StoredOutput { role, size, digest });
    }
    let extra = r.bytes()?.to_vec();
    if !r.0.is_empty() {
        return Err(Corrupt("trailing bytes in payload"));
    }
    Ok(Record {
        exit_code,
        stdout,
        stderr,
        outputs,
        extra,
    })
}

/// Encodes a manifest file; `None` when the body exceeds the limit.
pub(super) fn encode_manifest(key: &Key, body: &[u8]) -> Option<Vec<u8>> {
    if 32 + body.len() > MAX_MANIFEST_PAYLOAD {
        return None;
    }
    let mut p = Vec::with_capacity(32 + body.len());
    p.extend_from_slice(&key.0);
    p.extend_from_slice(body);
    Some(frame(MANIFEST_MAGIC, &p))
}

pub(super) fn decode_manifest(key: &Key, file: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let payload = unframe(MANIFEST_MAGIC, MAX_MANIFEST_PAYLOAD, file)?;
    let mut r = Reader(payload);
    if r.take(32)? != key.0 {
        return Err(Corrupt("manifest filed under another key"));
    }
    Ok(r.0.to_vec())
}

/// Encodes an export: the entry file `record` and one blob per output.
/// `None` when the whole exceeds `MAX_EXPORT_PAYLOAD`.
pub(super) fn encode_export(record: &[u8], blobs: &[Vec<u8>]) -> Option<Vec<u8>> {
    let len = blobs
        .iter()
        .fold(4 + record.len(), |sum, b| sum.saturating_add(4 + b.len()));
    if len > MAX_EXPORT_PAYLOAD {
        return None;
    }
    let mut p = Vec::with_capacity(len);
    put_bytes(&mut p, record);
    for b in blobs {
        put_bytes(&mut p, b);
    }
    Some(frame(EXPORT_MAGIC, &p))
}

/// Decodes an export filed under `key` and checks every blob against the
/// size and digest its record gives, exactly as a local read would.
pub(super) fn decode_export<'a>(
    key: &Key,
    file: &'a [u8],
) -> Result<(Record, Vec<&'a [u8]>), Corrupt> {
    let payload = unframe(EXPORT_MAGIC, MAX_EXPORT_PAYLOAD, file)?;
    let mut r = Reader(payload);
    let record = decode_entry(key, r.bytes()?)?;
    let mut blobs = Vec::with_capacity(record.outputs.len());
    for o in &record.outputs {
        let blob = r.bytes()?;
        if blob.len() as u64 != o.size {
            return Err(Corrupt("output size differs from the record"));
        }
        if *blake3::hash(blob).as_bytes() != o.digest {
            return Err(Corrupt("output digest mismatch"));
        }
        blobs.push(blob);
    }
    if !r.0.is_empty() {
        return Err(Corrupt("trailing bytes in payload"));
    }
    Ok((record, blobs))
}

/// Wraps a payload in magic, version, length and checksum. Callers check the
/// payload limit first.
pub(super) fn frame(magic: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
    f.extend_from_slice(&magic);
    f.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    let sum = blake3::hash(&f);
    f.extend_from_slice(sum.as_bytes());
    f
}

fn unframe(magic: [u8; 4], max_payload: usize, file: &[u8]) -> Result<&[u8], Corrupt> {
    if file.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(Corrupt("file shorter than its header"));
    }
    let (body, sum) = file.split_at(file.len() - CHECKSUM_LEN);
    if body[..4] != magic {
        return Err(Corrupt("bad magic"));
    }
    if u16::from_le_bytes([body[4], body[5]]) != FORMAT_VERSION {
        return Err(Corrupt("unknown format version"));
    }
    let len = u32::from_le_bytes([body[6], body[7], body[8], body[9]]) as usize;
    if len > max_payload || len != body.len() - HEADER_LEN {
        return Err(Corrupt("payload length disagrees with file length"));
    }
    if blake3::hash(body).as_bytes()[..] != *sum {
        return Err(Corrupt("checksum mismatch"));
    }
    Ok(&body[HEADER_LEN..])
}

fn put_bytes(p: &mut Vec<u8>, b: &[u8]) {
    p.extend_from_slice(&(b.len() as u32).to_le_bytes());
    p.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if n > self.0.len() {
            return Err(Corrupt("field runs past the payload"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        let b = self.take(N)?;
        Ok(b.try_into().expect("take returned N bytes"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let len = u32::from_le_bytes(self.array()?) as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key([7; 32])
    }

    fn sample() -> Vec<u8> {
        let outputs = [
            StoredOutput {
                role: "object".into(),
                size: 3,
                digest: [1; 32],
            },
            StoredOutput {
                role: "dep-info.d".into(),
                size: 0,
                digest: [2; 32],
            },
        ];
        encode_entry(&key(), -3, b"out", b"err", &outputs, b"extra").unwrap()
    }

    #[test]
    fn entry_round_trip() {
        let rec = decode_entry(&key(), &sample()).unwrap();
        assert_eq!(rec.exit_code, -3);
        assert_eq!(rec.stdout, b"out");
        assert_eq!(rec.stderr, b"err");
        assert_eq!(rec.extra, b"extra");
        assert_eq!(rec.outputs.len(), 2);
        assert_eq!(rec.outputs[1].role, "dep-info.d");
        assert_eq!(rec.outputs[0].digest, [1; 32]);
    }

    #[test]
    fn manifest_round_trip() {
        let f = encode_manifest(&key(), b"body").unwrap();
        assert_eq!(decode_manifest(&key(), &f).unwrap(), b"body");
        assert_eq!(
            decode_manifest(&Key([8; 32]), &f),
            Err(Corrupt("manifest filed under another key"))
        );
        assert!(
            decode_entry(&key(), &f).is_err(),
            "a manifest is not an entry"
        );
    }

    #[test]
    fn every_truncation_is_corrupt() {
        let f = sample();
        for n in 0..f.len() {
            assert!(
                decode_entry(&key(), &f[..n]).is_err(),
                "prefix of {n} bytes decoded"
            );
        }
    }

    #[test]
    fn every_single_byte_flip_is_corrupt() {
        let f = sample();
        for i in 0..f.len() {
            let mut g = f.clone();
            g[i] ^= 0x20;
            assert!(decode_entry(&key(), &g).is_err(), "flip at {i} decoded");
        }
    }

    #[track_caller]
    fn check_role(role: &str, valid: bool) {
        assert_eq!(valid_role(role), valid, "role {role:?}");
    }

    #[test]
    fn roles() {
        for r in [
            "object", "depfile", "dwo", "gcno", "dia", "dep-info", "llvm_ir", "a.b",
        ] {
            check_role(r, true);
        }
        for r in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            ".hidden",
            "a..b",
            "tab\t",
            "é",
            &"x".repeat(33),
        ] {
            check_role(r, false);
        }
    }

    /// Payloads a hostile or buggy writer could produce, with a valid frame
    /// around them, so only the payload checks can catch them.
    #[track_caller]
    fn check_payload(payload: &[u8], reason: &'static str) {
        let f = frame(ENTRY_MAGIC, payload);
        assert_eq!(decode_entry(&key(), &f), Err(Corrupt(reason)));
    }

    fn payload_with(outputs: &[(&[u8], u64)], count: u16) -> Vec<u8> {
        let mut p = key().0.to_vec();
        p.extend_from_slice(&0i32.to_le_bytes());
        put_bytes(&mut p, b"");
        put_bytes(&mut p, b"");
        p.extend_from_slice(&count.to_le_bytes());
        for (role, size) in outputs {
            p.push(role.len() as u8);
            p.extend_from_slice(role);
            p.extend_from_slice(&size.to_le_bytes());
            p.extend_from_slice(&[0; 32]);
        }
        put_bytes(&mut p, b"");
        p
    }

    #[test]
    fn hostile_payloads() {
        check_payload(&payload_with(&[(b"../x", 1)], 1), "invalid output role");
        check_payload(&payload_with(&[(b"a/b", 1)], 1), "invalid output role");
        check_payload(&payload_with(&[(b"\xff\xfe", 1)], 1), "invalid output role");
        let many: Vec<(&[u8], u64)> = vec![(b"object", 1); 1000];
        check_payload(&payload_with(&many, 1000), "too many outputs");
        check_payload(&payload_with(&[], 3), "invalid output role");
        check_payload(&payload_with(&[], 0)[..40], "field runs past the payload");
        let mut p = payload_with(&[], 0);
        p.push(0);
        check_payload(&p, "trailing bytes in payload");
        let mut p = key().0.to_vec();
        p.extend_from_slice(&0i32.to_le_bytes());
        p.extend_from_slice(&u32::MAX.to_le_bytes());
        check_payload(&p, "field runs past the payload");
        let mut p = payload_with(&[], 0);
        p[0] ^= 1;
        check_payload(&p, "entry filed under another key");
    }

    #[test]
    fn hostile_frames() {
        let f = sample();
        let mut g = f.clone();
        g[4] = 2;
        assert_eq!(
            decode_entry(&key(), &g),
            Err(Corrupt("unknown format version"))
        );
        let mut g = f.clone();
        g[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_entry(&key(), &g),
            Err(Corrupt("payload length disagrees with file length"))
        );
        let mut g = f;
        g.extend_from_slice(&[0; 5]);
        assert!(decode_entry(&key(), &g).is_err());
    }

    #[test]
    fn limits_refuse_to_encode() {
        let too_many = vec![
            StoredOutput {
                role: "o".into(),
                size: 0,
                digest: [0; 32]
            };
            MAX_OUTPUTS + 1
        ];
        assert!(encode_entry(&key(), 0, b"", b"", &too_many, b"").is_none());
        let bad_role = [StoredOutput {
            role: "../o".into(),
            size: 0,
            digest: [0; 32],
        }];
        assert!(encode_entry(&key(), 0, b"", b"", &bad_role, b"").is_none());
        assert!(encode_entry(&key(), 0, &vec![0; MAX_ENTRY_PAYLOAD], b"", &[], b"").is_none());
        assert!(encode_manifest(&key(), &vec![0; MAX_MANIFEST_PAYLOAD]).is_none());
    }
}
