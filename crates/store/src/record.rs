//! The record cache: the Contacts, Leads and Accounts in scope, from which the phone index
//! loads at start without asking Salesforce.

use std::borrow::Cow;
use std::future::Future;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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

/// Cached records as a start reads them: a batch of rows whose text columns (`object_type`,
/// `sf_id`, `name`, and `fields` and `phones` as the JSON text they are stored as) lie one
/// after another in one string, so that a million records cross to the build threads in a few
/// hundred values instead of a million rows, and are decoded beside the read
/// ([`StoredBatch::rows`]) instead of in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredBatch {
    text: String,
    rows: Vec<RowSpan>,
}

/// Where a row's columns end in [`StoredBatch::text`] (each starts where the one before ends,
/// the first where the row before ends), and its other columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowSpan {
    ends: [usize; 5],
    system_modstamp: Option<i64>,
    deleted: bool,
}

impl StoredBatch {
    /// An empty batch with room for `rows` rows of `text` bytes in all.
    pub fn with_capacity(text: usize, rows: usize) -> Self {
        Self {
            text: String::with_capacity(text),
            rows: Vec::with_capacity(rows),
        }
    }

    /// Appends a row: `object_type`, `sf_id`, `name`, `fields` (a JSON object) and `phones`
    /// (a JSON array of [`StoredPhone`]) as stored, then `system_modstamp` in epoch
    /// milliseconds and whether the row is marked deleted.
    pub fn push(&mut self, columns: [&str; 5], system_modstamp: Option<i64>, deleted: bool) {
        let mut ends = [0; 5];
        for (end, column) in ends.iter_mut().zip(columns) {
            self.text.push_str(column);
            *end = self.text.len();
        }
        self.rows.push(RowSpan {
            ends,
            system_modstamp,
            deleted,
        });
    }

    /// A batch of `records` as the store hands them over (for tests and benchmarks).
    pub fn from_records(records: &[Record]) -> Result<Self, StoreError> {
        let mut batch = Self::default();
        for r in records {
            let (fields, phones) = (json_text(&r.fields)?, json_text(&r.phones)?);
            batch.push(
                [&r.object_type, &r.sf_id, &r.name, &fields, &phones],
                r.system_modstamp.map(|t| t.timestamp_millis()),
                false,
            );
        }
        Ok(batch)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes of text the batch holds.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The records of the batch.
    pub fn decode(&self) -> Result<Vec<Record>, StoreError> {
        self.rows()?.iter().map(StoredRow::to_record).collect()
    }

    /// The rows of the batch, borrowed from its text: what a start reads, without allocating
    /// the fields it does not look at (most of what decoding a million records costs). The
    /// phones are decoded here; the fields when asked for ([`StoredRow::fields`]).
    pub fn rows(&self) -> Result<Vec<StoredRow<'_>>, StoreError> {
        let mut start = 0;
        self.rows
            .iter()
            .map(|span| {
                let mut columns = [""; 5];
                for (column, &end) in columns.iter_mut().zip(&span.ends) {
                    *column = self.text.get(start..end).ok_or_else(|| {
                        StoreError::corrupt("cached records", "a column outside its batch")
                    })?;
                    start = end;
                }
                let [object_type, sf_id, name, fields, phones] = columns;
                Ok(StoredRow {
                    object_type,
                    sf_id,
                    name,
                    fields,
                    phones: serde_json::from_str(phones)
                        .map_err(|e| StoreError::corrupt("cached record phones", e))?,
                    system_modstamp: span.system_modstamp,
                    deleted: span.deleted,
                })
            })
            .collect()
    }
}

/// A JSON column's text as the store writes it (a record's `fields` and `phones`).
pub(crate) fn json_text<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid {
        what: "record",
        problem: e.to_string(),
    })
}

/// One row of a [`StoredBatch`], borrowed from its text.
#[derive(Debug)]
pub struct StoredRow<'a> {
    object_type: &'a str,
    sf_id: &'a str,
    name: &'a str,
    fields: &'a str,
    phones: Vec<StoredPhone<'a>>,
    system_modstamp: Option<i64>,
    deleted: bool,
}

impl<'a> StoredRow<'a> {
    /// The Salesforce object type.
    pub fn object_type(&self) -> &'a str {
        self.object_type
    }

    /// The Salesforce id.
    pub fn sf_id(&self) -> &'a str {
        self.sf_id
    }

    /// The display name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The fields, split at the top level (see [`RawFields`]).
    pub fn fields(&self) -> Result<RawFields<'a>, StoreError> {
        serde_json::from_str(self.fields)
            .map_err(|e| StoreError::corrupt("cached record fields", e))
    }

    /// The phone fields.
    pub fn phones(&self) -> &[StoredPhone<'a>] {
        &self.phones
    }

    /// Whether the record is marked deleted (only rows of
    /// [`RecordStore::stream_changed_since`] can be).
    pub fn deleted(&self) -> bool {
        self.deleted
    }

    /// The row as an owned [`Record`].
    pub fn to_record(&self) -> Result<Record, StoreError> {
        Ok(Record {
            object_type: self.object_type.to_owned(),
            sf_id: self.sf_id.to_owned(),
            name: self.name.to_owned(),
            fields: serde_json::from_str(self.fields)
                .map_err(|e| StoreError::corrupt("cached record fields", e))?,
            phones: self.phones.iter().map(StoredPhone::to_value).collect(),
            system_modstamp: crate::time::opt_from_ms(self.system_modstamp)?,
        })
    }
}

/// A [`PhoneValue`] borrowed from a [`StoredBatch`].
#[derive(Debug, Deserialize)]
pub struct StoredPhone<'a> {
    /// The field's API name.
    #[serde(borrow)]
    pub field: Cow<'a, str>,
    /// The value as Salesforce holds it.
    #[serde(borrow)]
    pub raw: Cow<'a, str>,
    /// Its E.164 form when it was stored.
    #[serde(borrow, default)]
    pub e164: Option<Cow<'a, str>>,
}

impl StoredPhone<'_> {
    fn to_value(&self) -> PhoneValue {
        PhoneValue {
            field: self.field.clone().into_owned(),
            raw: self.raw.clone().into_owned(),
            e164: self.e164.clone().map(Cow::into_owned),
        }
    }
}

/// The top level of a JSON object, values left as text: a card looks up a handful of fields
/// of a record without building the others.
#[derive(Debug)]
pub struct RawFields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> RawFields<'a> {
    /// Splits `raw`, which must be a JSON object.
    pub fn parse(raw: &'a RawValue) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<RawFields<'a>>(raw.get())
    }

    /// The value of a field, by exact name.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

impl<'de> Deserialize<'de> for RawFields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RawFields<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of fields")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Key(key)) = map.next_key()? {
                    fields.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawFields(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A field name, borrowed from the text unless it holds an escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
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
    /// up to `batch` records, not decoded yet, in the order they were first stored. One
    /// consistent state of the cache, read ahead of the consumer; dropping the stream stops
    /// the read.
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

    /// A number that moves on with every change of the instance's cached records (kept by
    /// triggers, so no write can miss it); 0 before the first. Index and cards saved at one
    /// generation are the records' while it stays.
    fn records_generation(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The rows changed after generation `after` (see [`RecordStore::records_generation`]),
    /// those marked deleted included ([`StoredRow::deleted`]), in batches of up to `batch`
    /// like [`RecordStore::stream_stored`], in the order they changed: what brings index and
    /// cards saved at `after` up to date, unless a row was removed for good since
    /// ([`RecordStore::last_hard_delete_generation`]).
    fn stream_changed_since(
        &self,
        instance: InstanceId,
        after: u64,
        batch: usize,
    ) -> impl Stream<Item = Result<StoredBatch, StoreError>> + Send + '_;

    /// How many rows [`RecordStore::stream_changed_since`] would give.
    fn count_changed_since(
        &self,
        instance: InstanceId,
        after: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The generation right after rows of the instance were last removed for good (purged,
    /// or moved away); 0 if never, and the generation of the upgrade for caches older than
    /// the per-row generations. State saved at an earlier generation cannot be brought up
    /// to date by [`RecordStore::stream_changed_since`]: the removed rows are not in it.
    fn last_hard_delete_generation(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

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
