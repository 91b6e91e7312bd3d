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
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
