//! Operational events: what the worker's notices say (an endpoint failing, failed, disabled
//! or recovered; a delivery whose schedule ran out), published as `operational.*` events to
//! the tenant's endpoints that subscribe to them by name, in the transaction that records what
//! they report: they commit with it or not at all.
//!
//! Never to the endpoint they are about (it is failing), and nothing is written when no other
//! endpoint subscribes. They are written under a savepoint: if writing them fails (a row of
//! the tenant's endpoints unreadable, say), they are skipped with a warning, and the attempt
//! they report is recorded all the same. A delivery of an operational event that runs out of retries publishes
//! nothing (two failing operations endpoints would otherwise report each other forever); an
//! operations endpoint's own health changes are reported to the others, once per change.

use lms_webhooks::delivery::Delivery;
use lms_webhooks::endpoint::{Health, HealthNotice};
use lms_webhooks::event::{
    DeliveryExhausted, EndpointHealthReport, OperationalEvent, OperationalType,
};
use lms_webhooks::{Envelope, Event, EventId, Timestamp};
use sqlx::{Connection, PgConnection};

use crate::publish::publish_at;
use crate::sql::status_name;
use crate::StoreError;

/// What one recorded attempt has to report: its endpoint's health notice (with the health after
/// it), and whether its delivery ran out of retries.
pub(super) struct Report<'a> {
    pub(super) health: Option<(HealthNotice, Health)>,
    pub(super) exhausted: Option<&'a Delivery>,
}

/// Publishes what `report` says about `endpoint`, inside the caller's transaction, under a
/// savepoint (see the module's documentation). Only an error that leaves the transaction
/// unusable (a lost connection) is returned.
pub(super) async fn publish(
    conn: &mut PgConnection,
    tenant: &str,
    endpoint: &str,
    now: Timestamp,
    report: Report<'_>,
) -> Result<(), StoreError> {
    if report.health.is_none() && report.exhausted.is_none() {
        return Ok(());
    }
    let mut savepoint = conn.begin().await?;
    let mut written = Ok(());
    if let Some((notice, after)) = report.health {
        written = health(&mut savepoint, tenant, endpoint, now, notice, after).await;
    }
    if let (Ok(()), Some(delivery)) = (&written, report.exhausted) {
        written = exhausted(&mut savepoint, tenant, endpoint, delivery, now).await;
    }
    match written {
        Ok(()) => savepoint.commit().await?,
        Err(e) => {
            savepoint.rollback().await?;
            tracing::warn!(
                tenant = %tenant,
                endpoint = %endpoint,
                error = %e,
                "webhook operational event not written"
            );
        }
    }
    Ok(())
}

/// Publishes the event a health notice makes, about `endpoint` (its health `after` the change).
async fn health(
    conn: &mut PgConnection,
    tenant: &str,
    endpoint: &str,
    now: Timestamp,
    notice: HealthNotice,
    after: Health,
) -> Result<(), StoreError> {
    let mut report = EndpointHealthReport::builder()
        .endpoint_id(endpoint)
        .status(status_name(after.status))
        .consecutive_failures(after.consecutive_failures);
    if let Some(since) = after.failing_since {
        report = report.failing_since(since);
    }
    let kind = match notice {
        HealthNotice::Failing => OperationalType::EndpointFailing,
        HealthNotice::Failed => OperationalType::EndpointFailed,
        HealthNotice::Disabled => {
            report = report.status_code(410u16);
            OperationalType::EndpointDisabled
        }
        HealthNotice::Recovered { after_failures } => {
            report = report.after_failures(after_failures);
            OperationalType::EndpointRecovered
        }
        _ => return Ok(()),
    };
    let report = report.build().map_err(built)?;
    let event = match kind {
        OperationalType::EndpointFailing => OperationalEvent::EndpointFailing(report),
        OperationalType::EndpointFailed => OperationalEvent::EndpointFailed(report),
        OperationalType::EndpointDisabled => OperationalEvent::EndpointDisabled(report),
        _ => OperationalEvent::EndpointRecovered(report),
    };
    send(conn, tenant, endpoint, now, event).await
}

/// Publishes `operational.delivery.exhausted` for `delivery` (to `endpoint`), unless it
/// carried an operational event itself.
async fn exhausted(
    conn: &mut PgConnection,
    tenant: &str,
    endpoint: &str,
    delivery: &Delivery,
    now: Timestamp,
) -> Result<(), StoreError> {
    let event_type: Option<String> = sqlx::query_scalar(
        "SELECT event_type FROM lmsw_messages WHERE tenant = $1 AND event_id = $2",
    )
    .bind(tenant)
    .bind(delivery.event_id())
    .fetch_optional(&mut *conn)
    .await?;
    let event_type = event_type.unwrap_or_default();
    if event_type.starts_with("operational.") {
        return Ok(());
    }
    let mut report = DeliveryExhausted::builder()
        .endpoint_id(endpoint)
        .event_id(delivery.event_id())
        .event_type(match event_type.is_empty() {
            true => "unknown".to_owned(),
            false => event_type,
        })
        .attempts(delivery.attempt_count());
    if let Some(attempt) = delivery.attempts().last() {
        match (attempt.outcome.status_code(), attempt.outcome.error_kind()) {
            (Some(status), _) => report = report.last_status(status),
            (None, Some(kind)) => report = report.last_error(kind),
            (None, None) => {}
        }
    }
    let report = report.build().map_err(built)?;
    let event = OperationalEvent::DeliveryExhausted(report);
    send(conn, tenant, endpoint, now, event).await
}

/// A payload the worker built without its required fields (never: they come from rows).
fn built(e: lms_webhooks::BuildError) -> StoreError {
    StoreError::Corrupt {
        what: "operational event".to_owned(),
        reason: e.to_string(),
    }
}

async fn send(
    conn: &mut PgConnection,
    tenant: &str,
    about: &str,
    now: Timestamp,
    event: OperationalEvent,
) -> Result<(), StoreError> {
    let kind = event.event_type();
    let envelope = Envelope::from_parts(EventId::new(), now, Event::Operational(event));
    let published = publish_at(conn, tenant, &envelope, now, Some(about)).await?;
    tracing::debug!(
        tenant = %tenant,
        endpoint = %about,
        event_type = %kind,
        deliveries = published.deliveries,
        "webhook operational event"
    );
    Ok(())
}
