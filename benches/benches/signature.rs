//! Signing and verifying, next to the bare `hmac` crate over the same bytes and next to the
//! reference `standardwebhooks` crate; `v1a` next to bare `ed25519-dalek`. Same run, same machine, same inputs.
//!
//! `cargo bench -p lms-webhooks-benches --bench signature`

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::Signer as _;
use hmac::{Hmac, KeyInit, Mac};
use lms_webhooks::signature::{BodyHmacHex, Message};
use lms_webhooks::{Scheme, Secret, Timestamp, Verifier};
use sha2::Sha256;
use std::hint::black_box;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// RFC 8032 section 7.1 TEST 1's key, as in `tests/vectors/standard_webhooks_v1a.json`.
const V1A_KEY: &str = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const ID: &str = "evt_01JDX3V4S5Q8K9M2N7P6R5T4W3";

fn raw_hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn bench(c: &mut Criterion) {
    let secret = Secret::parse(SECRET).unwrap();
    let secrets = std::slice::from_ref(&secret);
    let key = secret.expose_bytes().to_vec();
    let reference = standardwebhooks::Webhook::new(SECRET).unwrap();

    for size in [256usize, 1024, 16 * 1024, 256 * 1024] {
        // A JSON-ish ASCII body (the reference crate requires UTF-8).
        let body: Vec<u8> = (0..size).map(|i| b"{\"data\":abcdefgh}"[i % 17]).collect();
        let now = Timestamp::now();
        let signed_content = format!("{ID}.{}.", now.unix())
            .into_bytes()
            .into_iter()
            .chain(body.iter().copied())
            .collect::<Vec<u8>>();

        let standard = Scheme::standard();
        let headers = standard
            .sign(secrets, &Message::new(ID, now, &body))
            .unwrap();
        let verifier = Verifier::new(standard.clone(), [secret.clone()]);

        let mut group = c.benchmark_group(format!("standard/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("hmac", "raw"), |b| {
            b.iter(|| raw_hmac(&key, black_box(&signed_content)))
        });
        // The limit the hot-paths issue sets: the HMAC and its base64, into a stack buffer.
        group.bench_function(BenchmarkId::new("hmac", "raw_base64"), |b| {
            b.iter(|| {
                let tag = raw_hmac(&key, black_box(&signed_content));
                let mut text = [0u8; 44];
                let _ = STANDARD.encode_slice(tag, &mut text);
                text
            })
        });
        group.bench_function(BenchmarkId::new("sign", "ours"), |b| {
            b.iter(|| {
                standard
                    .sign(secrets, &Message::new(ID, now, black_box(&body)))
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("signature_value", "ours"), |b| {
            b.iter(|| {
                standard
                    .signature_value(secrets, &Message::new(ID, now, black_box(&body)))
                    .unwrap()
            })
        });
        let mut reused = http::HeaderMap::with_capacity(3);
        group.bench_function(BenchmarkId::new("sign_into", "ours"), |b| {
            b.iter(|| {
                standard
                    .sign_into(
                        secrets,
                        &Message::new(ID, now, black_box(&body)),
                        &mut reused,
                    )
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("sign", "standardwebhooks"), |b| {
            b.iter(|| reference.sign(ID, now.unix(), black_box(&body)).unwrap())
        });
        group.bench_function(BenchmarkId::new("verify", "ours"), |b| {
            b.iter(|| verifier.verify(now, &headers, black_box(&body)).unwrap())
        });
        group.bench_function(BenchmarkId::new("verify", "standardwebhooks"), |b| {
            b.iter(|| reference.verify(black_box(&body), &headers).unwrap())
        });
        // The same request as name/value pairs (how many frameworks hand headers over, and
        // the README's examples), among five other headers as a request has them.
        let mut pairs: Vec<(String, String)> = [
            ("host", "crm.example.com"),
            ("user-agent", "lms-webhooks/0.1"),
            ("content-type", "application/json"),
            ("content-length", "256"),
            ("accept", "*/*"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        pairs.extend(
            headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())),
        );
        group.bench_function(BenchmarkId::new("verify_pairs", "ours"), |b| {
            b.iter(|| verifier.verify(now, &pairs[..], black_box(&body)).unwrap())
        });
        // The same request as a server hands it over: a `HeaderMap` with those five headers
        // and three more a proxy adds.
        let mut request: http::HeaderMap = pairs[..5]
            .iter()
            .chain(&[
                ("accept-encoding".to_owned(), "gzip".to_owned()),
                ("x-forwarded-for".to_owned(), "203.0.113.7".to_owned()),
                ("x-request-id".to_owned(), "4bf92f3577b34da6".to_owned()),
            ])
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        request.extend(headers.clone());
        group.bench_function(BenchmarkId::new("verify_request", "ours"), |b| {
            b.iter(|| verifier.verify(now, &request, black_box(&body)).unwrap())
        });
        group.finish();

        let hex = Scheme::from(BodyHmacHex::learnomy());
        let hex_headers = hex.sign(secrets, &Message::new(ID, now, &body)).unwrap();
        let hex_verifier = Verifier::new(hex.clone(), [secret.clone()]);
        let mut group = c.benchmark_group(format!("hex/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("hmac", "raw"), |b| {
            b.iter(|| raw_hmac(&key, black_box(&body)))
        });
        group.bench_function(BenchmarkId::new("sign", "ours"), |b| {
            b.iter(|| {
                hex.sign(secrets, &Message::new(ID, now, black_box(&body)))
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("verify", "ours"), |b| {
            b.iter(|| {
                hex_verifier
                    .verify(now, &hex_headers, black_box(&body))
                    .unwrap()
            })
        });
        group.finish();

        // v1a: Ed25519 over the same content, next to bare `ed25519-dalek`.
        let signing = Secret::parse(V1A_KEY).unwrap();
        let public = signing.public_key().unwrap();
        let dalek =
            ed25519_dalek::SigningKey::from_bytes(signing.expose_bytes().try_into().unwrap());
        let dalek_public = dalek.verifying_key();
        let dalek_signature = dalek.sign(&signed_content);
        let v1a_headers = standard
            .sign(
                std::slice::from_ref(&signing),
                &Message::new(ID, now, &body),
            )
            .unwrap();
        let v1a_verifier = Verifier::new(standard.clone(), [public]);
        let mut group = c.benchmark_group(format!("v1a/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("sign", "ed25519-dalek"), |b| {
            b.iter(|| dalek.sign(black_box(&signed_content)))
        });
        group.bench_function(BenchmarkId::new("sign", "ours"), |b| {
            b.iter(|| {
                standard
                    .signature_value(
                        std::slice::from_ref(&signing),
                        &Message::new(ID, now, black_box(&body)),
                    )
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("verify", "ed25519-dalek"), |b| {
            b.iter(|| {
                dalek_public
                    .verify_strict(black_box(&signed_content), &dalek_signature)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("verify", "ours"), |b| {
            b.iter(|| {
                v1a_verifier
                    .verify(now, &v1a_headers, black_box(&body))
                    .unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
