//! A worker's slots: requests on the wire, and leased deliveries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A worker's slots: `n` requests on the wire at most, and `4 n` leased deliveries between the
/// claim and their written outcome. A worker leases ahead: the deliveries beyond the `n` on the
/// wire wait in the worker for a send slot (under their lease's heartbeat), so that a request
/// goes out as soon as another ends, and claims come in batches of `2 n` or more while the
/// wire is busy, instead of one delivery at a time.
pub(super) struct Slots {
    sending: Arc<Semaphore>,
    leased: Arc<Semaphore>,
    /// Leased deliveries waiting for a send slot.
    waiting: Arc<AtomicUsize>,
    /// The fewest free places worth a claim while deliveries wait for a send slot.
    batch: usize,
    /// Told whenever a slot frees up.
    pub(super) freed: Arc<Notify>,
}

impl Slots {
    pub(super) fn new(n: usize) -> Slots {
        Slots {
            sending: Arc::new(Semaphore::new(n)),
            leased: Arc::new(Semaphore::new(n * 4)),
            waiting: Arc::default(),
            batch: n * 2,
            freed: Arc::new(Notify::new()),
        }
    }

    /// Every free place, taken, when a claim is worth it: when no leased delivery waits for a
    /// send slot (a request could go out now), or when at least `2 n` places are free. Otherwise
    /// none: the deliveries already leased keep the wire busy meanwhile.
    pub(super) fn take_free(&self) -> Vec<Slot> {
        let free = self.leased.available_permits();
        if free == 0 || (free < self.batch && self.waiting.load(Ordering::SeqCst) > 0) {
            return Vec::new();
        }
        let mut taken = Vec::new();
        while let Ok(leased) = Arc::clone(&self.leased).try_acquire_owned() {
            taken.push(Slot {
                sending: None,
                leased: Some(leased),
                send_slots: Arc::clone(&self.sending),
                waiting: Arc::clone(&self.waiting),
                freed: Arc::clone(&self.freed),
            });
        }
        taken
    }
}

/// One claimed delivery's place: taken with the claim, joined by a send slot for its request,
/// and given back in two steps: once its request is answered, and once its outcome is written.
pub(super) struct Slot {
    sending: Option<OwnedSemaphorePermit>,
    leased: Option<OwnedSemaphorePermit>,
    send_slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    freed: Arc<Notify>,
}

impl Slot {
    /// Waits for a send slot (counted as waiting meanwhile).
    pub(super) async fn send_slot(&mut self) {
        if self.sending.is_some() {
            return;
        }
        /// Counts a waiter until dropped, even when the wait is abandoned.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let waiting = Waiting(&self.waiting);
        let permit = Arc::clone(&self.send_slots).acquire_owned().await;
        drop(waiting);
        // The semaphore is never closed.
        self.sending = permit.ok();
    }

    /// The request is answered: another may go out.
    pub(super) fn sent(&mut self) {
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
