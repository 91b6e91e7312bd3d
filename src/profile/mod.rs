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
//! Each body layout ([`Layout`]) renders and parses in one place; platform event names live
//! beside it ([`learnworlds_names`], [`from_learnworlds_type`]).

mod layout;
mod names;
mod platform;

use bytes::Bytes;

use crate::delivery::{SuccessRule, Target};
use crate::retry::RetrySchedule;
use crate::signature::{BodyHmacHex, PresharedToken, StandardWebhooks};
use crate::url_policy::DeliveryUrl;
use crate::{Envelope, EnvelopeError, Scheme, Timestamp};

pub use layout::Layout;
pub use names::{from_learnworlds_type, learnworlds_names};

/// A platform preset. See the [module docs](self).
///
/// # Examples
///
/// ```
/// use lms_webhooks::{Profile, SuccessRule};
///
/// let learnybox = Profile::learnybox();
/// assert!(learnybox.encrypted());
/// assert_eq!(learnybox.success(), SuccessRule::Exactly200);
/// assert_eq!(learnybox.retry().attempt_limit(), Some(5));
/// assert_eq!(Profile::learnomy().endpoint_limit(), Some(3));
/// ```
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
    ///
    /// The keys choose between `v1` and `v1a`: an endpoint whose secret is a `whsk_` key
    /// signs `v1a` (Ed25519), and a receiver given only its `whpk_` public key
    /// ([`Receiver::with_secret`](crate::Receiver::with_secret)) verifies it, holding no
    /// secret at all.
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
                    currency: None,
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
                currency: None,
            },
            ..Profile::learnworlds("")
        }
    }

    /// LearnInk: its event object, Standard Webhooks with `svix-*` headers.
    pub fn learnink() -> Profile {
        Profile::new(
            "learnink",
            Layout::LearnInk {
                api_version: "2022-11-15".to_owned(),
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

    /// The names [`Profile::from_name`] knows, as [`Profile::name`] gives them.
    pub const NAMES: [&'static str; 5] = [
        "standard",
        "learnybox",
        "learnworlds",
        "learnink",
        "learnomy",
    ];

    /// The preset named `name` (one of [`Profile::NAMES`]); LearnWorlds' comes with no school
    /// id, enough to receive with.
    ///
    /// ```
    /// use lms_webhooks::Profile;
    ///
    /// assert_eq!(Profile::from_name("learnybox"), Some(Profile::learnybox()));
    /// assert!(Profile::NAMES.iter().all(|n| Profile::from_name(n).is_some_and(|p| p.name() == *n)));
    /// assert_eq!(Profile::from_name("moodle"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Profile> {
        Some(match name {
            "standard" => Profile::standard(),
            "learnybox" => Profile::learnybox(),
            "learnworlds" => Profile::learnworlds(""),
            "learnink" => Profile::learnink(),
            "learnomy" => Profile::learnomy(),
            _ => return None,
        })
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
    pub fn with_signature_required(mut self, required: bool) -> Profile {
        self.requires_signature = required;
        self
    }

    /// Sets the currency a receiver assumes for prices that name none: LearnWorlds writes
    /// prices as numbers in major units (`"price": 49.9`) without a currency in payments, so
    /// its receivers need the school's currency to read them as
    /// [`Money`](crate::event::Money) (`4990 EUR`). A currency the body names wins. Other
    /// layouts name their currency in each amount; this is a no-op for them.
    ///
    /// ```
    /// use lms_webhooks::event::Currency;
    /// use lms_webhooks::{Event, Profile, SalesEvent, Timestamp};
    ///
    /// let profile = Profile::learnworlds("school_42").with_currency(Currency::EUR);
    /// let body = br#"{"version":2,"type":"paymentCreated","trigger":"new_purchase","school_id":"school_42",
    ///   "data":{"payment":{"id":"pay_1","price":49.90,"created":1795426200.5,"user_id":"u_1"}}}"#;
    /// let envelope = profile.parse(Timestamp::now(), body, None)?;
    /// let Event::Sales(SalesEvent::PaymentCreated(payment)) = envelope.event() else { panic!() };
    /// assert_eq!(payment.amount.amount, 4_990);
    /// assert_eq!(payment.customer.id.as_deref(), Some("u_1"));
    /// # Ok::<(), lms_webhooks::EnvelopeError>(())
    /// ```
    #[must_use]
    pub fn with_currency(mut self, currency: crate::event::Currency) -> Profile {
        if let Layout::LearnWorlds { currency: c, .. } = &mut self.layout {
            *c = Some(currency);
        }
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

    /// Reads a body in this platform's layout (after decryption) into the canonical envelope:
    /// [`Layout::parse`].
    ///
    /// `signed_id` is the id the signature headers carried, if any; `now` stands in for the
    /// occurred-at time of bodies that carry none (LearnWorlds).
    pub fn parse(
        &self,
        now: Timestamp,
        body: &[u8],
        signed_id: Option<&str>,
    ) -> Result<Envelope, EnvelopeError> {
        self.layout.parse(now, body, signed_id)
    }

    /// [`Profile::parse`], keeping a catalogue event whose `data` does not fit as
    /// [`Event::Untyped`](crate::Event::Untyped): what a [`Receiver`](crate::Receiver) does
    /// unless told to be strict.
    pub fn parse_lenient(
        &self,
        now: Timestamp,
        body: &[u8],
        signed_id: Option<&str>,
    ) -> Result<Envelope, EnvelopeError> {
        self.layout.parse_lenient(now, body, signed_id)
    }
}
