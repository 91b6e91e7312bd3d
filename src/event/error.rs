//! Errors of event construction: building payloads and reading event type strings.

/// A payload builder was missing something, or a value did not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required field was never set.
    #[error("`{payload}.{field}` is required but was not set")]
    MissingField {
        /// The payload type, e.g. `Transaction`.
        payload: &'static str,
        /// The field, e.g. `amount`.
        field: &'static str,
    },
    /// A required text field was set to an empty or blank string.
    #[error("`{payload}.{field}` is required and must not be blank")]
    EmptyField {
        /// The payload type.
        payload: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A value was set but is not acceptable.
    #[error("`{payload}.{field}` is invalid: {reason}")]
    InvalidValue {
        /// The payload type.
        payload: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// An event type string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventTypeError {
    /// Well-formed, but not one of the catalogue's types (from [`EventType`](crate::EventType)'s
    /// `FromStr`; receivers keep such events as [`Event::Unknown`](crate::Event::Unknown)).
    #[error("`{found}` is not a catalogue event type")]
    NotInCatalogue {
        /// The type string (cut to 128 characters).
        found: String,
    },
    /// Not of the dotted shape `segment.segment[.segment...]` with lower-case ASCII letters,
    /// digits and `_` in each segment.
    #[error(
        "`{found}` is not a dotted event type such as `sales.transaction.completed`: {reason}"
    )]
    Malformed {
        /// The type string (cut to 128 characters).
        found: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An endpoint's filter was given more patterns than it holds
    /// ([`EventFilter::MAX_PATTERNS`](crate::endpoint::EventFilter::MAX_PATTERNS)).
    #[error("{count} event patterns were given; an endpoint holds at most {max} (use `*` or a category's `sales.*` instead of listing every type)")]
    TooManyPatterns {
        /// How many distinct patterns were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A custom event used a catalogue or operational type's name; build the typed event
    /// instead.
    #[error("`{found}` is a catalogue or operational event type: build the typed event instead of a custom one")]
    Reserved {
        /// The type string.
        found: String,
    },
}
