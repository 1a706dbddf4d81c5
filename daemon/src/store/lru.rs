//! In-memory size accounting and least-recently-used order of the store's
//! entries. Pure bookkeeping: does no I/O and is only ever touched under the
//! store's mutex, for a few map operations at a time.
//!
//! Recency is a logical clock, not wall time: the startup scan ranks entries
//! by their directory mtime once, and every later use takes the next tick, so
//! clock jumps in the daemon cannot reorder or mass-evict entries.

use std::collections::{BTreeSet, HashMap};

use super::Key;

#[derive(Default)]
pub(super) struct Lru {
    slots: HashMap<Key, Slot>,
    order: BTreeSet<(u64, Key)>,
    total: u64,
    clock: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    size: u64,
    used: u64,
}

impl Lru {
    /// Records `key` with `size` bytes as the most recently used entry.
    pub(super) fn insert(&mut self, key: Key, size: u64) {
        self.remove(&key);
        self.clock += 1;
        let used = self.clock;
        self.slots.insert(key, Slot { size, used });
        self.order.insert((used, key));
        self.total = self.total.saturating_add(size);
    }

    pub(super) fn remove(&mut self, key: &Key) -> bool {
        let Some(slot) = self.slots.remove(key) else {
            return false;
        };
        self.order.remove(&(slot.used, *key));
        self.total = self.total.saturating_sub(slot.size);
        true
    }

    /// Removes and returns the least recently used key other than `keep`.
    pub(super) fn pop_oldest(&mut self, keep: Option<&Key>) -> Option<Key> {
        let victim = self
            .order
            .iter()
            .map(|(_, k)| *k)
            .find(|k| Some(k) != keep)?;
        self.remove(&victim);
        Some(victim)
    }

    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.order.clear();
        self.total = 0;
    }

    pub(super) fn total(&self) -> u64 {
        self.total
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> Key {
        Key([n; 32])
    }

    #[test]
    fn oldest_first_and_reinsert_refreshes() {
        let mut lru = Lru::default();
        lru.insert(k(1), 10);
        lru.insert(k(2), 20);
        lru.insert(k(3), 30);
        lru.insert(k(1), 10);
        assert_eq!((lru.len(), lru.total()), (3, 60));
        assert_eq!(lru.pop_oldest(Some(&k(2))), Some(k(3)));
        assert_eq!(lru.pop_oldest(None), Some(k(2)));
        assert_eq!(lru.pop_oldest(Some(&k(1))), None);
        assert_eq!(lru.total(), 10);
        assert!(lru.remove(&k(1)) && !lru.remove(&k(1)));
        assert_eq!((lru.len(), lru.total()), (0, 0));
    }

    #[test]
    fn clear_resets() {
        let mut lru = Lru::default();
        lru.insert(k(1), u64::MAX);
        lru.insert(k(2), 5);
        assert_eq!(lru.total(), u64::MAX);
        lru.clear();
        assert_eq!((lru.len(), lru.total(), lru.pop_oldest(None)), (0, 0, None));
    }
}
