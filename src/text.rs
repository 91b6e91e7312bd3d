//! Text helpers shared by the error types and the serde forms: clipping user input for error
//! messages, serde_json messages without their position, durations as whole seconds.

/// At most `max` characters of `text`, for an error message, with control characters escaped
/// (`\n` as the two characters `\` `n`), so that input quoted in an error can never start a
/// new log line or hide what follows.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars().take(max) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A serde_json error's message without its ` at line L column C` tail (the position is
/// reported in fields of its own, or means nothing to the reader).
pub(crate) fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((head, _)) => head.to_owned(),
        None => text,
    }
}

/// `Duration` as whole seconds in serde, for delivery and endpoint settings.
pub(crate) mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clips_by_characters_and_escapes_controls() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("a\nb\u{1b}[2J", 10), "a\\nb\\u{1b}[2J");
        assert!(!clip("x\r\ny", 10).contains(['\r', '\n']));
    }
}
