//! Salesforce faults while the connector reads the org: 5xx storms, a token revoked mid-read,
//! the daily API limit, slow answers, and connections reset or cut by the network. For each:
//! the admin status never claims health it does not have, the service keeps answering, the
//! ring path keeps working from the index, and the index arrives once the org is healthy.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::time::Duration;

use ctibridge_server::status::LinkState;
use support::proxy::Mode;
use support::*;

const SYNC_EVERY: Duration = Duration::from_secs(1);

fn wiring() -> Wiring {
    Wiring {
        sync_interval: Some(SYNC_EVERY),
        ..Default::default()
    }
}

fn failed_detail(w: &World) -> Option<String> {
    match w.salesforce_link() {
        LinkState::Failed(d) => Some(d),
        _ => None,
    }
}

async fn wait_recovered(w: &World) {
    let state = w.running.state().clone();
    eventually("the org to be read", || {
        w.salesforce_link() == LinkState::Ok && index_ready(&state)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_storm_is_retried_through_and_the_ring_path_keeps_working_during_a_total_one() {
    // Half of all requests fail with 503: retries carry the read through.
    let w = world_with(Wiring {
        org_setup: Some(|org| org.set_fail_rate(0.5, 503).unwrap()),
        credentials: vec![("1001", "ben-pass")],
        ..wiring()
    })
    .await;
    wait_recovered(&w).await;
    let state = w.running.state().clone();
    eventually("Ben's UCI session", || {
        state.hub.uci("1001").state == "active"
    })
    .await;

    // Sign-in goes through the org too (OAuth pages): sign in while it is healthy.
    w.org.control().set_fail_rate(0.0, 503).unwrap();
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    // Then every request fails: calls are still identified from the index, at no API cost.
    w.org.control().set_fail_rate(1.0, 503).unwrap();
    let (_, record) = w.known_number();
    let ended = w.call_reaches_panel(&mut ws, "1001").await;
    assert_eq!(
        ended["call"]["matches"][0]["id"],
        record.as_str(),
        "{ended}"
    );
    assert!(healthy(&w.base).await);
    let status = reqwest::get(format!("{}/api/status", w.base))
        .await
        .unwrap();
    assert_eq!(status.status(), 200);

    w.org.control().set_fail_rate(0.0, 503).unwrap();
    wait_recovered(&w).await;
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_in_the_middle_of_the_read_is_renewed_and_the_read_completes() {
    let w = world_with(Wiring {
        org_setup: Some(|org| org.set_latency(Duration::from_millis(150))),
        ..wiring()
    })
    .await;
    let org = w.org.control();
    eventually("the read to be under way", || org.api_usage().used >= 2).await;
    assert_ne!(w.salesforce_link(), LinkState::Ok);
    org.expire_tokens_now();
    wait_recovered(&w).await;
    assert!(
        org.state().tokens_issued >= 2,
        "the connector did not log in again"
    );
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_api_limit_is_named_on_the_status_and_the_read_resumes_when_it_resets() {
    let w = world_with(Wiring {
        org_setup: Some(|org| {
            let limit = org.api_usage().limit;
            org.set_api_used(limit);
        }),
        ..wiring()
    })
    .await;
    eventually("the status to show the limit", || {
        failed_detail(&w).is_some_and(|d| d.to_lowercase().contains("limit"))
    })
    .await;
    assert!(healthy(&w.base).await);
    w.org.control().set_api_used(0);
    wait_recovered(&w).await;
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_org_delays_the_index_but_not_the_service() {
    let w = world_with(Wiring {
        org_setup: Some(|org| org.set_latency(Duration::from_millis(700))),
        ..wiring()
    })
    .await;
    let org = w.org.control();
    eventually("the read to be under way", || org.api_usage().used >= 1).await;
    // Pages and status answer while the read waits on Salesforce.
    assert!(healthy(&w.base).await);
    let panel = reqwest::get(format!("{}/panel", w.base)).await.unwrap();
    assert_eq!(panel.status(), 200);
    assert_ne!(w.salesforce_link(), LinkState::Ok);
    wait_recovered(&w).await;
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_or_reset_by_the_network_fail_the_read_until_the_network_heals() {
    // Answers end in the middle of their headers or body.
    let w = world_with(Wiring {
        salesforce_proxy: Some(Mode::CutAfter(300)),
        ..wiring()
    })
    .await;
    let proxy = w.salesforce_proxy.as_ref().unwrap();
    let state = w.running.state().clone();
    eventually("attempts through the cutting network", || {
        proxy.accepted() >= 3
    })
    .await;
    assert_ne!(w.salesforce_link(), LinkState::Ok);
    // Then every connection is reset.
    proxy.set_mode(Mode::Reset);
    proxy.reset_live();
    let seen = proxy.accepted();
    eventually("attempts through the resetting network", || {
        proxy.accepted() >= seen + 3
    })
    .await;
    assert_ne!(w.salesforce_link(), LinkState::Ok);
    assert!(!index_ready(&state));
    assert!(healthy(&w.base).await);
    proxy.set_mode(Mode::Forward);
    wait_recovered(&w).await;
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_and_deletions_made_during_a_storm_reach_the_index_after_it() {
    let w = world_with(wiring()).await;
    wait_recovered(&w).await;
    let state = w.running.state().clone();
    let lookup = state.lookup(INSTANCE).unwrap();
    let (gone_number, gone_id) = lookup
        .samples
        .iter()
        .find_map(|e| {
            let m = lookup.index.lookup(e);
            (m.len() == 1).then(|| (*e, m[0].record.id.to_string()))
        })
        .unwrap();
    let org = w.org.control();
    org.set_fail_rate(1.0, 503).unwrap();
    let new_number = ctibridge_domain::E164::parse("+498955501234").unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("LastName".into(), "Sturm".into());
    fields.insert("Phone".into(), "+49 89 555 01234".into());
    let new_id = org
        .record(ctibridge_emulator_salesforce::RecordOp::Create {
            object: "Contact".into(),
            fields,
        })
        .unwrap();
    // Salesforce lists deletions by whole minutes, so the sync reads them a minute late
    // (with an overlap): dated 90 s back, this one is due at once.
    let at = (chrono::Utc::now() - chrono::Duration::seconds(90)).to_rfc3339();
    org.record(ctibridge_emulator_salesforce::RecordOp::Delete {
        id: gone_id.clone(),
        at: Some(at),
    })
    .unwrap();
    // Cycles fail meanwhile; the index keeps what it had.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(state.lookup(INSTANCE).is_some_and(|l| {
        l.index
            .lookup(&gone_number)
            .iter()
            .any(|m| m.record.id.to_string() == gone_id)
    }));
    org.set_fail_rate(0.0, 503).unwrap();
    eventually("the new number in and the deleted record out", || {
        state.lookup(INSTANCE).is_some_and(|l| {
            let added = l
                .index
                .lookup(&new_number)
                .iter()
                .any(|m| m.record.id.to_string() == new_id);
            let removed = !l
                .index
                .lookup(&gone_number)
                .iter()
                .any(|m| m.record.id.to_string() == gone_id);
            added && removed
        })
    })
    .await;
    assert_eq!(w.salesforce_link(), LinkState::Ok);
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_cut_after_sign_in_fail_the_sync_until_the_network_heals_and_lose_no_change() {
    // The org's API requests go through the proxy too, so the cut hits the reads themselves,
    // with a valid token in hand, not only the token request.
    let w = world_with(Wiring {
        salesforce_proxy: Some(Mode::Forward),
        salesforce_api_through_proxy: true,
        ..wiring()
    })
    .await;
    wait_recovered(&w).await;
    let proxy = w.salesforce_proxy.as_ref().unwrap();
    let state = w.running.state().clone();
    let seen = proxy.accepted();
    proxy.set_mode(Mode::CutAfter(400));
    proxy.reset_live();
    let new_number = ctibridge_domain::E164::parse("+498955507777").unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("LastName".into(), "Schnitt".into());
    fields.insert("Phone".into(), "+49 89 555 07777".into());
    let new_id = w
        .org
        .control()
        .record(ctibridge_emulator_salesforce::RecordOp::Create {
            object: "Contact".into(),
            fields,
        })
        .unwrap();
    eventually("sync reads cut by the network", || {
        proxy.accepted() >= seen + 3 && w.salesforce_link() != LinkState::Ok
    })
    .await;
    // The service and the ring path stay up; the change waits.
    assert!(healthy(&w.base).await);
    assert!(
        state
            .lookup(INSTANCE)
            .unwrap()
            .index
            .lookup(&new_number)
            .is_empty()
    );
    proxy.set_mode(Mode::Forward);
    wait_recovered(&w).await;
    eventually("the change made during the cut to reach the index", || {
        state
            .lookup(INSTANCE)
            .unwrap()
            .index
            .lookup(&new_number)
            .iter()
            .any(|m| m.record.id.to_string() == new_id)
    })
    .await;
    w.running.shutdown().await;
}
