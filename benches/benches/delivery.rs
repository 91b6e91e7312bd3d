//! The delivery state machine: `record()` transitions and request building (which signs).
//!
//! `cargo bench -p lms-webhooks-benches --bench delivery`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lms_webhooks::delivery::{Delivery, Outcome, Target};
use lms_webhooks::endpoint::UrlPolicy;
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::{Envelope, Event, EventType, Secret, Timestamp};

fn bench(c: &mut Criterion) {
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let body = envelope.to_bytes().unwrap();
    let url = UrlPolicy::new()
        .check("https://crm.example.com/hooks")
        .unwrap();
    let target = Target::new(url)
        .with_secret(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap())
        .with_retry(RetrySchedule::learnybox());
    let now = Timestamp::from_unix(1_800_000_000).unwrap();
    let fresh = Delivery::new(now, envelope.id().as_str(), "ep_crm", body);
    let mut in_flight = fresh.clone();
    in_flight.next_request(now, &target).unwrap();

    let mut group = c.benchmark_group("delivery");
    group.bench_function("record/retry", |b| {
        b.iter_batched_ref(
            || in_flight.clone(),
            |d| {
                d.record(now, &target, black_box(Outcome::status(500)))
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("record/done", |b| {
        b.iter_batched_ref(
            || in_flight.clone(),
            |d| {
                d.record(now, &target, black_box(Outcome::status(200)))
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("next_request", |b| {
        b.iter_batched_ref(
            || fresh.clone(),
            |d| d.next_request(black_box(now), &target).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
