//! Memory stays bounded under abuse, measured where it counts: the resident set (VmRSS) of
//! the real `ctibridge serve` process. After a warm-up, rounds of callback floods (valid,
//! replayed, garbage, misaddressed, large), panel WebSocket churn and calls ending during a
//! Salesforce outage (their logs wait in the outbox on disk) must leave the process within a
//! fixed bound of its warm-up size, without a climb from round to round; and once the org is
//! back, every call that ended has exactly one Task.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use support::proxy::{FaultProxy, Mode};
use support::served::{self, Served};
use support::*;
use tokio_tungstenite::tungstenite::Message;

const ROUNDS: usize = 5;
const CALLBACKS_PER_ROUND: usize = 2_000;
const SOCKETS_PER_ROUND: usize = 60;
const CALLS_PER_ROUND: usize = 2;
/// Growth over the warm-up that fails the test: generous, it is a bound, not a measurement.
const BOUND_KIB: u64 = 64 * 1024;
/// Growth from the second measured round to the last: a leak per request would show here.
const CLIMB_KIB: u64 = 12 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// A gauge of `/metrics`, e.g. `ctibridge_outbox_items{state="pending"}`.
async fn metric(base: &str, series: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

fn callback_path(pbx: &ctibridge_emulator_starface::RunningPbx, login: &str) -> Option<String> {
    pbx.control()
        .sessions()
        .into_iter()
        .find(|s| s.login == login && s.callback.is_some())
        .and_then(|s| url::Url::parse(s.callback.as_deref()?).ok())
        .map(|u| u.path().to_owned())
}

/// The `i`-th callback of round `round`: mostly real call events, some replayed, some junk,
/// some to a secret that does not exist, now and then a large body.
fn callback(base: &str, live: &str, round: usize, i: usize) -> (String, Vec<u8>) {
    let live = format!("{base}{live}");
    let id = |k: usize| format!("flood-{round}-{k}");
    match i % 10 {
        0..=3 => (
            live,
            call_state_body(&id(i), "RINGING", "030123456").into_bytes(),
        ),
        4 => (
            live,
            call_state_body("replayed", "RINGING", "030123456").into_bytes(),
        ),
        5 => (
            live,
            call_state_body(&id(i - 5), "HANGUP", "030123456").into_bytes(),
        ),
        6 => (
            live,
            (0..512u32)
                .map(|b| (b.wrapping_mul(2_654_435_761).wrapping_add(i as u32) >> 24) as u8)
                .collect(),
        ),
        7 => (
            live,
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">]>\
              <methodCall><methodName>&a;</methodName><params><param><value><struct>"
                .to_vec(),
        ),
        8 => (
            format!(
                "{base}/uci/callback/{:064x}",
                i as u128 * 0x9e37_79b9_7f4a_7c15
            ),
            call_state_body(&id(i), "RINGING", "030123456").into_bytes(),
        ),
        _ if i % 100 == 9 => (live, vec![b'<'; 200 * 1024]),
        _ => (
            live,
            b"<methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName>".to_vec(),
        ),
    }
}

async fn flood(http: &reqwest::Client, base: &str, live: &str, round: usize) {
    let answered = futures::stream::iter(0..CALLBACKS_PER_ROUND)
        .map(|i| {
            let (url, body) = callback(base, live, round, i);
            let http = http.clone();
            async move { http.post(url).body(body).send().await.is_ok() }
        })
        .buffer_unordered(32)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    assert_eq!(answered, CALLBACKS_PER_ROUND, "callbacks went unanswered");
}

/// Panels come and go: signed in, never signed in, garbage then gone without a close.
async fn churn(base: &str, token: &str) {
    for i in 0..SOCKETS_PER_ROUND {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(base))
            .await
            .unwrap();
        if i % 5 == 4 {
            drop(ws);
            continue;
        }
        ws.send(Message::text(
            json!({"type": "auth", "token": token}).to_string(),
        ))
        .await
        .unwrap();
        let hello = next_json(&mut ws).await.unwrap();
        assert_eq!(hello["type"], "hello", "{hello}");
        if i % 3 == 0 {
            ws.send(Message::text("{\"type\":\"calls\",\"user\":\"1002\""))
                .await
                .unwrap();
            ws.send(Message::binary(vec![0u8; 1024])).await.unwrap();
            drop(ws);
        } else {
            let _ = ws.close(None).await;
        }
    }
}

/// Calls through the PBX to Ben that end; returns their ids once the connector took each
/// HANGUP (it answers only after the call log is in the outbox).
async fn calls(pbx: &ctibridge_emulator_starface::RunningPbx, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n)
        .map(|i| {
            pbx.control()
                .play(ctibridge_emulator_starface::CallSpec {
                    target: "1001".into(),
                    number: format!("+49 30 123456{i}"),
                    ring_steps: 1,
                    talk_steps: 1,
                    ..Default::default()
                })
                .unwrap()
                .to_string()
        })
        .collect();
    let control = pbx.control();
    eventually("the connector to take every HANGUP", || {
        let events = control.events();
        ids.iter().all(|id| {
            events.iter().any(|e| {
                e.login == "1001"
                    && e.fields.get("id") == Some(id)
                    && e.fields.get("state").map(String::as_str) == Some("HANGUP")
                    && e.outcome == ctibridge_emulator_starface::DeliveryOutcome::Delivered
            })
        })
    })
    .await;
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_churn_and_an_outage_keep_the_resident_set_of_the_process_bounded() {
    let org = ctibridge_emulator_salesforce::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(loopback(), Default::default())
        .await
        .unwrap();
    // The org's sign-in and API both go through the proxy: the outage is a network one.
    let proxy = FaultProxy::start(org.url().socket_addrs(|| None).unwrap()[0]).await;
    let mut proxy_url = org.url().clone();
    proxy_url.set_port(Some(proxy.addr().port())).unwrap();
    let origin = |u: &url::Url| u.as_str().trim_end_matches('/').to_owned();
    proxy.rewrite_answers(&origin(org.url()), &origin(&proxy_url));

    let dir = tempfile::tempdir().unwrap();
    let port = served::free_port();
    let config = served::write_config(dir.path(), port, pbx.url(), &proxy_url, "info");
    let served = Served::start(&config, port, dir.path().join("serve.stderr")).await;
    let pid = served.child.id();
    let base = served.base.clone();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let s = served.status().await;
        let i = &s["instances"][0];
        if i["salesforce"]["state"] == "ok" && i["numbers_indexed"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not ready: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = sign_in(&base, "ben.utzer@example.com").await;
    let r = reqwest::Client::new()
        .put(format!("{base}/panel/api/starface-credentials"))
        .bearer_auth(&token)
        .json(&json!({"login": "1001", "password": "ben-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut live = None;
    eventually("Ben's UCI session", || {
        live = callback_path(&pbx, "1001");
        live.is_some()
    })
    .await;
    let live = live.unwrap();
    let http = reqwest::Client::new();

    // Warm-up: the same work once with the org up, so that pools, caches and the
    // allocator's arenas have their working size.
    flood(&http, &base, &live, 0).await;
    churn(&base, &token).await;
    let mut ended = calls(&pbx, CALLS_PER_ROUND).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let warm = rss_kib(pid);

    // Salesforce goes away: call logs pile up in the outbox (on disk).
    proxy.set_mode(Mode::Refuse);
    proxy.reset_live();
    let mut rss = Vec::new();
    for round in 1..=ROUNDS {
        flood(&http, &base, &live, round).await;
        churn(&base, &token).await;
        ended.extend(calls(&pbx, CALLS_PER_ROUND).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(rss_kib(pid));
        assert!(healthy(&base).await, "round {round}: not healthy");
    }
    let waiting = metric(&base, "ctibridge_outbox_items{state=\"pending\"}").await
        + metric(&base, "ctibridge_outbox_items{state=\"in_flight\"}").await;
    eprintln!(
        "VmRSS warm-up {warm} KiB, rounds {rss:?} KiB; outbox waiting {waiting}; load {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    assert!(
        waiting >= (ROUNDS * CALLS_PER_ROUND) as f64,
        "the calls of the outage are not waiting in the outbox ({waiting})"
    );
    let peak = *rss.iter().max().unwrap();
    assert!(
        peak < warm + BOUND_KIB,
        "VmRSS grew from {warm} KiB to {peak} KiB: {rss:?}"
    );
    assert!(
        rss[ROUNDS - 1] < rss[1] + CLIMB_KIB,
        "VmRSS keeps climbing from round to round: {rss:?}"
    );

    // The org is back: every call that ended has its Task, once.
    proxy.set_mode(Mode::Forward);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: Vec<usize> = ended.iter().map(|id| tasks_of(&org, id)).collect();
        assert!(n.iter().all(|&n| n <= 1), "a call got two Tasks: {n:?}");
        if n.iter().all(|&n| n == 1) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Tasks missing after the outage: {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = rss_kib(pid);
    eprintln!("VmRSS after the outbox drained: {after} KiB");
    assert!(
        after < warm + BOUND_KIB,
        "VmRSS {after} KiB after the drain"
    );
    let stderr = std::fs::read_to_string(&served.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    drop(served);
}
