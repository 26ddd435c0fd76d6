//! The ring path end to end, below the browser: a call played on the PBX emulator reaches the
//! signed-in user's panel WebSocket with the matching record, reaches nobody else, and costs
//! no Salesforce API call.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use ctibridge_emulator_starface::{CallKind, CallSpec};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::{connect, eventually, next_json, sign_in, wait_frame};

struct World {
    org: ctibridge_emulator_salesforce::RunningOrg,
    pbx: ctibridge_emulator_starface::RunningPbx,
    running: ctibridge_server::Running,
    base: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let org = ctibridge_emulator_salesforce::spawn(lo, Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo, Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind(lo).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config::demo(
        dir.path().to_path_buf(),
        addr,
        pbx.url().clone(),
        LoginUrl::parse(org.url().as_str()).unwrap().0,
    );
    let running = ctibridge_server::start_on(config, listener).await.unwrap();
    for (login, pw) in [("1001", "ben-pass"), ("1002", "clara-pass")] {
        ctibridge_server::uci::set_credentials(running.state(), login, &pw.to_owned().into())
            .await
            .unwrap();
    }
    let state = running.state().clone();
    eventually("UCI sessions and the index", || {
        state.hub.uci("1001").state == "active"
            && state.hub.uci("1002").state == "active"
            && state.lookup("Salesforce Demo").is_some()
    })
    .await;
    World {
        org,
        pbx,
        running,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

/// A number the index maps to exactly `n` exact matches, written as a German PBX writes it.
fn number_with_matches(w: &World, n: usize) -> (String, Vec<String>) {
    let lookup = w.running.state().lookup("Salesforce Demo").unwrap();
    for e in &lookup.samples {
        let m = lookup.index.lookup(e);
        if m.len() == n
            && m.iter()
                .all(|x| x.strength == ctibridge_phone::MatchStrength::Exact)
        {
            let national = match e.as_str().strip_prefix("+49") {
                Some(rest) => format!("0{rest}"),
                None => format!("00{}", &e.as_str()[1..]),
            };
            return (
                national,
                m.iter().map(|x| x.record.id.to_string()).collect(),
            );
        }
    }
    panic!("no sample number with {n} matches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_call_reaches_only_its_users_panel_with_the_record_and_no_api_call() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let clara = sign_in(&w.base, "clara.klein@example.com").await;
    let (mut ben_ws, _) = connect(&w.base, &ben).await;
    let (mut clara_ws, _) = connect(&w.base, &clara).await;

    let (number, ids) = number_with_matches(&w, 1);
    let api_before = w.org.control().api_usage().used;
    let call_id = w
        .pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Inbound,
            target: "1001".into(),
            number: number.clone(),
            ring_steps: 2,
            talk_steps: 2,
            ..Default::default()
        })
        .unwrap();

    let ringing = wait_frame(&mut ben_ws, |v| {
        v["type"] == "call"
            && v["call"]["id"] == call_id.as_str()
            && v["call"]["state"] == "ringing"
    })
    .await;
    let call = &ringing["call"];
    assert_eq!(call["direction"], "inbound");
    assert_eq!(call["remote"]["raw"], number.as_str());
    assert_eq!(call["matches"].as_array().unwrap().len(), 1, "{call}");
    assert_eq!(call["matches"][0]["id"], ids[0].as_str());

    let ended = wait_frame(&mut ben_ws, |v| {
        v["type"] == "call" && v["call"]["state"] == "ended"
    })
    .await;
    assert_eq!(ended["call"]["outcome"], "answered");
    assert_eq!(
        w.org.control().api_usage().used,
        api_before,
        "the ring path must not call Salesforce"
    );

    // Clara's panel heard nothing of Ben's call.
    let nothing = tokio::time::timeout(Duration::from_millis(300), clara_ws.next()).await;
    assert!(nothing.is_err(), "Clara got a frame: {nothing:?}");

    // A panel that connects now gets the last call at once.
    let (_late, hello) = connect(&w.base, &ben).await;
    assert_eq!(hello["calls"][0]["id"], call_id.as_str());
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_shared_by_two_contacts_lists_both() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let (number, mut ids) = number_with_matches(&w, 2);
    w.pbx
        .control()
        .play(CallSpec {
            target: "1001".into(),
            number,
            ..Default::default()
        })
        .unwrap();
    let frame = wait_frame(&mut ws, |v| {
        v["type"] == "call" && v["call"]["state"] == "ringing"
    })
    .await;
    let mut got: Vec<String> = frame["call"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_token_gets_no_calls_and_bad_callbacks_are_refused() {
    let w = world().await;
    let url = format!("{}/panel/ws", w.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(
        json!({"type": "auth", "token": "forged"}).to_string(),
    ))
    .await
    .unwrap();
    let answer = next_json(&mut ws).await.unwrap();
    assert_eq!(answer["error"], "unauthorized");

    let http = reqwest::Client::new();
    let unknown = http
        .post(format!("{}/uci/callback/not-a-secret", w.base))
        .body("<methodCall/>")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let huge = http
        .post(format!("{}/uci/callback/x", w.base))
        .body(vec![b'a'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert!(
        huge.status() == 413 || huge.status() == 404,
        "{}",
        huge.status()
    );
    // The service still works.
    assert!(
        http.get(format!("{}/healthz", w.base))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let _ = Arc::clone(w.running.state());
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_is_reported_and_the_right_one_connects_again() {
    let w = world().await;
    let state = w.running.state().clone();
    ctibridge_server::uci::set_credentials(&state, "1003", &"wrong".to_owned().into())
        .await
        .unwrap();
    eventually("the refusal", || {
        let u = state.hub.uci("1003");
        u.state == "failed" && u.detail.as_deref().is_some_and(|d| d.contains("refused"))
    })
    .await;
    ctibridge_server::uci::set_credentials(&state, "1003", &"david-pass".to_owned().into())
        .await
        .unwrap();
    eventually("the session with the right password", || {
        state.hub.uci("1003").state == "active"
    })
    .await;
    w.running.shutdown().await;
}

/// Entering the password again while the session is up replaces the session; the old one's
/// late "stopped" must not hide the new one's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_the_password_again_ends_with_the_new_session_active() {
    let w = world().await;
    let state = w.running.state().clone();
    for _ in 0..3 {
        ctibridge_server::uci::set_credentials(&state, "1001", &"ben-pass".to_owned().into())
            .await
            .unwrap();
    }
    eventually("the new session", || {
        state.hub.uci("1001").state == "active"
    })
    .await;
    // Late reports of the replaced sessions have had time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(state.hub.uci("1001").state, "active");
    assert_eq!(state.uci.session_count(), 2);
    w.running.shutdown().await;
}
