//! Benchmarks of the last step of the ring path: a call as the panel shows it (`PanelCall`)
//! encoded as the WebSocket frame `{"type":"call","call":{...}}`.
//!
//! `cargo bench -p ctibridge-server --bench panel` (see docs/PERFORMANCE.md). The hub encodes
//! each message once for all of the user's panels (`HubMessage::to_frame`, the same bytes as
//! before); the panel task used to encode it once per open panel through `serde_json::Value`,
//! kept here as the baseline. `direct_to_string` is serde's own floor.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up: a panic is a failed run

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctibridge_server::hub::{CardField, HubMessage, PanelCall, PanelMatch, Remote};

fn card(label: &str, value: &str) -> CardField {
    CardField {
        label: label.to_owned(),
        value: value.to_owned(),
    }
}

/// A ringing inbound call with one Contact match and its caller card, as the demo shows it.
fn ringing() -> HubMessage {
    HubMessage::Call {
        call: PanelCall {
            id: "6f1c2a4e-9b1d-4c7e-8a3f-2d5e6b7c8d9e".to_owned(),
            direction: "inbound",
            state: "ringing",
            outcome: None,
            remote: Remote {
                raw: "0030123456".to_owned(),
                e164: Some("+4930123456".to_owned()),
                name: Some("Hans Muster".to_owned()),
                kind: "external",
            },
            group: None,
            matches: vec![PanelMatch {
                object: "Contact".to_owned(),
                id: "003D000000QkqX1IAJ".to_owned(),
                name: "Maria Muster".to_owned(),
                strength: "exact",
                fields: vec![
                    card("Account", "Acme GmbH"),
                    card("Title", "Einkaufsleiterin"),
                    card("Email", "maria.muster@acme.example"),
                    card("Owner", "Ben Utzer"),
                    card("Phone", "+4930123456"),
                ],
            }],
            started_at: chrono::Utc::now(),
            ended_at: None,
        },
    }
}

fn encode(c: &mut Criterion) {
    let msg = ringing();
    let mut g = c.benchmark_group("panel_frame");
    g.throughput(Throughput::Elements(1));
    g.bench_function("via_value_as_the_panel_task_does", |b| {
        b.iter(|| {
            let v = serde_json::to_value(black_box(&msg)).unwrap();
            black_box(v.to_string())
        })
    });
    g.bench_function("direct_to_string", |b| {
        b.iter(|| black_box(serde_json::to_string(black_box(&msg)).unwrap()))
    });
    g.bench_function("hub_to_frame", |b| {
        b.iter(|| black_box(black_box(&msg).to_frame().unwrap()))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = encode
}
criterion_main!(benches);
