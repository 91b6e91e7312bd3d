//! Embedded, versioned migrations, safe to run from several processes at once.

use sqlx::{PgPool, Row};

use crate::StoreError;

/// The claim in one round trip (`lmsw_claim`): both statements run in the database, the
/// second with a fresh snapshot (a volatile PL/pgSQL function takes one per statement). Each
/// migration that changes the claim creates the function again from the statements it
/// installs (`$pick`, `$take`, under `migrations/`); the statements of earlier migrations stay
/// as they were, beside them, as migrations are history.
macro_rules! claim_function {
    ($create:literal, $pick:literal, $take:literal) => {
        concat!(
            $create,
            " FUNCTION lmsw_claim(
               p_tenants text[], p_ids text[], p_caps integer[], p_owner text,
               p_limit bigint, p_lease_secs double precision, p_now timestamptz,
               p_expired boolean, p_heads timestamptz[])
             RETURNS TABLE (id bigint, tenant text, event_id text, endpoint_id text,
               body bytea, created_at timestamptz, state text, next_due timestamptz,
               attempt_count integer, round_start integer, round_first_at timestamptz,
               seed bigint, gave_up_reason text, gave_up_at timestamptz, sealed bytea,
               rate double precision, status text, consecutive_failures integer,
               failing_since timestamptz, last_triggered_at timestamptz)
             LANGUAGE plpgsql VOLATILE AS $claim$
             #variable_conflict use_column
             BEGIN
               ",
            include_str!(concat!("../migrations/", $pick)),
            " INTO p_tenants, p_ids, p_caps, p_heads;
               IF p_tenants IS NULL THEN
                 RETURN;
               END IF;
               RETURN QUERY ",
            include_str!(concat!("../migrations/", $take)),
            ";
             END
             $claim$;\n"
        )
    };
}

/// Every migration, in order: `(version, SQL)`.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_outbox.sql")),
    (2, include_str!("../migrations/0002_rate_limit.sql")),
    (3, include_str!("../migrations/0003_narrow_indexes.sql")),
    (4, include_str!("../migrations/0004_dedupe.sql")),
    (5, include_str!("../migrations/0005_dedupe_claims.sql")),
    (6, include_str!("../migrations/0006_endpoint_health.sql")),
    (7, include_str!("../migrations/0007_parked_deliveries.sql")),
    (8, include_str!("../migrations/0008_delivery_columns.sql")),
    (9, include_str!("../migrations/0009_subscriptions.sql")),
    (10, include_str!("../migrations/0010_fair_claims.sql")),
    (
        11,
        concat!(
            include_str!("../migrations/0011_claim_clock.sql"),
            claim_function!("CREATE", "claim/v11/pick.sql", "claim/v11/take.sql"),
        ),
    ),
    (
        12,
        concat!(
            include_str!("../migrations/0012_record_claim.sql"),
            // The grouped write of outcomes, then a claim of the room it freed: one round
            // trip, one transaction. The write's statement reads its rows from the first
            // eighteen parameters, by position; the claim is `lmsw_claim` (migration 11).
            "CREATE FUNCTION lmsw_record_claim(
               text[], bigint[], text[], timestamptz[], integer[], timestamptz[], integer[],
               text[], text[], text[], timestamptz[], bigint[], integer[], text[], text[],
               text[], text[], timestamptz[],
               p_owner text, p_limit bigint, p_lease_secs double precision,
               p_now timestamptz, p_expired boolean)
             RETURNS TABLE (written bigint[], id bigint, tenant text, event_id text,
               endpoint_id text, body bytea, created_at timestamptz, state text,
               next_due timestamptz, attempt_count integer, round_start integer,
               round_first_at timestamptz, seed bigint, gave_up_reason text,
               gave_up_at timestamptz, sealed bytea, rate double precision, status text,
               consecutive_failures integer, failing_since timestamptz,
               last_triggered_at timestamptz)
             LANGUAGE plpgsql VOLATILE AS $record$
             #variable_conflict use_column
             BEGIN
               ",
            include_str!("../migrations/record/write.sql"),
            " SELECT coalesce(array_agg(d.id), '{}') INTO written FROM d;
               RETURN NEXT;
               IF p_limit > 0 THEN
                 RETURN QUERY SELECT NULL::bigint[], c.* FROM lmsw_claim(NULL, NULL, NULL,
                   p_owner, p_limit, p_lease_secs, p_now, p_expired, NULL) c;
               END IF;
             END
             $record$;\n"
        ),
    ),
    (
        13,
        concat!(
            include_str!("../migrations/0013_lanes.sql"),
            claim_function!("CREATE OR REPLACE", "claim/pick.sql", "claim/take.sql"),
        ),
    ),
];

/// An arbitrary key for the advisory lock that serialises migrations across processes.
const LOCK: i64 = 0x6c6d_7377_6d69_6772; // "lmswmigr"

/// The highest migration this crate knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Applies the migrations not applied yet, each in its own transaction, under an advisory
/// lock: several processes may call it at once, and calling it again does nothing. A database
/// migrated by a newer version of the crate is refused ([`StoreError::UnknownMigration`]).
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    migrate_to(pool, latest()).await
}

/// Creates only the receivers' deduplication table ([`PgDeduplicator`](crate::PgDeduplicator)'s
/// `lmsw_seen`), for a receiver that has no outbox: none of the outbox's tables. Safe to run
/// from several processes at once, again, and before or after [`migrate`] (which creates the
/// same table the same way).
pub async fn migrate_dedupe(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    locked(&mut conn, apply_dedupe).await
}

async fn apply_dedupe(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for &(_, sql) in MIGRATIONS.iter().filter(|m| DEDUPE.contains(&m.0)) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs `work` on `conn` under the migrations' advisory lock, released whatever happens.
async fn locked<F>(conn: &mut sqlx::PgConnection, work: F) -> Result<(), StoreError>
where
    F: AsyncFnOnce(&mut sqlx::PgConnection) -> Result<(), StoreError>,
{
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await?;
    let result = work(&mut *conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await;
    result?;
    unlocked?;
    Ok(())
}

/// The migrations of the deduplication table (idempotent, so that [`migrate_dedupe`] may run
/// them outside the numbered sequence).
const DEDUPE: [i32; 2] = [4, 5];

/// [`migrate`], stopping after migration `version` (for staged upgrades, and the tests that
/// fill an older schema and migrate it). A database already past it is left as it is.
pub async fn migrate_to(pool: &PgPool, version: i32) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    locked(&mut conn, async |conn| apply(conn, version).await).await
}

async fn apply(conn: &mut sqlx::PgConnection, up_to: i32) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS lmsw_migrations (
            version    integer     PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .execute(&mut *conn)
    .await?;
    let applied: i32 = sqlx::query("SELECT coalesce(max(version), 0) AS v FROM lmsw_migrations")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    if applied > latest() {
        return Err(StoreError::UnknownMigration {
            found: applied,
            known: latest(),
        });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied && m.0 <= up_to) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO lmsw_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
