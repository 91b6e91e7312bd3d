//! `webhook`: a debugging CLI for webhook senders and receivers.
//!
//! The body is read from standard input, byte for byte (mind the trailing newline `echo` adds;
//! use `printf`), results go to standard output, errors to standard error. The exit status is 0
//! on success and 1 on any verification failure or bad input.
//!
//! ```text
//! cargo run -q --example webhook -- sign --scheme standard --secret whsec_... --id msg_1 --timestamp 1700000000 < body.json
//! cargo run -q --example webhook -- verify --scheme standard --secret whsec_... -H 'webhook-id: msg_1' ... < body.json
//! ```
//!
//! Subcommands and flags are a stable interface: scripts depend on them.

use std::io::{Read, Write};

#[path = "support/http.rs"]
mod support;
use std::process::ExitCode;

use http::HeaderName;
use lms_webhooks::delivery::{Delivery, Next, Target};
use lms_webhooks::endpoint::UrlPolicy;
use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::Receiver;
use lms_webhooks::retry::{Outcome, RetrySchedule, SuccessRule};
use lms_webhooks::signature::{
    BodyHmacHex, HeaderPrefix, Message, PresharedToken, StandardWebhooks,
};
use lms_webhooks::transport::attempt_blocking;
use lms_webhooks::{EncryptionKey, EventId, Scheme, Secret, Timestamp, Tolerance, Verifier};

const USAGE: &str = "\
webhook: sign, verify, send, encrypt and decrypt webhook bodies (body on stdin)

USAGE:
  webhook sign   --scheme standard --secret S [--secret S2 ...] [--id ID] [--timestamp TS] [--prefix webhook|svix]
  webhook sign   --scheme hex --secret S [--header NAME] [--value-prefix P]
  webhook sign   --scheme token --secret S [--header NAME]
  webhook verify --scheme standard|hex|token --secret S [--secret S2 ...] [--header NAME]
                 [--value-prefix P] [--now TS] [--tolerance SECS | --ignore-timestamp]
                 -H 'name: value' [-H ...]
  webhook send   --url URL --scheme standard|hex|token --secret S [--header NAME] [--value-prefix P]
                 [--policy learnybox|learnworlds|standard] [--success exactly-200|any-2xx]
                 [--speedup N] [--key K] [--timeout SECS] [--allow-http] [--allow-private]
  webhook check-url URL [--allow-http] [--allow-private]
  webhook receive --profile standard|learnybox|learnworlds|learnink|learnomy --secret S [--secret S2 ...]
                 [--key K] [--now TS] [--tolerance SECS | --ignore-timestamp] -H 'name: value' ...
  webhook encrypt --key K [--iv HEX]     plaintext on stdin, encrypted body on stdout
  webhook decrypt --key K                encrypted body on stdin, plaintext on stdout

  sign prints one `name: value` line per header; verify prints `valid`.
  send delivers the body for real, retrying on the policy's schedule (default standard) with
  each delay divided by --speedup; it prints one JSON line per attempt
  {attempt, status, error, delay, result} (delay: seconds until the next attempt, as
  scheduled) and exits 0 once delivered, 1 when it gave up. --key encrypts the body first;
  --timeout bounds each attempt (default 15 s).
  check-url prints `ok` or why the URL is refused: https only (--allow-http opens http),
  public hosts only (--allow-private opens loopback, private, link-local and local names).
  send applies the same rules to its --url.
  receive verifies, decrypts (learnybox: --key) and parses a request as the profile's
  receiver does, and prints three lines: the canonical event type, the event id, and the
  payload as canonical JSON.
  encrypt and decrypt write their output byte for byte, with no newline added.
  K is 32 bytes: a 32-character secret, or base64:/whsec_ and the base64 of 32 bytes.
  --iv (32 hex digits) fixes the IV, for test vectors only: never reuse an IV for real.
  TS are Unix seconds. --id defaults to a fresh evt_ id, --timestamp and --now to the clock.
  --header defaults to X-Learnomy-Signature (hex) and Learnworlds-Webhook-Signature (token).
  For token, --secret is the whole header value as the platform shows it (e.g. v1=abc...).
  Exit status: 0 on success, 1 on a verification failure or bad input.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(format!("no subcommand given\n\n{USAGE}"));
    };
    match command.as_str() {
        "sign" => sign(&Flags::parse(rest, &["--ignore-timestamp"])?),
        "verify" => verify(&Flags::parse(rest, &["--ignore-timestamp"])?),
        "send" => send(&Flags::parse(rest, &["--allow-http", "--allow-private"])?),
        "check-url" => check_url(rest),
        "receive" => receive(&Flags::parse(rest, &["--ignore-timestamp"])?),
        "encrypt" => encrypt(&Flags::parse(rest, &[])?),
        "decrypt" => decrypt(&Flags::parse(rest, &[])?),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown subcommand `{other}`\n\n{USAGE}")),
    }
}

/// Parsed `--name value` pairs (repeatable), `-H` headers and boolean switches.
#[derive(Debug, Default)]
struct Flags {
    values: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    switches: Vec<String>,
}

impl Flags {
    fn parse(args: &[String], switches: &[&str]) -> Result<Flags, String> {
        let mut flags = Flags::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if switches.contains(&arg.as_str()) {
                flags.switches.push(arg.clone());
                continue;
            }
            if arg == "-H" || arg == "--header-line" {
                let line = it.next().ok_or("-H needs a 'name: value' argument")?;
                let (name, value) = line
                    .split_once(':')
                    .ok_or_else(|| format!("-H `{line}` is not of the form 'name: value'"))?;
                flags
                    .headers
                    .push((name.trim().to_owned(), value.trim().to_owned()));
                continue;
            }
            if let Some(name) = arg.strip_prefix("--") {
                let (name, value) = match name.split_once('=') {
                    Some((n, v)) => (n.to_owned(), v.to_owned()),
                    None => {
                        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                        (name.to_owned(), value.clone())
                    }
                };
                flags.values.push((name, value));
                continue;
            }
            return Err(format!("unexpected argument `{arg}`"));
        }
        Ok(flags)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.values
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// Rejects flags the subcommand does not know, so a typo is not silently ignored.
    fn only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .values
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((name, _)) => Err(format!("unknown flag --{name}")),
            None => Ok(()),
        }
    }
}

fn read_body() -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
    Ok(body)
}

fn unix(flag: &str, text: &str) -> Result<Timestamp, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| Timestamp::from_unix(secs).ok())
        .ok_or_else(|| format!("--{flag} `{text}` is not Unix seconds"))
}

fn secrets(flags: &Flags) -> Result<Vec<Secret>, String> {
    let secrets = flags
        .all("secret")
        .map(|s| Secret::parse(s).map_err(|e| format!("--secret: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if secrets.is_empty() {
        return Err("--secret is required".to_owned());
    }
    Ok(secrets)
}

/// The scheme and the header names to display, as the user spelled them.
fn scheme(flags: &Flags) -> Result<(Scheme, Vec<String>), String> {
    let header = |default: &str| -> Result<(HeaderName, String), String> {
        let shown = flags.get("header").unwrap_or(default).to_owned();
        let name = HeaderName::from_bytes(shown.as_bytes())
            .map_err(|_| format!("--header `{shown}` is not a valid header name"))?;
        Ok((name, shown))
    };
    match flags.require("scheme")? {
        "standard" => {
            let standard = match flags.get("prefix").unwrap_or("webhook") {
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
            let hex = BodyHmacHex::new(name).value_prefix(flags.get("value-prefix").unwrap_or(""));
            Ok((hex.into(), vec![shown]))
        }
        "token" => {
            let (name, shown) = header("Learnworlds-Webhook-Signature")?;
            Ok((PresharedToken::new(name).into(), vec![shown]))
        }
        other => Err(format!(
            "--scheme `{other}`: expected standard, hex or token"
        )),
    }
}

fn sign(flags: &Flags) -> Result<(), String> {
    flags.only(&[
        "scheme",
        "secret",
        "id",
        "timestamp",
        "prefix",
        "header",
        "value-prefix",
    ])?;
    let (scheme, shown) = scheme(flags)?;
    let secrets = secrets(flags)?;
    let id = match flags.get("id") {
        Some(id) => id.to_owned(),
        None => EventId::new().to_string(),
    };
    let timestamp = match flags.get("timestamp") {
        Some(ts) => unix("timestamp", ts)?,
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

fn verify(flags: &Flags) -> Result<(), String> {
    flags.only(&[
        "scheme",
        "secret",
        "header",
        "value-prefix",
        "now",
        "tolerance",
        "prefix",
    ])?;
    let (scheme, _) = scheme(flags)?;
    let secrets = secrets(flags)?;
    let now = match flags.get("now") {
        Some(ts) => unix("now", ts)?,
        None => Timestamp::now(),
    };
    let tolerance = tolerance(flags)?;
    let body = read_body()?;
    Verifier::new(scheme, secrets)
        .tolerance(tolerance)
        .verify(&flags.headers, &body, now)
        .map_err(|e| e.to_string())?;
    println!("valid");
    Ok(())
}

fn key(flags: &Flags) -> Result<EncryptionKey, String> {
    EncryptionKey::parse(flags.require("key")?).map_err(|e| format!("--key: {e}"))
}

fn write_out(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the output: {e}"))
}

fn encrypt(flags: &Flags) -> Result<(), String> {
    flags.only(&["key", "iv"])?;
    let key = key(flags)?;
    let iv = match flags.get("iv") {
        Some(text) => Some(parse_iv(text)?),
        None => None,
    };
    let plaintext = read_body()?;
    let body = match iv {
        Some(iv) => key.encrypt_with_iv(&plaintext, iv),
        None => key.encrypt(&plaintext).map_err(|e| e.to_string())?,
    };
    write_out(&body)
}

fn parse_iv(text: &str) -> Result<[u8; 16], String> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return Err(format!(
            "--iv needs 32 hexadecimal digits (16 bytes), got {}",
            bytes.len()
        ));
    }
    let mut iv = [0u8; 16];
    for (byte, pair) in iv.iter_mut().zip(bytes.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| "--iv is not hexadecimal".to_owned())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| "--iv is not hexadecimal".to_owned())?;
    }
    Ok(iv)
}

fn decrypt(flags: &Flags) -> Result<(), String> {
    flags.only(&["key"])?;
    let key = key(flags)?;
    let body = read_body()?;
    let plaintext = key.decrypt(&body).map_err(|e| e.to_string())?;
    write_out(&plaintext)
}

fn send(flags: &Flags) -> Result<(), String> {
    flags.only(&[
        "url",
        "scheme",
        "secret",
        "header",
        "value-prefix",
        "prefix",
        "policy",
        "success",
        "speedup",
        "key",
        "timeout",
    ])?;
    let url = flags.require("url")?;
    url_policy(flags).check(url).map_err(|e| e.to_string())?;
    let (scheme, _) = scheme(flags)?;
    let policy = match flags.get("policy").unwrap_or("standard") {
        "learnybox" => RetrySchedule::learnybox(),
        "learnworlds" => RetrySchedule::learnworlds(),
        "standard" => RetrySchedule::standard_webhooks(),
        other => {
            return Err(format!(
                "--policy `{other}`: expected learnybox, learnworlds or standard"
            ))
        }
    };
    let success = match flags.get("success").unwrap_or("any-2xx") {
        "any-2xx" => SuccessRule::Any2xx,
        "exactly-200" => SuccessRule::Exactly200,
        other => {
            return Err(format!(
                "--success `{other}`: expected exactly-200 or any-2xx"
            ))
        }
    };
    let speedup: u32 = flags
        .get("speedup")
        .unwrap_or("1")
        .trim()
        .parse()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or("--speedup must be a whole number of at least 1")?;
    let timeout: f64 = flags
        .get("timeout")
        .unwrap_or("15")
        .trim()
        .parse()
        .ok()
        .filter(|&t: &f64| t > 0.0 && t.is_finite())
        .ok_or("--timeout must be a positive number of seconds")?;
    let mut target = Target::new(url)
        .map_err(|e| e.to_string())?
        .scheme(scheme)
        .retry(policy)
        .success(success);
    for secret in secrets(flags)? {
        target = target.secret(secret);
    }
    if flags.get("key").is_some() {
        target = target.encryption(key(flags)?);
    }
    let body = read_body()?;
    // The envelope's own id when the body is one, so the signed id and the dedupe key agree.
    let id = match lms_webhooks::Envelope::from_slice(&body) {
        Ok(envelope) => envelope.id().clone(),
        Err(_) => EventId::new(),
    };
    let transport = support::Http::new(std::time::Duration::from_secs_f64(timeout));
    let mut delivery = Delivery::new(id.as_str(), body, target, Timestamp::now());
    loop {
        let next = attempt_blocking(&mut delivery, &transport, &Timestamp::now)
            .map_err(|e| e.to_string())?;
        let Some(last) = delivery.attempts().last() else {
            return Err("no attempt was recorded".to_owned());
        };
        let (status, error) = match &last.outcome {
            Outcome::Response { status, .. } => (Some(*status), None),
            Outcome::Timeout => (None, Some("timeout".to_owned())),
            Outcome::Error { message } => (None, Some(message.clone())),
            other => (None, Some(format!("{other:?}"))),
        };
        // The scheduled delay, from the moment the outcome was recorded, to the millisecond.
        let recorded = last
            .started_at
            .saturating_add(std::time::Duration::from_millis(last.duration_ms));
        let (delay, result) = match next {
            Next::Done => (None, "delivered"),
            Next::RetryAt(at) => {
                let d = at.duration_since(recorded).unwrap_or_default();
                (
                    Some(std::time::Duration::from_millis(d.as_millis() as u64)),
                    "retry",
                )
            }
            Next::GaveUp(_) => (None, "gave_up"),
        };
        let line = serde_json::json!({
            "attempt": last.number,
            "status": status,
            "error": error,
            "delay": delay.map(|d| d.as_secs_f64()),
            "result": result,
        });
        println!("{line}");
        match next {
            Next::Done => return Ok(()),
            Next::GaveUp(reason) => {
                return Err(format!(
                    "gave up after {} attempts ({reason:?})",
                    last.number
                ))
            }
            Next::RetryAt(_) => {
                if let Some(delay) = delay {
                    std::thread::sleep(delay / speedup);
                }
            }
        }
    }
}

fn url_policy(flags: &Flags) -> UrlPolicy {
    UrlPolicy::new()
        .allow_http(flags.has("--allow-http"))
        .allow_private(flags.has("--allow-private"))
}

fn check_url(args: &[String]) -> Result<(), String> {
    let (urls, switches): (Vec<String>, Vec<String>) =
        args.iter().cloned().partition(|a| !a.starts_with("--"));
    let flags = Flags::parse(&switches, &["--allow-http", "--allow-private"])?;
    flags.only(&[])?;
    let [url] = urls.as_slice() else {
        return Err("check-url takes exactly one URL".to_owned());
    };
    url_policy(&flags).check(url).map_err(|e| e.to_string())?;
    println!("ok");
    Ok(())
}

fn tolerance(flags: &Flags) -> Result<Tolerance, String> {
    Ok(
        match (flags.get("tolerance"), flags.has("--ignore-timestamp")) {
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

fn receive(flags: &Flags) -> Result<(), String> {
    flags.only(&["profile", "secret", "key", "now", "tolerance"])?;
    let profile = match flags.require("profile")? {
        "standard" => Profile::standard(),
        "learnybox" => Profile::learnybox(),
        "learnworlds" => Profile::learnworlds(""),
        "learnink" => Profile::learnink(),
        "learnomy" => Profile::learnomy(),
        other => {
            return Err(format!(
            "--profile `{other}`: expected standard, learnybox, learnworlds, learnink or learnomy"
        ))
        }
    };
    let mut receiver = Receiver::new(profile).tolerance(tolerance(flags)?);
    for secret in flags.all("secret") {
        receiver = receiver.secret(Secret::parse(secret).map_err(|e| format!("--secret: {e}"))?);
    }
    if flags.get("key").is_some() {
        receiver = receiver.key(key(flags)?);
    }
    let now = match flags.get("now") {
        Some(ts) => unix("now", ts)?,
        None => Timestamp::now(),
    };
    let body = read_body()?;
    let got = receiver
        .receive(&flags.headers, &body, now)
        .map_err(|e| e.to_string())?;
    let id = EventId::parse(&got.id).map_err(|e| e.to_string())?;
    let canonical = lms_webhooks::Envelope::from_parts(id, got.occurred_at, got.event.clone())
        .to_vec()
        .map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_slice(&canonical).map_err(|e| e.to_string())?;
    println!("{}", got.event.type_str());
    println!("{}", got.id);
    println!("{}", value["data"]);
    Ok(())
}
