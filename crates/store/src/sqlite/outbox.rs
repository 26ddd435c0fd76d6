use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{SqliteStore, non_empty};
use crate::time::{from_ms, now_ms, opt_from_ms, to_ms};
use crate::{
    Claim, ClaimedItem, Enqueued, InstanceId, NewOutboxItem, OutboxCounts, OutboxFilter, OutboxId,
    OutboxItem, OutboxState, OutboxStore, StoreError,
};

const COLUMNS: &str = "id, idempotency_key, instance_id, kind, payload, state, attempts, \
                       next_attempt_at, lease_until, last_error, result, created_at, updated_at, \
                       unanswered_since";

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    idempotency_key: String,
    instance_id: i64,
    kind: String,
    payload: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    lease_until: Option<i64>,
    last_error: Option<String>,
    result: Option<String>,
    created_at: i64,
    updated_at: i64,
    unanswered_since: Option<i64>,
}

impl TryFrom<OutboxRow> for OutboxItem {
    type Error = StoreError;

    fn try_from(row: OutboxRow) -> Result<Self, StoreError> {
        Ok(OutboxItem {
            id: OutboxId(row.id),
            idempotency_key: row.idempotency_key,
            instance_id: InstanceId(row.instance_id),
            kind: row.kind,
            payload: serde_json::from_str(&row.payload)
                .map_err(|e| StoreError::corrupt("outbox payload", e))?,
            state: OutboxState::parse(&row.state)?,
            attempts: u32::try_from(row.attempts)
                .map_err(|e| StoreError::corrupt("outbox attempts", e))?,
            next_attempt_at: from_ms(row.next_attempt_at)?,
            lease_until: opt_from_ms(row.lease_until)?,
            last_error: row.last_error,
            result: row
                .result
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| StoreError::corrupt("outbox result", e))?,
            created_at: from_ms(row.created_at)?,
            updated_at: from_ms(row.updated_at)?,
            unanswered_since: opt_from_ms(row.unanswered_since)?,
        })
    }
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// The UPDATE of a claimed item: parameters 1-3 are now, id and lease token; `set` may use 4-.
/// It only touches the row while the claim is held.
fn held_sql(set: &str) -> String {
    format!(
        "UPDATE outbox SET {set}, updated_at = ?1 \
         WHERE id = ?2 AND state = 'in_flight' AND lease_token = ?3"
    )
}

/// [`held_sql`] that also ends the claim.
fn finish_sql(set: &str) -> String {
    held_sql(&format!("{set}, lease_token = NULL, lease_until = NULL"))
}

fn held(rows_affected: u64, claim: &Claim) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::LeaseLost { id: claim.id.0 });
    }
    Ok(())
}

/// Checks a new item and encodes its payload.
pub(super) fn check_item(item: &NewOutboxItem) -> Result<String, StoreError> {
    if item.idempotency_key.is_empty() || item.idempotency_key.len() > 255 {
        return Err(StoreError::Invalid {
            what: "idempotency key",
            problem: format!("must be 1 to 255 bytes, not {}", item.idempotency_key.len()),
        });
    }
    non_empty("outbox kind", &item.kind)?;
    serde_json::to_string(&item.payload).map_err(|e| StoreError::Invalid {
        what: "outbox payload",
        problem: e.to_string(),
    })
}

/// Inserts a checked item unless one with its idempotency key exists, on `conn` (a pooled
/// connection or an open transaction, so that a caller can enqueue together with its own
/// writes); answers the item that holds the key.
pub(super) async fn insert_item(
    conn: &mut sqlx::SqliteConnection,
    item: &NewOutboxItem,
    payload: String,
    context: &'static str,
) -> Result<Enqueued, StoreError> {
    let now = now_ms();
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (idempotency_key, instance_id, kind, payload, state, attempts, \
           next_attempt_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?6) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(&item.idempotency_key)
    .bind(item.instance_id.0)
    .bind(&item.kind)
    .bind(payload)
    .bind(item.not_before.map_or(now, to_ms))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db(context))?;
    if let Some(id) = inserted {
        return Ok(Enqueued {
            id: OutboxId(id),
            created: true,
        });
    }
    let existing: i64 = sqlx::query_scalar("SELECT id FROM outbox WHERE idempotency_key = ?1")
        .bind(&item.idempotency_key)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::db(context))?;
    Ok(Enqueued {
        id: OutboxId(existing),
        created: false,
    })
}

impl OutboxStore for SqliteStore {
    async fn enqueue(&self, item: &NewOutboxItem) -> Result<Enqueued, StoreError> {
        const CONTEXT: &str = "enqueueing a write";
        let payload = check_item(item)?;
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(StoreError::db(CONTEXT))?;
        insert_item(&mut conn, item, payload, CONTEXT).await
    }

    async fn claim_due(
        &self,
        instance: Option<InstanceId>,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedItem>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = to_ms(now);
        // One statement: SQLite takes the write lock before it reads, so two claimers are
        // serialised and the second sees the first one's leases.
        let rows: Vec<OutboxRow> = sqlx::query_as(&format!(
            "UPDATE outbox SET state = 'in_flight', lease_token = ?1, lease_until = ?2, \
               attempts = attempts + 1, updated_at = ?3 \
             WHERE id IN ( \
               SELECT id FROM outbox \
               WHERE ((state = 'pending' AND next_attempt_at <= ?3) \
                   OR (state = 'in_flight' AND lease_until <= ?3)) \
                 AND (?4 IS NULL OR instance_id = ?4) \
               ORDER BY id LIMIT ?5) \
             RETURNING {COLUMNS}"
        ))
        .bind(&token)
        .bind(now.saturating_add(lease_ms(lease)))
        .bind(now)
        .bind(instance.map(|i| i.0))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("claiming outbox items"))?;
        let mut claimed = rows
            .into_iter()
            .map(|row| {
                let item = OutboxItem::try_from(row)?;
                let claim = Claim {
                    id: item.id,
                    token: token.clone(),
                };
                Ok(ClaimedItem { item, claim })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING gives no order.
        claimed.sort_by_key(|c| c.item.id);
        Ok(claimed)
    }

    async fn mark_done(
        &self,
        claim: &Claim,
        result: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let result =
            result
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Invalid {
                    what: "outbox result",
                    problem: e.to_string(),
                })?;
        let done = sqlx::query(&finish_sql(
            "state = 'done', last_error = NULL, result = ?4",
        ))
        .bind(now_ms())
        .bind(claim.id.0)
        .bind(claim.token.as_str())
        .bind(result)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("finishing an outbox item"))?;
        held(done.rows_affected(), claim)
    }

    async fn mark_retry(
        &self,
        claim: &Claim,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(&finish_sql(
            "state = 'pending', last_error = ?4, next_attempt_at = ?5",
        ))
        .bind(now_ms())
        .bind(claim.id.0)
        .bind(claim.token.as_str())
        .bind(error)
        .bind(to_ms(retry_at))
        .execute(self.pool())
        .await
        .map_err(StoreError::db("rescheduling an outbox item"))?;
        held(done.rows_affected(), claim)
    }

    async fn mark_unanswered(&self, claim: &Claim, since: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query(&held_sql("unanswered_since = ?4"))
            .bind(now_ms())
            .bind(claim.id.0)
            .bind(claim.token.as_str())
            .bind(to_ms(since))
            .execute(self.pool())
            .await
            .map_err(StoreError::db("noting an unanswered write"))?;
        held(done.rows_affected(), claim)
    }

    async fn mark_failed(&self, claim: &Claim, error: &str) -> Result<(), StoreError> {
        let done = sqlx::query(&finish_sql("state = 'failed', last_error = ?4"))
            .bind(now_ms())
            .bind(claim.id.0)
            .bind(claim.token.as_str())
            .bind(error)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("failing an outbox item"))?;
        held(done.rows_affected(), claim)
    }

    async fn release(&self, claim: &Claim, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query(&finish_sql(
            "state = 'pending', attempts = MAX(attempts - 1, 0), next_attempt_at = ?4",
        ))
        .bind(now_ms())
        .bind(claim.id.0)
        .bind(claim.token.as_str())
        .bind(to_ms(retry_at))
        .execute(self.pool())
        .await
        .map_err(StoreError::db("releasing an outbox item"))?;
        held(done.rows_affected(), claim)
    }

    async fn reclaim_in_flight(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = to_ms(now);
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_token = NULL, lease_until = NULL, \
             next_attempt_at = ?1, updated_at = ?1 WHERE state = 'in_flight'",
        )
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("reclaiming in-flight outbox items"))?;
        Ok(done.rows_affected())
    }

    async fn requeue(&self, id: OutboxId) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, updated_at = ?1 \
             WHERE id = ?2 AND state = 'failed'",
        )
        .bind(now)
        .bind(id.0)
        .execute(self.pool())
        .await
        .map_err(StoreError::db("requeueing an outbox item"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_outbox_item(&self, id: OutboxId) -> Result<Option<OutboxItem>, StoreError> {
        let row: Option<OutboxRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))
                .bind(id.0)
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::db("reading an outbox item"))?;
        row.map(OutboxItem::try_from).transpose()
    }

    async fn get_outbox_item_by_key(
        &self,
        idempotency_key: &str,
    ) -> Result<Option<OutboxItem>, StoreError> {
        let row: Option<OutboxRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE idempotency_key = ?1"
        ))
        .bind(idempotency_key)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading an outbox item"))?;
        row.map(OutboxItem::try_from).transpose()
    }

    async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<OutboxRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM outbox \
             WHERE (?1 IS NULL OR instance_id = ?1) AND (?2 IS NULL OR state = ?2) \
             ORDER BY id DESC LIMIT ?3"
        ))
        .bind(filter.instance.map(|i| i.0))
        .bind(filter.state.map(OutboxState::as_str))
        .bind(i64::from(filter.limit))
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("listing outbox items"))?;
        rows.into_iter().map(OutboxItem::try_from).collect()
    }

    async fn outbox_counts(
        &self,
        instance: Option<InstanceId>,
    ) -> Result<OutboxCounts, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox WHERE (?1 IS NULL OR instance_id = ?1) \
             GROUP BY state",
        )
        .bind(instance.map(|i| i.0))
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("counting outbox items"))?;
        let mut counts = OutboxCounts::default();
        for (state, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match OutboxState::parse(&state)? {
                OutboxState::Pending => counts.pending = n,
                OutboxState::InFlight => counts.in_flight = n,
                OutboxState::Done => counts.done = n,
                OutboxState::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }

    async fn purge_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM outbox WHERE state = 'done' AND updated_at < ?1")
            .bind(to_ms(before))
            .execute(self.pool())
            .await
            .map_err(StoreError::db("purging finished outbox items"))?;
        Ok(done.rows_affected())
    }
}
