//! The command-line flags of the `outbox` and `admin` examples (`--name value` pairs and
//! switches), and their common `main`.

#![allow(dead_code)] // each example uses its own part

use std::future::Future;
use std::process::ExitCode;

use lms_webhooks::UrlPolicy;

/// Output piped into a reader that stops early (`outbox log | head`) ends the process as it
/// ends Unix tools (by `SIGPIPE`, silently), not with a panic in `println!`: Rust programs
/// ignore `SIGPIPE` unless told otherwise.
fn quiet_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; `SIG_DFL` is a
    // valid disposition for `SIGPIPE`.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The examples' `main`: the arguments as UTF-8 (else an error), then `run` on a
/// multi-thread runtime; errors on stderr with exit 1.
pub fn main_with<F, Fut>(run: F) -> ExitCode
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    quiet_on_broken_pipe();
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(args) => args,
        Err(bad) => {
            eprintln!(
                "error: an argument is not valid UTF-8: {}",
                bad.to_string_lossy()
            );
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// `--name value` pairs and switches.
pub struct Flags {
    values: Vec<(String, String)>,
    switches: Vec<String>,
}

const SWITCHES: [&str; 3] = ["--allow-http", "--allow-private", "--exit-when-idle"];

impl Flags {
    pub fn parse(args: &[String]) -> Result<Flags, String> {
        let (mut values, mut switches) = (Vec::new(), Vec::new());
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if SWITCHES.contains(&arg.as_str()) {
                switches.push(arg.clone());
            } else if let Some(name) = arg.strip_prefix("--") {
                let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                values.push((name.to_owned(), value.clone()));
            } else {
                return Err(format!("unexpected argument `{arg}`"));
            }
        }
        Ok(Flags { values, switches })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .values
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((name, _)) => Err(format!("unknown flag --{name}")),
            None => Ok(()),
        }
    }

    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("--{name} `{text}` is not a number")),
            None => Ok(default),
        }
    }

    pub fn policy(&self) -> UrlPolicy {
        UrlPolicy::new()
            .with_http_allowed(self.has("--allow-http"))
            .with_private_allowed(self.has("--allow-private"))
    }
}
