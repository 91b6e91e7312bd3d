//! End to end over loopback: deliveries per second to a fast local receiver, for a bare HTTP
//! client POSTing the same bytes, the crate's transport alone, and the full path (request
//! built from the endpoint, signed, sent, outcome recorded), at concurrency 1 and 32 with
//! reqwest, and 1 with ureq. All in one run, so the ratios compare like with like.
//!
//! `cargo bench -p lms-webhooks-benches --bench loopback` (`LOOPBACK_SECONDS` per round,
//! default 1; five rounds per figure, alternating, the median reported).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lms_webhooks::delivery::Delivery;
use lms_webhooks::endpoint::{Endpoint, UrlPolicy};
use lms_webhooks::transport::{BlockingTransport, ReqwestTransport, Transport, UreqTransport};
use lms_webhooks::{Envelope, Event, EventType, Timestamp};
use lms_webhooks_benches::serve;

/// Runs `work` on `concurrency` tasks for `seconds`; returns operations per second.
async fn rate<F, Fut>(concurrency: usize, seconds: f64, work: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let work = Arc::new(work);
    // Warm the connections up first.
    for _ in 0..concurrency.max(8) {
        work().await;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let work = Arc::clone(&work);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                work().await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Rounds per figure.
const ROUNDS: usize = 7;

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn blocking_rate(seconds: f64, work: impl Fn()) -> f64 {
    for _ in 0..8 {
        work();
    }
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        work();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no other flag.
    let seconds: f64 = std::env::var("LOOPBACK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(serve(listener));

    let url = format!("http://{addr}/hooks");
    let policy = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let now = Timestamp::now();
    let (endpoint, _) = Endpoint::create(now, "ep", &url, &policy).unwrap();
    let endpoint = Arc::new(endpoint);
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let body = envelope.to_bytes().unwrap();
    let event_id: Arc<str> = Arc::from(envelope.id().as_str());
    // The same bytes for every variant: a request signed once.
    let signed = {
        let mut d = Delivery::new(now, Arc::clone(&event_id), "ep", body.clone());
        d.next_request(now, &endpoint.target(now)).unwrap()
    };

    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let transport = Arc::new(
        ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))
            .unwrap()
            .with_policy(policy.clone())
            .unwrap(),
    );

    let mut rows = Vec::new();
    for concurrency in [1, 32] {
        let (client, url2, headers, body2) = (
            bare.clone(),
            url.clone(),
            signed.headers().clone(),
            signed.body().clone(),
        );
        let bare_work = move || {
            let (client, url, headers, body) =
                (client.clone(), url2.clone(), headers.clone(), body2.clone());
            async move {
                let response = client
                    .post(url)
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let _ = response.bytes().await;
            }
        };
        let (t, request) = (Arc::clone(&transport), signed.clone());
        let transport_work = move || {
            let (t, request) = (Arc::clone(&t), request.clone());
            async move {
                assert_eq!(t.send(request).await.status_code(), Some(200));
            }
        };
        let (t, e, id, b) = (
            Arc::clone(&transport),
            Arc::clone(&endpoint),
            Arc::clone(&event_id),
            body.clone(),
        );
        let full_work = move || {
            let (t, e, id, b) = (Arc::clone(&t), Arc::clone(&e), Arc::clone(&id), b.clone());
            async move {
                let now = Timestamp::now();
                let mut d = Delivery::new(now, id, "ep", b);
                let target = e.target(now);
                let request = d.next_request(now, &target).unwrap();
                let outcome = t.send(request).await;
                assert_eq!(
                    d.record(Timestamp::now(), &target, outcome).unwrap(),
                    lms_webhooks::Next::Done
                );
            }
        };
        // Rounds that alternate the three, so that the machine's drift hits them alike; the
        // median round of each is reported.
        let (mut bares, mut transports, mut fulls) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            bares.push(runtime.block_on(rate(concurrency, seconds, bare_work.clone())));
            transports.push(runtime.block_on(rate(concurrency, seconds, transport_work.clone())));
            fulls.push(runtime.block_on(rate(concurrency, seconds, full_work.clone())));
        }
        rows.push(Row::new(
            format!("reqwest, concurrency {concurrency}"),
            bares,
            transports,
            fulls,
        ));
    }

    // ureq, blocking, concurrency 1.
    // Bare clients are configured as the transports are (no redirects, no proxy, the same
    // timeouts), so that the figures compare the crate's work, not the clients' settings.
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(15)))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .build(),
    );
    let ureq_transport = UreqTransport::new(Duration::from_secs(5), Duration::from_secs(15))
        .with_policy(policy.clone());
    // ureq's default resolver runs each lookup in a thread of its own once timeouts are set,
    // so the same client without timeouts is measured too.
    let untimed = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .build(),
    );
    let run = |agent: &ureq::Agent| {
        let (parts, b) = signed.clone().into_parts();
        let mut response = agent
            .run(http::Request::from_parts(parts, b.as_ref()))
            .unwrap();
        let _ = response.body_mut().read_to_vec();
    };
    let bare_work = || run(&agent);
    let untimed_work = || run(&untimed);
    let transport_work = || {
        assert_eq!(ureq_transport.send(signed.clone()).status_code(), Some(200));
    };
    let full_work = || {
        let now = Timestamp::now();
        let mut d = Delivery::new(now, Arc::clone(&event_id), "ep", body.clone());
        let target = endpoint.target(now);
        let request = d.next_request(now, &target).unwrap();
        let outcome = ureq_transport.send(request);
        assert_eq!(
            d.record(Timestamp::now(), &target, outcome).unwrap(),
            lms_webhooks::Next::Done
        );
    };
    let (mut bares, mut untimeds, mut transports, mut fulls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bares.push(blocking_rate(seconds, bare_work));
        untimeds.push(blocking_rate(seconds, untimed_work));
        transports.push(blocking_rate(seconds, transport_work));
        fulls.push(blocking_rate(seconds, full_work));
    }
    rows.push(Row::new(
        "ureq, concurrency 1".to_owned(),
        bares,
        transports.clone(),
        fulls.clone(),
    ));
    rows.push(Row::new(
        "ureq, concurrency 1, bare client without timeouts".to_owned(),
        untimeds,
        transports,
        fulls,
    ));

    println!(
        "| client | bare client | transport alone | full path | transport / bare | full / bare |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {:.0}/s | {:.0}/s | {:.0}/s | {:.2}× | {:.2}× |",
            row.name, row.bare, row.transport, row.full, row.transport_ratio, row.full_ratio
        );
    }
}

/// One line of the table: median rates, and the median of the per-round ratios (each round
/// measures the three back to back, so a ratio is taken under one machine load).
struct Row {
    name: String,
    bare: f64,
    transport: f64,
    full: f64,
    transport_ratio: f64,
    full_ratio: f64,
}

impl Row {
    fn new(name: String, bares: Vec<f64>, transports: Vec<f64>, fulls: Vec<f64>) -> Row {
        let ratio = |xs: &[f64]| median(xs.iter().zip(&bares).map(|(x, b)| x / b).collect());
        Row {
            transport_ratio: ratio(&transports),
            full_ratio: ratio(&fulls),
            name,
            bare: median(bares.clone()),
            transport: median(transports),
            full: median(fulls),
        }
    }
}
