//! SIGKILL of the real process in the middle of a call and of the sync, then a restart on the
//! same data directory: the store opens, the users' STARFACE credentials still decrypt (their
//! UCI sessions come back without them), the index is the org's again, and calls flow.
//! Killed while Task writes are in flight, the restarted service writes each call log once.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use serde_json::json;
use support::served::Scenario;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_the_restarted_service_has_its_data_and_sessions_back() {
    let s = served::scenario(true).await;
    assert_eq!(
        s.records_after, s.records_before,
        "records changed over the restart"
    );

    // Panel sessions live in memory: the old token is gone, signing in again works.
    let old_token = &s
        .secrets
        .iter()
        .find(|(k, _)| k == "panel token")
        .unwrap()
        .1;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&s.served.base))
        .await
        .unwrap();
    use futures::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"type": "auth", "token": old_token}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await.unwrap()["error"], "unauthorized");

    let token = sign_in(&s.served.base, "ben.utzer@example.com").await;
    let (mut ws, hello) = connect(&s.served.base, &token).await;
    assert_eq!(hello["uci"]["state"], "active", "{hello}");
    let id = s
        .pbx
        .control()
        .play(ctibridge_emulator_starface::CallSpec {
            target: "1001".into(),
            number: "+49 30 1234567".into(),
            ring_steps: 1,
            talk_steps: 1,
            ..Default::default()
        })
        .unwrap();
    let ended = wait_frame(&mut ws, |v| {
        v["call"]["id"] == id.as_str() && v["call"]["state"] == "ended"
    })
    .await;
    assert_eq!(ended["call"]["outcome"], "answered");
    // Both runs wrote their logs without a panic.
    for run in ["run1.stderr", "run2.stderr"] {
        let text = std::fs::read_to_string(s.dir.path().join(run)).unwrap();
        assert!(!text.contains("panicked"), "{run}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_during_the_outbox_flush_loses_and_duplicates_no_call_log() {
    let s = served::scenario(false).await;
    let token = s
        .secrets
        .iter()
        .find(|(k, _)| k == "panel token")
        .unwrap()
        .1
        .clone();
    let (mut ws, _) = connect(&s.served.base, &token).await;
    // Task writes take long: the kill lands while they are in flight.
    s.org
        .control()
        .set_latency(std::time::Duration::from_millis(800));
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = s
            .pbx
            .control()
            .play(ctibridge_emulator_starface::CallSpec {
                target: "1001".into(),
                number: format!("+49 30 123456{i}"),
                ring_steps: 1,
                talk_steps: 1,
                ..Default::default()
            })
            .unwrap();
        wait_frame(&mut ws, |v| {
            v["call"]["id"] == id.as_str() && v["call"]["state"] == "ended"
        })
        .await;
        ids.push(id);
    }
    // The connector answers a HANGUP only once the call is in the outbox: wait for those
    // answers, so that what the kill may lose is only what the PBX knows was not taken.
    let pbx_control = s.pbx.control();
    eventually("the PBX to see every HANGUP taken", || {
        ids.iter().all(|id| {
            pbx_control.events().iter().any(|e| {
                e.login == "1001"
                    && e.fields.get("id").map(String::as_str) == Some(id.as_str())
                    && e.fields.get("state").map(String::as_str) == Some("HANGUP")
                    && e.outcome == ctibridge_emulator_starface::DeliveryOutcome::Delivered
            })
        })
    })
    .await;
    let config = s.dir.path().join("ctibridge.toml");
    let port: u16 = s.served.base.rsplit(':').next().unwrap().parse().unwrap();
    let Scenario {
        served,
        org,
        pbx,
        dir,
        ..
    } = s;
    let last = ids.last().unwrap();
    assert_eq!(tasks_of(&org, last), 0, "the kill came after the flush");
    served.kill();
    org.control().set_latency(std::time::Duration::ZERO);
    let served = served::Served::start(&config, port, dir.path().join("run2.stderr")).await;
    eventually("one Task per ended call", || {
        ids.iter().all(|id| tasks_of(&org, id) >= 1)
    })
    .await;
    // A second flush round must not add any.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for id in &ids {
        assert_eq!(tasks_of(&org, id), 1, "call {id}");
    }
    drop(served);
    drop(pbx);
}
