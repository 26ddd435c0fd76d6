//! The durable outbox: every write to Salesforce is enqueued here under an idempotency key and
//! worked off by claims with a lease, so that a crash or restart neither loses nor doubles it.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{InstanceId, StoreError};

/// Database id of an outbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutboxId(pub i64);

impl fmt::Display for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where an outbox item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// Claimed by a worker until its lease ends.
    InFlight,
    /// Written.
    Done,
    /// Given up on (e.g. a validation rule refused it); kept, shown, and retryable by hand.
    Failed,
}

impl OutboxState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::InFlight => "in_flight",
            OutboxState::Done => "done",
            OutboxState::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(OutboxState::Pending),
            "in_flight" => Ok(OutboxState::InFlight),
            "done" => Ok(OutboxState::Done),
            "failed" => Ok(OutboxState::Failed),
            other => Err(StoreError::corrupt("outbox state", other)),
        }
    }
}

/// A write to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxItem {
    /// Makes enqueueing idempotent (e.g. the PBX call id + user for a call log); 1-255 bytes.
    pub idempotency_key: String,
    /// The instance whose org receives the write.
    pub instance_id: InstanceId,
    /// What the worker does with it (e.g. `call_log`).
    pub kind: String,
    /// The data of the write.
    pub payload: serde_json::Value,
    /// Not before this time; `None` means now.
    pub not_before: Option<DateTime<Utc>>,
}

/// A stored outbox item.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Database id.
    pub id: OutboxId,
    /// The idempotency key.
    pub idempotency_key: String,
    /// The instance whose org receives the write.
    pub instance_id: InstanceId,
    /// What the worker does with it.
    pub kind: String,
    /// The data of the write.
    pub payload: serde_json::Value,
    /// Where it stands.
    pub state: OutboxState,
    /// How many times it was claimed for an attempt.
    pub attempts: u32,
    /// When it is due (pending items).
    pub next_attempt_at: DateTime<Utc>,
    /// When the current claim's lease ends (in-flight items).
    pub lease_until: Option<DateTime<Utc>>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// What the worker recorded when it was done (e.g. the Task id).
    pub result: Option<serde_json::Value>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When its last write got no answer, so that the org may still carry it out (see
    /// [`OutboxStore::mark_unanswered`]); `None` when every write was answered.
    pub unanswered_since: Option<DateTime<Utc>>,
}

/// Proof that a worker holds an item; finishing an item needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The claimed item.
    pub id: OutboxId,
    pub(crate) token: String,
}

/// An item handed to a worker by [`OutboxStore::claim_due`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedItem {
    /// The item, already in flight.
    pub item: OutboxItem,
    /// The claim to finish it with.
    pub claim: Claim,
}

/// Result of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The item's id (the existing one when the key was known).
    pub id: OutboxId,
    /// `false` when an item with that key already existed and nothing was added.
    pub created: bool,
}

/// Which items [`OutboxStore::list_outbox`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxFilter {
    /// Only this instance's items.
    pub instance: Option<InstanceId>,
    /// Only items in this state.
    pub state: Option<OutboxState>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Number of items per state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    /// Waiting.
    pub pending: u64,
    /// Claimed.
    pub in_flight: u64,
    /// Written.
    pub done: u64,
    /// Given up on.
    pub failed: u64,
}

/// Exponential backoff with jitter for retries: `base * 2^(attempts-1)`, capped at `max`, then
/// a random point in its upper half so that items failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first attempt.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(15 * 60),
        }
    }
}

impl Backoff {
    /// The delay after `attempts` attempts (1 = after the first).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        let ceiling = self
            .base
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |d| d.min(self.max));
        let half = ceiling / 2;
        let jitter_ms = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::random_range(0..=jitter_ms))
    }

    /// `now` plus the delay after `attempts` attempts.
    pub fn next_attempt_at(&self, now: DateTime<Utc>, attempts: u32) -> DateTime<Utc> {
        let delay = chrono::Duration::from_std(self.delay(attempts))
            .unwrap_or_else(|_| chrono::Duration::seconds(i64::from(u32::MAX)));
        now + delay
    }
}

/// Storage of the outbox.
pub trait OutboxStore: Send + Sync {
    /// Adds an item unless one with the same idempotency key exists (in any state).
    fn enqueue(
        &self,
        item: &NewOutboxItem,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send;

    /// Atomically takes up to `limit` items that are due at `now` (pending and
    /// `next_attempt_at <= now`, or in flight with a lease that ended), oldest first, optionally
    /// of one instance only. Each is moved to in-flight with a lease until `now + lease` and its
    /// attempt count raised. No two callers ever get the same item under a live lease.
    fn claim_due(
        &self,
        instance: Option<InstanceId>,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ClaimedItem>, StoreError>> + Send;

    /// Finishes a claimed item as written, with what the worker wants to keep (e.g. Task id).
    /// `LeaseLost` when the claim is no longer held.
    fn mark_done(
        &self,
        claim: &Claim,
        result: Option<&serde_json::Value>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Returns a claimed item to pending after a transient error, due again at `retry_at`
    /// (see [`Backoff`]). `LeaseLost` when the claim is no longer held.
    fn mark_retry(
        &self,
        claim: &Claim,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Notes on a claimed item that its write, sent at `since`, got no answer (the org may
    /// still carry it out); kept through retries and restarts until the next unanswered write
    /// replaces it. The claim stays held. `LeaseLost` when the claim is no longer held.
    fn mark_unanswered(
        &self,
        claim: &Claim,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives up on a claimed item after a permanent error; it stays until [`Self::requeue`].
    /// `LeaseLost` when the claim is no longer held.
    fn mark_failed(
        &self,
        claim: &Claim,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Returns a claimed item to pending without counting an attempt (e.g. the org's API limit
    /// is spent and the outbox pauses until `retry_at`). `LeaseLost` when no longer held.
    fn release(
        &self,
        claim: &Claim,
        retry_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Returns every in-flight item to pending, due now, without counting an attempt: for a
    /// process that starts as the store's only worker (SQLite: one process per data directory),
    /// so that what a killed predecessor held need not wait for its lease to run out. Returns
    /// how many. Not for stores shared by several workers.
    fn reclaim_in_flight(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Makes a failed item pending and due now. `false` when it is not failed.
    fn requeue(&self, id: OutboxId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One item by id.
    fn get_outbox_item(
        &self,
        id: OutboxId,
    ) -> impl Future<Output = Result<Option<OutboxItem>, StoreError>> + Send;

    /// One item by idempotency key.
    fn get_outbox_item_by_key(
        &self,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Option<OutboxItem>, StoreError>> + Send;

    /// Items matching `filter`, newest first.
    fn list_outbox(
        &self,
        filter: &OutboxFilter,
    ) -> impl Future<Output = Result<Vec<OutboxItem>, StoreError>> + Send;

    /// Number of items per state, of one instance or of all.
    fn outbox_counts(
        &self,
        instance: Option<InstanceId>,
    ) -> impl Future<Output = Result<OutboxCounts, StoreError>> + Send;

    /// Removes done items last changed before `before`. Returns how many.
    fn purge_done(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
