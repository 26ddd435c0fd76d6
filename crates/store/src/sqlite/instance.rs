use crate::time::{from_ms, now_ms};
use crate::{Instance, InstanceId, InstanceSpec, InstanceStore, StoreError};

use super::SqliteStore;

const COLUMNS: &str = "id, name, description, settings, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct InstanceRow {
    id: i64,
    name: String,
    description: String,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<InstanceRow> for Instance {
    type Error = StoreError;

    fn try_from(row: InstanceRow) -> Result<Self, StoreError> {
        Ok(Instance {
            id: InstanceId(row.id),
            name: row.name,
            description: row.description,
            settings: serde_json::from_str(&row.settings)
                .map_err(|e| StoreError::corrupt("instance settings", e))?,
            created_at: from_ms(row.created_at)?,
            updated_at: from_ms(row.updated_at)?,
        })
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid {
            what: "instance name",
            problem: "must not be empty".into(),
        });
    }
    Ok(())
}

impl InstanceStore for SqliteStore {
    async fn upsert_instance(&self, spec: &InstanceSpec) -> Result<Instance, StoreError> {
        check_name(&spec.name)?;
        let settings = serde_json::to_string(&spec.settings)
            .map_err(|e| StoreError::corrupt("instance settings", e))?;
        let row: InstanceRow = sqlx::query_as(&format!(
            "INSERT INTO instances (name, description, settings, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
               settings = excluded.settings, updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        ))
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(settings)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::db("saving an instance"))?;
        row.try_into()
    }

    async fn rename_instance(
        &self,
        id: InstanceId,
        new_name: &str,
    ) -> Result<Instance, StoreError> {
        check_name(new_name)?;
        let row: Option<InstanceRow> = sqlx::query_as(&format!(
            "UPDATE instances SET name = ?1, updated_at = ?2 WHERE id = ?3 RETURNING {COLUMNS}"
        ))
        .bind(new_name)
        .bind(now_ms())
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("renaming an instance"))?;
        row.ok_or_else(|| StoreError::NotFound {
            what: format!("instance {id}"),
        })?
        .try_into()
    }

    async fn get_instance(&self, name: &str) -> Result<Option<Instance>, StoreError> {
        let row: Option<InstanceRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM instances WHERE name = ?1"))
                .bind(name)
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::db("reading an instance"))?;
        row.map(Instance::try_from).transpose()
    }

    async fn get_instance_by_id(&self, id: InstanceId) -> Result<Option<Instance>, StoreError> {
        let row: Option<InstanceRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM instances WHERE id = ?1"))
                .bind(id.0)
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::db("reading an instance"))?;
        row.map(Instance::try_from).transpose()
    }

    async fn list_instances(&self) -> Result<Vec<Instance>, StoreError> {
        let rows: Vec<InstanceRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM instances ORDER BY name"))
                .fetch_all(self.pool())
                .await
                .map_err(StoreError::db("listing instances"))?;
        rows.into_iter().map(Instance::try_from).collect()
    }

    async fn delete_instance(&self, name: &str) -> Result<bool, StoreError> {
        const CONTEXT: &str = "deleting an instance";
        let mut tx = self.begin_write(CONTEXT).await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM instances WHERE name = ?1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db(CONTEXT))?;
        let Some(id) = id else {
            return Ok(false);
        };
        // Credentials name their owner without a foreign key (owners of several kinds share
        // the table), so they go by hand; everything else follows ON DELETE CASCADE.
        sqlx::query("DELETE FROM credentials WHERE owner_kind = 'instance' AND owner_id = ?1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db(CONTEXT))?;
        sqlx::query("DELETE FROM instances WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db(CONTEXT))?;
        tx.commit().await.map_err(StoreError::db(CONTEXT))?;
        tracing::info!(instance = name, "deleted instance and its data");
        Ok(true)
    }
}
