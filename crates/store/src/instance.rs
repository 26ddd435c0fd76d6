//! Instances: one per Salesforce org / user group (`[[instance]]` in the configuration).

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Database id of an instance; stable across renames and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub i64);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the caller says an instance is; `name` is the key of an upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    /// Unique name, as in the configuration.
    pub name: String,
    /// Free text for the admin UI.
    pub description: String,
    /// The instance's settings (a JSON object; its shape belongs to the configuration crate).
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// A stored instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Database id.
    pub id: InstanceId,
    /// Unique name.
    pub name: String,
    /// Free text for the admin UI.
    pub description: String,
    /// The instance's settings.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// When the row was made.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// Storage of instances.
pub trait InstanceStore: Send + Sync {
    /// Creates the instance named `spec.name`, or updates its description and settings.
    fn upsert_instance(
        &self,
        spec: &InstanceSpec,
    ) -> impl Future<Output = Result<Instance, StoreError>> + Send;

    /// Renames an instance; `Conflict` when the new name is taken, `NotFound` without the id.
    fn rename_instance(
        &self,
        id: InstanceId,
        new_name: &str,
    ) -> impl Future<Output = Result<Instance, StoreError>> + Send;

    /// The instance of that name.
    fn get_instance(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Instance>, StoreError>> + Send;

    /// The instance of that id.
    fn get_instance_by_id(
        &self,
        id: InstanceId,
    ) -> impl Future<Output = Result<Option<Instance>, StoreError>> + Send;

    /// All instances, ordered by name.
    fn list_instances(&self) -> impl Future<Output = Result<Vec<Instance>, StoreError>> + Send;

    /// Deletes an instance with everything that belongs to it (user links, credentials,
    /// watermarks, records, contact links, outbox rows). `false` when there was none.
    fn delete_instance(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
