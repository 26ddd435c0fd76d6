//! The call journal: merged updates, the end of a call enqueued and unjournaled at once.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use chrono::Utc;
use ctibridge_store::{
    CallJournalStore, InstanceId, JournalKey, NewOutboxItem, OutboxStore, SqliteStore,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

fn key(instance: InstanceId, call: &str) -> JournalKey {
    JournalKey {
        instance_id: instance,
        call_id: call.into(),
        login: "1001".into(),
    }
}

fn log_item(instance: InstanceId, call: &str) -> NewOutboxItem {
    NewOutboxItem {
        idempotency_key: format!("call:{call}:1001"),
        instance_id: instance,
        kind: "call_log".into(),
        payload: json!({"CallObject": format!("{call}:1001")}),
        not_before: None,
    }
}

async fn set(store: &SqliteStore, k: &JournalKey, field: &str, value: Value) -> bool {
    let field = field.to_owned();
    store
        .update_journal(k, Utc::now(), move |old| {
            let mut data = old.unwrap_or_else(|| json!({}));
            data[field] = value;
            Some(data)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn updates_see_what_earlier_updates_wrote() {
    let (_dir, store) = common::store().await;
    let i = common::instance(&store, "Demo").await.id;
    let k = key(i, "c1");
    assert!(set(&store, &k, "connected", json!(true)).await);
    assert!(set(&store, &k, "notes", json!("wants a quote")).await);
    let entry = store.get_journal_entry(&k).await.unwrap().unwrap();
    assert_eq!(
        entry.data,
        json!({"connected": true, "notes": "wants a quote"})
    );
    assert!(entry.updated_at >= entry.first_seen_at);
    // An update that declines leaves no row behind.
    let k2 = key(i, "c2");
    assert!(
        !store
            .update_journal(&k2, Utc::now(), |_| None)
            .await
            .unwrap()
    );
    assert_eq!(store.get_journal_entry(&k2).await.unwrap(), None);
}

#[tokio::test]
async fn finishing_a_call_enqueues_its_log_and_deletes_its_row_together() {
    let (_dir, store) = common::store().await;
    let i = common::instance(&store, "Demo").await.id;
    let k = key(i, "c1");
    set(&store, &k, "connected", json!(true)).await;
    let done = store
        .finish_call(&k, Some(&log_item(i, "c1")), false)
        .await
        .unwrap()
        .unwrap();
    assert!(done.created);
    assert_eq!(store.get_journal_entry(&k).await.unwrap(), None);
    assert!(store.journal_of_user("1001").await.unwrap().is_empty());
    let item = store.get_outbox_item_by_key("call:c1:1001").await.unwrap();
    assert_eq!(item.unwrap().id, done.id);
    // The PBX reports the end again: one item still.
    let again = store
        .finish_call(&k, Some(&log_item(i, "c1")), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.created), (done.id, false));
}

#[tokio::test]
async fn a_late_reconcile_does_not_enqueue_a_call_whose_end_was_taken() {
    let (_dir, store) = common::store().await;
    let i = common::instance(&store, "Demo").await.id;
    let k = key(i, "c1");
    let none = store
        .finish_call(&k, Some(&log_item(i, "c1")), true)
        .await
        .unwrap();
    assert_eq!(none, None);
    assert_eq!(
        store.get_outbox_item_by_key("call:c1:1001").await.unwrap(),
        None
    );
    set(&store, &k, "connected", json!(true)).await;
    let some = store
        .finish_call(&k, Some(&log_item(i, "c1")), true)
        .await
        .unwrap();
    assert!(some.unwrap().created);
}

#[tokio::test]
async fn a_refused_log_item_leaves_the_journal_row_in_place() {
    let (_dir, store) = common::store().await;
    let i = common::instance(&store, "Demo").await.id;
    let k = key(i, "c1");
    set(&store, &k, "connected", json!(true)).await;
    let mut bad = log_item(i, "c1");
    bad.idempotency_key = "x".repeat(300);
    assert!(store.finish_call(&k, Some(&bad), false).await.is_err());
    assert!(store.get_journal_entry(&k).await.unwrap().is_some());
}

#[tokio::test]
async fn the_journal_survives_a_reopen_and_lists_a_users_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let i = common::instance(&store, "Demo").await.id;
    set(&store, &key(i, "c1"), "n", json!(1)).await;
    set(&store, &key(i, "c2"), "n", json!(2)).await;
    let other = JournalKey {
        login: "1002".into(),
        ..key(i, "c3")
    };
    set(&store, &other, "n", json!(3)).await;
    let alive = Utc::now();
    store.set_alive(alive).await.unwrap();
    store.close().await;
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let rows = store.journal_of_user("1001").await.unwrap();
    let calls: Vec<&str> = rows.iter().map(|r| r.key.call_id.as_str()).collect();
    assert_eq!(calls, vec!["c1", "c2"]);
    assert_eq!(
        store
            .last_alive()
            .await
            .unwrap()
            .map(|t| t.timestamp_millis()),
        Some(alive.timestamp_millis())
    );
}
