//! `outbox`: a debugging CLI for the PostgreSQL outbox. Errors go to stderr with exit 1.
//!
//! ```text
//! cargo run -p lms-webhooks-postgres --example outbox -- migrate --database-url URL
//! cargo run -p lms-webhooks-postgres --example outbox -- endpoint add --database-url URL --master-key K --tenant T --id ID --url U
//! cargo run -p lms-webhooks-postgres --example outbox -- publish --database-url URL --master-key K --tenant T < envelope.json
//! cargo run -p lms-webhooks-postgres --example outbox -- worker --database-url URL --master-key K --exit-when-idle
//! cargo run -p lms-webhooks-postgres --example outbox -- log --database-url URL --tenant T
//! ```
//!
//! Subcommands and flags are a stable interface: scripts depend on them.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use lms_webhooks::endpoint::EventFilter;
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{EncryptionKey, Endpoint, Envelope, Profile, Secret, Timestamp};
use lms_webhooks_postgres::{migrate, MasterKey, Outbox, StoreError, Worker};

#[path = "support/flags.rs"]
mod flags;
use flags::Flags;

const USAGE: &str = "\
outbox: the PostgreSQL webhook outbox from the command line

USAGE (every subcommand takes --database-url URL; those marked * also --master-key K):
  outbox migrate
  outbox endpoint add *    --tenant T --id ID --url U [--profile standard|learnybox|learnworlds|learnink|learnomy]
                           [--secret S] [--key K] [--events P1,P2] [--max-in-flight N]
                           [--allow-http] [--allow-private]
  outbox endpoint edit *   --tenant T --id ID --max-in-flight N
  outbox endpoint list *   --tenant T
  outbox endpoint rotate * --tenant T --id ID --secret S --grace SECS
  outbox endpoint pause|resume|disable|delete * --tenant T --id ID
                           (resume makes it active again: from paused, failed or disabled)
  outbox publish           --tenant T [--master-key K]
                           (a canonical envelope on stdin; prints its event id; no key needed)
  outbox worker *          [--concurrency N] [--speedup N] [--lease SECS] [--exit-when-idle]
                           [--metrics-addr IP:PORT] [--log-format json|pretty]
                           [--allow-http] [--allow-private]
  outbox log               --tenant T [--event ID] [--endpoint ID]
  outbox recover *         --tenant T --id ENDPOINT --since TS
  outbox purge             --older-than SECS

  endpoint add prints the signing secret (the one given, or a generated one).
  endpoint list prints one JSON line per endpoint {id, url, status, consecutive_failures,
  last_triggered_at, failing_since, max_in_flight} (times RFC 3339 or null).
  --max-in-flight caps the endpoint's deliveries in flight across every worker (1 to 10000;
  new endpoints: 4).
  log prints one JSON line per attempt {event, endpoint, attempt, status, error, result, at}.
  worker --exit-when-idle exits 0 once no delivery is pending or leased (held ones do not
  count); --speedup N divides every retry delay by N (a test aid: the worker runs on a clock
  N times as fast, resumed from the latest attempt's time, and the attempts are logged at
  that clock's times); --metrics-addr serves the
  metrics in Prometheus' text format at http://IP:PORT/metrics; --log-format writes the
  worker's logs to stderr (RUST_LOG filters them, default info). K is 32 bytes: 32 characters, or base64: and
  the base64 of 32 bytes. TS are Unix seconds.
";

fn main() -> ExitCode {
    flags::main_with(|args| async move { run(&args).await })
}

fn explain(e: StoreError) -> String {
    match e {
        StoreError::MasterKeyMismatch => {
            "the master key does not match the store: pass the key the store was sealed with"
                .to_owned()
        }
        StoreError::Database(e) => format!("database: {e} (check --database-url)"),
        other => other.to_string(),
    }
}

async fn pool(flags: &Flags) -> Result<sqlx::PgPool, String> {
    let url = flags.require("database-url")?;
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(32)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to --database-url: {e}"))
}

/// `--speedup N`: a clock that runs N times as fast as the system's from where the last run
/// left off (the latest attempt's time, or now), so that every retry delay passes N times
/// sooner, in this run and in the next one.
struct FastClock {
    from: Timestamp,
    started: std::time::Instant,
    factor: u32,
}

impl FastClock {
    async fn resumed(outbox: &Outbox, factor: u32) -> Result<FastClock, String> {
        let latest: time::OffsetDateTime =
            sqlx::query_scalar("SELECT greatest(now(), max(started_at)) FROM lmsw_attempts")
                .fetch_one(outbox.pool())
                .await
                .map_err(|e| format!("database: {e}"))?;
        Ok(FastClock {
            from: Timestamp::try_from(latest).map_err(|e| e.to_string())?,
            started: std::time::Instant::now(),
            factor,
        })
    }
}

impl lms_webhooks::transport::Clock for FastClock {
    fn now(&self) -> Timestamp {
        self.from
            .saturating_add(self.started.elapsed().saturating_mul(self.factor))
    }
}

async fn outbox(flags: &Flags) -> Result<Outbox, String> {
    let key =
        MasterKey::parse(flags.require("master-key")?).map_err(|e| format!("--master-key: {e}"))?;
    Outbox::open(pool(flags).await?, key).await.map_err(explain)
}

async fn run(args: &[String]) -> Result<(), String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(format!("no subcommand given\n\n{USAGE}"));
    };
    match command.as_str() {
        "migrate" => {
            let flags = Flags::parse(rest)?;
            flags.only(&["database-url"])?;
            migrate(&pool(&flags).await?).await.map_err(explain)?;
            println!("ok");
            Ok(())
        }
        "endpoint" => {
            let Some((action, rest)) = rest.split_first() else {
                return Err(
                    "endpoint: add, edit, list, rotate, pause, resume, disable or delete"
                        .to_owned(),
                );
            };
            endpoint(action, &Flags::parse(rest)?).await
        }
        "publish" => publish(&Flags::parse(rest)?).await,
        "worker" => worker(&Flags::parse(rest)?).await,
        "log" => log(&Flags::parse(rest)?).await,
        "recover" => recover(&Flags::parse(rest)?).await,
        "purge" => {
            let flags = Flags::parse(rest)?;
            flags.only(&["database-url", "older-than"])?;
            let secs: u64 = flags.number("older-than", u64::MAX)?;
            if flags.get("older-than").is_none() {
                return Err("--older-than is required".to_owned());
            }
            // Purging needs no key: it deletes finished rows only.
            let pool = pool(&flags).await?;
            let deleted = lms_webhooks_postgres::purge(&pool, Duration::from_secs(secs))
                .await
                .map_err(explain)?;
            println!("{deleted}");
            Ok(())
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown subcommand `{other}`\n\n{USAGE}")),
    }
}

fn profile(name: &str) -> Result<Profile, String> {
    Profile::from_name(name).ok_or_else(|| {
        format!(
            "--profile `{name}`: expected standard, learnybox, learnworlds, learnink or learnomy"
        )
    })
}

async fn endpoint(action: &str, flags: &Flags) -> Result<(), String> {
    let common = ["database-url", "master-key", "tenant", "id"];
    let outbox = || outbox(flags);
    let tenant = flags.require("tenant")?;
    if action == "list" {
        flags.only(&["database-url", "master-key", "tenant"])?;
        return list(&outbox().await?, tenant).await;
    }
    let id = flags.require("id")?;
    let now = Timestamp::now();
    match action {
        "add" => {
            flags.only(
                &[
                    &common[..],
                    &["url", "profile", "secret", "key", "events", "max-in-flight"],
                ]
                .concat(),
            )?;
            let cap = max_in_flight(flags)?;
            let profile = profile(flags.get("profile").unwrap_or("standard"))?;
            let (mut endpoint, generated) =
                Endpoint::create(now, id, flags.require("url")?, &flags.policy())
                    .map_err(|e| e.to_string())?;
            endpoint = endpoint.with_profile(&profile);
            let shown = match flags.get("secret") {
                Some(text) => {
                    let secret = Secret::parse(text).map_err(|e| format!("--secret: {e}"))?;
                    endpoint = endpoint.with_signing(profile.scheme().clone(), secret);
                    text.to_owned()
                }
                None => generated.to_string(),
            };
            if let Some(key) = flags.get("key") {
                endpoint = endpoint
                    .with_encryption(EncryptionKey::parse(key).map_err(|e| format!("--key: {e}"))?);
            }
            if let Some(events) = flags.get("events") {
                let filter = EventFilter::parse(events.split(',').map(str::trim))
                    .map_err(|e| format!("--events: {e}"))?;
                endpoint = endpoint.with_filter(filter);
            }
            let outbox = outbox().await?;
            outbox
                .add_endpoint(tenant, &endpoint, profile.endpoint_limit())
                .await
                .map_err(explain)?;
            if let Some(cap) = cap {
                outbox
                    .set_max_in_flight(tenant, id, cap)
                    .await
                    .map_err(explain)?;
            }
            println!("{shown}");
            Ok(())
        }
        "edit" => {
            flags.only(&[&common[..], &["max-in-flight"]].concat())?;
            let Some(cap) = max_in_flight(flags)? else {
                return Err("endpoint edit: nothing to change (--max-in-flight N)".to_owned());
            };
            outbox()
                .await?
                .set_max_in_flight(tenant, id, cap)
                .await
                .map_err(explain)?;
            println!("ok");
            Ok(())
        }
        "rotate" => {
            flags.only(&[&common[..], &["secret", "grace"]].concat())?;
            let secret =
                Secret::parse(flags.require("secret")?).map_err(|e| format!("--secret: {e}"))?;
            let grace = Duration::from_secs(flags.number("grace", 0)?);
            outbox()
                .await?
                .edit_endpoint(tenant, id, |e| {
                    // Rotate, then sign with the given secret, keeping the old one for `grace`.
                    let scheme = e.scheme().clone();
                    let _generated = e
                        .rotate_secret(now, grace)
                        .map_err(lms_webhooks::endpoint::EndpointError::from)?;
                    *e = e.clone().with_signing(scheme, secret);
                    Ok(())
                })
                .await
                .map_err(explain)?;
            println!("ok");
            Ok(())
        }
        "pause" | "resume" | "disable" => {
            flags.only(&common)?;
            outbox()
                .await?
                .edit_endpoint(tenant, id, |e| {
                    match action {
                        "pause" => e.pause(now),
                        "resume" => e.reactivate(now),
                        _ => e.disable(now),
                    }
                    Ok(())
                })
                .await
                .map_err(explain)?;
            println!("ok");
            Ok(())
        }
        "delete" => {
            flags.only(&common)?;
            outbox()
                .await?
                .delete_endpoint(tenant, id)
                .await
                .map_err(explain)?;
            println!("ok");
            Ok(())
        }
        other => Err(format!(
            "endpoint {other}: expected add, edit, list, rotate, pause, resume, disable or delete"
        )),
    }
}

/// `--max-in-flight N`, if given: 1 to 10,000.
fn max_in_flight(flags: &Flags) -> Result<Option<u32>, String> {
    if flags.get("max-in-flight").is_none() {
        return Ok(None);
    }
    let n: u32 = flags.number("max-in-flight", 0)?;
    if n == 0 || n > lms_webhooks_postgres::MAX_IN_FLIGHT {
        return Err(format!(
            "--max-in-flight {n}: expected 1 to {}",
            lms_webhooks_postgres::MAX_IN_FLIGHT
        ));
    }
    Ok(Some(n))
}

/// One JSON line per endpoint of `tenant`, with its health.
async fn list(outbox: &Outbox, tenant: &str) -> Result<(), String> {
    let rfc3339 = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339);
    for e in outbox.endpoints(tenant).await.map_err(explain)? {
        let health = e.health();
        let cap = outbox
            .max_in_flight(tenant, e.id())
            .await
            .map_err(explain)?;
        let line = serde_json::json!({
            "id": e.id(),
            "url": e.url().as_str(),
            "status": health.status,
            "consecutive_failures": health.consecutive_failures,
            "last_triggered_at": rfc3339(health.last_triggered_at),
            "failing_since": rfc3339(health.failing_since),
            "max_in_flight": cap,
        });
        println!("{line}");
    }
    Ok(())
}

async fn publish(flags: &Flags) -> Result<(), String> {
    flags.only(&["database-url", "master-key", "tenant"])?;
    let tenant = flags.require("tenant")?;
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read the envelope from stdin: {e}"))?;
    let envelope =
        Envelope::from_slice(&body).map_err(|e| format!("the envelope on stdin: {e}"))?;
    // Publishing opens no endpoint: the master key is not needed. Given, it is checked (and
    // the outbox it opens fills in what older rows lack).
    let pool = match flags.get("master-key") {
        Some(_) => outbox(flags).await?.pool().clone(),
        None => pool(flags).await?,
    };
    let mut tx = pool.begin().await.map_err(|e| format!("database: {e}"))?;
    lms_webhooks_postgres::publish(&mut tx, tenant, &envelope)
        .await
        .map_err(explain)?;
    tx.commit().await.map_err(|e| format!("database: {e}"))?;
    println!("{}", envelope.id());
    Ok(())
}

async fn worker(flags: &Flags) -> Result<(), String> {
    flags.only(&[
        "database-url",
        "master-key",
        "concurrency",
        "speedup",
        "lease",
        "metrics-addr",
        "log-format",
    ])?;
    logs(flags)?;
    let metrics = match flags.get("metrics-addr") {
        Some(addr) => {
            let addr: std::net::SocketAddr = addr
                .parse()
                .map_err(|_| format!("--metrics-addr `{addr}`: expected IP:PORT"))?;
            serve_metrics(addr)?;
            true
        }
        None => false,
    };
    let outbox = outbox(flags).await?;
    let transport = ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))
        .and_then(|t| t.with_policy(flags.policy()))
        .map_err(|e| e.to_string())?;
    let speedup: u32 = flags.number("speedup", 1)?;
    let clock = match speedup {
        0 | 1 => None,
        n => Some(FastClock::resumed(&outbox, n).await?),
    };
    let worker = Worker::new(outbox, transport)
        .with_concurrency(flags.number("concurrency", 8)?)
        .with_lease(Duration::from_secs(flags.number("lease", 60)?));
    let worker = match clock {
        Some(clock) => worker.with_clock(clock),
        None => worker,
    };
    let worker = match metrics {
        true => worker.with_queue_gauges(Duration::from_secs(5)),
        false => worker,
    };
    let stats = if flags.has("--exit-when-idle") {
        worker.run_until_idle().await
    } else {
        worker.run(std::future::pending()).await
    }
    .map_err(explain)?;
    eprintln!(
        "worker: {} attempts, {} delivered, {} gave up, {} held, {} lost leases, {} parked",
        stats.attempts, stats.delivered, stats.gave_up, stats.held, stats.lost_leases, stats.parked
    );
    Ok(())
}

/// `--log-format json|pretty` (or `RUST_LOG` alone, pretty): the worker's `tracing` events on
/// stderr, filtered by `RUST_LOG` (default `info`). Neither: no logs, as before.
fn logs(flags: &Flags) -> Result<(), String> {
    let format = flags.get("log-format");
    if format.is_none() && std::env::var_os("RUST_LOG").is_none() {
        return Ok(());
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format.unwrap_or("pretty") {
        "json" => builder.json().with_current_span(true).try_init(),
        "pretty" => builder.try_init(),
        other => return Err(format!("--log-format `{other}`: expected json or pretty")),
    };
    installed.map_err(|e| format!("logs: {e}"))
}

/// Serves the metrics, in Prometheus' text format, at `http://ADDR/metrics`.
fn serve_metrics(addr: std::net::SocketAddr) -> Result<(), String> {
    use lms_webhooks_postgres::meter;
    let seconds = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ];
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
            &seconds,
        )
        .and_then(|b| b.install())
        .map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
    // Every documented metric shows from the start, at zero until something happens.
    for name in [
        meter::EVENTS_PUBLISHED,
        meter::DELIVERIES_PUBLISHED,
        meter::RATE_LIMITED,
        meter::HELD,
        meter::PARKED,
    ] {
        metrics::counter!(name).absolute(0);
    }
    for outcome in ["delivered", "retry", "gave_up", "lease_lost"] {
        metrics::counter!(meter::ATTEMPTS, "outcome" => outcome).absolute(0);
    }
    Ok(())
}

async fn log(flags: &Flags) -> Result<(), String> {
    flags.only(&["database-url", "tenant", "event", "endpoint"])?;
    let tenant = flags.require("tenant")?;
    // The log holds no secret: no master key needed. Read it straight from the table.
    let pool = pool(flags).await?;
    let mut offset = 0i64;
    loop {
        let rows = lms_webhooks_postgres::log_page(
            &pool,
            tenant,
            flags.get("event"),
            flags.get("endpoint"),
            500,
            offset,
        )
        .await
        .map_err(explain)?;
        for entry in &rows {
            let line = serde_json::json!({
                "event": entry.event,
                "endpoint": entry.endpoint,
                "attempt": entry.attempt,
                "status": entry.status,
                "error": entry.error,
                "result": entry.result,
                "at": entry.at,
            });
            println!("{line}");
        }
        if rows.len() < 500 {
            return Ok(());
        }
        offset += 500;
    }
}

async fn recover(flags: &Flags) -> Result<(), String> {
    flags.only(&["database-url", "master-key", "tenant", "id", "since"])?;
    let since = flags.require("since")?;
    let since = since
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|s| Timestamp::from_unix(s).ok())
        .ok_or_else(|| format!("--since `{since}` is not Unix seconds"))?;
    let n = outbox(flags)
        .await?
        .recover(
            flags.require("tenant")?,
            flags.require("id")?,
            since,
            "outbox CLI",
            "recover",
        )
        .await
        .map_err(explain)?;
    println!("{n}");
    Ok(())
}
