//! `webhook`: a debugging CLI for webhook senders and receivers.
//!
//! The body is read from standard input, byte for byte (mind the trailing newline `echo` adds;
//! use `printf`), results go to standard output, errors to standard error. The exit status is 0
//! on success and 1 on any verification failure or bad input; `send --attempts` exits 3 while
//! the delivery is still pending.
//!
//! ```text
//! cargo run -q --example webhook -- sign --scheme standard --secret whsec_... --id msg_1 --timestamp 1700000000 < body.json
//! cargo run -q --example webhook -- verify --scheme standard --secret whsec_... --now 1700000000 -H 'webhook-id: msg_1' ... < body.json
//! ```
//!
//! Subcommands and flags are a stable interface: scripts depend on them. Flag names live in
//! `flags.rs`; each subcommand has its file.

mod check_url;
mod common;
mod crypt;
mod flags;
mod keygen;
mod receive;
mod schema;
mod send;
mod sign;
mod verify;

use std::process::ExitCode;

use flags::{names, Flags};

const USAGE: &str = "\
webhook: sign, verify, send, encrypt and decrypt webhook bodies (body on stdin)

USAGE:
  webhook sign   --scheme standard --secret S [--secret S2 ...] [--id ID] [--timestamp TS] [--prefix webhook|svix]
  webhook sign   --scheme standard-v1a --signing-key whsk_... [--signing-key K2 ...] [--secret S ...]
                 [--id ID] [--timestamp TS] [--prefix webhook|svix]
  webhook sign   --scheme hex --secret S [--header NAME] [--value-prefix P]
  webhook sign   --scheme token --secret S [--header NAME]
  webhook verify --scheme standard|hex|token --secret S [--secret S2 ...] [--header NAME]
                 [--value-prefix P] [--now TS] [--tolerance SECS | --ignore-timestamp]
                 -H 'name: value' [-H ...]
  webhook verify --scheme standard-v1a --public-key whpk_... [--public-key K2 ...] [--now TS]
                 [--tolerance SECS | --ignore-timestamp] -H 'name: value' [-H ...]
  webhook keygen [--scheme standard|standard-v1a]
  webhook schema TYPE | --openapi      the event type's JSON Schema (draft 2020-12; a catalogue
                                         or an operational.* type), or the
                                         OpenAPI 3.1 document of every event (needs the
                                         `schema` feature: cargo run --features schema ...)
  webhook sample TYPE                  the canonical envelope of the type's sample
  webhook send   --url URL --scheme standard|hex|token --secret S [--header NAME] [--value-prefix P]
                 [--schedule learnybox|learnworlds|standard] [--success exactly-200|any-2xx]
                 [--speedup N] [--key K] [--timeout SECS] [--allow-http] [--allow-private]
                 [--state FILE] [--attempts N] [--resolve HOST:PORT:ADDRESS ...]
  webhook check-url URL [--allow-http] [--allow-private]
  webhook receive --profile standard|learnybox|learnworlds|learnink|learnomy --secret S [--secret S2 ...]
                 [--key K] [--now TS] [--tolerance SECS | --ignore-timestamp]
                 [--currency CODE] -H 'name: value' ...
  webhook encrypt --key K [--iv HEX] [--laravel]
                                         plaintext on stdin, encrypted body on stdout
                                         (--laravel: base64 of the JSON, as Laravel's Encrypter)
  webhook decrypt --key K                encrypted body on stdin (the JSON, or its base64),
                                         plaintext on stdout

  sign prints one `name: value` line per header; verify prints `valid`.
  standard-v1a is Standard Webhooks with Ed25519 keys (`v1a,` signatures): the sender signs with
  its whsk_ key, receivers verify with the whpk_ public key and hold no secret. With --secret
  as well, sign writes `v1,` signatures beside the `v1a,` ones (an endpoint moving to v1a).
  keygen prints a whsec_ secret (standard), or a whsk_ signing key and its whpk_ public key on
  two lines (standard-v1a); --signing-key-file PATH and --signing-key-env VAR keep the key out
  of `ps` and the shell's history.
  send delivers the body for real, retrying on --schedule (default standard; --policy is its
  former name, still accepted) with each delay divided by --speedup; it prints one JSON line
  per attempt {attempt, status, error, delay, result} (delay: seconds until the next attempt,
  as scheduled) and exits 0 once delivered, 1 when it gave up. --key encrypts the body first;
  --timeout bounds each attempt (default 15 s).
  --state FILE keeps the delivery between runs: if FILE exists the delivery resumes from it
  (stdin is then ignored), and after every attempt its stored form is written to FILE. The
  file holds no secret, key or URL: every run signs with the --secret, --key and --url given
  now. --attempts N makes at most N attempts in this run, then exits 3 if the delivery is
  still pending.
  check-url prints `ok` or why the URL is refused: https only (--allow-http opens http),
  public hosts only (--allow-private opens loopback, private, link-local and local names).
  send applies the same rules to its --url, and again to every address the URL's name
  resolves to, where it connects (a name that resolves to 127.0.0.1 is refused without
  --allow-private). --resolve HOST:PORT:ADDRESS answers a name with a fixed address, as
  curl's --resolve; the rules apply to that address too.
  receive verifies, decrypts (learnybox: --key) and parses a request as the profile's
  receiver does, and prints three lines: the canonical event type, the event id, and the
  payload as canonical JSON. The platforms' own payload shapes are mapped onto the typed
  payloads; --currency CODE names a LearnWorlds school's currency (its prices name none).
  encrypt and decrypt write their output byte for byte, with no newline added.
  K is 32 bytes: a 32-character secret, or base64:/whsec_ and the base64 of 32 bytes.
  --iv (32 hex digits) fixes the IV, for test vectors only: never reuse an IV for real.
  TS are Unix seconds. --id defaults to a fresh evt_ id, --timestamp and --now to the clock.
  --header defaults to X-Learnomy-Signature (hex) and Learnworlds-Webhook-Signature (token).
  For token, --secret is the whole header value as the platform shows it (e.g. v1=abc...).
  Secrets and keys can also come from a file or the environment, out of `ps` and the shell's
  history: --secret-file PATH, --secret-env VAR, --key-file PATH, --key-env VAR.
  Exit status: 0 on success, 1 on a verification failure or bad input (send: 1 when the
  delivery gave up, 3 when --attempts ran out while it is still pending).
";

/// How a subcommand that did not fail ends: exit 0, or another status with no error message.
pub enum Exit {
    Ok,
    /// `send --attempts` ran out with the delivery still pending.
    Pending,
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let result = flags::utf8_args(std::env::args_os().skip(1)).and_then(|args| run(&args));
    match result {
        Ok(Exit::Ok) => ExitCode::SUCCESS,
        Ok(Exit::Pending) => ExitCode::from(3),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Output piped into a reader that stops early (`webhook schema --openapi | head`) ends the
/// process as it ends Unix tools (by `SIGPIPE`, silently), not with a panic in `println!`:
/// Rust programs ignore `SIGPIPE` unless told otherwise.
fn quiet_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; `SIG_DFL` is a
    // valid disposition for `SIGPIPE`.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(args: &[String]) -> Result<Exit, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(format!("no subcommand given\n\n{USAGE}"));
    };
    let ok = |r: Result<(), String>| r.map(|()| Exit::Ok);
    match command.as_str() {
        "sign" => ok(sign::run(&Flags::parse(rest, &[names::IGNORE_TIMESTAMP])?)),
        "verify" => ok(verify::run(&Flags::parse(
            rest,
            &[names::IGNORE_TIMESTAMP],
        )?)),
        "send" => send::run(&Flags::parse(
            rest,
            &[names::ALLOW_HTTP, names::ALLOW_PRIVATE],
        )?),
        "check-url" => ok(check_url::run(rest)),
        "receive" => ok(receive::run(&Flags::parse(
            rest,
            &[names::IGNORE_TIMESTAMP],
        )?)),
        "keygen" => ok(keygen::run(&Flags::parse(rest, &[])?)),
        "schema" => ok(schema::schema(rest)),
        "sample" => ok(schema::sample(rest)),
        "encrypt" => ok(crypt::encrypt(&Flags::parse(rest, &[names::LARAVEL])?)),
        "decrypt" => ok(crypt::decrypt(&Flags::parse(rest, &[])?)),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(Exit::Ok)
        }
        other => Err(format!("unknown subcommand `{other}`\n\n{USAGE}")),
    }
}
