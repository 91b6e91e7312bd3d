//! A worker's writer of outcomes: attempts hand it their rows and wait; it writes whatever has
//! arrived meanwhile in one statement, as a database groups commits, and, while the queue has
//! more, claims the room those outcomes free in the same round trip.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lms_webhooks::transport::Transport;
use tokio::sync::{mpsc, oneshot, watch};

use crate::record::{write, Written};
use crate::StoreError;

use super::{Claimed, Counters, Slot, Slots, Worker};

/// Largest group written in one statement. A worker has one writer, one statement under way:
/// the outcomes that arrive while it writes make the next group (about 7 a statement where
/// two writers made 4, draining 10,000 deliveries with 8 slots: a third less PostgreSQL time
/// on writes, measured), and a worker leases ahead, so that a write's wait never idles the
/// wire.
const GROUP: usize = 64;

type Reply = oneshot::Sender<Result<bool, String>>;

/// Deliveries that a write's claim leased, each with the place it fills, for a dispatcher to
/// start.
pub(super) type Refill = Vec<(Claimed, Slot)>;

/// Where the dispatchers take the recorder's claims from (either of them, whichever waits).
pub(super) type Refills = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Refill>>>;

/// The writer's handle: attempts hand it their outcome, and their place.
#[derive(Clone)]
pub(super) struct Recorder {
    queue: mpsc::Sender<(Written, Slot, Reply)>,
}

/// What the writer shares with the dispatchers.
pub(super) struct Shared {
    pub(super) slots: Slots,
    /// Set once the worker stops: the writer then claims nothing more.
    pub(super) stop: watch::Receiver<bool>,
    pub(super) counters: Arc<Counters>,
    pub(super) refilling: Arc<Refilling>,
}

/// How long after the writer's last claim the dispatchers leave the claiming to it (and how
/// long they wait before they look again when they do).
pub(super) const RECENT: Duration = Duration::from_millis(50);

/// Who claims the room that ends of leases free: the writer, with each write, while the
/// queue has more; the dispatchers otherwise.
pub(super) struct Refilling {
    /// Whether the queue had due deliveries at the last look: a dispatcher's claim that leased
    /// something, or the writer's last claim. A write claims the room it frees while this
    /// holds. (Not "the last claim leased all it asked for": with a backlog, claims come back
    /// short because the endpoints are at their caps, and the write that ends some of those
    /// leases is exactly when there is room: draining 10,000 deliveries over 10 endpoints, the
    /// writer claimed with 22 of its 886 writes under that rule, and with all 487, leasing
    /// about 20 deliveries each, under this one. Nor does a dispatcher's claim that leased
    /// nothing clear it: it may have found every due endpoint at its cap.) Only the writer's
    /// claim that leases nothing clears it: then the freed places go back, and the dispatchers
    /// claim when something is due. A write in a quiet queue claims nothing, and the first
    /// write after a burst costs one claim that finds nothing due.
    busy: AtomicBool,
    /// When the writer last claimed, in microseconds since `epoch`.
    claimed_at: AtomicU64,
    epoch: Instant,
}

impl Refilling {
    pub(super) fn new() -> Refilling {
        Refilling {
            busy: AtomicBool::new(false),
            claimed_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// A dispatcher's claim leased `leased` deliveries.
    pub(super) fn claimed(&self, leased: usize) {
        if leased > 0 {
            self.busy.store(true, Ordering::Relaxed);
        }
    }

    fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }

    /// Whether the dispatchers leave the claiming to the writer now: the queue has more, and
    /// the writer claimed within [`RECENT`] (its writes come one after the other, and each
    /// claims the room it frees, where a dispatcher's claim, woken by the same ends of
    /// leases, would mostly find the endpoints at their caps: a third of the database's time
    /// draining a backlog went to such claims). When the writes slow down (slow endpoints,
    /// a quiet queue), the dispatchers claim again after [`RECENT`] at most.
    pub(super) fn by_writer(&self) -> bool {
        self.busy()
            && self
                .now()
                .saturating_sub(self.claimed_at.load(Ordering::Relaxed))
                < RECENT.as_micros() as u64
    }

    /// The writer's claim leased `leased` deliveries.
    fn writer_claimed(&self, leased: usize) {
        self.busy.store(leased > 0, Ordering::Relaxed);
        self.claimed_at.store(self.now(), Ordering::Relaxed);
    }

    /// Microseconds since `epoch`.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl<T: Transport + 'static> Worker<T> {
    /// Starts the worker's writer. It ends when the last [`Recorder`] is dropped, after writing
    /// what it was given.
    pub(super) fn start_recorder(&self, shared: Shared) -> (Recorder, Refills) {
        let (queue, mut incoming) = mpsc::channel::<(Written, Slot, Reply)>(GROUP * 4);
        let (sink, refills) = mpsc::unbounded_channel();
        let me = self.clone();
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(GROUP);
            while incoming.recv_many(&mut group, GROUP).await > 0 {
                let mut rows = Vec::with_capacity(group.len());
                let mut places = Vec::with_capacity(group.len());
                let mut replies = Vec::with_capacity(group.len());
                for (row, slot, reply) in group.drain(..) {
                    rows.push(row);
                    places.push(slot);
                    replies.push(reply);
                }
                let room = if shared.refilling.busy() && !*shared.stop.borrow() {
                    shared.slots.refill(places)
                } else {
                    // Given back: the dispatchers claim when they see them free.
                    drop(places);
                    Vec::new()
                };
                let result = match me.pool.acquire().await {
                    Ok(mut conn) if room.is_empty() => {
                        write(&mut conn, &rows).await.map(|ids| (ids, Vec::new()))
                    }
                    Ok(mut conn) => me.record_and_claim(&mut conn, &rows, room.len()).await,
                    Err(e) => Err(e.into()),
                };
                let result = result.map(|(written, claimed)| {
                    if !room.is_empty() {
                        let counters = &shared.counters;
                        counters.claims.fetch_add(1, Ordering::Relaxed);
                        counters
                            .claimed
                            .fetch_add(claimed.len() as u64, Ordering::Relaxed);
                        shared.refilling.writer_claimed(claimed.len());
                        // Places left unfilled are given back as they drop.
                        let refill: Refill = claimed.into_iter().zip(room).collect();
                        // Before the replies: the attempts that wait for them are still in
                        // flight, so a dispatcher is there to start these.
                        if !refill.is_empty() {
                            let _ = sink.send(refill);
                        }
                    }
                    written
                });
                for (row, reply) in rows.iter().zip(replies) {
                    let _ = reply.send(match &result {
                        Ok(ids) => Ok(ids.contains(&row.id())),
                        Err(e) => Err(e.to_string()),
                    });
                }
            }
        });
        (
            Recorder { queue },
            Arc::new(tokio::sync::Mutex::new(refills)),
        )
    }
}

impl Recorder {
    /// Writes `row` with the others waiting, and gives back (or fills again) the delivery's
    /// `place`; false when the lease was lost. A failed write (the database away) comes back
    /// as [`StoreError::Database`]: the lease then expires and the delivery is attempted again.
    pub(super) async fn write(&self, row: Written, place: Slot) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Database(sqlx::Error::WorkerCrashed);
        self.queue
            .send((row, place, reply))
            .await
            .map_err(|_| gone())?;
        match answer.await.map_err(|_| gone())? {
            Ok(written) => Ok(written),
            Err(message) => Err(StoreError::Database(sqlx::Error::Io(
                std::io::Error::other(message),
            ))),
        }
    }
}
