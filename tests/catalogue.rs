//! Every catalogue row exists, round-trips by name, and survives builder → envelope → bytes →
//! parse unchanged. `tests/vectors/event_types.txt` is the catalogue in the repository; CI
//! checks it against the project's shared CATALOGUE.md (`scripts/check_catalogue.py`).

use std::collections::BTreeSet;

use lms_webhooks::{Category, Envelope, Event, EventId, EventType, Timestamp};

/// The wire names as committed beside the tests (one per line, catalogue order).
fn committed_names() -> Vec<String> {
    include_str!("vectors/event_types.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_catalogue_row_is_an_event_type_in_order() {
    let ours: Vec<String> = EventType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    assert_eq!(ours, committed_names());
    assert_eq!(ours.len(), 56);
    let unique: BTreeSet<_> = ours.iter().collect();
    assert_eq!(unique.len(), ours.len(), "duplicate wire names");
}

#[test]
fn names_round_trip_and_categories_match_prefixes() {
    for &t in EventType::ALL {
        assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        assert_eq!(t.to_string(), t.as_str());
        let prefix = t.as_str().split('.').next().unwrap();
        assert_eq!(t.category().as_str(), prefix);
        assert_eq!(prefix.parse::<Category>(), Ok(t.category()));
    }
    let per_category: usize = Category::ALL.iter().map(|c| c.event_types().count()).sum();
    assert_eq!(per_category, EventType::ALL.len());
}

#[test]
fn every_type_survives_builder_envelope_bytes_parse() {
    let occurred = Timestamp::from_unix_millis(1_795_420_800_123).unwrap();
    for &t in EventType::ALL {
        let event = Event::sample(t);
        let envelope = Envelope::from_parts(EventId::new(), occurred, event);
        let bytes = envelope.to_bytes().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["type"], t.as_str());
        assert_eq!(json["timestamp"], "2026-11-23T08:00:00.123Z");
        assert_eq!(json["id"], envelope.id().as_str());
        assert!(json["data"].is_object(), "{t}: data must be an object");
        let back = Envelope::from_slice(&bytes).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(back, envelope, "{t}");
        assert_eq!(back.event().event_type(), Some(t));
        // Serializing what was parsed gives the same bytes: nothing is added or lost.
        assert_eq!(back.to_bytes().unwrap(), bytes, "{t}");
    }
}
