//! Where each sync stands (watermarks) and what the address-book export made (contact links).

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::{InstanceId, StoreError};

/// The sync position of one object type (`Contact`, `Lead`, `Account`) of an instance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncWatermark {
    /// The Salesforce object type.
    pub object_type: String,
    /// When the last full sync finished.
    pub last_full_at: Option<DateTime<Utc>>,
    /// When the last incremental sync finished.
    pub last_incremental_at: Option<DateTime<Utc>>,
    /// The `SystemModstamp` (or `latestDateCovered`) up to which changes are known.
    pub watermark: Option<DateTime<Utc>>,
    /// Whatever else the sync engine keeps (errors, counts, limit info), a JSON object.
    pub state: serde_json::Map<String, serde_json::Value>,
}

/// A Salesforce record exported as a STARFACE address-book contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLink {
    /// The Salesforce record id.
    pub sf_id: String,
    /// The STARFACE contact id.
    pub starface_contact_id: String,
    /// A hash of what was exported, so that unchanged records are not sent again.
    pub exported_hash: String,
    /// When it was last exported.
    pub exported_at: DateTime<Utc>,
}

/// Storage of sync positions and contact links.
pub trait SyncStateStore: Send + Sync {
    /// The sync position of one object type.
    fn get_watermark(
        &self,
        instance: InstanceId,
        object_type: &str,
    ) -> impl Future<Output = Result<Option<SyncWatermark>, StoreError>> + Send;

    /// Stores the sync position of `watermark.object_type`, replacing the earlier one.
    fn put_watermark(
        &self,
        instance: InstanceId,
        watermark: &SyncWatermark,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The sync positions of all object types of an instance, ordered by object type.
    fn list_watermarks(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<Vec<SyncWatermark>, StoreError>> + Send;

    /// Forgets the sync position of one object type, so that the next sync is a full one.
    fn delete_watermark(
        &self,
        instance: InstanceId,
        object_type: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Creates or replaces the link of `link.sf_id`.
    fn upsert_contact_link(
        &self,
        instance: InstanceId,
        link: &ContactLink,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates or replaces the links in `upserts` and deletes those of the Salesforce ids in
    /// `deleted`, all in one transaction: one write to disk for a batch of exported contacts,
    /// not one per contact.
    fn save_contact_links(
        &self,
        instance: InstanceId,
        upserts: &[ContactLink],
        deleted: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The link of a Salesforce record.
    fn get_contact_link(
        &self,
        instance: InstanceId,
        sf_id: &str,
    ) -> impl Future<Output = Result<Option<ContactLink>, StoreError>> + Send;

    /// All links of an instance, ordered by Salesforce id.
    fn list_contact_links(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<Vec<ContactLink>, StoreError>> + Send;

    /// Deletes the link of a Salesforce record; `false` when there was none.
    fn delete_contact_link(
        &self,
        instance: InstanceId,
        sf_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
