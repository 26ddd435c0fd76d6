//! The record cache.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ctibridge_store::{PhoneValue, Record, RecordCount, RecordKey, RecordStore};
use futures::TryStreamExt;
use pretty_assertions::assert_eq;
use serde_json::json;

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, minute, 0).unwrap()
}

fn contact(n: usize, modstamp: DateTime<Utc>) -> Record {
    let mut fields = serde_json::Map::new();
    fields.insert("AccountName".into(), json!(format!("Firma {}", n % 100)));
    Record {
        object_type: "Contact".into(),
        sf_id: format!("003{n:015}"),
        name: format!("Kontakt {n}"),
        fields,
        phones: vec![PhoneValue {
            field: "Phone".into(),
            raw: format!("+49 (0)30 {n:07}"),
            e164: Some(format!("+4930{n:07}")),
        }],
        system_modstamp: Some(modstamp),
    }
}

#[tokio::test]
async fn fifty_thousand_records_upsert_and_stream_back() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let records: Vec<Record> = (0..50_000).map(|n| contact(n, t(0))).collect();

    let started = Instant::now();
    let mut written = 0;
    for page in records.chunks(2_000) {
        written += store.upsert_records(sales.id, page).await.unwrap();
    }
    let upsert_time = started.elapsed();
    assert_eq!(written, 50_000);

    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut stream = std::pin::pin!(store.stream_records(sales.id));
    while let Some(cached) = stream.try_next().await.unwrap() {
        assert!(!cached.deleted);
        assert_eq!(cached.record.phones.len(), 1);
        seen.insert(cached.record.sf_id);
    }
    let stream_time = started.elapsed();
    assert_eq!(seen.len(), 50_000);
    eprintln!("50k records: upsert {upsert_time:?}, stream {stream_time:?}");

    let one = store
        .get_record(sales.id, "Contact", &records[4711].sf_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.record, records[4711]);
    assert_eq!(
        store.count_records(sales.id).await.unwrap(),
        vec![RecordCount {
            object_type: "Contact".into(),
            live: 50_000,
            deleted: 0
        }]
    );
}

#[tokio::test]
async fn an_older_version_never_replaces_a_newer_one() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let mut newer = contact(1, t(10));
    newer.name = "Newer".into();
    store
        .upsert_records(sales.id, &[newer.clone()])
        .await
        .unwrap();

    let mut older = contact(1, t(5));
    older.name = "Older".into();
    assert_eq!(store.upsert_records(sales.id, &[older]).await.unwrap(), 0);
    let got = store
        .get_record(sales.id, "Contact", &newer.sf_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.record.name, "Newer");

    let mut newest = contact(1, t(20));
    newest.name = "Newest".into();
    assert_eq!(store.upsert_records(sales.id, &[newest]).await.unwrap(), 1);
    let got = store
        .get_record(sales.id, "Contact", &newer.sf_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.record.name, "Newest");
}

#[tokio::test]
async fn deleted_records_leave_the_stream_and_can_be_purged_or_revived() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let records: Vec<Record> = (0..10).map(|n| contact(n, t(0))).collect();
    store.upsert_records(sales.id, &records).await.unwrap();

    let gone = vec![
        records[2].sf_id.clone(),
        records[7].sf_id.clone(),
        "003unknown".into(),
    ];
    assert_eq!(
        store
            .mark_records_deleted(sales.id, "Contact", &gone)
            .await
            .unwrap(),
        2
    );
    // Marking again changes nothing.
    assert_eq!(
        store
            .mark_records_deleted(sales.id, "Contact", &gone)
            .await
            .unwrap(),
        0
    );
    let live: Vec<_> = store.stream_records(sales.id).try_collect().await.unwrap();
    assert_eq!(live.len(), 8);
    // A start reads the same live records, and decodes them to what was written.
    let batches = stored_batches(&store, sales.id, 3).await;
    assert_eq!(batches.len(), 3);
    let mut stored: Vec<Record> = batches.iter().flat_map(|b| b.decode().unwrap()).collect();
    stored.sort_by(|a, b| a.sf_id.cmp(&b.sf_id));
    let mut want: Vec<Record> = live.into_iter().map(|c| c.record).collect();
    want.sort_by(|a, b| a.sf_id.cmp(&b.sf_id));
    assert_eq!(stored, want);
    assert_eq!(
        store.deleted_record_keys(sales.id).await.unwrap(),
        vec![
            RecordKey {
                object_type: "Contact".into(),
                sf_id: records[2].sf_id.clone()
            },
            RecordKey {
                object_type: "Contact".into(),
                sf_id: records[7].sf_id.clone()
            },
        ]
    );
    assert_eq!(store.count_records(sales.id).await.unwrap()[0].deleted, 2);

    // Undeleted in Salesforce: the next sync brings it back.
    store
        .upsert_records(sales.id, &[contact(2, t(30))])
        .await
        .unwrap();
    assert_eq!(store.deleted_record_keys(sales.id).await.unwrap().len(), 1);

    assert_eq!(
        store
            .purge_deleted_records(sales.id, Utc::now() - Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_deleted_records(sales.id, Utc::now() + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .get_record(sales.id, "Contact", &records[7].sf_id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn records_of_one_instance_stay_out_of_another() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let support = common::instance(&store, "Support").await;
    store
        .upsert_records(sales.id, &[contact(1, t(0)), contact(2, t(0))])
        .await
        .unwrap();
    store
        .upsert_records(support.id, &[contact(1, t(0))])
        .await
        .unwrap();
    let support_rows: Vec<_> = store
        .stream_records(support.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(support_rows.len(), 1);
    assert_eq!(support_rows[0].instance_id, support.id);
}

#[tokio::test]
async fn an_empty_batch_is_a_no_op() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    assert_eq!(store.upsert_records(sales.id, &[]).await.unwrap(), 0);
    assert_eq!(
        store
            .mark_records_deleted(sales.id, "Contact", &[])
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_start_reads_names_and_fields_with_quotes_and_umlauts_as_written() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let mut odd = contact(1, t(3));
    odd.name = "Jürgen \"JJ\" O'Brien \\ Müller\u{1F4DE}\t\u{1}".into();
    odd.fields
        .insert("Title".into(), json!("Leiter \"Einkauf\"\n2. Etage"));
    odd.fields.insert("Owner".into(), json!({"Name": "Zoë"}));
    odd.fields.insert("AnnualRevenue".into(), json!(1.5e6));
    odd.phones[0].e164 = None;
    let plain = contact(2, t(4));
    store
        .upsert_records(sales.id, &[odd.clone(), plain.clone()])
        .await
        .unwrap();
    let batches = stored_batches(&store, sales.id, 2_000).await;
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].decode().unwrap(), vec![odd, plain]);
}

/// The read runs ahead of its reader on a thread of its own: a sync writes beside it, it sees
/// the cache as it was when it began, and a reader that stops early stops it.
#[tokio::test]
async fn a_start_reads_one_state_of_the_cache_while_a_sync_writes() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let records: Vec<Record> = (0..3_000).map(|n| contact(n, t(3))).collect();
    store.upsert_records(sales.id, &records).await.unwrap();
    let mut stream = std::pin::pin!(store.stream_stored(sales.id, 100));
    let first = stream.try_next().await.unwrap().unwrap();
    assert_eq!(first.decode().unwrap(), records[..100].to_vec());
    // Written while the read is under way (and the read holds the rest of its batches).
    let later: Vec<Record> = (5_000..5_010).map(|n| contact(n, t(4))).collect();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        store.upsert_records(sales.id, &later),
    )
    .await
    .expect("a write beside the read is not held up")
    .unwrap();
    let mut read = first.decode().unwrap();
    while let Some(batch) = stream.try_next().await.unwrap() {
        read.extend(batch.decode().unwrap());
    }
    assert_eq!(read, records);
    // A reader that stops after one batch, then a full read again: all rows, in the order
    // they were first stored.
    {
        let mut stopped = std::pin::pin!(store.stream_stored(sales.id, 100));
        stopped.try_next().await.unwrap().unwrap();
    }
    let all: Vec<Record> = stored_batches(&store, sales.id, 2_000)
        .await
        .iter()
        .flat_map(|b| b.decode().unwrap())
        .collect();
    assert_eq!(all, [records, later].concat());
}

#[tokio::test]
async fn a_start_reads_rows_borrowed_and_looks_up_single_fields() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let mut full = contact(1, t(3));
    full.name = "Jürgen \"JJ\" Müller".into();
    full.fields
        .insert("Owner".into(), json!({"Name": "Zoë", "Id": "005"}));
    full.fields
        .insert("Title".into(), json!("Leiter \"Einkauf\""));
    // A name with an escape in the text is read into an owned string.
    full.fields.insert("Odd\"Name".into(), json!("kept"));
    full.fields
        .insert("Description".into(), json!({"deep": [1, 2, {"x": null}]}));
    store
        .upsert_records(sales.id, std::slice::from_ref(&full))
        .await
        .unwrap();
    let batches = stored_batches(&store, sales.id, 2_000).await;
    let rows = batches[0].rows().unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.object_type(), "Contact");
    assert_eq!(row.sf_id(), full.sf_id);
    assert_eq!(row.name(), full.name);
    assert_eq!(row.phones().len(), full.phones.len());
    assert_eq!(row.phones()[0].raw, full.phones[0].raw);
    assert_eq!(
        row.phones()[0].e164.as_deref(),
        full.phones[0].e164.as_deref()
    );
    let fields = row.fields().unwrap();
    let owner = ctibridge_store::RawFields::parse(fields.get("Owner").unwrap()).unwrap();
    assert_eq!(owner.get("Name").unwrap().get(), "\"Zoë\"");
    assert_eq!(
        fields.get("Title").unwrap().get(),
        r#""Leiter \"Einkauf\"""#
    );
    assert_eq!(fields.get("Odd\"Name").unwrap().get(), "\"kept\"");
    assert!(fields.get("Missing").is_none());
    assert_eq!(row.to_record().unwrap(), full);
    assert_eq!(batches[0].decode().unwrap(), vec![full]);
}

#[test]
fn a_damaged_batch_is_an_error_not_a_panic() {
    for (fields, phones) in [
        ("{}", ""),
        ("{}", "["),
        ("{}", "{}"),
        ("{}", "[{\"field\": 1}]"),
        ("[]", "[]"),
        ("{\"a\":}", "[]"),
        ("", "[]"),
        ("{} trailing", "[]"),
    ] {
        let mut batch = ctibridge_store::StoredBatch::default();
        batch.push(["Contact", "003", "N", fields, phones], None, false);
        assert!(batch.decode().is_err(), "{fields:?} {phones:?}");
    }
}

#[tokio::test]
async fn every_change_of_an_instances_records_moves_its_generation_on() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let other = common::instance(&store, "Other").await;
    assert_eq!(store.records_generation(sales.id).await.unwrap(), 0);
    let mut seen = vec![0];
    let mut step = |g: u64| {
        assert!(g > *seen.last().unwrap(), "{g} after {seen:?}");
        seen.push(g);
    };
    store
        .upsert_records(sales.id, &[contact(1, t(3)), contact(2, t(3))])
        .await
        .unwrap();
    step(store.records_generation(sales.id).await.unwrap());
    store
        .upsert_records(sales.id, &[contact(1, t(4))])
        .await
        .unwrap();
    step(store.records_generation(sales.id).await.unwrap());
    let before_other = store.records_generation(sales.id).await.unwrap();
    store
        .upsert_records(other.id, &[contact(9, t(4))])
        .await
        .unwrap();
    assert_eq!(
        store.records_generation(sales.id).await.unwrap(),
        before_other
    );
    store
        .mark_records_deleted(sales.id, "Contact", &[contact(2, t(3)).sf_id])
        .await
        .unwrap();
    step(store.records_generation(sales.id).await.unwrap());
    store
        .purge_deleted_records(sales.id, chrono::Utc::now() + chrono::TimeDelta::days(1))
        .await
        .unwrap();
    step(store.records_generation(sales.id).await.unwrap());
}

/// The batches a start reads, `batch` records each.
async fn stored_batches(
    store: &ctibridge_store::SqliteStore,
    instance: ctibridge_store::InstanceId,
    batch: usize,
) -> Vec<ctibridge_store::StoredBatch> {
    store
        .stream_stored(instance, batch)
        .try_collect()
        .await
        .unwrap()
}

/// The rows a delta since `after` gives, as (id, name, deleted), in the order given.
async fn changed_since(
    store: &ctibridge_store::SqliteStore,
    instance: ctibridge_store::InstanceId,
    after: u64,
    batch: usize,
) -> Vec<(String, String, bool)> {
    let batches: Vec<_> = store
        .stream_changed_since(instance, after, batch)
        .try_collect()
        .await
        .unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        for r in b.rows().unwrap() {
            // The row decodes to the record as stored, deleted or not.
            let stored = store
                .get_record(instance, r.object_type(), r.sf_id())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.to_record().unwrap(), stored.record);
            assert_eq!(r.deleted(), stored.deleted);
            rows.push((r.sf_id().to_owned(), r.name().to_owned(), r.deleted()));
        }
    }
    assert_eq!(
        store.count_changed_since(instance, after).await.unwrap(),
        rows.len() as u64
    );
    rows
}

#[tokio::test]
async fn the_delta_since_a_generation_is_exactly_the_rows_changed_after_it_in_change_order() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let other = common::instance(&store, "Other").await;
    let records: Vec<Record> = (0..6).map(|n| contact(n, t(3))).collect();
    store.upsert_records(sales.id, &records).await.unwrap();
    // One step per row written: the triggers' own update of the row counts nothing.
    let saved = store.records_generation(sales.id).await.unwrap();
    assert_eq!(saved, 6);
    assert_eq!(changed_since(&store, sales.id, saved, 2).await, vec![]);

    let mut renamed = contact(4, t(5));
    renamed.name = "Umbenannt".into();
    store.upsert_records(sales.id, &[renamed]).await.unwrap();
    store
        .mark_records_deleted(sales.id, "Contact", &[records[1].sf_id.clone()])
        .await
        .unwrap();
    store
        .upsert_records(sales.id, &[contact(9, t(5))])
        .await
        .unwrap();
    // Refused as older than the stored row: not a change.
    store
        .upsert_records(sales.id, &[contact(0, t(1))])
        .await
        .unwrap();
    // Another instance's rows are not in this one's delta.
    store
        .upsert_records(other.id, &[contact(7, t(5))])
        .await
        .unwrap();
    assert_eq!(store.records_generation(sales.id).await.unwrap(), saved + 3);
    let want = vec![
        (records[4].sf_id.clone(), "Umbenannt".to_owned(), false),
        (records[1].sf_id.clone(), records[1].name.clone(), true),
        (contact(9, t(5)).sf_id, contact(9, t(5)).name, false),
    ];
    // Batches of one, two and all: each batch starts where the last one ended.
    for batch in [1, 2, 2_000] {
        assert_eq!(changed_since(&store, sales.id, saved, batch).await, want);
    }
    assert_eq!(
        changed_since(&store, sales.id, saved + 2, 2).await,
        want[2..]
    );
    // A row changed twice is in the delta once, at its last change.
    store
        .upsert_records(sales.id, &[contact(4, t(9))])
        .await
        .unwrap();
    let again = changed_since(&store, sales.id, saved, 2).await;
    assert_eq!(again.len(), 3);
    assert_eq!(again[2].0, records[4].sf_id);
    // From the start, every row of the instance, deleted ones included.
    assert_eq!(changed_since(&store, sales.id, 0, 4).await.len(), 7);
}

#[tokio::test]
async fn only_a_removal_for_good_moves_the_last_hard_delete_generation() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let other = common::instance(&store, "Other").await;
    assert_eq!(
        store.last_hard_delete_generation(sales.id).await.unwrap(),
        0
    );
    let records: Vec<Record> = (0..4).map(|n| contact(n, t(3))).collect();
    store.upsert_records(sales.id, &records).await.unwrap();
    store.upsert_records(other.id, &records).await.unwrap();
    store
        .mark_records_deleted(sales.id, "Contact", &[records[0].sf_id.clone()])
        .await
        .unwrap();
    // Marked deleted is a change the delta carries, not a removal.
    assert_eq!(
        store.last_hard_delete_generation(sales.id).await.unwrap(),
        0
    );
    store
        .purge_deleted_records(sales.id, Utc::now() + Duration::seconds(1))
        .await
        .unwrap();
    let purged = store.records_generation(sales.id).await.unwrap();
    assert_eq!(purged, 6);
    assert_eq!(
        store.last_hard_delete_generation(sales.id).await.unwrap(),
        purged
    );
    assert_eq!(
        store.last_hard_delete_generation(other.id).await.unwrap(),
        0
    );
    // Later changes leave it where it is.
    store
        .upsert_records(sales.id, &[contact(8, t(4))])
        .await
        .unwrap();
    assert_eq!(
        store.last_hard_delete_generation(sales.id).await.unwrap(),
        purged
    );
}

#[tokio::test]
async fn a_cache_written_before_the_per_row_generations_refuses_every_older_snapshot() {
    use sqlx::Connection;
    // A data directory as the previous version left it: schema up to 0004, records changed.
    let dir = tempfile::tempdir().unwrap();
    let migrations = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut copied = 0;
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, migrations.path().join(&name)).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 4);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join(ctibridge_store::DB_FILE))
        .create_if_missing(true)
        .foreign_keys(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO instances (name, updated_at, created_at) VALUES ('Sales', 0, 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    for n in 0..3 {
        sqlx::query(
            "INSERT INTO records (instance_id, object_type, sf_id, updated_at) \
             VALUES (1, 'Contact', ?1, 0)",
        )
        .bind(format!("003{n:015}"))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE records SET name = 'x' WHERE sf_id = '003000000000000000'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let store = ctibridge_store::SqliteStore::open(dir.path())
        .await
        .unwrap();
    let sales = ctibridge_store::InstanceId(1);
    let now = store.records_generation(sales).await.unwrap();
    assert_eq!(now, 4);
    // A snapshot taken now needs nothing; one taken before cannot be brought up to date.
    assert_eq!(store.last_hard_delete_generation(sales).await.unwrap(), now);
    assert_eq!(store.count_changed_since(sales, 0).await.unwrap(), 0);
    // Changes after the upgrade are dated.
    store
        .upsert_records(sales, &[contact(0, t(3))])
        .await
        .unwrap();
    assert_eq!(changed_since(&store, sales, now, 10).await.len(), 1);
}
