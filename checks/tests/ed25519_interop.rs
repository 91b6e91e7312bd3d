//! Standard Webhooks `v1a` against a second, independent Rust implementation of Ed25519
//! (`ed25519-compact`, a port of libsodium's), both directions, on random keys, ids, times and
//! bodies: our signatures verify there, its signatures verify here, and the same key signs
//! to the same bytes in both. Python's `cryptography` is checked by `scripts/v1a_interop.sh`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use lms_webhooks::signature::Message;
use lms_webhooks::{Scheme, Secret, Timestamp, Verifier};
use proptest::prelude::*;

fn content(id: &str, ts: i64, body: &[u8]) -> Vec<u8> {
    [id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body].concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ours_and_ed25519_compact_agree(
        seed in any::<[u8; 32]>(),
        id in "msg_[A-Za-z0-9]{1,24}",
        ts in 1_000_000_000i64..4_000_000_000,
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let theirs = KeyPair::from_seed(Seed::new(seed));
        // Our `whsk_` is the 64-byte pair libsodium writes: seed, then public key.
        let whsk = format!("whsk_{}", STANDARD.encode(*theirs.sk));
        let ours = Secret::parse(&whsk).unwrap();
        prop_assert_eq!(&*ours.expose_text(), whsk.as_str());
        let whpk = ours.public_key().unwrap();
        let shown = whpk.expose_text().to_string();
        prop_assert_eq!(shown, format!("whpk_{}", STANDARD.encode(*theirs.pk)));

        // Ours -> theirs.
        let now = Timestamp::from_unix(ts).unwrap();
        let headers = Scheme::standard().sign(&[ours], &Message::new(&id, now, &body)).unwrap();
        let value = headers["webhook-signature"].to_str().unwrap();
        let encoded = value.strip_prefix("v1a,").unwrap();
        let signature = Signature::from_slice(&STANDARD.decode(encoded).unwrap()).unwrap();
        let public = PublicKey::from_slice(&*theirs.pk).unwrap();
        prop_assert!(public.verify(content(&id, ts, &body), &signature).is_ok());

        // Theirs -> ours; deterministic Ed25519 gives the same bytes.
        let their_signature = theirs.sk.sign(content(&id, ts, &body), None);
        prop_assert_eq!(STANDARD.encode(*their_signature), encoded);
        let mut their_headers = headers.clone();
        their_headers.insert(
            "webhook-signature",
            format!("v1a,{}", STANDARD.encode(*their_signature)).parse().unwrap(),
        );
        let verifier = Verifier::new(Scheme::standard(), [whpk]);
        prop_assert!(verifier.verify(now, &their_headers, &body).is_ok());
        // And one flipped body bit fails both.
        if !body.is_empty() {
            let mut altered = body.clone();
            altered[0] ^= 1;
            prop_assert!(verifier.verify(now, &their_headers, &altered).is_err());
            prop_assert!(public.verify(content(&id, ts, &altered), &signature).is_err());
        }
    }
}
