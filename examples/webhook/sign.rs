//! `webhook sign`: prints the signature headers for the body on stdin.

use std::io::Write;

use lms_webhooks::signature::Message;
use lms_webhooks::{EventId, Timestamp};

use crate::common::{read_body, required_secrets, scheme, unix};
use crate::flags::{names, Flags};

pub fn run(flags: &Flags) -> Result<(), String> {
    flags.only(&[
        names::SCHEME,
        names::SECRET,
        names::SECRET_FILE,
        names::SECRET_ENV,
        names::SIGNING_KEY,
        names::SIGNING_KEY_FILE,
        names::SIGNING_KEY_ENV,
        names::PUBLIC_KEY,
        names::ID,
        names::TIMESTAMP,
        names::PREFIX,
        names::HEADER,
        names::VALUE_PREFIX,
    ])?;
    let (scheme, shown) = scheme(flags)?;
    let secrets = required_secrets(flags)?;
    let id = match flags.get(names::ID) {
        Some(id) => id.to_owned(),
        None => EventId::new().to_string(),
    };
    let timestamp = match flags.get(names::TIMESTAMP) {
        Some(ts) => unix(names::TIMESTAMP, ts)?,
        None => Timestamp::now(),
    };
    let body = read_body()?;
    let headers = scheme
        .sign(&secrets, &Message::new(&id, timestamp, &body))
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for name in shown {
        let lower = name.to_ascii_lowercase();
        if let Some(value) = headers.get(lower.as_str()) {
            let value = value.to_str().map_err(|e| e.to_string())?;
            writeln!(out, "{name}: {value}").map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
