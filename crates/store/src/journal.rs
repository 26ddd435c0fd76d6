//! The call journal: a durable row per call the connector will log, kept until the call's log
//! is enqueued, so that a call whose end was never taken (a crash after the PBX's `HANGUP`
//! callback, or an end while no session listened) is found and logged after a restart.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::{Enqueued, InstanceId, NewOutboxItem, StoreError};

/// Which call a journal row is about: one user's leg of a PBX call, logged by one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JournalKey {
    /// The instance that logs the call.
    pub instance_id: InstanceId,
    /// The PBX's call id.
    pub call_id: String,
    /// The STARFACE login id of the user.
    pub login: String,
}

/// A stored journal row.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Whose call.
    pub key: JournalKey,
    /// What the connector knows of the call (its own format).
    pub data: serde_json::Value,
    /// When the row was written first.
    pub first_seen_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// Storage of the call journal.
pub trait CallJournalStore: Send + Sync {
    /// Reads the row of `key` and writes what `update` makes of it, in one transaction (so
    /// that concurrent updates of one call never lose each other's facts). `update` gets the
    /// current data (`None`: no row) and returns the new data, or `None` to leave the row as
    /// it is (or absent). Returns whether a row was written.
    fn update_journal<F>(
        &self,
        key: &JournalKey,
        at: DateTime<Utc>,
        update: F,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send
    where
        F: FnOnce(Option<serde_json::Value>) -> Option<serde_json::Value> + Send;

    /// One row.
    fn get_journal_entry(
        &self,
        key: &JournalKey,
    ) -> impl Future<Output = Result<Option<JournalEntry>, StoreError>> + Send;

    /// The rows of one user (any instance), oldest first.
    fn journal_of_user(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, StoreError>> + Send;

    /// Ends a call's journal row: in one transaction, enqueues `item` (if any; an item with
    /// the same idempotency key wins, as in [`crate::OutboxStore::enqueue`]) and deletes the
    /// row. With `only_if_journaled`, nothing is enqueued when the row is already gone (its
    /// end was taken by someone else). Returns the enqueue result, `None` when nothing was
    /// enqueued.
    fn finish_call(
        &self,
        key: &JournalKey,
        item: Option<&NewOutboxItem>,
        only_if_journaled: bool,
    ) -> impl Future<Output = Result<Option<Enqueued>, StoreError>> + Send;

    /// Records that this process is alive at `at`.
    fn set_alive(&self, at: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// When a process last recorded that it was alive.
    fn last_alive(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
}
