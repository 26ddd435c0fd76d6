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
    let batches: Vec<_> = store
        .stream_stored(sales.id, 3)
        .try_collect()
        .await
        .unwrap();
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
    odd.name = "Jürgen \"JJ\" O'Brien \\ Müller\u{1F4DE}".into();
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
    let batches: Vec<_> = store
        .stream_stored(sales.id, 2_000)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].decode().unwrap(), vec![odd, plain]);
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
    let batches: Vec<_> = store
        .stream_stored(sales.id, 2_000)
        .try_collect()
        .await
        .unwrap();
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
    for json in [
        "",
        "[",
        "[[\"Contact\",\"003\",\"N\",{},[]]]",
        "[[\"Contact\",\"003\",\"N\",{},[],null,7]]",
        "[[\"Contact\",\"003\",\"N\",[],[],null]]",
        "[[\"Contact\",\"003\",\"N\",{\"a\":},[],null]]",
        "[] trailing",
    ] {
        let batch = ctibridge_store::StoredBatch { json: json.into() };
        assert!(batch.rows().is_err() || batch.decode().is_err(), "{json:?}");
        assert!(batch.decode().is_err(), "{json:?}");
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
