//! One sync of every enabled instance, without the service (`ctibridge sync`).

use std::sync::Arc;

use ctibridge_config::{Config, InstanceConfig};
use ctibridge_phone::{LibPhoneNormaliser, Normaliser};
use ctibridge_salesforce::SalesforceClient;
use ctibridge_starface::rest::RestClient;
use ctibridge_store::SqliteStore;

use super::engine::{Engine, EngineParts, InstanceSummary, SyncProgress};
use super::{SyncError, SyncTuning};

/// What [`run_sync_once`] did, per instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncSummary {
    /// One entry per enabled instance, in configuration order.
    pub instances: Vec<InstanceSummary>,
}

impl SyncSummary {
    /// Every problem, prefixed with its instance; empty when everything synced.
    pub fn errors(&self) -> Vec<String> {
        self.instances
            .iter()
            .flat_map(|i| {
                i.errors()
                    .into_iter()
                    .map(move |e| format!("{}: {e}", i.name))
            })
            .collect()
    }
}

/// Syncs every enabled instance once, from where the store says each object stands: a full
/// read where there is none yet (or with `full`), else the changes and deletions since. With
/// `import_contacts`, the PBX's address book is then compared with the store and brought up
/// to date. `progress` hears of every page read. Problems of single objects (a hidden field,
/// the daily limit) do not stop the others: they are in the summary ([`SyncSummary::errors`]);
/// `Err` is for what stops everything (the store, the configuration).
pub async fn run_sync_once(
    config: &Config,
    full: bool,
    progress: impl Fn(SyncProgress),
) -> Result<SyncSummary, SyncError> {
    let store = SqliteStore::open(&config.server.data_dir).await?;
    let normaliser: Arc<dyn Normaliser> = Arc::new(
        LibPhoneNormaliser::new(config.dialing.rules())
            .map_err(|e| SyncError::Setup(format!("dialing rules: {e}")))?,
    );
    let mut summary = SyncSummary::default();
    for inst in config.instances.iter().filter(|i| i.enabled) {
        let rest = if inst.import_contacts {
            Some(
                RestClient::new(
                    &config.starface.url,
                    config.starface.admin_login.to_string(),
                    config.starface.admin_password.clone(),
                )
                .map_err(SyncError::Pbx)?,
            )
        } else {
            None
        };
        let mut engine = Engine::open(EngineParts {
            name: inst.name.clone(),
            description: inst.description.clone(),
            import_contacts: inst.import_contacts,
            store: store.clone(),
            client: salesforce_client(inst)?,
            normaliser: normaliser.clone(),
            tuning: SyncTuning::for_interval(inst.sync_interval),
            rest,
            publish: None,
        })
        .await?;
        summary.instances.push(engine.cycle(full, &progress).await);
    }
    Ok(summary)
}

/// The Salesforce client of an instance, as the service builds it.
fn salesforce_client(inst: &InstanceConfig) -> Result<SalesforceClient, SyncError> {
    let creds = ctibridge_salesforce::Credentials {
        login_url: inst.salesforce.login_url.clone(),
        client_id: inst.salesforce.client_id.clone(),
        client_secret: inst.salesforce.client_secret.clone(),
    };
    SalesforceClient::builder(creds)
        .api_version(ctibridge_salesforce::ApiVersion::new(
            inst.salesforce.api_version.major(),
        ))
        .build()
        .map_err(|e| SyncError::Setup(format!("instance {:?}: {e}", inst.name)))
}
