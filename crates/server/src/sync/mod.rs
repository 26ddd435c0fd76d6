//! The sync engine: Salesforce Contacts, Leads and Accounts into the record cache, the
//! in-memory phone index the ring path reads, and (with `import_contacts`) the STARFACE
//! address book.
//!
//! Per instance and object: a full read when there is no position yet (or the fields read
//! changed, or deletions are older than Salesforce keeps them), else every
//! `sync_interval_secs` the changes (`SystemModstamp` after the watermark, read a minute
//! early and deduplicated) and the deletions (`deleted/` from the last minute covered). The
//! watermarks live in the store and move only after the data they stand for is stored; a
//! restart loads the index from the store and goes on from them. Errors are reported the way
//! the manual describes them: a field hidden by field-level security names `Object.Field`
//! and the fix and is tried again every cycle; a spent daily API limit pauses the sync until
//! Salesforce's limits show requests again; 5xx and timeouts are retried with backoff.

mod engine;
mod export;
mod fetch;
mod fields;
pub use fields::{field_behind, required_fields, required_fields_for};
mod live;
mod once;
mod snapshot;

use std::time::Duration;

use ctibridge_domain::ObjectType;
use ctibridge_salesforce::{ApiUsage, SalesforceError};
use ctibridge_starface::rest::RestError;
use ctibridge_store::{Record, StoreError};

pub(crate) use engine::{Engine, EngineParts, EngineReport};
pub use engine::{
    ExportSummary, InstanceSummary, ObjectSummary, SyncMode, SyncPhase, SyncProgress,
};
pub use export::{CONTACT_TAG, ExportCounts};
pub use live::{LiveCards, LiveIndex};
pub use once::{SyncSummary, run_sync_once};

use crate::state::AppState;

/// Timings of the sync; [`SyncTuning::for_interval`] derives them from `sync_interval_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTuning {
    /// Time between two cycles.
    pub interval: Duration,
    /// Attempts of one Salesforce call while it fails with 5xx or a timeout.
    pub retry_attempts: u32,
    /// Wait before the first retry; doubles up to `retry_max`.
    pub retry_base: Duration,
    /// Longest wait between two attempts.
    pub retry_max: Duration,
    /// How often Salesforce's limits are asked while the daily limit is spent.
    pub limit_poll: Duration,
    /// How far before the watermark changes are read again (late commits).
    pub change_overlap: Duration,
    /// How far before the last minute covered deletions are read again.
    pub delete_overlap: Duration,
}

impl SyncTuning {
    /// The timings for cycles `interval` apart. The limit is asked every five cycles, at most
    /// every five minutes: a paused org should not spend what it gets back on asking.
    pub fn for_interval(interval: Duration) -> Self {
        Self {
            interval,
            retry_attempts: 6,
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_secs(10),
            limit_poll: (interval * 5).clamp(Duration::from_secs(1), Duration::from_secs(300)),
            change_overlap: Duration::from_secs(60),
            delete_overlap: Duration::from_secs(120),
        }
    }
}

/// Why a sync step failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Field-level security hides a field the sync reads (HTTP 400 `INVALID_FIELD`, or the
    /// field missing from describe); the message names `Object.Field` and the fix.
    #[error("{message}")]
    FieldHidden {
        /// The sObject.
        object: String,
        /// The field the run-as user needs access to.
        field: String,
        /// The whole explanation.
        message: String,
    },
    /// HTTP 403 `REQUEST_LIMIT_EXCEEDED`: the org's daily API requests are spent.
    #[error(
        "the org's daily API request limit is spent{}: {message}",
        .usage.map(|u| format!(" (api-usage {u})")).unwrap_or_default()
    )]
    LimitExceeded {
        /// `Sforce-Limit-Info` of the refusal.
        usage: Option<ApiUsage>,
        /// Salesforce's text.
        message: String,
    },
    /// Any other Salesforce failure, after the retries it deserved.
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    /// The local store failed.
    #[error("local store: {0}")]
    Store(#[from] StoreError),
    /// The PBX's address book refused or failed.
    #[error("STARFACE address book: {0}")]
    Pbx(#[from] RestError),
    /// The configuration does not allow a sync.
    #[error("{0}")]
    Setup(String),
}

impl SyncError {
    /// The error for needed fields that describe does not list.
    fn hidden_by_describe(object: &ObjectType, missing: &[String]) -> Self {
        let field = missing.first().cloned().unwrap_or_default();
        let setup = missing
            .iter()
            .map(|f| {
                format!("Setup > Object Manager > {object} > Fields & Relationships > {f} > Set Field-Level Security")
            })
            .collect::<Vec<_>>()
            .join("; ");
        let fields = missing
            .iter()
            .map(|f| format!("{object}.{f}"))
            .collect::<Vec<_>>()
            .join(", ");
        Self::FieldHidden {
            object: object.as_str().to_owned(),
            field,
            message: format!(
                "Salesforce does not show {fields} to the run-as user (field-level security, or the field is not in this org): give the run-as user's profile or a permission set read access to it ({setup}). The sync of {object} waits for it and tries again every cycle."
            ),
        }
    }

    /// Whether Salesforce could not be reached at all (so other objects would fail alike).
    fn is_unreachable(&self) -> bool {
        match self {
            Self::Salesforce(e) => {
                matches!(
                    e,
                    SalesforceError::Transport(_)
                        | SalesforceError::ServerError { .. }
                        | SalesforceError::Token(_)
                        | SalesforceError::Unauthorized { .. }
                )
            }
            _ => false,
        }
    }
}

/// Why [`learn_record`] could not take a record.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// The instance has no index yet (first sync running); the next sync reads the record.
    #[error(
        "instance {0:?} has no phone index yet; the next sync reads the record from Salesforce"
    )]
    NoIndex(String),
    /// The record's id or type cannot be read.
    #[error("record {0:?} has no valid Salesforce id or object type")]
    Invalid(String),
}

/// Deletes the address-book contacts the export made for `instance` (those that still carry
/// the `Salesforce` tag; contacts someone else made or took over stay) and forgets their
/// links. Call it once `import_contacts` is off for the instance, or the next sync makes
/// them again. Returns how many contacts were deleted.
pub async fn remove_exported_contacts(
    config: &ctibridge_config::Config,
    store: &ctibridge_store::SqliteStore,
    instance: &str,
) -> Result<u64, SyncError> {
    use ctibridge_store::InstanceStore as _;
    let Some(stored) = store.get_instance(instance).await? else {
        return Ok(0);
    };
    let rest = ctibridge_starface::rest::RestClient::new(
        &config.starface.url,
        config.starface.admin_login.to_string(),
        config.starface.admin_password.clone(),
    )?;
    export::remove_exported(&rest, store, stored.id).await
}

/// Puts a record ctibridge has just created in Salesforce into the instance's index and cards
/// at once, so that the next call from its number finds it without waiting for a sync. The
/// next incremental sync reads it from Salesforce (its `SystemModstamp` is after the
/// watermark) and stores it; `record.phones` need only the raw values.
pub fn learn_record(state: &AppState, instance: &str, record: &Record) -> Result<(), LearnError> {
    if ObjectType::parse(&record.object_type).is_err()
        || ctibridge_domain::SalesforceId::parse(&record.sf_id).is_err()
    {
        return Err(LearnError::Invalid(record.sf_id.clone()));
    }
    let lookup = state
        .lookup(instance)
        .ok_or_else(|| LearnError::NoIndex(instance.to_owned()))?;
    live::LiveParts {
        index: lookup.index.clone(),
        cards: lookup.cards.clone(),
    }
    .upsert(std::slice::from_ref(record));
    Ok(())
}
