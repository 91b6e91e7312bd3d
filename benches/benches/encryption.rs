//! Encrypt and decrypt, next to the raw primitives they are made of (AES-256-CBC with PKCS#7,
//! HMAC-SHA256, base64), each measured in the same run on the same bytes.
//!
//! `cargo bench -p lms-webhooks-benches --bench encryption`

use std::hint::black_box;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use lms_webhooks::EncryptionKey;
use sha2::Sha256;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

const KEY: [u8; 32] = *b"Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a";
const IV: [u8; 16] = [7; 16];

fn hmac(parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn bench(c: &mut Criterion) {
    let key = EncryptionKey::from_bytes(&KEY).unwrap();
    for size in [256usize, 1024, 16 * 1024, 256 * 1024] {
        let plaintext: Vec<u8> = (0..size).map(|i| b"{\"data\":abcdefgh}"[i % 17]).collect();
        let ciphertext = Enc::new(&KEY.into(), &IV.into()).encrypt_padded_vec::<Pkcs7>(&plaintext);
        let iv_b64 = STANDARD.encode(IV);
        let value_b64 = STANDARD.encode(&ciphertext);
        let body = key.encrypt_with_iv(&plaintext, IV);

        let mut group = c.benchmark_group(format!("encrypt/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("raw", "aes-cbc"), |b| {
            b.iter(|| {
                Enc::new(&KEY.into(), &IV.into()).encrypt_padded_vec::<Pkcs7>(black_box(&plaintext))
            })
        });
        group.bench_function(BenchmarkId::new("raw", "base64"), |b| {
            b.iter(|| STANDARD.encode(black_box(&ciphertext)))
        });
        group.bench_function(BenchmarkId::new("raw", "hmac"), |b| {
            b.iter(|| hmac(&[iv_b64.as_bytes(), black_box(value_b64.as_bytes())]))
        });
        group.bench_function(BenchmarkId::new("ours", "encrypt_with_iv"), |b| {
            b.iter(|| key.encrypt_with_iv(black_box(&plaintext), IV))
        });
        group.bench_function(BenchmarkId::new("ours", "encrypt"), |b| {
            b.iter(|| key.encrypt(black_box(&plaintext)).unwrap())
        });
        group.finish();

        let mut group = c.benchmark_group(format!("decrypt/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("raw", "base64"), |b| {
            b.iter(|| STANDARD.decode(black_box(&value_b64)).unwrap())
        });
        group.bench_function(BenchmarkId::new("raw", "hmac"), |b| {
            b.iter(|| hmac(&[iv_b64.as_bytes(), black_box(value_b64.as_bytes())]))
        });
        group.bench_function(BenchmarkId::new("raw", "aes-cbc"), |b| {
            b.iter(|| {
                Dec::new(&KEY.into(), &IV.into())
                    .decrypt_padded_vec::<Pkcs7>(black_box(&ciphertext))
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("ours", "decrypt"), |b| {
            b.iter(|| key.decrypt(black_box(&body)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
