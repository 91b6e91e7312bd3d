//! Encryption: OpenSSL known-answer vectors, OpenSSL interop, round trips, tampering.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lms_webhooks::encryption::{DecryptError, EncryptionKey, KeyError};
use lms_webhooks::{Envelope, Event, EventType};
use serde_json::{json, Value};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Vector {
    name: String,
    key: Vec<u8>,
    iv: [u8; 16],
    plaintext: Vec<u8>,
    body: String,
}

/// tests/vectors/encryption/openssl.tsv, made by make.sh with the OpenSSL command line.
fn vectors() -> Vec<Vector> {
    include_str!("vectors/encryption/openssl.tsv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Vector {
                name: f[0].to_owned(),
                key: unhex(f[1]),
                iv: unhex(f[2]).try_into().unwrap(),
                plaintext: unhex(f[3]),
                body: format!(r#"{{"iv":"{}","value":"{}","mac":"{}"}}"#, f[4], f[5], f[6]),
            }
        })
        .collect()
}

#[test]
fn openssl_vectors_decrypt_and_fixed_iv_output_is_identical() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 7);
    for v in vectors {
        let key = EncryptionKey::from_bytes(&v.key).unwrap();
        assert_eq!(
            key.decrypt(v.body.as_bytes()).unwrap(),
            v.plaintext,
            "{}",
            v.name
        );
        let ours = key.encrypt_with_iv(&v.plaintext, v.iv);
        assert_eq!(String::from_utf8(ours).unwrap(), v.body, "{}", v.name);
    }
}

/// Runs `openssl` with `args`, feeding `stdin`; `None` when OpenSSL is not installed.
fn openssl(args: &[&str], stdin: &[u8]) -> Option<Vec<u8>> {
    let mut child = match Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(_) if std::env::var_os("CI").is_none() => return None,
        Err(e) => panic!("CI must have the openssl command: {e}"),
    };
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[test]
fn openssl_decrypts_and_authenticates_our_output() {
    let plaintexts: [&[u8]; 4] = [
        b"",
        b"0123456789abcdef",
        br#"{"type":"webhook.test"}"#,
        &[0u8; 1000],
    ];
    for (i, pt) in plaintexts.iter().enumerate() {
        let raw_key: [u8; 32] = std::array::from_fn(|j| (i * 41 + j * 7) as u8);
        let key = EncryptionKey::from_bytes(&raw_key).unwrap();
        let body: Value = serde_json::from_slice(&key.encrypt(pt).unwrap()).unwrap();
        let (iv_b64, value_b64, mac) = (
            body["iv"].as_str().unwrap(),
            body["value"].as_str().unwrap(),
            body["mac"].as_str().unwrap(),
        );
        let iv = STANDARD.decode(iv_b64).unwrap();
        let Some(plain) = openssl(
            &[
                "enc",
                "-d",
                "-aes-256-cbc",
                "-K",
                &hex(&raw_key),
                "-iv",
                &hex(&iv),
                "-a",
                "-A",
            ],
            value_b64.as_bytes(),
        ) else {
            eprintln!("openssl not installed: interop with OpenSSL not checked here");
            return;
        };
        assert_eq!(plain, *pt);
        let digest = openssl(
            &[
                "dgst",
                "-sha256",
                "-mac",
                "HMAC",
                "-macopt",
                &format!("hexkey:{}", hex(&raw_key)),
                "-r",
            ],
            format!("{iv_b64}{value_b64}").as_bytes(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(digest)
                .unwrap()
                .split(' ')
                .next()
                .unwrap(),
            mac
        );
    }
}

#[test]
fn keys_must_be_exactly_32_bytes() {
    assert!(EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").is_ok());
    assert!(EncryptionKey::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_ok());
    assert_eq!(
        EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5"),
        Err(KeyError::WrongLength { found: 31 })
    );
    assert_eq!(
        EncryptionKey::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ=="),
        Err(KeyError::WrongLength { found: 34 })
    );
    assert_eq!(
        EncryptionKey::parse("base64:!!"),
        Err(KeyError::InvalidBase64)
    );
    assert_eq!(
        EncryptionKey::from_bytes(&[0; 16]),
        Err(KeyError::WrongLength { found: 16 })
    );
    assert_eq!(
        EncryptionKey::parse(""),
        Err(KeyError::WrongLength { found: 0 })
    );
    let shown = format!(
        "{:?}",
        EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap()
    );
    assert!(!shown.contains("Zx8k"), "{shown}");
}

fn key() -> EncryptionKey {
    EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap()
}

#[test]
fn every_encryption_uses_a_fresh_iv() {
    let k = key();
    let a: Value = serde_json::from_slice(&k.encrypt(b"same").unwrap()).unwrap();
    let b: Value = serde_json::from_slice(&k.encrypt(b"same").unwrap()).unwrap();
    assert_ne!(a["iv"], b["iv"]);
    assert_ne!(a["value"], b["value"]);
}

fn parts(body: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let v: Value = serde_json::from_slice(body).unwrap();
    (
        STANDARD.decode(v["iv"].as_str().unwrap()).unwrap(),
        STANDARD.decode(v["value"].as_str().unwrap()).unwrap(),
        unhex(v["mac"].as_str().unwrap()),
    )
}

fn assemble(iv: &[u8], value: &[u8], mac: &[u8]) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"iv": STANDARD.encode(iv), "value": STANDARD.encode(value), "mac": hex(mac)}),
    )
    .unwrap()
}

#[test]
fn every_single_bit_flip_is_a_mac_failure() {
    let k = key();
    let body = k
        .encrypt(br#"{"type":"sales.transaction.completed","data":{}}"#)
        .unwrap();
    let (iv, value, mac) = parts(&body);
    assert!(k.decrypt(&assemble(&iv, &value, &mac)).is_ok());
    for field in 0..3 {
        let len = [iv.len(), value.len(), mac.len()][field];
        for bit in 0..len * 8 {
            let (mut i, mut v, mut m) = (iv.clone(), value.clone(), mac.clone());
            let target = match field {
                0 => &mut i,
                1 => &mut v,
                _ => &mut m,
            };
            target[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                k.decrypt(&assemble(&i, &v, &m)),
                Err(DecryptError::MacMismatch),
                "field {field} bit {bit}"
            );
        }
    }
    // Flipping any bit of the raw body never yields a plaintext.
    for bit in 0..body.len() * 8 {
        let mut b = body.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        assert!(k.decrypt(&b).is_err(), "body bit {bit}");
    }
}

#[test]
fn truncated_padded_swapped_and_missing_fields_are_refused() {
    let k = key();
    let body = k.encrypt(&[7u8; 40]).unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let field = |name: &str| v[name].as_str().unwrap().to_owned();
    let with = |name: &str, value: Value| {
        let mut o = v.clone();
        o[name] = value;
        serde_json::to_vec(&o).unwrap()
    };
    // Truncated: whole blocks removed stay valid base64 and fail the MAC.
    let value = field("value");
    assert_eq!(
        k.decrypt(&with("value", json!(value[..value.len() - 24]))),
        Err(DecryptError::MacMismatch)
    );
    assert_eq!(
        k.decrypt(&with("value", json!(""))),
        Err(DecryptError::MacMismatch)
    );
    // Truncated mid-quantum, padded, or with spaces: not base64.
    assert_eq!(
        k.decrypt(&with("value", json!(value[..value.len() - 1]))),
        Err(DecryptError::BadBase64 { field: "value" })
    );
    assert_eq!(
        k.decrypt(&with("value", json!(format!("{value}==")))),
        Err(DecryptError::BadBase64 { field: "value" })
    );
    assert_eq!(
        k.decrypt(&with("iv", json!(format!(" {}", field("iv"))))),
        Err(DecryptError::BadBase64 { field: "iv" })
    );
    // IV of the wrong length.
    assert_eq!(
        k.decrypt(&with("iv", json!(STANDARD.encode([1u8; 12])))),
        Err(DecryptError::WrongIvLength { found: 12 })
    );
    // Swapped iv and value.
    let swapped = json!({"iv": field("value"), "value": field("iv"), "mac": field("mac")});
    assert!(matches!(
        k.decrypt(&serde_json::to_vec(&swapped).unwrap()),
        Err(DecryptError::WrongIvLength { .. })
    ));
    // MAC truncated or not hex.
    let mac = field("mac");
    assert_eq!(
        k.decrypt(&with("mac", json!(mac[..62]))),
        Err(DecryptError::MalformedMac)
    );
    assert_eq!(
        k.decrypt(&with(
            "mac",
            json!(mac.replace(|c: char| c.is_ascii_digit(), "z"))
        )),
        Err(DecryptError::MalformedMac)
    );
    // Upper-case hex is refused: a MAC has one spelling.
    assert_eq!(
        k.decrypt(&with("mac", json!(mac.to_uppercase()))),
        Err(DecryptError::MalformedMac)
    );
    // Missing members, wrong types, not an object, trailing garbage.
    for name in ["iv", "value", "mac"] {
        let mut o = v.clone();
        o.as_object_mut().unwrap().remove(name);
        assert!(
            matches!(
                k.decrypt(&serde_json::to_vec(&o).unwrap()),
                Err(DecryptError::Malformed { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                k.decrypt(&with(name, json!(12))),
                Err(DecryptError::Malformed { .. })
            ),
            "{name}"
        );
    }
    for bad in [&b"[]"[..], b"", b"null", b"{\"iv\":"] {
        assert!(matches!(
            k.decrypt(bad),
            Err(DecryptError::Malformed { .. })
        ));
    }
    let mut trailing = body.clone();
    trailing.extend_from_slice(b"x");
    assert!(matches!(
        k.decrypt(&trailing),
        Err(DecryptError::Malformed { .. })
    ));
    // An extra member (PHP frameworks add "tag") is ignored.
    assert!(k.decrypt(&with("tag", json!(""))).is_ok());
    // The wrong key is a MAC failure too.
    let other = EncryptionKey::from_bytes(&[9u8; 32]).unwrap();
    assert_eq!(other.decrypt(&body), Err(DecryptError::MacMismatch));
}

#[test]
fn bodies_over_the_limit_are_refused_before_parsing() {
    let k = key();
    let body = k.encrypt(&[1u8; 1000]).unwrap();
    assert_eq!(
        k.decrypt_limited(&body, 100),
        Err(DecryptError::TooLarge {
            len: body.len(),
            max: 100
        })
    );
    assert!(k.decrypt_limited(&body, body.len()).is_ok());
    let huge = vec![b' '; 5 * 1024 * 1024];
    assert!(matches!(
        k.decrypt(&huge),
        Err(DecryptError::TooLarge { .. })
    ));
}

#[test]
fn a_valid_mac_over_bad_padding_reports_padding() {
    // A sender bug, not an attack: the MAC is right, the plaintext was not PKCS#7-padded.
    let raw = [3u8; 32];
    let k = EncryptionKey::from_bytes(&raw).unwrap();
    let iv = [0u8; 16];
    let ciphertext = STANDARD
        .decode(
            openssl(
                &[
                    "enc",
                    "-aes-256-cbc",
                    "-K",
                    &hex(&raw),
                    "-iv",
                    &hex(&iv),
                    "-nopad",
                    "-a",
                    "-A",
                ],
                &[0u8; 16],
            )
            .map(|b| String::from_utf8(b).unwrap())
            .unwrap_or_else(|| "Dw4NDAsKCQgHBgUEAwIBAA==".to_owned()),
        )
        .unwrap();
    let (iv_b64, value_b64) = (STANDARD.encode(iv), STANDARD.encode(&ciphertext));
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&raw).unwrap();
    mac.update(format!("{iv_b64}{value_b64}").as_bytes());
    let body = json!({"iv": iv_b64, "value": value_b64, "mac": hex(&mac.finalize().into_bytes())});
    assert_eq!(
        k.decrypt(&serde_json::to_vec(&body).unwrap()),
        Err(DecryptError::BadPadding)
    );
}

#[test]
fn encrypted_envelopes_round_trip() {
    let k = key();
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionRefunded));
    let body = k.encrypt(&envelope.to_bytes().unwrap()).unwrap();
    assert_eq!(k.decrypt_envelope(&body).unwrap(), envelope);
    let not_an_envelope = k.encrypt(b"{}").unwrap();
    assert!(matches!(
        k.decrypt_envelope(&not_an_envelope),
        Err(DecryptError::Envelope(_))
    ));
}

/// Laravel's `Encrypter::encryptString` output (made with Debian's php-illuminate-encryption,
/// `scripts/laravel_interop.sh` checks both directions in CI): the base64 of the JSON object,
/// with Laravel's empty `tag` member. Both forms decrypt; `encrypt_laravel` writes the first.
#[test]
fn laravel_encrypter_bodies_decrypt_in_both_forms() {
    use base64::Engine as _;
    use lms_webhooks::encryption::laravel_form;
    let key = EncryptionKey::parse("0123456789abcdef0123456789abcdef").unwrap();
    let laravel = "eyJpdiI6IkJ4UzQyTHRZN0JmcmZLb3lhL3kzU2c9PSIsInZhbHVlIjoic2NrRWIvakJCK0FKdnhMMHd1WXBWaHJ6K09ENlAvamhiOGVzbk1pdVVIcz0iLCJtYWMiOiIzNjUyOGI4Mjg5YjIyYTQ1NTQ4MzMyYjIyOTZkNWJkNWM1MjQ2MTc1ZDA5OGZlOWM1NWU2MTAwODdiMjQ1ZjllIiwidGFnIjoiIn0=";
    assert_eq!(
        key.decrypt(laravel.as_bytes()).unwrap(),
        br#"{"type":"webhook.test"}"#
    );
    let json = base64::engine::general_purpose::STANDARD
        .decode(laravel)
        .unwrap();
    assert_eq!(key.decrypt(&json).unwrap(), br#"{"type":"webhook.test"}"#);
    // With a trailing newline, as a shell pipe may add.
    assert!(key.decrypt(format!("{laravel}\n").as_bytes()).is_ok());

    let ours = key.encrypt_laravel(b"hello").unwrap();
    assert_eq!(key.decrypt(&ours).unwrap(), b"hello");
    let raw = key.encrypt(b"hello").unwrap();
    assert_eq!(
        laravel_form(&raw).as_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(&raw)
            .as_bytes()
    );
    // Base64 of something else is still refused, with the MAC checked first.
    let other = EncryptionKey::parse("another-32-character-secret-key!").unwrap();
    assert_eq!(
        other.decrypt(laravel.as_bytes()),
        Err(lms_webhooks::DecryptError::MacMismatch)
    );
    assert!(key.decrypt(b"bm90IGpzb24=").is_err());
}
