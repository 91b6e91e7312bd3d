//! Envelope serialize and parse, next to bare `serde_json` on a plain struct of the same shape.
//!
//! `cargo bench -p lms-webhooks-benches --bench envelope`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lms_webhooks::event::Transaction;
use lms_webhooks::{Envelope, Event, EventId, EventType, SalesEvent, Timestamp};
use serde::{Deserialize, Serialize};

/// The baseline: what a hand-written envelope struct costs with serde_json alone.
#[derive(Serialize, Deserialize)]
struct PlainEnvelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    timestamp: String,
    data: Transaction,
}

/// A plainer baseline: the same JSON into structs of plain fields (strings and integers, the
/// unknown `note` kept as a `serde_json::Value` map entry the way a hand-written receiver
/// would keep it), none of this crate's types.
#[derive(Deserialize)]
struct PlainSaleEnvelope {
    #[allow(dead_code)]
    id: String,
    #[serde(rename = "type")]
    #[allow(dead_code)]
    event_type: String,
    #[allow(dead_code)]
    timestamp: String,
    #[allow(dead_code)]
    data: PlainSale,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PlainMoney {
    amount: i64,
    currency: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PlainPerson {
    id: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PlainProduct {
    id: String,
    name: Option<String>,
    kind: Option<String>,
    price: Option<PlainMoney>,
    quantity: Option<u32>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PlainSale {
    id: String,
    amount: PlainMoney,
    customer: PlainPerson,
    status: Option<String>,
    product: Option<PlainProduct>,
    payment_method: Option<String>,
    coupon: Option<String>,
    affiliate_id: Option<String>,
    tax: Option<PlainMoney>,
    invoice_id: Option<String>,
    created_at: Option<String>,
    note: Option<serde_json::Value>,
}

/// A sale whose `extra` pads the body to about `size` bytes.
fn sale(size: usize) -> Envelope {
    let Event::Sales(SalesEvent::TransactionCompleted(mut tx)) =
        Event::sample(EventType::SalesTransactionCompleted)
    else {
        unreachable!("the sample of a completed sale is a completed sale")
    };
    let base = serde_json::to_vec(&tx).unwrap().len();
    tx.extra.insert(
        "note".into(),
        "x".repeat(size.saturating_sub(base + 200)).into(),
    );
    Envelope::from_parts(
        EventId::new(),
        Timestamp::from_unix(1_795_420_800).unwrap(),
        SalesEvent::TransactionCompleted(tx).into(),
    )
}

fn bench(c: &mut Criterion) {
    for size in [256usize, 1024, 16 * 1024, 256 * 1024] {
        let envelope = sale(size);
        let bytes = envelope.to_bytes().unwrap();
        let plain: PlainEnvelope = serde_json::from_slice(&bytes).unwrap();
        let mut group = c.benchmark_group(format!("envelope/{size}B"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::new("serialize", "ours"), |b| {
            b.iter(|| envelope.to_bytes().unwrap())
        });
        group.bench_function(BenchmarkId::new("serialize", "serde_json"), |b| {
            b.iter(|| serde_json::to_vec(&plain).unwrap())
        });
        group.bench_function(BenchmarkId::new("parse", "ours"), |b| {
            b.iter(|| Envelope::from_slice(&bytes).unwrap())
        });
        group.bench_function(BenchmarkId::new("parse", "serde_json"), |b| {
            b.iter(|| serde_json::from_slice::<PlainEnvelope>(&bytes).unwrap())
        });
        group.bench_function(BenchmarkId::new("parse", "serde_json_plain"), |b| {
            b.iter(|| serde_json::from_slice::<PlainSaleEnvelope>(&bytes).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
