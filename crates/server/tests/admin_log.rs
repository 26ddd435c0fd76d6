//! The admin UI's Log page over HTTP: the level changes at once, the tail filters by level,
//! and the file downloads. Its own test binary, because it installs the process's logger.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

use std::net::SocketAddr;
use std::time::Duration;

use ctibridge_config::{Config, LogLevel};
use ctibridge_domain::LoginUrl;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn log_lines(http: &reqwest::Client, base: &str, cookie: &str, filter: &str) -> Vec<String> {
    let v: Value = http
        .get(format!("{base}/admin/api/log?lines=5000&level={filter}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn log_level_set_in_the_admin_ui_takes_effect_at_once_and_the_log_downloads() {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let org = ctibridge_emulator_salesforce::spawn(lo, Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo, Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (subscriber, control, _guard) =
        ctibridge_server::logging::build(dir.path(), LogLevel::Info).unwrap();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let listener = tokio::net::TcpListener::bind(lo).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config::demo(
        dir.path().to_path_buf(),
        addr,
        pbx.url().clone(),
        LoginUrl::parse(org.url().as_str()).unwrap().0,
    );
    let running = ctibridge_server::start_with(
        config,
        Some(control.clone()),
        ctibridge_server::StartOptions {
            listener: Some(listener),
            demo: None,
        },
    )
    .await
    .unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/admin/api/login"))
        .json(&json!({"login": "0001", "password": "admin-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["log_level"], "info");
    let csrf = session["csrf"].as_str().unwrap().to_owned();

    tracing::debug!(target: "ctibridge_server::admin_log_test", "marker-debug-before");
    let changed = http
        .put(format!("{base}/admin/api/log/level"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"level": "DEBUG"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(control.level(), LogLevel::Debug);
    tracing::debug!(target: "ctibridge_server::admin_log_test", "marker-debug-after");
    tracing::warn!(target: "ctibridge_server::admin_log_test", "marker-warn");

    // The file is written on a thread of its own: give it a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let all = loop {
        let all = log_lines(&http, &base, &cookie, "").await;
        if all.iter().any(|l| l.contains("marker-warn")) {
            break all;
        }
        assert!(tokio::time::Instant::now() < deadline, "{all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = all.join("\n");
    assert!(text.contains("marker-debug-after"), "{text}");
    assert!(!text.contains("marker-debug-before"), "{text}");
    assert!(text.contains("log level set in the admin UI"), "{text}");

    let warn_only = log_lines(&http, &base, &cookie, "WARN").await.join("\n");
    assert!(warn_only.contains("marker-warn"), "{warn_only}");
    assert!(!warn_only.contains("marker-debug-after"), "{warn_only}");

    let bad_level = http
        .put(format!("{base}/admin/api/log/level"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"level": "LOUD"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_level.status(), StatusCode::BAD_REQUEST);
    assert_eq!(control.level(), LogLevel::Debug);

    let download = http
        .get(format!("{base}/admin/api/log/download"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"ctibridge.log."),
        "{disposition}"
    );
    let body = download.text().await.unwrap();
    assert!(body.contains("marker-warn"));

    let anonymous = http
        .get(format!("{base}/admin/api/log/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    running.shutdown().await;
}
