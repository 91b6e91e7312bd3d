//! Payloads of the `sales.*` events: transactions, invoices, credit notes, subscriptions,
//! payments and purchases.

use super::common::{Course, Money, Person, Product};
use crate::{BuildError, Timestamp};

string_enum! {
    /// Where a transaction stands.
    pub enum TransactionStatus {
        /// Awaiting payment or confirmation.
        Pending = "pending",
        /// Paid.
        Completed = "completed",
        /// The payment failed.
        Failed = "failed",
        /// Canceled before or after payment.
        Canceled = "canceled",
        /// Refunded in full.
        Refunded = "refunded",
        /// Refunded in part.
        PartiallyRefunded = "partially_refunded",
    }
}

string_enum! {
    /// How often a subscription bills.
    pub enum BillingInterval {
        /// Every day.
        Day = "day",
        /// Every week.
        Week = "week",
        /// Every month.
        Month = "month",
        /// Every year.
        Year = "year",
    }
}

string_enum! {
    /// Where a subscription stands.
    pub enum SubscriptionStatus {
        /// In its trial period.
        Trialing = "trialing",
        /// Paid and running.
        Active = "active",
        /// A renewal payment failed and is being retried.
        PastDue = "past_due",
        /// The learner asked to cancel; it ends at `cancel_at`.
        CancelScheduled = "cancel_scheduled",
        /// Ended.
        Canceled = "canceled",
    }
}

payload! {
    /// A payment transaction: `sales.transaction.*`.
    pub struct Transaction / TransactionBuilder {
        required {
            /// The platform's transaction id.
            id: String,
            /// The amount charged (for a refund: the amount refunded).
            amount: Money,
            /// Who paid.
            customer: Person,
        }
        optional {
            /// Where the transaction stands.
            status: TransactionStatus,
            /// What was bought.
            product: Product,
            /// Payment method as the platform names it (`card`, `paypal`, `sepa_debit`...).
            payment_method: String,
            /// The coupon code applied.
            coupon: String,
            /// The referring affiliate's id, when one referred the sale.
            affiliate_id: String,
            /// Tax included in `amount`.
            tax: Money,
            /// Why a payment failed, a transaction was canceled or refunded.
            reason: String,
            /// The id of the transaction a refund or update refers to.
            original_transaction_id: String,
            /// The invoice issued for it.
            invoice_id: String,
            /// When the transaction was created on the platform.
            created_at: Timestamp,
        }
        lists {}
    }
}

payload! {
    /// An invoice generated after a sale: `sales.invoice.created`.
    pub struct Invoice / InvoiceBuilder {
        required {
            /// The platform's invoice id.
            id: String,
            /// The total invoiced.
            amount: Money,
            /// Who is invoiced.
            customer: Person,
        }
        optional {
            /// The invoice number as printed.
            number: String,
            /// The transaction it invoices.
            transaction_id: String,
            /// Tax included in `amount`.
            tax: Money,
            /// Where the PDF can be downloaded.
            url: String,
            /// The issue date.
            issued_at: Timestamp,
        }
        lists {}
    }
}

payload! {
    /// A credit note, e.g. after a refund: `sales.credit_note.created`.
    pub struct CreditNote / CreditNoteBuilder {
        required {
            /// The platform's credit note id.
            id: String,
            /// The amount credited back.
            amount: Money,
            /// Who is credited.
            customer: Person,
        }
        optional {
            /// The credit note number as printed.
            number: String,
            /// The invoice it corrects.
            invoice_id: String,
            /// The refunded transaction.
            transaction_id: String,
            /// Why it was issued.
            reason: String,
            /// Where the PDF can be downloaded.
            url: String,
            /// The issue date.
            issued_at: Timestamp,
        }
        lists {}
    }
}

payload! {
    /// A subscription plan: price and billing period.
    pub struct Plan / PlanBuilder {
        required {
            /// The platform's plan id.
            id: String,
        }
        optional {
            /// The plan name.
            name: String,
            /// The price per period.
            price: Money,
            /// The billing period unit.
            interval: BillingInterval,
            /// How many units make one period (3 with `month` bills quarterly).
            interval_count: u32,
            /// Trial length in days; absent or 0 means no trial.
            trial_days: u32,
        }
        lists {}
    }
}

payload! {
    /// A recurring subscription or installment plan: `sales.subscription.*`.
    pub struct Subscription / SubscriptionBuilder {
        required {
            /// The platform's subscription id.
            id: String,
            /// The subscriber.
            customer: Person,
            /// The plan subscribed to (after the change, for `sales.subscription.updated`).
            plan: Plan,
        }
        optional {
            /// Where the subscription stands.
            status: SubscriptionStatus,
            /// The plan before a change (`sales.subscription.updated`).
            previous_plan: Plan,
            /// The amount of the payment that fired `sales.subscription.paid`.
            amount_paid: Money,
            /// Which installment was paid, counting from 1.
            installment: u32,
            /// When the trial ends.
            trial_end: Timestamp,
            /// When the current paid period ends.
            current_period_end: Timestamp,
            /// When a scheduled cancellation takes effect.
            cancel_at: Timestamp,
            /// When the subscription actually ended.
            canceled_at: Timestamp,
            /// Who made the change: `learner`, `admin` or `payment_provider`.
            changed_by: String,
        }
        lists {
            /// The courses the subscription grants.
            courses: Course,
        }
    }
}

payload! {
    /// A payment, one-off or recurring: `sales.payment.created`.
    pub struct Payment / PaymentBuilder {
        required {
            /// The platform's payment id.
            id: String,
            /// The amount paid (0 for an admin enrollment without payment).
            amount: Money,
            /// Who paid.
            customer: Person,
        }
        optional {
            /// The subscription it pays, if any.
            subscription_id: String,
            /// What was paid for.
            product: Product,
            /// Payment method as the platform names it.
            payment_method: String,
            /// Which installment this is, counting from 1.
            installment: u32,
            /// The coupon code applied.
            coupon: String,
        }
        lists {}
    }
}

fn purchase_has_products(p: &Purchase) -> Result<(), BuildError> {
    if p.products.is_empty() {
        Err(BuildError::MissingField {
            payload: "Purchase",
            field: "products",
        })
    } else {
        Ok(())
    }
}

payload! {
    /// One checkout of one or more products: `sales.product.purchased`.
    pub struct Purchase / PurchaseBuilder {
        required {
            /// The platform's order or purchase id.
            id: String,
            /// The buyer.
            customer: Person,
        }
        optional {
            /// The total paid.
            amount: Money,
            /// The coupon code applied.
            coupon: String,
            /// The referring affiliate's id.
            affiliate_id: String,
            /// Payment method as the platform names it.
            payment_method: String,
        }
        lists {
            /// What was bought; at least one.
            products: Product,
        }
        check purchase_has_products;
    }
}
