//! One leased delivery's attempt: the request built from the endpoint as it is now, sent
//! under a heartbeat, and the outcome, the attempt and the endpoint's health recorded; or
//! the delivery parked when it cannot be attempted.

use std::sync::atomic::Ordering;

use lms_webhooks::delivery::{Delivery, GiveUpReason, Next, Outcome, RequestError};
use lms_webhooks::endpoint::{HealthChange, HealthEffect, HealthNotice};
use lms_webhooks::transport::Transport;
use lms_webhooks::{Endpoint, Timestamp};
use sqlx::Row;

use crate::record::{record_attempt, Written};
use crate::rows::store as store_delivery;
use crate::StoreError;

use super::{operational, Claimed, Counters, Leased, Notice, Recorder, Slot, Worker};

impl<T: Transport + 'static> Worker<T> {
    /// One leased delivery, attempted; one that cannot be (its row unreadable, its endpoint
    /// not unsealable) is parked with the reason and the worker goes on. A database error is
    /// returned: the lease then expires and the delivery is attempted again.
    pub(super) async fn attempt(
        &self,
        claim: Claimed,
        slot: Slot,
        counters: &Counters,
        recorder: &Recorder,
    ) -> Result<(), StoreError> {
        let (id, lease) = (claim.id, claim.lease.clone());
        let (tenant, endpoint) = (claim.tenant.clone(), claim.endpoint_id.clone());
        match self.attempt_leased(claim, slot, counters, recorder).await {
            Err(StoreError::Database(e)) => Err(StoreError::Database(e)),
            Err(e) => {
                let reason = e.to_string();
                sqlx::query(
                    "UPDATE lmsw_deliveries SET state = 'parked', parked_reason = $3,
                       lease_owner = NULL, lease_until = NULL, finished_at = now()
                     WHERE id = $1 AND lease_owner = $2",
                )
                .bind(id)
                .bind(&lease)
                .bind(&reason)
                .execute(&self.pool)
                .await?;
                counters.parked.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(crate::meter::PARKED).increment(1);
                tracing::warn!(
                    tenant = %tenant,
                    endpoint = %endpoint,
                    delivery = id,
                    reason = %reason,
                    "webhook delivery parked"
                );
                self.notify(Notice::DeliveryParked {
                    tenant,
                    endpoint,
                    reason,
                });
                Ok(())
            }
            ok => ok,
        }
    }

    /// One leased delivery: its request built from the endpoint as it is now, sent outside
    /// any transaction, its outcome recorded.
    async fn attempt_leased(
        &self,
        claim: Claimed,
        mut slot: Slot,
        counters: &Counters,
        recorder: &Recorder,
    ) -> Result<(), StoreError> {
        let pool = &self.pool;
        let Claimed {
            id,
            lease,
            tenant,
            endpoint_id,
            delivery,
            sealed,
            rate,
            health,
        } = claim;
        let (tenant, endpoint_id, lease) = (tenant.as_str(), endpoint_id.as_str(), lease.as_str());
        let mut delivery = delivery?;
        let now = self.now();
        // The endpoint as it is now came with the claim, in the same round trip.
        let endpoint = match sealed {
            Some(sealed) => {
                let mut endpoint = self.unseal(tenant, endpoint_id, sealed)?;
                if let Some(health) = health {
                    endpoint.set_health(health);
                }
                endpoint
            }
            None => {
                delivery.end_for_deleted_endpoint(now);
                let mut conn = pool.acquire().await?;
                store_delivery(&mut conn, id, &delivery, Some(lease)).await?;
                counters.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        if let Some(rate) = rate {
            if !self
                .take_token(id, lease, tenant, endpoint_id, rate)
                .await?
            {
                return Ok(());
            }
        }
        // A send slot first (the worker leases ahead of its free slots), under the lease's
        // heartbeat; the request is built and signed once it can go out.
        self.under_lease(id, lease, slot.send_slot()).await;
        let now = self.now();
        let target = endpoint.target(now);
        let request = match delivery.next_request(now, &target) {
            Ok(request) => request,
            Err(RequestError::Held { .. }) => {
                self.hold(id, lease, tenant, endpoint_id).await?;
                counters.held.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(crate::meter::HELD).increment(1);
                return Ok(());
            }
            Err(RequestError::Ended { .. }) => {
                let mut conn = pool.acquire().await?;
                store_delivery(&mut conn, id, &delivery, Some(lease)).await?;
                counters.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => {
                return Err(StoreError::Corrupt {
                    what: format!("delivery {id}"),
                    reason: e.to_string(),
                })
            }
        };
        // The request goes out with no transaction open; the lease is extended while it is
        // on the wire, however long that takes.
        let outcome = self
            .under_lease(id, lease, self.transport.send(request))
            .await;
        // The next request may go out while this outcome is written.
        slot.sent();
        counters.attempts.fetch_add(1, Ordering::Relaxed);
        // A lost connection here leaves the lease to expire: the delivery is sent again.
        let next = self
            .record(
                Leased {
                    id,
                    lease,
                    tenant,
                    endpoint: &endpoint,
                },
                &mut delivery,
                &target,
                outcome,
                (recorder, slot),
            )
            .await?;
        report_attempt(self.now(), tenant, endpoint_id, &delivery, next);
        match next {
            Some(Next::Done) => counters.delivered.fetch_add(1, Ordering::Relaxed),
            Some(Next::GaveUp(reason)) => {
                self.notify(Notice::DeliveryGaveUp {
                    tenant: tenant.to_owned(),
                    event: delivery.event_id().to_owned(),
                    endpoint: endpoint_id.to_owned(),
                    reason,
                });
                counters.gave_up.fetch_add(1, Ordering::Relaxed)
            }
            None => counters.lost_leases.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        Ok(())
    }

    /// Runs `work` (a request on the wire, a wait for a send slot) while extending the
    /// delivery's lease every third of it, so that an attempt longer than the lease is not
    /// claimed (and sent) a second time meanwhile. A heartbeat that finds the lease gone (the
    /// worker stalled past it, and another claim took the delivery) stops; the outcome is then
    /// not written.
    async fn under_lease<F: std::future::Future>(
        &self,
        id: i64,
        lease: &str,
        work: F,
    ) -> F::Output {
        let mut work = std::pin::pin!(work);
        let every = self.lease / 3;
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held = true;
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = beat.tick(), if held => {
                    let extended = sqlx::query(
                        "UPDATE lmsw_deliveries
                         SET lease_until = now() + make_interval(secs => $3)
                         WHERE id = $1 AND lease_owner = $2",
                    )
                    .bind(id)
                    .bind(lease)
                    .bind(self.lease.as_secs_f64())
                    .execute(&self.pool)
                    .await;
                    // A lost connection: try again at the next beat.
                    held = !matches!(extended, Ok(done) if done.rows_affected() == 0);
                }
            }
        }
    }

    fn unseal(&self, tenant: &str, id: &str, sealed: Vec<u8>) -> Result<Endpoint, StoreError> {
        let key = (tenant.to_owned(), id.to_owned());
        let mut cache = self
            .unsealed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((bytes, endpoint)) = cache.get(&key) {
            if *bytes == sealed {
                return Ok(endpoint.clone());
            }
        }
        let endpoint = self.outbox.unseal(tenant, id, &sealed)?;
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(key, (sealed, endpoint.clone()));
        Ok(endpoint)
    }

    /// Takes one token from the endpoint's bucket; without one, puts the delivery back due when
    /// the next token comes, and returns false.
    async fn take_token(
        &self,
        id: i64,
        lease: &str,
        tenant: &str,
        endpoint_id: &str,
        rate: f64,
    ) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let took = sqlx::query(
            "UPDATE lmsw_endpoints SET
               rate_tokens = least(greatest(rate_per_second, 1),
                 rate_tokens + rate_per_second * extract(epoch FROM clock_timestamp() - rate_at)) - 1,
               rate_at = clock_timestamp()
             WHERE tenant = $1 AND id = $2 AND rate_per_second IS NOT NULL
               AND least(greatest(rate_per_second, 1),
                 rate_tokens + rate_per_second * extract(epoch FROM clock_timestamp() - rate_at)) >= 1",
        )
        .bind(tenant)
        .bind(endpoint_id)
        .execute(pool)
        .await?
        .rows_affected()
            == 1;
        if !took {
            metrics::counter!(crate::meter::RATE_LIMITED).increment(1);
            sqlx::query(
                "UPDATE lmsw_deliveries SET lease_owner = NULL, lease_until = NULL,
                   next_due = clock_timestamp() + make_interval(secs => $3)
                 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id)
            .bind(lease)
            .bind(1.0 / rate.max(0.001))
            .execute(pool)
            .await?;
        }
        Ok(took)
    }

    /// Parks a delivery whose endpoint is paused or failed, under a share lock on the
    /// endpoint row: an edit that makes the endpoint active again (and releases what it held)
    /// either runs before, and the delivery is not parked but claimed again, or after, and it
    /// releases this one too. Nothing stays held behind an active endpoint.
    async fn hold(
        &self,
        id: i64,
        lease: &str,
        tenant: &str,
        endpoint_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let status: Option<String> = sqlx::query(
            "SELECT status FROM lmsw_endpoints WHERE tenant = $1 AND id = $2 FOR SHARE",
        )
        .bind(tenant)
        .bind(endpoint_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("status"))
        .transpose()?;
        let still_held = matches!(status.as_deref(), Some("paused" | "failed"));
        sqlx::query(
            "UPDATE lmsw_deliveries
             SET state = CASE WHEN $3 THEN 'held' ELSE 'pending' END,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(lease)
        .bind(still_held)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The outcome, the attempt row and the endpoint's status, in one transaction (one
    /// statement when the endpoint's status bookkeeping does not change, the usual case: no
    /// lock on the endpoint row then; that statement goes through the worker's writer, which
    /// gives back the delivery's `slot` or fills it again). `None` when the lease was lost
    /// meanwhile (another worker has the delivery: nothing is written).
    async fn record(
        &self,
        leased: Leased<'_>,
        delivery: &mut Delivery,
        target: &lms_webhooks::Target,
        outcome: Outcome,
        (recorder, slot): (&Recorder, Slot),
    ) -> Result<Option<Next>, StoreError> {
        let Leased {
            id,
            lease,
            tenant,
            endpoint,
        } = leased;
        let now = self.now();
        let corrupt = |e: lms_webhooks::delivery::RecordError| StoreError::Corrupt {
            what: format!("delivery {id}"),
            reason: e.to_string(),
        };
        let next = delivery.record(now, target, outcome).map_err(corrupt)?;
        let started = delivery.attempts().last().map_or(now, |a| a.started_at);
        let change = HealthChange::of(started, next);
        let due = match next {
            Next::RetryAt(due) => due,
            _ => now,
        };
        let healthy = endpoint.health();
        if change.effect == HealthEffect::Delivered
            && healthy.consecutive_failures == 0
            && healthy.failing_since.is_none()
        {
            // The usual case: one statement, atomic by itself, shared with the other outcomes
            // that arrive meanwhile; it also moves "Last Triggered" (to the second) and resets
            // a failure count that a concurrent attempt may have raised since the claim.
            let written = match Written::new(id, lease, tenant, endpoint.id(), delivery, due) {
                Some(row) => recorder.write(row, slot).await?,
                None => {
                    let mut conn = self.pool.acquire().await?;
                    store_delivery(&mut conn, id, delivery, Some(lease)).await?
                }
            };
            return Ok(written.then_some(next));
        }
        // The health changes (a failure counted, Failed, 410 → Disabled, a delivery after
        // failures): under the endpoint row's lock, with the core crate's rules, in one
        // transaction with the attempt. The sealed settings are not touched.
        // The operational events they make (`operational.*`) are published in the same
        // transaction, to the tenant's endpoints that subscribe to them.
        let mut tx = self.pool.begin().await?;
        let applied = crate::health::apply(&mut tx, tenant, endpoint.id(), now, change).await?;
        if !record_attempt(&mut tx, id, tenant, endpoint.id(), delivery, due, lease).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let report = operational::Report {
            health: applied.and_then(|a| a.notice.map(|notice| (notice, a.after))),
            exhausted: (next == Next::GaveUp(GiveUpReason::Exhausted)).then_some(&*delivery),
        };
        operational::publish(&mut tx, tenant, endpoint.id(), now, report).await?;
        tx.commit().await?;
        let (tenant, endpoint) = (tenant.to_owned(), endpoint.id().to_owned());
        match applied.and_then(|a| a.notice) {
            Some(HealthNotice::Failing) => {
                self.notify(Notice::EndpointFailing { tenant, endpoint })
            }
            Some(HealthNotice::Failed) => self.notify(Notice::EndpointFailed { tenant, endpoint }),
            Some(HealthNotice::Disabled) => {
                self.notify(Notice::EndpointDisabled { tenant, endpoint })
            }
            Some(HealthNotice::Recovered { after_failures }) => {
                self.notify(Notice::EndpointRecovered {
                    tenant,
                    endpoint,
                    after_failures,
                })
            }
            _ => {}
        }
        Ok(Some(next))
    }
}

/// The attempt's outcome for the host's metrics recorder ([`meter`](crate::meter)) and its
/// `tracing` subscriber: who, which event, which attempt, the status or the error, how long,
/// and what was decided. Never a secret, a signature or a body: the response excerpt stays in
/// the delivery log.
fn report_attempt(
    now: Timestamp,
    tenant: &str,
    endpoint: &str,
    delivery: &Delivery,
    next: Option<Next>,
) {
    let Some(attempt) = delivery.attempts().last() else {
        return;
    };
    let (status, error) = (attempt.outcome.status_code(), attempt.outcome.error_kind());
    let since_created = now.duration_since(delivery.parts().created_at);
    crate::meter::attempt(
        next,
        std::time::Duration::from_millis(attempt.duration_ms),
        since_created,
    );
    let outcome = crate::meter::outcome_name(next);
    macro_rules! attempt_event {
        ($level:ident) => {
            tracing::$level!(
                tenant = %tenant,
                endpoint = %endpoint,
                event = %delivery.event_id(),
                attempt = attempt.number,
                status = status,
                error = error,
                duration_ms = attempt.duration_ms,
                outcome = outcome,
                "webhook attempt"
            )
        };
    }
    match next {
        Some(Next::Done) => attempt_event!(debug),
        Some(Next::RetryAt(_)) => attempt_event!(info),
        _ => attempt_event!(warn),
    }
}
