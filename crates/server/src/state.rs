//! Shared state of the running service.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ctibridge_config::Config;
use ctibridge_phone::PhoneIndex;
use ctibridge_store::SqliteStore;

use crate::logging::LogControl;
use crate::status::SystemStatus;

/// What every handler and worker shares. Cheap to clone behind an `Arc`.
pub struct AppState {
    pub config: Config,
    pub store: SqliteStore,
    pub log: Option<LogControl>,
    status: RwLock<SystemStatus>,
    /// The phone index of each instance, by instance name; replaced whole after a full read.
    indexes: RwLock<HashMap<String, Arc<PhoneIndex>>>,
}

impl AppState {
    /// State for a service that has not yet talked to anything.
    pub fn new(config: Config, store: SqliteStore, log: Option<LogControl>) -> Arc<Self> {
        let status = SystemStatus {
            version: env!("CARGO_PKG_VERSION"),
            started_at: Some(chrono::Utc::now()),
            ..Default::default()
        };
        Arc::new(Self {
            config,
            store,
            log,
            status: RwLock::new(status),
            indexes: RwLock::new(HashMap::new()),
        })
    }

    /// A copy of the current status.
    pub fn status(&self) -> SystemStatus {
        match self.status.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the status in place.
    pub fn update_status(&self, f: impl FnOnce(&mut SystemStatus)) {
        match self.status.write() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Changes the status of one instance (by name), if it exists.
    pub fn update_instance(&self, name: &str, f: impl FnOnce(&mut crate::status::InstanceStatus)) {
        self.update_status(|s| {
            if let Some(i) = s.instances.iter_mut().find(|i| i.name == name) {
                f(i);
            }
        });
    }

    /// The phone index of an instance.
    pub fn index(&self, instance: &str) -> Option<Arc<PhoneIndex>> {
        let map = match self.indexes.read() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(instance).cloned()
    }

    /// Replaces the phone index of an instance.
    pub fn set_index(&self, instance: &str, index: Arc<PhoneIndex>) {
        let mut map = match self.indexes.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.insert(instance.to_owned(), index);
    }
}
