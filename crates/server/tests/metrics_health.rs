//! `/readyz` and `/metrics` of a connector between both emulators.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step stops the test

mod support;

use std::collections::HashMap;

use ctibridge_server::status::LinkState;
use support::{BEN_AND_CLARA, INSTANCE, Wiring, eventually, proxy::Mode};

/// Sample lines as `name{labels}` -> value; fails on any line that is not `name{labels} value`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line}");
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        assert!(samples.insert(series.to_owned(), v).is_none(), "dup {line}");
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_unread_pbx_then_turns_ready_and_metrics_carry_the_live_state() {
    let w = support::world_with(Wiring {
        pbx_proxy: Some(Mode::Refuse),
        credentials: BEN_AND_CLARA.to_vec(),
        ..Default::default()
    })
    .await;
    let http = reqwest::Client::new();
    let state = w.running.state().clone();
    eventually("the first failed read of the PBX", || {
        matches!(state.status().starface.state, LinkState::Failed(_))
    })
    .await;

    let r = http.get(format!("{}/readyz", w.base)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["ready"], false);
    let not_ready: Vec<String> = serde_json::from_value(body["not_ready"].clone()).unwrap();
    assert!(
        not_ready.iter().any(|s| s.starts_with("pbx_directory:")),
        "{not_ready:?}"
    );
    let m = http
        .get(format!("{}/metrics", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), 200);
    let metrics = parse(&m.text().await.unwrap());
    assert_eq!(metrics["ctibridge_ready"], 0.0);
    assert_eq!(metrics["ctibridge_starface_up"], 0.0);

    w.pbx_proxy.as_ref().unwrap().set_mode(Mode::Forward);
    let deadline = tokio::time::Instant::now() + support::LIMIT;
    loop {
        let r = http.get(format!("{}/readyz", w.base)).send().await.unwrap();
        if r.status() == 200 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["ready"], true);
            assert_eq!(body["not_ready"], serde_json::json!([]));
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    eventually("UCI sessions and a synced index", || {
        ["1001", "1002"]
            .iter()
            .all(|l| state.hub.uci(l).state == "active")
            && support::index_ready(&state)
            && state.status().instances[0].api_usage.is_some()
    })
    .await;

    let m = http
        .get(format!("{}/metrics", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        m.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let metrics = parse(&m.text().await.unwrap());
    let inst = format!("instance=\"{INSTANCE}\"");
    let get = |series: &str| -> f64 {
        *metrics
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {metrics:#?}"))
    };
    assert_eq!(get("ctibridge_ready"), 1.0);
    assert_eq!(get("ctibridge_starface_up"), 1.0);
    assert_eq!(get("ctibridge_starface_users"), 6.0);
    assert_eq!(get("ctibridge_starface_groups"), 2.0);
    assert_eq!(get("ctibridge_uci_sessions"), 2.0);
    assert!(get("ctibridge_uci_users{state=\"active\"}") >= 2.0);
    assert_eq!(get("ctibridge_panels_connected"), 0.0);
    for s in ["pending", "in_flight", "done", "failed"] {
        assert!(get(&format!("ctibridge_outbox_items{{state=\"{s}\"}}")) >= 0.0);
    }
    assert_eq!(get(&format!("ctibridge_salesforce_up{{{inst}}}")), 1.0);
    let status = state.status();
    let i = &status.instances[0];
    assert!(i.numbers_indexed > 0);
    assert_eq!(
        get(&format!("ctibridge_index_numbers{{{inst}}}")),
        i.numbers_indexed as f64
    );
    let contacts = get(&format!(
        "ctibridge_index_records{{{inst},object=\"Contact\"}}"
    ));
    assert!(contacts > 0.0);
    let usage = i.api_usage.unwrap();
    assert_eq!(
        get(&format!("ctibridge_api_usage_used{{{inst}}}")),
        usage.used as f64
    );
    assert_eq!(
        get(&format!("ctibridge_api_usage_limit{{{inst}}}")),
        usage.limit as f64
    );
    assert!(usage.used > 0 && usage.used <= usage.limit);
    let now = chrono::Utc::now().timestamp() as f64;
    let full = get(&format!(
        "ctibridge_sync_last_full_success_timestamp_seconds{{{inst},object=\"Contact\"}}"
    ));
    assert!(full > now - 120.0 && full <= now + 1.0, "{full} vs {now}");
    assert_eq!(
        get(&format!(
            "ctibridge_sync_error{{{inst},object=\"Contact\"}}"
        )),
        0.0
    );
    assert_eq!(get(&format!("ctibridge_sync_paused{{{inst}}}")), 0.0);
    w.running.shutdown().await;
}
