//! Standard Webhooks `v1a`: Ed25519 signatures with `whsk_` signing keys and `whpk_` public
//! keys. The fixed vector in `tests/vectors/standard_webhooks_v1a.json` was made with Python's
//! `cryptography` (OpenSSL), not with this crate; `scripts/v1a_interop.sh` checks both
//! directions against it at random, and `checks/tests/ed25519_interop.rs` against a second
//! Rust implementation.

use std::path::Path;

use lms_webhooks::delivery::Delivery;
use lms_webhooks::endpoint::{Endpoint, UrlPolicy};
use lms_webhooks::receiver::Receiver;
use lms_webhooks::signature::{Message, SignError, VerifyError};
use lms_webhooks::{
    Envelope, Event, EventType, Profile, Scheme, Secret, SecretError, SecretForm, Timestamp,
    Verifier,
};
use serde_json::Value;

fn vector() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/standard_webhooks_v1a.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

#[test]
fn the_fixed_vector_signs_and_verifies_byte_for_byte() {
    let v = vector();
    let ts = at(v["timestamp"].as_i64().unwrap());
    let message = Message::new(text(&v, "id"), ts, text(&v, "body").as_bytes());
    let pair = Secret::parse(text(&v, "signing_key")).unwrap();
    let seed = Secret::parse(text(&v, "signing_key_seed_only")).unwrap();
    assert_eq!(pair.form(), SecretForm::Whsk);
    assert_eq!(pair, seed, "the 64-byte pair and the seed are one key");
    assert_eq!(
        &*pair.expose_text(),
        text(&v, "signing_key"),
        "written as the pair"
    );
    let public = pair.public_key().unwrap();
    assert_eq!(&*public.expose_text(), text(&v, "public_key"));

    // Ed25519 is deterministic: the same key signs the same content to the same bytes.
    for key in [&pair, &seed] {
        let headers = Scheme::standard()
            .sign(std::slice::from_ref(key), &message)
            .unwrap();
        assert_eq!(headers["webhook-signature"], text(&v, "signature"));
        assert_eq!(headers["webhook-id"], text(&v, "id"));
    }
    let headers = Scheme::standard().sign(&[pair], &message).unwrap();
    let verifier = Verifier::new(
        Scheme::standard(),
        [Secret::parse(text(&v, "public_key")).unwrap()],
    );
    let verified = verifier.verify(ts, &headers, message.body).unwrap();
    assert_eq!(verified.id.as_deref(), Some(text(&v, "id")));
    assert_eq!(verified.timestamp, Some(ts));
}

#[test]
fn every_rejection_applies_to_v1a() {
    let signing = Secret::generate_ed25519().unwrap();
    let public = signing.public_key().unwrap();
    let now = at(1_800_000_000);
    let body = br#"{"type":"webhook.test"}"#;
    let headers = Scheme::standard()
        .sign(
            std::slice::from_ref(&signing),
            &Message::new("msg_1", now, body),
        )
        .unwrap();
    let verifier = Verifier::new(Scheme::standard(), [public.clone()]);
    assert!(verifier.verify(now, &headers, body).is_ok());

    // Every flipped byte of the body, and a body one byte longer.
    for i in 0..body.len() {
        let mut tampered = body.to_vec();
        tampered[i] ^= 0x01;
        assert_eq!(
            verifier.verify(now, &headers, &tampered),
            Err(VerifyError::Mismatch)
        );
    }
    assert_eq!(
        verifier.verify(now, &headers, &[&body[..], b" "].concat()),
        Err(VerifyError::Mismatch)
    );
    // Another id or timestamp: the signature covers them.
    let mut other = headers.clone();
    other.insert("webhook-id", "msg_2".parse().unwrap());
    assert_eq!(
        verifier.verify(now, &other, body),
        Err(VerifyError::Mismatch)
    );
    // Stale and future.
    assert!(matches!(
        verifier.verify(at(1_800_000_000 + 301), &headers, body),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        verifier.verify(at(1_800_000_000 - 301), &headers, body),
        Err(VerifyError::TimestampTooNew { .. })
    ));
    // Malformed signatures never match, whatever their shape.
    let sig = headers["webhook-signature"].to_str().unwrap().to_owned();
    for bad in [
        "v1a,".to_owned(),
        "v1a,not base64!".to_owned(),
        format!("v1a,{}", &sig[4..20]),
        format!("{sig}AAAA"),
        "v1a,".to_owned() + &"A".repeat(86) + "==",
    ] {
        let mut h = headers.clone();
        h.insert("webhook-signature", bad.parse().unwrap());
        assert_eq!(
            verifier.verify(now, &h, body),
            Err(VerifyError::Mismatch),
            "{bad}"
        );
    }
    // Only `v1` signatures, and a receiver holding public keys only.
    let mut h = headers.clone();
    h.insert(
        "webhook-signature",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
            .parse()
            .unwrap(),
    );
    assert!(matches!(
        verifier.verify(now, &h, body),
        Err(VerifyError::NoV1aSignature { .. })
    ));
    // Another key pair's public key.
    let stranger = Secret::generate_ed25519().unwrap().public_key().unwrap();
    assert_eq!(
        Verifier::new(Scheme::standard(), [stranger]).verify(now, &headers, body),
        Err(VerifyError::Mismatch)
    );
    // The `svix-*` names carry it too.
    let svix: Scheme = lms_webhooks::signature::StandardWebhooks::svix().into();
    let h = svix
        .sign(&[signing], &Message::new("msg_1", now, body))
        .unwrap();
    assert!(h.contains_key("svix-signature"));
    assert!(verifier.verify(now, &h, body).is_ok());
}

/// Rotation: several keys sign, each receiver verifies with the key it holds; `v1` and `v1a`
/// side by side while an endpoint moves from a shared secret to a key pair.
#[test]
fn several_keys_and_mixed_v1_v1a_headers() {
    let now = at(1_800_000_000);
    let body = b"{}";
    let message = Message::new("msg_rot", now, body);
    let (old, new) = (
        Secret::generate_ed25519().unwrap(),
        Secret::generate_ed25519().unwrap(),
    );
    let shared = Secret::generate_standard().unwrap();
    let headers = Scheme::standard()
        .sign(&[new.clone(), old.clone(), shared.clone()], &message)
        .unwrap();
    let value = headers["webhook-signature"].to_str().unwrap();
    let kinds: Vec<&str> = value
        .split(' ')
        .map(|e| e.split(',').next().unwrap())
        .collect();
    assert_eq!(kinds, ["v1a", "v1a", "v1"]);
    for (holds, index) in [
        (vec![old.public_key().unwrap()], 0),
        (vec![new.public_key().unwrap()], 0),
        (vec![shared.clone()], 0),
        (
            vec![
                Secret::generate_standard().unwrap(),
                old.public_key().unwrap(),
            ],
            1,
        ),
        // A sender's own signing key verifies too (its public half).
        (vec![new.clone()], 0),
    ] {
        let verified = Verifier::new(Scheme::standard(), holds)
            .verify(now, &headers, body)
            .unwrap();
        assert_eq!(verified.secret_index, index);
    }
    // A shared secret does not match a `v1a` signature, nor a key a `v1` one.
    let only_v1 = Scheme::standard().sign(&[shared], &message).unwrap();
    assert!(matches!(
        Verifier::new(Scheme::standard(), [new.public_key().unwrap()]).verify(now, &only_v1, body),
        Err(VerifyError::NoV1aSignature { .. })
    ));
    let only_v1a = Scheme::standard().sign(&[new], &message).unwrap();
    assert!(matches!(
        Verifier::new(Scheme::standard(), [Secret::generate_standard().unwrap()])
            .verify(now, &only_v1a, body),
        Err(VerifyError::NoV1Signature { .. })
    ));
}

#[test]
fn public_keys_cannot_sign_and_other_schemes_refuse_ed25519_keys() {
    let signing = Secret::generate_ed25519().unwrap();
    let public = signing.public_key().unwrap();
    let message = Message::new("msg_1", at(1_800_000_000), b"{}");
    assert!(matches!(
        Scheme::standard().sign(std::slice::from_ref(&public), &message),
        Err(SignError::UnsupportedKey(_))
    ));
    for scheme in [
        Scheme::from(lms_webhooks::signature::BodyHmacHex::learnomy()),
        Scheme::from(lms_webhooks::signature::PresharedToken::learnworlds()),
    ] {
        assert!(matches!(
            scheme.sign(std::slice::from_ref(&signing), &message),
            Err(SignError::UnsupportedKey(_))
        ));
        // A body-HMAC header made with the seed's bytes as a shared secret never verifies
        // against the Ed25519 key.
        let as_shared = Secret::from_key(signing.expose_bytes().to_vec()).unwrap();
        let headers = scheme.sign(&[as_shared], &message).unwrap();
        assert!(
            Verifier::new(scheme.clone(), [signing.clone(), public.clone()])
                .verify(message.timestamp, &headers, message.body)
                .is_err()
        );
    }
}

#[test]
fn keys_parse_strictly_and_never_show_in_debug() {
    let v = vector();
    let pair_text = text(&v, "signing_key");
    // A pair whose public half is another key's.
    let other = Secret::generate_ed25519().unwrap().public_key().unwrap();
    let mut forged = base64_decode(&pair_text[5..]);
    forged[32..].copy_from_slice(&base64_decode(&other.expose_text()[5..]));
    let forged = format!("whsk_{}", base64_encode(&forged));
    for (bad, expect) in [
        (forged.as_str(), "second half"),
        ("whsk_AAAA", "3 bytes"),
        ("whpk_AAAA", "3 bytes"),
        ("whsk_!!!", "base64"),
        // The identity point: of small order, so any signature would verify.
        (
            "whpk_AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "small order",
        ),
        ("whsk_", "empty"),
    ] {
        let e = Secret::parse(bad).unwrap_err();
        assert!(e.to_string().contains(expect), "{bad}: {e}");
        assert!(matches!(
            e,
            SecretError::InvalidEd25519 { .. }
                | SecretError::InvalidBase64 { .. }
                | SecretError::Empty
        ));
    }
    let signing = Secret::parse(pair_text).unwrap();
    let debug = format!("{signing:?}");
    assert!(!debug.contains(&pair_text[5..15]), "{debug}");
    assert!(debug.contains("Whsk"));
    // Serialized as written, read back equal.
    let json = serde_json::to_string(&signing).unwrap();
    assert_eq!(serde_json::from_str::<Secret>(&json).unwrap(), signing);
    // Distinct kinds never compare equal, even over the same bytes.
    let shared = Secret::from_key(signing.expose_bytes().to_vec()).unwrap();
    assert_ne!(shared, signing);
}

/// An endpoint that signs `v1a`, a receiver that holds only its public key.
#[test]
fn a_v1a_endpoint_and_a_receiver_with_no_secret() {
    let now = at(1_800_000_000);
    let signing = Secret::generate_ed25519().unwrap();
    let public = signing.public_key().unwrap();
    let mut endpoint = Endpoint::create(
        now,
        "ep_v1a",
        "https://hooks.example.com/in",
        &UrlPolicy::default(),
    )
    .unwrap()
    .0
    .with_signing(Scheme::standard(), signing);
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
    let body = envelope.to_bytes().unwrap();
    let mut delivery = Delivery::new(now, envelope.id().as_str(), endpoint.shared_id(), body);
    let request = endpoint.request(now, &mut delivery).unwrap();
    let signature = request.headers()["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(signature.starts_with("v1a,"), "{signature}");

    assert_eq!(endpoint.public_key().as_ref(), Some(&public));
    let receiver = Receiver::new(Profile::standard()).with_secret(public.clone());
    let got = receiver
        .receive(now, request.headers(), request.body())
        .unwrap();
    assert_eq!(got.event, *envelope.event());

    // Rotation keeps the endpoint asymmetric; during the grace both keys sign.
    let shown = endpoint
        .rotate_secret(now, std::time::Duration::from_secs(3_600))
        .unwrap();
    assert!(shown.starts_with("whsk_"));
    let new_public = Secret::parse(&shown).unwrap().public_key().unwrap();
    assert_eq!(endpoint.public_key().as_ref(), Some(&new_public));
    let mut delivery = Delivery::new(
        now,
        envelope.id().as_str(),
        endpoint.shared_id(),
        envelope.to_bytes().unwrap(),
    );
    let request = endpoint.request(now, &mut delivery).unwrap();
    for key in [public, new_public] {
        let got = Receiver::new(Profile::standard()).with_secret(key).receive(
            now,
            request.headers(),
            request.body(),
        );
        assert!(got.is_ok(), "{got:?}");
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
