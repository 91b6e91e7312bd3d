//! `webhook verify`: checks the `-H` headers against the body on stdin; prints `valid`.

use lms_webhooks::Verifier;

use crate::common::{now, read_body, required_secrets, scheme, tolerance};
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
        names::HEADER,
        names::VALUE_PREFIX,
        names::NOW,
        names::TOLERANCE,
        names::PREFIX,
    ])?;
    let (scheme, _) = scheme(flags)?;
    let secrets = required_secrets(flags)?;
    let now = now(flags)?;
    let tolerance = tolerance(flags)?;
    let body = read_body()?;
    Verifier::new(scheme, secrets)
        .with_tolerance(tolerance)
        .verify(now, &flags.headers, &body)
        .map_err(|e| e.to_string())?;
    println!("valid");
    Ok(())
}
