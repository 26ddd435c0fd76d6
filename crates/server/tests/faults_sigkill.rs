//! SIGKILL of the real process in the middle of a call and of the sync, then a restart on the
//! same data directory: the store opens, the users' STARFACE credentials still decrypt (their
//! UCI sessions come back without them), the index is the org's again, and calls flow.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use serde_json::json;
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
