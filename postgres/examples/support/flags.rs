//! The command-line flags of the `outbox` and `admin` examples: `--name value` pairs and
//! switches.

#![allow(dead_code)] // each example uses its own part

use lms_webhooks::UrlPolicy;

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
