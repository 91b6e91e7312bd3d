//! The receiver examples' settings, from the environment: `WEBHOOK_PROFILE` (standard,
//! learnybox, learnworlds, learnink, learnomy), `WEBHOOK_SECRET`, `WEBHOOK_KEY` and
//! `WEBHOOK_ADDR` (default `127.0.0.1:8080`).

use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::Receiver;
use lms_webhooks::{EncryptionKey, Secret};

/// The receiver the environment describes, and the address to listen on.
pub fn from_env() -> Result<(Receiver, String), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let name = env("WEBHOOK_PROFILE").unwrap_or_else(|| "standard".to_owned());
    let profile =
        Profile::from_name(&name).ok_or_else(|| format!("unknown WEBHOOK_PROFILE `{name}`"))?;
    let mut receiver = Receiver::new(profile);
    if let Some(secret) = env("WEBHOOK_SECRET") {
        receiver = receiver.with_secret(Secret::parse(&secret)?);
    }
    if let Some(key) = env("WEBHOOK_KEY") {
        receiver = receiver.with_key(EncryptionKey::parse(&key)?);
    }
    let addr = env("WEBHOOK_ADDR").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    Ok((receiver, addr))
}
