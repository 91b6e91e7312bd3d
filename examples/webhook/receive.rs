//! `webhook receive`: verifies, decrypts and parses a request as a profile's receiver does.

use lms_webhooks::event::Currency;
use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::Receiver;
use lms_webhooks::{Envelope, EventId};

use crate::common::{key, now, read_body, secrets, tolerance};
use crate::flags::{names, Flags};

pub fn run(flags: &Flags) -> Result<(), String> {
    flags.only(&[
        names::PROFILE,
        names::SECRET,
        names::SECRET_FILE,
        names::SECRET_ENV,
        names::KEY,
        names::KEY_FILE,
        names::KEY_ENV,
        names::NOW,
        names::TOLERANCE,
        names::CURRENCY,
    ])?;
    let name = flags.require(names::PROFILE)?;
    let profile = Profile::from_name(name).ok_or_else(|| {
        format!(
            "--profile `{name}`: expected standard, learnybox, learnworlds, learnink or learnomy"
        )
    })?;
    let profile = match flags.get(names::CURRENCY) {
        Some(code) => {
            let currency = Currency::new(code).map_err(|e| format!("--currency `{code}`: {e}"))?;
            profile.with_currency(currency)
        }
        None => profile,
    };
    let mut receiver = Receiver::new(profile).with_tolerance(tolerance(flags)?);
    for secret in secrets(flags)? {
        receiver = receiver.with_secret(secret);
    }
    if let Some(key) = key(flags)? {
        receiver = receiver.with_key(key);
    }
    let now = now(flags)?;
    let body = read_body()?;
    let got = receiver
        .receive(now, &flags.headers, &body)
        .map_err(|e| e.to_string())?;
    let id = EventId::parse(&got.id).map_err(|e| e.to_string())?;
    let canonical = Envelope::from_parts(id, got.occurred_at, got.event.clone())
        .to_vec()
        .map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_slice(&canonical).map_err(|e| e.to_string())?;
    println!("{}", got.event.type_str());
    println!("{}", got.id);
    println!("{}", value["data"]);
    Ok(())
}
