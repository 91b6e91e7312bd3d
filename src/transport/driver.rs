//! Drivers that run a delivery to its end.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{AttemptError, BlockingTransport, Clock, Transport};
use crate::delivery::{Delivery, GiveUpReason, Next, RequestError, Target};
use crate::endpoint::{EndpointStatus, HealthChange, Registry};
use crate::Timestamp;

/// Where a driver finds each endpoint as it is now, and reports what happened to it.
///
/// Implemented for `Mutex<Registry>`; implement it over the host's own endpoint store.
pub trait Endpoints {
    /// The endpoint's settings at `now`, or `None` if it no longer exists.
    fn target(&self, now: Timestamp, endpoint_id: &str) -> Option<Arc<Target>>;

    /// An attempt to the endpoint ended at `now`: apply what it changes to the endpoint's
    /// health (failures, automatic `Failed`, 410 Gone → `Disabled`, "Last Triggered"), as
    /// [`Health::apply`](crate::endpoint::Health::apply) says.
    fn apply_health(&self, now: Timestamp, endpoint_id: &str, change: HealthChange);
}

impl Endpoints for Mutex<Registry> {
    fn target(&self, now: Timestamp, endpoint_id: &str) -> Option<Arc<Target>> {
        let registry = self.lock().unwrap_or_else(PoisonError::into_inner);
        registry.get(endpoint_id).map(|e| e.target(now))
    }

    fn apply_health(&self, now: Timestamp, endpoint_id: &str, change: HealthChange) {
        let mut registry = self.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(endpoint) = registry.get_mut(endpoint_id) {
            endpoint.apply_health(now, change);
        }
    }
}

impl<E: Endpoints + ?Sized> Endpoints for Arc<E> {
    fn target(&self, now: Timestamp, endpoint_id: &str) -> Option<Arc<Target>> {
        (**self).target(now, endpoint_id)
    }

    fn apply_health(&self, now: Timestamp, endpoint_id: &str, change: HealthChange) {
        (**self).apply_health(now, endpoint_id, change)
    }
}

/// How a driven delivery ended, or why the driver stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finished {
    /// Delivered.
    Done,
    /// Failed for good (the schedule ran out, 410 Gone, the endpoint disabled or deleted).
    GaveUp(GiveUpReason),
    /// The endpoint is paused or failed: the delivery is held, unchanged. Keep it and run it
    /// again once the endpoint is active.
    Held(EndpointStatus),
}

/// What one step of a driver did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Finished(Finished),
    RetryAt(Timestamp),
}

/// What there is to do for a delivery now. (Short-lived, one at a time: its size is no
/// concern.)
#[allow(clippy::large_enum_variant)]
enum Prepared {
    /// Send this request, built from this target.
    Send(http::Request<bytes::Bytes>, Arc<Target>),
    /// Nothing to send: the delivery ended or is held.
    Stop(Finished),
}

/// Builds the request from the endpoint as it is now.
fn prepare<E: Endpoints + ?Sized>(
    endpoints: &E,
    now: Timestamp,
    delivery: &mut Delivery,
) -> Result<Prepared, AttemptError> {
    let Some(target) = endpoints.target(now, delivery.endpoint_id()) else {
        delivery.end_for_deleted_endpoint(now);
        return Ok(Prepared::Stop(Finished::GaveUp(
            GiveUpReason::EndpointDeleted,
        )));
    };
    match delivery.next_request(now, &target) {
        Ok(request) => Ok(Prepared::Send(request, target)),
        Err(RequestError::Held { status }) => Ok(Prepared::Stop(Finished::Held(status))),
        Err(RequestError::Ended { reason }) => Ok(Prepared::Stop(Finished::GaveUp(reason))),
        Err(e) => Err(e.into()),
    }
}

fn finish<E: Endpoints + ?Sized>(
    endpoints: &E,
    now: Timestamp,
    delivery: &Delivery,
    next: Next,
) -> Step {
    let started = delivery.attempts().last().map_or(now, |a| a.started_at);
    endpoints.apply_health(now, delivery.endpoint_id(), HealthChange::of(started, next));
    match next {
        Next::Done => Step::Finished(Finished::Done),
        Next::GaveUp(reason) => Step::Finished(Finished::GaveUp(reason)),
        Next::RetryAt(at) => Step::RetryAt(at),
    }
}

/// How long until `due`, if it is later than `now`.
pub(crate) fn wait(now: Timestamp, due: Option<Timestamp>) -> Option<Duration> {
    due.and_then(|due| due.duration_since(now))
        .filter(|d| !d.is_zero())
}

/// Runs deliveries to their end, asynchronously: attempt, record, sleep until the next
/// attempt is due (with the sleep it is given: runtime-agnostic), again, with the endpoint's
/// current settings each time and its status kept up to date. Stops at a held endpoint
/// ([`Finished::Held`]). See [`ReqwestTransport`](super::ReqwestTransport) (feature `reqwest`)
/// for an example.
#[derive(Debug)]
pub struct Driver<'a, E: ?Sized, T: ?Sized, C: ?Sized> {
    endpoints: &'a E,
    transport: &'a T,
    clock: &'a C,
}

impl<'a, E, T, C> Driver<'a, E, T, C>
where
    E: Endpoints + ?Sized,
    T: Transport + ?Sized,
    C: Clock + ?Sized,
{
    /// A driver over these endpoints, this transport and this clock.
    pub fn new(endpoints: &'a E, transport: &'a T, clock: &'a C) -> Driver<'a, E, T, C> {
        Driver {
            endpoints,
            transport,
            clock,
        }
    }

    /// One attempt if the delivery can be sent now (whatever its due time).
    pub(crate) async fn step(&self, delivery: &mut Delivery) -> Result<Step, AttemptError> {
        let (request, target) = match prepare(self.endpoints, self.clock.now(), delivery)? {
            Prepared::Send(request, target) => (request, target),
            Prepared::Stop(end) => return Ok(Step::Finished(end)),
        };
        let outcome = self.transport.send(request).await;
        let now = self.clock.now();
        let next = delivery.record(now, &target, outcome)?;
        crate::trace::attempt(delivery, next);
        Ok(finish(self.endpoints, now, delivery, next))
    }

    /// Runs `delivery` until it is delivered, gives up, or its endpoint holds it: waits with
    /// `sleep` until each attempt is due, and calls `after_attempt` after each one (store the
    /// delivery there).
    pub async fn run<S, F>(
        &self,
        delivery: &mut Delivery,
        sleep: S,
        mut after_attempt: impl FnMut(&Delivery, Next),
    ) -> Result<Finished, AttemptError>
    where
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        loop {
            if let Some(pause) = wait(self.clock.now(), delivery.next_due()) {
                sleep(pause).await;
            }
            let attempts = delivery.attempt_count();
            let step = self.step(delivery).await?;
            if let Some(last) = delivery.attempts().last() {
                if delivery.attempt_count() > attempts {
                    after_attempt(delivery, last.next);
                }
            }
            if let Step::Finished(end) = step {
                return Ok(end);
            }
        }
    }
}

/// Runs deliveries to their end, blocking the thread: [`Driver`], with a blocking transport
/// and a sleep that blocks (`std::thread::sleep`).
#[derive(Debug)]
pub struct BlockingDriver<'a, E: ?Sized, T: ?Sized, C: ?Sized> {
    endpoints: &'a E,
    transport: &'a T,
    clock: &'a C,
}

impl<'a, E, T, C> BlockingDriver<'a, E, T, C>
where
    E: Endpoints + ?Sized,
    T: BlockingTransport + ?Sized,
    C: Clock + ?Sized,
{
    /// A driver over these endpoints, this transport and this clock.
    pub fn new(endpoints: &'a E, transport: &'a T, clock: &'a C) -> BlockingDriver<'a, E, T, C> {
        BlockingDriver {
            endpoints,
            transport,
            clock,
        }
    }

    /// [`Driver::run`], blocking: `sleep` is called with each wait (e.g. `std::thread::sleep`).
    pub fn run(
        &self,
        delivery: &mut Delivery,
        mut sleep: impl FnMut(Duration),
        mut after_attempt: impl FnMut(&Delivery, Next),
    ) -> Result<Finished, AttemptError> {
        loop {
            if let Some(pause) = wait(self.clock.now(), delivery.next_due()) {
                sleep(pause);
            }
            let (request, target) = match prepare(self.endpoints, self.clock.now(), delivery)? {
                Prepared::Send(request, target) => (request, target),
                Prepared::Stop(end) => return Ok(end),
            };
            let outcome = self.transport.send(request);
            let now = self.clock.now();
            let next = delivery.record(now, &target, outcome)?;
            crate::trace::attempt(delivery, next);
            after_attempt(delivery, next);
            if let Step::Finished(end) = finish(self.endpoints, now, delivery, next) {
                return Ok(end);
            }
        }
    }
}
