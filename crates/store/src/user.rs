//! Who is who: STARFACE users linked to Salesforce users, and each user's panel settings.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{InstanceId, StoreError};

/// How a user link came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkSource {
    /// Found by matching e-mails; replaced by the next automatic match.
    Auto,
    /// Set by an admin; automatic matching never replaces its Salesforce user.
    Manual,
}

impl LinkSource {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkSource::Auto => "auto",
            LinkSource::Manual => "manual",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "auto" => Ok(LinkSource::Auto),
            "manual" => Ok(LinkSource::Manual),
            other => Err(StoreError::corrupt("user link source", other)),
        }
    }
}

/// What the caller knows about a STARFACE user and its Salesforce user, for an upsert keyed by
/// (instance, `starface_user_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLinkSpec {
    /// The STARFACE user's id (REST `id`).
    pub starface_user_id: String,
    /// The STARFACE login id (e.g. `1001`), which UCI callbacks carry.
    pub starface_login_id: String,
    /// The STARFACE user's e-mail, matched case-insensitively.
    pub email: Option<String>,
    /// The linked Salesforce user (`005...`), `None` when there is no match.
    pub salesforce_user_id: Option<String>,
    /// Whether this is a match or an admin's choice.
    pub source: LinkSource,
}

/// A stored user link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLink {
    /// The instance the link belongs to.
    pub instance_id: InstanceId,
    /// The STARFACE user's id.
    pub starface_user_id: String,
    /// The STARFACE login id.
    pub starface_login_id: String,
    /// The STARFACE user's e-mail.
    pub email: Option<String>,
    /// The linked Salesforce user, if any.
    pub salesforce_user_id: Option<String>,
    /// Whether this is a match or an admin's choice.
    pub source: LinkSource,
    /// When the row was made.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// The key to find one user link of an instance by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLookup<'a> {
    /// By STARFACE user id.
    StarfaceUser(&'a str),
    /// By STARFACE login id (what a UCI callback names).
    StarfaceLogin(&'a str),
    /// By Salesforce user id (who signed in to the panel).
    SalesforceUser(&'a str),
    /// By e-mail, case-insensitively (ASCII).
    Email(&'a str),
}

/// A user's panel settings; `Default` is what a user who never changed them gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSettings {
    /// Open the record at once when a call has exactly one match.
    pub auto_open_record: bool,
    /// Create a record for an unknown inbound caller.
    pub create_unknown_inbound: bool,
    /// Create a record for an unknown number dialled out.
    pub create_unknown_outbound: bool,
    /// The phone to place calls on (`SIP/201`); `None` means the user's primary phone.
    pub phone_id: Option<String>,
    /// The panel's language (`de`, `en`); `None` means the browser's.
    pub language: Option<String>,
}

impl Default for UserSettings {
    fn default() -> Self {
        // Zero clicks to the caller's record is the product's first promise; creating
        // Salesforce records on its own is something a user opts into.
        UserSettings {
            auto_open_record: true,
            create_unknown_inbound: false,
            create_unknown_outbound: false,
            phone_id: None,
            language: None,
        }
    }
}

/// Storage of user links and user settings.
pub trait UserStore: Send + Sync {
    /// Creates or updates the link of `spec.starface_user_id` in `instance`. An automatic
    /// upsert updates login and e-mail of a manual link but keeps its Salesforce user.
    /// `Conflict` when the Salesforce user or login id is linked to another STARFACE user.
    fn upsert_user_link(
        &self,
        instance: InstanceId,
        spec: &UserLinkSpec,
    ) -> impl Future<Output = Result<UserLink, StoreError>> + Send;

    /// All links of an instance, ordered by login id.
    fn list_user_links(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<Vec<UserLink>, StoreError>> + Send;

    /// The one link of `instance` that matches `lookup`.
    fn find_user_link(
        &self,
        instance: InstanceId,
        lookup: UserLookup<'_>,
    ) -> impl Future<Output = Result<Option<UserLink>, StoreError>> + Send;

    /// Deletes the link of a STARFACE user (e.g. one that left the PBX, or to drop a manual
    /// override). `false` when there was none.
    fn delete_user_link(
        &self,
        instance: InstanceId,
        starface_user_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The settings of a STARFACE user, or the defaults when none were stored.
    fn get_user_settings(
        &self,
        starface_user_id: &str,
    ) -> impl Future<Output = Result<UserSettings, StoreError>> + Send;

    /// Stores the settings of a STARFACE user.
    fn put_user_settings(
        &self,
        starface_user_id: &str,
        settings: &UserSettings,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
