//! Domain-separated, tagged and length-prefixed key hashing.
//!
//! Every field is written as (tag, length, bytes) so `"ab","c"` never
//! collides with `"a","bc"`, and an absent value hashes differently from an
//! empty one. This module knows nothing about compilers; callers decide
//! which fields make up a key.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::domains::Domain;

#[derive(Clone)]
pub(crate) struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    /// A key of the kind `domain` (every domain is listed in `domains`).
    pub(crate) fn new(domain: Domain) -> KeyHasher {
        let mut h = KeyHasher(blake3::Hasher::new());
        h.bytes("domain", domain.as_str().as_bytes());
        h
    }

    pub(crate) fn bytes(&mut self, tag: &str, value: &[u8]) -> &mut Self {
        self.0.update(&(tag.len() as u32).to_le_bytes());
        self.0.update(tag.as_bytes());
        self.0.update(&[1]);
        self.0.update(&(value.len() as u64).to_le_bytes());
        self.0.update(value);
        self
    }

    pub(crate) fn os(&mut self, tag: &str, value: &OsStr) -> &mut Self {
        self.bytes(tag, value.as_bytes())
    }

    pub(crate) fn opt(&mut self, tag: &str, value: Option<&[u8]>) -> &mut Self {
        match value {
            Some(v) => self.bytes(tag, v),
            None => {
                self.0.update(&(tag.len() as u32).to_le_bytes());
                self.0.update(tag.as_bytes());
                self.0.update(&[0]);
                self
            }
        }
    }

    pub(crate) fn finish(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domains;

    #[test]
    fn fields_are_length_prefixed_and_absent_differs_from_empty() {
        let k = |f: &dyn Fn(&mut KeyHasher)| {
            let mut h = KeyHasher::new(domains::CC);
            f(&mut h);
            h.finish()
        };
        assert_ne!(
            k(&|h| {
                h.bytes("a", b"ab").bytes("a", b"c");
            }),
            k(&|h| {
                h.bytes("a", b"a").bytes("a", b"bc");
            })
        );
        assert_ne!(
            k(&|h| {
                h.opt("v", None);
            }),
            k(&|h| {
                h.opt("v", Some(b""));
            })
        );
        assert_ne!(
            KeyHasher::new(domains::CC).finish(),
            KeyHasher::new(domains::CC_RESULT).finish()
        );
    }
}
