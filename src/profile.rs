//! Platform presets: how each platform lays out, names, signs, encrypts and retries webhooks.
//!
//! | profile | body | event names | security | retries | success |
//! |---|---|---|---|---|---|
//! | [`Profile::standard`] | canonical envelope | catalogue | Standard Webhooks | Svix schedule | 2xx |
//! | [`Profile::learnybox`] | AES-256-CBC + HMAC of the canonical envelope | catalogue | the MAC (plus Standard Webhooks headers from this crate's senders) | 60 s, 5 min, 10 min, 1 h | 200 only |
//! | [`Profile::learnworlds`] | `{version: 2, type, trigger, school_id, data}` | LearnWorlds' `type`/`trigger` | pre-shared token | 20 doublings from 1 min | 2xx |
//! | [`Profile::learnink`] | `{object: "event", id, type, api_version, data, timestamp}` | catalogue (`user.course.started` for a course start) | Standard Webhooks with `svix-*` headers | Svix schedule | 2xx |
//! | [`Profile::learnomy`] | canonical envelope | catalogue | hex HMAC in `X-Learnomy-Signature` | Svix schedule | 2xx; 3 endpoints on Free |
//!
//! Reading platform bodies tolerates what real senders do: timestamps as RFC 3339 text or as
//! Unix seconds (integer or float, or milliseconds), user events whose fields sit directly in
//! `data` instead of under `data.user`, and fields this crate does not model (kept in `extra`).
//! LearnWorlds bodies carry no event id: the receiver derives a stable one from the body, so
//! that its retries (the same body) deduplicate.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::delivery::{SuccessRule, Target};
use crate::endpoint::DeliveryUrl;
use crate::retry::RetrySchedule;
use crate::signature::{BodyHmacHex, PresharedToken, StandardWebhooks};
use crate::{Envelope, EnvelopeError, EventType, Scheme, Timestamp};

/// How a platform lays out its JSON body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "layout", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Layout {
    /// `{id, type, timestamp, data}`.
    #[default]
    Canonical,
    /// `{version, type, trigger, school_id, data}` with LearnWorlds' event names.
    LearnWorlds {
        /// 2 (the current payloads) or 1 (legacy: the same keys without `trigger`).
        version: u8,
        /// The school's id.
        school_id: String,
    },
    /// `{object: "event", id, type, api_version, data, timestamp}`.
    LearnInk {
        /// The API version written by senders.
        api_version: String,
    },
}

impl Layout {
    /// The body in this layout for `envelope` (before encryption).
    pub fn render(&self, envelope: &Envelope) -> Result<Bytes, EnvelopeError> {
        let canonical = envelope.to_bytes()?;
        if *self == Layout::Canonical {
            return Ok(canonical);
        }
        let value: Value = serde_json::from_slice(&canonical)
            .map_err(|e| EnvelopeError::Serialize(e.to_string()))?;
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        let canonical_type = envelope.event().type_str();
        let out = match self {
            Layout::LearnWorlds { version, school_id } => {
                let (ty, trigger) = envelope
                    .event()
                    .event_type()
                    .and_then(learnworlds_names)
                    .unwrap_or((canonical_type, canonical_type));
                let mut o =
                    json!({"version": version, "type": ty, "school_id": school_id, "data": data});
                if *version >= 2 {
                    o["trigger"] = json!(trigger);
                }
                o
            }
            Layout::LearnInk { api_version } => {
                let ty = envelope
                    .event()
                    .event_type()
                    .and_then(|t| LEARNINK_NAMES.iter().find(|(et, _)| *et == t))
                    .map_or(canonical_type, |&(_, name)| name);
                json!({
                    "object": "event",
                    "id": envelope.id().as_str(),
                    "type": ty,
                    "api_version": api_version,
                    "data": data,
                    "timestamp": envelope.timestamp(),
                })
            }
            Layout::Canonical => value,
        };
        serde_json::to_vec(&out)
            .map(Bytes::from)
            .map_err(|e| EnvelopeError::Serialize(e.to_string()))
    }
}

/// A platform preset. See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    name: &'static str,
    layout: Layout,
    scheme: Scheme,
    requires_signature: bool,
    encrypted: bool,
    retry: RetrySchedule,
    success: SuccessRule,
    endpoint_limit: Option<usize>,
}

/// LearnWorlds' `type` and `trigger` for the catalogue types it sends (CATALOGUE.md).
const LEARNWORLDS_NAMES: [(EventType, &str, &str); 18] = [
    (
        EventType::SalesSubscriptionUpdated,
        "subscriptionUpdated",
        "subsription_changed",
    ),
    (
        EventType::SalesSubscriptionCanceled,
        "subscriptionPaymentPlanCanceled",
        "subscription_cancelled",
    ),
    (
        EventType::SalesSubscriptionPaid,
        "subscriptionPaymentPlanBought",
        "subscription_started",
    ),
    (
        EventType::SalesSubscriptionTrialStarted,
        "subscriptionTrialStarted",
        "subscription_trial_started",
    ),
    (
        EventType::SalesSubscriptionTrialEnding,
        "subscriptionTrialWillEnd",
        "subscription_trial_will_end",
    ),
    (
        EventType::SalesPaymentCreated,
        "paymentCreated",
        "new_purchase",
    ),
    (
        EventType::SalesProductPurchased,
        "productBought",
        "new_purchase",
    ),
    // LearnWorlds sends one event for registration and update: it reads back as an update.
    (EventType::CrmUserUpdated, "userUpdated", "user_updated"),
    (EventType::CrmUserCreated, "userUpdated", "user_updated"),
    (
        EventType::CrmContactTagAdded,
        "userTagAdded",
        "user_tag_added",
    ),
    (
        EventType::CrmContactTagRemoved,
        "userTagDeleted",
        "user_tag_deleted",
    ),
    (EventType::CrmLeadCaptured, "leadCreated", "email_register"),
    (
        EventType::CourseMemberEnrolledFree,
        "enrolledFreeCourse",
        "enrolled_free",
    ),
    (
        EventType::CourseMemberRemoved,
        "userUnenrolledFromProduct",
        "unenrolled_from_product",
    ),
    (
        EventType::CourseMemberCompleted,
        "courseCompleted",
        "course_completed",
    ),
    (
        EventType::CourseProgramCompleted,
        "learningProgramCompleted",
        "learning_program_completed",
    ),
    (
        EventType::CourseCertificateAwarded,
        "awardedCertificate",
        "certificate_awarded",
    ),
    (
        EventType::CourseSectionPreviewed,
        "previewedFree",
        "free_section_previewed",
    ),
];

/// LearnInk's names where they differ from the catalogue's.
const LEARNINK_NAMES: [(EventType, &str); 1] =
    [(EventType::CourseMemberStarted, "user.course.started")];

/// LearnWorlds' `(type, trigger)` for a catalogue type, if LearnWorlds sends it.
pub fn learnworlds_names(t: EventType) -> Option<(&'static str, &'static str)> {
    LEARNWORLDS_NAMES
        .iter()
        .find(|(et, _, _)| *et == t)
        .map(|&(_, ty, trigger)| (ty, trigger))
}

/// The catalogue type of a LearnWorlds `type`.
pub fn from_learnworlds_type(lw_type: &str) -> Option<EventType> {
    LEARNWORLDS_NAMES
        .iter()
        .find(|(_, ty, _)| *ty == lw_type)
        .map(|&(et, _, _)| et)
}

impl Profile {
    fn new(name: &'static str, layout: Layout, scheme: Scheme) -> Profile {
        Profile {
            name,
            layout,
            scheme,
            requires_signature: true,
            encrypted: false,
            retry: RetrySchedule::standard_webhooks(),
            success: SuccessRule::Any2xx,
            endpoint_limit: None,
        }
    }

    /// The canonical envelope with Standard Webhooks: the default.
    pub fn standard() -> Profile {
        Profile::new("standard", Layout::Canonical, Scheme::standard())
    }

    /// Learnybox: encrypted bodies (AES-256-CBC + HMAC under the account's secret key), HTTP 200
    /// only, retries after 60 s, 5 min, 10 min and 1 h.
    ///
    /// The MAC authenticates the body, so receivers do not require a signature; senders from
    /// this crate add Standard Webhooks headers anyway, which give replay protection to
    /// receivers that check them.
    pub fn learnybox() -> Profile {
        Profile {
            requires_signature: false,
            encrypted: true,
            retry: RetrySchedule::learnybox(),
            success: SuccessRule::Exactly200,
            ..Profile::new("learnybox", Layout::Canonical, Scheme::standard())
        }
    }

    /// LearnWorlds (payload version 2) for the school `school_id`.
    pub fn learnworlds(school_id: impl Into<String>) -> Profile {
        Profile {
            retry: RetrySchedule::learnworlds(),
            ..Profile::new(
                "learnworlds",
                Layout::LearnWorlds {
                    version: 2,
                    school_id: school_id.into(),
                },
                PresharedToken::learnworlds().into(),
            )
        }
    }

    /// LearnWorlds' legacy payload version 1, chosen per endpoint.
    pub fn learnworlds_legacy(school_id: impl Into<String>) -> Profile {
        Profile {
            layout: Layout::LearnWorlds {
                version: 1,
                school_id: school_id.into(),
            },
            ..Profile::learnworlds("")
        }
    }

    /// LearnInk: its event object, Standard Webhooks with `svix-*` headers.
    pub fn learnink() -> Profile {
        Profile::new(
            "learnink",
            Layout::LearnInk {
                api_version: "2025-01-01".to_owned(),
            },
            StandardWebhooks::svix().into(),
        )
    }

    /// Learnomy: the canonical envelope signed with a hex HMAC in `X-Learnomy-Signature`; three
    /// endpoints on the Free plan.
    pub fn learnomy() -> Profile {
        Profile {
            endpoint_limit: Some(3),
            ..Profile::new(
                "learnomy",
                Layout::Canonical,
                BodyHmacHex::learnomy().into(),
            )
        }
    }

    /// The profile's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The body layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The signature scheme senders use.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Whether receivers require a valid signature.
    pub fn requires_signature(&self) -> bool {
        self.requires_signature
    }

    /// Makes receivers require (or not) a valid signature: e.g. a Learnybox receiver that
    /// also insists on the Standard Webhooks headers this crate's senders add to encrypted
    /// bodies, on top of the body's own MAC.
    #[must_use]
    pub fn require_signature(mut self, required: bool) -> Profile {
        self.requires_signature = required;
        self
    }

    /// Whether bodies are encrypted.
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// The retry schedule.
    pub fn retry(&self) -> &RetrySchedule {
        &self.retry
    }

    /// The success rule.
    pub fn success(&self) -> SuccessRule {
        self.success
    }

    /// The plan's endpoint limit, if the platform has one.
    pub fn endpoint_limit(&self) -> Option<usize> {
        self.endpoint_limit
    }

    /// A delivery target at `url` with this profile's scheme, retries and success rule; add
    /// the secrets (and, for an encrypted profile, the key).
    pub fn target(&self, url: DeliveryUrl) -> Target {
        Target::new(url)
            .with_scheme(self.scheme.clone())
            .with_retry(self.retry.clone())
            .with_success(self.success)
    }

    /// The body this platform sends for `envelope` (before encryption).
    pub fn render(&self, envelope: &Envelope) -> Result<Bytes, EnvelopeError> {
        self.layout.render(envelope)
    }

    /// Reads a body in this platform's layout (after decryption) into the canonical envelope.
    ///
    /// `signed_id` is the id the signature headers carried, if any; `now` stands in for the
    /// occurred-at time of bodies that carry none (LearnWorlds).
    pub fn parse(
        &self,
        now: Timestamp,
        body: &[u8],
        signed_id: Option<&str>,
    ) -> Result<Envelope, EnvelopeError> {
        if self.layout == Layout::Canonical {
            return Envelope::from_slice(body);
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| EnvelopeError::Syntax {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        let Value::Object(mut o) = value else {
            return Err(EnvelopeError::NotAnObject);
        };
        let text = |o: &Map<String, Value>, key: &'static str| -> Result<String, EnvelopeError> {
            match o.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(EnvelopeError::InvalidField {
                    field: key,
                    message: "expected a string".to_owned(),
                }),
                None => Err(EnvelopeError::MissingField(key)),
            }
        };
        let (event_type, id) = match &self.layout {
            Layout::LearnWorlds { .. } => {
                let ty = text(&o, "type")?;
                let canonical = from_learnworlds_type(&ty).map_or(ty, |t| t.as_str().to_owned());
                let id = match signed_id {
                    Some(id) => id.to_owned(),
                    None => derived_id(body),
                };
                (canonical, id)
            }
            _ => {
                let ty = text(&o, "type")?;
                let canonical = LEARNINK_NAMES
                    .iter()
                    .find(|(_, name)| *name == ty)
                    .map_or(ty, |(t, _)| t.as_str().to_owned());
                let id = match (o.get("id"), signed_id) {
                    (Some(Value::String(id)), _) => id.clone(),
                    (_, Some(id)) => id.to_owned(),
                    _ => derived_id(body),
                };
                (canonical, id)
            }
        };
        let timestamp = match o.get("timestamp").or_else(|| o.get("created")) {
            Some(v) => lenient_timestamp(v).ok_or(EnvelopeError::InvalidField {
                field: "timestamp",
                message: "expected RFC 3339 text or Unix seconds".to_owned(),
            })?,
            None => now,
        };
        let mut data = o
            .remove("data")
            .ok_or(EnvelopeError::MissingField("data"))?;
        // User events: the fields may sit directly in `data` instead of under `data.user`.
        if event_type.starts_with("crm.user.") {
            if let Value::Object(fields) = &data {
                if !fields.contains_key("user") {
                    data = json!({ "user": data });
                }
            }
        }
        let canonical = json!({
            "id": id,
            "type": event_type,
            "timestamp": timestamp,
            "data": data,
        });
        let bytes =
            serde_json::to_vec(&canonical).map_err(|e| EnvelopeError::Serialize(e.to_string()))?;
        Envelope::from_slice(&bytes)
    }
}

/// A stable id for bodies that carry none: `body_` and 32 hex digits of the body's SHA-256.
fn derived_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut id = String::from("body_");
    crate::codec::push_hex(&mut id, &digest[..16]);
    id
}

/// RFC 3339 text, or Unix seconds (integer or float; values over 10^11 are milliseconds).
fn lenient_timestamp(v: &Value) -> Option<Timestamp> {
    match v {
        Value::String(s) => Timestamp::parse_rfc3339(s)
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().and_then(seconds)),
        Value::Number(n) => n.as_f64().and_then(seconds),
        _ => None,
    }
}

fn seconds(n: f64) -> Option<Timestamp> {
    if !n.is_finite() {
        return None;
    }
    let millis = if n.abs() > 1e11 { n } else { n * 1000.0 };
    if millis.abs() > 9.0e15 {
        return None;
    }
    Timestamp::from_unix_millis(millis.round() as i64).ok()
}
