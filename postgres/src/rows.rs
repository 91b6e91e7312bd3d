//! A delivery as a row (migration 8): typed columns for its state, the body once per event
//! (in `lmsw_messages`; a delivery row holds one only when its endpoint's layout made it
//! differ), the attempts in `lmsw_attempts` only, and the operations (who resent, recovered,
//! canceled, and why) in `lmsw_operations`. The core crate's [`Delivery`] is rebuilt from the
//! columns with [`Delivery::from_parts`].

use lms_webhooks::delivery::{Delivery, DeliveryParts, GiveUpReason, State};
use lms_webhooks::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use crate::sql::odt;
use crate::StoreError;

/// The columns [`from_row`] reads, from `lmsw_deliveries d` joined with `lmsw_messages m`.
macro_rules! delivery_columns {
    () => {
        "d.id, d.event_id, d.endpoint_id, coalesce(d.body, m.body) AS body, d.created_at,
         d.state, d.next_due, d.attempt_count, d.round_start, d.round_first_at, d.seed,
         d.gave_up_reason, d.gave_up_at"
    };
}
pub(crate) use delivery_columns;

/// A give-up reason's name in storage (its serde name).
pub(crate) fn reason_name(reason: GiveUpReason) -> &'static str {
    match reason {
        GiveUpReason::Exhausted => "exhausted",
        GiveUpReason::Gone => "gone",
        GiveUpReason::EndpointDisabled => "endpoint_disabled",
        GiveUpReason::EndpointDeleted => "endpoint_deleted",
        GiveUpReason::Canceled => "canceled",
        _ => "unknown",
    }
}

fn reason_of(name: &str) -> Option<GiveUpReason> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

fn corrupt(id: i64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what: format!("delivery {id}"),
        reason: reason.into(),
    }
}

fn timestamp(id: i64, t: OffsetDateTime) -> Result<Timestamp, StoreError> {
    Timestamp::try_from(t).map_err(|e| corrupt(id, e.to_string()))
}

/// The delivery in `row` (its [`delivery_columns`]).
pub(crate) fn from_row(row: &PgRow) -> Result<Delivery, StoreError> {
    let id: i64 = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let next_due: Option<OffsetDateTime> = row.try_get("next_due")?;
    let created_at = timestamp(id, row.try_get("created_at")?)?;
    let state = match state.as_str() {
        // Held and parked deliveries wait, as pending ones do, for their endpoint or an
        // operator.
        "pending" | "held" | "parked" => State::Pending {
            due: next_due.map_or(Ok(created_at), |t| timestamp(id, t))?,
        },
        "done" => State::Done,
        "gave_up" => {
            let reason: Option<String> = row.try_get("gave_up_reason")?;
            let at: Option<OffsetDateTime> = row.try_get("gave_up_at")?;
            State::GaveUp {
                reason: reason
                    .as_deref()
                    .and_then(reason_of)
                    .ok_or_else(|| corrupt(id, "a given-up delivery without its reason"))?,
                at: at.map_or(Ok(created_at), |t| timestamp(id, t))?,
            }
        }
        other => return Err(corrupt(id, format!("unknown state `{other}`"))),
    };
    let count = |name: &str| -> Result<u32, StoreError> {
        let n: i32 = row.try_get(name)?;
        u32::try_from(n).map_err(|_| corrupt(id, format!("{name} is {n}")))
    };
    let round_first_at: Option<OffsetDateTime> = row.try_get("round_first_at")?;
    let seed: i64 = row.try_get("seed")?;
    let event_id: String = row.try_get("event_id")?;
    let endpoint_id: String = row.try_get("endpoint_id")?;
    let body: Vec<u8> = row.try_get("body")?;
    let parts = DeliveryParts::new(
        event_id,
        endpoint_id,
        body,
        created_at,
        state,
        count("attempt_count")?,
        count("round_start")?,
        round_first_at.map(|t| timestamp(id, t)).transpose()?,
        seed as u64,
    );
    Delivery::from_parts(parts).map_err(|e| corrupt(id, e.to_string()))
}

/// What the state columns say of `delivery`: the row state, the next due time, the give-up
/// reason and time.
pub(crate) struct StateColumns {
    pub(crate) state: &'static str,
    pub(crate) next_due: Option<OffsetDateTime>,
    pub(crate) gave_up_reason: Option<&'static str>,
    pub(crate) gave_up_at: Option<OffsetDateTime>,
}

impl StateColumns {
    pub(crate) fn of(delivery: &Delivery) -> StateColumns {
        let (gave_up_reason, gave_up_at) = match delivery.state() {
            State::GaveUp { reason, at } => (Some(reason_name(reason)), Some(odt(at))),
            _ => (None, None),
        };
        StateColumns {
            state: crate::sql::state_name(delivery.state()),
            next_due: delivery.next_due().map(odt),
            gave_up_reason,
            gave_up_at,
        }
    }
}

/// Inserts a new delivery of `tenant` in row state `state`; its body is kept on the row only
/// when it differs from its message's `message_body`.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    tenant: &str,
    delivery: &Delivery,
    state: &str,
    message_body: &[u8],
) -> Result<Option<i64>, StoreError> {
    let parts = delivery.parts();
    let body = (parts.body.as_ref() != message_body).then(|| parts.body.to_vec());
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, next_due,
           attempt_count, round_start, seed, body, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(tenant)
    .bind(delivery.event_id())
    .bind(delivery.endpoint_id())
    .bind(state)
    .bind(delivery.next_due().map(odt))
    .bind(parts.seed as i64)
    .bind(body)
    .bind(odt(parts.created_at))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// Inserts a published event's deliveries (`(delivery, state)`) in one statement, and wakes
/// the workers (at commit) when one of them is pending. Returns how many were inserted and
/// how many of those are held.
pub(crate) async fn insert_all(
    conn: &mut PgConnection,
    tenant: &str,
    event_id: &str,
    rows: &[(&Delivery, &str)],
    message_body: &[u8],
) -> Result<(usize, usize), StoreError> {
    if rows.is_empty() {
        return Ok((0, 0));
    }
    let mut endpoints = Vec::with_capacity(rows.len());
    let mut states = Vec::with_capacity(rows.len());
    let mut due = Vec::with_capacity(rows.len());
    let mut seeds = Vec::with_capacity(rows.len());
    let mut bodies = Vec::with_capacity(rows.len());
    let mut created = Vec::with_capacity(rows.len());
    for (delivery, state) in rows {
        let parts = delivery.parts();
        endpoints.push(delivery.endpoint_id());
        states.push(*state);
        due.push(delivery.next_due().map(odt));
        seeds.push(parts.seed as i64);
        bodies.push((parts.body.as_ref() != message_body).then(|| parts.body.to_vec()));
        created.push(odt(parts.created_at));
    }
    let row = sqlx::query(
        "WITH ins AS (
           INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, next_due,
             attempt_count, round_start, seed, body, created_at)
           SELECT $1, $2, r.endpoint_id, r.state, r.next_due, 0, 0, r.seed, r.body, r.created_at
           FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::bytea[],
             $8::timestamptz[]) AS r(endpoint_id, state, next_due, seed, body, created_at)
           ON CONFLICT DO NOTHING RETURNING state)
         SELECT count(*) AS inserted, count(*) FILTER (WHERE state = 'held') AS held,
           (SELECT count(*) FROM (SELECT pg_notify($9, '') FROM ins
                                  WHERE state = 'pending' LIMIT 1) w) AS woke
         FROM ins",
    )
    .bind(tenant)
    .bind(event_id)
    .bind(&endpoints)
    .bind(&states)
    .bind(&due)
    .bind(&seeds)
    .bind(&bodies)
    .bind(&created)
    .bind(crate::sql::CHANNEL)
    .fetch_one(&mut *conn)
    .await?;
    let count = |name: &str| -> Result<usize, StoreError> {
        let n: i64 = row.try_get(name)?;
        Ok(usize::try_from(n).unwrap_or(0))
    };
    Ok((count("inserted")?, count("held")?))
}

/// Writes a delivery's state back, clearing the lease, and appends the operations it logged
/// since it was loaded; with `lease` (a claim's token), only if that claim still holds it
/// (returns false otherwise: another claim took it over).
pub(crate) async fn store(
    conn: &mut PgConnection,
    id: i64,
    delivery: &Delivery,
    lease: Option<&str>,
) -> Result<bool, StoreError> {
    let parts = delivery.parts();
    let columns = StateColumns::of(delivery);
    let updated = sqlx::query(
        "UPDATE lmsw_deliveries SET state = $2, next_due = $3, attempt_count = $4,
           round_start = $5, round_first_at = $6, gave_up_reason = $7, gave_up_at = $8,
           lease_owner = NULL, lease_until = NULL, parked_reason = NULL,
           finished_at = CASE WHEN $2 IN ('done', 'gave_up') THEN now() ELSE NULL END
         WHERE id = $1 AND ($9::text IS NULL OR lease_owner = $9)",
    )
    .bind(id)
    .bind(columns.state)
    .bind(columns.next_due)
    .bind(i32::try_from(parts.attempt_count).unwrap_or(i32::MAX))
    .bind(i32::try_from(parts.round_start).unwrap_or(i32::MAX))
    .bind(parts.round_first_at.map(odt))
    .bind(columns.gave_up_reason)
    .bind(columns.gave_up_at)
    .bind(lease)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    operations(conn, id, delivery).await?;
    Ok(true)
}

/// Appends the operations `delivery` logged since it was loaded.
pub(crate) async fn operations(
    conn: &mut PgConnection,
    id: i64,
    delivery: &Delivery,
) -> Result<(), StoreError> {
    for op in delivery.operations() {
        let action = serde_json::to_value(op.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        sqlx::query(
            "INSERT INTO lmsw_operations (delivery_id, at, action, by_whom, reason)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(odt(op.at))
        .bind(action)
        .bind(&op.by)
        .bind(&op.reason)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
