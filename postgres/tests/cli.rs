//! The `outbox` CLI, driven from outside as users script it, on a private PostgreSQL.

#[path = "../../examples/support/inbound.rs"]
mod inbound;
mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use lms_webhooks::{Envelope, Event, EventType, Profile, Receiver, Secret, Timestamp};
use support::pg::Pg;
use support::store::KEY;

fn binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().join("examples");
        let path = dir.join(format!("outbox{}", std::env::consts::EXE_SUFFIX));
        if !path.exists() {
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "lms-webhooks-postgres",
                    "--example",
                    "outbox",
                ])
                .status()
                .expect("cargo runs");
            assert!(status.success());
        }
        path
    })
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// `outbox <command> --database-url DB --master-key KEY --tenant school <extra>`.
fn in_school(command: &[&str], db: &str, extra: &[&str], stdin: &[u8]) -> Output {
    let mut args = command.to_vec();
    args.extend_from_slice(&[
        "--database-url",
        db,
        "--master-key",
        KEY,
        "--tenant",
        "school",
    ]);
    args.extend_from_slice(extra);
    run(&args, stdin)
}

/// A receiver that reports the verified event ids, with the secret it is given.
fn receiver(secret: mpsc::Receiver<String>) -> (String, mpsc::Receiver<String>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let secret = Secret::parse(&secret.recv().unwrap()).unwrap();
        let receiver = Receiver::new(Profile::standard()).with_secret(secret);
        for mut request in server.incoming_requests() {
            let (headers, body) = inbound::read(&mut request);
            let status = match receiver.receive(Timestamp::now(), &headers, &body) {
                Ok(got) => {
                    let _ = tx.send(got.id);
                    200
                }
                Err(_) => 401,
            };
            let _ = request.respond(tiny_http::Response::empty(status));
        }
    });
    (url, rx)
}

#[tokio::test]
async fn the_whole_flow_from_the_command_line() {
    let pg = Pg::start();
    let db = pg.fresh_database().await;
    let db = db.as_str();
    let o = run(&["migrate", "--database-url", db], b"");
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(0), "ok"),
        "{o:?}"
    );

    let (secret_tx, secret_rx) = mpsc::channel();
    let (url, seen) = receiver(secret_rx);
    let add = |extra: &[&str]| in_school(&["endpoint", "add"], db, extra, b"");
    // Without the opt-ins, a loopback http URL is refused with the reason.
    let o = add(&["--id", "crm", "--url", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("http"));
    let o = add(&[
        "--id",
        "crm",
        "--url",
        &url,
        "--allow-http",
        "--allow-private",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let secret = out(&o);
    assert!(secret.starts_with("whsec_"));
    secret_tx.send(secret).unwrap();

    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
    let o = in_school(&["publish"], db, &[], &envelope.to_bytes().unwrap());
    assert_eq!(out(&o), envelope.id().as_str(), "{o:?}");

    let worker = |key: &str| {
        run(
            &[
                "worker",
                "--database-url",
                db,
                "--master-key",
                key,
                "--exit-when-idle",
                "--allow-http",
                "--allow-private",
                "--speedup",
                "100",
            ],
            b"",
        )
    };
    // A wrong master key: refused, nothing changed.
    let o = worker("another-32-character-secret-key!");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("master key does not match"));
    assert!(seen.recv_timeout(Duration::from_millis(200)).is_err());

    let o = worker(KEY);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(seen.recv().unwrap(), envelope.id().as_str());

    let o = run(&["log", "--database-url", db, "--tenant", "school"], b"");
    let line: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(line["event"], envelope.id().as_str());
    assert_eq!(line["endpoint"], "crm");
    assert_eq!(line["status"], 200);
    assert_eq!(line["result"], "delivered");

    // The endpoint's health, as the worker left it: "Last Triggered" set.
    let list = || in_school(&["endpoint", "list"], db, &[], b"");
    let o = list();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let listed: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(listed["id"], "crm", "{o:?}");
    assert_eq!(listed["url"], url.as_str());
    assert_eq!(listed["status"], "active");
    assert_eq!(listed["consecutive_failures"], 0);
    assert_eq!(listed["failing_since"], serde_json::Value::Null);
    let last = listed["last_triggered_at"]
        .as_str()
        .expect("set by the worker");
    assert!(Timestamp::parse_rfc3339(last).is_ok(), "{last}");
    assert_eq!(listed["max_in_flight"], 4, "the default cap");

    // The cap on deliveries in flight: set, shown, and refused out of range.
    let edit = |cap: &str| {
        in_school(
            &["endpoint", "edit"],
            db,
            &["--id", "crm", "--max-in-flight", cap],
            b"",
        )
    };
    assert_eq!(out(&edit("2")), "ok");
    let listed: serde_json::Value = serde_json::from_str(&out(&list())).unwrap();
    assert_eq!(listed["max_in_flight"], 2);
    for bad in ["0", "10001", "many"] {
        let o = edit(bad);
        assert_eq!(o.status.code(), Some(1), "{bad}: {o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--max-in-flight"),
            "{o:?}"
        );
    }
    let o = add(&[
        "--id",
        "capped",
        "--url",
        &url,
        "--allow-http",
        "--allow-private",
        "--max-in-flight",
        "7",
        "--events",
        "nothing.*",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let lines = out(&list());
    let capped = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["id"] == "capped")
        .expect("listed");
    assert_eq!(capped["max_in_flight"], 7);
    let delete = in_school(&["endpoint", "delete"], db, &["--id", "capped"], b"");
    assert_eq!(delete.status.code(), Some(0));

    // Paused: the event is held, and the idle worker exits without sending it.
    let pause = in_school(&["endpoint", "pause"], db, &["--id", "crm"], b"");
    assert_eq!(pause.status.code(), Some(0));
    // Publishing needs no master key: it opens no endpoint.
    let second = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let keyless = ["publish", "--database-url", db, "--tenant", "school"];
    let o = run(&keyless, &second.to_bytes().unwrap());
    assert_eq!(
        (o.status.code(), out(&o)),
        (Some(0), second.id().to_string()),
        "{o:?}"
    );
    assert_eq!(worker(KEY).status.code(), Some(0));
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());
    let resume = in_school(&["endpoint", "resume"], db, &["--id", "crm"], b"");
    assert_eq!(resume.status.code(), Some(0));
    assert_eq!(worker(KEY).status.code(), Some(0));
    assert_eq!(seen.recv().unwrap(), second.id().as_str());

    // The same event again: a no-op, the same id printed.
    assert_eq!(
        out(&in_school(
            &["publish"],
            db,
            &[],
            &second.to_bytes().unwrap()
        )),
        second.id().as_str()
    );
    let o = run(&["purge", "--database-url", db, "--older-than", "0"], b"");
    assert_eq!(out(&o), "2", "{o:?}");
}

/// Sends a signal to a child process with the system's `kill`.
fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A worker process that stalls past its lease (SIGSTOP: no heartbeat runs) loses the delivery
/// to another worker; when it wakes and its request is answered, its outcome is not written
/// over the other claim's: the log shows the other worker's one attempt, and this one counts
/// a lost lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_worker_does_not_write_over_the_claim_that_took_over() {
    let pg = Pg::start();
    let db = pg.fresh_database().await;
    let db = db.as_str();
    assert_eq!(
        run(&["migrate", "--database-url", db], b"").status.code(),
        Some(0)
    );
    // The first request is held (its worker stalls meanwhile), and answered 500 once the
    // second has been answered 200: were the stalled worker's outcome written, the delivery
    // would be `pending` again with two attempts.
    let (first_in, first_seen) = mpsc::channel::<()>();
    let (second_done, second_seen) = mpsc::channel::<()>();
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        let mut requests = server.incoming_requests();
        let first = requests.next().unwrap();
        let _ = first_in.send(());
        let second = requests.next().unwrap();
        let _ = second.respond(tiny_http::Response::empty(200));
        let _ = second_done.send(());
        std::thread::sleep(Duration::from_millis(500));
        let _ = first.respond(tiny_http::Response::empty(500));
        for request in requests {
            let _ = request.respond(tiny_http::Response::empty(200));
        }
    });
    let crm = [
        "--id",
        "crm",
        "--url",
        &url,
        "--allow-http",
        "--allow-private",
    ];
    assert_eq!(
        in_school(&["endpoint", "add"], db, &crm, b"").status.code(),
        Some(0)
    );
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
    let published = in_school(&["publish"], db, &[], &envelope.to_bytes().unwrap());
    assert_eq!(published.status.code(), Some(0));

    let worker = |extra: &[&str]| {
        let mut args = vec![
            "worker",
            "--database-url",
            db,
            "--master-key",
            KEY,
            "--lease",
            "1",
            "--allow-http",
            "--allow-private",
        ];
        args.extend_from_slice(extra);
        Command::new(binary())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut stalled = worker(&["--exit-when-idle"]);
    first_seen
        .recv_timeout(Duration::from_secs(30))
        .expect("the first worker sent it");
    signal(&stalled, "-STOP");
    std::thread::sleep(Duration::from_millis(2_500)); // the 1 s lease runs out
    let other = worker(&["--exit-when-idle"]);
    second_seen
        .recv_timeout(Duration::from_secs(30))
        .expect("the second worker sent it");
    let other = other.wait_with_output().unwrap();
    assert_eq!(other.status.code(), Some(0), "{other:?}");
    signal(&stalled, "-CONT");
    let woke = stalled.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(stalled.stderr.as_mut().unwrap(), &mut said).unwrap();
    assert_eq!(woke.code(), Some(0), "{said}");
    assert!(said.contains("1 lost leases"), "{said}");

    let o = run(&["log", "--database-url", db, "--tenant", "school"], b"");
    let lines: Vec<serde_json::Value> = out(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["status"], 200, "{lines:?}");
}

/// `GET /metrics` from `addr`, with a bare HTTP/1.0 request; `None` while nothing listens.
fn scrape(addr: &str) -> Option<String> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The value of the sample `name` (with its labels, as exposed), if it is there.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `worker --metrics-addr` serves every documented metric with the values of a real run (a
/// receiver that answers 500 once, then 200), and `--log-format json` writes the attempts'
/// fields to stderr, without the secret, the signature or the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_its_metrics_and_json_logs() {
    let pg = Pg::start();
    let db = pg.fresh_database().await;
    let db = db.as_str();
    assert_eq!(
        run(&["migrate", "--database-url", db], b"").status.code(),
        Some(0)
    );
    let (url, signatures) = support::receiver::refusing_once();
    let crm = [
        "--id",
        "crm",
        "--url",
        &url,
        "--allow-http",
        "--allow-private",
    ];
    let o = in_school(&["endpoint", "add"], db, &crm, b"");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let secret = out(&o);
    let marker = "body-marker-6d6574726963";
    let envelope = Envelope::new(
        Event::custom("custom.note.added", serde_json::json!({ "note": marker })).unwrap(),
    );
    let publish = ["publish", "--database-url", db, "--tenant", "school"];
    assert_eq!(
        out(&run(&publish, &envelope.to_bytes().unwrap())),
        envelope.id().as_str()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(binary())
        .args([
            "worker",
            "--database-url",
            db,
            "--master-key",
            KEY,
            "--allow-http",
            "--allow-private",
            "--speedup",
            "100",
            "--metrics-addr",
            &addr,
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "lms_webhooks_postgres=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the retry has been delivered and the gauges sampled once more.
    let started = std::time::Instant::now();
    let text = loop {
        let text = scrape(&addr).unwrap_or_default();
        if sample(&text, "lmsw_attempts_total{outcome=\"delivered\"}") == Some(1.0) {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    signal(&child, "-TERM");
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr).into_owned();

    for (name, expected) in [
        ("lmsw_attempts_total{outcome=\"retry\"}", 1.0),
        ("lmsw_attempts_total{outcome=\"gave_up\"}", 0.0),
        ("lmsw_attempts_total{outcome=\"lease_lost\"}", 0.0),
        ("lmsw_attempt_duration_seconds_count", 2.0),
        ("lmsw_publish_to_delivered_seconds_count", 1.0),
        ("lmsw_rate_limited_total", 0.0),
        ("lmsw_held_total", 0.0),
        ("lmsw_parked_total", 0.0),
        ("lmsw_events_published_total", 0.0),
        ("lmsw_deliveries_published_total", 0.0),
        ("lmsw_endpoints{status=\"active\"}", 1.0),
        ("lmsw_endpoints{status=\"failed\"}", 0.0),
    ] {
        assert_eq!(sample(&text, name), Some(expected), "{name}\n{text}");
    }
    for gauge in [
        "lmsw_queue_deliveries{state=\"pending\"}",
        "lmsw_queue_deliveries{state=\"leased\"}",
        "lmsw_queue_deliveries{state=\"held\"}",
        "lmsw_queue_oldest_due_seconds",
    ] {
        assert!(
            sample(&text, gauge).is_some_and(|v| v >= 0.0),
            "{gauge}\n{text}"
        );
    }

    let attempts: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "webhook attempt")
        .collect();
    assert_eq!(attempts.len(), 2, "{logs}");
    assert_eq!(attempts[0]["fields"]["status"], 500);
    assert_eq!(attempts[0]["fields"]["outcome"], "retry");
    assert_eq!(attempts[1]["fields"]["status"], 200);
    assert_eq!(attempts[1]["fields"]["event"], envelope.id().as_str());
    assert_eq!(attempts[1]["fields"]["tenant"], "school");
    let signatures = signatures.lock().unwrap().clone();
    assert_eq!(signatures.len(), 2);
    for forbidden in [secret.as_str(), secret.trim_start_matches("whsec_"), marker]
        .into_iter()
        .chain(signatures.iter().map(|s| s.trim_start_matches("v1,")))
    {
        assert!(!logs.contains(forbidden), "the log holds {forbidden:?}");
    }
}
