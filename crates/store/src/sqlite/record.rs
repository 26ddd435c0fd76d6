use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteStore, non_empty};
use crate::time::{from_ms, now_ms, opt_from_ms, to_ms};
use crate::{
    CachedRecord, InstanceId, Record, RecordCount, RecordKey, RecordStore, StoreError, StoredBatch,
};

const COLUMNS: &str =
    "instance_id, object_type, sf_id, name, fields, phones, system_modstamp, deleted, updated_at";

/// Rows per INSERT statement: one statement per row would cost a round trip to SQLite's
/// worker thread each; 500 rows x 9 parameters stays far below SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 500;
/// Ids per UPDATE ... IN (...) statement.
const IDS_PER_STATEMENT: usize = 900;

#[derive(sqlx::FromRow)]
struct RecordRow {
    instance_id: i64,
    object_type: String,
    sf_id: String,
    name: String,
    fields: String,
    phones: String,
    system_modstamp: Option<i64>,
    deleted: bool,
    updated_at: i64,
}

impl TryFrom<RecordRow> for CachedRecord {
    type Error = StoreError;

    fn try_from(row: RecordRow) -> Result<Self, StoreError> {
        Ok(CachedRecord {
            instance_id: InstanceId(row.instance_id),
            record: Record {
                fields: serde_json::from_str(&row.fields)
                    .map_err(|e| StoreError::corrupt("record fields", e))?,
                phones: serde_json::from_str(&row.phones)
                    .map_err(|e| StoreError::corrupt("record phones", e))?,
                object_type: row.object_type,
                sf_id: row.sf_id,
                name: row.name,
                system_modstamp: opt_from_ms(row.system_modstamp)?,
            },
            deleted: row.deleted,
            updated_at: from_ms(row.updated_at)?,
        })
    }
}

/// A record with its JSON columns serialised, ready to bind.
struct Encoded<'a> {
    record: &'a Record,
    fields: String,
    phones: String,
}

fn encode(record: &Record) -> Result<Encoded<'_>, StoreError> {
    non_empty("record object type", &record.object_type)?;
    non_empty("record id", &record.sf_id)?;
    Ok(Encoded {
        record,
        fields: crate::record::json_text(&record.fields)?,
        phones: crate::record::json_text(&record.phones)?,
    })
}

impl RecordStore for SqliteStore {
    async fn upsert_records(
        &self,
        instance: InstanceId,
        records: &[Record],
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "saving records";
        let encoded = records.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        let now = now_ms();
        let mut tx = self.begin_write(CONTEXT).await?;
        let mut written = 0;
        for chunk in encoded.chunks(ROWS_PER_STATEMENT) {
            let mut query =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO records ({COLUMNS}) "));
            query.push_values(chunk, |mut row, e| {
                row.push_bind(instance.0)
                    .push_bind(e.record.object_type.as_str())
                    .push_bind(e.record.sf_id.as_str())
                    .push_bind(e.record.name.as_str())
                    .push_bind(e.fields.as_str())
                    .push_bind(e.phones.as_str())
                    .push_bind(e.record.system_modstamp.map(to_ms))
                    .push_bind(false)
                    .push_bind(now);
            });
            // A page read before a record was changed (by us, or by a later page) can arrive
            // after the change: it must not put the older version back.
            query.push(
                " ON CONFLICT (instance_id, object_type, sf_id) DO UPDATE SET \
                   name = excluded.name, fields = excluded.fields, phones = excluded.phones, \
                   system_modstamp = excluded.system_modstamp, deleted = 0, \
                   updated_at = excluded.updated_at \
                 WHERE excluded.system_modstamp IS NULL OR records.system_modstamp IS NULL \
                   OR excluded.system_modstamp >= records.system_modstamp",
            );
            written += query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db(CONTEXT))?
                .rows_affected();
        }
        tx.commit().await.map_err(StoreError::db(CONTEXT))?;
        Ok(written)
    }

    async fn mark_records_deleted(
        &self,
        instance: InstanceId,
        object_type: &str,
        sf_ids: &[String],
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "marking records deleted";
        let now = now_ms();
        let mut tx = self.begin_write(CONTEXT).await?;
        let mut marked = 0;
        for chunk in sf_ids.chunks(IDS_PER_STATEMENT) {
            let mut query =
                QueryBuilder::<Sqlite>::new("UPDATE records SET deleted = 1, updated_at = ");
            query
                .push_bind(now)
                .push(" WHERE deleted = 0 AND instance_id = ")
                .push_bind(instance.0)
                .push(" AND object_type = ")
                .push_bind(object_type)
                .push(" AND sf_id IN (");
            let mut ids = query.separated(", ");
            for id in chunk {
                ids.push_bind(id.as_str());
            }
            query.push(")");
            marked += query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db(CONTEXT))?
                .rows_affected();
        }
        tx.commit().await.map_err(StoreError::db(CONTEXT))?;
        Ok(marked)
    }

    async fn get_record(
        &self,
        instance: InstanceId,
        object_type: &str,
        sf_id: &str,
    ) -> Result<Option<CachedRecord>, StoreError> {
        let row: Option<RecordRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM records \
             WHERE instance_id = ?1 AND object_type = ?2 AND sf_id = ?3"
        ))
        .bind(instance.0)
        .bind(object_type)
        .bind(sf_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading a record"))?;
        row.map(CachedRecord::try_from).transpose()
    }

    fn stream_records(
        &self,
        instance: InstanceId,
    ) -> impl Stream<Item = Result<CachedRecord, StoreError>> + Send + '_ {
        // Rows are read by SQLite's worker thread a small buffer ahead of the consumer, so a
        // million records stream through without being held at once.
        const SQL: &str = "SELECT instance_id, object_type, sf_id, name, fields, phones, \
                           system_modstamp, deleted, updated_at \
                           FROM records WHERE instance_id = ?1 AND deleted = 0";
        sqlx::query_as::<_, RecordRow>(SQL)
            .bind(instance.0)
            .fetch(self.pool())
            .map(|row| {
                row.map_err(StoreError::db("reading records"))
                    .and_then(CachedRecord::try_from)
            })
    }

    fn stream_stored(
        &self,
        instance: InstanceId,
        batch: usize,
    ) -> impl Stream<Item = Result<StoredBatch, StoreError>> + Send + '_ {
        let path = self.data_dir.join(super::DB_FILE);
        super::walk::batches(path, instance, super::walk::Rows::Stored, batch)
    }

    async fn deleted_record_keys(
        &self,
        instance: InstanceId,
    ) -> Result<Vec<RecordKey>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT object_type, sf_id FROM records WHERE instance_id = ?1 AND deleted = 1 \
             ORDER BY object_type, sf_id",
        )
        .bind(instance.0)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("listing deleted records"))?;
        Ok(rows
            .into_iter()
            .map(|(object_type, sf_id)| RecordKey { object_type, sf_id })
            .collect())
    }

    async fn records_generation(&self, instance: InstanceId) -> Result<u64, StoreError> {
        let generation: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM records_generation WHERE instance_id = ?1")
                .bind(instance.0)
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::db("reading the records generation"))?;
        Ok(generation.map_or(0, |g| u64::try_from(g).unwrap_or(0)))
    }

    fn stream_changed_since(
        &self,
        instance: InstanceId,
        after: u64,
        batch: usize,
    ) -> impl Stream<Item = Result<StoredBatch, StoreError>> + Send + '_ {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let path = self.data_dir.join(super::DB_FILE);
        super::walk::batches(
            path,
            instance,
            super::walk::Rows::ChangedSince(after),
            batch,
        )
    }

    async fn count_changed_since(
        &self,
        instance: InstanceId,
        after: u64,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM records WHERE instance_id = ?1 AND changed_generation > ?2",
        )
        .bind(instance.0)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::db("counting changed records"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn last_hard_delete_generation(&self, instance: InstanceId) -> Result<u64, StoreError> {
        let generation: Option<i64> = sqlx::query_scalar(
            "SELECT hard_deleted FROM records_generation WHERE instance_id = ?1",
        )
        .bind(instance.0)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading the records generation"))?;
        Ok(generation.map_or(0, |g| u64::try_from(g).unwrap_or(0)))
    }

    async fn purge_deleted_records(
        &self,
        instance: InstanceId,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM records WHERE instance_id = ?1 AND deleted = 1 AND updated_at < ?2",
        )
        .bind(instance.0)
        .bind(to_ms(before))
        .execute(self.pool())
        .await
        .map_err(StoreError::db("purging deleted records"))?;
        Ok(done.rows_affected())
    }

    async fn count_records(&self, instance: InstanceId) -> Result<Vec<RecordCount>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT object_type, SUM(deleted = 0), SUM(deleted = 1) FROM records \
             WHERE instance_id = ?1 GROUP BY object_type ORDER BY object_type",
        )
        .bind(instance.0)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("counting records"))?;
        Ok(rows
            .into_iter()
            .map(|(object_type, live, deleted)| RecordCount {
                object_type,
                live: u64::try_from(live).unwrap_or(0),
                deleted: u64::try_from(deleted).unwrap_or(0),
            })
            .collect())
    }
}
