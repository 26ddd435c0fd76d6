//! Shared state of the running service.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ctibridge_config::{Config, InstanceConfig};
use ctibridge_phone::Normaliser;
use ctibridge_salesforce::SalesforceClient;
use ctibridge_store::SqliteStore;
use tokio::sync::watch;

use crate::demo::DemoControl;
use crate::hub::Hub;
use crate::logging::LogControl;
use crate::pbx::PbxDirectory;
use crate::sessions::Sessions;
use crate::status::SystemStatus;

/// The phone index of an instance and the caller-card data of its records. The sync changes
/// both in place (see [`crate::sync::LiveIndex`]); a new `Lookup` only refreshes the samples.
pub struct Lookup {
    pub index: crate::sync::LiveIndex,
    pub cards: crate::sync::LiveCards,
    /// A few indexed numbers (the first phone of some records), for the demo's calls.
    pub samples: Vec<ctibridge_domain::E164>,
}

/// What every handler and worker shares. Cheap to clone behind an `Arc`.
pub struct AppState {
    pub config: Config,
    pub store: SqliteStore,
    pub log: Option<LogControl>,
    pub normaliser: Arc<dyn Normaliser>,
    /// One Salesforce client per instance, by instance name.
    pub clients: HashMap<String, SalesforceClient>,
    pub hub: Hub,
    pub sessions: Sessions,
    pub uci: crate::uci::UciManager,
    /// Click-to-dial, records for unknown callers, notes; the call-log outbox's memory.
    pub actions: crate::actions::Actions,
    pub directory: watch::Receiver<Option<Arc<PbxDirectory>>>,
    /// Present in `ctibridge demo` only: plays calls on the emulated PBX.
    pub demo: Option<Arc<dyn DemoControl>>,
    status: RwLock<SystemStatus>,
    lookups: RwLock<HashMap<String, Arc<Lookup>>>,
    /// Per instance: wakes its sync when the admin changed its settings. Made at start, so a
    /// change saved before the instance published its index (its first sync still running)
    /// is not lost.
    settings_changed: HashMap<String, Arc<tokio::sync::Notify>>,
}

/// The parts [`AppState::new`] is built from.
pub struct Parts {
    pub config: Config,
    pub store: SqliteStore,
    pub log: Option<LogControl>,
    pub normaliser: Arc<dyn Normaliser>,
    pub clients: HashMap<String, SalesforceClient>,
    pub directory: watch::Receiver<Option<Arc<PbxDirectory>>>,
    pub demo: Option<Arc<dyn DemoControl>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    match l.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl AppState {
    /// State for a service that has not yet talked to anything.
    pub fn new(parts: Parts) -> Arc<Self> {
        let status = SystemStatus {
            version: env!("CARGO_PKG_VERSION"),
            started_at: Some(chrono::Utc::now()),
            ..Default::default()
        };
        let settings_changed = parts
            .config
            .instances
            .iter()
            .map(|i| (i.name.clone(), Arc::default()))
            .collect();
        Arc::new(Self {
            config: parts.config,
            store: parts.store,
            log: parts.log,
            normaliser: parts.normaliser,
            clients: parts.clients,
            hub: Hub::default(),
            sessions: Sessions::default(),
            uci: crate::uci::UciManager::new(Default::default()),
            actions: Default::default(),
            directory: parts.directory,
            demo: parts.demo,
            status: RwLock::new(status),
            lookups: RwLock::new(HashMap::new()),
            settings_changed,
        })
    }

    /// A copy of the current status.
    pub fn status(&self) -> SystemStatus {
        read(&self.status).clone()
    }

    /// Changes the status in place.
    pub fn update_status(&self, f: impl FnOnce(&mut SystemStatus)) {
        f(&mut write(&self.status));
    }

    /// Changes the status of one instance (by name), if it exists.
    pub fn update_instance(&self, name: &str, f: impl FnOnce(&mut crate::status::InstanceStatus)) {
        self.update_status(|s| {
            if let Some(i) = s.instances.iter_mut().find(|i| i.name == name) {
                f(i);
            }
        });
    }

    /// What wakes the sync of an instance when the admin changed its settings (it reads them
    /// at the start of every cycle); `None` for an instance this process does not run.
    pub fn settings_changed(&self, instance: &str) -> Option<Arc<tokio::sync::Notify>> {
        self.settings_changed.get(instance).cloned()
    }

    /// The phone index and cards of an instance.
    pub fn lookup(&self, instance: &str) -> Option<Arc<Lookup>> {
        read(&self.lookups).get(instance).cloned()
    }

    /// Replaces the phone index and cards of an instance.
    pub fn set_lookup(&self, instance: &str, lookup: Arc<Lookup>) {
        write(&self.lookups).insert(instance.to_owned(), lookup);
    }

    /// The configured instance of that name.
    pub fn instance(&self, name: &str) -> Option<&InstanceConfig> {
        self.config.instances.iter().find(|i| i.name == name)
    }

    /// The current PBX directory, if it has been read.
    pub fn pbx_directory(&self) -> Option<Arc<PbxDirectory>> {
        self.directory.borrow().clone()
    }
}
