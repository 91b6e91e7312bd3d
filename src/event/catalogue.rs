//! The catalogue: every event type, its wire name, its category and its payload, in one table.
//!
//! This file mirrors `CATALOGUE.md` row for row. The `catalogue!` macro turns it into
//! [`EventType`], [`Category`], one enum per category and the dispatch between wire names and
//! payload types, so a type cannot be added in one place and forgotten in another.

use std::fmt;
use std::str::FromStr;

use serde_json::value::RawValue;

use super::affiliate::*;
use super::community::*;
use super::course::*;
use super::crm::*;
use super::error::EventTypeError;
use super::notification::*;
use super::sales::*;
use super::webinar::*;
use super::{DataError, Event};
use crate::text::clip;

macro_rules! catalogue {
    ( $(
        $(#[$cmeta:meta])*
        $cat:ident ( $enum:ident, $catwire:literal ) {
            $( $(#[$vmeta:meta])* $variant:ident ( $payload:ty ) = $et:ident $wire:literal; )+
        }
    )+ ) => {
        /// Every event type of the catalogue, without its payload.
        ///
        /// [`as_str`](EventType::as_str) gives the exact wire name and
        /// [`FromStr`](std::str::FromStr) reads it back; [`ALL`](EventType::ALL) lists them
        /// in catalogue order.
        ///
        /// # Examples
        ///
        /// ```
        /// use lms_webhooks::{Category, EventType};
        ///
        /// let t: EventType = "sales.transaction.refunded".parse()?;
        /// assert_eq!(t, EventType::SalesTransactionRefunded);
        /// assert_eq!(t.category(), Category::Sales);
        /// assert_eq!(EventType::ALL.len(), 56);
        /// # Ok::<(), lms_webhooks::EventTypeError>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventType {
            $( $( $(#[$vmeta])* $et, )+ )+
        }

        impl EventType {
            /// Every catalogue type, in catalogue order.
            pub const ALL: &'static [EventType] = &[ $( $( EventType::$et, )+ )+ ];

            /// The wire name, e.g. `"sales.transaction.completed"`.
            pub const fn as_str(self) -> &'static str {
                match self { $( $( EventType::$et => $wire, )+ )+ }
            }

            /// The category the type belongs to.
            pub const fn category(self) -> Category {
                match self { $( $( EventType::$et => Category::$cat, )+ )+ }
            }
        }

        #[cfg(feature = "schema")]
        impl EventType {
            /// The JSON Schema of this type's payload (the envelope's `data`), its definitions
            /// added to `generator`.
            pub(crate) fn data_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self { $( $( EventType::$et => generator.subschema_for::<$payload>(), )+ )+ }
            }
        }

        impl FromStr for EventType {
            type Err = EventTypeError;

            fn from_str(s: &str) -> Result<EventType, EventTypeError> {
                match s {
                    $( $( $wire => Ok(EventType::$et), )+ )+
                    other => {
                        super::check_dotted(other)?;
                        Err(EventTypeError::NotInCatalogue { found: clip(other, 128) })
                    }
                }
            }
        }

        /// The catalogue's categories: the first segment of every type name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Category {
            $( $(#[$cmeta])* $cat, )+
        }

        impl Category {
            /// Every category, in catalogue order.
            pub const ALL: &'static [Category] = &[ $( Category::$cat, )+ ];

            /// The wire prefix, e.g. `"sales"`.
            pub const fn as_str(self) -> &'static str {
                match self { $( Category::$cat => $catwire, )+ }
            }

            /// The event types of this category, in catalogue order.
            pub fn event_types(self) -> impl Iterator<Item = EventType> {
                EventType::ALL.iter().copied().filter(move |t| t.category() == self)
            }
        }

        $(
            $(#[$cmeta])*
            ///
            /// Each variant carries its typed payload; wrap it in an [`Event`] to send it.
            // Payloads stay unboxed so they can be matched directly; an event is built once and
            // moved a few times, next to JSON work that costs far more than the copy.
            #[allow(clippy::large_enum_variant)]
            #[derive(Debug, Clone, PartialEq)]
            #[non_exhaustive]
            pub enum $enum {
                $( $(#[$vmeta])* $variant($payload), )+
            }

            impl $enum {
                /// The event's catalogue type.
                pub const fn event_type(&self) -> EventType {
                    match self { $( $enum::$variant(_) => EventType::$et, )+ }
                }
            }

            impl From<$enum> for Event {
                fn from(event: $enum) -> Event {
                    Event::$cat(event)
                }
            }
        )+

        impl Event {
            /// The catalogue type (also of an [`Event::Untyped`]), or `None` for custom,
            /// unknown and operational events.
            pub fn event_type(&self) -> Option<EventType> {
                match self {
                    $( Event::$cat(e) => Some(e.event_type()), )+
                    Event::Untyped(untyped) => Some(untyped.event_type()),
                    Event::Custom(_) | Event::Unknown(_) | Event::Operational(_) => None,
                }
            }

            /// Serializes the payload alone, as the envelope's `data`.
            pub(crate) fn serialize_data<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::Serialize;
                match self {
                    $( $( Event::$cat($enum::$variant(p)) => p.serialize(s), )+ )+
                    Event::Custom(raw) | Event::Unknown(raw) => raw.data().serialize(s),
                    Event::Untyped(untyped) => untyped.data().serialize(s),
                    Event::Operational(event) => event.serialize_data(s),
                }
            }

            /// Reads the payload of a catalogue type straight from the envelope's deserializer
            /// (one pass over the body; no path to the field on error).
            pub(crate) fn deserialize_data<'de, D: serde::Deserializer<'de>>(
                t: EventType,
                d: D,
            ) -> Result<Event, D::Error> {
                use serde::Deserialize;
                Ok(match t {
                    $( $( EventType::$et => Event::$cat($enum::$variant(Deserialize::deserialize(d)?)), )+ )+
                })
            }

            /// Reads the payload of a catalogue type from the envelope's raw `data`.
            pub(crate) fn from_data(t: EventType, data: &RawValue) -> Result<Event, DataError> {
                Ok(match t {
                    $( $( EventType::$et => Event::$cat($enum::$variant(super::parse_data(data)?)), )+ )+
                })
            }
        }
    };
}

catalogue! {
    /// Transactions, invoices, credit notes, subscriptions, payments and purchases.
    Sales(SalesEvent, "sales") {
        /// A payment is successfully completed.
        TransactionCompleted(Transaction) = SalesTransactionCompleted "sales.transaction.completed";
        /// A refund is issued.
        TransactionRefunded(Transaction) = SalesTransactionRefunded "sales.transaction.refunded";
        /// A payment fails (card declined, insufficient funds...).
        TransactionFailed(Transaction) = SalesTransactionFailed "sales.transaction.failed";
        /// A transaction is canceled, manually or automatically.
        TransactionCanceled(Transaction) = SalesTransactionCanceled "sales.transaction.canceled";
        /// A transaction's details are modified.
        TransactionUpdated(Transaction) = SalesTransactionUpdated "sales.transaction.updated";
        /// A transaction record is deleted.
        TransactionDeleted(Transaction) = SalesTransactionDeleted "sales.transaction.deleted";
        /// An invoice is generated after a sale.
        InvoiceCreated(Invoice) = SalesInvoiceCreated "sales.invoice.created";
        /// A credit note is issued (e.g. after a refund).
        CreditNoteCreated(CreditNote) = SalesCreditNoteCreated "sales.credit_note.created";
        /// A customer subscribes to a recurring subscription.
        SubscriptionCreated(Subscription) = SalesSubscriptionCreated "sales.subscription.created";
        /// A subscription's settings change: plan upgrade or downgrade, admin edit.
        SubscriptionUpdated(Subscription) = SalesSubscriptionUpdated "sales.subscription.updated";
        /// A subscription ends. LearnWorlds fires it at expiry, not when the learner clicks cancel.
        SubscriptionCanceled(Subscription) = SalesSubscriptionCanceled "sales.subscription.canceled";
        /// A subscription or installment is paid (also on an admin enrollment without payment).
        SubscriptionPaid(Subscription) = SalesSubscriptionPaid "sales.subscription.paid";
        /// A subscription with trial days is purchased.
        SubscriptionTrialStarted(Subscription) = SalesSubscriptionTrialStarted "sales.subscription.trial_started";
        /// A trial ends in three days.
        SubscriptionTrialEnding(Subscription) = SalesSubscriptionTrialEnding "sales.subscription.trial_ending";
        /// A payment is created.
        PaymentCreated(Payment) = SalesPaymentCreated "sales.payment.created";
        /// Products are bought.
        ProductPurchased(Purchase) = SalesProductPurchased "sales.product.purchased";
    }
    /// Users, contacts, lists, tags, sequences and leads.
    Crm(CrmEvent, "crm") {
        /// A user is created or registered (sign-up form or admin).
        UserCreated(UserChange) = CrmUserCreated "crm.user.created";
        /// A profile is updated by the learner or an admin.
        UserUpdated(UserChange) = CrmUserUpdated "crm.user.updated";
        /// A contact is subscribed to a list.
        ContactSubscribed(ListMembership) = CrmContactSubscribed "crm.contact.subscribed";
        /// A contact is unsubscribed from a list.
        ContactUnsubscribed(ListMembership) = CrmContactUnsubscribed "crm.contact.unsubscribed";
        /// A contact marks the e-mails as spam.
        ContactMarkedSpam(ContactChange) = CrmContactMarkedSpam "crm.contact.marked_spam";
        /// A contact is removed.
        ContactDeleted(ContactChange) = CrmContactDeleted "crm.contact.deleted";
        /// A tag is assigned to a contact.
        ContactTagAdded(TagChange) = CrmContactTagAdded "crm.contact.tag_added";
        /// A tag is removed from a contact.
        ContactTagRemoved(TagChange) = CrmContactTagRemoved "crm.contact.tag_removed";
        /// A contact is enrolled in an e-mail sequence.
        ContactSequenceAdded(SequenceMembership) = CrmContactSequenceAdded "crm.contact.sequence_added";
        /// A contact is removed from an e-mail sequence.
        ContactSequenceRemoved(SequenceMembership) = CrmContactSequenceRemoved "crm.contact.sequence_removed";
        /// An e-mail lead is captured.
        LeadCaptured(Lead) = CrmLeadCaptured "crm.lead.captured";
    }
    /// Enrollments, progress, quizzes, evaluations, certificates and previews.
    Course(CourseEvent, "course") {
        /// A user is registered for a course.
        MemberAdded(Enrollment) = CourseMemberAdded "course.member.added";
        /// A free course enrollment occurs.
        MemberEnrolledFree(Enrollment) = CourseMemberEnrolledFree "course.member.enrolled_free";
        /// Course access is revoked, or the user unenrolls from a product.
        MemberRemoved(Enrollment) = CourseMemberRemoved "course.member.removed";
        /// A learner starts a course.
        MemberStarted(Enrollment) = CourseMemberStarted "course.member.started";
        /// A learner reaches 100 % progress: the course is completed.
        MemberCompleted(Completion) = CourseMemberCompleted "course.member.completed";
        /// A learning program is completed.
        ProgramCompleted(ProgramCompletion) = CourseProgramCompleted "course.program.completed";
        /// A quiz is completed, whatever the result.
        QuizCompleted(QuizResult) = CourseQuizCompleted "course.quiz.completed";
        /// A quiz is passed.
        QuizPassed(QuizResult) = CourseQuizPassed "course.quiz.passed";
        /// A quiz is failed.
        QuizFailed(QuizResult) = CourseQuizFailed "course.quiz.failed";
        /// An evaluation is completed.
        EvaluationCompleted(EvaluationResult) = CourseEvaluationCompleted "course.evaluation.completed";
        /// A certificate is awarded.
        CertificateAwarded(Certificate) = CourseCertificateAwarded "course.certificate.awarded";
        /// A free section of a PAID course is previewed (not fired for free courses).
        SectionPreviewed(SectionPreview) = CourseSectionPreviewed "course.section.previewed";
    }
    /// Live and automated webinars and their sales funnels.
    Webinar(WebinarEvent, "webinar") {
        /// Registered for a live webinar.
        LiveRegistered(WebinarActivity) = WebinarLiveRegistered "webinar.live.registered";
        /// A registrant joins a live webinar.
        LiveJoined(WebinarActivity) = WebinarLiveJoined "webinar.live.joined";
        /// A registrant watches a live webinar's replay.
        LiveReplayViewed(WebinarActivity) = WebinarLiveReplayViewed "webinar.live.replay_viewed";
        /// Registered for an automated webinar.
        AutomatedRegistered(WebinarActivity) = WebinarAutomatedRegistered "webinar.automated.registered";
        /// A registrant joins an automated webinar.
        AutomatedJoined(WebinarActivity) = WebinarAutomatedJoined "webinar.automated.joined";
        /// A registrant watches an automated webinar's replay.
        AutomatedReplayViewed(WebinarActivity) = WebinarAutomatedReplayViewed "webinar.automated.replay_viewed";
        /// A visitor enters a webinar sales funnel.
        FunnelEntered(FunnelEntry) = WebinarFunnelEntered "webinar.funnel.entered";
    }
    /// Community members, posts, likes and comments.
    Community(CommunityEvent, "community") {
        /// A user joins a community.
        MemberAdded(CommunityMembership) = CommunityMemberAdded "community.member.added";
        /// A member is removed from a community.
        MemberRemoved(CommunityMembership) = CommunityMemberRemoved "community.member.removed";
        /// A member publishes a post.
        PostCreated(Post) = CommunityPostCreated "community.post.created";
        /// A member likes a post.
        PostLiked(PostLike) = CommunityPostLiked "community.post.liked";
        /// A member comments on a post.
        CommentCreated(Comment) = CommunityCommentCreated "community.comment.created";
    }
    /// The affiliate program: accounts and commissions.
    Affiliate(AffiliateEvent, "affiliate") {
        /// A user joins the affiliate program.
        AccountCreated(Affiliate) = AffiliateAccountCreated "affiliate.account.created";
        /// A commission is assigned after a sale.
        CommissionGenerated(Commission) = AffiliateCommissionGenerated "affiliate.commission.generated";
        /// A commission is paid.
        CommissionPaid(Commission) = AffiliateCommissionPaid "affiliate.commission.paid";
    }
    /// Push notifications for the receiver to forward (LearnInk).
    Notifications(NotificationEvent, "notifications") {
        /// Push notifications to forward to learners' devices.
        Sent(Notifications) = NotificationsSent "notifications.sent";
    }
    /// The webhook system itself.
    Webhook(WebhookEvent, "webhook") {
        /// The Test button: checks reachability and signature verification.
        Test(TestPing) = WebhookTest "webhook.test";
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = EventTypeError;

    fn from_str(s: &str) -> Result<Category, EventTypeError> {
        Category::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| EventTypeError::NotInCatalogue {
                found: clip(s, 128),
            })
    }
}
