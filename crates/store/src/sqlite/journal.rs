use chrono::{DateTime, Utc};

use super::outbox::{check_item, insert_item};
use super::{SqliteStore, non_empty};
use crate::time::{from_ms, opt_from_ms, to_ms};
use crate::{
    CallJournalStore, Enqueued, InstanceId, JournalEntry, JournalKey, NewOutboxItem, StoreError,
};

#[derive(sqlx::FromRow)]
struct JournalRow {
    instance_id: i64,
    call_id: String,
    login: String,
    data: String,
    first_seen_at: i64,
    updated_at: i64,
}

impl TryFrom<JournalRow> for JournalEntry {
    type Error = StoreError;

    fn try_from(row: JournalRow) -> Result<Self, StoreError> {
        Ok(JournalEntry {
            key: JournalKey {
                instance_id: InstanceId(row.instance_id),
                call_id: row.call_id,
                login: row.login,
            },
            data: serde_json::from_str(&row.data)
                .map_err(|e| StoreError::corrupt("call journal data", e))?,
            first_seen_at: from_ms(row.first_seen_at)?,
            updated_at: from_ms(row.updated_at)?,
        })
    }
}

const COLUMNS: &str = "instance_id, call_id, login, data, first_seen_at, updated_at";

fn check_key(key: &JournalKey) -> Result<(), StoreError> {
    non_empty("call id", &key.call_id)?;
    non_empty("login id", &key.login)?;
    if key.call_id.len() > 255 || key.login.len() > 255 {
        return Err(StoreError::Invalid {
            what: "call journal key",
            problem: "call id and login id must be at most 255 bytes".into(),
        });
    }
    Ok(())
}

impl CallJournalStore for SqliteStore {
    async fn update_journal<F>(
        &self,
        key: &JournalKey,
        at: DateTime<Utc>,
        update: F,
    ) -> Result<bool, StoreError>
    where
        F: FnOnce(Option<serde_json::Value>) -> Option<serde_json::Value> + Send,
    {
        const CONTEXT: &str = "updating the call journal";
        check_key(key)?;
        let mut tx = self.begin_write(CONTEXT).await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT data FROM call_journal WHERE instance_id = ?1 AND login = ?2 AND call_id = ?3",
        )
        .bind(key.instance_id.0)
        .bind(&key.login)
        .bind(&key.call_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::db(CONTEXT))?;
        let current = current
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| StoreError::corrupt("call journal data", e))?;
        let Some(data) = update(current) else {
            return Ok(false);
        };
        let data = serde_json::to_string(&data).map_err(|e| StoreError::Invalid {
            what: "call journal data",
            problem: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO call_journal (instance_id, call_id, login, data, first_seen_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
             ON CONFLICT (instance_id, login, call_id) \
             DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(key.instance_id.0)
        .bind(&key.call_id)
        .bind(&key.login)
        .bind(data)
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db(CONTEXT))?;
        tx.commit().await.map_err(StoreError::db(CONTEXT))?;
        Ok(true)
    }

    async fn get_journal_entry(
        &self,
        key: &JournalKey,
    ) -> Result<Option<JournalEntry>, StoreError> {
        let row: Option<JournalRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM call_journal \
             WHERE instance_id = ?1 AND login = ?2 AND call_id = ?3"
        ))
        .bind(key.instance_id.0)
        .bind(&key.login)
        .bind(&key.call_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading the call journal"))?;
        row.map(JournalEntry::try_from).transpose()
    }

    async fn journal_of_user(&self, login: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let rows: Vec<JournalRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM call_journal WHERE login = ?1 ORDER BY first_seen_at, call_id"
        ))
        .bind(login)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("reading the call journal"))?;
        rows.into_iter().map(JournalEntry::try_from).collect()
    }

    async fn finish_call(
        &self,
        key: &JournalKey,
        item: Option<&NewOutboxItem>,
        only_if_journaled: bool,
    ) -> Result<Option<Enqueued>, StoreError> {
        const CONTEXT: &str = "ending a call in the journal";
        let payload = item.map(check_item).transpose()?;
        let mut tx = self.begin_write(CONTEXT).await?;
        let deleted = sqlx::query(
            "DELETE FROM call_journal WHERE instance_id = ?1 AND login = ?2 AND call_id = ?3",
        )
        .bind(key.instance_id.0)
        .bind(&key.login)
        .bind(&key.call_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db(CONTEXT))?
        .rows_affected();
        let (Some(item), Some(payload)) = (item, payload) else {
            tx.commit().await.map_err(StoreError::db(CONTEXT))?;
            return Ok(None);
        };
        if only_if_journaled && deleted == 0 {
            tx.commit().await.map_err(StoreError::db(CONTEXT))?;
            return Ok(None);
        }
        let enqueued = insert_item(&mut tx, item, payload, CONTEXT).await?;
        tx.commit().await.map_err(StoreError::db(CONTEXT))?;
        Ok(Some(enqueued))
    }

    async fn set_alive(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO liveness (id, alive_at) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET alive_at = excluded.alive_at",
        )
        .bind(to_ms(at))
        .execute(self.pool())
        .await
        .map_err(StoreError::db("recording liveness"))?;
        Ok(())
    }

    async fn last_alive(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar("SELECT alive_at FROM liveness WHERE id = 1")
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::db("reading liveness"))?;
        opt_from_ms(at)
    }
}
