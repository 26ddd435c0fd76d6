//! The outbox: idempotent enqueue, leases, concurrent claimers, retries.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use ctibridge_store::{
    Backoff, InstanceId, InstanceStore, NewOutboxItem, OutboxCounts, OutboxFilter, OutboxState,
    OutboxStore, SqliteStore, StoreError,
};
use pretty_assertions::assert_eq;
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

fn call_log(instance: InstanceId, call: &str) -> NewOutboxItem {
    NewOutboxItem {
        idempotency_key: format!("{call}:1001"),
        instance_id: instance,
        kind: "call_log".into(),
        payload: json!({"CallObject": format!("{call}:1001"), "CallType": "Inbound"}),
        not_before: None,
    }
}

/// The one due item at `at`, claimed.
async fn claim_one(store: &SqliteStore, at: chrono::DateTime<Utc>) -> ctibridge_store::ClaimedItem {
    store.claim_due(None, 1, LEASE, at).await.unwrap().remove(0)
}

#[tokio::test]
async fn enqueueing_twice_keeps_one_item() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let first = store.enqueue(&call_log(sales.id, "c1")).await.unwrap();
    assert!(first.created);
    let mut again = call_log(sales.id, "c1");
    again.payload = json!({"different": true});
    let second = store.enqueue(&again).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.id, first.id);

    let item = store
        .get_outbox_item_by_key("c1:1001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.payload["CallType"], json!("Inbound"));
    assert_eq!(item.state, OutboxState::Pending);
    assert_eq!(
        store.outbox_counts(None).await.unwrap(),
        OutboxCounts {
            pending: 1,
            ..OutboxCounts::default()
        }
    );

    // Still one item after it was written.
    let claimed = store.claim_due(None, 10, LEASE, Utc::now()).await.unwrap();
    store.mark_done(&claimed[0].claim, None).await.unwrap();
    assert!(
        !store
            .enqueue(&call_log(sales.id, "c1"))
            .await
            .unwrap()
            .created
    );
    assert!(
        store
            .claim_due(None, 10, LEASE, Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_expired_lease_makes_the_item_claimable_again_and_fences_the_old_claim() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    store.enqueue(&call_log(sales.id, "c1")).await.unwrap();
    let now = Utc::now();

    let first = store.claim_due(None, 10, LEASE, now).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].item.state, OutboxState::InFlight);
    assert_eq!(first[0].item.attempts, 1);
    // While the lease runs nobody else gets it.
    let during = now + ChronoDuration::seconds(29);
    assert!(
        store
            .claim_due(None, 10, LEASE, during)
            .await
            .unwrap()
            .is_empty()
    );

    // The worker "crashed": after the lease, another claim takes it over.
    let after = now + ChronoDuration::seconds(31);
    let second = store.claim_due(None, 10, LEASE, after).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].item.id, first[0].item.id);
    assert_eq!(second[0].item.attempts, 2);

    // The first worker wakes up: its claim no longer counts.
    let err = store.mark_done(&first[0].claim, None).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
    store
        .mark_done(
            &second[0].claim,
            Some(&json!({"task_id": "00T000000000001AAA"})),
        )
        .await
        .unwrap();
    let item = store
        .get_outbox_item(second[0].item.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.state, OutboxState::Done);
    assert_eq!(item.result, Some(json!({"task_id": "00T000000000001AAA"})));
    assert_eq!(item.lease_until, None);
    // Finishing twice is refused too.
    assert!(store.mark_done(&second[0].claim, None).await.is_err());
}

#[tokio::test]
async fn a_lease_survives_a_restart_and_expires_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let now;
    {
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let sales = common::instance(&store, "Sales").await;
        store.enqueue(&call_log(sales.id, "c1")).await.unwrap();
        now = Utc::now();
        assert_eq!(store.claim_due(None, 1, LEASE, now).await.unwrap().len(), 1);
        store.close().await;
    }
    let store = SqliteStore::open(dir.path()).await.unwrap();
    assert!(
        store
            .claim_due(None, 1, LEASE, now)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + ChronoDuration::seconds(31);
    assert_eq!(
        store.claim_due(None, 1, LEASE, later).await.unwrap().len(),
        1
    );
}

// Two runtime threads, so that the claims really run at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_never_get_the_same_item() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    for n in 0..300 {
        store
            .enqueue(&call_log(sales.id, &format!("c{n}")))
            .await
            .unwrap();
    }
    let now = Utc::now();
    let worker = |store: SqliteStore| async move {
        let mut mine = Vec::new();
        loop {
            let batch = store.claim_due(None, 7, LEASE, now).await.unwrap();
            if batch.is_empty() {
                return mine;
            }
            for c in batch {
                mine.push(c.item.id);
                store.mark_done(&c.claim, None).await.unwrap();
            }
        }
    };
    let a = tokio::spawn(worker(store.clone()));
    let b = tokio::spawn(worker(store.clone()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let a_ids: HashSet<_> = a.iter().copied().collect();
    let b_ids: HashSet<_> = b.iter().copied().collect();
    assert!(a_ids.is_disjoint(&b_ids));
    assert_eq!(a.len() + b.len(), 300);
    assert_eq!(a_ids.len() + b_ids.len(), 300);
    assert_eq!(store.outbox_counts(None).await.unwrap().done, 300);
}

#[tokio::test]
async fn claims_take_due_items_oldest_first_and_respect_instance_and_limit() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let support = common::instance(&store, "Support").await;
    let mut later = call_log(sales.id, "later");
    later.not_before = Some(Utc::now() + ChronoDuration::minutes(5));
    store.enqueue(&later).await.unwrap();
    for call in ["a", "b", "c"] {
        store.enqueue(&call_log(sales.id, call)).await.unwrap();
    }
    store.enqueue(&call_log(support.id, "s")).await.unwrap();
    let now = Utc::now();
    // Longer than the jump to `later` below, so that the first claims still hold.
    let lease = Duration::from_secs(3600);

    let keys = |items: Vec<ctibridge_store::ClaimedItem>| {
        items
            .into_iter()
            .map(|c| c.item.idempotency_key)
            .collect::<Vec<_>>()
    };
    let got = store
        .claim_due(Some(sales.id), 2, lease, now)
        .await
        .unwrap();
    assert_eq!(keys(got), ["a:1001", "b:1001"]);
    let got = store
        .claim_due(Some(sales.id), 10, lease, now)
        .await
        .unwrap();
    assert_eq!(keys(got), ["c:1001"]);
    let got = store.claim_due(None, 10, lease, now).await.unwrap();
    assert_eq!(keys(got), ["s:1001"]);
    let got = store
        .claim_due(None, 10, lease, now + ChronoDuration::minutes(6))
        .await
        .unwrap();
    assert_eq!(keys(got), ["later:1001"]);
}

#[tokio::test]
async fn retry_failure_release_and_requeue_move_items_as_the_worker_says() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    store.enqueue(&call_log(sales.id, "c1")).await.unwrap();
    let now = Utc::now();

    // A 5xx: back to pending, due later, error kept.
    let c = claim_one(&store, now).await;
    let retry_at = now + ChronoDuration::seconds(60);
    store
        .mark_retry(&c.claim, "HTTP 503", retry_at)
        .await
        .unwrap();
    let item = store.get_outbox_item(c.item.id).await.unwrap().unwrap();
    assert_eq!(item.state, OutboxState::Pending);
    assert_eq!(item.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(
        item.next_attempt_at.timestamp_millis(),
        retry_at.timestamp_millis()
    );
    assert!(
        store
            .claim_due(None, 1, LEASE, now)
            .await
            .unwrap()
            .is_empty()
    );

    // The org's limit is spent: released without counting an attempt.
    let c = claim_one(&store, retry_at).await;
    assert_eq!(c.item.attempts, 2);
    store.release(&c.claim, retry_at).await.unwrap();
    assert_eq!(
        store
            .get_outbox_item(c.item.id)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        1
    );

    // A validation rule: failed, kept, listed, retryable by hand.
    let c = claim_one(&store, retry_at).await;
    store
        .mark_failed(&c.claim, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
        .await
        .unwrap();
    let failed = store
        .list_outbox(&OutboxFilter {
            instance: Some(sales.id),
            state: Some(OutboxState::Failed),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("FIELD_CUSTOM_VALIDATION_EXCEPTION")
    );
    assert!(
        store
            .claim_due(None, 1, LEASE, now + ChronoDuration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.requeue(c.item.id).await.unwrap());
    assert!(!store.requeue(c.item.id).await.unwrap());
    let c = store
        .claim_due(None, 1, LEASE, Utc::now() + ChronoDuration::seconds(1))
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
}

#[tokio::test]
async fn done_items_are_purged_and_lists_come_newest_first() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    for call in ["a", "b", "c"] {
        store.enqueue(&call_log(sales.id, call)).await.unwrap();
    }
    let c = store
        .claim_due(None, 1, LEASE, Utc::now())
        .await
        .unwrap()
        .remove(0);
    store.mark_done(&c.claim, None).await.unwrap();

    let all = store
        .list_outbox(&OutboxFilter {
            instance: None,
            state: None,
            limit: 10,
        })
        .await
        .unwrap();
    let keys: Vec<_> = all.iter().map(|i| i.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["c:1001", "b:1001", "a:1001"]);

    assert_eq!(
        store
            .purge_done(Utc::now() + ChronoDuration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.outbox_counts(Some(sales.id)).await.unwrap(),
        OutboxCounts {
            pending: 2,
            ..OutboxCounts::default()
        }
    );
}

#[tokio::test]
async fn bad_items_are_refused_before_the_database() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let mut item = call_log(sales.id, "c1");
    item.idempotency_key = "k".repeat(256);
    assert!(matches!(
        store.enqueue(&item).await.unwrap_err(),
        StoreError::Invalid { .. }
    ));
    let mut item = call_log(InstanceId(999), "c1");
    item.idempotency_key = "orphan".into();
    let err = store.enqueue(&item).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(store.delete_instance("Sales").await.unwrap());
    assert!(store.get_instance("Sales").await.unwrap().is_none());
}

#[test]
fn backoff_grows_to_its_cap_with_jitter_in_the_upper_half() {
    let backoff = Backoff {
        base: Duration::from_secs(2),
        max: Duration::from_secs(60),
    };
    for _ in 0..50 {
        let first = backoff.delay(1);
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
        let fourth = backoff.delay(4);
        assert!(fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16));
        let late = backoff.delay(40);
        assert!(late >= Duration::from_secs(30) && late <= Duration::from_secs(60));
        assert!(backoff.delay(u32::MAX) <= Duration::from_secs(60));
    }
    let now = Utc::now();
    assert!(backoff.next_attempt_at(now, 1) > now);
}

#[tokio::test]
async fn a_new_sole_worker_takes_over_what_a_killed_one_held_at_once() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    store.enqueue(&call_log(sales.id, "c1")).await.unwrap();
    store.enqueue(&call_log(sales.id, "c2")).await.unwrap();
    let now = Utc::now();
    let held = store.claim_due(None, 1, LEASE, now).await.unwrap();
    assert_eq!(held.len(), 1);

    // Restart: the lease has not run out, yet the item is due again at once.
    assert_eq!(store.reclaim_in_flight(now).await.unwrap(), 1);
    let again = store.claim_due(None, 10, LEASE, now).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().any(|c| c.item.id == held[0].item.id));
    // The killed worker's claim no longer counts.
    let err = store.mark_done(&held[0].claim, None).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
    // Nothing in flight is left to take over.
    for c in &again {
        store.mark_done(&c.claim, None).await.unwrap();
    }
    assert_eq!(store.reclaim_in_flight(now).await.unwrap(), 0);
}

#[tokio::test]
async fn an_unanswered_write_is_remembered_across_retries_and_a_reopened_store() {
    let (dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    store.enqueue(&call_log(sales.id, "c1")).await.unwrap();
    let now = Utc::now();
    let c = claim_one(&store, now).await;
    assert_eq!(c.item.unanswered_since, None);
    let sent = now - ChronoDuration::seconds(3);
    store.mark_unanswered(&c.claim, sent).await.unwrap();
    store
        .mark_retry(&c.claim, "no answer", now + ChronoDuration::seconds(1))
        .await
        .unwrap();
    // A claim no longer held cannot note it.
    assert!(matches!(
        store.mark_unanswered(&c.claim, now).await,
        Err(StoreError::LeaseLost { .. })
    ));
    store.close().await;
    drop(store);

    // The next process claims it with the time of the unanswered write.
    let store = ctibridge_store::SqliteStore::open(dir.path())
        .await
        .unwrap();
    let later = now + ChronoDuration::seconds(2);
    let c = claim_one(&store, later).await;
    assert_eq!(
        c.item.unanswered_since.map(|t| t.timestamp_millis()),
        Some(sent.timestamp_millis())
    );
    // A later unanswered write replaces it: its own settle time counts from then.
    store.mark_unanswered(&c.claim, later).await.unwrap();
    store.mark_done(&c.claim, None).await.unwrap();
    let item = store.get_outbox_item(c.item.id).await.unwrap().unwrap();
    assert_eq!(
        item.unanswered_since.map(|t| t.timestamp_millis()),
        Some(later.timestamp_millis())
    );
}
