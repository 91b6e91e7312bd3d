//! A worker's slots: requests on the wire, and leased deliveries.

use std::sync::Arc;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A worker's slots: `n` requests on the wire at most, and `2 n` leased deliveries between
/// the claim and their written outcome (a request may go out while earlier outcomes are being
/// written).
pub(super) struct Slots {
    sending: Arc<Semaphore>,
    leased: Arc<Semaphore>,
    /// Told whenever a slot frees up.
    pub(super) freed: Arc<Notify>,
}

impl Slots {
    pub(super) fn new(n: usize) -> Slots {
        Slots {
            sending: Arc::new(Semaphore::new(n)),
            leased: Arc::new(Semaphore::new(n * 2)),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Every slot free now, taken.
    pub(super) fn take_free(&self) -> Vec<Slot> {
        let mut taken = Vec::new();
        while let (Ok(sending), Ok(leased)) = (
            Arc::clone(&self.sending).try_acquire_owned(),
            Arc::clone(&self.leased).try_acquire_owned(),
        ) {
            taken.push(Slot {
                sending: Some(sending),
                leased: Some(leased),
                freed: Arc::clone(&self.freed),
            });
        }
        taken
    }
}

/// One claimed delivery's place, given back in two steps: once its request is
/// answered, and once its outcome is written.
pub(super) struct Slot {
    sending: Option<OwnedSemaphorePermit>,
    leased: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl Slot {
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
