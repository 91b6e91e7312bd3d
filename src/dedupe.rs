//! Receiving each event at least once, and handling it once: senders retry, so receivers see
//! the same event id again; a handler that fails must see it again too.
//!
//! Deduplication is three steps around the handler, never one mark before it:
//!
//! 1. [`Deduplicator::claim`] the id in its scope, with a lease. [`Claim::Claimed`]: run the
//!    handler. [`Claim::Done`]: the event was handled already; answer 200 and do nothing.
//!    [`Claim::InProgress`]: another copy is being handled right now; answer non-2xx with
//!    `Retry-After`, so that the sender tries again later.
//! 2. [`Deduplicator::commit`] once the handler succeeded: from then on, copies are
//!    [`Claim::Done`] for the time-to-live.
//! 3. Or [`Deduplicator::release`] when it failed (an error, a non-2xx answer, a panic): the
//!    next retry is [`Claim::Claimed`] and runs the handler again. A claim whose process died
//!    is neither committed nor released: it expires at the end of its lease.
//!
//! The scope is where the id comes from (a profile's name, an endpoint): two platforms' ids
//! never collide, whatever they look like. In an axum app,
//! [`WebhookReceiver::layer`](crate::axum::WebhookReceiver::layer) does all three.
//!
//! ```
//! use std::time::Duration;
//! use lms_webhooks::dedupe::{Claim, Deduplicator, MemoryDeduplicator};
//! use lms_webhooks::Timestamp;
//!
//! let seen = MemoryDeduplicator::new(10_000, Duration::from_secs(86_400));
//! let lease = Duration::from_secs(60);
//! let now = Timestamp::now();
//! // The first copy: handle it. The handler fails: release.
//! let Claim::Claimed(token) = seen.claim(now, "learnomy", "evt_1", lease) else { panic!() };
//! seen.release(now, "learnomy", "evt_1", token);
//! // The sender retries: handled again, and this time it succeeds: commit.
//! let Claim::Claimed(token) = seen.claim(now, "learnomy", "evt_1", lease) else { panic!() };
//! assert!(matches!(seen.claim(now, "learnomy", "evt_1", lease), Claim::InProgress { .. }));
//! seen.commit(now, "learnomy", "evt_1", token);
//! // Later copies are done; another platform's evt_1 is another event.
//! assert_eq!(seen.claim(now, "learnomy", "evt_1", lease), Claim::Done);
//! assert!(matches!(seen.claim(now, "learnink", "evt_1", lease), Claim::Claimed(_)));
//! ```
//!
//! [`MemoryDeduplicator`] keeps ids in memory, bounded in count, in bytes and in time, the
//! least recently seen forgotten first; an id forgotten before its time-to-live (a flood of
//! new ids, or a store too small) is counted in [`DedupeStats::evicted_early`], so that it can
//! be alerted on: a retry of such an id would be handled again.
//!
//! # A shared store
//!
//! Several receiver processes share one store. `lms-webhooks-postgres` has one on PostgreSQL
//! (`PgDeduplicator`, one statement per step). With Redis, one atomic command per step:
//!
//! ```text
//! claim:   SET webhook:<scope>:<id> claim:<token> NX PX <lease ms>   → OK: claimed
//!          else GET it: "done" → Done; "claim:…" → InProgress (PTTL: retry after)
//! commit:  SET webhook:<scope>:<id> done EX <ttl s>
//! release: a Lua script: DEL the key if it still holds claim:<token>
//! ```
//!
//! Implement [`AsyncDeduplicator`] over it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use crate::Timestamp;

/// Identifies one claim, so that only its holder releases it: a claim that expired and was
/// taken by another copy is not released by the first one's late failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken(u64);

impl ClaimToken {
    /// A token from its raw value (for stores that keep it).
    pub fn from_raw(raw: u64) -> ClaimToken {
        ClaimToken(raw)
    }

    /// The raw value.
    pub fn raw(self) -> u64 {
        self.0
    }
}

/// What [`Deduplicator::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// New (or released, or its last claim expired): handle it, then
    /// [`commit`](Deduplicator::commit) or [`release`](Deduplicator::release) with the token.
    Claimed(ClaimToken),
    /// Handled already, within the time-to-live: answer 200 and do nothing.
    Done,
    /// Another copy is being handled: answer non-2xx (the axum layer answers 409 with
    /// `Retry-After`), so that the sender tries again once the other copy is done.
    InProgress {
        /// How long until that claim's lease ends, at the latest.
        retry_after: Duration,
    },
}

/// Remembers which event ids are being handled, and which were handled. See the
/// [module docs](self) for the three steps.
pub trait Deduplicator {
    /// Claims `id` in `scope` for `lease` (see [`Claim`]).
    fn claim(&self, now: Timestamp, scope: &str, id: &str, lease: Duration) -> Claim;
    /// The handler succeeded: `id` is done for the time-to-live, whoever holds it now.
    fn commit(&self, now: Timestamp, scope: &str, id: &str, token: ClaimToken);
    /// The handler failed: forgets the claim, if `token` still holds it, so that the next copy
    /// is handled.
    fn release(&self, now: Timestamp, scope: &str, id: &str, token: ClaimToken);
}

/// A future that a shared store answers with.
pub type DedupeFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DedupeError>> + Send + 'a>>;

/// A deduplication store that answers asynchronously and may fail: a database or Redis shared
/// by receivers on several machines (`lms-webhooks-postgres` implements it for PostgreSQL).
/// Every [`Deduplicator`] is one too, answering at once. The axum layer takes either.
pub trait AsyncDeduplicator: Send + Sync {
    /// As [`Deduplicator::claim`]; an error when the store could not answer (the receiver
    /// should then answer 503, so that the sender retries).
    fn claim_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        lease: Duration,
    ) -> DedupeFuture<'a, Claim>;
    /// As [`Deduplicator::commit`].
    fn commit_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        token: ClaimToken,
    ) -> DedupeFuture<'a, ()>;
    /// As [`Deduplicator::release`].
    fn release_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        token: ClaimToken,
    ) -> DedupeFuture<'a, ()>;
}

impl<T: Deduplicator + Send + Sync> AsyncDeduplicator for T {
    fn claim_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        lease: Duration,
    ) -> DedupeFuture<'a, Claim> {
        Box::pin(std::future::ready(Ok(self.claim(now, scope, id, lease))))
    }

    fn commit_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        token: ClaimToken,
    ) -> DedupeFuture<'a, ()> {
        self.commit(now, scope, id, token);
        Box::pin(std::future::ready(Ok(())))
    }

    fn release_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        token: ClaimToken,
    ) -> DedupeFuture<'a, ()> {
        self.release(now, scope, id, token);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A shared deduplication store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the deduplication store could not answer: {0}")]
pub struct DedupeError(pub String);

/// An in-memory [`Deduplicator`]: at most `capacity` ids and [`MemoryDeduplicator::max_bytes`]
/// bytes; a handled id is forgotten `ttl` after it was committed, a claim at the end of its
/// lease, and the least recently seen first when full. Thread-safe; one process only (use a
/// shared store for several).
///
/// ```
/// use std::time::Duration;
/// use lms_webhooks::dedupe::{Claim, Deduplicator, MemoryDeduplicator};
/// use lms_webhooks::Timestamp;
///
/// let seen = MemoryDeduplicator::new(10_000, Duration::from_secs(86_400))
///     .with_max_bytes(4 << 20);
/// let (now, lease) = (Timestamp::now(), Duration::from_secs(60));
/// if let Claim::Claimed(token) = seen.claim(now, "learnomy", "evt_1", lease) {
///     // handle the event; it succeeded:
///     seen.commit(now, "learnomy", "evt_1", token);
/// }
/// assert_eq!(seen.claim(now, "learnomy", "evt_1", lease), Claim::Done); // a retry: skip
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
    /// Ids remembered now (claimed or done).
    pub entries: usize,
    /// The memory they are counted for, in bytes (keys twice, and a fixed cost per entry).
    pub bytes: usize,
    /// Ids forgotten before their time-to-live (or a claim before its lease ended) to stay
    /// within the bounds: a retry of one of them would be handled again. Alert when it grows.
    pub evicted_early: u64,
    /// Ids forgotten after their time-to-live, and claims after their lease, as meant.
    pub expired: u64,
}

/// The bytes counted for one entry besides its key (held twice): the map and order entries,
/// the timestamps and the allocations' headers, rounded up.
const ENTRY_OVERHEAD: usize = 96;

/// Where one id stands.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Being handled under `token` until `until`.
    Claimed { token: u64, until: Timestamp },
    /// Handled, committed at `at`.
    Done { at: Timestamp },
}

#[derive(Debug, Default)]
struct Inner {
    /// key → (state, recency tick)
    entries: HashMap<String, (State, u64)>,
    /// recency tick → key, oldest first
    order: BTreeMap<u64, String>,
    /// Counts every operation: recency, and the claims' tokens.
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
    /// At most `capacity` ids (at least 1), each handled one remembered for `ttl`; at most
    /// 64 MiB unless [`with_max_bytes`](Self::with_max_bytes) says otherwise.
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

    /// Whether `state` no longer counts at `now`: a claim past its lease, a handled id past
    /// its time-to-live.
    fn expired(&self, now: Timestamp, state: State) -> bool {
        match state {
            State::Claimed { until, .. } => now >= until,
            State::Done { at } => now.duration_since(at).is_some_and(|age| age > self.ttl),
        }
    }

    /// Sets `key`'s state (inserting it if new) as the most recently seen, then forgets what
    /// has expired and what the bounds do not hold, oldest first.
    fn put(&self, inner: &mut Inner, now: Timestamp, key: String, state: State) {
        inner.tick += 1;
        let tick = inner.tick;
        match inner.entries.get_mut(&key) {
            Some(entry) => {
                inner.order.remove(&entry.1);
                *entry = (state, tick);
            }
            None => {
                inner.bytes += cost(&key);
                inner.entries.insert(key.clone(), (state, tick));
            }
        }
        inner.order.insert(tick, key);
        while let Some(entry) = inner.order.first_entry() {
            if *entry.key() == tick {
                break; // the id just written stays, whatever its size
            }
            let state = inner.entries.get(entry.get()).map(|e| e.0);
            let expired = state.is_none_or(|state| self.expired(now, state));
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
    }
}

impl Deduplicator for MemoryDeduplicator {
    fn claim(&self, now: Timestamp, scope: &str, id: &str, lease: Duration) -> Claim {
        let key = key(scope, id);
        let mut inner = self.lock();
        let inner = &mut *inner;
        let current = inner.entries.get(&key).map(|e| e.0);
        let (state, answer) = match current {
            Some(state @ State::Done { .. }) if !self.expired(now, state) => (state, Claim::Done),
            Some(state @ State::Claimed { until, .. }) if !self.expired(now, state) => {
                let retry_after = until.duration_since(now).unwrap_or_default();
                (state, Claim::InProgress { retry_after })
            }
            _ => {
                let token = inner.tick + 1; // the tick `put` takes: unique in this store
                let until = now.saturating_add(lease);
                (
                    State::Claimed { token, until },
                    Claim::Claimed(ClaimToken(token)),
                )
            }
        };
        self.put(inner, now, key, state);
        answer
    }

    fn commit(&self, now: Timestamp, scope: &str, id: &str, _token: ClaimToken) {
        let mut inner = self.lock();
        self.put(&mut inner, now, key(scope, id), State::Done { at: now });
    }

    fn release(&self, _now: Timestamp, scope: &str, id: &str, token: ClaimToken) {
        let key = key(scope, id);
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(&(State::Claimed { token: held, .. }, tick)) = inner.entries.get(&key) {
            if held == token.0 {
                inner.entries.remove(&key);
                inner.order.remove(&tick);
                inner.bytes = inner.bytes.saturating_sub(cost(&key));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix(secs).unwrap()
    }

    const LEASE: Duration = Duration::from_secs(30);

    /// Claims and commits at once: how a handler that always succeeds uses the store.
    fn handle(d: &MemoryDeduplicator, now: i64, scope: &str, id: &str) -> bool {
        match d.claim(at(now), scope, id, LEASE) {
            Claim::Claimed(token) => {
                d.commit(at(now), scope, id, token);
                true
            }
            _ => false,
        }
    }

    #[test]
    fn handled_ids_are_done_within_the_ttl_and_expire_after() {
        let d = MemoryDeduplicator::new(10, Duration::from_secs(60));
        assert!(handle(&d, 0, "s", "a"));
        assert_eq!(d.claim(at(30), "s", "a", LEASE), Claim::Done);
        assert_eq!(d.claim(at(60), "s", "a", LEASE), Claim::Done);
        assert!(handle(&d, 200, "s", "a"));
        assert!(handle(&d, 200, "s", "b"));
        assert_eq!(d.stats().evicted_early, 0);
    }

    #[test]
    fn a_claim_is_in_progress_until_committed_released_or_expired() {
        let d = MemoryDeduplicator::new(10, Duration::from_secs(600));
        let Claim::Claimed(first) = d.claim(at(0), "s", "a", LEASE) else {
            panic!("new")
        };
        assert_eq!(
            d.claim(at(10), "s", "a", LEASE),
            Claim::InProgress {
                retry_after: Duration::from_secs(20)
            }
        );
        // Released (the handler failed): the next copy is handled.
        d.release(at(11), "s", "a", first);
        let Claim::Claimed(second) = d.claim(at(12), "s", "a", LEASE) else {
            panic!("released")
        };
        assert_ne!(first, second);
        // Its process died: neither commit nor release; the claim ends with its lease.
        assert!(matches!(
            d.claim(at(41), "s", "a", LEASE),
            Claim::InProgress { .. }
        ));
        let Claim::Claimed(third) = d.claim(at(42), "s", "a", LEASE) else {
            panic!("expired")
        };
        // The dead claim's late release does not free the live one.
        d.release(at(43), "s", "a", second);
        assert!(matches!(
            d.claim(at(44), "s", "a", LEASE),
            Claim::InProgress { .. }
        ));
        d.commit(at(45), "s", "a", third);
        assert_eq!(d.claim(at(46), "s", "a", LEASE), Claim::Done);
        // A release after the commit changes nothing.
        d.release(at(47), "s", "a", third);
        assert_eq!(d.claim(at(48), "s", "a", LEASE), Claim::Done);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn the_least_recently_seen_is_evicted_first_and_counted() {
        let d = MemoryDeduplicator::new(2, Duration::from_secs(600));
        assert!(handle(&d, 0, "s", "a"));
        assert!(handle(&d, 1, "s", "b"));
        assert!(!handle(&d, 2, "s", "a")); // a is now the most recent
        assert!(handle(&d, 3, "s", "c")); // evicts b, young: counted
        assert_eq!(d.len(), 2);
        assert_eq!(d.stats().evicted_early, 1);
        assert!(!handle(&d, 4, "s", "a"));
        assert!(handle(&d, 5, "s", "b"));
    }

    #[test]
    fn scopes_keep_ids_apart_and_cannot_be_confused() {
        let d = MemoryDeduplicator::new(10, Duration::from_secs(600));
        assert!(handle(&d, 0, "learnomy", "evt_1"));
        assert!(handle(&d, 0, "learnink", "evt_1"));
        assert!(!handle(&d, 1, "learnomy", "evt_1"));
        // "ab" + "c" and "a" + "bc" are different pairs.
        assert!(handle(&d, 0, "ab", "c"));
        assert!(handle(&d, 0, "a", "bc"));
    }

    #[test]
    fn bytes_bound_the_store_and_expired_ids_go_first() {
        let d = MemoryDeduplicator::new(1_000_000, Duration::from_secs(60)).with_max_bytes(10_000);
        let long = "x".repeat(1_000);
        for i in 0..100 {
            handle(&d, i, "s", &format!("{long}{i}"));
            assert!(d.stats().bytes <= 10_000, "{:?}", d.stats());
        }
        assert!(d.stats().evicted_early > 0);
        // Expired ids are dropped as time passes, and counted as such.
        let d = MemoryDeduplicator::new(100, Duration::from_secs(60));
        for i in 0..10 {
            handle(&d, i, "s", &format!("e{i}"));
        }
        handle(&d, 1_000, "s", "late");
        assert_eq!(d.len(), 1);
        assert_eq!(d.stats().expired, 10);
        assert_eq!(d.stats().evicted_early, 0);
    }
}
