//! Fan-out of one ~1 KiB event to N endpoints, each delivery's first request built and signed,
//! next to N raw HMACs of the same body (one key per endpoint, as each has its own secret), and
//! next to N hand-built signed `http::Request`s (the HMAC plus the request a sender must make).
//!
//! `cargo bench -p lms-webhooks-benches --bench fan_out`

use std::hint::black_box;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use lms_webhooks::endpoint::{fan_out, Endpoint, UrlPolicy};
use lms_webhooks::signature::Message;
use lms_webhooks::{Envelope, Event, EventType, SalesEvent, Timestamp};
use sha2::Sha256;

const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

fn envelope_1k() -> Envelope {
    let Event::Sales(SalesEvent::TransactionCompleted(mut tx)) =
        Event::sample(EventType::SalesTransactionCompleted)
    else {
        unreachable!("the sample of a completed sale is a completed sale")
    };
    tx.extra.insert("note".into(), "x".repeat(300).into());
    Envelope::new(SalesEvent::TransactionCompleted(tx))
}

fn bench(c: &mut Criterion) {
    let now = Timestamp::from_unix(1_800_000_000).unwrap();
    let envelope = envelope_1k();
    let body = envelope.to_bytes().unwrap();
    let mut group = c.benchmark_group(format!("fan_out/{}B", body.len()));
    group.sample_size(10);
    for n in [1usize, 100, 10_000] {
        let policy = UrlPolicy::new();
        let endpoints: Vec<Endpoint> = (0..n)
            .map(|i| {
                Endpoint::create(
                    now,
                    format!("ep{i}"),
                    &format!("https://h{i}.example.com/in"),
                    &policy,
                )
                .unwrap()
                .0
            })
            .collect();
        let keys: Vec<Vec<u8>> = endpoints
            .iter()
            .map(|e| e.signing_secrets(now)[0].expose_bytes().to_vec())
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("raw_hmac", n), &keys, |b, keys| {
            b.iter(|| {
                for key in keys {
                    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
                    mac.update(black_box(&body));
                    black_box(mac.finalize());
                }
            })
        });
        // What a hand-written sender does per endpoint at the least: the HMAC, its base64, and
        // an `http::Request` with the same five headers (static names, URL parsed beforehand).
        let uris: Vec<http::Uri> = endpoints.iter().map(|e| e.url().uri().clone()).collect();
        let id = envelope.id().as_str();
        group.bench_with_input(BenchmarkId::new("raw_hmac_request", n), &keys, |b, keys| {
            b.iter(|| {
                for (key, uri) in keys.iter().zip(&uris) {
                    let ts = now.unix().to_string();
                    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
                    for part in [id.as_bytes(), b".", ts.as_bytes(), b".", &body] {
                        mac.update(part);
                    }
                    let tag = STANDARD.encode(mac.finalize().into_bytes());
                    let mut headers = HeaderMap::with_capacity(8);
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    headers.insert(USER_AGENT, HeaderValue::from_static("sender/1"));
                    headers.insert(WEBHOOK_ID, HeaderValue::from_str(id).unwrap());
                    headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from_str(&ts).unwrap());
                    headers.insert(
                        WEBHOOK_SIGNATURE,
                        HeaderValue::from_str(&format!("v1,{tag}")).unwrap(),
                    );
                    let mut request = http::Request::new(body.clone());
                    *request.method_mut() = http::Method::POST;
                    *request.uri_mut() = uri.clone();
                    *request.headers_mut() = headers;
                    black_box(request);
                }
            })
        });
        group.bench_with_input(
            BenchmarkId::new("fan_out_only", n),
            &endpoints,
            |b, endpoints| b.iter(|| fan_out(now, &envelope, endpoints).unwrap()),
        );
        // What a host with its own HTTP types pays: the deliveries and each one's signature
        // (`Scheme::signature_value`, the value of its signature header, with the endpoint's
        // current secrets), no `http::Request`.
        group.bench_with_input(
            BenchmarkId::new("ours_signatures", n),
            &endpoints,
            |b, endpoints| {
                b.iter(|| {
                    let out = fan_out(now, &envelope, endpoints).unwrap();
                    for (d, e) in out.deliveries.iter().zip(endpoints.iter()) {
                        let target = e.target(now);
                        let message = Message::new(d.event_id(), now, d.body());
                        black_box(
                            target
                                .scheme()
                                .signature_value(target.secrets(), &message)
                                .unwrap(),
                        );
                    }
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("ours", n), &endpoints, |b, endpoints| {
            b.iter(|| {
                let out = fan_out(now, &envelope, endpoints).unwrap();
                // Every endpoint subscribes: deliveries come in the endpoints' order. Each
                // request is built from its endpoint as it is now (its shared target).
                for (mut d, e) in out.deliveries.into_iter().zip(endpoints.iter()) {
                    black_box(d.next_request(now, &e.target(now)).unwrap());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
