//! `webhook check-url`: prints `ok` or why the URL is refused.

use crate::common::{url_policy, url_refusal};
use crate::flags::{names, Flags};

pub fn run(args: &[String]) -> Result<(), String> {
    let (urls, switches): (Vec<String>, Vec<String>) =
        args.iter().cloned().partition(|a| !a.starts_with("--"));
    let flags = Flags::parse(&switches, &[names::ALLOW_HTTP, names::ALLOW_PRIVATE])?;
    flags.only(&[])?;
    let [url] = urls.as_slice() else {
        return Err("check-url takes exactly one URL".to_owned());
    };
    url_policy(&flags).check(url).map_err(url_refusal)?;
    println!("ok");
    Ok(())
}
