//! Command-line parsing: every flag name in one place, `--name value` pairs (repeatable), `-H`
//! header lines and boolean switches, and the secrets that may come from a file or the
//! environment instead of the command line.

use std::ffi::OsString;

/// Every flag a subcommand takes, by name, in one place: `only` refuses the others.
pub mod names {
    pub const SCHEME: &str = "scheme";
    pub const SECRET: &str = "secret";
    pub const SECRET_FILE: &str = "secret-file";
    pub const SECRET_ENV: &str = "secret-env";
    pub const ID: &str = "id";
    pub const TIMESTAMP: &str = "timestamp";
    pub const PREFIX: &str = "prefix";
    pub const HEADER: &str = "header";
    pub const VALUE_PREFIX: &str = "value-prefix";
    pub const NOW: &str = "now";
    pub const TOLERANCE: &str = "tolerance";
    pub const URL: &str = "url";
    pub const SCHEDULE: &str = "schedule";
    /// The former name of `--schedule`, still accepted.
    pub const POLICY: &str = "policy";
    pub const SUCCESS: &str = "success";
    pub const SPEEDUP: &str = "speedup";
    pub const KEY: &str = "key";
    pub const KEY_FILE: &str = "key-file";
    pub const KEY_ENV: &str = "key-env";
    pub const TIMEOUT: &str = "timeout";
    pub const STATE: &str = "state";
    pub const ATTEMPTS: &str = "attempts";
    pub const IV: &str = "iv";
    pub const PROFILE: &str = "profile";
    pub const RESOLVE: &str = "resolve";
    pub const CURRENCY: &str = "currency";
    pub const SIGNING_KEY: &str = "signing-key";
    pub const SIGNING_KEY_FILE: &str = "signing-key-file";
    pub const SIGNING_KEY_ENV: &str = "signing-key-env";
    pub const PUBLIC_KEY: &str = "public-key";

    pub const IGNORE_TIMESTAMP: &str = "--ignore-timestamp";
    pub const ALLOW_HTTP: &str = "--allow-http";
    pub const ALLOW_PRIVATE: &str = "--allow-private";
    pub const LARAVEL: &str = "--laravel";
    pub const OPENAPI: &str = "--openapi";

    /// The flags that carry a secret, in every form.
    pub const SECRET_FLAGS: [&str; 3] = [SECRET, SECRET_FILE, SECRET_ENV];
    /// The flags that carry an Ed25519 signing key (`whsk_`), in every form.
    pub const SIGNING_KEY_FLAGS: [&str; 3] = [SIGNING_KEY, SIGNING_KEY_FILE, SIGNING_KEY_ENV];
    /// The flags that carry a key, in every form.
    pub const KEY_FLAGS: [&str; 3] = [KEY, KEY_FILE, KEY_ENV];
}

/// The arguments as UTF-8 text; a non-UTF-8 argument is an error naming its position.
pub fn utf8_args(args: impl IntoIterator<Item = OsString>) -> Result<Vec<String>, String> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            arg.into_string().map_err(|raw| {
                format!(
                    "argument {} is not valid UTF-8: {}",
                    i + 1,
                    raw.to_string_lossy()
                )
            })
        })
        .collect()
}

/// Parsed `--name value` pairs (repeatable), `-H` headers and boolean switches.
#[derive(Debug, Default)]
pub struct Flags {
    values: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    switches: Vec<String>,
}

impl Flags {
    pub fn parse(args: &[String], switches: &[&str]) -> Result<Flags, String> {
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

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.values
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    pub fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// Rejects flags the subcommand does not know, so a typo is not silently ignored.
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

    /// Every value of a secret-like flag, in the order given: `--NAME text`, `--NAME-file
    /// PATH` (the file's content, one trailing line break removed) and `--NAME-env VAR`.
    pub fn secret_texts(&self, [text, file, env]: [&str; 3]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for (name, value) in &self.values {
            if name == text {
                out.push(value.clone());
            } else if name == file {
                let content = std::fs::read_to_string(value)
                    .map_err(|e| format!("--{file} `{value}`: {e}"))?;
                let content = content.strip_suffix('\n').unwrap_or(&content);
                out.push(content.strip_suffix('\r').unwrap_or(content).to_owned());
            } else if name == env {
                out.push(
                    std::env::var(value)
                        .map_err(|_| format!("--{env}: the variable `{value}` is not set"))?,
                );
            }
        }
        Ok(out)
    }
}
