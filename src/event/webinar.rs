//! Payloads of the `webinar.*` events: registrations, attendance, replays and funnels.

use super::common::{NamedRef, Person};
use crate::Timestamp;

payload! {
    /// A webinar, live or automated (evergreen).
    pub struct Webinar / WebinarBuilder {
        required {
            /// The platform's webinar id.
            id: String,
        }
        optional {
            /// The title.
            title: String,
            /// When the session starts (live) or started (replay).
            starts_at: Timestamp,
            /// The room or replay page.
            url: String,
        }
        lists {}
    }
}

payload! {
    /// A registrant registered, joined or watched a replay:
    /// `webinar.{live,automated}.{registered,joined,replay_viewed}`.
    pub struct WebinarActivity / WebinarActivityBuilder {
        required {
            /// The registrant.
            registrant: Person,
            /// The webinar.
            webinar: Webinar,
        }
        optional {
            /// The session (an automated webinar runs many).
            session_id: String,
            /// How long the registrant watched, in seconds.
            watched_seconds: u32,
            /// The personal link to join.
            join_url: String,
        }
        lists {}
    }
}

payload! {
    /// A visitor entered a webinar sales funnel: `webinar.funnel.entered`.
    pub struct FunnelEntry / FunnelEntryBuilder {
        required {
            /// The visitor.
            visitor: Person,
            /// The funnel.
            funnel: NamedRef,
        }
        optional {
            /// The webinar the funnel sells.
            webinar: Webinar,
            /// The page the visitor landed on.
            page_url: String,
        }
        lists {}
    }
}
