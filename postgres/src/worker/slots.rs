//! A worker's slots: requests on the wire, and leased deliveries.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How far ahead a worker leases, in time: as many deliveries as its requests send in this
/// long (by their recent duration), between `n` and `DEPTH n`.
const HORIZON: Duration = Duration::from_millis(20);

/// The most a worker leases, in multiples of its send slots.
const DEPTH: usize = 8;

/// A worker's slots: `n` requests on the wire at most, and leased deliveries between the claim
/// and their written outcome. A worker leases ahead: the deliveries beyond the `n` on the wire
/// wait in the worker for a send slot (under their lease's heartbeat), so that a request goes
/// out as soon as another ends, and claims come in batches instead of one delivery at a time.
/// How far ahead follows how fast requests go: when they take a millisecond, up to `8 n`; when
/// they take seconds, none beyond the `n` on the wire, so that a delivery is never leased to
/// wait behind slow requests while another worker, or the next claim, could send it.
#[derive(Clone)]
pub(super) struct Slots {
    n: usize,
    sending: Arc<Semaphore>,
    leased: Arc<Semaphore>,
    /// Leased deliveries waiting for a send slot.
    waiting: Arc<AtomicUsize>,
    /// Recent requests' duration, in microseconds (a moving average).
    send_micros: Arc<AtomicU64>,
    /// Told whenever a slot frees up.
    pub(super) freed: Arc<Notify>,
}

impl Slots {
    pub(super) fn new(n: usize) -> Slots {
        Slots {
            n,
            sending: Arc::new(Semaphore::new(n)),
            leased: Arc::new(Semaphore::new(n * DEPTH)),
            waiting: Arc::default(),
            // Until requests are timed: as if they took the horizon (lease twice the slots).
            send_micros: Arc::new(AtomicU64::new(HORIZON.as_micros() as u64)),
            freed: Arc::new(Notify::new()),
        }
    }

    /// How many deliveries this worker leases at most now: `n` on the wire, and as many more
    /// as its requests send within the horizon, up to `DEPTH n` in all.
    fn depth(&self) -> usize {
        let micros = self.send_micros.load(Ordering::Relaxed).max(1);
        let ahead = (self.n as u64).saturating_mul(HORIZON.as_micros() as u64) / micros;
        (self.n + usize::try_from(ahead).unwrap_or(usize::MAX)).min(self.n * DEPTH)
    }

    /// Free places, taken, when a claim is worth it: when no leased delivery waits for a send
    /// slot (a request could go out now), or when at least half the lease-ahead depth is free.
    /// Otherwise none: the deliveries already leased keep the wire busy meanwhile.
    pub(super) fn take_free(&self) -> Vec<Slot> {
        self.refill(Vec::new())
    }

    /// The places of deliveries whose outcomes are being written (`returned`), to be filled
    /// again by the claim that runs with the write, and more free places if the depth allows
    /// (the rule of [`Slots::take_free`], counting the returned places as free); the places
    /// that are not worth a claim are given back.
    pub(super) fn refill(&self, mut returned: Vec<Slot>) -> Vec<Slot> {
        let depth = self.depth();
        let held =
            (self.n * DEPTH - self.leased.available_permits()).saturating_sub(returned.len());
        let free = depth.saturating_sub(held);
        if free == 0 || (free < depth / 2 && self.waiting.load(Ordering::SeqCst) > 0) {
            return Vec::new();
        }
        returned.truncate(free);
        while returned.len() < free {
            let Ok(leased) = Arc::clone(&self.leased).try_acquire_owned() else {
                break;
            };
            returned.push(Slot {
                sending: None,
                sent_at: None,
                leased: Some(leased),
                send_slots: Arc::clone(&self.sending),
                waiting: Arc::clone(&self.waiting),
                send_micros: Arc::clone(&self.send_micros),
                freed: Arc::clone(&self.freed),
            });
        }
        returned
    }
}

/// One claimed delivery's place: taken with the claim, joined by a send slot for its request,
/// and given back in two steps: once its request is answered, and once its outcome is written.
pub(super) struct Slot {
    sending: Option<OwnedSemaphorePermit>,
    sent_at: Option<Instant>,
    leased: Option<OwnedSemaphorePermit>,
    send_slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    send_micros: Arc<AtomicU64>,
    freed: Arc<Notify>,
}

impl Slot {
    /// Waits for a send slot (counted as waiting meanwhile).
    pub(super) async fn send_slot(&mut self) {
        /// Counts a waiter until dropped, even when the wait is abandoned.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        if self.sending.is_some() {
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let waiting = Waiting(&self.waiting);
        let permit = Arc::clone(&self.send_slots).acquire_owned().await;
        drop(waiting);
        // The semaphore is never closed.
        self.sending = permit.ok();
        self.sent_at = Some(Instant::now());
    }

    /// The request is answered: another may go out.
    pub(super) fn sent(&mut self) {
        if let Some(at) = self.sent_at.take() {
            let took = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
            // A moving average over about the last eight requests; a race between two
            // updates loses one sample, which does not matter.
            let before = self.send_micros.load(Ordering::Relaxed);
            let after = before - before / 8 + took / 8;
            self.send_micros.store(after.max(1), Ordering::Relaxed);
        }
        self.sending = None;
        self.freed.notify_one();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The permits first, then the word: the dispatcher sees them free when it wakes.
        self.sending = None;
        self.leased = None;
        self.freed.notify_one();
    }
}
