//! The load tool's callback endpoint: the connector's `public_url` points here, so every
//! `receiveCallState` the emulated PBX posts arrives here first and is timestamped (`t0`).
//!
//! - [`LookupMode::Server`]: the request is passed on unchanged to the connector's own
//!   callback route (one extra loopback hop, counted in the latency).
//! - [`LookupMode::Index`] / [`LookupMode::Sosl`]: the request is handled here by a copy of
//!   the connector's callback route built from its public parts (callback decoder, call
//!   tracker, `panel_call`, the hub), with the lookup of [`crate::lookup::identify`]. The two
//!   differ only in the lookup, so their ratio is the cost of a live SOSL search.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ctibridge_domain::{CallState, CallTracker};
use ctibridge_server::state::AppState;
use ctibridge_starface::uci::{CallbackMessage, parse_callback};

use crate::lookup::{self, LookupMode};

/// When a callback for a call arrived, and which panel state it should produce.
#[derive(Debug, Clone)]
pub struct Mark {
    /// The PBX's call id.
    pub call_id: String,
    /// `ringing`, `dialing`, `connected` or `ended`.
    pub frame_state: &'static str,
    /// When the callback request reached us.
    pub t0: Instant,
}

/// Counters of the callback endpoint.
#[derive(Debug, Default)]
pub struct Counters {
    /// Callbacks received.
    pub callbacks: AtomicU64,
    /// Callbacks answered with an error or refused by the connector.
    pub failed: AtomicU64,
    /// Lookups that failed (SOSL errors); the call was still published, without matches.
    pub lookup_errors: AtomicU64,
}

/// The shared state of the endpoint.
pub struct Pipeline {
    mode: AtomicU8,
    app: Arc<AppState>,
    instance: String,
    connector: String,
    http: reqwest::Client,
    tracker: Mutex<CallTracker>,
    marks: Mutex<Vec<Mark>>,
    /// What happened so far.
    pub counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Pipeline {
    /// An endpoint for the connector at `connector` (`http://127.0.0.1:PORT`) serving
    /// `instance`, in mode [`LookupMode::Server`].
    pub fn new(
        app: Arc<AppState>,
        instance: &str,
        connector: &str,
    ) -> Result<Arc<Self>, reqwest::Error> {
        Ok(Arc::new(Self {
            mode: AtomicU8::new(0),
            app,
            instance: instance.to_owned(),
            connector: connector.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()?,
            tracker: Mutex::new(CallTracker::new()),
            marks: Mutex::new(Vec::new()),
            counters: Counters::default(),
        }))
    }

    /// Switches how the next callbacks are handled.
    pub fn set_mode(&self, mode: LookupMode) {
        let i = LookupMode::ALL.iter().position(|m| *m == mode).unwrap_or(0);
        self.mode.store(i as u8, Ordering::SeqCst);
    }

    /// The current mode.
    pub fn mode(&self) -> LookupMode {
        LookupMode::ALL
            .get(usize::from(self.mode.load(Ordering::SeqCst)))
            .copied()
            .unwrap_or(LookupMode::Server)
    }

    /// Takes the marks recorded so far.
    pub fn take_marks(&self) -> Vec<Mark> {
        std::mem::take(&mut *lock(&self.marks))
    }

    /// The router to serve on the connector's `public_url`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/uci/callback/{secret}", post(callback))
            .with_state(Arc::clone(self))
    }
}

async fn callback(
    State(p): State<Arc<Pipeline>>,
    Path(secret): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let t0 = Instant::now();
    p.counters.callbacks.fetch_add(1, Ordering::Relaxed);
    let query = query.unwrap_or_default();
    let response = match p.mode() {
        LookupMode::Server => forward(&p, &secret, &query, body.clone()).await,
        mode => handle(&p, mode, &body, &query).await,
    };
    if !response.status().is_success() {
        p.counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    // Recorded after the answer so that the measured path carries no bookkeeping; the panel
    // frames are matched to marks only after the run.
    if let Ok(r) = parse_callback(&body, &query)
        && let CallbackMessage::CallState(e) = r.message
    {
        lock(&p.marks).push(Mark {
            call_id: e.call_id.as_str().to_owned(),
            frame_state: frame_state(&e.state),
            t0,
        });
    }
    response
}

/// The panel state an event of this PBX state leads to.
pub fn frame_state(state: &CallState) -> &'static str {
    match state {
        CallState::Proceeding | CallState::Ringback => "dialing",
        CallState::Connected => "connected",
        CallState::Hangup => "ended",
        _ => "ringing",
    }
}

/// Passes the PBX's request on to the connector's own callback route.
async fn forward(p: &Pipeline, secret: &str, query: &str, body: Bytes) -> Response {
    let mut url = format!("{}/uci/callback/{secret}", p.connector);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    let sent = p
        .http
        .post(url)
        .header(header::CONTENT_TYPE, "text/xml; charset=UTF-8")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status();
            let bytes = r.bytes().await.unwrap_or_default();
            (
                status,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                bytes,
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.without_url().to_string()).into_response(),
    }
}

/// The connector's callback route, rebuilt from its public parts, with the lookup of `mode`.
///
/// The user comes from the PBX's query (the connector reads it from the session the secret
/// names; the emulator always sends both, and they agree).
async fn handle(p: &Pipeline, mode: LookupMode, body: &[u8], query: &str) -> Response {
    let request = match parse_callback(body, query) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                e.response(),
            )
                .into_response();
        }
    };
    if let CallbackMessage::CallState(event) = &request.message {
        if mode == LookupMode::Sosl {
            // A search cannot be awaited under the tracker's lock: fold, then look up.
            let updates = lock(&p.tracker).apply(event, chrono::Utc::now());
            for u in updates {
                let far = u.call.remote();
                let raw = far.number.as_deref().unwrap_or("");
                let name = far.name.as_deref();
                let (remote, matches) =
                    match lookup::identify(mode, &p.app, &p.instance, raw, name).await {
                        Ok(found) => found,
                        Err(e) => {
                            p.counters.lookup_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, "lookup failed");
                            (lookup::remote_only(&p.app, raw, name), Vec::new())
                        }
                    };
                let call = ctibridge_server::uci::panel_call_with(
                    &u.call,
                    remote,
                    matches,
                    u.call.group_id.clone(),
                );
                p.app.hub.publish_call(u.call.user.as_str(), call);
            }
        } else {
            // As the connector does: publish under the tracker's lock, in the tracker's order,
            // with the connector's own `panel_call` (`calls::identify` on the index).
            let mut tracker = lock(&p.tracker);
            for u in tracker.apply(event, chrono::Utc::now()) {
                let call = ctibridge_server::uci::panel_call(&p.app, &p.instance, &u.call);
                p.app.hub.publish_call(u.call.user.as_str(), call);
            }
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        request.response,
    )
        .into_response()
}
