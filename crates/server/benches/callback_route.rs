//! Benchmark of the first step of the ring path: which user's session a PBX callback belongs
//! to, by the secret in its path, among 2,000 sessions (the load tool's default).
//!
//! `cargo bench -p ctibridge-server --bench callback_route` (see docs/PERFORMANCE.md). The
//! first benchmark is the connector's way (`uci::CallbackRoutes`); the second is the linear
//! scan with a constant-time compare per session it replaced, kept as the baseline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up: a panic is a failed run

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctibridge_server::sessions::random_token;
use ctibridge_server::uci::CallbackRoutes;
use ctibridge_starface::auth::secrets_equal;

const SESSIONS: usize = 2_000;
/// Callbacks per measured batch, spread over the sessions.
const BATCH: usize = 100;

fn route(c: &mut Criterion) {
    let sessions: Vec<(String, String)> = (0..SESSIONS)
        .map(|i| (random_token(), format!("{}", 30_000 + i)))
        .collect();
    let mut routes = CallbackRoutes::default();
    for (secret, login) in &sessions {
        routes.insert(secret, login);
    }
    let asked: Vec<String> = (0..BATCH)
        .map(|i| sessions[(i * 7919) % SESSIONS].0.clone())
        .collect();

    let mut g = c.benchmark_group("callback_route");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("map_by_secret_hash_2000_sessions", |b| {
        b.iter(|| {
            for s in &asked {
                black_box(routes.find(black_box(s)));
            }
        })
    });
    g.bench_function("linear_scan_2000_sessions_before", |b| {
        b.iter(|| {
            for s in &asked {
                black_box(
                    sessions
                        .iter()
                        .find(|(secret, _)| secrets_equal(secret, black_box(s)))
                        .map(|(_, login)| login.as_str()),
                );
            }
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = route
}
criterion_main!(benches);
