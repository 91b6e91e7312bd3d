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
/// // News about the webhooks themselves only reach endpoints that ask for them by name.
/// assert!(!EventFilter::all().matches("operational.endpoint.failed"));
/// assert!(EventFilter::parse(["operational.*"])?.matches("operational.endpoint.failed"));
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

    /// The most patterns one filter holds: far more than the catalogue's types, few enough
    /// that no tenant makes every publish slow.
    pub const MAX_PATTERNS: usize = 256;

    /// Patterns: `*`, a dotted prefix followed by `.*`, or an exact type; duplicates dropped
    /// (in linear time), at most [`MAX_PATTERNS`](Self::MAX_PATTERNS) distinct ones.
    pub fn parse<I, S>(patterns: I) -> Result<EventFilter, crate::EventTypeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let filter = EventFilter::parse_unbounded(patterns)?;
        match filter.patterns.len() {
            count if count > Self::MAX_PATTERNS => Err(crate::EventTypeError::TooManyPatterns {
                count,
                max: Self::MAX_PATTERNS,
            }),
            _ => Ok(filter),
        }
    }

    /// [`parse`](Self::parse) without the limit: for filters stored before it existed.
    fn parse_unbounded<I, S>(patterns: I) -> Result<EventFilter, crate::EventTypeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in patterns {
            let p = p.into();
            if p != "*" {
                match p.strip_suffix(".*") {
                    // A category alone has one segment: check it as `prefix.x`.
                    Some(prefix) => check_dotted(&format!("{prefix}.x"))?,
                    None => check_dotted(&p)?,
                }
            }
            if seen.insert(p.clone()) {
                out.push(p);
            }
        }
        Ok(EventFilter { patterns: out })
    }

    /// Whether an event type passes. Operational types (`operational.*`, news about the
    /// webhooks themselves) pass only a pattern that names them: `operational.*`, a longer
    /// prefix of theirs, or the exact type; `*` means every other event.
    pub fn matches(&self, event_type: &str) -> bool {
        let operational = event_type.starts_with(crate::event::OPERATIONAL_PREFIX);
        self.patterns.iter().any(|p| match p.as_str() {
            "*" => !operational,
            p => {
                p == event_type
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| event_type.starts_with(prefix))
            }
        })
    }

    /// The patterns.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// What was stored is loaded whatever its length: a filter saved before the limit existed
/// still opens (and can be edited down).
impl TryFrom<Vec<String>> for EventFilter {
    type Error = crate::EventTypeError;
    fn try_from(v: Vec<String>) -> Result<EventFilter, Self::Error> {
        EventFilter::parse_unbounded(v)
    }
}

impl From<EventFilter> for Vec<String> {
    fn from(f: EventFilter) -> Vec<String> {
        f.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_capped_and_deduplicated_in_linear_time() {
        let many: Vec<String> = (0..40_000).map(|i| format!("lms.custom.e{i}")).collect();
        let refused = EventFilter::parse(many.clone()).unwrap_err();
        assert_eq!(
            refused,
            crate::EventTypeError::TooManyPatterns {
                count: 40_000,
                max: 256
            }
        );
        assert!(refused.to_string().contains("at most 256"));
        // Stored filters load whatever their length (40,000 took 17.7 s when the duplicates
        // were looked for in the list; a set does it in one pass).
        let stored: EventFilter = serde_json::from_value(serde_json::json!(many)).unwrap();
        assert_eq!(stored.patterns().len(), 40_000);
        let repeated = std::iter::repeat_n("sales.*", 10_000).chain(["crm.*"]);
        let f = EventFilter::parse(repeated).unwrap();
        assert_eq!(f.patterns(), ["sales.*", "crm.*"]);
    }
}
