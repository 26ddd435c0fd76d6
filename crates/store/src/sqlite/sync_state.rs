use super::{SqliteStore, non_empty};
use crate::time::{from_ms, now_ms, opt_from_ms, to_ms};
use crate::{ContactLink, InstanceId, StoreError, SyncStateStore, SyncWatermark};

const WATERMARK_COLUMNS: &str = "object_type, last_full_at, last_incremental_at, watermark, state";
const LINK_COLUMNS: &str = "sf_id, starface_contact_id, exported_hash, exported_at";

/// The statement that creates or replaces one contact link.
fn link_upsert(
    instance: InstanceId,
    link: &ContactLink,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
    sqlx::query(
        "INSERT INTO contact_links \
           (instance_id, sf_id, starface_contact_id, exported_hash, exported_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (instance_id, sf_id) DO UPDATE SET \
           starface_contact_id = excluded.starface_contact_id, \
           exported_hash = excluded.exported_hash, exported_at = excluded.exported_at",
    )
    .bind(instance.0)
    .bind(&link.sf_id)
    .bind(&link.starface_contact_id)
    .bind(&link.exported_hash)
    .bind(to_ms(link.exported_at))
}

#[derive(sqlx::FromRow)]
struct WatermarkRow {
    object_type: String,
    last_full_at: Option<i64>,
    last_incremental_at: Option<i64>,
    watermark: Option<i64>,
    state: String,
}

impl TryFrom<WatermarkRow> for SyncWatermark {
    type Error = StoreError;

    fn try_from(row: WatermarkRow) -> Result<Self, StoreError> {
        Ok(SyncWatermark {
            object_type: row.object_type,
            last_full_at: opt_from_ms(row.last_full_at)?,
            last_incremental_at: opt_from_ms(row.last_incremental_at)?,
            watermark: opt_from_ms(row.watermark)?,
            state: serde_json::from_str(&row.state)
                .map_err(|e| StoreError::corrupt("sync state", e))?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    sf_id: String,
    starface_contact_id: String,
    exported_hash: String,
    exported_at: i64,
}

impl TryFrom<LinkRow> for ContactLink {
    type Error = StoreError;

    fn try_from(row: LinkRow) -> Result<Self, StoreError> {
        Ok(ContactLink {
            sf_id: row.sf_id,
            starface_contact_id: row.starface_contact_id,
            exported_hash: row.exported_hash,
            exported_at: from_ms(row.exported_at)?,
        })
    }
}

impl SyncStateStore for SqliteStore {
    async fn get_watermark(
        &self,
        instance: InstanceId,
        object_type: &str,
    ) -> Result<Option<SyncWatermark>, StoreError> {
        let row: Option<WatermarkRow> = sqlx::query_as(&format!(
            "SELECT {WATERMARK_COLUMNS} FROM sync_watermarks \
             WHERE instance_id = ?1 AND object_type = ?2"
        ))
        .bind(instance.0)
        .bind(object_type)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading a sync watermark"))?;
        row.map(SyncWatermark::try_from).transpose()
    }

    async fn put_watermark(
        &self,
        instance: InstanceId,
        watermark: &SyncWatermark,
    ) -> Result<(), StoreError> {
        non_empty("object type", &watermark.object_type)?;
        let state = serde_json::to_string(&watermark.state)
            .map_err(|e| StoreError::corrupt("sync state", e))?;
        sqlx::query(
            "INSERT INTO sync_watermarks (instance_id, object_type, last_full_at, \
               last_incremental_at, watermark, state, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (instance_id, object_type) DO UPDATE SET \
               last_full_at = excluded.last_full_at, \
               last_incremental_at = excluded.last_incremental_at, \
               watermark = excluded.watermark, state = excluded.state, \
               updated_at = excluded.updated_at",
        )
        .bind(instance.0)
        .bind(&watermark.object_type)
        .bind(watermark.last_full_at.map(to_ms))
        .bind(watermark.last_incremental_at.map(to_ms))
        .bind(watermark.watermark.map(to_ms))
        .bind(state)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::db("saving a sync watermark"))?;
        Ok(())
    }

    async fn list_watermarks(
        &self,
        instance: InstanceId,
    ) -> Result<Vec<SyncWatermark>, StoreError> {
        let rows: Vec<WatermarkRow> = sqlx::query_as(&format!(
            "SELECT {WATERMARK_COLUMNS} FROM sync_watermarks WHERE instance_id = ?1 \
             ORDER BY object_type"
        ))
        .bind(instance.0)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("listing sync watermarks"))?;
        rows.into_iter().map(SyncWatermark::try_from).collect()
    }

    async fn delete_watermark(
        &self,
        instance: InstanceId,
        object_type: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM sync_watermarks WHERE instance_id = ?1 AND object_type = ?2")
                .bind(instance.0)
                .bind(object_type)
                .execute(self.pool())
                .await
                .map_err(StoreError::db("deleting a sync watermark"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_contact_link(
        &self,
        instance: InstanceId,
        link: &ContactLink,
    ) -> Result<(), StoreError> {
        non_empty("Salesforce id", &link.sf_id)?;
        non_empty("STARFACE contact id", &link.starface_contact_id)?;
        link_upsert(instance, link)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("saving a contact link"))?;
        Ok(())
    }

    async fn save_contact_links(
        &self,
        instance: InstanceId,
        upserts: &[ContactLink],
        deleted: &[String],
    ) -> Result<(), StoreError> {
        const CONTEXT: &str = "saving contact links";
        if upserts.is_empty() && deleted.is_empty() {
            return Ok(());
        }
        for link in upserts {
            non_empty("Salesforce id", &link.sf_id)?;
            non_empty("STARFACE contact id", &link.starface_contact_id)?;
        }
        let mut tx = self.begin_write(CONTEXT).await?;
        for link in upserts {
            link_upsert(instance, link)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db(CONTEXT))?;
        }
        for sf_id in deleted {
            sqlx::query("DELETE FROM contact_links WHERE instance_id = ?1 AND sf_id = ?2")
                .bind(instance.0)
                .bind(sf_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db(CONTEXT))?;
        }
        tx.commit().await.map_err(StoreError::db(CONTEXT))?;
        Ok(())
    }

    async fn get_contact_link(
        &self,
        instance: InstanceId,
        sf_id: &str,
    ) -> Result<Option<ContactLink>, StoreError> {
        let row: Option<LinkRow> = sqlx::query_as(&format!(
            "SELECT {LINK_COLUMNS} FROM contact_links WHERE instance_id = ?1 AND sf_id = ?2"
        ))
        .bind(instance.0)
        .bind(sf_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading a contact link"))?;
        row.map(ContactLink::try_from).transpose()
    }

    async fn list_contact_links(
        &self,
        instance: InstanceId,
    ) -> Result<Vec<ContactLink>, StoreError> {
        let rows: Vec<LinkRow> = sqlx::query_as(&format!(
            "SELECT {LINK_COLUMNS} FROM contact_links WHERE instance_id = ?1 ORDER BY sf_id"
        ))
        .bind(instance.0)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("listing contact links"))?;
        rows.into_iter().map(ContactLink::try_from).collect()
    }

    async fn delete_contact_link(
        &self,
        instance: InstanceId,
        sf_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM contact_links WHERE instance_id = ?1 AND sf_id = ?2")
            .bind(instance.0)
            .bind(sf_id)
            .execute(self.pool())
            .await
            .map_err(StoreError::db("deleting a contact link"))?;
        Ok(done.rows_affected() > 0)
    }
}
