//! Properties over arbitrary input, with `proptest`: no parser or verifier panics on any
//! bytes, encryption round-trips, and signatures interoperate with the reference
//! `standardwebhooks` crate both ways. A member of its own so that the crate's examples build
//! neither proptest nor the reference crate.

#[path = "../../tests/support/given.rs"]
mod given;

use given::{at, headers, secret};

use lms_webhooks::encryption::EncryptionKey;
use lms_webhooks::signature::{BodyHmacHex, Message, PresharedToken};
use lms_webhooks::{Envelope, Event, EventType, Scheme, Secret, Timestamp, Tolerance, Verifier};
use proptest::prelude::*;
use serde_json::json;

fn key() -> EncryptionKey {
    EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap()
}

/// The `value` part of an encrypted body, decoded.
fn value_len(body: &[u8]) -> usize {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    STANDARD.decode(v["value"].as_str().unwrap()).unwrap().len()
}

mod encryption {
    use super::*;

    proptest! {
        #[test]
        fn round_trip(key in proptest::array::uniform32(any::<u8>()), pt in proptest::collection::vec(any::<u8>(), 0..600)) {
            let k = EncryptionKey::from_bytes(&key).unwrap();
            prop_assert_eq!(k.decrypt(&k.encrypt(&pt).unwrap()).unwrap(), pt);
        }

        #[test]
        fn block_aligned_round_trip(blocks in 0usize..8, byte in any::<u8>()) {
            let pt = vec![byte; blocks * 16];
            let k = key();
            let body = k.encrypt(&pt).unwrap();
            prop_assert_eq!(value_len(&body), pt.len() + 16);
            prop_assert_eq!(k.decrypt(&body).unwrap(), pt);
        }

        #[test]
        fn no_input_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = key().decrypt(&body);
        }

        #[test]
        fn no_json_shaped_input_panics(iv in ".{0,30}", value in ".{0,60}", mac in ".{0,70}") {
            let body = serde_json::to_vec(&json!({"iv": iv, "value": value, "mac": mac})).unwrap();
            let _ = key().decrypt(&body);
        }
    }
}

mod envelope {
    use super::*;

    proptest! {
        #[test]
        fn no_input_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::from_slice(&bytes);
        }

        #[test]
        fn no_json_shaped_input_panics(
            id in ".{0,8}", ty in "[a-z._A-Z]{0,20}", ts in ".{0,30}", data in ".{0,40}"
        ) {
            let text = format!(r#"{{"id":{id:?},"type":{ty:?},"timestamp":{ts:?},"data":{data}}}"#);
            let _ = Envelope::from_slice(text.as_bytes());
        }

        #[test]
        fn type_strings_never_panic(s in ".{0,200}") {
            let _ = s.parse::<EventType>();
            let _ = Event::custom(s, json!({}));
        }
    }
}

mod signature {
    use super::*;

    /// The reference crate signs an id as it is given; a receiver trims only what HTTP calls
    /// whitespace (spaces, tabs) around it, never a non-ASCII space that is part of the id.
    #[test]
    fn an_id_ending_in_a_non_ascii_space_is_signed_as_it_is() {
        let ours = Secret::from_key(vec![7; 32]).unwrap();
        let reference = standardwebhooks::Webhook::new(&ours.expose_text()).unwrap();
        let now = Timestamp::now();
        let id = "msg_1\u{a0}";
        let theirs = reference.sign(id, now.unix(), b"{}").unwrap();
        let verifier = Verifier::new(Scheme::standard(), [ours]);
        for sent in [id.to_owned(), format!(" {id}\t")] {
            let h = headers(&[
                ("webhook-id", &sent),
                ("webhook-timestamp", &now.unix().to_string()),
                ("webhook-signature", &theirs),
            ]);
            let verified = verifier.verify(now, &h, b"{}").unwrap();
            assert_eq!(verified.id.as_deref(), Some(id));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Ours → reference and reference → ours, on random secrets, ids and bodies.
        #[test]
        fn interop_with_the_reference_crate(
            key in proptest::collection::vec(any::<u8>(), 16..64),
            id in "[a-zA-Z0-9_]{1,40}",
            body in ".{0,300}",
        ) {
            let ours = Secret::from_key(key.clone()).unwrap();
            let text = ours.expose_text();
            let reference = standardwebhooks::Webhook::new(&text).unwrap();
            let now = Timestamp::now();

            let signed = Scheme::standard().sign(std::slice::from_ref(&ours), &Message::new(&id, now, body.as_bytes())).unwrap();
            prop_assert!(reference.verify(body.as_bytes(), &signed).is_ok());

            let theirs = reference.sign(&id, now.unix(), body.as_bytes()).unwrap();
            prop_assert_eq!(&theirs, signed["webhook-signature"].to_str().unwrap());
            let h = headers(&[
                ("webhook-id", &id),
                ("webhook-timestamp", &now.unix().to_string()),
                ("webhook-signature", &theirs),
            ]);
            prop_assert!(Verifier::new(Scheme::standard(), [ours]).verify(now, &h, body.as_bytes()).is_ok());
        }

        /// A secret written without `whsec_`: the reference crate base64-decodes it, and so do
        /// our Standard Webhooks signatures (the `standardwebhooks` peer).
        #[test]
        fn an_unprefixed_secret_is_base64_as_in_the_reference_crate(
            key in proptest::collection::vec(any::<u8>(), 16..64),
            id in "[a-zA-Z0-9_]{1,40}",
            body in ".{0,300}",
        ) {
            use base64::Engine as _;
            let unprefixed = base64::engine::general_purpose::STANDARD.encode(&key);
            let ours = Secret::parse(&unprefixed).unwrap();
            let reference = standardwebhooks::Webhook::new(&unprefixed).unwrap();
            let now = Timestamp::now();
            let signed = Scheme::standard().sign(std::slice::from_ref(&ours), &Message::new(&id, now, body.as_bytes())).unwrap();
            prop_assert!(reference.verify(body.as_bytes(), &signed).is_ok());
            let theirs = reference.sign(&id, now.unix(), body.as_bytes()).unwrap();
            prop_assert_eq!(&theirs, signed["webhook-signature"].to_str().unwrap());
        }

        #[test]
        fn no_header_or_body_panics(
            id in ".{0,40}", ts in ".{0,24}", sig in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..200)
        ) {
            let pairs = [("webhook-id", id.as_str()), ("webhook-timestamp", ts.as_str()), ("webhook-signature", sig.as_str())];
            let s = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
            for scheme in [Scheme::standard(), BodyHmacHex::github().into(), BodyHmacHex::learnomy().into(), PresharedToken::learnworlds().into()] {
                let _ = scheme.verify(at(1_700_000_000), std::slice::from_ref(&s), &pairs[..], &body, Tolerance::DEFAULT);
            }
            let _ = Secret::parse(&sig);
        }
    }
}
