//! Whole entries as one self-describing blob, for a second tier: export
//! reads an entry and its outputs (each verified against its digest), import
//! verifies a blob completely and then commits it through the ordinary
//! writer, so nothing unverified ever becomes visible. Does not know where
//! blobs go or come from, and does not sign them (the remote tier does).

use std::io::Read;

use super::error::{DeliverError, StoreError};
use super::format::{self, MAX_EXPORT_PAYLOAD};
use super::{Key, Store};

// The remote tier calls these; the engine wires it in later (issue 14).
#[cfg_attr(not(test), allow(dead_code))]
impl Store {
    /// The entry for `key` with its outputs, streams and extra bytes in one
    /// blob (`format::encode_export`). A missing entry, or one found damaged
    /// on the way (it is quarantined), is `Ok(None)`; an entry too large to
    /// export is `TooLarge`.
    pub(crate) fn export_entry(&self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(entry) = self.get(key)? else {
            return Ok(None);
        };
        let total = entry
            .outputs
            .iter()
            .fold(0u64, |sum, o| sum.saturating_add(o.size));
        if total > MAX_EXPORT_PAYLOAD as u64 {
            return Err(export_too_large());
        }
        let record = format::encode_entry(
            key,
            entry.exit_code,
            &entry.stdout,
            &entry.stderr,
            &entry.outputs,
            &entry.extra,
        )
        .ok_or_else(StoreError::entry_too_large)?;
        let mut blobs = Vec::with_capacity(entry.outputs.len());
        for (index, expected) in entry.outputs.iter().enumerate() {
            let read = self.open_blob(&entry, index).and_then(|(blob, path)| {
                let mut buf = Vec::with_capacity(expected.size as usize);
                (&blob)
                    .take(expected.size + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| DeliverError::io("read cached output", &path, e))?;
                let got = (buf.len() as u64, *blake3::hash(&buf).as_bytes());
                self.verify(&entry, index, got, &path)?;
                Ok(buf)
            });
            match read {
                Ok(buf) => blobs.push(buf),
                Err(DeliverError::Io { op, path, source }) => {
                    return Err(StoreError::Io { op, path, source })
                }
                // Gone or damaged (and now quarantined): nothing to export.
                Err(_) => return Ok(None),
            }
        }
        format::encode_export(&record, &blobs)
            .map(Some)
            .ok_or_else(export_too_large)
    }

    /// Verifies `blob` as an export of the entry `key` (framing, checksum,
    /// key, and the size and digest of every output) and only then commits
    /// it like a fresh store. A damaged or forged blob is `BadImport` and
    /// writes nothing; an entry already present is kept and is `Ok`.
    pub(crate) fn import_entry(&self, key: &Key, blob: &[u8]) -> Result<(), StoreError> {
        let (record, outputs) =
            format::decode_export(key, blob).map_err(|c| StoreError::BadImport { reason: c.0 })?;
        let mut writer = self.begin_entry()?;
        for (o, bytes) in record.outputs.iter().zip(outputs) {
            writer.add_output_bytes(&o.role, bytes)?;
        }
        writer.commit(
            key,
            record.exit_code,
            &record.stdout,
            &record.stderr,
            &record.extra,
        )?;
        Ok(())
    }
}

fn export_too_large() -> StoreError {
    StoreError::TooLarge {
        what: "exported entry",
        limit: MAX_EXPORT_PAYLOAD,
    }
}
