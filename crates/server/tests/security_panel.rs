//! Panel isolation, framing and sign-in throttling: a token names one user and only ever
//! yields that user's calls; a stolen WebSocket URL without the token yields nothing; only
//! Salesforce may frame the panel and nobody may frame the status page; a flood of sign-ins is
//! answered with 429.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::Message;

async fn ws_rejects(base: &str, first: Option<Message>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(base))
        .await
        .unwrap();
    if let Some(m) = first {
        let _ = ws.send(m).await;
    }
    // Whatever comes back before the close is an error, never a hello or a call.
    while let Ok(Some(Ok(m))) = tokio::time::timeout(LIMIT, ws.next()).await {
        match m {
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v["type"], "error", "{v}");
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_only_ever_yields_its_own_users_calls() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let clara = sign_in(&w.base, "clara.klein@example.com").await;
    let (mut ben_ws, hello) = connect(&w.base, &ben).await;
    assert_eq!(hello["user"]["starface_login"], "1001");
    let (mut clara_ws, _) = connect(&w.base, &clara).await;

    // Ben's panel claims to be Clara, with her login and with a made-up token: ignored.
    for claim in [
        json!({"type": "auth", "token": clara}),
        json!({"type": "auth", "user": "1002"}),
        json!({"type": "subscribe", "user": "1002", "starface_login": "1002"}),
    ] {
        ben_ws.send(Message::text(claim.to_string())).await.unwrap();
    }
    // A call for Clara reaches Clara only.
    let ended = w.call_reaches_panel(&mut clara_ws, "1002").await;
    let clara_call = ended["call"]["id"].as_str().unwrap().to_owned();
    ben_ws
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    loop {
        let v = next_json(&mut ben_ws).await.expect("pong");
        assert_ne!(v["type"], "call", "Ben saw a call: {v}");
        if v["type"] == "pong" {
            break;
        }
    }
    // Ben's token over HTTP is Ben, and cannot store credentials for Clara.
    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(format!("{}/panel/api/me", w.base))
        .bearer_auth(&ben)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["starface_login"], "1001");
    let r = http
        .put(format!("{}/panel/api/starface-credentials", w.base))
        .bearer_auth(&ben)
        .json(&json!({"login": "1002", "password": "mine-now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "wrong_login"
    );
    // Ben's panel opened later still shows no call of Clara's.
    let (_late, hello) = connect(&w.base, &ben).await;
    assert!(!hello["calls"].to_string().contains(&clara_call), "{hello}");
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_missing_and_ended_tokens_get_nothing() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    // A stolen WebSocket URL is useless without the token: the URL carries none.
    ws_rejects(&w.base, None).await;
    for first in [
        Message::text(json!({"type": "auth", "token": "forged"}).to_string()),
        Message::text(json!({"type": "auth", "token": format!("{ben}x")}).to_string()),
        Message::text(json!({"type": "auth", "token": ""}).to_string()),
        Message::text(json!({"type": "ping"}).to_string()),
        Message::text("garbage {".to_string()),
        Message::binary(vec![0u8, 159, 146, 150]),
        Message::text(json!({"type": "auth", "token": "x".repeat(64 * 1024)}).to_string()),
    ] {
        ws_rejects(&w.base, Some(first)).await;
    }
    let http = reqwest::Client::new();
    for auth in ["Bearer forged", "Basic YWRtaW46YWRtaW4=", "Bearer ", ""] {
        let r = http
            .get(format!("{}/panel/api/me", w.base))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{auth}");
    }
    // After logout the token is dead everywhere.
    let r = http
        .post(format!("{}/panel/api/logout", w.base))
        .bearer_auth(&ben)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    ws_rejects(
        &w.base,
        Some(Message::text(
            json!({"type": "auth", "token": ben}).to_string(),
        )),
    )
    .await;
    assert!(healthy(&w.base).await);
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_socket_survives_garbage_but_not_oversized_messages() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    for junk in [
        "",
        "null",
        "[]",
        "{\"type\":\"call\"}",
        "{\"type\":\"auth\"}",
        "\u{0}",
    ] {
        ws.send(Message::text(junk.to_string())).await.unwrap();
    }
    ws.send(Message::binary(vec![1u8; 100])).await.unwrap();
    ws.send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    let pong = wait_frame(&mut ws, |v| v["type"] == "pong").await;
    assert_eq!(pong["type"], "pong");
    w.call_reaches_panel(&mut ws, "1001").await;

    // More than the panel's 16 KiB limit ends this connection, nothing else.
    let _ = ws.send(Message::text("x".repeat(64 * 1024))).await;
    let closed = loop {
        match tokio::time::timeout(LIMIT, ws.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break true,
            Ok(Some(Ok(_))) => continue,
            Err(_) => break false,
        }
    };
    assert!(closed, "an oversized message did not end the connection");
    let (mut again, _) = connect(&w.base, &ben).await;
    w.call_reaches_panel(&mut again, "1001").await;
    w.running.shutdown().await;
}

fn frame_ancestors(csp: &str) -> String {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("frame-ancestors "))
        .unwrap_or_else(|| panic!("no frame-ancestors in {csp}"))
        .to_owned()
}

async fn csp_of(base: &str, path: &str) -> String {
    let r = no_redirects()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    r.headers()
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{path} has no CSP"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_salesforce_may_frame_the_panel_and_nobody_the_status_page_or_admin() {
    // An instance of a real org (not loopback): 'self' must not be an ancestor.
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ctibridge_config::Config::demo(
        dir.path().to_path_buf(),
        addr,
        url::Url::parse("http://127.0.0.1:9/").unwrap(),
        ctibridge_domain::LoginUrl::parse("https://acme.my.salesforce.com")
            .unwrap()
            .0,
    );
    // Disabled: the test stays on loopback; the panel's headers still follow the instance.
    config.instances[0].enabled = false;
    let running = ctibridge_server::start_on(config, listener).await.unwrap();
    let base = format!("http://{addr}");
    for path in ["/panel", "/panel/panel.js"] {
        let fa = frame_ancestors(&csp_of(&base, path).await);
        let sources: Vec<&str> = fa.split_whitespace().collect();
        assert!(!sources.is_empty());
        for s in &sources {
            assert!(
                s.ends_with(".force.com") || s.ends_with(".salesforce.com"),
                "{path}: frame-ancestors allows {s}"
            );
            assert!(s.starts_with("https://"), "{path}: {s} is not https");
        }
        assert!(!fa.contains('*') || sources.iter().all(|s| s.starts_with("https://*.")));
    }
    for path in [
        "/",
        "/status",
        "/panel/oauth/callback?code=x&state=y",
        "/admin",
    ] {
        assert_eq!(
            frame_ancestors(&csp_of(&base, path).await),
            "'none'",
            "{path}"
        );
    }
    let nosniff = reqwest::get(format!("{base}/api/status")).await.unwrap();
    assert_eq!(
        nosniff.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    running.shutdown().await;

    // The demo (org on loopback) may also frame it from the connector's own host page.
    let w = world_with(Wiring::default()).await;
    let fa = frame_ancestors(&csp_of(&w.base, "/panel").await);
    assert!(fa.contains("'self'"), "{fa}");
    assert!(fa.contains("https://*.lightning.force.com"), "{fa}");
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_ins_is_throttled_and_recovers() {
    let w = world_with(Wiring::default()).await;
    let http = no_redirects();
    let attempts = (ctibridge_server::ratelimit::LOGIN_BURST * 4) as usize;
    let answers = futures::future::join_all((0..attempts).map(|i| {
        let http = http.clone();
        let path = if i % 2 == 0 {
            "/panel/login".to_owned()
        } else {
            format!("/panel/oauth/callback?code=c{i}&state=forged")
        };
        let url = format!("{}{path}", w.base);
        async move { http.get(url).send().await.unwrap() }
    }))
    .await;
    let throttled: Vec<_> = answers.iter().filter(|r| r.status() == 429).collect();
    assert!(!throttled.is_empty(), "no request was throttled");
    assert!(
        throttled
            .iter()
            .all(|r| r.headers().contains_key("retry-after"))
    );
    assert!(
        answers.len() - throttled.len() >= ctibridge_server::ratelimit::LOGIN_BURST as usize,
        "the burst was not served"
    );
    // Other routes are not throttled, and sign-in works again after a pause.
    assert!(healthy(&w.base).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = http
        .get(format!("{}/panel/login", w.base))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    w.running.shutdown().await;
}
