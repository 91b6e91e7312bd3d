//! `admin`: the webhooks admin page for one tenant, served at `/webhooks`, with a worker in the
//! same process (so that Test and the Delivery Log work). **For local trials only: it asks
//! nobody for a password.** A real host mounts `Admin::router` behind its own authentication.
//!
//! ```text
//! cargo run -p lms-webhooks-postgres --features admin --example admin -- \
//!     --database-url URL --master-key K --listen 127.0.0.1:8080 --tenant school_42 \
//!     --plan free|pro [--profile standard|learnomy|…] [--origin https://lms.example]
//!     [--allow-http] [--allow-private]
//! ```
//!
//! Errors go to stderr with exit 1.

use std::process::ExitCode;
use std::time::Duration;

use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::Profile;
use lms_webhooks_postgres::admin::{Access, Admin, Plan};
use lms_webhooks_postgres::{migrate, MasterKey, Outbox, Worker};

#[path = "support/flags.rs"]
mod flags;
use flags::Flags;

const USAGE: &str = "\
admin: the webhooks admin page for one tenant, at /webhooks (local trials only: no login)

USAGE:
  admin --database-url URL --master-key K --listen ADDRESS:PORT --tenant T --plan free|pro
        [--profile standard|learnybox|learnworlds|learnink|learnomy] [--origin ORIGIN]
        [--allow-http] [--allow-private]

  Migrates the database, serves the page, and runs a worker in the same process.
  ORIGIN is the page's origin as browsers see it (default: http://ADDRESS:PORT): form posts
  from any other origin are refused.
  K is 32 bytes: 32 characters, or base64: and the base64 of 32 bytes.
";

fn main() -> ExitCode {
    flags::main_with(|args| async move { run(&args).await })
}

async fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return Ok(());
    }
    let flags = Flags::parse(args)?;
    flags.only(&[
        "database-url",
        "master-key",
        "listen",
        "tenant",
        "plan",
        "profile",
        "origin",
    ])?;
    let tenant = flags.require("tenant")?.to_owned();
    let plan = match flags.require("plan")? {
        "free" => Plan::free(),
        "pro" => Plan::pro(),
        other => return Err(format!("--plan `{other}`: expected free or pro")),
    };
    let profile = match flags.get("profile") {
        Some(name) => Profile::from_name(name).ok_or_else(|| {
            format!("--profile `{name}`: expected standard, learnybox, learnworlds, learnink or learnomy")
        })?,
        None => Profile::standard(),
    };
    let key =
        MasterKey::parse(flags.require("master-key")?).map_err(|e| format!("--master-key: {e}"))?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect(flags.require("database-url")?)
        .await
        .map_err(|e| format!("--database-url: cannot connect: {e}"))?;
    migrate(&pool).await.map_err(|e| e.to_string())?;
    let outbox = Outbox::open(pool, key).await.map_err(|e| e.to_string())?;
    let transport = ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))
        .and_then(|t| t.with_policy(flags.policy()))
        .map_err(|e| e.to_string())?;

    let access = Access::new(tenant.clone(), plan);
    let admin = Admin::new(outbox.clone(), transport.clone(), move |_| {
        Some(access.clone())
    })
    .map_err(|e| e.to_string())?
    .with_url_policy(flags.policy())
    .with_profile(profile);
    // The origin browsers see, scheme included (default: the address it listens on).
    let listen = flags.require("listen")?;
    let origin = flags
        .get("origin")
        .map_or_else(|| format!("http://{listen}"), str::to_owned);
    let admin = admin
        .with_origin(&origin)
        .map_err(|e| format!("--origin: {e}"))?;
    let app = admin.mount(axum::Router::new(), "/webhooks");

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "admin: http://{address}/webhooks for tenant `{tenant}` — local trials only: this page \
         asks nobody for a password"
    );

    let worker = Worker::new(outbox, transport).with_poll_interval(Duration::from_millis(200));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let work = tokio::spawn(async move {
        let mut stopped = stopped;
        worker
            .run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    let _ = stop.send(true);
    let worked = work.await.map_err(|e| e.to_string())?;
    served.map_err(|e| e.to_string())?;
    worked.map(|_| ()).map_err(|e| e.to_string())
}
