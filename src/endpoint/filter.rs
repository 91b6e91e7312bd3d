//! [`EventFilter`]: which event types an endpoint subscribes to.

use serde::{Deserialize, Serialize};

use crate::event::check_dotted;

/// Which event types an endpoint receives: `*` for all, `sales.*` for a whole category (or
/// any dotted prefix), or exact types, catalogue or custom.
///
/// ```
/// use lms_webhooks::endpoint::EventFilter;
///
/// let f = EventFilter::parse(["sales.*", "course.member.completed", "lms.badge.earned"])?;
/// assert!(f.matches("sales.transaction.refunded"));
/// assert!(f.matches("lms.badge.earned"));
/// assert!(!f.matches("crm.user.created"));
/// assert!(EventFilter::all().matches("anything.at.all"));
/// # Ok::<(), lms_webhooks::EventTypeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct EventFilter {
    patterns: Vec<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> EventFilter {
        EventFilter {
            patterns: vec!["*".to_owned()],
        }
    }

    /// Patterns: `*`, a dotted prefix followed by `.*`, or an exact type.
    pub fn parse<I, S>(patterns: I) -> Result<EventFilter, crate::EventTypeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.into();
            if p != "*" {
                match p.strip_suffix(".*") {
                    // A category alone has one segment: check it as `prefix.x`.
                    Some(prefix) => check_dotted(&format!("{prefix}.x"))?,
                    None => check_dotted(&p)?,
                }
            }
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(EventFilter { patterns: out })
    }

    /// Whether an event type passes.
    pub fn matches(&self, event_type: &str) -> bool {
        self.patterns.iter().any(|p| {
            p == "*"
                || p == event_type
                || p.strip_suffix('*')
                    .is_some_and(|prefix| event_type.starts_with(prefix))
        })
    }

    /// The patterns.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

impl TryFrom<Vec<String>> for EventFilter {
    type Error = crate::EventTypeError;
    fn try_from(v: Vec<String>) -> Result<EventFilter, Self::Error> {
        EventFilter::parse(v)
    }
}

impl From<EventFilter> for Vec<String> {
    fn from(f: EventFilter) -> Vec<String> {
        f.patterns
    }
}
