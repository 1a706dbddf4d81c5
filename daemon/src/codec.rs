//! A minimal little-endian binary writer and bounds-checked reader for the
//! daemon's own records (manifests, depfile metadata).
//!
//! The reader never allocates more than the input holds and returns `None`
//! on any truncation, so a corrupt record is a value, never a panic. It
//! knows no record layouts; those live with their owners.

pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    pub(crate) fn new() -> Enc {
        Enc(Vec::new())
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i128(&mut self, v: i128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    pub(crate) fn digest(&mut self, v: &[u8; 32]) {
        self.0.extend_from_slice(v);
    }
}

pub(crate) struct Dec<'a> {
    buf: &'a [u8],
}

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    pub(crate) fn i128(&mut self) -> Option<i128> {
        self.take(16)
            .map(|b| i128::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub(crate) fn digest(&mut self) -> Option<[u8; 32]> {
        self.take(32).and_then(|b| b.try_into().ok())
    }
    /// A count that must be plausible for the bytes left (each item takes at
    /// least `min_item` bytes), so a hostile count cannot drive allocation.
    pub(crate) fn count(&mut self, min_item: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.saturating_mul(min_item.max(1)) <= self.buf.len()).then_some(n)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_truncation() {
        let mut e = Enc::new();
        e.u32(7);
        e.bytes(b"abc");
        e.i128(-5);
        let mut d = Dec::new(&e.0);
        assert_eq!(d.u32(), Some(7));
        assert_eq!(d.bytes(), Some(&b"abc"[..]));
        assert_eq!(d.i128(), Some(-5));
        assert!(d.is_empty());
        let mut short = Dec::new(&e.0[..6]);
        assert_eq!(short.u32(), Some(7));
        assert_eq!(short.bytes(), None);
        let mut hostile = Dec::new(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(hostile.count(1), None);
    }
}
