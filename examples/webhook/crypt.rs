//! `webhook encrypt` and `webhook decrypt`: the Learnybox body encryption, byte for byte.

use crate::common::{read_body, required_key, write_out};
use crate::flags::{names, Flags};

pub fn encrypt(flags: &Flags) -> Result<(), String> {
    flags.only(&[names::KEY, names::KEY_FILE, names::KEY_ENV, names::IV])?;
    let key = required_key(flags)?;
    let iv = match flags.get(names::IV) {
        Some(text) => Some(parse_iv(text)?),
        None => None,
    };
    let plaintext = read_body()?;
    let body = match iv {
        Some(iv) => key.encrypt_with_iv(&plaintext, iv),
        None => key.encrypt(&plaintext).map_err(|e| e.to_string())?,
    };
    match flags.has(names::LARAVEL) {
        true => write_out(lms_webhooks::encryption::laravel_form(&body).as_bytes()),
        false => write_out(&body),
    }
}

pub fn decrypt(flags: &Flags) -> Result<(), String> {
    flags.only(&[names::KEY, names::KEY_FILE, names::KEY_ENV])?;
    let key = required_key(flags)?;
    let body = read_body()?;
    let plaintext = key.decrypt(&body).map_err(|e| e.to_string())?;
    write_out(&plaintext)
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
