//! Receiving each event once: senders retry, so receivers see the same event id again.
//!
//! [`Deduplicator::check_and_mark`] answers `true` the first time it sees an id (process the
//! event) and `false` for a repeat within the time-to-live (answer 200 and do nothing).
//! [`MemoryDeduplicator`] keeps ids in memory, bounded in count (least recently seen evicted
//! first) and in time.
//!
//! # A shared store
//!
//! Several receiver processes share one store. With Redis, one atomic command does it:
//!
//! ```text
//! SET webhook:seen:<event id> 1 NX EX 86400     → OK: first time; (nil): a duplicate
//! ```
//!
//! Implement [`Deduplicator`] over it; with SQL, an `INSERT ... ON CONFLICT DO NOTHING` on a
//! table keyed by the id, and a periodic delete of old rows, does the same.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use crate::Timestamp;

/// Remembers which event ids were already processed.
pub trait Deduplicator {
    /// `true` if `id` is new (and is now remembered), `false` if it was seen before.
    fn check_and_mark(&self, now: Timestamp, id: &str) -> bool;
}

/// An in-memory [`Deduplicator`]: at most `capacity` ids, each forgotten `ttl` after it was
/// last seen, the least recently seen evicted first when full. Thread-safe.
///
/// ```
/// use std::time::Duration;
/// use lms_webhooks::dedupe::{Deduplicator, MemoryDeduplicator};
/// use lms_webhooks::Timestamp;
///
/// let seen = MemoryDeduplicator::new(10_000, Duration::from_secs(86_400));
/// let now = Timestamp::now();
/// assert!(seen.check_and_mark(now, "evt_1"));   // process it
/// assert!(!seen.check_and_mark(now, "evt_1"));  // a retry: skip
/// ```
#[derive(Debug)]
pub struct MemoryDeduplicator {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// id → (last seen, recency tick)
    entries: HashMap<String, (Timestamp, u64)>,
    /// recency tick → id, oldest first
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl MemoryDeduplicator {
    /// At most `capacity` ids (at least 1), each remembered for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> MemoryDeduplicator {
        MemoryDeduplicator {
            capacity: capacity.max(1),
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data: keep going.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Deduplicator for MemoryDeduplicator {
    fn check_and_mark(&self, now: Timestamp, id: &str) -> bool {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.tick += 1;
        let tick = inner.tick;
        let fresh = match inner.entries.get_mut(id) {
            Some((seen, old_tick)) => {
                let expired = now.duration_since(*seen).is_some_and(|age| age > self.ttl);
                inner.order.remove(old_tick);
                *seen = now;
                *old_tick = tick;
                inner.order.insert(tick, id.to_owned());
                expired
            }
            None => {
                inner.entries.insert(id.to_owned(), (now, tick));
                inner.order.insert(tick, id.to_owned());
                true
            }
        };
        while inner.entries.len() > self.capacity {
            match inner.order.pop_first() {
                Some((_, oldest)) => {
                    inner.entries.remove(&oldest);
                }
                None => break,
            }
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix(secs).unwrap()
    }

    #[test]
    fn repeats_within_the_ttl_are_duplicates_and_expire_after() {
        let d = MemoryDeduplicator::new(10, Duration::from_secs(60));
        assert!(d.check_and_mark(at(0), "a"));
        assert!(!d.check_and_mark(at(30), "a"));
        assert!(!d.check_and_mark(at(89), "a")); // last seen at 30
        assert!(d.check_and_mark(at(200), "a"));
        assert!(d.check_and_mark(at(200), "b"));
    }

    #[test]
    fn the_least_recently_seen_is_evicted_first() {
        let d = MemoryDeduplicator::new(2, Duration::from_secs(600));
        assert!(d.check_and_mark(at(0), "a"));
        assert!(d.check_and_mark(at(1), "b"));
        assert!(!d.check_and_mark(at(2), "a")); // a is now the most recent
        assert!(d.check_and_mark(at(3), "c")); // evicts b
        assert_eq!(d.len(), 2);
        assert!(!d.check_and_mark(at(4), "a"));
        assert!(d.check_and_mark(at(5), "b"));
    }
}
