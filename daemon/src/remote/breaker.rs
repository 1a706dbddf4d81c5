//! Circuit breakers: after `threshold` consecutive failures a bucket stops
//! admitting calls for `cooldown`, then lets one probe through; a success
//! closes it, a failure opens it again. A Redis Cluster gets one bucket per
//! range of hash slots, so a dead node stops only the calls that would go
//! to it. Also keeps the wall time during which any bucket was open. Does
//! not know what a call is.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Slot ranges per cluster breaker: 16384 slots / 64 buckets.
pub(super) const CLUSTER_BUCKETS: usize = 64;

#[derive(Clone, Copy, Default)]
struct Bucket {
    consecutive: u32,
    /// Set while open: when the next probe may go.
    retry_at: Option<Instant>,
    probing: bool,
}

struct State {
    buckets: Vec<Bucket>,
    open: usize,
    /// When the first currently open bucket opened.
    open_since: Option<Instant>,
    open_total: Duration,
}

pub(super) struct Breakers {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl Breakers {
    pub(super) fn new(buckets: usize, threshold: u32, cooldown: Duration) -> Breakers {
        Breakers {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State {
                buckets: vec![Bucket::default(); buckets.max(1)],
                open: 0,
                open_since: None,
                open_total: Duration::ZERO,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a call for `bucket` may go now; an open bucket past its
    /// cooldown admits exactly one probe.
    pub(super) fn admit(&self, bucket: usize) -> bool {
        let mut s = self.lock();
        let n = s.buckets.len();
        let b = &mut s.buckets[bucket % n];
        match b.retry_at {
            None => true,
            Some(at) if Instant::now() >= at && !b.probing => {
                b.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    pub(super) fn success(&self, bucket: usize) {
        let mut s = self.lock();
        let n = s.buckets.len();
        let b = &mut s.buckets[bucket % n];
        b.consecutive = 0;
        b.probing = false;
        if b.retry_at.take().is_some() {
            s.open -= 1;
            if s.open == 0 {
                if let Some(since) = s.open_since.take() {
                    s.open_total += since.elapsed();
                }
            }
        }
    }

    pub(super) fn failure(&self, bucket: usize) {
        let now = Instant::now();
        let mut s = self.lock();
        let n = s.buckets.len();
        let (threshold, cooldown) = (self.threshold, self.cooldown);
        let b = &mut s.buckets[bucket % n];
        b.consecutive = b.consecutive.saturating_add(1);
        b.probing = false;
        let newly_open = match b.retry_at {
            Some(_) => {
                b.retry_at = Some(now + cooldown);
                false
            }
            None if b.consecutive >= threshold => {
                b.retry_at = Some(now + cooldown);
                true
            }
            None => false,
        };
        if newly_open {
            s.open += 1;
            if s.open == 1 {
                s.open_since = Some(now);
            }
        }
    }

    /// How many buckets are open now.
    pub(super) fn open_buckets(&self) -> usize {
        self.lock().open
    }

    /// Wall time during which at least one bucket was open, so far.
    pub(super) fn open_time(&self) -> Duration {
        let s = self.lock();
        s.open_total + s.open_since.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// The cluster hash slot of a Redis key (CRC16/XMODEM of its hash tag).
pub(super) fn slot(key: &str) -> u16 {
    let b = key.as_bytes();
    let tagged = b
        .iter()
        .position(|&c| c == b'{')
        .and_then(|open| {
            let close = b[open + 1..].iter().position(|&c| c == b'}')?;
            (close > 0).then(|| &b[open + 1..open + 1 + close])
        })
        .unwrap_or(b);
    let mut crc: u16 = 0;
    for &byte in tagged {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_after_cooldown_and_closes_on_success() {
        let b = Breakers::new(2, 3, Duration::from_millis(50));
        for _ in 0..2 {
            assert!(b.admit(0));
            b.failure(0);
        }
        assert!(b.admit(0), "below the threshold");
        b.failure(0);
        assert!(!b.admit(0), "open");
        assert!(b.admit(1), "another bucket is unaffected");
        assert_eq!(b.open_buckets(), 1);
        let start = Instant::now();
        while !b.admit(0) {
            assert!(start.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!b.admit(0), "one probe at a time");
        b.failure(0);
        assert!(!b.admit(0), "a failed probe reopens");
        while !b.admit(0) {
            std::thread::sleep(Duration::from_millis(5));
        }
        b.success(0);
        assert!(b.admit(0) && b.admit(0), "closed");
        assert_eq!(b.open_buckets(), 0);
        assert!(b.open_time() >= Duration::from_millis(100));
    }

    #[test]
    fn slots_match_redis() {
        // Values from the Redis Cluster specification.
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("bar"), 5061);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        // CRC16/XMODEM's check value.
        assert_eq!(slot("123456789"), 0x31C3);
    }
}
