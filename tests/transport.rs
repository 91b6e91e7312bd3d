//! The transports' guarantees, on loopback: the URL policy applied to resolved addresses where
//! the connection is made, capped and timed reads, no redirects, no proxies from the
//! environment.

#[path = "support/cli.rs"]
mod cli;
#[path = "../checks/tests/support/server.rs"]
mod server;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lms_webhooks::delivery::Outcome;
use lms_webhooks::endpoint::UrlPolicy;
use lms_webhooks::transport::{BlockingTransport, Lookup, UreqTransport};

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

#[test]
fn a_name_resolving_to_loopback_is_refused_by_default_and_allowed_with_allow_private() {
    let (port, seen) = server::start(server::ok);
    let rebinding =
        Lookup::system().with_fixed("rebind.example.com", port, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let url = format!("http://rebind.example.com:{port}/hook");
    // http allowed, private addresses not: the name passes, its address does not.
    let strict = UreqTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .with_policy(UrlPolicy::new().with_http_allowed(true))
        .with_lookup(rebinding.clone());
    let outcome = strict.send(request(&url));
    assert_eq!(
        outcome,
        Outcome::error("refused: 127.0.0.1 is a loopback address")
    );
    assert!(
        seen.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing reached the server"
    );

    let tests = UreqTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .with_policy(loopback())
        .with_lookup(rebinding);
    assert_eq!(tests.send(request(&url)).status_code(), Some(200));
    assert!(seen.recv_timeout(Duration::from_secs(5)).is_ok());
}

#[test]
fn the_default_policy_refuses_loopback_urls_and_http_before_connecting() {
    let (port, seen) = server::start(server::ok);
    let transport = UreqTransport::default();
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}/"),
        "http://router.lan/".to_owned(),
    ] {
        let outcome = transport.send(request(&url));
        let Outcome::Error { message } = &outcome else {
            panic!("{url}: {outcome:?}")
        };
        assert!(message.starts_with("refused: "), "{message}");
    }
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn an_endless_body_costs_one_capped_attempt() {
    let (port, _seen) = server::start(|mut stream, _| {
        let _ = stream
            .write_all(b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n");
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
        let started = Instant::now();
        // Streams until the client hangs up (or 30 s, so the test can never hang).
        while started.elapsed() < Duration::from_secs(30) {
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
        panic!("the client kept reading an endless body");
    });
    let transport =
        UreqTransport::new(Duration::from_secs(2), Duration::from_secs(10)).with_policy(loopback());
    let started = Instant::now();
    let outcome = transport.send(request(&format!("http://127.0.0.1:{port}/")));
    let Outcome::Response { status, body, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(*status, 500);
    assert!(body.len() <= Outcome::MAX_EXCERPT && body.starts_with("xxxx"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_dripping_server_costs_one_timed_out_attempt() {
    let (port, _seen) = server::start(|mut stream, _| {
        for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    let transport = UreqTransport::new(Duration::from_secs(1), Duration::from_millis(1500))
        .with_policy(loopback());
    let started = Instant::now();
    let outcome = transport.send(request(&format!("http://127.0.0.1:{port}/")));
    assert_eq!(outcome, Outcome::Timeout);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn a_redirect_is_a_failed_attempt_and_not_followed() {
    let (port, seen) = server::start(move |mut stream, _| {
        let _ = stream.write_all(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n",
        );
    });
    let transport = UreqTransport::default().with_policy(loopback());
    let outcome = transport.send(request(&format!("http://127.0.0.1:{port}/")));
    assert_eq!(outcome.status_code(), Some(302));
    assert_eq!(seen.recv().unwrap().0, "POST / HTTP/1.1");
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn control_characters_never_reach_the_log_raw() {
    let (port, _seen) = server::start(|mut stream, _| {
        let _ = stream.write_all(
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 120\r\ncontent-length: 12\r\n\r\n\x1b[2Jcleared!",
        );
    });
    let transport = UreqTransport::default().with_policy(loopback());
    let outcome = transport.send(request(&format!("http://127.0.0.1:{port}/")));
    let Outcome::Response {
        body, retry_after, ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(retry_after.as_deref(), Some("120"));
    assert!(!body.contains('\u{1b}'), "{body:?}");
    assert!(body.contains("\\u{1b}[2J"), "{body:?}");
    let long = Outcome::status(429).with_retry_after("9".repeat(10_000));
    let Outcome::Response { retry_after, .. } = long else {
        panic!()
    };
    assert_eq!(retry_after.unwrap().len(), Outcome::MAX_RETRY_AFTER);
    let Outcome::Error { message } = Outcome::error("line one\nline two") else {
        panic!()
    };
    assert_eq!(message, "line one\\nline two");
}

/// The CLI reproduction: `rebind.example.com` answered with 127.0.0.1.
#[test]
fn webhook_send_refuses_a_name_rebound_to_loopback_unless_allow_private() {
    let (port, seen) = server::start(server::ok);
    let url = format!("http://rebind.example.com:{port}/hook");
    let pin = format!("rebind.example.com:{port}:127.0.0.1");
    let base = [
        "send",
        "--url",
        &url,
        "--allow-http",
        "--resolve",
        &pin,
        "--scheme",
        "standard",
        "--secret",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "--attempts",
        "1",
    ];
    let o = cli::run(&base, b"{}");
    assert_eq!(o.status.code(), Some(3), "still pending: {o:?}");
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["error"], "refused: 127.0.0.1 is a loopback address");
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());

    let mut allowed = base.to_vec();
    allowed.push("--allow-private");
    let o = cli::run(&allowed, b"{}");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(seen.recv().unwrap().0, "POST /hook HTTP/1.1");
}

#[test]
fn webhook_send_ignores_proxies_from_the_environment() {
    let (port, seen) = server::start(server::ok);
    let url = format!("http://127.0.0.1:{port}/hook");
    let dead_proxy = "http://127.0.0.1:9"; // the discard port: nothing listens there
    let o = cli::run_with_env(
        &[
            "send",
            "--url",
            &url,
            "--allow-http",
            "--allow-private",
            "--scheme",
            "standard",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ],
        b"{}",
        &[
            ("HTTP_PROXY", dead_proxy),
            ("http_proxy", dead_proxy),
            ("HTTPS_PROXY", dead_proxy),
            ("ALL_PROXY", dead_proxy),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(seen.recv().unwrap().0, "POST /hook HTTP/1.1");
}

#[test]
fn webhook_send_names_allow_http_for_an_http_url() {
    let o = cli::run(
        &[
            "send",
            "--url",
            "http://hooks.example.com/in",
            "--scheme",
            "standard",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ],
        b"{}",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-http"));
}

#[test]
fn the_blocking_driver_runs_a_delivery_to_its_end() {
    use lms_webhooks::delivery::{Delivery, Next};
    use lms_webhooks::endpoint::{Endpoint, Registry};
    use lms_webhooks::retry::RetrySchedule;
    use lms_webhooks::transport::{BlockingDriver, Finished, SystemClock};
    use lms_webhooks::{SuccessRule, Timestamp};

    let answers = std::sync::Mutex::new(vec![200u16, 503]);
    let (port, seen) = server::start(move |mut stream, _| {
        let code = answers.lock().unwrap().pop().unwrap_or(200);
        let _ = stream.write_all(
            format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        );
    });
    let now = Timestamp::now();
    let (e, _) =
        Endpoint::create(now, "ep", &format!("http://127.0.0.1:{port}/"), &loopback()).unwrap();
    let mut registry = Registry::new();
    registry
        .add(e.with_delivery(
            RetrySchedule::fixed([Duration::from_millis(50)]),
            SuccessRule::Any2xx,
        ))
        .unwrap();
    let registry = std::sync::Mutex::new(registry);
    let transport = UreqTransport::default().with_policy(loopback());
    let driver = BlockingDriver::new(&registry, &transport, &SystemClock);
    let mut d = Delivery::new(now, "evt_1", "ep", &b"{}"[..]);
    let mut nexts = Vec::new();
    let end = driver
        .run(&mut d, thread::sleep, |_, next| nexts.push(next))
        .unwrap();
    assert_eq!(end, Finished::Done);
    assert!(matches!(nexts[..], [Next::RetryAt(_), Next::Done]));
    assert_eq!(seen.try_iter().count(), 2);
    let registry = registry.lock().unwrap();
    assert!(registry.get("ep").unwrap().last_triggered_at().is_some());
}
