//! Points in time as they travel in webhooks: RFC 3339 UTC in JSON, Unix seconds in headers.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A point in time, always in UTC, between the years 0000 and 9999.
///
/// In JSON it is an RFC 3339 string (`2026-11-23T09:30:00Z`, with a fraction of a second only when
/// there is one); in signature headers it becomes Unix seconds. The year range is what RFC 3339
/// can write, so formatting a `Timestamp` never fails.
///
/// The crate never reads the clock inside its logic: functions that need the time take a
/// `Timestamp` (usually named `now`). [`Timestamp::now`] is the one convenience that reads the
/// system clock.
///
/// # Examples
///
/// ```
/// use lms_webhooks::Timestamp;
///
/// let t = Timestamp::from_unix(1_649_367_553)?;
/// assert_eq!(t.to_string(), "2022-04-07T21:39:13Z");
/// assert_eq!("2022-04-07T23:39:13+02:00".parse::<Timestamp>()?, t);
/// # Ok::<(), lms_webhooks::TimestampError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// Why a value could not become a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not an RFC 3339 date-time such as `2026-11-23T09:30:00Z`.
    #[error("`{found}` is not an RFC 3339 date-time (expected e.g. 2026-11-23T09:30:00Z)")]
    NotRfc3339 {
        /// The text that was given (cut to 64 characters).
        found: String,
    },
    /// The point in time lies outside the years 0000 to 9999.
    #[error("the point in time is outside the years 0000 to 9999")]
    OutOfRange,
}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// Reads the system clock.
    ///
    /// This is the only place the crate reads the clock; every time-dependent function takes the
    /// time as an argument so that tests and simulations can run on a fake clock.
    pub fn now() -> Timestamp {
        // A system clock outside 0000..=9999 is a broken machine; the epoch is a safe floor.
        Timestamp::try_from(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The point `secs` seconds after (or before, if negative) the Unix epoch.
    pub fn from_unix(secs: i64) -> Result<Timestamp, TimestampError> {
        OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|_| TimestampError::OutOfRange)
            .and_then(Timestamp::checked)
    }

    /// The point `millis` milliseconds after (or before, if negative) the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> Result<Timestamp, TimestampError> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .map_err(|_| TimestampError::OutOfRange)
            .and_then(Timestamp::checked)
    }

    /// Parses an RFC 3339 date-time with any offset; the result is in UTC.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| TimestampError::NotRfc3339 {
                found: text.chars().take(64).collect(),
            })
            .and_then(Timestamp::checked)
    }

    /// Whole seconds since the Unix epoch (rounded down), as signature headers carry them.
    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Milliseconds since the Unix epoch (rounded down).
    pub fn unix_millis(self) -> i64 {
        // Years 0000..=9999 stay far inside i64 milliseconds.
        (self.0.unix_timestamp_nanos().div_euclid(1_000_000)) as i64
    }

    /// The RFC 3339 text, in UTC with a `Z`.
    pub fn to_rfc3339(self) -> String {
        // Cannot fail: the year is within 0000..=9999 and the offset is UTC.
        self.0.format(&Rfc3339).unwrap_or_default()
    }

    /// This point plus `duration`, or `None` past the year 9999.
    pub fn checked_add(self, duration: Duration) -> Option<Timestamp> {
        self.0
            .checked_add(time::Duration::try_from(duration).ok()?)
            .and_then(|t| Timestamp::checked(t).ok())
    }

    /// This point minus `duration`, or `None` before the year 0000.
    pub fn checked_sub(self, duration: Duration) -> Option<Timestamp> {
        self.0
            .checked_sub(time::Duration::try_from(duration).ok()?)
            .and_then(|t| Timestamp::checked(t).ok())
    }

    /// This point plus `duration`, stopping at the last representable instant.
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        self.checked_add(duration).unwrap_or(Timestamp::MAX)
    }

    /// How long after `earlier` this point is, or `None` if `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Option<Duration> {
        Duration::try_from(self.0 - earlier.0).ok()
    }

    /// This point with the fraction of a second cut to whole milliseconds.
    ///
    /// Envelopes built by [`Envelope::new`](crate::Envelope::new) use it: every JSON stack
    /// (JavaScript's `Date`, PHP, spreadsheets) reads milliseconds, not all read nanoseconds.
    #[must_use]
    pub fn truncated_to_millis(self) -> Timestamp {
        let nanos = self.0.nanosecond();
        Timestamp(
            self.0
                .replace_nanosecond(nanos - nanos % 1_000_000)
                .unwrap_or(self.0),
        )
    }

    /// The time as a [`time::OffsetDateTime`](https://docs.rs/time/0.3/time/struct.OffsetDateTime.html) in UTC.
    pub fn as_offset_date_time(self) -> OffsetDateTime {
        self.0
    }

    /// 9999-12-31T23:59:59.999999999Z, the last instant of year 9999.
    const MAX: Timestamp =
        match OffsetDateTime::from_unix_timestamp_nanos(253_402_300_799_999_999_999) {
            Ok(t) => Timestamp(t),
            Err(_) => panic!("year 9999 is in time's range"),
        };

    fn checked(t: OffsetDateTime) -> Result<Timestamp, TimestampError> {
        let t = t.to_offset(UtcOffset::UTC);
        if (0..=9999).contains(&t.year()) {
            Ok(Timestamp(t))
        } else {
            Err(TimestampError::OutOfRange)
        }
    }
}

impl TryFrom<SystemTime> for Timestamp {
    type Error = TimestampError;

    fn try_from(t: SystemTime) -> Result<Timestamp, TimestampError> {
        let nanos = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => {
                i128::try_from(after.as_nanos()).map_err(|_| TimestampError::OutOfRange)?
            }
            Err(before) => -i128::try_from(before.duration().as_nanos())
                .map_err(|_| TimestampError::OutOfRange)?,
        };
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map_err(|_| TimestampError::OutOfRange)
            .and_then(Timestamp::checked)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> SystemTime {
        SystemTime::from(t.0)
    }
}

impl TryFrom<OffsetDateTime> for Timestamp {
    type Error = TimestampError;

    fn try_from(t: OffsetDateTime) -> Result<Timestamp, TimestampError> {
        Timestamp::checked(t)
    }
}

impl From<Timestamp> for OffsetDateTime {
    fn from(t: Timestamp) -> OffsetDateTime {
        t.0
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse_rfc3339(s)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

/// RFC 3339 text.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date-time string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_fraction_only_when_present() {
        let t = Timestamp::from_unix(0).unwrap();
        assert_eq!(t.to_string(), "1970-01-01T00:00:00Z");
        let t = Timestamp::from_unix_millis(1_500).unwrap();
        assert_eq!(t.to_string(), "1970-01-01T00:00:01.5Z");
        assert_eq!(t.unix(), 1);
        assert_eq!(t.unix_millis(), 1_500);
        let t =
            Timestamp::try_from(SystemTime::UNIX_EPOCH + Duration::new(7, 123_456_789)).unwrap();
        assert_eq!(
            t.truncated_to_millis().to_string(),
            "1970-01-01T00:00:07.123Z"
        );
    }

    #[test]
    fn parses_offsets_into_utc() {
        let t: Timestamp = "2026-11-23T10:00:00+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-23T09:00:00Z");
    }

    #[test]
    fn rejects_bad_text_and_out_of_range() {
        assert!(matches!(
            Timestamp::parse_rfc3339("2026-13-01T00:00:00Z"),
            Err(TimestampError::NotRfc3339 { .. })
        ));
        assert!(matches!(
            Timestamp::parse_rfc3339("yesterday"),
            Err(TimestampError::NotRfc3339 { .. })
        ));
        assert_eq!(
            Timestamp::from_unix(i64::MAX),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            Timestamp::from_unix(253_402_300_800), // 10000-01-01
            Err(TimestampError::OutOfRange)
        );
    }

    #[test]
    fn system_time_round_trip_and_arithmetic() {
        let t = Timestamp::from_unix(1_700_000_000).unwrap();
        let st: SystemTime = t.into();
        assert_eq!(Timestamp::try_from(st).unwrap(), t);
        let later = t.checked_add(Duration::from_secs(90)).unwrap();
        assert_eq!(later.unix(), 1_700_000_090);
        assert_eq!(later.duration_since(t), Some(Duration::from_secs(90)));
        assert_eq!(t.duration_since(later), None);
        assert_eq!(
            t.checked_sub(Duration::from_secs(90)).unwrap().unix(),
            1_699_999_910
        );
        assert_eq!(Timestamp::MAX.checked_add(Duration::from_secs(1)), None);
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
    }
}
