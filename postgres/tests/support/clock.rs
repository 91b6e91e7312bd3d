//! Fake clocks for the worker ([`Worker::with_clock`](lms_webhooks_postgres::Worker::with_clock)).

#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, Mutex};
use std::time::Instant;

use lms_webhooks::transport::Clock;
use lms_webhooks::Timestamp;

/// A clock that stands still until the test moves it.
#[derive(Clone)]
pub struct FakeClock(Arc<Mutex<Timestamp>>);

impl FakeClock {
    pub fn at(t: Timestamp) -> FakeClock {
        FakeClock(Arc::new(Mutex::new(t)))
    }

    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// A clock `factor` times as fast as the system's, from now: every retry delay passes
/// `factor` times sooner.
pub fn fast(factor: u32) -> impl Clock + Send + Sync + 'static {
    let (from, started) = (Timestamp::now(), Instant::now());
    move || from.saturating_add(started.elapsed().saturating_mul(factor))
}
