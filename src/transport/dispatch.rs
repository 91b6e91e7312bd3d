//! Tokio conveniences (feature `tokio`): the driver's sleep, and a dispatcher that runs many
//! deliveries at once with bounded concurrency.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::driver::{wait, Driver, Endpoints, Finished, Step};
use super::{AttemptError, Clock, SystemClock, Transport};
use crate::delivery::Delivery;

/// Tokio's sleep, for [`Driver::run`].
pub async fn tokio_sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// How many attempts a [`dispatch`] makes at once: in all, and to any one endpoint, so that
/// one slow endpoint never takes every slot from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    total: usize,
    per_endpoint: usize,
}

impl Concurrency {
    /// At most `total` attempts at once, and a quarter of them (at least one) to one endpoint.
    pub fn new(total: usize) -> Concurrency {
        let total = total.max(1);
        Concurrency {
            total,
            per_endpoint: (total / 4).max(1),
        }
    }

    /// At most `limit` attempts at once to any one endpoint.
    #[must_use]
    pub fn with_per_endpoint(mut self, limit: usize) -> Concurrency {
        self.per_endpoint = limit.clamp(1, self.total);
        self
    }

    /// Attempts at once, in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Attempts at once, to one endpoint.
    pub fn per_endpoint(&self) -> usize {
        self.per_endpoint
    }
}

/// Runs every delivery (a fan-out's, say) to its end on the current tokio runtime: each in a
/// task of its own that sleeps until its next attempt is due without holding a slot, and
/// makes its attempts within the [`Concurrency`] limits. Returns the deliveries in the order
/// given, each with how it ended; store them.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(out: lms_webhooks::endpoint::FanOut, registry: std::sync::Mutex<lms_webhooks::Registry>) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lms_webhooks::transport::{dispatch, Concurrency, ReqwestTransport};
///
/// let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))?);
/// let ended = dispatch(out.deliveries, Arc::new(registry), transport, Concurrency::new(32)).await;
/// for (delivery, end) in ended {
///     println!("{} → {}: {:?}", delivery.event_id(), delivery.endpoint_id(), end);
/// }
/// # Ok(()) }
/// ```
pub async fn dispatch<E, T>(
    deliveries: Vec<Delivery>,
    endpoints: Arc<E>,
    transport: Arc<T>,
    limits: Concurrency,
) -> Vec<(Delivery, Result<Finished, AttemptError>)>
where
    E: Endpoints + Send + Sync + 'static,
    T: Transport + 'static,
{
    let total = Arc::new(Semaphore::new(limits.total));
    let mut per_endpoint: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let count = deliveries.len();
    for (index, mut delivery) in deliveries.into_iter().enumerate() {
        let mine = Arc::clone(
            per_endpoint
                .entry(delivery.endpoint_id().to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(limits.per_endpoint))),
        );
        let total = Arc::clone(&total);
        let endpoints = Arc::clone(&endpoints);
        let transport = Arc::clone(&transport);
        tasks.spawn(async move {
            let driver = Driver::new(&*endpoints, &*transport, &SystemClock);
            let end = loop {
                if let Some(pause) = wait(SystemClock.now(), delivery.next_due()) {
                    tokio::time::sleep(pause).await;
                }
                // The endpoint's slot first: waiting for a slow endpoint holds no global slot.
                let _endpoint_slot = mine.acquire().await.ok();
                let _slot = total.acquire().await.ok();
                match driver.step(&mut delivery).await {
                    Ok(Step::Finished(end)) => break Ok(end),
                    Ok(Step::RetryAt(_)) => continue,
                    Err(e) => break Err(e),
                }
            };
            (index, delivery, end)
        });
    }
    let mut ended: Vec<Option<(Delivery, Result<Finished, AttemptError>)>> =
        (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        // A task only ends by returning (nothing in it panics on input); a panic or abort
        // would lose its delivery, so it is re-raised rather than hidden.
        match joined {
            Ok((index, delivery, end)) => {
                if let Some(slot) = ended.get_mut(index) {
                    *slot = Some((delivery, end));
                }
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    ended.into_iter().flatten().collect()
}
