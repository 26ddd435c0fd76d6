use crate::time::{from_ms, now_ms};
use crate::{
    InstanceId, LinkSource, StoreError, UserLink, UserLinkSpec, UserLookup, UserSettings, UserStore,
};

use super::{SqliteStore, non_empty};

const COLUMNS: &str = "instance_id, starface_user_id, starface_login_id, email, \
                       salesforce_user_id, source, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct LinkRow {
    instance_id: i64,
    starface_user_id: String,
    starface_login_id: String,
    email: Option<String>,
    salesforce_user_id: Option<String>,
    source: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<LinkRow> for UserLink {
    type Error = StoreError;

    fn try_from(row: LinkRow) -> Result<Self, StoreError> {
        Ok(UserLink {
            instance_id: InstanceId(row.instance_id),
            starface_user_id: row.starface_user_id,
            starface_login_id: row.starface_login_id,
            email: row.email,
            salesforce_user_id: row.salesforce_user_id,
            source: LinkSource::parse(&row.source)?,
            created_at: from_ms(row.created_at)?,
            updated_at: from_ms(row.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    auto_open_record: bool,
    create_unknown_inbound: bool,
    create_unknown_outbound: bool,
    phone_id: Option<String>,
    language: Option<String>,
}

/// Empty strings mean "not set"; the schema refuses them so that there is one way to say it.
fn none_if_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl UserStore for SqliteStore {
    async fn upsert_user_link(
        &self,
        instance: InstanceId,
        spec: &UserLinkSpec,
    ) -> Result<UserLink, StoreError> {
        non_empty("STARFACE user id", &spec.starface_user_id)?;
        non_empty("STARFACE login id", &spec.starface_login_id)?;
        // An automatic match refreshes what STARFACE says about the user but never replaces
        // the Salesforce user an admin chose.
        let row: LinkRow = sqlx::query_as(&format!(
            "INSERT INTO user_links (instance_id, starface_user_id, starface_login_id, email, \
               salesforce_user_id, source, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
             ON CONFLICT (instance_id, starface_user_id) DO UPDATE SET \
               starface_login_id = excluded.starface_login_id, \
               email = excluded.email, \
               salesforce_user_id = CASE \
                 WHEN user_links.source = 'manual' AND excluded.source = 'auto' \
                 THEN user_links.salesforce_user_id ELSE excluded.salesforce_user_id END, \
               source = CASE \
                 WHEN user_links.source = 'manual' AND excluded.source = 'auto' \
                 THEN 'manual' ELSE excluded.source END, \
               updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        ))
        .bind(instance.0)
        .bind(&spec.starface_user_id)
        .bind(&spec.starface_login_id)
        .bind(none_if_empty(&spec.email))
        .bind(none_if_empty(&spec.salesforce_user_id))
        .bind(spec.source.as_str())
        .bind(now_ms())
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::db("saving a user link"))?;
        row.try_into()
    }

    async fn list_user_links(&self, instance: InstanceId) -> Result<Vec<UserLink>, StoreError> {
        let rows: Vec<LinkRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM user_links WHERE instance_id = ?1 ORDER BY starface_login_id"
        ))
        .bind(instance.0)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("listing user links"))?;
        rows.into_iter().map(UserLink::try_from).collect()
    }

    async fn find_user_link(
        &self,
        instance: InstanceId,
        lookup: UserLookup<'_>,
    ) -> Result<Option<UserLink>, StoreError> {
        let (column, value) = match lookup {
            UserLookup::StarfaceUser(v) => ("starface_user_id", v),
            UserLookup::StarfaceLogin(v) => ("starface_login_id", v),
            UserLookup::SalesforceUser(v) => ("salesforce_user_id", v),
            // The column is COLLATE NOCASE, so `=` compares e-mails case-insensitively.
            UserLookup::Email(v) => ("email", v),
        };
        let mut rows: Vec<LinkRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM user_links WHERE instance_id = ?1 AND {column} = ?2 \
             ORDER BY starface_login_id LIMIT 2"
        ))
        .bind(instance.0)
        .bind(value)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("finding a user link"))?;
        if rows.len() > 1 {
            // Only e-mails can repeat; guessing would show one user another's calls.
            return Err(StoreError::Ambiguous {
                what: "user e-mail",
                problem: format!(
                    "{value:?} belongs to STARFACE users {} and {}; give each user its own \
                     e-mail or link them by hand",
                    rows[0].starface_login_id, rows[1].starface_login_id
                ),
            });
        }
        rows.pop().map(UserLink::try_from).transpose()
    }

    async fn delete_user_link(
        &self,
        instance: InstanceId,
        starface_user_id: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM user_links WHERE instance_id = ?1 AND starface_user_id = ?2")
                .bind(instance.0)
                .bind(starface_user_id)
                .execute(self.pool())
                .await
                .map_err(StoreError::db("deleting a user link"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_user_settings(&self, starface_user_id: &str) -> Result<UserSettings, StoreError> {
        let row: Option<SettingsRow> = sqlx::query_as(
            "SELECT auto_open_record, create_unknown_inbound, create_unknown_outbound, \
               phone_id, language \
             FROM user_settings WHERE starface_user_id = ?1",
        )
        .bind(starface_user_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading user settings"))?;
        Ok(row.map_or_else(UserSettings::default, |r| UserSettings {
            auto_open_record: r.auto_open_record,
            create_unknown_inbound: r.create_unknown_inbound,
            create_unknown_outbound: r.create_unknown_outbound,
            phone_id: r.phone_id,
            language: r.language,
        }))
    }

    async fn put_user_settings(
        &self,
        starface_user_id: &str,
        settings: &UserSettings,
    ) -> Result<(), StoreError> {
        non_empty("STARFACE user id", starface_user_id)?;
        sqlx::query(
            "INSERT INTO user_settings (starface_user_id, auto_open_record, \
               create_unknown_inbound, create_unknown_outbound, phone_id, language, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (starface_user_id) DO UPDATE SET \
               auto_open_record = excluded.auto_open_record, \
               create_unknown_inbound = excluded.create_unknown_inbound, \
               create_unknown_outbound = excluded.create_unknown_outbound, \
               phone_id = excluded.phone_id, language = excluded.language, \
               updated_at = excluded.updated_at",
        )
        .bind(starface_user_id)
        .bind(settings.auto_open_record)
        .bind(settings.create_unknown_inbound)
        .bind(settings.create_unknown_outbound)
        .bind(none_if_empty(&settings.phone_id))
        .bind(none_if_empty(&settings.language))
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::db("saving user settings"))?;
        Ok(())
    }
}
