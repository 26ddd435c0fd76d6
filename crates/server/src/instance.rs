//! One `[[instance]]` at work: its Salesforce org, the users it serves, and the phone index
//! filled from the org.
//!
//! Until the sync engine (incremental, with deletions) lands, the index is filled by one full
//! SOQL read at start and refreshed by another full read every `FULL_READ_EVERY`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ctibridge_config::InstanceConfig;
use ctibridge_domain::{ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::{Normaliser, NumberContext, PhoneIndex};
use ctibridge_salesforce::{SalesforceClient, SalesforceError};
use ctibridge_store::{InstanceId, InstanceSpec, InstanceStore, PhoneValue, Record, RecordStore};
use futures::TryStreamExt;
use serde_json::{Map, Value};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::cards::{CardBook, card_query_fields};
use crate::pbx::PbxDirectory;
use crate::state::{AppState, Lookup};
use crate::status::{ApiUsageStatus, LinkState, UserStatus};

/// How often the whole org is read again while incremental sync is not there yet.
const FULL_READ_EVERY: Duration = Duration::from_secs(15 * 60);

/// Records written to the store per transaction.
const STORE_BATCH: usize = 2_000;

/// The objects whose phone numbers identify a caller, in the default object priority.
const OBJECTS: [&str; 3] = ["Contact", "Lead", "Account"];

/// Fields read besides the card fields and the phone fields: what call logging needs later.
fn extra_fields(object: &str) -> &'static [&'static str] {
    match object {
        "Contact" => &["AccountId", "OwnerId", "MailingCountry"],
        "Lead" => &["OwnerId", "Country"],
        _ => &["OwnerId", "BillingCountry"],
    }
}

/// The address country field of an object: national numbers are read by its plan.
fn country_field(object: &str) -> &'static str {
    match object {
        "Contact" => "MailingCountry",
        "Lead" => "Country",
        _ => "BillingCountry",
    }
}

/// The country hint of a query row.
fn country_of(object: &str, row: &Map<String, Value>) -> Option<ctibridge_phone::CountryHint> {
    row.get(country_field(object))
        .and_then(Value::as_str)
        .and_then(ctibridge_phone::CountryHint::from_text)
}

/// A Salesforce user as the e-mail match needs it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SfUser {
    id: String,
    name: String,
    #[serde(default)]
    email: Option<String>,
}

/// Runs an instance until the process ends: full read with retries, then keeps the user
/// matching current as the PBX directory changes.
pub async fn run(
    state: Arc<AppState>,
    cfg: InstanceConfig,
    client: SalesforceClient,
    normaliser: Arc<dyn Normaliser>,
    mut directory: watch::Receiver<Option<Arc<PbxDirectory>>>,
) {
    let name = cfg.name.clone();
    let instance_id = match register(&state, &cfg).await {
        Ok(id) => id,
        Err(e) => {
            warn!(instance = %name, error = %e, "cannot register the instance in the store");
            state.update_instance(&name, |i| {
                i.salesforce = LinkState::Failed(format!("store: {e}"))
            });
            return;
        }
    };
    let mut sf_users: Option<Vec<SfUser>> = None;
    let mut retry = Duration::from_secs(2);
    let mut next_full_read = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_full_read {
            match full_read(&state, &cfg, instance_id, &client, &normaliser).await {
                Ok(users) => {
                    sf_users = Some(users);
                    retry = Duration::from_secs(2);
                    next_full_read = tokio::time::Instant::now() + FULL_READ_EVERY;
                    state.update_instance(&name, |i| i.salesforce = LinkState::Ok);
                }
                Err(e) => {
                    warn!(instance = %name, error = %e, retry_in = ?retry, "reading the Salesforce org failed");
                    state.update_instance(&name, |i| {
                        i.salesforce = LinkState::Failed(e.to_string())
                    });
                    next_full_read = tokio::time::Instant::now() + retry;
                    retry = (retry * 2).min(Duration::from_secs(300));
                }
            }
            record_usage(&state, &name, &client);
        }
        let dir = directory.borrow_and_update().clone();
        if let (Some(dir), Some(users)) = (dir, sf_users.as_ref()) {
            let rows = match_users(&dir, &cfg, users);
            state.update_instance(&name, |i| i.users = rows);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_full_read) => {}
            changed = directory.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn register(
    state: &AppState,
    cfg: &InstanceConfig,
) -> Result<InstanceId, ctibridge_store::StoreError> {
    let spec = InstanceSpec {
        name: cfg.name.clone(),
        description: cfg.description.clone(),
        settings: Map::new(),
    };
    Ok(state.store.upsert_instance(&spec).await?.id)
}

fn record_usage(state: &AppState, name: &str, client: &SalesforceClient) {
    if let Some(u) = client.api_usage() {
        state.update_instance(name, |i| {
            i.api_usage = Some(ApiUsageStatus {
                used: u.used,
                limit: u.limit,
            })
        });
    }
}

/// Why a full read stopped.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    #[error("store: {0}")]
    Store(#[from] ctibridge_store::StoreError),
}

/// Reads the org's users and every record of the objects in scope into the store and a new
/// phone index, then swaps the index in.
async fn full_read(
    state: &AppState,
    cfg: &InstanceConfig,
    instance_id: InstanceId,
    client: &SalesforceClient,
    normaliser: &Arc<dyn Normaliser>,
) -> Result<Vec<SfUser>, ReadError> {
    let started = std::time::Instant::now();
    let users = client
        .query_all_pages::<SfUser>("SELECT Id, Name, Email FROM User WHERE IsActive = true")
        .await?;
    let mut api_calls = u64::from(users.api_calls);
    let mut index = PhoneIndex::new(normaliser.clone());
    let mut cards = CardBook::default();
    let mut samples = Vec::new();
    let mut counts = BTreeMap::new();
    let mut unreadable = 0usize;
    for object in OBJECTS {
        let object_type = ObjectType::parse(object).unwrap_or(ObjectType::Other(object.to_owned()));
        let describe = client.describe(&object_type).await?;
        api_calls += 1;
        let phone_fields: Vec<String> = describe.phone_fields().map(|f| f.name.clone()).collect();
        let mut fields: Vec<&str> = vec!["Id", "Name", "SystemModstamp"];
        fields.extend(card_query_fields(object));
        fields.extend(extra_fields(object));
        fields.extend(phone_fields.iter().map(String::as_str));
        let mut seen = std::collections::HashSet::new();
        fields.retain(|f| seen.insert(*f));
        let soql = format!("SELECT {} FROM {object}", fields.join(", "));
        let mut pages = std::pin::pin!(client.query_pages::<Map<String, Value>>(&soql));
        let mut batch = Vec::with_capacity(STORE_BATCH);
        let mut n = 0usize;
        while let Some(page) = pages.try_next().await? {
            api_calls += 1;
            for row in page.records {
                let Some(record) = to_record(object, &row, &phone_fields, normaliser.as_ref())
                else {
                    continue;
                };
                unreadable += record
                    .phones
                    .iter()
                    .filter(|p| p.e164.is_none() && !p.raw.trim().is_empty())
                    .count();
                if let Ok(id) = SalesforceId::parse(&record.sf_id) {
                    cards.insert(id, object, &row);
                    let rref = RecordRef {
                        object: object_type.clone(),
                        id,
                        name: record.name.clone(),
                    };
                    let raws: Vec<&str> = record.phones.iter().map(|p| p.raw.as_str()).collect();
                    if samples.len() < 2_000
                        && let Some(e) = record.phones.iter().find_map(|p| p.e164.as_deref())
                        && let Ok(e) = ctibridge_domain::E164::parse(e)
                    {
                        samples.push(e);
                    }
                    index.insert_in(rref, &raws, country_of(object, &row));
                }
                batch.push(record);
                n += 1;
            }
            if batch.len() >= STORE_BATCH {
                state.store.upsert_records(instance_id, &batch).await?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            state.store.upsert_records(instance_id, &batch).await?;
        }
        counts.insert(object.to_owned(), n);
    }
    let numbers = index.number_count();
    state.set_lookup(
        &cfg.name,
        Arc::new(Lookup {
            index,
            cards,
            samples,
        }),
    );
    info!(
        instance = %cfg.name,
        records = counts.values().sum::<usize>(),
        numbers,
        api_calls,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "full read of the Salesforce org done"
    );
    state.update_instance(&cfg.name, |i| {
        i.records = counts;
        i.numbers_indexed = numbers;
        i.numbers_unreadable = unreadable;
        i.last_full_read = Some(chrono::Utc::now());
        i.api_calls_used += api_calls;
    });
    Ok(users.records)
}

/// A query row as the store keeps it; `None` for a row without an id.
fn to_record(
    object: &str,
    row: &Map<String, Value>,
    phone_fields: &[String],
    normaliser: &dyn Normaliser,
) -> Option<Record> {
    let sf_id = row.get("Id")?.as_str()?.to_owned();
    let name = row
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let system_modstamp = row
        .get("SystemModstamp")
        .and_then(Value::as_str)
        .and_then(parse_sf_datetime);
    let ctx = country_of(object, row).map_or(NumberContext::Stored, NumberContext::StoredIn);
    let phones = phone_fields
        .iter()
        .filter_map(|f| {
            let raw = row.get(f)?.as_str()?.to_owned();
            let e164 = normaliser
                .classify(&raw, ctx)
                .e164()
                .map(|e| e.as_str().to_owned());
            Some(PhoneValue {
                field: f.clone(),
                raw,
                e164,
            })
        })
        .collect();
    let mut fields = Map::new();
    for (k, v) in row {
        if k == "attributes" || phone_fields.contains(k) {
            continue;
        }
        fields.insert(k.clone(), strip_attributes(v));
    }
    Some(Record {
        object_type: object.to_owned(),
        sf_id,
        name,
        fields,
        phones,
        system_modstamp,
    })
}

/// Relationship values (`Owner: {attributes, Name}`) without Salesforce's `attributes`.
fn strip_attributes(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "attributes")
                .map(|(k, v)| (k.clone(), strip_attributes(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Salesforce's `2024-05-01T10:00:00.000+0000`.
fn parse_sf_datetime(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Pairs each STARFACE user in the instance's scope with the Salesforce user of the same
/// e-mail (case-insensitive), naming the fix where there is none.
fn match_users(dir: &PbxDirectory, cfg: &InstanceConfig, sf_users: &[SfUser]) -> Vec<UserStatus> {
    let (users, unknown) = dir.users_in_scope(&cfg.users, &cfg.groups);
    let mut rows: Vec<UserStatus> = users
        .into_iter()
        .map(|u| {
            let email = u.email.trim();
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
