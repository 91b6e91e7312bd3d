//! The two example apps, run as users run them, against each other: the LMS backend
//! (`examples/lms_backend.rs`) publishes a sale in its own transaction and its worker delivers
//! it to the consumer (`examples/consumer.rs`), which verifies it, claims its id in PostgreSQL
//! and records it; the admin page answers under the LMS's stateful router.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lms_webhooks::{Endpoint, Scheme, Secret, Timestamp};
use support::pg::Pg;
use support::store::{loopback, outbox_on, KEY};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A running example, killed when dropped, and the address it printed it listens on.
struct App {
    child: Child,
    address: String,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts example `name` (built with the `admin` feature if it is not yet) with `env`, on a
/// port of its choosing, and waits for the line that says where it listens.
fn start(name: &str, env: &[(&str, &str)]) -> App {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path: PathBuf = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "lms-webhooks-postgres"])
            .args(["--features", "admin", "--example", name])
            .status()
            .expect("cargo runs");
        assert!(status.success());
    }
    let mut child = Command::new(path)
        .envs(env.iter().copied())
        .env("LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ' ']).next())
        .unwrap_or_else(|| panic!("{name} printed {line:?}"))
        .to_owned();
    App { child, address }
}

/// One HTTP/1.1 request; the response's status and body.
fn http(address: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

fn sale(address: &str, cookie: &str) -> (u16, String) {
    let body = r#"{"email":"ada@example.com","cents":4990}"#;
    http(
        address,
        &format!(
            "POST /sales HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{cookie}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn get(address: &str, path: &str, cookie: &str) -> (u16, String) {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{cookie}\r\n");
    http(address, &request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lms_backend_delivers_a_sale_to_the_consumer_once() {
    let pg = Pg::start();
    let (lms_db, app_db) = (pg.fresh_database().await, pg.fresh_database().await);
    let consumer = start(
        "consumer",
        &[("DATABASE_URL", &app_db), ("WEBHOOK_SECRET", SECRET)],
    );
    let lms = start(
        "lms_backend",
        &[
            ("DATABASE_URL", &lms_db),
            ("MASTER_KEY", KEY),
            ("LOCAL_TRIAL", "1"),
        ],
    );
    // The school registers the consumer's URL (as the admin page or the CLI would).
    let (_, outbox) = outbox_on(&lms_db, 4).await;
    let url = format!("http://{}/webhooks", consumer.address);
    let (endpoint, _) = Endpoint::create(Timestamp::now(), "crm", &url, &loopback()).unwrap();
    let endpoint = endpoint.with_signing(Scheme::standard(), Secret::parse(SECRET).unwrap());
    outbox
        .add_endpoint("school_42", &endpoint, None)
        .await
        .unwrap();

    assert_eq!(sale(&lms.address, "").0, 401, "no login, no sale");
    let cookie = "Cookie: school=school_42\r\n";
    assert_eq!(sale(&lms.address, cookie), (201, "sale_1\n".to_owned()));

    let app = sqlx::PgPool::connect(&app_db).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let paid: Vec<(String, i64)> = loop {
        let rows = sqlx::query_as("SELECT sale_id, cents FROM paid")
            .fetch_all(&app)
            .await
            .unwrap_or_default();
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(paid, [("sale_1".to_owned(), 4990)]);
    let claimed: i64 = sqlx::query_scalar("SELECT count(*) FROM lmsw_seen")
        .fetch_one(&app)
        .await
        .unwrap();
    assert_eq!(
        claimed, 1,
        "the consumer claimed the event's id in its own database"
    );

    // The admin page, mounted in the LMS's stateful router, behind its login.
    let (status, page) = get(&lms.address, "/webhooks", cookie);
    assert_eq!(status, 200);
    assert!(page.contains(&url), "the page lists the webhook");
    assert_eq!(get(&lms.address, "/webhooks/", cookie).0, 308);
    assert_ne!(
        get(&lms.address, "/webhooks", "").0,
        200,
        "no login, no page"
    );
}
