//! PBX faults: a restart, an expired UCI session, keepAlives lost in a broken network, and a
//! flood of callbacks. For each: the user's session comes back by itself (the panel's UCI
//! state returns to active), calls flow again, memory stays bounded, nothing crashes.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use futures::StreamExt;
use support::proxy::Mode;
use support::*;

fn fast() -> Wiring {
    Wiring {
        credentials: BEN_AND_CLARA.to_vec(),
        wait_ready: true,
        fast_uci: true,
        ..Default::default()
    }
}

fn session_ids(w: &World, login: &str) -> Vec<u64> {
    w.pbx
        .control()
        .sessions()
        .into_iter()
        .filter(|s| s.login == login)
        .map(|s| s.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_pbx_restart_sessions_come_back_and_calls_flow_again() {
    let w = world_with(fast()).await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let before = session_ids(&w, "1001");

    w.pbx.control().restart();
    eventually("new sessions for Ben and Clara", || {
        ["1001", "1002"].iter().all(|l| {
            let ids = session_ids(&w, l);
            !ids.is_empty() && ids.iter().all(|id| !before.contains(id))
        })
    })
    .await;
    let state = w.running.state().clone();
    eventually("the panel's UCI state to be active", || {
        state.hub.uci("1001").state == "active"
    })
    .await;
    let ended = w.call_reaches_panel(&mut ws, "1001").await;
    assert_eq!(ended["call"]["outcome"], "answered");
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_uci_session_is_replaced_without_the_user_noticing() {
    let w = world_with(fast()).await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let before = session_ids(&w, "1001");
    assert_eq!(w.pbx.control().expire_sessions_of("1001"), before.len());
    eventually("a new session for Ben", || {
        let ids = session_ids(&w, "1001");
        !ids.is_empty() && ids.iter().all(|id| !before.contains(id))
    })
    .await;
    w.call_reaches_panel(&mut ws, "1001").await;
    // Clara's session was not touched.
    assert_eq!(w.running.state().hub.uci("1002").state, "active");
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_lost_in_a_broken_network_show_on_the_panel_and_heal() {
    let w = world_with(Wiring {
        pbx_proxy: Some(Mode::Forward),
        ..fast()
    })
    .await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let proxy = w.pbx_proxy.as_ref().unwrap();
    proxy.set_mode(Mode::Reset);
    proxy.reset_live();
    // The panel is told that the session is not working.
    let lost = wait_frame(&mut ws, |v| v["type"] == "uci" && v["state"] != "active").await;
    assert!(
        lost["state"] == "failed" || lost["state"] == "connecting",
        "{lost}"
    );
    // Then keepAlives answer slowly, then not at all: still not active.
    proxy.set_mode(Mode::Blackhole);
    proxy.reset_live();
    assert!(healthy(&w.base).await);
    proxy.set_mode(Mode::Forward);
    proxy.reset_live();
    wait_frame(&mut ws, |v| v["type"] == "uci" && v["state"] == "active").await;
    w.call_reaches_panel(&mut ws, "1001").await;
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_flood_keeps_memory_bounded_and_the_service_responsive() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let url = w.callback_url("1001");
    let http = reqwest::Client::new();
    const FLOOD: usize = 3_000;
    let ok = futures::stream::iter(0..FLOOD)
        .map(|i| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let body = call_state_body(&format!("flood-{i}"), "RINGING", "030123456");
                http.post(url)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .buffer_unordered(32)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    assert_eq!(ok, FLOOD, "callbacks were refused under load");
    let current = w.running.state().uci.current_calls("1001").len();
    let cap = ctibridge_domain::TrackerLimits::default().max_active_calls_per_user;
    assert!(
        current <= cap,
        "{current} calls kept for one user (cap {cap})"
    );
    assert!(healthy(&w.base).await);
    // The panel lagged behind the flood at most: it still gets a real call.
    let (mut fresh, hello) = connect(&w.base, &ben).await;
    let calls = hello["calls"].as_array().unwrap();
    let open = calls.iter().filter(|c| c["state"] != "ended").count();
    assert!(
        open <= cap,
        "the panel is shown {open} current calls (cap {cap})"
    );
    assert!(
        calls.len() - open <= cap,
        "{} ended calls kept",
        calls.len() - open
    );
    w.call_reaches_panel(&mut fresh, "1001").await;
    drop(ws.close(None).await);
    w.running.shutdown().await;
}
