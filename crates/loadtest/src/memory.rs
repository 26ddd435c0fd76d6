//! Memory and start-up with many records: what the phone index and the caller cards cost per
//! record, how long a start from the record cache takes, and how long the connector's real
//! start (a full read of the org over its REST API) takes to be ready.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ctibridge_domain::{ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::{DialingRules, LibPhoneNormaliser, Normaliser, NumberContext, PhoneIndex};
use ctibridge_server::cards::{CardLayout, CardValues};
use ctibridge_store::{InstanceSpec, InstanceStore, PhoneValue, Record, RecordStore};
use futures::TryStreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::sys;

/// Records written to the store per transaction (as the connector does).
const STORE_BATCH: usize = 2_000;

/// A generated record: what a full read hands to the index, the cards and the store.
pub struct Generated {
    /// Object, id and name.
    pub record: RecordRef,
    /// Phone field values as typed, by field name.
    pub phones: Vec<(&'static str, String)>,
    /// The query row the caller card is built from.
    pub row: Map<String, Value>,
}

fn digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        // Subscriber numbers start with 2-9 (0 and 1 are prefixes or special in these plans).
        .map(|i| char::from(b'0' + rng.random_range(if i == 0 { 2 } else { 0 }..10u8)))
        .collect()
}

/// A number as someone typed it: German landlines and mobiles, Vienna, Zurich, in the usual
/// spellings; Accounts sometimes as a switchboard (`-0`, German landlines only).
fn typed(rng: &mut ChaCha8Rng, switchboard: bool) -> String {
    let (cc, area, sub) = match rng.random_range(0..if switchboard { 3 } else { 6u8 }) {
        0 => ("49", "30", digits(rng, 7)),
        1 => ("49", "89", digits(rng, 8)),
        2 => ("49", "40", digits(rng, 8)),
        3 => ("49", "151", digits(rng, 8)),
        4 => ("43", "1", digits(rng, 7)),
        _ => ("41", "44", digits(rng, 7)),
    };
    if switchboard {
        return format!("+{cc} {area} {}-0", &sub[..sub.len() - 1]);
    }
    match rng.random_range(0..6u8) {
        0 => format!("+{cc}{area}{sub}"),
        1 => format!("+{cc} {area} {sub}"),
        2 => format!("+{cc} (0){area} {sub}"),
        3 => format!("00{cc} {area}/{sub}"),
        4 if cc == "49" => format!("0{area} {sub}"),
        _ => format!("+{cc}-{area}-{sub}"),
    }
}

/// `n` records: 60 % Contacts (a phone, most also a mobile), 25 % Leads, 15 % Accounts (a
/// third of them written as a switchboard), each with its caller-card fields.
pub fn generate(n: usize, seed: u64) -> Vec<Generated> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let roll = rng.random_range(0..100u8);
            let (object, prefix) = match roll {
                0..60 => (ObjectType::Contact, "003"),
                60..85 => (ObjectType::Lead, "00Q"),
                _ => (ObjectType::Account, "001"),
            };
            let id = SalesforceId::parse(&format!("{prefix}{i:012}"))
                .unwrap_or_else(|_| unreachable_id());
            let name = format!("Person {i}");
            let switchboard = object == ObjectType::Account && rng.random_bool(0.33);
            let mut phones = vec![("Phone", typed(&mut rng, switchboard))];
            if object == ObjectType::Contact && rng.random_bool(0.7) {
                phones.push(("MobilePhone", typed(&mut rng, false)));
            }
            let owner = json!({"Name": format!("Owner {}", i % 50)});
            let owner_id = format!("005{:012}", i % 50);
            let stamp = "2026-11-20T09:15:00.000+0000";
            // The row as the sync stores it: card fields, the fields call logging and the
            // address-book export read, the address country; not the phone fields.
            let row = match object {
                ObjectType::Contact => json!({
                    "Id": id.as_str(),
                    "Name": &name,
                    "SystemModstamp": stamp,
                    "Account": {"Name": format!("Company {}", i / 7)},
                    "AccountId": format!("001{:012}", i / 7),
                    "Title": "Einkauf",
                    "Email": format!("person{i}@example.com"),
                    "Owner": owner,
                    "OwnerId": owner_id,
                    "FirstName": "Person",
                    "LastName": format!("{i}"),
                    "Salutation": "Ms.",
                    "MailingStreet": format!("Hauptstra\u{df}e {}", i % 200),
                    "MailingPostalCode": "80331",
                    "MailingCity": "M\u{fc}nchen",
                    "MailingCountry": "Germany",
                }),
                ObjectType::Lead => json!({
                    "Id": id.as_str(),
                    "Name": &name,
                    "SystemModstamp": stamp,
                    "Company": format!("Company {}", i / 3),
                    "Status": "Open - Not Contacted",
                    "Email": format!("lead{i}@example.com"),
                    "Owner": owner,
                    "OwnerId": owner_id,
                    "Country": "Germany",
                }),
                _ => json!({
                    "Id": id.as_str(),
                    "Name": &name,
                    "SystemModstamp": stamp,
                    "AnnualRevenue": 1_250_000,
                    "Owner": owner,
                    "OwnerId": owner_id,
                    "BillingCountry": "Germany",
                }),
            };
            Generated {
                record: RecordRef { object, id, name },
                phones,
                row: row.as_object().cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// `{prefix}{i:012}` is always 15 alphanumerics; this is never reached.
fn unreachable_id() -> SalesforceId {
    SalesforceId::parse("003000000000000").unwrap_or_else(|_| std::process::abort())
}

/// What building the lookup from records cost.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// Records given.
    pub records: usize,
    /// Distinct numbers indexed.
    pub numbers: usize,
    /// Time to build index and cards.
    pub elapsed: Duration,
    /// RSS growth from the index, bytes.
    pub index_bytes: u64,
    /// RSS growth from the cards, bytes.
    pub cards_bytes: u64,
}

fn normaliser() -> anyhow::Result<Arc<dyn Normaliser>> {
    Ok(Arc::new(LibPhoneNormaliser::new(DialingRules::default())?))
}

/// The card of a generated or cached record under the default layout, as the connector keeps
/// it with the record in its index.
fn card(layout: &CardLayout, object: &ObjectType, row: &Map<String, Value>) -> Option<CardValues> {
    layout
        .object(object.as_str())
        .map(|l| CardValues::build(l, row))
}

/// Builds the index, then gives its records their cards (kept in the index, as the connector
/// keeps them), from generated records in memory (what a full read does with the rows),
/// measuring the RSS each adds. Returns the index so that it stays alive.
pub fn build_in_memory(records: &[Generated]) -> anyhow::Result<(Built, PhoneIndex<CardValues>)> {
    let rss0 = sys::snapshot().rss;
    let started = Instant::now();
    let mut index = PhoneIndex::carrying(normaliser()?);
    for g in records {
        let raws: Vec<&str> = g.phones.iter().map(|(_, r)| r.as_str()).collect();
        index.insert(g.record.clone(), &raws);
    }
    let rss1 = sys::snapshot().rss;
    let layout = CardLayout::default();
    for g in records {
        if let Some(place) = index.payload_mut(&g.record.id) {
            *place = card(&layout, &g.record.object, &g.row);
        }
    }
    let elapsed = started.elapsed();
    let rss2 = sys::snapshot().rss;
    Ok((
        Built {
            records: records.len(),
            numbers: index.number_count(),
            elapsed,
            index_bytes: rss1.saturating_sub(rss0),
            cards_bytes: rss2.saturating_sub(rss1),
        },
        index,
    ))
}

/// Writes the records to a fresh store in `dir` for the instance `instance`, the way the
/// connector's sync does (E.164 worked out at write time). Returns the time it took.
pub async fn fill_store(
    dir: &std::path::Path,
    instance: &str,
    records: &[Generated],
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let store = ctibridge_store::SqliteStore::open(dir).await?;
    let instance = store
        .upsert_instance(&InstanceSpec {
            name: instance.into(),
            description: String::new(),
            settings: Map::new(),
        })
        .await?
        .id;
    let n = normaliser()?;
    for chunk in records.chunks(STORE_BATCH) {
        let batch: Vec<Record> = chunk.iter().map(|g| stored(g, n.as_ref())).collect();
        store.upsert_records(instance, &batch).await?;
    }
    Ok(started.elapsed())
}

/// A generated record as the sync stores it.
fn stored(g: &Generated, n: &dyn Normaliser) -> Record {
    Record {
        object_type: g.record.object.as_str().to_owned(),
        sf_id: g.record.id.to_string(),
        name: g.record.name.clone(),
        fields: g.row.clone(),
        phones: g
            .phones
            .iter()
            .map(|(field, raw)| PhoneValue {
                field: (*field).to_owned(),
                raw: raw.clone(),
                e164: n
                    .classify(raw, NumberContext::Stored)
                    .e164()
                    .map(|e| e.as_str().to_owned()),
            })
            .collect(),
        system_modstamp: Some(chrono::Utc::now()),
    }
}

/// What a crash between two snapshots leaves: records changed in the store after the last
/// snapshot, with no snapshot written since.
pub struct CrashChanges {
    /// Records renamed and given a new first number.
    pub changed: Vec<Record>,
    /// Records marked deleted, as (object, id).
    pub deleted: Vec<(String, String)>,
}

/// `n` records spread over `records`: nine in ten changed, one in ten deleted.
pub fn crash_changes(records: &[Generated], n: usize) -> anyhow::Result<CrashChanges> {
    let normaliser = normaliser()?;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let step = (records.len() / n.max(1)).max(1);
    let mut changes = CrashChanges {
        changed: Vec::new(),
        deleted: Vec::new(),
    };
    for (k, g) in records.iter().step_by(step).take(n).enumerate() {
        if k % 10 == 9 {
            let key = (g.record.object.as_str().to_owned(), g.record.id.to_string());
            changes.deleted.push(key);
            continue;
        }
        let mut r = stored(g, normaliser.as_ref());
        r.name = format!("{} (changed)", r.name);
        let raw = typed(&mut rng, false);
        if let Some(first) = r.phones.first_mut() {
            first.e164 = normaliser
                .classify(&raw, NumberContext::Stored)
                .e164()
                .map(|e| e.as_str().to_owned());
            first.raw = raw;
        }
        changes.changed.push(r);
    }
    Ok(changes)
}

/// Writes `changes` into the record cache in `dir` as the sync would have before a crash.
pub async fn apply_crash(dir: &std::path::Path, changes: &CrashChanges) -> anyhow::Result<()> {
    let (store, instance) = open_first_instance(dir).await?;
    for chunk in changes.changed.chunks(STORE_BATCH) {
        store.upsert_records(instance, chunk).await?;
    }
    for object in ["Contact", "Lead", "Account"] {
        let ids: Vec<String> = changes
            .deleted
            .iter()
            .filter(|(o, _)| o == object)
            .map(|(_, id)| id.clone())
            .collect();
        store.mark_records_deleted(instance, object, &ids).await?;
    }
    Ok(())
}

/// A start from the record cache: open the store, stream every record into a new index and
/// new cards. Returns what it cost, the time split into reading and building.
pub async fn start_from_store(dir: &std::path::Path) -> anyhow::Result<(Built, Duration)> {
    let rss0 = sys::snapshot().rss;
    let started = Instant::now();
    let (store, instance) = open_first_instance(dir).await?;
    let mut index = PhoneIndex::carrying(normaliser()?);
    let layout = CardLayout::default();
    let mut records = 0;
    let mut building = Duration::ZERO;
    let mut stream = std::pin::pin!(store.stream_records(instance));
    while let Some(cached) = stream.try_next().await? {
        let t = Instant::now();
        let r = cached.record;
        let Ok(id) = SalesforceId::parse(&r.sf_id) else {
            continue;
        };
        let object = ObjectType::parse(&r.object_type).unwrap_or(ObjectType::Other(r.object_type));
        let card = card(&layout, &object, &r.fields);
        let raws: Vec<&str> = r.phones.iter().map(|p| p.raw.as_str()).collect();
        index.insert_in_with(
            RecordRef {
                object,
                id,
                name: r.name,
            },
            &raws,
            None,
            card,
        );
        records += 1;
        building += t.elapsed();
    }
    let elapsed = started.elapsed();
    let rss1 = sys::snapshot().rss;
    let built = Built {
        records,
        numbers: index.number_count(),
        elapsed,
        index_bytes: rss1.saturating_sub(rss0),
        cards_bytes: 0,
    };
    drop(index);
    Ok((built, building))
}

/// The store in `dir` and the id of its (only) instance.
async fn open_first_instance(
    dir: &std::path::Path,
) -> anyhow::Result<(ctibridge_store::SqliteStore, ctibridge_store::InstanceId)> {
    let store = ctibridge_store::SqliteStore::open(dir).await?;
    let instance = store
        .list_instances()
        .await?
        .into_iter()
        .next()
        .context("the store has no instance")?
        .id;
    Ok((store, instance))
}

/// The connector's batched read of the record cache alone (`stream_stored`, batches of 2,000
/// as `Engine::load` reads them), nothing decoded: the floor SQLite sets for a start.
/// Returns the time and the bytes read.
pub async fn read_batches_only(dir: &std::path::Path) -> anyhow::Result<(Duration, usize)> {
    let (store, instance) = open_first_instance(dir).await?;
    let started = Instant::now();
    let mut bytes = 0;
    let mut stream = std::pin::pin!(store.stream_stored(instance, 2_000));
    while let Some(batch) = stream.try_next().await? {
        bytes += batch.text_len();
    }
    Ok((started.elapsed(), bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn generated_records_are_indexed_and_carded() {
        let records = generate(500, 1);
        let (built, index) = build_in_memory(&records).unwrap();
        assert_eq!(built.records, 500);
        // Every generated number is valid, so every record is indexed.
        assert!(built.numbers > 600, "{}", built.numbers);
        assert_eq!(index.len(), 500);
        // And every record has its card, kept with it.
        assert_eq!(index.payloads().flatten().count(), 500);
    }

    #[tokio::test]
    async fn a_crash_leaves_the_changed_records_after_the_last_generation() {
        let dir = tempfile::tempdir().unwrap();
        let records = generate(1_000, 3);
        fill_store(dir.path(), "Load", &records).await.unwrap();
        let (store, instance) = open_first_instance(dir.path()).await.unwrap();
        let before = store.records_generation(instance).await.unwrap();
        let changes = crash_changes(&records, 100).unwrap();
        assert_eq!((changes.changed.len(), changes.deleted.len()), (90, 10));
        apply_crash(dir.path(), &changes).await.unwrap();
        assert_eq!(
            store.count_changed_since(instance, before).await.unwrap(),
            100
        );
        let counts = store.count_records(instance).await.unwrap();
        assert_eq!(counts.iter().map(|c| c.deleted).sum::<u64>(), 10);
    }

    #[tokio::test]
    async fn a_start_from_the_store_reads_back_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let records = generate(3_000, 2);
        fill_store(dir.path(), "Load", &records).await.unwrap();
        let (built, _) = start_from_store(dir.path()).await.unwrap();
        assert_eq!(built.records, 3_000);
        let (mem, _) = build_in_memory(&records).unwrap();
        assert_eq!(built.numbers, mem.numbers);
    }
}
