//! Quickstart: build one event of each category, print its envelope, and read it back.
//!
//! Run with `cargo run --example quickstart`.

use lms_webhooks::{Category, Envelope, Event, EventId, Timestamp};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let occurred = Timestamp::now().truncated_to_millis();
    for &category in Category::ALL {
        // The first type of each category, with its realistic sample payload.
        let Some(event_type) = category.event_types().next() else {
            continue;
        };
        let envelope = Envelope::from_parts(EventId::new(), occurred, Event::sample(event_type));
        let body = envelope.to_bytes()?;
        println!("── {category} ({} bytes)", body.len());
        println!("{}", std::str::from_utf8(&body)?);

        let received = Envelope::from_slice(&body)?;
        assert_eq!(received, envelope);
        println!(
            "   parsed back: {} {} occurred at {}\n",
            received.event().type_str(),
            received.id(),
            received.timestamp()
        );
    }
    println!("{} categories sent and received.", Category::ALL.len());
    Ok(())
}
