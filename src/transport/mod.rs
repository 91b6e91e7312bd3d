//! Sending requests: the [`Transport`] trait (async) and its [`BlockingTransport`] twin, the
//! name resolution that applies the URL policy where the connection is made ([`resolve`]),
//! drivers that run one attempt ([`attempt`]) or a delivery to its end ([`Driver`],
//! [`BlockingDriver`]), and behind features the real clients and the tokio conveniences:
//!
//! | feature | what |
//! |---|---|
//! | `ureq` | `UreqTransport`: blocking, rustls |
//! | `reqwest` | `ReqwestTransport`: async, rustls (turns on `tokio`) |
//! | `tokio` | `tokio_sleep` for [`Driver::run`], and `dispatch`: a fan-out's deliveries at once, with bounded concurrency in all and per endpoint |
//!
//! A transport turns a request into an [`Outcome`] and never fails otherwise: timeouts and
//! connection errors are outcomes too, so that the delivery records them and retries. It must
//! not follow redirects (a 3xx is a failed attempt) and should bound the time of one attempt.
//! Both shipped transports also refuse, at connect time, every address the [`UrlPolicy`]
//! refuses (DNS rebinding), read at most [`Outcome::MAX_EXCERPT`] bytes of a response, and
//! ignore proxies from the environment unless the host opts in.
//!
//! A long-running driver is one way to deliver; a job queue that stores the delivery after
//! each attempt and runs it again at [`Next::RetryAt`] is the other, and survives restarts.
//! The drivers' `after_attempt` hook is where a host stores the delivery between the two.

use std::future::Future;

use bytes::Bytes;
use http::Request;

use crate::delivery::{Delivery, Next, Outcome, RecordError, RequestError, Target};
#[cfg(doc)]
use crate::endpoint::UrlPolicy;
use crate::Timestamp;

/// Sends one request asynchronously. Implement it over the host's HTTP client.
///
/// # Examples
///
/// A transport that answers from memory, for tests (a real one wraps an HTTP client and
/// turns its errors into [`Outcome::Error`] or [`Outcome::Timeout`]):
///
/// ```
/// use bytes::Bytes;
/// use lms_webhooks::delivery::{Delivery, Next, Outcome, Target};
/// use lms_webhooks::endpoint::UrlPolicy;
/// use lms_webhooks::transport::{attempt, Transport};
/// use lms_webhooks::{Secret, Timestamp};
///
/// struct AlwaysOk;
///
/// impl Transport for AlwaysOk {
///     async fn send(&self, _request: http::Request<Bytes>) -> Outcome {
///         Outcome::status(200)
///     }
/// }
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// let target = Target::new(UrlPolicy::new().check("https://crm.example.com/in")?)
///     .with_secret(Secret::generate_standard()?);
/// let mut d = Delivery::new(Timestamp::now(), "evt_1", "ep_crm", &b"{}"[..]);
/// let next = block_on(attempt(&mut d, &target, &AlwaysOk, &Timestamp::now))?;
/// assert_eq!(next, Next::Done);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Transport: Send + Sync {
    /// Sends `request` and reports what happened.
    fn send(&self, request: Request<Bytes>) -> impl Future<Output = Outcome> + Send;
}

/// Sends one request, blocking the thread until the outcome is known.
pub trait BlockingTransport {
    /// Sends `request` and reports what happened.
    fn send(&self, request: Request<Bytes>) -> Outcome;
}

/// Where the driver reads the time; [`SystemClock`] in production, a fake in tests.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

impl<F: Fn() -> Timestamp> Clock for F {
    fn now(&self) -> Timestamp {
        self()
    }
}

/// Why [`attempt`] made no attempt, or could not record it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttemptError {
    /// No request was built (held, ended, in flight, finished, or not signable).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The outcome could not be recorded.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Runs one attempt to `target` (the endpoint as it is now): build the request, send it,
/// record the outcome.
///
/// The returned [`Next`] tells the host what to schedule; persist the delivery first.
pub async fn attempt<T: Transport + ?Sized, C: Clock + ?Sized>(
    delivery: &mut Delivery,
    target: &Target,
    transport: &T,
    clock: &C,
) -> Result<Next, AttemptError> {
    let request = delivery.next_request(clock.now(), target)?;
    let outcome = transport.send(request).await;
    let next = delivery.record(clock.now(), target, outcome)?;
    crate::trace::attempt(delivery, next);
    Ok(next)
}

/// [`attempt`], blocking.
pub fn attempt_blocking<T: BlockingTransport + ?Sized, C: Clock + ?Sized>(
    delivery: &mut Delivery,
    target: &Target,
    transport: &T,
    clock: &C,
) -> Result<Next, AttemptError> {
    let request = delivery.next_request(clock.now(), target)?;
    let outcome = transport.send(request);
    let next = delivery.record(clock.now(), target, outcome)?;
    crate::trace::attempt(delivery, next);
    Ok(next)
}

mod driver;
mod resolve;

pub use driver::{BlockingDriver, Driver, Endpoints, Finished};
pub use resolve::{resolve, Lookup, ResolveError};

#[cfg(feature = "tokio")]
mod dispatch;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use dispatch::{dispatch, tokio_sleep, Concurrency};

#[cfg(feature = "reqwest")]
mod reqwest_transport;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest_transport::{ClientError, ReqwestTransport};

#[cfg(feature = "ureq")]
mod ureq_transport;

#[cfg(feature = "ureq")]
#[cfg_attr(docsrs, doc(cfg(feature = "ureq")))]
pub use ureq_transport::UreqTransport;
