//! One event to every endpoint that wants it, serialized once.

use std::sync::Arc;

use super::{Endpoint, EndpointStatus, EventFilter};
use crate::delivery::Delivery;
use crate::profile::Layout;
use crate::{Envelope, EnvelopeError, Timestamp};

/// The deliveries one event makes.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FanOut {
    /// For `Active` endpoints: send them now.
    pub deliveries: Vec<Delivery>,
    /// For `Paused` and `Failed` endpoints: keep them, and send them once the endpoint is
    /// active again. Nothing is dropped.
    pub held: Vec<Delivery>,
    /// Subscribed endpoints that get nothing (`Disabled`).
    pub skipped: Vec<Skipped>,
}

/// A subscribed endpoint that got no delivery, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The endpoint.
    pub endpoint_id: String,
    /// Its status.
    pub status: EndpointStatus,
}

/// Makes one delivery per subscribed endpoint.
///
/// The envelope is serialized once per body layout in use (once in all when every endpoint
/// takes the canonical envelope) and the bytes are shared by every delivery of that layout (no
/// copy per endpoint). Each delivery carries its endpoint's id and no secret: its attempts
/// are built from the endpoint as it is when they are made ([`Endpoint::request`]).
///
/// ```
/// use lms_webhooks::endpoint::{fan_out, Endpoint, EventFilter, UrlPolicy};
/// use lms_webhooks::{Envelope, Event, EventType, Timestamp};
///
/// let now = Timestamp::from_unix(1_800_000_000)?;
/// let policy = UrlPolicy::new();
/// let (crm, _secret) = Endpoint::create(now, "ep_crm", "https://crm.example.com/in", &policy)?;
/// let (lms, _) = Endpoint::create(now, "ep_lms", "https://lms.example.org/h", &policy)?;
/// let lms = lms.with_filter(EventFilter::parse(["course.*"])?);
///
/// let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
/// let out = fan_out(now, &sale, &[crm, lms])?;
/// assert_eq!(out.deliveries.len(), 1); // the course-only endpoint does not want a sale
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fan_out(
    now: Timestamp,
    envelope: &Envelope,
    endpoints: &[Endpoint],
) -> Result<FanOut, EnvelopeError> {
    fan_out_to(now, envelope, endpoints)
}

/// What a fan-out reads of an endpoint: its id, status, subscriptions and body layout. No
/// secret, key or URL: a store can keep it in plain columns and publish without opening the
/// endpoints' sealed settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Subscription {
    /// The endpoint's id.
    pub id: Arc<str>,
    /// Its status.
    pub status: EndpointStatus,
    /// The event types it wants.
    pub filter: EventFilter,
    /// The layout its bodies take.
    pub layout: Layout,
}

impl Subscription {
    /// A subscription.
    pub fn new(
        id: impl Into<Arc<str>>,
        status: EndpointStatus,
        filter: EventFilter,
        layout: Layout,
    ) -> Subscription {
        Subscription {
            id: id.into(),
            status,
            filter,
            layout,
        }
    }
}

impl From<&Endpoint> for Subscription {
    fn from(e: &Endpoint) -> Subscription {
        Subscription::new(
            e.shared_id(),
            e.status(),
            e.filter().clone(),
            e.layout().clone(),
        )
    }
}

/// Either an [`Endpoint`] or a [`Subscription`]: what [`fan_out_to`] takes.
pub trait Subscriber {
    /// The endpoint's id.
    fn shared_id(&self) -> Arc<str>;
    /// Its status.
    fn status(&self) -> EndpointStatus;
    /// Whether it wants events of this type.
    fn subscribes_to(&self, event_type: &str) -> bool;
    /// The layout its bodies take.
    fn layout(&self) -> &Layout;
}

impl Subscriber for Endpoint {
    fn shared_id(&self) -> Arc<str> {
        Endpoint::shared_id(self)
    }
    fn status(&self) -> EndpointStatus {
        Endpoint::status(self)
    }
    fn subscribes_to(&self, event_type: &str) -> bool {
        Endpoint::subscribes_to(self, event_type)
    }
    fn layout(&self) -> &Layout {
        Endpoint::layout(self)
    }
}

impl Subscriber for Subscription {
    fn shared_id(&self) -> Arc<str> {
        Arc::clone(&self.id)
    }
    fn status(&self) -> EndpointStatus {
        self.status
    }
    fn subscribes_to(&self, event_type: &str) -> bool {
        self.filter.matches(event_type)
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// [`fan_out`] over endpoints or [`Subscription`]s: a store that keeps what a fan-out reads in
/// plain columns publishes without opening any endpoint's sealed settings.
pub fn fan_out_to<S: Subscriber>(
    now: Timestamp,
    envelope: &Envelope,
    endpoints: &[S],
) -> Result<FanOut, EnvelopeError> {
    let event_type = envelope.event().type_str();
    let event_id: Arc<str> = Arc::from(envelope.id().as_str());
    let mut out = FanOut {
        deliveries: Vec::with_capacity(endpoints.len()),
        ..FanOut::default()
    };
    // One rendering per layout; a handful of layouts at most, so a list is enough.
    let mut bodies: Vec<(&Layout, bytes::Bytes)> = Vec::new();
    for endpoint in endpoints.iter().filter(|e| e.subscribes_to(event_type)) {
        let list = match endpoint.status() {
            EndpointStatus::Active => &mut out.deliveries,
            EndpointStatus::Paused | EndpointStatus::Failed => &mut out.held,
            status => {
                out.skipped.push(Skipped {
                    endpoint_id: endpoint.shared_id().to_string(),
                    status,
                });
                continue;
            }
        };
        let layout = endpoint.layout();
        let bytes = match bodies.iter().find(|(l, _)| *l == layout) {
            Some((_, bytes)) => bytes.clone(),
            None => {
                let bytes = layout.render(envelope)?;
                bodies.push((layout, bytes.clone()));
                bytes
            }
        };
        list.push(Delivery::new(
            now,
            Arc::clone(&event_id),
            endpoint.shared_id(),
            bytes,
        ));
    }
    Ok(out)
}
