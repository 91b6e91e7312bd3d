//! Publishing: an event and its deliveries, written in the host's own transaction.

use lms_webhooks::endpoint::{fan_out_to, EventFilter, Subscription};
use lms_webhooks::profile::Layout;
use lms_webhooks::{Envelope, Timestamp};
use sqlx::{PgConnection, Row};

use crate::health::status_of;
use crate::sql::odt;
use crate::StoreError;

/// What a publish wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Published {
    /// Deliveries queued (subscribed endpoints that are not disabled), held ones included.
    pub deliveries: usize,
    /// Of which held, for paused or failed endpoints.
    pub held: usize,
    /// The event id was published before: nothing was written.
    pub duplicate: bool,
}

/// Publishes `envelope` for `tenant` inside the host's own transaction (pass `&mut *tx`): the
/// message and one delivery per subscribed endpoint are written there, so they commit with the
/// host's business write or not at all. Active endpoints get a pending delivery, paused and
/// failed ones a held one, disabled ones none. Publishing an event id again is a no-op.
/// Workers are woken when the transaction commits.
///
/// It reads what a fan-out needs (status, event patterns, layout) from plain columns: no
/// master key, no endpoint opened, and no lock taken, except a share lock on the paused or
/// failed endpoints it holds deliveries for (so that a resume running at that moment either
/// sees the held delivery and releases it, or is seen here and the delivery is pending).
pub async fn publish(
    conn: &mut PgConnection,
    tenant: &str,
    envelope: &Envelope,
) -> Result<Published, StoreError> {
    publish_at(conn, tenant, envelope, Timestamp::now(), None).await
}

/// [`publish`] with the fan-out's time given (a worker's clock). With `except` (operational
/// events: news about that endpoint), that endpoint gets no delivery, the subscriptions are
/// read first, and nothing at all is written when no other endpoint subscribes.
pub(crate) async fn publish_at(
    conn: &mut PgConnection,
    tenant: &str,
    envelope: &Envelope,
    now: Timestamp,
    except: Option<&str>,
) -> Result<Published, StoreError> {
    let fan_out = |subscriptions: Vec<Subscription>| {
        let subscriptions: Vec<Subscription> = match except {
            Some(except) => subscriptions
                .into_iter()
                .filter(|s| &*s.id != except)
                .collect(),
            None => subscriptions,
        };
        fan_out_to(now, envelope, &subscriptions)
    };
    let early = match except {
        Some(_) => {
            let out = fan_out(subscriptions(conn, tenant).await?)?;
            if out.deliveries.is_empty() && out.held.is_empty() {
                return Ok(Published::default());
            }
            Some(out)
        }
        None => None,
    };
    let body = envelope.to_vec()?;
    let inserted = sqlx::query(
        "INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(envelope.id().as_str())
    .bind(envelope.event().type_str())
    .bind(odt(envelope.timestamp()))
    .bind(&body)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(Published {
            duplicate: true,
            ..Published::default()
        });
    }
    let out = match early {
        Some(out) => out,
        None => fan_out(subscriptions(conn, tenant).await?)?,
    };
    let mut published = Published::default();
    // Held ones are checked again under a share lock: the status read above took none.
    let held_ids: Vec<&str> = out.held.iter().map(|d| d.endpoint_id()).collect();
    let statuses: Vec<(String, String)> = match held_ids.is_empty() {
        true => Vec::new(),
        false => {
            sqlx::query_as(
                "SELECT id, status FROM lmsw_endpoints WHERE tenant = $1 AND id = ANY($2)
             ORDER BY id FOR SHARE",
            )
            .bind(tenant)
            .bind(&held_ids)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let status_now = |id: &str| {
        statuses
            .iter()
            .find(|(e, _)| e == id)
            .map(|(_, status)| status.as_str())
    };
    let mut rows = Vec::with_capacity(out.deliveries.len() + out.held.len());
    rows.extend(out.deliveries.iter().map(|d| (d, "pending")));
    for d in &out.held {
        match status_now(d.endpoint_id()) {
            Some("paused" | "failed") => rows.push((d, "held")),
            Some("active") => rows.push((d, "pending")),
            _ => {} // disabled or deleted meanwhile
        }
    }
    // One statement for all of them, the workers' wake-up with it.
    let (inserted, held) =
        crate::rows::insert_all(conn, tenant, envelope.id().as_str(), &rows, &body).await?;
    published.deliveries = inserted;
    published.held = held;
    metrics::counter!(crate::meter::EVENTS_PUBLISHED).increment(1);
    metrics::counter!(crate::meter::DELIVERIES_PUBLISHED).increment(inserted as u64);
    tracing::debug!(
        tenant = %tenant,
        event = %envelope.id().as_str(),
        event_type = %envelope.event().type_str(),
        deliveries = inserted,
        held = held,
        "webhook event published"
    );
    Ok(published)
}

/// What a fan-out reads of `tenant`'s endpoints, from their plain columns.
async fn subscriptions(
    conn: &mut PgConnection,
    tenant: &str,
) -> Result<Vec<Subscription>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, status, patterns, layout FROM lmsw_endpoints WHERE tenant = $1 ORDER BY id",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let corrupt = |reason: String| StoreError::Corrupt {
                what: format!("endpoint {tenant}/{id}"),
                reason,
            };
            let patterns: Option<Vec<String>> = row.try_get("patterns")?;
            let layout: Option<serde_json::Value> = row.try_get("layout")?;
            let (Some(patterns), Some(layout)) = (patterns, layout) else {
                return Err(corrupt(
                    "its event patterns and layout are not filled in yet (migration 9): open \
                     an Outbox with the master key once, and it fills them"
                        .to_owned(),
                ));
            };
            let filter = EventFilter::try_from(patterns).map_err(|e| corrupt(e.to_string()))?;
            let layout: Layout =
                serde_json::from_value(layout).map_err(|e| corrupt(e.to_string()))?;
            let status = status_of(row.try_get("status")?)?;
            Ok(Subscription::new(id, status, filter, layout))
        })
        .collect()
}
