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
