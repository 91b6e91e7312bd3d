//! The receiver's whole pipeline on one request (verify, decrypt, parse into a typed event),
//! next to the raw primitives a hand-written receiver would call on the same bytes: HMAC of
//! the signed content, base64 + HMAC + AES-256-CBC for the encrypted body, and `serde_json`
//! into an untyped `Value`.
//!
//! `cargo bench -p lms-webhooks-benches --bench receiver`

use std::hint::black_box;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::Receiver;
use lms_webhooks::signature::Message;
use lms_webhooks::{EncryptionKey, Envelope, Event, EventType, SalesEvent, Secret, Timestamp};
use sha2::Sha256;

type Dec = cbc::Decryptor<aes::Aes256>;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY: [u8; 32] = *b"Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a";

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// A completed sale whose body is about `size` bytes (a note pads it).
fn envelope(size: usize) -> Envelope {
    let Event::Sales(SalesEvent::TransactionCompleted(mut tx)) =
        Event::sample(EventType::SalesTransactionCompleted)
    else {
        unreachable!("the sample of a completed sale is a completed sale")
    };
    let base = Envelope::new(SalesEvent::TransactionCompleted(tx.clone()))
        .to_vec()
        .unwrap()
        .len();
    tx.extra.insert(
        "note".into(),
        "x".repeat(size.saturating_sub(base + 10)).into(),
    );
    Envelope::new(SalesEvent::TransactionCompleted(tx))
}

fn bench(c: &mut Criterion) {
    let secret = Secret::parse(SECRET).unwrap();
    let key = EncryptionKey::from_bytes(&KEY).unwrap();
    let now = Timestamp::now();
    for size in [256usize, 1024, 16 * 1024, 256 * 1024] {
        let envelope = envelope(size);
        let plain = envelope.to_vec().unwrap();
        let id = envelope.id().as_str();

        // Standard Webhooks, plain JSON: verify + parse.
        let standard = Receiver::new(Profile::standard()).with_secret(secret.clone());
        let headers = Profile::standard()
            .scheme()
            .sign(
                std::slice::from_ref(&secret),
                &Message::new(id, now, &plain),
            )
            .unwrap();
        let signed: Vec<u8> = format!("{id}.{}.", now.unix())
            .into_bytes()
            .into_iter()
            .chain(plain.iter().copied())
            .collect();
        let mut group = c.benchmark_group(format!("receiver/standard/{}B", plain.len()));
        group.throughput(Throughput::Bytes(plain.len() as u64));
        group.bench_function(BenchmarkId::new("raw", "hmac"), |b| {
            b.iter(|| hmac(secret.expose_bytes(), &[black_box(&signed[..])]))
        });
        group.bench_function(BenchmarkId::new("raw", "serde_json"), |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&plain)).unwrap())
        });
        group.bench_function(BenchmarkId::new("ours", "receive"), |b| {
            b.iter(|| standard.receive(now, &headers, black_box(&plain)).unwrap())
        });
        group.finish();

        // Learnybox, encrypted and signed: verify + MAC check + decrypt + parse.
        let profile = Profile::learnybox().with_signature_required(true);
        let learnybox = Receiver::new(profile.clone())
            .with_secret(secret.clone())
            .with_key(key.clone());
        let body = key.encrypt(&plain).unwrap();
        let headers = profile
            .scheme()
            .sign(std::slice::from_ref(&secret), &Message::new(id, now, &body))
            .unwrap();
        let signed: Vec<u8> = format!("{id}.{}.", now.unix())
            .into_bytes()
            .into_iter()
            .chain(body.iter().copied())
            .collect();
        let parts: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let (iv_b64, value_b64) = (
            parts["iv"].as_str().unwrap().to_owned(),
            parts["value"].as_str().unwrap().to_owned(),
        );
        let iv: [u8; 16] = STANDARD.decode(&iv_b64).unwrap().try_into().unwrap();
        let ciphertext = STANDARD.decode(&value_b64).unwrap();
        let mut group = c.benchmark_group(format!("receiver/learnybox/{}B", plain.len()));
        group.throughput(Throughput::Bytes(plain.len() as u64));
        group.bench_function(BenchmarkId::new("raw", "hmac"), |b| {
            b.iter(|| hmac(secret.expose_bytes(), &[black_box(&signed[..])]))
        });
        group.bench_function(BenchmarkId::new("raw", "base64"), |b| {
            b.iter(|| STANDARD.decode(black_box(&value_b64)).unwrap())
        });
        group.bench_function(BenchmarkId::new("raw", "mac"), |b| {
            b.iter(|| hmac(&KEY, &[iv_b64.as_bytes(), black_box(value_b64.as_bytes())]))
        });
        group.bench_function(BenchmarkId::new("raw", "aes-cbc"), |b| {
            b.iter(|| {
                let mut buf = ciphertext.clone();
                let len = Dec::new(&KEY.into(), &iv.into())
                    .decrypt_padded::<Pkcs7>(black_box(&mut buf))
                    .unwrap()
                    .len();
                buf.truncate(len);
                buf
            })
        });
        group.bench_function(BenchmarkId::new("raw", "serde_json"), |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&plain)).unwrap())
        });
        group.bench_function(BenchmarkId::new("ours", "receive"), |b| {
            b.iter(|| learnybox.receive(now, &headers, black_box(&body)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
