#![allow(dead_code, clippy::unwrap_used)]

use ctibridge_store::{Instance, InstanceSpec, InstanceStore, SqliteStore};
use tempfile::TempDir;

/// A store in a fresh temporary data directory (kept alive by the returned guard).
pub async fn store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    (dir, store)
}

pub fn spec(name: &str) -> InstanceSpec {
    InstanceSpec {
        name: name.to_owned(),
        description: format!("{name} description"),
        settings: serde_json::Map::new(),
    }
}

pub async fn instance(store: &SqliteStore, name: &str) -> Instance {
    store.upsert_instance(&spec(name)).await.unwrap()
}
