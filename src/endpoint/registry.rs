//! [`Registry`]: a platform's endpoints, with its plan limit.

use bytes::Bytes;
use http::Request;
use serde::{Deserialize, Serialize};

use super::{Endpoint, EndpointError};
use crate::delivery::{Delivery, GiveUpReason, Next, Outcome, RecordError, RequestError, State};
use crate::profile::Profile;
use crate::Timestamp;

/// A platform's endpoints, with an optional plan limit (Learnomy Free: 3).
///
/// # Examples
///
/// ```
/// use lms_webhooks::endpoint::{Endpoint, EndpointError, Registry, UrlPolicy};
/// use lms_webhooks::profile::Profile;
/// use lms_webhooks::Timestamp;
///
/// let now = Timestamp::from_unix(1_800_000_000)?;
/// let mut registry = Registry::for_profile(&Profile::learnomy());
/// for i in 0..3 {
///     let url = format!("https://crm{i}.example.com/in");
///     let (e, _secret) = Endpoint::create(now, format!("ep_{i}"), &url, &UrlPolicy::new())?;
///     registry.add(e.with_profile(&Profile::learnomy()))?;
/// }
/// assert_eq!(registry.usage(), (3, Some(3)));
/// let (fourth, _) = Endpoint::create(now, "ep_3", "https://x.example.com/", &UrlPolicy::new())?;
/// assert_eq!(registry.add(fourth), Err(EndpointError::LimitReached { limit: 3 }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    endpoints: Vec<Endpoint>,
    limit: Option<usize>,
}

impl Registry {
    /// No limit.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// At most `limit` endpoints.
    pub fn with_limit(limit: usize) -> Registry {
        Registry {
            endpoints: Vec::new(),
            limit: Some(limit),
        }
    }

    /// The plan limit of a platform profile, if it has one (Learnomy Free: three endpoints).
    pub fn for_profile(profile: &Profile) -> Registry {
        Registry {
            endpoints: Vec::new(),
            limit: profile.endpoint_limit(),
        }
    }

    /// Learnomy Free: [`Profile::learnomy`]'s limit of three endpoints.
    pub fn learnomy_free() -> Registry {
        Registry::for_profile(&Profile::learnomy())
    }

    /// The limit, if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Slots used and the limit: the page header's "2 of 3".
    pub fn usage(&self) -> (usize, Option<usize>) {
        (self.endpoints.len(), self.limit)
    }

    /// Adds an endpoint, refusing past the limit or a duplicate id.
    pub fn add(&mut self, endpoint: Endpoint) -> Result<(), EndpointError> {
        if let Some(limit) = self.limit.filter(|&l| self.endpoints.len() >= l) {
            return Err(EndpointError::LimitReached { limit });
        }
        if self.get(endpoint.id()).is_some() {
            return Err(EndpointError::DuplicateId(endpoint.id.to_string()));
        }
        self.endpoints.push(endpoint);
        Ok(())
    }

    /// Removes an endpoint (Delete): no more deliveries to it.
    pub fn remove(&mut self, id: &str) -> Result<Endpoint, EndpointError> {
        let index = self
            .endpoints
            .iter()
            .position(|e| *e.id == *id)
            .ok_or_else(|| EndpointError::NotFound(id.to_owned()))?;
        Ok(self.endpoints.remove(index))
    }

    /// An endpoint by id.
    pub fn get(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| *e.id == *id)
    }

    /// An endpoint by id, to edit.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Endpoint> {
        self.endpoints.iter_mut().find(|e| *e.id == *id)
    }

    /// Builds the next attempt of `delivery` from its endpoint as it is now
    /// ([`Endpoint::request`]). A delivery whose endpoint is not here any more (deleted) ends
    /// with [`GiveUpReason::EndpointDeleted`], logged, and the answer is
    /// [`RequestError::Ended`].
    pub fn request(
        &mut self,
        now: Timestamp,
        delivery: &mut Delivery,
    ) -> Result<Request<Bytes>, RequestError> {
        match self.get_mut(delivery.endpoint_id()) {
            Some(endpoint) => endpoint.request(now, delivery),
            None => match delivery.state() {
                State::InFlight { attempt, .. } => Err(RequestError::InFlight { attempt }),
                state if state.is_finished() => Err(RequestError::Finished(state)),
                _ => {
                    delivery.end_for_deleted_endpoint(now);
                    Err(RequestError::Ended {
                        reason: GiveUpReason::EndpointDeleted,
                    })
                }
            },
        }
    }

    /// Records the outcome of `delivery`'s attempt in flight with its endpoint
    /// ([`Endpoint::record`]); if the endpoint was deleted meanwhile, the attempt is logged
    /// and the delivery ends with [`GiveUpReason::EndpointDeleted`].
    pub fn record(
        &mut self,
        now: Timestamp,
        delivery: &mut Delivery,
        outcome: Outcome,
    ) -> Result<Next, RecordError> {
        match self.get_mut(delivery.endpoint_id()) {
            Some(endpoint) => endpoint.record(now, delivery, outcome),
            None => delivery.record_deleted(now, outcome),
        }
    }

    /// All endpoints, in the order added.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }
}
