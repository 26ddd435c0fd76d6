//! Benchmarks of the first step of the ring path: the body the PBX posts to our callback
//! (`receiveCallState`, XML-RPC) decoded into a `CallEvent`, and that event folded into the
//! call tracker.
//!
//! `cargo bench -p ctibridge-starface --bench callback` (see docs/PERFORMANCE.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up: a panic is a failed run

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctibridge_domain::{CallTracker, StarfaceLoginId};
use ctibridge_starface::uci::{CallbackMessage, parse_callback_for};
use ctibridge_starface::xmlrpc::{MethodCall, Struct, Value};

/// A `receiveCallState` body as the PBX (and the emulator) writes it, in the documented
/// field order.
fn body(call_id: &str, state: &str) -> Vec<u8> {
    let s = Struct::new()
        .with("id", call_id)
        .with("state", state)
        .with("timestamp", "1764094800123")
        .with("callerNumber", "0030123456")
        .with("callerName", "Hans Muster")
        .with("calledNumber", "201")
        .with("calledName", "Ben Utzer")
        .with("groupID", "");
    MethodCall::new(
        "ucp.v22.events.call.receiveCallState",
        vec![Value::Struct(s)],
    )
    .to_xml()
    .into_bytes()
}

const QUERY: &str = "de.vertico.starface.user=1001&de.vertico.starface.auth=a1b2c3d4e5f6a7b8c9d0";

fn callback(c: &mut Criterion) {
    let user = StarfaceLoginId::parse("1001").unwrap();
    let ringing = body("6f1c2a4e-9b1d-4c7e-8a3f-2d5e6b7c8d9e", "RINGING");
    let mut g = c.benchmark_group("callback");
    g.throughput(Throughput::Elements(1));
    g.bench_function("xmlrpc_method_call_from_xml", |b| {
        b.iter(|| black_box(MethodCall::from_xml(black_box(&ringing)).unwrap()))
    });
    g.bench_function("receive_call_state_to_call_event", |b| {
        b.iter(|| {
            let r = parse_callback_for(black_box(&ringing), black_box(QUERY), &user).unwrap();
            black_box(r.message)
        })
    });

    // A call's four events folded into the tracker of a PBX with 500 users on the phone.
    let states = ["INCOMING", "RINGING", "CONNECTED", "HANGUP"];
    let events: Vec<Vec<_>> = (0..500)
        .map(|i| {
            let user = StarfaceLoginId::parse(&format!("{}", 2000 + i)).unwrap();
            states
                .iter()
                .map(|st| {
                    let id = format!("00000000-0000-4000-8000-{i:012}");
                    match parse_callback_for(&body(&id, st), "", &user)
                        .unwrap()
                        .message
                    {
                        CallbackMessage::CallState(e) => e,
                        CallbackMessage::Ignored => unreachable!("a call state"),
                    }
                })
                .collect()
        })
        .collect();
    g.throughput(Throughput::Elements((events.len() * states.len()) as u64));
    g.bench_function("tracker_apply_500_calls_x4_events", |b| {
        b.iter(|| {
            let mut tracker = CallTracker::new();
            let now = chrono::Utc::now();
            for call in &events {
                for e in call {
                    black_box(tracker.apply(e, now));
                }
            }
            tracker
        })
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
    targets = callback
}
criterion_main!(benches);
