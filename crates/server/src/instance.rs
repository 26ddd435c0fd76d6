//! One `[[instance]]` at work: its Salesforce org, the users it serves, and the sync that
//! keeps its phone index, record cache and (with `import_contacts`) the PBX address book
//! current (see [`crate::sync`]).

use std::sync::Arc;
use std::time::Duration;

use ctibridge_config::InstanceConfig;
use ctibridge_phone::Normaliser;
use ctibridge_salesforce::SalesforceClient;
use ctibridge_starface::rest::RestClient;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::warn;

use crate::pbx::PbxDirectory;
use crate::state::AppState;
use crate::status::{ApiUsageStatus, LinkState, SyncProgressStatus, UserStatus};
use crate::sync::{Engine, EngineParts, EngineReport, SyncPhase, SyncTuning};

/// How often the org's users are read again for the e-mail match.
const USERS_EVERY: Duration = Duration::from_secs(15 * 60);

/// A Salesforce user as the e-mail match needs it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SfUser {
    id: String,
    name: String,
    #[serde(default)]
    email: Option<String>,
}

/// Runs an instance until the process ends: loads the index from the store, then syncs every
/// `sync_interval` and keeps the user matching current as the PBX directory changes.
pub async fn run(
    state: Arc<AppState>,
    cfg: InstanceConfig,
    client: SalesforceClient,
    normaliser: Arc<dyn Normaliser>,
    mut directory: watch::Receiver<Option<Arc<PbxDirectory>>>,
    mut closing: watch::Receiver<bool>,
) {
    let name = cfg.name.clone();
    let mut engine = match open(&state, &cfg, client, normaliser).await {
        Ok(e) => e,
        Err(e) => {
            warn!(instance = %name, error = %e, "cannot start the sync");
            state.update_instance(&name, |i| i.salesforce = LinkState::Failed(e.to_string()));
            return;
        }
    };
    if let Err(e) = engine.load().await {
        warn!(instance = %name, error = %e, "cannot load the index from the store; the sync reads the org");
    }
    show(&state, &name, engine.report());

    let progress = {
        let state = state.clone();
        let name = name.clone();
        move |p: crate::sync::SyncProgress| {
            if p.phase != SyncPhase::Full {
                return;
            }
            state.update_instance(&name, |i| {
                if let Some(o) = i.sync.objects.get_mut(&p.object) {
                    o.progress = Some(SyncProgressStatus {
                        done: p.done,
                        total: p.total,
                    });
                }
            });
        }
    };
    // Manual user links (admin UI) are read from the store by this id.
    let instance_id = match ctibridge_store::InstanceStore::get_instance(&state.store, &name).await
    {
        Ok(row) => row.map(|r| r.id),
        Err(e) => {
            warn!(instance = %name, error = %e, "cannot read the instance row; manual user links are ignored");
            None
        }
    };
    let settings_changed = state.settings_changed(&name).unwrap_or_default();
    let mut sf_users: Option<Vec<SfUser>> = None;
    let mut next_users = Instant::now();
    let mut next_cycle = Instant::now();
    loop {
        // A shutdown does not wait for a sync cycle: the cycle stops where it is (its stored
        // progress stays; index and cache may differ for a moment, so no snapshot is saved).
        let work = async {
            if Instant::now() >= next_users {
                match engine
                    .query_all::<SfUser>("SELECT Id, Name, Email FROM User WHERE IsActive = true")
                    .await
                {
                    Ok(users) => {
                        sf_users = Some(users);
                        next_users = Instant::now() + USERS_EVERY;
                    }
                    Err(e) => {
                        warn!(instance = %name, error = %e, "reading the org's users failed");
                        engine.note_failure(e.to_string());
                        next_users = Instant::now() + cfg.sync_interval;
                    }
                }
            }
            if Instant::now() >= next_cycle {
                engine.cycle(false, &progress).await;
                next_cycle = Instant::now() + cfg.sync_interval;
                show(&state, &name, engine.report());
            }
        };
        tokio::select! {
            () = work => {}
            changed = closing.changed() => {
                if changed.is_err() || *closing.borrow_and_update() {
                    return;
                }
            }
        }
        let dir = directory.borrow_and_update().clone();
        if let (Some(dir), Some(users)) = (dir, sf_users.as_ref()) {
            let manual = match instance_id {
                Some(id) => crate::admin::users::manual_links(&state.store, id)
                    .await
                    .unwrap_or_else(|e| {
                        warn!(instance = %name, error = %e, "cannot read manual user links");
                        Default::default()
                    }),
                None => Default::default(),
            };
            let rows = match_users(&dir, &cfg, users, &manual);
            state.update_instance(&name, |i| i.users = rows);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_cycle.min(next_users)) => {}
            // New card fields or a new API cap: a cycle now reads them.
            _ = settings_changed.notified() => next_cycle = Instant::now(),
            changed = directory.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            // The service stops: the next start takes index and cards from the snapshot.
            changed = closing.changed() => {
                let stop = changed.is_err() || *closing.borrow_and_update();
                if stop {
                    engine.close().await;
                    return;
                }
            }
        }
    }
}

async fn open(
    state: &Arc<AppState>,
    cfg: &InstanceConfig,
    client: SalesforceClient,
    normaliser: Arc<dyn Normaliser>,
) -> Result<Engine, crate::sync::SyncError> {
    let rest = if cfg.import_contacts {
        // A session of its own: the export's writes never wait behind the directory reads.
        Some(RestClient::new(
            &state.config.starface.url,
            state.config.starface.admin_login.to_string(),
            state.config.starface.admin_password.clone(),
        )?)
    } else {
        None
    };
    let publish = {
        let state = state.clone();
        let name = cfg.name.clone();
        Box::new(move |lookup| state.set_lookup(&name, lookup))
    };
    Engine::open(EngineParts {
        name: cfg.name.clone(),
        description: cfg.description.clone(),
        import_contacts: cfg.import_contacts,
        store: state.store.clone(),
        client,
        normaliser,
        tuning: SyncTuning::for_interval(cfg.sync_interval),
        rest,
        publish: Some(publish),
    })
    .await
}

/// Puts what the engine reports into the instance's status.
fn show(state: &AppState, name: &str, report: EngineReport) {
    state.update_instance(name, |i| {
        i.salesforce = report.link;
        i.api_usage = report.api_usage.map(|u| ApiUsageStatus {
            used: u.used,
            limit: u.limit,
        });
        i.records = report.records;
        i.numbers_indexed = report.numbers_indexed;
        i.numbers_unreadable = report.numbers_unreadable;
        i.last_full_read = report.last_full_read;
        i.api_calls_used = report.api_calls;
        i.sync = report.sync;
    });
}

/// Pairs each STARFACE user in the instance's scope with the Salesforce user the admin linked
/// by hand, else with the one of the same e-mail (case-insensitive), naming the fix where
/// there is none.
fn match_users(
    dir: &PbxDirectory,
    cfg: &InstanceConfig,
    sf_users: &[SfUser],
    manual: &crate::admin::users::ManualLinks,
) -> Vec<UserStatus> {
    let (users, unknown) = dir.users_in_scope(&cfg.users, &cfg.groups);
    let mut rows: Vec<UserStatus> = users
        .into_iter()
        .map(|u| {
            let email = u.email.trim();
            if let Some(linked) = manual.get(&u.login) {
                let sf = sf_users.iter().find(|s| &s.id == linked);
                return UserStatus {
                    starface_login: u.login.clone(),
                    name: u.display_name(),
                    email: u.email.clone(),
                    salesforce_user_id: sf.map(|s| s.id.clone()),
                    salesforce_user_name: sf.map(|s| s.name.clone()),
                    problem: sf.is_none().then(|| format!(
                        "linked by hand to the Salesforce user {linked}, which is not an active user: link another user or remove the link"
                    )),
                };
            }
            let sf = (!email.is_empty())
                .then(|| {
                    sf_users.iter().find(|s| {
                        s.email
                            .as_deref()
                            .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
                    })
                })
                .flatten();
            let problem = match (email.is_empty(), sf) {
                (true, _) => Some("the STARFACE user has no e-mail address: add the one of the user's Salesforce login in STARFACE".to_owned()),
                (false, None) => Some(format!(
                    "no active Salesforce user has the e-mail {email}: make the e-mail addresses of both users the same"
                )),
                _ => None,
            };
            UserStatus {
                starface_login: u.login.clone(),
                name: u.display_name(),
                email: u.email.clone(),
                salesforce_user_id: sf.map(|s| s.id.clone()),
                salesforce_user_name: sf.map(|s| s.name.clone()),
                problem,
            }
        })
        .collect();
    for what in unknown {
        rows.push(UserStatus {
            problem: Some(format!(
                "{what} is configured for this instance but not found on the PBX"
            )),
            ..Default::default()
        });
    }
    rows
}
