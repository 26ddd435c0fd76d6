//! `ctibridge demo` only: the Salesforce-like host page around the real panel, and an API
//! that plays calls on the emulated PBX. The server knows the emulator only through
//! [`DemoControl`], which the binary implements.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ctibridge_domain::E164;
use ctibridge_phone::MatchStrength;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::AppState;

/// A call the demo asks the emulated PBX to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayCall {
    /// inbound | missed | outbound | group
    pub kind: &'static str,
    /// A user's login id, or a group name for group calls.
    pub target: String,
    /// The far end as the PBX writes it.
    pub number: String,
    /// The far end's name as the PBX knows it.
    pub name: String,
}

/// What the demo needs from the emulators.
pub trait DemoControl: Send + Sync {
    /// URLs and users for the host page.
    fn info(&self) -> Value;
    /// Plays a call; returns its call id.
    fn play(&self, call: PlayCall) -> Result<String, String>;
}

/// The demo routes (mounted only when a [`DemoControl`] is present).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/demo", get(page))
        .route("/demo/", get(page))
        .route("/demo/api/info", get(info))
        .route("/demo/api/play", post(play))
        .route("/demo/api/record/{id}", get(record))
}

async fn page() -> Response {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Html(include_str!("../../../web/demo.html")),
    )
        .into_response()
}

async fn info(State(state): State<Arc<AppState>>) -> Response {
    match &state.demo {
        Some(d) => Json(d.info()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct PlayBody {
    scenario: String,
    #[serde(default)]
    user: Option<String>,
}

/// What the host page shows as "the record Salesforce opened": the connector's card of it.
async fn record(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    if state.demo.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(sf_id) = ctibridge_domain::SalesforceId::parse(&id) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "not a Salesforce id"})),
        )
            .into_response();
    };
    for inst in &state.config.instances {
        if let Some(card) = state.lookup(&inst.name).and_then(|l| l.cards.get(&sf_id)) {
            return Json(json!({
                "id": sf_id.to_string(),
                "object": card.object,
                "name": card.name,
                "fields": card.fields,
            }))
            .into_response();
        }
    }
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such record"})),
    )
        .into_response()
}

/// The numbers the demo plays, taken from what the connector really indexed.
fn pick_number(state: &AppState, want: usize) -> Option<E164> {
    let inst = state.config.instances.first()?;
    let lookup = state.lookup(&inst.name)?;
    let fitting: Vec<E164> = lookup
        .samples
        .iter()
        .copied()
        .filter(|n| {
            let m = lookup.index.lookup(n);
            m.len() == want && m.iter().all(|x| x.strength == MatchStrength::Exact)
        })
        .collect();
    // A different caller each time makes the demo feel like a phone, not a loop.
    use rand::seq::IndexedRandom;
    fitting.choose(&mut rand::rng()).copied()
}

/// A valid number that no record has.
fn unknown_number(state: &AppState) -> Option<E164> {
    let inst = state.config.instances.first()?;
    let lookup = state.lookup(&inst.name)?;
    [
        "+498999998877",
        "+493099887766",
        "+41445550199",
        "+4369912345678",
    ]
    .iter()
    .filter_map(|n| E164::parse(n).ok())
    .find(|n| lookup.index.lookup(n).is_empty())
}

/// A German number as a PBX with outside-line prefix 0 writes an inbound caller: national.
fn as_pbx_writes_it(n: &E164) -> String {
    match n.as_str().strip_prefix("+49") {
        Some(rest) => format!("0{rest}"),
        None => format!("00{}", &n.as_str()[1..]),
    }
}

async fn play(
    State(state): State<Arc<AppState>>,
    body: Result<Json<PlayBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(demo) = state.demo.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": e.body_text()})),
            )
                .into_response();
        }
    };
    let user = body.user.unwrap_or_else(|| "1001".to_owned());
    let not_ready = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "the connector has not indexed the org yet: try again in a moment"})),
        )
            .into_response()
    };
    let call = match body.scenario.as_str() {
        "known" | "missed" | "outbound" => {
            let Some(n) = pick_number(&state, 1) else {
                return not_ready();
            };
            let kind = match body.scenario.as_str() {
                "missed" => "missed",
                "outbound" => "outbound",
                _ => "inbound",
            };
            PlayCall {
                kind,
                target: user,
                number: as_pbx_writes_it(&n),
                name: String::new(),
            }
        }
        "two_matches" => {
            let Some(n) = pick_number(&state, 2) else {
                return not_ready();
            };
            PlayCall {
                kind: "inbound",
                target: user,
                number: as_pbx_writes_it(&n),
                name: String::new(),
            }
        }
        "unknown" => {
            let Some(n) = unknown_number(&state) else {
                return not_ready();
            };
            PlayCall {
                kind: "inbound",
                target: user,
                number: as_pbx_writes_it(&n),
                name: "Max Neumann".into(),
            }
        }
        "suppressed" => PlayCall {
            kind: "inbound",
            target: user,
            number: String::new(),
            name: String::new(),
        },
        "group" => {
            let Some(n) = pick_number(&state, 1) else {
                return not_ready();
            };
            PlayCall {
                kind: "group",
                target: "Sales".into(),
                number: as_pbx_writes_it(&n),
                name: String::new(),
            }
        }
        other => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("unknown scenario {other:?}")})),
            )
                .into_response();
        }
    };
    let number = call.number.clone();
    match demo.play(call) {
        Ok(id) => Json(json!({"call_id": id, "number": number})).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e}))).into_response(),
    }
}
