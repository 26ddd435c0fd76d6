//! The sync against both emulators: full and incremental reads with their API cost, the PBX
//! address book mirroring Salesforce, and the failures the manual knows (hidden fields, the
//! daily limit, a storm of 5xx), each ending in a correct state with nothing lost.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use ctibridge_emulator_salesforce::{Control, RecordOp};
use ctibridge_server::sync::{SyncMode, SyncSummary, run_sync_once};
use ctibridge_starface::rest::{Contact, RestClient};
use ctibridge_store::{InstanceStore, RecordStore, SqliteStore, SyncStateStore};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};

const INSTANCE: &str = "Salesforce Demo";

fn lo() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

struct World {
    org: ctibridge_emulator_salesforce::RunningOrg,
    pbx: ctibridge_emulator_starface::RunningPbx,
    config: Config,
    _dir: tempfile::TempDir,
}

async fn world(contacts: usize, leads: usize, accounts: usize, import: bool) -> World {
    let org = ctibridge_emulator_salesforce::spawn(
        lo(),
        ctibridge_emulator_salesforce::Options {
            contacts,
            leads,
            accounts,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo(
        dir.path().to_path_buf(),
        lo(),
        pbx.url().clone(),
        LoginUrl::parse(org.url().as_str()).unwrap().0,
    );
    config.instances[0].import_contacts = import;
    World {
        org,
        pbx,
        config,
        _dir: dir,
    }
}

impl World {
    fn sf(&self) -> Control {
        self.org.control()
    }

    async fn sync(&self, full: bool) -> SyncSummary {
        tokio::time::timeout(
            Duration::from_secs(120),
            run_sync_once(&self.config, full, |_| {}),
        )
        .await
        .unwrap()
        .unwrap()
    }

    fn rest(&self) -> RestClient {
        RestClient::new(self.pbx.url(), "0001", SecretString::from("admin-pass")).unwrap()
    }

    async fn store(&self) -> (SqliteStore, ctibridge_store::InstanceId) {
        let store = SqliteStore::open(&self.config.server.data_dir)
            .await
            .unwrap();
        let id = store.get_instance(INSTANCE).await.unwrap().unwrap().id;
        (store, id)
    }

    fn api_used(&self) -> u64 {
        self.sf().api_usage().used
    }

    /// PBX writes to the address book so far.
    fn pbx_writes(&self) -> u64 {
        self.pbx
            .control()
            .stats()
            .rest_requests
            .iter()
            .filter(|(k, _)| {
                k.starts_with("POST /rest/contacts")
                    || k.starts_with("PUT /rest/contacts")
                    || k.starts_with("DELETE /rest/contacts")
            })
            .map(|(_, n)| n)
            .sum()
    }
}

fn modes(s: &SyncSummary) -> Vec<(String, Option<SyncMode>)> {
    s.instances[0]
        .objects
        .iter()
        .map(|o| (o.object.clone(), o.mode))
        .collect()
}

fn no_errors(s: &SyncSummary) {
    assert!(s.errors().is_empty(), "{:#?}", s.errors());
}

/// The live records of the org: id -> JSON.
fn org_records(sf: &Control, object: &str) -> BTreeMap<String, Value> {
    sf.records(object)
        .into_iter()
        .filter(|r| r["IsDeleted"] != json!(true))
        .map(|r| (r["Id"].as_str().unwrap().to_owned(), r))
        .collect()
}

/// The cached records of the store: (object, id) -> SystemModstamp.
async fn store_records(w: &World) -> BTreeMap<(String, String), Option<String>> {
    let (store, id) = w.store().await;
    let records: Vec<_> = store.stream_records(id).try_collect().await.unwrap();
    records
        .into_iter()
        .map(|r| {
            (
                (r.record.object_type, r.record.sf_id),
                r.record
                    .system_modstamp
                    .map(|t| t.timestamp_millis().to_string()),
            )
        })
        .collect()
}

/// The store holds exactly the org's live records, each in its latest version.
async fn assert_store_matches_org(w: &World) {
    let sf = w.sf();
    let mut expected = BTreeMap::new();
    for object in ["Contact", "Lead", "Account"] {
        for (id, r) in org_records(&sf, object) {
            let stamp = r["SystemModstamp"].as_str().unwrap();
            let ms = chrono::DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f%z")
                .unwrap()
                .timestamp_millis();
            expected.insert((object.to_owned(), id), Some(ms.to_string()));
        }
    }
    let actual = store_records(w).await;
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(actual, expected);
}

/// Phone values set by the test: (id, field) -> E.164, overriding the seed's truth.
type Truth = HashMap<(String, String), Option<String>>;

fn seeded_truth(sf: &Control) -> Truth {
    sf.expected_numbers()
        .into_iter()
        .map(|n| ((n.id, n.field), n.e164))
        .collect()
}

const PHONE_SLOTS: [(&str, &str); 4] = [
    ("Phone", "PHONE_NUMBER"),
    ("MobilePhone", "MOBILE_PHONE_NUMBER"),
    ("HomePhone", "PRIVATE_PHONE_NUMBER"),
    ("Fax", "FAX_NUMBER"),
];
const OTHER_PHONES: [&str; 3] = ["OtherPhone", "AssistantPhone", "Assistant_Direct__c"];

/// What the PBX should hold: Salesforce id -> surname and numbers by display key.
fn expected_book(sf: &Control, truth: &Truth) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (id, r) in org_records(sf, "Contact") {
        let e164 = |field: &str| -> Option<String> {
            r[field].as_str().filter(|v| !v.trim().is_empty())?;
            truth
                .get(&(id.clone(), field.to_owned()))
                .cloned()
                .flatten()
        };
        let mut values = BTreeMap::new();
        for (field, key) in PHONE_SLOTS {
            if let Some(n) = e164(field) {
                values.insert(key.to_owned(), n);
            }
        }
        if let Some(n) = OTHER_PHONES.iter().find_map(|f| e164(f)) {
            values.insert("OFFICE_PHONE_NUMBER".to_owned(), n);
        }
        if values.is_empty() {
            continue;
        }
        values.insert(
            "SURNAME".to_owned(),
            r["LastName"].as_str().unwrap().to_owned(),
        );
        out.insert(id, values);
    }
    out
}

const COMPARED: [&str; 6] = [
    "SURNAME",
    "PHONE_NUMBER",
    "MOBILE_PHONE_NUMBER",
    "PRIVATE_PHONE_NUMBER",
    "FAX_NUMBER",
    "OFFICE_PHONE_NUMBER",
];

/// What the PBX holds under our tag, by Salesforce id (through the link table).
async fn actual_book(w: &World) -> BTreeMap<String, BTreeMap<String, String>> {
    let rest = w.rest();
    let tag = rest
        .contact_tags()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "Salesforce")
        .unwrap();
    let tagged = rest
        .all_contacts(std::slice::from_ref(&tag.id))
        .await
        .unwrap();
    let (store, id) = w.store().await;
    let by_pbx: HashMap<String, String> = store
        .list_contact_links(id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.starface_contact_id, l.sf_id))
        .collect();
    assert_eq!(by_pbx.len(), tagged.len(), "one tagged contact per link");
    let mut out = BTreeMap::new();
    for summary in tagged {
        let c = rest.contact(&summary.id).await.unwrap().unwrap();
        assert!(c.has_tag(&tag));
        let values = COMPARED
            .iter()
            .filter_map(|k| c.value(k).map(|v| ((*k).to_owned(), v.to_owned())))
            .collect();
        let sf_id = by_pbx
            .get(&summary.id)
            .cloned()
            .unwrap_or_else(|| panic!("contact {} has no link", summary.id));
        assert!(
            out.insert(sf_id, values).is_none(),
            "two contacts for one record"
        );
    }
    out
}

async fn assert_book_matches_org(w: &World, truth: &Truth) {
    let expected = expected_book(&w.sf(), truth);
    let actual = actual_book(w).await;
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(actual, expected);
}

/// Every contact of the book that is not ours, in full.
async fn foreign_contacts(w: &World) -> BTreeMap<String, Contact> {
    let rest = w.rest();
    let mut out = BTreeMap::new();
    for s in rest.all_contacts(&[]).await.unwrap() {
        let c = rest.contact(&s.id).await.unwrap().unwrap();
        if !c.tags.iter().any(|t| t.name == "Salesforce") {
            out.insert(s.id, c);
        }
    }
    out
}

fn create(sf: &Control, object: &str, fields: Value) -> String {
    sf.record(RecordOp::Create {
        object: object.to_owned(),
        fields: fields.as_object().unwrap().clone(),
    })
    .unwrap()
}

fn update(sf: &Control, id: &str, fields: Value) {
    sf.record(RecordOp::Update {
        id: id.to_owned(),
        fields: fields.as_object().unwrap().clone(),
    })
    .unwrap();
}

/// Deletes a record a little more than a minute ago: `deleted/` reports whole minutes that
/// have passed, so a deletion of this very minute would show only in the next one.
fn delete_a_minute_ago(sf: &Control, id: &str) {
    let at = (chrono::Utc::now() - chrono::TimeDelta::seconds(61)).to_rfc3339();
    sf.record(RecordOp::Delete {
        id: id.to_owned(),
        at: Some(at),
    })
    .unwrap();
}

/// A seeded contact with a business phone, and one without any phone.
fn some_contacts(sf: &Control) -> (String, String) {
    let contacts = org_records(sf, "Contact");
    let with_phone = contacts
        .iter()
        .find(|(_, r)| r["Phone"].as_str().is_some_and(|p| p.starts_with('+')))
        .map(|(id, _)| id.clone())
        .unwrap();
    let other = contacts
        .keys()
        .find(|id| **id != with_phone)
        .cloned()
        .unwrap();
    (with_phone, other)
}

#[tokio::test]
async fn full_sync_of_25000_records_costs_one_call_per_2000_records_and_object() {
    let w = world(15_000, 7_000, 3_000, false).await;
    let before = w.api_used();
    let pages = std::sync::Mutex::new(Vec::new());
    let summary = run_sync_once(&w.config, false, |p| {
        pages.lock().unwrap().push(p);
    })
    .await
    .unwrap();
    no_errors(&summary);
    // describe + ceil(n / 2000) per object: 1 + 8, 1 + 4, 1 + 2.
    let expected = 3 + 8 + 4 + 2;
    assert_eq!(w.api_used() - before, expected);
    assert_eq!(summary.instances[0].api_calls, expected);
    let read: u64 = summary.instances[0]
        .objects
        .iter()
        .map(|o| o.records_read)
        .sum();
    assert_eq!(read, 25_000);
    assert!(
        modes(&summary)
            .iter()
            .all(|(_, m)| *m == Some(SyncMode::Full))
    );
    assert_store_matches_org(&w).await;
    // The progress bar hears of every page with the total Salesforce announced.
    let pages = pages.into_inner().unwrap();
    let contact_pages: Vec<_> = pages
        .iter()
        .filter(|p| p.object == "Contact" && p.total.is_some())
        .collect();
    assert_eq!(contact_pages.len(), 8);
    assert_eq!(contact_pages.last().unwrap().done, 15_000);
    assert!(contact_pages.iter().all(|p| p.total == Some(15_000)));
}

#[tokio::test]
async fn incremental_sync_picks_up_creates_updates_and_deletes_and_the_address_book_follows() {
    let w = world(200, 60, 30, true).await;
    let sf = w.sf();
    let foreign_before = foreign_contacts(&w).await;
    assert!(!foreign_before.is_empty());
    let mut truth = seeded_truth(&sf);

    let first = w.sync(false).await;
    no_errors(&first);
    assert!(first.instances[0].export.as_ref().unwrap().counts.created > 0);
    assert_store_matches_org(&w).await;
    assert_book_matches_org(&w, &truth).await;

    // Changes on the org, made without API cost.
    let created = create(
        &sf,
        "Contact",
        json!({"FirstName": "Neu", "LastName": "Kundin", "Phone": "+49 30 5550001", "MailingCountry": "Germany"}),
    );
    truth.insert(
        (created.clone(), "Phone".into()),
        Some("+49305550001".into()),
    );
    let no_phone = create(&sf, "Contact", json!({"LastName": "Ohne Nummer"}));
    let lead = create(
        &sf,
        "Lead",
        json!({"LastName": "Lead", "Company": "Acme", "MobilePhone": "+49 171 5550002"}),
    );
    let (changed, vanishing) = some_contacts(&sf);
    update(
        &sf,
        &changed,
        json!({"LastName": "Umbenannt", "MobilePhone": "+49 171 5550003"}),
    );
    truth.insert(
        (changed.clone(), "MobilePhone".into()),
        Some("+491715550003".into()),
    );
    delete_a_minute_ago(&sf, &vanishing);
    let account = org_records(&sf, "Account").keys().next().cloned().unwrap();
    delete_a_minute_ago(&sf, &account);

    let before = w.api_used();
    let second = w.sync(false).await;
    no_errors(&second);
    assert!(
        modes(&second)
            .iter()
            .all(|(_, m)| *m == Some(SyncMode::Incremental)),
        "{:?}",
        modes(&second)
    );
    // describe, changes and deletions of each object.
    assert_eq!(w.api_used() - before, 9);
    let contact = &second.instances[0].objects[0];
    assert_eq!((contact.records_read, contact.records_deleted), (3, 1));
    let store = store_records(&w).await;
    assert!(store.contains_key(&("Contact".into(), created.clone())));
    assert!(store.contains_key(&("Contact".into(), no_phone.clone())));
    assert!(store.contains_key(&("Lead".into(), lead)));
    assert!(!store.contains_key(&("Account".into(), account)));
    assert_store_matches_org(&w).await;
    assert_book_matches_org(&w, &truth).await;

    // A contact loses its last number: it leaves the address book.
    let mut phones = json!({});
    for f in [
        "Phone",
        "MobilePhone",
        "HomePhone",
        "OtherPhone",
        "AssistantPhone",
        "Fax",
        "Assistant_Direct__c",
    ] {
        phones[f] = Value::Null;
    }
    update(&sf, &created, phones);
    no_errors(&w.sync(false).await);
    assert_book_matches_org(&w, &truth).await;

    // Nothing changed: nothing is written to the PBX.
    let writes = w.pbx_writes();
    let idle = w.sync(false).await;
    no_errors(&idle);
    assert_eq!(w.pbx_writes(), writes, "{:?}", idle.instances[0].export);
    assert_book_matches_org(&w, &truth).await;

    // Someone else's contacts are never touched.
    assert_eq!(foreign_contacts(&w).await, foreign_before);
}

#[tokio::test]
async fn turning_the_import_off_removes_only_the_contacts_we_made() {
    let w = world(60, 10, 10, true).await;
    let foreign = foreign_contacts(&w).await;
    let first = w.sync(false).await;
    no_errors(&first);
    let exported = first.instances[0]
        .export
        .as_ref()
        .unwrap()
        .exported
        .unwrap();
    assert!(exported > 0);
    let (store, id) = w.store().await;
    let removed = ctibridge_server::sync::remove_exported_contacts(&w.config, &store, INSTANCE)
        .await
        .unwrap();
    assert_eq!(removed, exported);
    assert!(store.list_contact_links(id).await.unwrap().is_empty());
    assert_eq!(foreign_contacts(&w).await, foreign);
    let rest = w.rest();
    let left = rest.all_contacts(&[]).await.unwrap();
    assert_eq!(left.len(), foreign.len());
}

#[tokio::test]
async fn a_restart_resumes_from_the_watermark_without_a_full_sync() {
    let w = world(9_000, 4_500, 50, false).await;
    let before = w.api_used();
    let first = w.sync(false).await;
    no_errors(&first);
    let full_cost = w.api_used() - before;
    assert_eq!(full_cost, 3 + 5 + 3 + 1);
    let (store, id) = w.store().await;
    let marks = store.list_watermarks(id).await.unwrap();
    assert_eq!(marks.len(), 3);
    drop(store);

    let created = create(
        &w.sf(),
        "Account",
        json!({"Name": "Neu GmbH", "Phone": "+49 89 5550004"}),
    );
    // A new run is a new process as far as the sync knows: it has only the store.
    let before = w.api_used();
    let again = w.sync(false).await;
    no_errors(&again);
    assert!(
        modes(&again)
            .iter()
            .all(|(_, m)| *m == Some(SyncMode::Incremental))
    );
    assert_eq!(
        w.api_used() - before,
        9,
        "describe, changes and deletions per object"
    );
    assert_eq!(again.instances[0].objects[2].records_read, 1);
    let (store, id) = w.store().await;
    for (old, new) in marks.iter().zip(store.list_watermarks(id).await.unwrap()) {
        assert_eq!(
            old.last_full_at, new.last_full_at,
            "no new full sync of {}",
            new.object_type
        );
    }
    assert!(
        store
            .get_record(id, "Account", &created)
            .await
            .unwrap()
            .is_some()
    );

    // --full reads everything again.
    let full = w.sync(true).await;
    assert!(modes(&full).iter().all(|(_, m)| *m == Some(SyncMode::Full)));
}

#[tokio::test]
async fn a_hidden_field_names_object_and_field_and_the_sync_recovers_after_the_fix() {
    let w = world(120, 40, 20, true).await;
    let sf = w.sf();
    let truth = seeded_truth(&sf);
    no_errors(&w.sync(false).await);

    sf.hide_field("Contact.OwnerId").unwrap();
    let created = create(
        &sf,
        "Contact",
        json!({"LastName": "Wartend", "Phone": "+49 40 5550005"}),
    );
    let mut truth = truth;
    truth.insert(
        (created.clone(), "Phone".into()),
        Some("+49405550005".into()),
    );
    let blocked = w.sync(false).await;
    let contact = &blocked.instances[0].objects[0];
    let error = contact.error.as_deref().unwrap();
    assert!(error.contains("Contact.OwnerId"), "{error}");
    assert!(error.contains("Set Field-Level Security"), "{error}");
    assert_eq!(contact.mode, None);
    // Leads and Accounts go on.
    assert!(
        blocked.instances[0].objects[1..]
            .iter()
            .all(|o| o.error.is_none())
    );
    let (store, id) = w.store().await;
    assert!(
        store
            .get_record(id, "Contact", &created)
            .await
            .unwrap()
            .is_none()
    );

    sf.show_field("Contact.OwnerId").unwrap();
    let fixed = w.sync(false).await;
    no_errors(&fixed);
    assert_eq!(
        fixed.instances[0].objects[0].mode,
        Some(SyncMode::Incremental)
    );
    assert!(
        store
            .get_record(id, "Contact", &created)
            .await
            .unwrap()
            .is_some()
    );
    assert_store_matches_org(&w).await;
    assert_book_matches_org(&w, &truth).await;
}

#[tokio::test]
async fn a_spent_daily_limit_pauses_the_sync_and_loses_nothing() {
    let w = world(100, 30, 20, true).await;
    let sf = w.sf();
    let mut truth = seeded_truth(&sf);
    no_errors(&w.sync(false).await);

    let limit = sf.api_usage().limit;
    sf.set_api_used(limit);
    let created = create(
        &sf,
        "Contact",
        json!({"LastName": "Spaeter", "Phone": "+49 69 5550006"}),
    );
    truth.insert(
        (created.clone(), "Phone".into()),
        Some("+49695550006".into()),
    );
    let paused = w.sync(false).await;
    let reason = paused.instances[0].paused.as_deref().unwrap();
    assert!(reason.contains("limit"), "{reason}");
    assert!(
        paused.instances[0].export.is_none(),
        "no export while paused"
    );
    let (store, id) = w.store().await;
    assert!(
        store
            .get_record(id, "Contact", &created)
            .await
            .unwrap()
            .is_none()
    );

    sf.set_api_used(0);
    let resumed = w.sync(false).await;
    no_errors(&resumed);
    assert!(
        store
            .get_record(id, "Contact", &created)
            .await
            .unwrap()
            .is_some()
    );
    assert_store_matches_org(&w).await;
    assert_book_matches_org(&w, &truth).await;
}

#[tokio::test]
async fn a_storm_of_server_errors_ends_in_the_state_of_a_calm_sync() {
    let w = world(150, 50, 25, true).await;
    let sf = w.sf();
    let mut truth = seeded_truth(&sf);
    let created = create(
        &sf,
        "Contact",
        json!({"LastName": "Sturm", "Phone": "+49 211 5550007"}),
    );
    truth.insert(
        (created.clone(), "Phone".into()),
        Some("+492115550007".into()),
    );
    sf.set_fail_rate(0.5, 503).unwrap();
    sf.expire_tokens_now();
    let mut runs = 0;
    loop {
        runs += 1;
        let s = w.sync(false).await;
        if s.errors().is_empty() {
            break;
        }
        assert!(
            runs < 10,
            "still failing after {runs} runs: {:?}",
            s.errors()
        );
        // Each run starts from what the last one stored.
    }
    let (changed, vanishing) = some_contacts(&sf);
    update(&sf, &changed, json!({"LastName": "Nach dem Sturm"}));
    delete_a_minute_ago(&sf, &vanishing);
    loop {
        runs += 1;
        let s = w.sync(false).await;
        if s.errors().is_empty() {
            break;
        }
        assert!(
            runs < 20,
            "still failing after {runs} runs: {:?}",
            s.errors()
        );
    }
    sf.set_fail_rate(0.0, 503).unwrap();
    no_errors(&w.sync(false).await);
    assert_store_matches_org(&w).await;
    assert_book_matches_org(&w, &truth).await;
}

#[tokio::test]
async fn a_purged_deletion_log_falls_back_to_a_full_sync() {
    let w = world(80, 20, 10, false).await;
    let sf = w.sf();
    no_errors(&w.sync(false).await);
    no_errors(&w.sync(false).await);
    sf.apply(ctibridge_emulator_salesforce::FaultUpdate {
        purge_delete_log: Some(true),
        ..Default::default()
    })
    .unwrap();
    let gone = org_records(&sf, "Contact").keys().next().cloned().unwrap();
    sf.record(RecordOp::Delete {
        id: gone.clone(),
        at: None,
    })
    .unwrap();
    let s = w.sync(false).await;
    no_errors(&s);
    assert_eq!(s.instances[0].objects[0].mode, Some(SyncMode::Full));
    assert_eq!(s.instances[0].objects[0].records_deleted, 1);
    let (store, id) = w.store().await;
    assert!(
        store
            .get_record(id, "Contact", &gone)
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
    assert_store_matches_org(&w).await;
}

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_running_service_keeps_index_status_and_address_book_current() {
    let w = world(150, 40, 20, true).await;
    let sf = w.sf();
    let mut config = w.config.clone();
    config.instances[0].sync_interval = Duration::from_secs(1);
    let running = ctibridge_server::start(config, None).await.unwrap();
    let state = running.state().clone();
    let contact_status = |s: &ctibridge_server::status::SystemStatus| {
        s.instances[0]
            .sync
            .objects
            .get("Contact")
            .cloned()
            .unwrap_or_default()
    };
    eventually("the first sync and export", async || {
        let s = state.status();
        state.lookup(INSTANCE).is_some()
            && s.instances[0]
                .sync
                .export
                .as_ref()
                .is_some_and(|e| e.contacts_exported.is_some())
    })
    .await;

    // A contact made in Salesforce reaches the index and the PBX within a few cycles.
    let number = ctibridge_domain::E164::parse("+49305550100").unwrap();
    let created = create(
        &sf,
        "Contact",
        json!({"LastName": "Live", "Phone": "+49 30 5550100"}),
    );
    eventually("the new contact in the index", async || {
        state.lookup(INSTANCE).is_some_and(|l| {
            l.index
                .lookup(&number)
                .iter()
                .any(|m| m.record.id.to_string() == created)
        })
    })
    .await;
    eventually("the new contact on the PBX", async || {
        let (store, id) = w.store().await;
        let Some(link) = store.get_contact_link(id, &created).await.unwrap() else {
            return false;
        };
        let c = w
            .rest()
            .contact(&link.starface_contact_id)
            .await
            .unwrap()
            .unwrap();
        c.value("SURNAME") == Some("Live") && c.value("PHONE_NUMBER") == Some("+49305550100")
    })
    .await;
    let lookup = state.lookup(INSTANCE).unwrap();
    let card = lookup
        .cards
        .get(&ctibridge_domain::SalesforceId::parse(&created).unwrap())
        .unwrap();
    assert_eq!(card.name, "Live");

    // A record ctibridge made itself is found at once, before any sync.
    let learned_id = ctibridge_domain::SalesforceId::parse("00Q0000000LeArN").unwrap();
    let learned_number = ctibridge_domain::E164::parse("+49305550200").unwrap();
    let record = ctibridge_store::Record {
        object_type: "Lead".into(),
        sf_id: learned_id.to_string(),
        name: "Neuer Anrufer".into(),
        fields: serde_json::Map::new(),
        phones: vec![ctibridge_store::PhoneValue {
            field: "Phone".into(),
            raw: "030 5550200".into(),
            e164: None,
        }],
        system_modstamp: None,
    };
    ctibridge_server::sync::learn_record(&state, INSTANCE, &record).unwrap();
    let found = lookup.index.lookup(&learned_number);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.id, learned_id);

    // Field-level security hides a field the running sync reads: its query gets 400.
    sf.hide_field("Contact.OwnerId").unwrap();
    eventually("the hidden field in the status", async || {
        contact_status(&state.status())
            .error
            .is_some_and(|e| e.contains("Contact.OwnerId"))
    })
    .await;
    let body: Value = reqwest::get(format!("http://{}/api/status", running.local_addr()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let error = body["instances"][0]["sync"]["objects"]["Contact"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("Set Field-Level Security"), "{error}");
    assert!(body["instances"][0]["sync"]["objects"]["Lead"]["error"].is_null());
    sf.show_field("Contact.OwnerId").unwrap();
    eventually("recovery after the fix", async || {
        contact_status(&state.status()).error.is_none()
    })
    .await;

    // The daily limit: the sync pauses, says so, and resumes when requests are back.
    let limit = sf.api_usage().limit;
    sf.set_api_used(limit);
    eventually("the pause", async || {
        state.status().instances[0].sync.paused.is_some()
    })
    .await;
    let reason = state.status().instances[0]
        .sync
        .paused
        .clone()
        .unwrap()
        .reason;
    assert!(
        reason.contains("REQUEST_LIMIT_EXCEEDED") || reason.contains("limit"),
        "{reason}"
    );
    let resumed = create(
        &sf,
        "Account",
        json!({"Name": "Nach der Pause", "Phone": "+49 89 5550300"}),
    );
    sf.set_api_used(0);
    eventually("the resumed sync", async || {
        let s = state.status();
        s.instances[0].sync.paused.is_none()
            && s.instances[0].sync.objects["Account"].error.is_none()
            && state.lookup(INSTANCE).is_some_and(|l| {
                !l.index
                    .lookup(&ctibridge_domain::E164::parse("+49895550300").unwrap())
                    .is_empty()
            })
    })
    .await;
    let s = state.status();
    let inst = &s.instances[0];
    assert!(inst.api_calls_used > 0);
    assert!(
        inst.sync
            .limit_info
            .as_deref()
            .is_some_and(|l| l.starts_with("api-usage="))
    );
    assert!(
        inst.sync
            .objects
            .values()
            .all(|o| o.last_incremental_sync.is_some())
    );
    assert!(
        store_records(&w)
            .await
            .contains_key(&("Account".into(), resumed))
    );
    running.shutdown().await;
}

/// Starts the connector on `config` for the admin API; answers it and its base URL.
async fn serve_admin(config: Config) -> (ctibridge_server::Running, String) {
    let listener = tokio::net::TcpListener::bind(lo()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let running = ctibridge_server::start_on(config, listener).await.unwrap();
    (running, base)
}

#[tokio::test]
async fn with_import_turned_off_the_admin_page_offers_to_remove_our_contacts_and_removes_only_those()
 {
    let w = world(60, 10, 10, true).await;
    let foreign = foreign_contacts(&w).await;
    let first = w.sync(false).await;
    no_errors(&first);
    let exported = first.instances[0]
        .export
        .as_ref()
        .unwrap()
        .exported
        .unwrap();
    assert!(exported > 0);
    let path = format!(
        "/admin/api/instances/{}/remove-imported",
        INSTANCE.replace(' ', "%20")
    );

    // While the running instance still imports, its next sync would make them again: refused.
    let (running, base) = serve_admin(w.config.clone()).await;
    let admin = support::admin::Admin::sign_in(&base).await;
    let listed = admin.get_json("/admin/api/instances").await;
    assert_eq!(listed["imported_left"], json!({}), "{listed}");
    let (status, body) = admin.call(reqwest::Method::POST, &path, None).await;
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    running.shutdown().await;
    assert_eq!(
        w.rest().all_contacts(&[]).await.unwrap().len(),
        foreign.len() + exported as usize
    );

    // Import off: the page names what is left and removes exactly that.
    let mut config = w.config.clone();
    config.instances[0].import_contacts = false;
    let (running, base) = serve_admin(config).await;
    let admin = support::admin::Admin::sign_in(&base).await;
    let listed = admin.get_json("/admin/api/instances").await;
    assert_eq!(listed["imported_left"][INSTANCE], exported, "{listed}");
    let (status, body) = admin.call(reqwest::Method::POST, &path, None).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["removed"], exported);
    assert_eq!(foreign_contacts(&w).await, foreign);
    assert_eq!(
        w.rest().all_contacts(&[]).await.unwrap().len(),
        foreign.len()
    );
    let listed = admin.get_json("/admin/api/instances").await;
    assert_eq!(listed["imported_left"], json!({}), "{listed}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_restart_after_a_crash_applies_the_records_changed_since_the_snapshot_unless_some_were_purged()
 {
    let w = world(120, 40, 20, false).await;
    let (config, running) = started_and_synced(&w).await;
    running.shutdown().await;
    w.sf()
        .apply(ctibridge_emulator_salesforce::FaultUpdate {
            fail_rate: Some(1.0),
            fail_status: Some(503),
            ..Default::default()
        })
        .unwrap();

    // Records change after the snapshot was written and no snapshot follows, as when the
    // process is killed between two snapshots: a Contact gets a new number, one is deleted in
    // Salesforce, one is new.
    let (store, id) = w.store().await;
    let cached: Vec<_> = store.stream_records(id).try_collect().await.unwrap();
    let e164 = |r: &ctibridge_store::Record| -> Vec<ctibridge_domain::E164> {
        r.phones
            .iter()
            .filter_map(|p| ctibridge_domain::E164::parse(p.e164.as_deref()?).ok())
            .collect()
    };
    let mut owners: HashMap<ctibridge_domain::E164, usize> = HashMap::new();
    for c in &cached {
        for n in e164(&c.record) {
            *owners.entry(n).or_default() += 1;
        }
    }
    // Contacts whose numbers no other record has: what the ring path finds for them is theirs.
    let mut own = cached.iter().map(|c| &c.record).filter(|r| {
        r.object_type == "Contact" && !e164(r).is_empty() && e164(r).iter().all(|n| owners[n] == 1)
    });
    let mut moved = own.next().unwrap().clone();
    let gone = own.next().unwrap().clone();
    let old_numbers = e164(&moved);
    moved.phones = vec![phone("+49 30 5550111", "+49305550111")];
    let added = cached_record(
        "Lead",
        "00Q000000000777",
        json!({"Name": "Neu Interessent", "Company": "Neu GmbH"}),
        phone("+49 30 5550777", "+49305550777"),
    );
    store
        .upsert_records(id, &[moved.clone(), added])
        .await
        .unwrap();
    store
        .mark_records_deleted(id, "Contact", std::slice::from_ref(&gone.sf_id))
        .await
        .unwrap();

    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "snapshot + 3 changed records");
    let mut probes = cached_numbers(&w).await;
    probes.extend(old_numbers.iter().cloned());
    probes.extend(e164(&gone));
    let after_crash = ring_view(running.state(), &probes);
    running.shutdown().await;
    let moved_to = after_crash["+49305550111"].join(" ");
    assert!(moved_to.contains(&moved.sf_id), "{after_crash:?}");
    for n in &old_numbers {
        assert_eq!(after_crash[n.as_str()], Vec::<String>::new(), "{n}");
    }
    for n in e164(&gone) {
        assert_eq!(after_crash[n.as_str()], Vec::<String>::new(), "{n}");
    }
    assert!(
        after_crash["+49305550777"][0].contains("Neu Interessent"),
        "{after_crash:?}"
    );

    // Exactly what a start from every cached row gives.
    let snapshot = config
        .server
        .data_dir
        .join("snapshots")
        .join(format!("instance-{}.bin", id.0));
    std::fs::remove_file(&snapshot).unwrap();
    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "record cache");
    assert_eq!(ring_view(running.state(), &probes), after_crash);
    running.shutdown().await;

    // The deleted Contact is purged after that start's snapshot: no delta can say so, and the
    // next start reads the cache.
    let purged = store
        .purge_deleted_records(id, chrono::Utc::now() + chrono::TimeDelta::seconds(1))
        .await
        .unwrap();
    assert!(purged >= 1, "{purged}");
    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "record cache");
    assert_eq!(ring_view(running.state(), &probes), after_crash);
    running.shutdown().await;
    // Its snapshot is current again.
    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "snapshot");
    assert_eq!(ring_view(running.state(), &probes), after_crash);
    running.shutdown().await;
}

/// Every E.164 number of the record cache.
async fn cached_numbers(w: &World) -> Vec<ctibridge_domain::E164> {
    let (store, id) = w.store().await;
    let records: Vec<_> = store.stream_records(id).try_collect().await.unwrap();
    let mut numbers: Vec<_> = records
        .iter()
        .flat_map(|r| r.record.phones.iter())
        .filter_map(|p| ctibridge_domain::E164::parse(p.e164.as_deref()?).ok())
        .collect();
    numbers.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    numbers.dedup();
    numbers
}

/// What the ring path finds for each number: the matches and their cards.
fn ring_view(
    state: &ctibridge_server::state::AppState,
    numbers: &[ctibridge_domain::E164],
) -> BTreeMap<String, Vec<String>> {
    let lookup = state.lookup(INSTANCE).unwrap();
    numbers
        .iter()
        .map(|n| {
            let found = lookup
                .index
                .lookup(n)
                .into_iter()
                .map(|m| format!("{m:?} {:?}", lookup.cards.get(&m.record.id)))
                .collect();
            (n.as_str().to_owned(), found)
        })
        .collect()
}

async fn start_and_load(
    config: &Config,
) -> (
    ctibridge_server::Running,
    ctibridge_server::status::IndexLoad,
) {
    let running = ctibridge_server::start(config.clone(), None).await.unwrap();
    let state = running.state().clone();
    eventually("the index of the start", async || {
        state.status().instances[0].sync.index_loaded.is_some()
    })
    .await;
    let loaded = state.status().instances[0]
        .sync
        .index_loaded
        .clone()
        .unwrap();
    (running, loaded)
}

#[tokio::test]
async fn a_restart_takes_the_index_from_its_snapshot_only_while_the_cached_records_are_unchanged() {
    let w = world(120, 40, 20, false).await;
    // The first run reads the org; its shutdown saves the snapshot.
    let (config, running) = started_and_synced(&w).await;
    let state = running.state().clone();
    assert_eq!(state.status().instances[0].sync.index_loaded, None);
    let numbers = cached_numbers(&w).await;
    assert!(numbers.len() > 150, "{}", numbers.len());
    let before = ring_view(&state, &numbers);
    assert!(before.values().all(|found| !found.is_empty()));
    running.shutdown().await;
    let (store, id) = w.store().await;
    let snapshot = config
        .server
        .data_dir
        .join("snapshots")
        .join(format!("instance-{}.bin", id.0));
    assert!(snapshot.is_file());

    // From here on the org is down: only the start fills the index.
    w.sf()
        .apply(ctibridge_emulator_salesforce::FaultUpdate {
            fail_rate: Some(1.0),
            fail_status: Some(503),
            ..Default::default()
        })
        .unwrap();
    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "snapshot");
    assert_eq!(ring_view(running.state(), &numbers), before);
    running.shutdown().await;

    // A record changes in the cache (as `ctibridge sync` in another process does): the
    // start brings the snapshot up to date with it.
    let added = cached_record(
        "Contact",
        "003000000000999",
        json!({"Name": "Neu Kontakt", "Email": "neu@example.com"}),
        phone("+49 30 5550999", "+49305550999"),
    );
    store.upsert_records(id, &[added]).await.unwrap();
    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "snapshot + 1 changed records");
    assert_eq!(ring_view(running.state(), &numbers), before);
    let new = ctibridge_domain::E164::parse("+49305550999").unwrap();
    let found = ring_view(running.state(), std::slice::from_ref(&new));
    assert!(
        found["+49305550999"][0].contains("Neu Kontakt"),
        "{found:?}"
    );
    running.shutdown().await;

    // That start saved a new snapshot; damaged, it is not used (and replaced by the read
    // of the record cache).
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&snapshot, &bytes).unwrap();
    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "record cache");
    assert_eq!(ring_view(running.state(), &numbers), before);
    running.shutdown().await;
    let (running, loaded) = start_and_load(&config).await;
    assert_eq!(loaded.from, "snapshot");
    assert_eq!(ring_view(running.state(), &numbers), before);
    assert_eq!(
        ring_view(running.state(), std::slice::from_ref(&new)),
        found
    );
    running.shutdown().await;
}

/// The connector on the world's org, once its first sync cycle is done; the next one is an
/// hour away, so that only starts and what a test does change the cache.
async fn started_and_synced(w: &World) -> (Config, ctibridge_server::Running) {
    let mut config = w.config.clone();
    config.instances[0].sync_interval = Duration::from_secs(3600);
    let running = ctibridge_server::start(config.clone(), None).await.unwrap();
    let state = running.state().clone();
    eventually("the first sync", async || {
        state.status().instances[0].sync.last_cycle_at.is_some()
    })
    .await;
    (config, running)
}

/// A phone value as the sync stores it: as typed, with its E.164 form.
fn phone(raw: &str, e164: &str) -> ctibridge_store::PhoneValue {
    ctibridge_store::PhoneValue {
        field: "Phone".into(),
        raw: raw.into(),
        e164: Some(e164.into()),
    }
}

/// A record as the sync caches it, written straight into the store (as `ctibridge sync` in
/// another process, or a cycle a crash cut short, leaves it); the name is `fields.Name`.
fn cached_record(
    object: &str,
    id: &str,
    fields: serde_json::Value,
    phone: ctibridge_store::PhoneValue,
) -> ctibridge_store::Record {
    let fields = fields.as_object().cloned().unwrap_or_default();
    ctibridge_store::Record {
        object_type: object.into(),
        sf_id: id.into(),
        name: fields
            .get("Name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .into(),
        fields,
        phones: vec![phone],
        system_modstamp: None,
    }
}
