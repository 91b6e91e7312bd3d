//! The `reqwest` transport, the async driver and the dispatcher, on loopback.

#[path = "support/server.rs"]
mod server;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lms_webhooks::delivery::{Delivery, GiveUpReason, Next, Outcome};
use lms_webhooks::endpoint::{fan_out, Endpoint, EndpointStatus, Registry, UrlPolicy};
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::transport::{
    dispatch, tokio_sleep, Concurrency, Driver, Finished, Lookup, ReqwestTransport, SystemClock,
    Transport,
};
use lms_webhooks::{Envelope, Event, EventType, SuccessRule, Timestamp};

fn request(url: &str) -> http::Request<Bytes> {
    let mut r = http::Request::new(Bytes::from_static(b"{}"));
    *r.method_mut() = http::Method::POST;
    *r.uri_mut() = url.parse().unwrap();
    r
}

fn loopback() -> UrlPolicy {
    UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true)
}

fn transport(total: Duration) -> ReqwestTransport {
    ReqwestTransport::new(Duration::from_secs(2), total)
        .unwrap()
        .with_policy(loopback())
        .unwrap()
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_by_default_and_allowed_with_allow_private() {
    let (port, seen) = server::start(server::ok);
    let rebinding =
        Lookup::system().with_fixed("rebind.example.com", port, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let url = format!("http://rebind.example.com:{port}/hook");
    let strict = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(UrlPolicy::new().with_http_allowed(true))
        .unwrap()
        .with_lookup(rebinding.clone())
        .unwrap();
    assert_eq!(
        strict.send(request(&url)).await,
        Outcome::error("refused: 127.0.0.1 is a loopback address")
    );
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());

    let tests = transport(Duration::from_secs(5))
        .with_lookup(rebinding)
        .unwrap();
    assert_eq!(tests.send(request(&url)).await.status_code(), Some(200));
    assert!(seen.recv_timeout(Duration::from_secs(5)).is_ok());

    // Address literals never reach a resolver: they are checked before sending.
    let literal = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(UrlPolicy::new().with_http_allowed(true))
        .unwrap();
    let outcome = literal
        .send(request(&format!("http://127.0.0.1:{port}/")))
        .await;
    assert!(
        matches!(&outcome, Outcome::Error { message } if message.starts_with("refused: ")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_endless_body_costs_one_capped_attempt() {
    let (port, _seen) = server::start(|mut stream, _| {
        let _ = stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 30\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "y".repeat(4096));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
        panic!("the client kept reading an endless body");
    });
    let started = Instant::now();
    let outcome = transport(Duration::from_secs(10))
        .send(request(&format!("http://127.0.0.1:{port}/")))
        .await;
    let Outcome::Response {
        status,
        body,
        retry_after,
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!((*status, retry_after.as_deref()), (503, Some("30")));
    assert!(body.len() <= Outcome::MAX_EXCERPT && body.starts_with("yyyy"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_dripping_server_costs_one_timed_out_attempt() {
    let (port, _seen) = server::start(|mut stream, _| {
        for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    let started = Instant::now();
    let outcome = transport(Duration::from_millis(1500))
        .send(request(&format!("http://127.0.0.1:{port}/")))
        .await;
    assert_eq!(outcome, Outcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_and_not_followed() {
    let (port, seen) = server::start(|stream, _| server::status(stream, 302));
    let outcome = transport(Duration::from_secs(5))
        .send(request(&format!("http://127.0.0.1:{port}/")))
        .await;
    assert_eq!(outcome.status_code(), Some(302));
    assert!(seen.recv().is_ok());
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());
}

fn registry_with(url: &str, schedule: RetrySchedule) -> (Mutex<Registry>, String) {
    let now = Timestamp::now();
    let (e, _) = Endpoint::create(now, "ep", url, &loopback()).unwrap();
    let mut registry = Registry::new();
    registry
        .add(e.with_delivery(schedule, SuccessRule::Any2xx))
        .unwrap();
    (Mutex::new(registry), "ep".to_owned())
}

#[tokio::test]
async fn the_driver_runs_a_delivery_to_its_end_and_keeps_the_endpoint_up_to_date() {
    let answers = Arc::new(Mutex::new(vec![200, 503, 500]));
    let (port, seen) = server::start(move |stream, _| {
        let code = answers.lock().unwrap().pop().unwrap_or(200);
        server::status(stream, code);
    });
    let url = format!("http://127.0.0.1:{port}/in");
    let (registry, id) = registry_with(
        &url,
        RetrySchedule::fixed([Duration::from_millis(100), Duration::from_millis(100)]),
    );
    let envelope = Envelope::new(Event::sample(EventType::WebhookTest));
    let now = Timestamp::now();
    let mut delivery = fan_out(now, &envelope, registry.lock().unwrap().endpoints())
        .unwrap()
        .deliveries
        .remove(0);
    let transport = transport(Duration::from_secs(5));
    let driver = Driver::new(&registry, &transport, &SystemClock);
    let mut stored = Vec::new();
    let started = Instant::now();
    let end = driver
        .run(&mut delivery, tokio_sleep, |d, next| {
            stored.push((d.to_json(), next))
        })
        .await
        .unwrap();
    assert_eq!(end, Finished::Done);
    assert_eq!(delivery.attempt_count(), 3);
    assert_eq!(stored.len(), 3, "the hook saw every attempt");
    assert!(matches!(stored[0].1, Next::RetryAt(_)));
    assert!(started.elapsed() >= Duration::from_millis(200), "it slept");
    assert_eq!(seen.try_iter().count(), 3);
    let registry = registry.lock().unwrap();
    let endpoint = registry.get(&id).unwrap();
    assert!(endpoint.last_triggered_at().is_some());
    assert_eq!(endpoint.consecutive_failures(), 0);
}

#[tokio::test]
async fn the_driver_stops_at_a_held_endpoint_and_ends_for_a_deleted_one() {
    let (port, seen) = server::start(server::ok);
    let url = format!("http://127.0.0.1:{port}/in");
    let (registry, id) = registry_with(&url, RetrySchedule::none());
    registry
        .lock()
        .unwrap()
        .get_mut(&id)
        .unwrap()
        .pause(Timestamp::now());
    let transport = transport(Duration::from_secs(5));
    let driver = Driver::new(&registry, &transport, &SystemClock);
    let mut d = Delivery::new(Timestamp::now(), "evt_1", id.as_str(), &b"{}"[..]);
    let end = driver.run(&mut d, tokio_sleep, |_, _| {}).await.unwrap();
    assert_eq!(end, Finished::Held(EndpointStatus::Paused));
    assert_eq!(d.attempt_count(), 0);
    registry.lock().unwrap().remove(&id).unwrap();
    let end = driver.run(&mut d, tokio_sleep, |_, _| {}).await.unwrap();
    assert_eq!(end, Finished::GaveUp(GiveUpReason::EndpointDeleted));
    assert!(seen.recv_timeout(Duration::from_millis(200)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_endpoint_never_blocks_the_others() {
    let (slow_port, _slow_seen) = server::start(|stream, _| {
        thread::sleep(Duration::from_millis(700));
        server::status(stream, 200);
    });
    let (fast_port, fast_seen) = server::start(server::ok);
    let now = Timestamp::now();
    let mut registry = Registry::new();
    for (id, port) in [("slow", slow_port), ("fast", fast_port)] {
        let (e, _) =
            Endpoint::create(now, id, &format!("http://127.0.0.1:{port}/"), &loopback()).unwrap();
        registry.add(e).unwrap();
    }
    let mut deliveries = Vec::new();
    for _ in 0..8 {
        let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
        deliveries.extend(
            fan_out(now, &envelope, registry.endpoints())
                .unwrap()
                .deliveries,
        );
    }
    let started = Instant::now();
    let ended = dispatch(
        deliveries,
        Arc::new(Mutex::new(registry)),
        Arc::new(transport(Duration::from_secs(10))),
        Concurrency::new(4).with_per_endpoint(2),
    )
    .await;
    assert_eq!(ended.len(), 16);
    assert!(ended.iter().all(|(_, end)| *end == Ok(Finished::Done)));
    // The slow endpoint took 8 × 0.7 s / 2 slots ≈ 2.8 s; the fast one got its 8 requests
    // within the first second all the same.
    let fast: Vec<Instant> = fast_seen.try_iter().map(|(_, at)| at).collect();
    assert_eq!(fast.len(), 8);
    let last_fast = fast.iter().max().unwrap().duration_since(started);
    assert!(last_fast < Duration::from_millis(1000), "{last_fast:?}");
    assert!(started.elapsed() >= Duration::from_millis(2700));
}
