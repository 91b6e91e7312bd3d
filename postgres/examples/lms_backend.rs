//! An LMS backend: it records a sale in its own table and publishes the webhook in the same
//! sqlx transaction, mounts the webhooks admin page in its stateful router behind its login
//! (here a `school` cookie taken on trust), and runs a worker. `LISTEN` (127.0.0.1:8080);
//! `LOCAL_TRIAL=1` allows http:// and private addresses (a receiver on this machine), never in
//! production.
//!
//! ```text
//! DATABASE_URL=… MASTER_KEY=<32 bytes> cargo run -p lms-webhooks-postgres --features admin --example lms_backend
//! curl -X POST 127.0.0.1:8080/sales -b school=school_42 --json '{"email":"ada@example.com","cents":4990}'
//! ```

use axum::extract::{Json, State};
use axum::http::{request::Parts, StatusCode};
use axum::{response::IntoResponse, response::Response, routing::post, Router};
use lms_webhooks::event::{Currency, Money, Person, Transaction};
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{BuildError, Envelope, Event, SalesEvent, UrlPolicy};
use lms_webhooks_postgres::admin::{Access, Admin, Plan};
use lms_webhooks_postgres::{migrate, MasterKey, Outbox, StoreError, Worker};
use std::time::Duration;

/// The signed-in school (the host's own authentication, reduced to a cookie here).
fn school(parts: &Parts) -> Option<String> {
    let cookies = parts.headers.get("cookie")?.to_str().ok()?;
    let mut found = cookies.split(';').map(str::trim);
    found.find_map(|c| c.strip_prefix("school=").map(str::to_owned))
}

#[derive(serde::Deserialize)]
struct Sale {
    email: String,
    cents: i64,
}

async fn sell(
    State(outbox): State<Outbox>,
    parts: Parts,
    Json(sale): Json<Sale>,
) -> Result<(StatusCode, String), Response> {
    let school = school(&parts).ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())?;
    let bad = |e: BuildError| (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    // The host's write and the webhook commit together, or neither does.
    let mut tx = outbox.pool().begin().await.map_err(store)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sales (school, email, cents) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&school)
    .bind(&sale.email)
    .bind(sale.cents)
    .fetch_one(&mut *tx)
    .await
    .map_err(store)?;
    let paid = Transaction::builder()
        .id(format!("sale_{id}"))
        .amount(Money::new(sale.cents, Currency::EUR))
        .customer(Person::builder().email(&sale.email).build().map_err(bad)?)
        .build()
        .map_err(bad)?;
    let event = Envelope::new(Event::from(SalesEvent::TransactionCompleted(paid)));
    let published = outbox.publish(&mut tx, &school, &event).await;
    published.map_err(store)?;
    tx.commit().await.map_err(store)?;
    Ok((StatusCode::CREATED, format!("sale_{id}\n")))
}

/// `StoreError` answers for itself (a 503 when the database is away, a 500 otherwise).
fn store(e: impl Into<StoreError>) -> Response {
    e.into().into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = sqlx::PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
    migrate(&pool).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS sales (id bigserial PRIMARY KEY, school text NOT NULL, email text NOT NULL, cents bigint NOT NULL)")
        .execute(&pool)
        .await?;
    let outbox = Outbox::open(pool, MasterKey::parse(&std::env::var("MASTER_KEY")?)?).await?;
    let trial = std::env::var_os("LOCAL_TRIAL").is_some();
    let policy = UrlPolicy::new()
        .with_http_allowed(trial)
        .with_private_allowed(trial);
    let transport = ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))?
        .with_policy(policy.clone())?;
    let admin = Admin::new(outbox.clone(), transport.clone(), |parts: &Parts| {
        school(parts).map(|school| Access::new(school, Plan::pro()))
    })?
    .with_url_policy(policy);
    let app = Router::new().route("/sales", post(sell));
    let app = admin.mount(app, "/webhooks").with_state(outbox.clone());
    let worker = Worker::new(outbox, transport);
    tokio::spawn(async move { worker.run(std::future::pending()).await });
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let address = listener.local_addr()?;
    println!("LMS on http://{address} (POST /sales, the admin page at /webhooks)");
    axum::serve(listener, app).await?;
    Ok(())
}
