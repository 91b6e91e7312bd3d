//! Which events one domain action fires, as the platforms document it.
//!
//! A platform that emits webhooks from its business logic asks [`events_for`] instead of
//! deciding case by case, so that receivers see the same events for the same action on every
//! platform built on this crate.
//!
//! ```
//! use lms_webhooks::rules::{events_for, Action};
//! use lms_webhooks::EventType;
//!
//! assert_eq!(
//!     events_for(Action::SubscriptionBought { trial_days: 0 }),
//!     [EventType::SalesSubscriptionPaid, EventType::SalesPaymentCreated]
//! );
//! assert_eq!(events_for(Action::CancelClicked), []);
//! ```

use crate::EventType;

/// Something that happened in the platform's domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A learner bought a subscription; `trial_days` 0 means no trial.
    SubscriptionBought {
        /// The plan's trial length in days.
        trial_days: u32,
    },
    /// The first real payment after a trial (and every later renewal or installment).
    PaymentAfterTrial,
    /// An admin enrolled a user into a subscription without payment, in the LMS or through the
    /// payment provider.
    AdminEnrolledWithoutPayment,
    /// The learner clicked cancel: a cancellation is only scheduled.
    CancelClicked,
    /// The subscription actually ended (next renewal or expiry date after a cancellation).
    SubscriptionEnded,
    /// The plan changed (upgrade, downgrade, one subscription for another) or an admin edited
    /// the subscription.
    PlanChanged,
    /// A refund was issued.
    Refund,
    /// A sale was completed.
    Sale {
        /// Whether an affiliate referred it.
        referred_by_affiliate: bool,
    },
    /// A user registered (sign-up form or admin), or was created.
    Registration,
    /// A profile was updated by the learner or an admin.
    ProfileUpdate,
    /// A free section was previewed.
    FreeSectionPreviewed {
        /// Whether the course itself is paid (only then does the event fire).
        course_is_paid: bool,
    },
}

/// The events `action` fires, in the order to send them.
pub fn events_for(action: Action) -> Vec<EventType> {
    use EventType as T;
    match action {
        Action::SubscriptionBought { trial_days: 0 }
        | Action::PaymentAfterTrial
        | Action::AdminEnrolledWithoutPayment => {
            vec![T::SalesSubscriptionPaid, T::SalesPaymentCreated]
        }
        Action::SubscriptionBought { .. } => vec![T::SalesSubscriptionTrialStarted],
        Action::CancelClicked => vec![],
        Action::SubscriptionEnded => vec![T::SalesSubscriptionCanceled],
        Action::PlanChanged => vec![T::SalesSubscriptionUpdated],
        Action::Refund => vec![T::SalesTransactionRefunded, T::SalesCreditNoteCreated],
        Action::Sale {
            referred_by_affiliate,
        } => {
            let mut events = vec![T::SalesTransactionCompleted, T::SalesInvoiceCreated];
            if referred_by_affiliate {
                events.push(T::AffiliateCommissionGenerated);
            }
            events
        }
        Action::Registration => vec![T::CrmUserCreated],
        Action::ProfileUpdate => vec![T::CrmUserUpdated],
        Action::FreeSectionPreviewed { course_is_paid } => {
            if course_is_paid {
                vec![T::CourseSectionPreviewed]
            } else {
                vec![]
            }
        }
    }
}
