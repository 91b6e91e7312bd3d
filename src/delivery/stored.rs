//! The stored form of a [`Delivery`]: versioned, secret-free, and checked when loaded.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Attempt, Delivery, LoadError, Operation, State};
use crate::text::strip_position;
use crate::Timestamp;

/// The format version written in every stored delivery (`"format"`); loading refuses others.
pub const FORMAT_VERSION: u32 = 1;

/// The fields as stored. Field order is the JSON's.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u64,
    event_id: Arc<str>,
    endpoint_id: Arc<str>,
    #[serde(with = "body_base64")]
    body: Bytes,
    created_at: Timestamp,
    #[serde(flatten)]
    state: State,
    attempt_count: u32,
    attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "is_zero")]
    round_start: u32,
    seed: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Just the version, read first so that a future format gets its own error.
#[derive(Deserialize)]
struct Probe {
    format: Option<u64>,
}

mod body_base64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

impl TryFrom<Stored> for Delivery {
    type Error = LoadError;

    fn try_from(s: Stored) -> Result<Delivery, LoadError> {
        if s.format != u64::from(FORMAT_VERSION) {
            return Err(LoadError::UnknownFormat {
                found: s.format,
                supported: FORMAT_VERSION,
            });
        }
        let logged = u32::try_from(s.attempts.len()).unwrap_or(u32::MAX);
        if s.attempt_count != logged {
            return Err(LoadError::Inconsistent(
                "attempt_count differs from the attempt log",
            ));
        }
        if s.round_start > logged {
            return Err(LoadError::Inconsistent(
                "round_start is past the attempt log",
            ));
        }
        if let State::InFlight { attempt, .. } = s.state {
            if attempt != logged.saturating_add(1) {
                return Err(LoadError::Inconsistent(
                    "the attempt in flight does not follow the attempt log",
                ));
            }
        }
        let round_first_at = s.attempts.get(s.round_start as usize).map(|a| a.started_at);
        Ok(Delivery {
            event_id: s.event_id,
            endpoint_id: s.endpoint_id,
            body: s.body,
            created_at: s.created_at,
            state: s.state,
            attempts: s.attempts,
            operations: s.operations,
            attempt_count: logged,
            round_start: s.round_start,
            round_first_at,
            seed: s.seed,
        })
    }
}

impl Serialize for Delivery {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Stored {
            format: u64::from(FORMAT_VERSION),
            event_id: Arc::clone(&self.event_id),
            endpoint_id: Arc::clone(&self.endpoint_id),
            body: self.body.clone(),
            created_at: self.created_at,
            state: self.state,
            attempt_count: self.attempt_count(),
            attempts: self.attempts.clone(),
            operations: self.operations.clone(),
            round_start: self.round_start,
            seed: self.seed,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Delivery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Delivery, D::Error> {
        Stored::deserialize(deserializer)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

impl Delivery {
    /// The stored form, as JSON: safe to log, it holds no secret, key or URL.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data with string keys: serializing it cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Loads a stored delivery, saying what is wrong with one that cannot be loaded: not JSON
    /// or missing fields ([`LoadError::Malformed`]), a format version this crate does not read
    /// ([`LoadError::UnknownFormat`]), or fields that contradict each other.
    pub fn from_json(bytes: &[u8]) -> Result<Delivery, LoadError> {
        let malformed = |e: serde_json::Error| LoadError::Malformed {
            message: strip_position(&e),
        };
        match serde_json::from_slice::<Probe>(bytes)
            .map_err(malformed)?
            .format
        {
            Some(found) if found != u64::from(FORMAT_VERSION) => {
                return Err(LoadError::UnknownFormat {
                    found,
                    supported: FORMAT_VERSION,
                })
            }
            Some(_) => {}
            None => {
                return Err(LoadError::Malformed {
                    message: "missing field `format`".to_owned(),
                })
            }
        }
        serde_json::from_slice::<Stored>(bytes)
            .map_err(malformed)?
            .try_into()
    }
}
