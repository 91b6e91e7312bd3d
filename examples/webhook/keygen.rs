//! `webhook keygen`: prints a new secret (`--scheme standard`: `whsec_`) or a new Ed25519 key
//! pair (`--scheme standard-v1a`: the `whsk_` signing key, then the `whpk_` public key).

use lms_webhooks::Secret;

use crate::flags::{names, Flags};

pub fn run(flags: &Flags) -> Result<(), String> {
    flags.only(&[names::SCHEME])?;
    match flags.get(names::SCHEME).unwrap_or("standard") {
        "standard" => {
            let secret = Secret::generate_standard().map_err(|e| e.to_string())?;
            println!("{}", &*secret.expose_text());
        }
        "standard-v1a" => {
            let signing = Secret::generate_ed25519().map_err(|e| e.to_string())?;
            let public = signing
                .public_key()
                .ok_or("an Ed25519 key without a public key")?;
            println!("{}", &*signing.expose_text());
            println!("{}", &*public.expose_text());
        }
        other => {
            return Err(format!(
                "--scheme `{other}`: expected standard or standard-v1a"
            ))
        }
    }
    Ok(())
}
