//! Payloads of the `affiliate.*` events: affiliate accounts and commissions.

use super::common::{Money, NamedRef, Person};
use crate::{BuildError, Timestamp};

payload! {
    /// A user joined the affiliate program: `affiliate.account.created`.
    pub struct Affiliate / AffiliateBuilder {
        required {
            /// The platform's affiliate id.
            id: String,
            /// The person behind the account.
            person: Person,
        }
        optional {
            /// The referral code.
            code: String,
            /// The referral link.
            referral_url: String,
            /// The program joined.
            program: NamedRef,
        }
        lists {}
    }
}

fn rate_in_range(c: &Commission) -> Result<(), BuildError> {
    match c.rate_basis_points {
        Some(bp) if bp > 10_000 => Err(BuildError::InvalidValue {
            payload: "Commission",
            field: "rate_basis_points",
            reason: format!("{bp} is over 10000 (100 %)"),
        }),
        _ => Ok(()),
    }
}

payload! {
    /// A commission generated after a referred sale, or paid out:
    /// `affiliate.commission.generated`, `affiliate.commission.paid`.
    pub struct Commission / CommissionBuilder {
        required {
            /// The platform's commission id.
            id: String,
            /// The affiliate earning it.
            affiliate_id: String,
            /// The commission amount.
            amount: Money,
        }
        optional {
            /// The sale it rewards.
            transaction_id: String,
            /// The commission rate in basis points (2500 = 25 %); no floats.
            rate_basis_points: u32,
            /// How it was paid (`bank_transfer`, `paypal`...), for a payout.
            payout_method: String,
            /// When it was paid, for a payout.
            paid_at: Timestamp,
        }
        lists {}
        check rate_in_range;
    }
}
