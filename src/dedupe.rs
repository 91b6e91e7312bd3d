//! Receiving each event once: senders retry, so receivers see the same event id again.
//!
//! [`Deduplicator::check_and_mark`] answers `true` the first time it sees an id in a scope
//! (process the event) and `false` for a repeat within the time-to-live (answer 200 and do
//! nothing). The scope is where the id comes from (a profile's name, an endpoint): two
//! platforms' ids never collide, whatever they look like.
//!
//! [`MemoryDeduplicator`] keeps ids in memory, bounded in count, in bytes and in time, the
//! least recently seen forgotten first; an id forgotten before its time-to-live (a flood of
//! new ids, or a store too small) is counted in [`DedupeStats::evicted_early`], so that it can
//! be alerted on: a retry of such an id would be processed again.
//!
//! # A shared store
//!
//! Several receiver processes share one store. `lms-webhooks-postgres` has one on
//! PostgreSQL (`PgDeduplicator`: `INSERT … ON CONFLICT DO NOTHING` with an expiry and a
//! purge). With Redis, one atomic command does it:
//!
//! ```text
//! SET webhook:seen:<scope>:<event id> 1 NX EX 86400     → OK: first time; (nil): a duplicate
//! ```
//!
//! Implement [`Deduplicator`] over it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use crate::Timestamp;

/// Remembers which event ids were already processed.
pub trait Deduplicator {
    /// `true` if `id` is new in `scope` (and is now remembered), `false` if it was seen there
    /// before, within the time-to-live.
    fn check_and_mark(&self, now: Timestamp, scope: &str, id: &str) -> bool;
}

/// A deduplication store that answers asynchronously and may fail: a database or Redis shared
/// by receivers on several machines (`lms-webhooks-postgres` implements it for PostgreSQL).
/// Every [`Deduplicator`] is one too, answering at once. The axum extractor takes either.
pub trait AsyncDeduplicator: Send + Sync {
    /// As [`Deduplicator::check_and_mark`]; an error when the store could not answer (the
    /// receiver should then answer 503, so that the sender retries).
    fn check_and_mark_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, DedupeError>> + Send + 'a>>;
}

impl<T: Deduplicator + Send + Sync> AsyncDeduplicator for T {
    fn check_and_mark_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, DedupeError>> + Send + 'a>> {
        let fresh = self.check_and_mark(now, scope, id);
        Box::pin(std::future::ready(Ok(fresh)))
    }
}

/// A shared deduplication store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the deduplication store could not answer: {0}")]
pub struct DedupeError(pub String);

/// An in-memory [`Deduplicator`]: at most `capacity` ids and [`MemoryDeduplicator::max_bytes`]
/// bytes, each forgotten `ttl` after it was last seen, the least recently seen forgotten first
/// when full. Thread-safe.
///
/// ```
/// use std::time::Duration;
/// use lms_webhooks::dedupe::{Deduplicator, MemoryDeduplicator};
/// use lms_webhooks::Timestamp;
///
/// let seen = MemoryDeduplicator::new(10_000, Duration::from_secs(86_400))
///     .with_max_bytes(4 << 20);
/// let now = Timestamp::now();
/// assert!(seen.check_and_mark(now, "learnomy", "evt_1"));   // process it
/// assert!(!seen.check_and_mark(now, "learnomy", "evt_1"));  // a retry: skip
/// assert!(seen.check_and_mark(now, "learnink", "evt_1"));   // another platform's evt_1
/// assert_eq!(seen.stats().evicted_early, 0);
/// ```
#[derive(Debug)]
pub struct MemoryDeduplicator {
    capacity: usize,
    max_bytes: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

/// How a [`MemoryDeduplicator`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DedupeStats {
    /// Ids remembered now.
    pub entries: usize,
    /// The memory they are counted for, in bytes (keys twice, and a fixed cost per entry).
    pub bytes: usize,
    /// Ids forgotten before their time-to-live to stay within the bounds: a retry of one of
    /// them would be processed again. Alert when it grows.
    pub evicted_early: u64,
    /// Ids forgotten after their time-to-live, as meant.
    pub expired: u64,
}

/// The bytes counted for one entry besides its key (held twice): the map and order entries,
/// the timestamps and the allocations' headers, rounded up.
const ENTRY_OVERHEAD: usize = 96;

#[derive(Debug, Default)]
struct Inner {
    /// key → (last seen, recency tick)
    entries: HashMap<String, (Timestamp, u64)>,
    /// recency tick → key, oldest first
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
    evicted_early: u64,
    expired: u64,
}

/// `scope` and `id` as one key, the scope's length first: no two pairs give the same key.
fn key(scope: &str, id: &str) -> String {
    let mut key = String::with_capacity(scope.len() + id.len() + 4);
    key.push_str(&scope.len().to_string());
    key.push(':');
    key.push_str(scope);
    key.push_str(id);
    key
}

fn cost(key: &str) -> usize {
    2 * key.len() + ENTRY_OVERHEAD
}

impl MemoryDeduplicator {
    /// At most `capacity` ids (at least 1), each remembered for `ttl`; at most 64 MiB unless
    /// [`with_max_bytes`](Self::with_max_bytes) says otherwise.
    pub fn new(capacity: usize, ttl: Duration) -> MemoryDeduplicator {
        MemoryDeduplicator {
            capacity: capacity.max(1),
            max_bytes: 64 << 20,
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// At most `bytes` of memory counted for the ids (see [`DedupeStats::bytes`]): long ids
    /// cannot grow the store past it.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: usize) -> MemoryDeduplicator {
        self.max_bytes = bytes;
        self
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries, bytes, and what was forgotten early or on time.
    pub fn stats(&self) -> DedupeStats {
        let inner = self.lock();
        DedupeStats {
            entries: inner.entries.len(),
            bytes: inner.bytes,
            evicted_early: inner.evicted_early,
            expired: inner.expired,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data: keep going.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, now: Timestamp, seen: Timestamp) -> bool {
        now.duration_since(seen).is_some_and(|age| age > self.ttl)
    }
}

impl Deduplicator for MemoryDeduplicator {
    fn check_and_mark(&self, now: Timestamp, scope: &str, id: &str) -> bool {
        let key = key(scope, id);
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.tick += 1;
        let tick = inner.tick;
        let fresh = match inner.entries.get_mut(&key) {
            Some((seen, old_tick)) => {
                let expired = self.expired(now, *seen);
                inner.order.remove(old_tick);
                *seen = now;
                *old_tick = tick;
                inner.order.insert(tick, key);
                expired
            }
            None => {
                inner.bytes += cost(&key);
                inner.entries.insert(key.clone(), (now, tick));
                inner.order.insert(tick, key);
                true
            }
        };
        // Forget, oldest first: what has expired anyway, then what the bounds do not hold.
        while let Some(entry) = inner.order.first_entry() {
            if *entry.key() == tick {
                break; // the id just marked stays, whatever its size
            }
            let seen = inner.entries.get(entry.get()).map(|e| e.0);
            let expired = seen.is_none_or(|seen| self.expired(now, seen));
            let over = inner.entries.len() > self.capacity || inner.bytes > self.max_bytes;
            if !expired && !over {
                break;
            }
            let oldest = entry.remove();
            if inner.entries.remove(&oldest).is_some() {
                inner.bytes = inner.bytes.saturating_sub(cost(&oldest));
                match expired {
                    true => inner.expired += 1,
                    false => inner.evicted_early += 1,
                }
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
        assert!(d.check_and_mark(at(0), "s", "a"));
        assert!(!d.check_and_mark(at(30), "s", "a"));
        assert!(!d.check_and_mark(at(89), "s", "a")); // last seen at 30
        assert!(d.check_and_mark(at(200), "s", "a"));
        assert!(d.check_and_mark(at(200), "s", "b"));
        assert_eq!(d.stats().evicted_early, 0);
    }

    #[test]
    fn the_least_recently_seen_is_evicted_first_and_counted() {
        let d = MemoryDeduplicator::new(2, Duration::from_secs(600));
        assert!(d.check_and_mark(at(0), "s", "a"));
        assert!(d.check_and_mark(at(1), "s", "b"));
        assert!(!d.check_and_mark(at(2), "s", "a")); // a is now the most recent
        assert!(d.check_and_mark(at(3), "s", "c")); // evicts b, young: counted
        assert_eq!(d.len(), 2);
        assert_eq!(d.stats().evicted_early, 1);
        assert!(!d.check_and_mark(at(4), "s", "a"));
        assert!(d.check_and_mark(at(5), "s", "b"));
    }

    #[test]
    fn scopes_keep_ids_apart_and_cannot_be_confused() {
        let d = MemoryDeduplicator::new(10, Duration::from_secs(600));
        assert!(d.check_and_mark(at(0), "learnomy", "evt_1"));
        assert!(d.check_and_mark(at(0), "learnink", "evt_1"));
        assert!(!d.check_and_mark(at(1), "learnomy", "evt_1"));
        // "ab" + "c" and "a" + "bc" are different pairs.
        assert!(d.check_and_mark(at(0), "ab", "c"));
        assert!(d.check_and_mark(at(0), "a", "bc"));
    }

    #[test]
    fn bytes_bound_the_store_and_expired_ids_go_first() {
        let d = MemoryDeduplicator::new(1_000_000, Duration::from_secs(60)).with_max_bytes(10_000);
        let long = "x".repeat(1_000);
        for i in 0..100 {
            d.check_and_mark(at(i), "s", &format!("{long}{i}"));
            assert!(d.stats().bytes <= 10_000, "{:?}", d.stats());
        }
        assert!(d.stats().evicted_early > 0);
        // Expired ids are dropped as time passes, and counted as such.
        let d = MemoryDeduplicator::new(100, Duration::from_secs(60));
        for i in 0..10 {
            d.check_and_mark(at(i), "s", &format!("e{i}"));
        }
        d.check_and_mark(at(1_000), "s", "late");
        assert_eq!(d.len(), 1);
        assert_eq!(d.stats().expired, 10);
        assert_eq!(d.stats().evicted_early, 0);
    }
}
