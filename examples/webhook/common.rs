//! What several subcommands share: the body, times, secrets, keys, schemes, tolerance and the
//! URL policy, read from the flags.

use std::io::{Read, Write};

use http::HeaderName;
use lms_webhooks::endpoint::{UrlError, UrlPolicy};
use lms_webhooks::signature::{BodyHmacHex, HeaderPrefix, PresharedToken, StandardWebhooks};
use lms_webhooks::{EncryptionKey, Scheme, Secret, SecretForm, Timestamp, Tolerance};

use crate::flags::{names, Flags};

pub fn read_body() -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
    Ok(body)
}

pub fn write_out(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the output: {e}"))
}

pub fn unix(flag: &str, text: &str) -> Result<Timestamp, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| Timestamp::from_unix(secs).ok())
        .ok_or_else(|| format!("--{flag} `{text}` is not Unix seconds"))
}

/// `--now`, or the clock.
pub fn now(flags: &Flags) -> Result<Timestamp, String> {
    match flags.get(names::NOW) {
        Some(ts) => unix(names::NOW, ts),
        None => Ok(Timestamp::now()),
    }
}

/// Every secret given, from the command line, files or the environment.
pub fn secrets(flags: &Flags) -> Result<Vec<Secret>, String> {
    flags
        .secret_texts(names::SECRET_FLAGS)?
        .iter()
        .map(|s| Secret::parse(s).map_err(|e| format!("--secret: {e}")))
        .collect()
}

/// At least one secret (for `--scheme standard-v1a`: a `--signing-key` or `--public-key`,
/// beside any `--secret` for `v1` signatures alongside).
pub fn required_secrets(flags: &Flags) -> Result<Vec<Secret>, String> {
    let mut secrets = secrets(flags)?;
    let asymmetric = flags.get(names::SCHEME) == Some("standard-v1a");
    for text in flags.secret_texts(names::SIGNING_KEY_FLAGS)? {
        let key = Secret::parse(&text).map_err(|e| format!("--signing-key: {e}"))?;
        if key.form() != SecretForm::Whsk {
            return Err("--signing-key: expected a whsk_ key".to_owned());
        }
        secrets.push(key);
    }
    for text in flags.all(names::PUBLIC_KEY) {
        let key = Secret::parse(text).map_err(|e| format!("--public-key: {e}"))?;
        if key.form() != SecretForm::Whpk {
            return Err("--public-key: expected a whpk_ key".to_owned());
        }
        secrets.push(key);
    }
    if !asymmetric && secrets.iter().any(Secret::is_asymmetric) {
        return Err("--signing-key and --public-key need --scheme standard-v1a".to_owned());
    }
    if secrets.is_empty() {
        return Err(match asymmetric {
            true => "--signing-key (sign) or --public-key (verify) is required",
            false => "--secret is required",
        }
        .to_owned());
    }
    Ok(secrets)
}

/// The key, if one was given in any form.
pub fn key(flags: &Flags) -> Result<Option<EncryptionKey>, String> {
    match flags.secret_texts(names::KEY_FLAGS)?.pop() {
        Some(text) => EncryptionKey::parse(&text)
            .map(Some)
            .map_err(|e| format!("--key: {e}")),
        None => Ok(None),
    }
}

pub fn required_key(flags: &Flags) -> Result<EncryptionKey, String> {
    key(flags)?.ok_or_else(|| "--key is required".to_owned())
}

/// The scheme and the header names to display, as the user spelled them.
pub fn scheme(flags: &Flags) -> Result<(Scheme, Vec<String>), String> {
    let header = |default: &str| -> Result<(HeaderName, String), String> {
        let shown = flags.get(names::HEADER).unwrap_or(default).to_owned();
        let name = HeaderName::from_bytes(shown.as_bytes())
            .map_err(|_| format!("--header `{shown}` is not a valid header name"))?;
        Ok((name, shown))
    };
    match flags.require(names::SCHEME)? {
        // v1a is Standard Webhooks with Ed25519 keys: the keys decide the signatures.
        "standard" | "standard-v1a" => {
            let standard = match flags.get(names::PREFIX).unwrap_or("webhook") {
                "webhook" => StandardWebhooks::new(),
                "svix" => StandardWebhooks::svix(),
                other => return Err(format!("--prefix `{other}`: expected webhook or svix")),
            };
            let p = match standard.prefix() {
                HeaderPrefix::Svix => "svix",
                _ => "webhook",
            };
            let shown = ["id", "timestamp", "signature"].map(|n| format!("{p}-{n}"));
            Ok((standard.into(), shown.to_vec()))
        }
        "hex" => {
            let (name, shown) = header("X-Learnomy-Signature")?;
            let hex = BodyHmacHex::new(name)
                .with_value_prefix(flags.get(names::VALUE_PREFIX).unwrap_or(""));
            Ok((hex.into(), vec![shown]))
        }
        "token" => {
            let (name, shown) = header("Learnworlds-Webhook-Signature")?;
            Ok((PresharedToken::new(name).into(), vec![shown]))
        }
        other => Err(format!(
            "--scheme `{other}`: expected standard, standard-v1a, hex or token"
        )),
    }
}

pub fn tolerance(flags: &Flags) -> Result<Tolerance, String> {
    Ok(
        match (
            flags.get(names::TOLERANCE),
            flags.has(names::IGNORE_TIMESTAMP),
        ) {
            (_, true) => Tolerance::Ignore,
            (Some(secs), false) => Tolerance::Within(std::time::Duration::from_secs(
                secs.trim()
                    .parse()
                    .map_err(|_| format!("--tolerance `{secs}` is not a number of seconds"))?,
            )),
            (None, false) => Tolerance::DEFAULT,
        },
    )
}

/// A URL refusal, with the flag that lifts it for tests.
pub fn url_refusal(e: UrlError) -> String {
    match &e {
        UrlError::Scheme { scheme } if scheme == "http" => {
            "the scheme `http` is not allowed; use https, or pass --allow-http for tests on loopback".to_owned()
        }
        UrlError::Address { .. } | UrlError::Name { .. } => {
            format!("{e} (pass --allow-private for tests on loopback or a private network)")
        }
        _ => e.to_string(),
    }
}

pub fn url_policy(flags: &Flags) -> UrlPolicy {
    UrlPolicy::new()
        .with_http_allowed(flags.has(names::ALLOW_HTTP))
        .with_private_allowed(flags.has(names::ALLOW_PRIVATE))
}
