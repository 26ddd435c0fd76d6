//! Storage of ctibridge: instances, user links and settings, encrypted credentials, sync
//! watermarks, the record cache, the outbox and the call journal, behind small traits
//! ([`InstanceStore`], [`UserStore`], [`CredentialStore`], [`SyncStateStore`], [`RecordStore`],
//! [`OutboxStore`], [`CallJournalStore`], together [`Store`]) with one implementation on
//! SQLite ([`SqliteStore`]) and room for PostgreSQL later.
//!
//! The traits use `async fn` in traits (futures are `Send`), so they are used through generics
//! (`S: Store`), not as `dyn Store`.

mod credential;
mod error;
mod instance;
mod journal;
mod outbox;
mod record;
mod sqlite;
mod sync_state;
mod time;
mod user;

use std::future::Future;

pub use credential::{
    CredentialInfo, CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore,
};
pub use error::StoreError;
pub use instance::{Instance, InstanceId, InstanceSpec, InstanceStore};
pub use journal::{CallJournalStore, JournalEntry, JournalKey};
pub use outbox::{
    Backoff, Claim, ClaimedItem, Enqueued, NewOutboxItem, OutboxCounts, OutboxFilter, OutboxId,
    OutboxItem, OutboxState, OutboxStore,
};
pub use record::{
    CachedRecord, PhoneValue, RawFields, Record, RecordCount, RecordKey, RecordStore, StoredBatch,
    StoredPhone, StoredRow,
};
pub use sqlite::{DB_FILE, KEY_FILE, SqliteStore};
pub use sync_state::{ContactLink, SyncStateStore, SyncWatermark};
pub use user::{LinkSource, UserLink, UserLinkSpec, UserLookup, UserSettings, UserStore};

/// Everything the connector stores, in one bound.
pub trait Store:
    InstanceStore
    + UserStore
    + CredentialStore
    + SyncStateStore
    + RecordStore
    + OutboxStore
    + CallJournalStore
    + Send
    + Sync
    + 'static
{
    /// Checks that the store answers (health endpoint, `ctibridge doctor`).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
