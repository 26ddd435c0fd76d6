//! The record cache: the Contacts, Leads and Accounts in scope, from which the phone index
//! loads at start without asking Salesforce.

use std::future::Future;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::{InstanceId, StoreError};

/// One phone field of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneValue {
    /// The field's API name (`Phone`, `MobilePhone`, `Custom__c`).
    pub field: String,
    /// The value as Salesforce holds it.
    pub raw: String,
    /// Its E.164 form under the dialing rules in force when it was stored, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e164: Option<String>,
}

/// A record as the sync hands it to the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The Salesforce object type (`Contact`, `Lead`, `Account`).
    pub object_type: String,
    /// The 18-character Salesforce id.
    pub sf_id: String,
    /// The display name.
    pub name: String,
    /// The fields the caller card shows, by API name.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The record's phone fields.
    pub phones: Vec<PhoneValue>,
    /// Salesforce's `SystemModstamp`; an upsert never replaces a newer row with an older one.
    pub system_modstamp: Option<DateTime<Utc>>,
}

/// A record as the cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedRecord {
    /// The instance it belongs to.
    pub instance_id: InstanceId,
    /// The record.
    pub record: Record,
    /// Deleted in Salesforce (kept until purged so the export can remove its contact).
    pub deleted: bool,
    /// When the cache row last changed.
    pub updated_at: DateTime<Utc>,
}

/// Cached records as a start reads them: a batch of rows that SQLite put into one JSON array
/// (`[[object_type, sf_id, name, fields, phones, system_modstamp], ...]`), so that a million
/// records cross from SQLite in a few hundred values instead of a million rows, and are
/// decoded beside the read ([`StoredBatch::decode`]) instead of in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// The JSON array.
    pub json: String,
}

/// One row of a [`StoredBatch`].
type StoredRow = (
    String,
    String,
    String,
    serde_json::Map<String, serde_json::Value>,
    Vec<PhoneValue>,
    Option<i64>,
);

impl StoredBatch {
    /// The records of the batch.
    pub fn decode(&self) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<StoredRow> = serde_json::from_str(&self.json)
            .map_err(|e| StoreError::corrupt("cached records", e))?;
        rows.into_iter()
            .map(|(object_type, sf_id, name, fields, phones, stamp)| {
                Ok(Record {
                    object_type,
                    sf_id,
                    name,
                    fields,
                    phones,
                    system_modstamp: crate::time::opt_from_ms(stamp)?,
                })
            })
            .collect()
    }
}

/// Number of cached records of one object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCount {
    /// The Salesforce object type.
    pub object_type: String,
    /// Records not deleted.
    pub live: u64,
    /// Records marked deleted.
    pub deleted: u64,
}

/// The address of a cached record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// The Salesforce object type.
    pub object_type: String,
    /// The Salesforce id.
    pub sf_id: String,
}

/// Storage of the record cache.
pub trait RecordStore: Send + Sync {
    /// Inserts or updates records in one transaction (pass a few thousand at a time). A row
    /// whose stored `system_modstamp` is newer than the incoming one is left alone; an upsert
    /// of a deleted row revives it. Returns the number of rows written.
    fn upsert_records(
        &self,
        instance: InstanceId,
        records: &[Record],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Marks records deleted; ids not in the cache are ignored. Returns the number marked.
    fn mark_records_deleted(
        &self,
        instance: InstanceId,
        object_type: &str,
        sf_ids: &[String],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// One record, deleted or not.
    fn get_record(
        &self,
        instance: InstanceId,
        object_type: &str,
        sf_id: &str,
    ) -> impl Future<Output = Result<Option<CachedRecord>, StoreError>> + Send;

    /// Every record of an instance that is not deleted, as a stream in no particular order,
    /// so that a million rows load without being held in memory at once.
    fn stream_records(
        &self,
        instance: InstanceId,
    ) -> impl Stream<Item = Result<CachedRecord, StoreError>> + Send + '_;

    /// [`RecordStore::stream_records`] for a start: the records not deleted, in batches of
    /// up to `batch` records, not decoded yet.
    fn stream_stored(
        &self,
        instance: InstanceId,
        batch: usize,
    ) -> impl Stream<Item = Result<StoredBatch, StoreError>> + Send + '_;

    /// The keys of the records marked deleted.
    fn deleted_record_keys(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<Vec<RecordKey>, StoreError>> + Send;

    /// Removes records that were marked deleted before `before`. Returns how many.
    fn purge_deleted_records(
        &self,
        instance: InstanceId,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Counts per object type, ordered by object type.
    fn count_records(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<Vec<RecordCount>, StoreError>> + Send;
}
