//! The byte format of remote values and their names: a head value per
//! manifest or entry (kind, key, length, content digest, optional
//! signature, and the content itself when it fits), the chunk values of a
//! large one, and the Redis key names (one hash tag per item so every value
//! of an item lives on one cluster node). Pure: no I/O, no counters.
//!
//! Head value (integers little-endian):
//!
//! ```text
//! head    = "ZRV1" kind key length chunk-size chunk-count digest mac-flag [mac] inline
//! kind    = u8                ; 1 manifest, 2 entry
//! key     = 32 bytes          ; the item's content key; must equal the key asked for
//! length  = u64               ; content length, ≤ MAX_CONTENT
//! chunk-size  = u32           ; 1..=MAX_CHUNK; every chunk but the last is this long
//! chunk-count = u32           ; 0: the content is `inline`; else ceil(length / chunk-size)
//! digest  = 32 bytes          ; blake3 of the whole content
//! mac-flag = u8               ; 0 unsigned, 1 followed by mac
//! mac     = 32 bytes          ; blake3 keyed hash (key derived from the secret) of
//!                             ; kind key length digest
//! inline  = the rest          ; the content when chunk-count is 0, else empty
//! ```
//!
//! Chunk `i` of an item is stored raw under a name that includes a prefix of
//! the digest, so two writers of different content for one key never mix
//! chunks; the head is written last.

/// What a remote item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ItemKind {
    Manifest = 1,
    Entry = 2,
}

const MAGIC: &[u8; 4] = b"ZRV1";
/// Fixed part of a head, before the optional mac and the inline content.
const HEAD_FIXED: usize = 4 + 1 + 32 + 8 + 4 + 4 + 32 + 1;
pub(super) const MAC_LEN: usize = 32;
/// Largest content accepted: a whole exported entry (256 MiB) and change.
pub(super) const MAX_CONTENT: u64 = 260 << 20;
/// Largest chunk a reader accepts, whatever the writer's setting.
pub(super) const MAX_CHUNK: usize = 64 << 20;
/// Largest head a reader accepts.
pub(super) const MAX_HEAD: usize = HEAD_FIXED + MAC_LEN + MAX_CHUNK;

/// Why a value was refused; shown to people, never branched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Malformed, filed under another key, or content not matching its digest.
    Corrupt(&'static str),
    /// A key is configured and the value carries no valid signature.
    BadSignature,
    /// A chunk the head names is gone (evicted, expired, or its write
    /// failed): a miss, not damage.
    ChunkMissing,
}

/// A decoded head.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) length: u64,
    pub(super) chunk_size: u32,
    pub(super) chunk_count: u32,
    pub(super) digest: [u8; 32],
    pub(super) inline: Vec<u8>,
}

/// The signing secret, as a blake3 key.
#[derive(Clone)]
pub(super) struct Signer([u8; 32]);

impl Signer {
    pub(super) fn new(secret: &str) -> Signer {
        Signer(blake3::derive_key(
            "zccache remote tier 2026 value signing",
            secret.as_bytes(),
        ))
    }

    fn mac(&self, kind: ItemKind, key: &[u8; 32], length: u64, digest: &[u8; 32]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(&[kind as u8]);
        h.update(key);
        h.update(&length.to_le_bytes());
        h.update(digest);
        *h.finalize().as_bytes()
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The name of an item's head value.
pub(super) fn head_name(kind: ItemKind, key: &[u8; 32]) -> String {
    let k = match kind {
        ItemKind::Manifest => 'm',
        ItemKind::Entry => 'e',
    };
    format!("zc1:{{{}}}:{k}", hex(key))
}

/// The name of chunk `index` of an item whose content has `digest`.
pub(super) fn chunk_name(key: &[u8; 32], digest: &[u8; 32], index: u32) -> String {
    format!("zc1:{{{}}}:c:{}:{index}", hex(key), hex(&digest[..8]))
}

/// Every value to write for `content`, the head last; chunks are at most
/// `chunk_size` bytes, and content fitting in one chunk goes inline.
pub(super) fn encode(
    kind: ItemKind,
    key: &[u8; 32],
    content: &[u8],
    chunk_size: usize,
    signer: Option<&Signer>,
) -> Vec<(String, Vec<u8>)> {
    let chunk_size = chunk_size.clamp(1, MAX_CHUNK);
    let digest = *blake3::hash(content).as_bytes();
    let length = content.len() as u64;
    let inline = content.len() <= chunk_size;
    let mut values = Vec::new();
    if !inline {
        for (i, c) in content.chunks(chunk_size).enumerate() {
            values.push((chunk_name(key, &digest, i as u32), c.to_vec()));
        }
    }
    let chunk_count = values.len() as u32;
    let mut head =
        Vec::with_capacity(HEAD_FIXED + MAC_LEN + if inline { content.len() } else { 0 });
    head.extend_from_slice(MAGIC);
    head.push(kind as u8);
    head.extend_from_slice(key);
    head.extend_from_slice(&length.to_le_bytes());
    head.extend_from_slice(&(chunk_size as u32).to_le_bytes());
    head.extend_from_slice(&chunk_count.to_le_bytes());
    head.extend_from_slice(&digest);
    match signer {
        Some(s) => {
            head.push(1);
            head.extend_from_slice(&s.mac(kind, key, length, &digest));
        }
        None => head.push(0),
    }
    if inline {
        head.extend_from_slice(content);
    }
    values.push((head_name(kind, key), head));
    values
}

/// Decodes and checks a head read for (`kind`, `key`). With a signer, a
/// missing or wrong signature is `BadSignature`, checked before any chunk
/// is fetched.
pub(super) fn decode_head(
    kind: ItemKind,
    key: &[u8; 32],
    value: &[u8],
    signer: Option<&Signer>,
) -> Result<Head, Refusal> {
    let corrupt = Refusal::Corrupt;
    if value.len() < HEAD_FIXED || value.len() > MAX_HEAD {
        return Err(corrupt("head of impossible length"));
    }
    if &value[..4] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    if value[4] != kind as u8 || value[5..37] != key[..] {
        return Err(corrupt("value filed under another item"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(value[at..at + 4].try_into().expect("4 bytes"));
    let length = u64::from_le_bytes(value[37..45].try_into().expect("8 bytes"));
    let chunk_size = u32_at(45);
    let chunk_count = u32_at(49);
    let digest: [u8; 32] = value[53..85].try_into().expect("32 bytes");
    let (mac, inline) = match value[85] {
        0 => (None, &value[HEAD_FIXED..]),
        1 if value.len() >= HEAD_FIXED + MAC_LEN => (
            Some(&value[HEAD_FIXED..HEAD_FIXED + MAC_LEN]),
            &value[HEAD_FIXED + MAC_LEN..],
        ),
        _ => return Err(corrupt("bad signature flag")),
    };
    if length > MAX_CONTENT || chunk_size == 0 || chunk_size as usize > MAX_CHUNK {
        return Err(corrupt("length or chunk size out of bounds"));
    }
    let expected_chunks = if chunk_count == 0 {
        0
    } else {
        length.div_ceil(u64::from(chunk_size))
    };
    let shape_ok = if chunk_count == 0 {
        inline.len() as u64 == length
    } else {
        inline.is_empty() && u64::from(chunk_count) == expected_chunks
    };
    if !shape_ok {
        return Err(corrupt("chunk layout disagrees with length"));
    }
    if let Some(signer) = signer {
        let good = mac.is_some_and(|m| m == signer.mac(kind, key, length, &digest));
        if !good {
            return Err(Refusal::BadSignature);
        }
    }
    Ok(Head {
        length,
        chunk_size,
        chunk_count,
        digest,
        inline: inline.to_vec(),
    })
}

impl Head {
    /// The names of this item's chunks, in order.
    pub(super) fn chunk_names(&self, key: &[u8; 32]) -> Vec<String> {
        (0..self.chunk_count)
            .map(|i| chunk_name(key, &self.digest, i))
            .collect()
    }

    /// The content: inline, or the chunks (in order, each of its exact
    /// length), checked against the digest.
    pub(super) fn assemble(self, chunks: Vec<Option<Vec<u8>>>) -> Result<Vec<u8>, Refusal> {
        let content = if self.chunk_count == 0 {
            self.inline
        } else {
            if chunks.len() != self.chunk_count as usize {
                return Err(Refusal::Corrupt("chunk count differs"));
            }
            let mut content = Vec::with_capacity(self.length as usize);
            for (i, chunk) in chunks.into_iter().enumerate() {
                let chunk = chunk.ok_or(Refusal::ChunkMissing)?;
                let want = (self.length - (i as u64) * u64::from(self.chunk_size))
                    .min(u64::from(self.chunk_size));
                if chunk.len() as u64 != want {
                    return Err(Refusal::Corrupt("chunk of wrong length"));
                }
                content.extend_from_slice(&chunk);
            }
            content
        };
        if *blake3::hash(&content).as_bytes() != self.digest {
            return Err(Refusal::Corrupt("content digest mismatch"));
        }
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];

    fn read(values: &[(String, Vec<u8>)], signer: Option<&Signer>) -> Result<Vec<u8>, Refusal> {
        let (head_name_, head) = values.last().unwrap();
        assert_eq!(*head_name_, head_name(ItemKind::Entry, &KEY));
        let head = decode_head(ItemKind::Entry, &KEY, head, signer)?;
        let chunks = head
            .chunk_names(&KEY)
            .iter()
            .map(|n| values.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
            .collect();
        head.assemble(chunks)
    }

    #[test]
    fn inline_and_chunked_round_trip() {
        let s = Signer::new("secret");
        for len in [0usize, 1, 99, 100, 101, 1000] {
            let content: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let values = encode(ItemKind::Entry, &KEY, &content, 100, Some(&s));
            assert_eq!(
                values.len(),
                if len <= 100 { 1 } else { 1 + len.div_ceil(100) }
            );
            assert!(values
                .iter()
                .all(|(_, v)| v.len() <= 100 + HEAD_FIXED + MAC_LEN));
            assert_eq!(read(&values, Some(&s)).unwrap(), content, "len {len}");
            assert_eq!(read(&values, None).unwrap(), content, "unsigned reader");
        }
    }

    #[test]
    fn signatures() {
        let content = b"object bytes".to_vec();
        let unsigned = encode(ItemKind::Entry, &KEY, &content, 100, None);
        let s = Signer::new("secret");
        assert_eq!(read(&unsigned, Some(&s)), Err(Refusal::BadSignature));
        let other = encode(
            ItemKind::Entry,
            &KEY,
            &content,
            100,
            Some(&Signer::new("other")),
        );
        assert_eq!(read(&other, Some(&s)), Err(Refusal::BadSignature));
        let mut forged = encode(ItemKind::Entry, &KEY, &content, 100, Some(&s));
        let head = &mut forged.last_mut().unwrap().1;
        let n = head.len();
        head[n - 1] ^= 1;
        assert_eq!(
            read(&forged, Some(&s)),
            Err(Refusal::Corrupt("content digest mismatch"))
        );
    }

    #[test]
    fn every_flip_and_truncation_is_refused() {
        let content: Vec<u8> = (0..250).map(|i| i as u8).collect();
        let s = Signer::new("k");
        let values = encode(ItemKind::Entry, &KEY, &content, 100, Some(&s));
        for v in 0..values.len() {
            for i in 0..values[v].1.len() {
                let mut g = values.clone();
                g[v].1[i] ^= 0x10;
                assert!(read(&g, Some(&s)).is_err(), "value {v} flip {i}");
                let in_mac =
                    v == values.len() - 1 && (HEAD_FIXED..HEAD_FIXED + MAC_LEN).contains(&i);
                // A reader without the secret cannot check the mac, and
                // the content it covers is still intact.
                assert_eq!(
                    read(&g, None).is_err(),
                    !in_mac,
                    "unsigned: value {v} flip {i}"
                );
            }
            let mut g = values.clone();
            g[v].1.pop();
            assert!(read(&g, None).is_err(), "value {v} truncated");
        }
    }

    #[test]
    fn a_value_moved_to_another_key_is_refused() {
        let values = encode(ItemKind::Manifest, &KEY, b"m", 100, None);
        let head = &values[0].1;
        assert_eq!(
            decode_head(ItemKind::Manifest, &[1; 32], head, None),
            Err(Refusal::Corrupt("value filed under another item"))
        );
        assert_eq!(
            decode_head(ItemKind::Entry, &KEY, head, None),
            Err(Refusal::Corrupt("value filed under another item"))
        );
    }
}
