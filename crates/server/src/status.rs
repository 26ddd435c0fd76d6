//! The live state of the connector as the status page and `/api/status` show it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Everything an admin (or the demo) wants to see at a glance.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemStatus {
    pub version: &'static str,
    pub started_at: Option<DateTime<Utc>>,
    pub starface: StarfaceStatus,
    pub instances: Vec<InstanceStatus>,
}

/// The PBX link.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StarfaceStatus {
    pub url: String,
    pub admin_login: String,
    pub state: LinkState,
    pub users: usize,
    pub groups: usize,
    pub checked_at: Option<DateTime<Utc>>,
}

/// Whether a link to an external system works.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum LinkState {
    #[default]
    Connecting,
    Ok,
    Failed(String),
}

/// One `[[instance]]`: its org, its users, its records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstanceStatus {
    pub name: String,
    pub description: String,
    pub login_url: String,
    pub salesforce: LinkState,
    pub api_usage: Option<ApiUsageStatus>,
    pub users: Vec<UserStatus>,
    /// Records read per object type.
    pub records: BTreeMap<String, usize>,
    /// Distinct phone numbers in the in-memory index.
    pub numbers_indexed: usize,
    /// Phone values that could not be read as a number (`n/a`, junk).
    pub numbers_unreadable: usize,
    pub last_full_read: Option<DateTime<Utc>>,
    pub api_calls_used: u64,
    /// The sync engine: each object's position and errors, the address-book export, pauses.
    pub sync: SyncStatus,
}

/// Where the sync of an instance stands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStatus {
    /// Seconds between two reads of the org's changes (`sync_interval_secs`).
    pub interval_secs: u64,
    /// When the last sync cycle ended.
    pub last_cycle_at: Option<DateTime<Utc>>,
    /// Set while the org's daily API requests are spent: the sync waits for them.
    pub paused: Option<SyncPause>,
    /// Per object type (`Contact`, `Lead`, `Account`).
    pub objects: BTreeMap<String, ObjectSyncStatus>,
    /// The address-book export, when `import_contacts` is on.
    pub export: Option<ExportStatus>,
    /// `Sforce-Limit-Info` as last seen, e.g. `api-usage=18/15000`.
    pub limit_info: Option<String>,
    /// Where this start took index and cards from, before the first sync cycle.
    pub index_loaded: Option<IndexLoad>,
}

/// How a start filled the index (see [`SyncStatus::index_loaded`]).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IndexLoad {
    /// `snapshot` (the index snapshot of the data directory, taken of unchanged records),
    /// `snapshot + N changed records` (the snapshot brought up to date with the cached rows
    /// changed after it was taken, e.g. after a crash) or `record cache` (every cached row
    /// read).
    pub from: String,
    /// Records indexed.
    pub records: usize,
    /// Time it took.
    pub millis: u64,
}

/// Why and since when the sync waits.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncPause {
    pub since: DateTime<Utc>,
    /// What Salesforce said and what happens next.
    pub reason: String,
}

/// The sync of one object type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ObjectSyncStatus {
    pub last_full_sync: Option<DateTime<Utc>>,
    pub last_incremental_sync: Option<DateTime<Utc>>,
    /// Records in the local cache (not deleted).
    pub records: u64,
    /// The `SystemModstamp` up to which changes are known.
    pub changes_until: Option<DateTime<Utc>>,
    /// Up to when deletions are known.
    pub deletions_until: Option<DateTime<Utc>>,
    /// Records read and deleted by the last sync of this object.
    pub last_read: u64,
    pub last_deleted: u64,
    /// API calls this object's syncs used since start.
    pub api_calls: u64,
    /// What stops this object's sync, and how to fix it; cleared when a sync succeeds.
    pub error: Option<String>,
    /// A running full sync: records read so far and the total Salesforce announced.
    pub progress: Option<SyncProgressStatus>,
}

/// How far a running sync is.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SyncProgressStatus {
    pub done: u64,
    pub total: Option<u64>,
}

/// The address-book export of an instance.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportStatus {
    /// The tag our contacts carry.
    pub tag: String,
    /// Salesforce contacts that have a contact on the PBX, once known.
    pub contacts_exported: Option<u64>,
    pub last_export_at: Option<DateTime<Utc>>,
    /// Contacts created, changed and deleted on the PBX since start.
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Why the last export failed; it is tried again next cycle.
    pub error: Option<String>,
}

/// `Sforce-Limit-Info` as last seen.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct ApiUsageStatus {
    pub used: u64,
    pub limit: u64,
}

/// A STARFACE user in an instance's scope and the Salesforce user that matches by e-mail.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserStatus {
    pub starface_login: String,
    pub name: String,
    pub email: String,
    pub salesforce_user_id: Option<String>,
    pub salesforce_user_name: Option<String>,
    /// What is wrong with this user's link and how to fix it.
    pub problem: Option<String>,
}
