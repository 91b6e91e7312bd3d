//! `webhook send`: delivers the body for real, retrying on a schedule, optionally keeping the
//! delivery in a state file between runs.

use std::path::Path;
use std::time::Duration;

use lms_webhooks::delivery::{Delivery, Next, Outcome, State, SuccessRule, Target};
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::transport::{attempt_blocking, Lookup, UreqTransport};
use lms_webhooks::{Envelope, EventId, Timestamp};

use crate::common::{key, read_body, required_secrets, scheme, url_policy, url_refusal};
use crate::flags::{names, Flags};
use crate::Exit;

/// The endpoint id of deliveries the CLI makes: it has one endpoint, the `--url`.
const ENDPOINT_ID: &str = "cli";

pub fn run(flags: &Flags) -> Result<Exit, String> {
    flags.only(&[
        names::URL,
        names::SCHEME,
        names::SECRET,
        names::SECRET_FILE,
        names::SECRET_ENV,
        names::HEADER,
        names::VALUE_PREFIX,
        names::PREFIX,
        names::SCHEDULE,
        names::POLICY,
        names::SUCCESS,
        names::SPEEDUP,
        names::KEY,
        names::KEY_FILE,
        names::KEY_ENV,
        names::TIMEOUT,
        names::STATE,
        names::ATTEMPTS,
        names::RESOLVE,
    ])?;
    // The endpoint as it is in this run: every attempt is signed with these settings.
    let url = url_policy(flags)
        .check(flags.require(names::URL)?)
        .map_err(url_refusal)?;
    let (scheme, _) = scheme(flags)?;
    let mut target = Target::new(url)
        .with_scheme(scheme)
        .with_retry(schedule(flags)?)
        .with_success(success(flags)?)
        .with_secrets(required_secrets(flags)?);
    if let Some(key) = key(flags)? {
        target = target.with_encryption(key);
    }
    let speedup: u32 = flags
        .get(names::SPEEDUP)
        .unwrap_or("1")
        .trim()
        .parse()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or("--speedup must be a whole number of at least 1")?;
    let timeout: f64 = flags
        .get(names::TIMEOUT)
        .unwrap_or("15")
        .trim()
        .parse()
        .ok()
        .filter(|&t: &f64| t > 0.0 && t.is_finite())
        .ok_or("--timeout must be a positive number of seconds")?;
    let attempts: Option<u32> = match flags.get(names::ATTEMPTS) {
        Some(n) => Some(
            n.trim()
                .parse()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or("--attempts must be a whole number of at least 1")?,
        ),
        None => None,
    };
    let state = flags.get(names::STATE).map(Path::new);

    let mut delivery = match state.filter(|p| p.exists()) {
        Some(path) => {
            let stored =
                std::fs::read(path).map_err(|e| format!("--state `{}`: {e}", path.display()))?;
            Delivery::from_json(&stored)
                .map_err(|e| format!("--state `{}`: {e}", path.display()))?
        }
        None => {
            let body = read_body()?;
            // The envelope's own id when the body is one, so the signed id and the dedupe key
            // agree.
            let id = match Envelope::from_slice(&body) {
                Ok(envelope) => envelope.id().clone(),
                Err(_) => EventId::new(),
            };
            Delivery::new(Timestamp::now(), id.as_str(), ENDPOINT_ID, body)
        }
    };

    // The URL policy applies again where the connection is made, to every address the name
    // resolves to (DNS rebinding), with --resolve pins like curl's.
    let timeout = Duration::from_secs_f64(timeout);
    let transport = UreqTransport::new(timeout.min(Duration::from_secs(5)), timeout)
        .with_policy(url_policy(flags))
        .with_lookup(lookup(flags)?);
    let mut made = 0u32;
    loop {
        match delivery.state() {
            State::Done => return Ok(Exit::Ok),
            State::GaveUp { reason, .. } => {
                return Err(format!(
                    "gave up after {} attempts ({reason:?})",
                    delivery.attempt_count()
                ))
            }
            _ => {}
        }
        if attempts.is_some_and(|limit| made >= limit) {
            return Ok(Exit::Pending);
        }
        // A resumed delivery waits for its due time (divided by --speedup, as every delay).
        if made == 0 {
            if let Some(wait) = delivery
                .next_due()
                .and_then(|due| due.duration_since(Timestamp::now()))
            {
                std::thread::sleep(wait / speedup);
            }
        }
        let next = attempt_blocking(&mut delivery, &target, &transport, &Timestamp::now)
            .map_err(|e| e.to_string())?;
        made += 1;
        if let Some(path) = state {
            save(path, &delivery)?;
        }
        let delay = report(&delivery, next)?;
        if let (Next::RetryAt(_), Some(delay)) = (next, delay) {
            if attempts.is_none_or(|limit| made < limit) {
                std::thread::sleep(delay / speedup);
            }
        }
    }
}

/// Prints the attempt's JSON line; returns the scheduled delay, if any.
fn report(delivery: &Delivery, next: Next) -> Result<Option<Duration>, String> {
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
        .saturating_add(Duration::from_millis(last.duration_ms));
    let (delay, result) = match next {
        Next::Done => (None, "delivered"),
        Next::RetryAt(at) => {
            let d = at.duration_since(recorded).unwrap_or_default();
            (
                Some(Duration::from_millis(
                    u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                )),
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
    Ok(delay)
}

/// Writes the stored delivery beside the file, then renames it over: a reader never sees a
/// half-written state.
fn save(path: &Path, delivery: &Delivery) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, delivery.to_json())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("--state `{}`: {e}", path.display()))
}

/// `--resolve HOST:PORT:ADDRESS` pins, as curl's.
fn lookup(flags: &Flags) -> Result<Lookup, String> {
    let mut lookup = Lookup::system();
    for pin in flags.all(names::RESOLVE) {
        let bad = || {
            format!(
                "--resolve `{pin}`: expected HOST:PORT:ADDRESS, e.g. example.com:443:203.0.113.7"
            )
        };
        let (host, rest) = pin.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        lookup = lookup.with_fixed(host, port, addr);
    }
    Ok(lookup)
}

fn schedule(flags: &Flags) -> Result<RetrySchedule, String> {
    let (flag, name) = match (flags.get(names::SCHEDULE), flags.get(names::POLICY)) {
        (Some(name), _) => (names::SCHEDULE, name),
        (None, Some(name)) => {
            eprintln!("note: --policy is deprecated; use --schedule");
            (names::POLICY, name)
        }
        (None, None) => (names::SCHEDULE, "standard"),
    };
    match name {
        "learnybox" => Ok(RetrySchedule::learnybox()),
        "learnworlds" => Ok(RetrySchedule::learnworlds()),
        "standard" => Ok(RetrySchedule::standard_webhooks()),
        other => Err(format!(
            "--{flag} `{other}`: expected learnybox, learnworlds or standard"
        )),
    }
}

fn success(flags: &Flags) -> Result<SuccessRule, String> {
    match flags.get(names::SUCCESS).unwrap_or("any-2xx") {
        "any-2xx" => Ok(SuccessRule::Any2xx),
        "exactly-200" => Ok(SuccessRule::Exactly200),
        other => Err(format!(
            "--success `{other}`: expected exactly-200 or any-2xx"
        )),
    }
}
