//! The router: Salesforce's paths, the emulator's control paths, and fault injection.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use rand::Rng;
use serde_json::json;
use tower_http::cors::CorsLayer;

use crate::errors::{ApiError, json_body, json_value};
use crate::org::{Control, FaultUpdate, Org, RecordOp};
use crate::{oauth, opencti, rest};

/// All routes of one org.
pub(crate) fn router(org: Arc<Org>) -> Router {
    let services = Router::new()
        .route("/services/oauth2/token", post(oauth::token))
        .route(
            "/services/oauth2/authorize",
            get(oauth::authorize).post(oauth::authorize_post),
        )
        .route(
            "/services/oauth2/userinfo",
            get(oauth::userinfo).post(oauth::userinfo),
        )
        .route("/services/oauth2/introspect", post(oauth::introspect))
        .route(
            "/services/oauth2/revoke",
            post(oauth::revoke).get(oauth::revoke),
        )
        .route("/services/data", any(rest::handle))
        .route("/services/data/", any(rest::handle))
        .route("/services/data/{*rest}", any(rest::handle))
        .route("/id/{org}/{user}", get(oauth::identity))
        .layer(middleware::from_fn_with_state(org.clone(), inject_faults));
    let emulator = Router::new()
        .route(
            "/support/api/{version}/lightning/opencti_min.js",
            get(opencti::script),
        )
        .route(
            "/__emulator/opencti-calls",
            get(opencti::list_calls)
                .post(opencti::record_call)
                .delete(opencti::clear_calls),
        )
        .route("/__emulator/opencti/search", post(opencti::search))
        .route("/__emulator/opencti/save-log", post(opencti::save_log))
        .route(
            "/__emulator/opencti/call-center-settings",
            get(opencti::call_center_settings),
        )
        .route("/__emulator/faults", post(set_faults).get(get_faults))
        .route("/__emulator/state", get(state))
        .route("/__emulator/expected-numbers", get(expected_numbers))
        .route("/__emulator/users", get(users))
        .route("/__emulator/records", post(records))
        .layer(CorsLayer::permissive());
    services
        .merge(emulator)
        .fallback(|| async { ApiError::not_found().into_response() })
        .with_state(org)
}

/// Latency and random failures for `/services/*`, as set through control.
async fn inject_faults(State(org): State<Arc<Org>>, req: Request, next: Next) -> Response {
    let (latency, fail) = {
        let mut st = org.state();
        let latency = st.faults.latency_ms;
        let rate = st.faults.fail_rate;
        let status = st.faults.fail_status;
        let fail = (rate > 0.0 && st.fault_rng.random_bool(rate.min(1.0))).then_some(status);
        (latency, fail)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(status) = fail {
        return injected_failure(status);
    }
    next.run(req).await
}

/// A failure body of the kind Salesforce sends with that status.
fn injected_failure(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (error_code, message) = match status {
        500 => (
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)",
        ),
        502 | 504 => ("SERVER_UNAVAILABLE", "Bad gateway"),
        503 => (
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable, please retry",
        ),
        429 => (
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
        ),
        _ => ("UNKNOWN_EXCEPTION", "Injected failure"),
    };
    ApiError::new(code, error_code, message).into_response()
}

fn control(org: &Arc<Org>) -> Control {
    Control { org: org.clone() }
}

async fn set_faults(State(org): State<Arc<Org>>, body: Bytes) -> Response {
    let update: FaultUpdate = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => return json_value(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
    };
    match control(&org).apply(update) {
        Ok(f) => json_value(StatusCode::OK, &f),
        Err(e) => json_value(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
    }
}

async fn get_faults(State(org): State<Arc<Org>>) -> Response {
    json_value(StatusCode::OK, &control(&org).faults())
}

async fn state(State(org): State<Arc<Org>>) -> Response {
    json_value(StatusCode::OK, &control(&org).state())
}

async fn expected_numbers(State(org): State<Arc<Org>>) -> Response {
    json_value(StatusCode::OK, &org.expected)
}

async fn users(State(org): State<Arc<Org>>) -> Response {
    json_value(StatusCode::OK, &org.users)
}

async fn records(State(org): State<Arc<Org>>, body: Bytes) -> Response {
    let op: RecordOp = match serde_json::from_slice(&body) {
        Ok(op) => op,
        Err(e) => return json_value(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() })),
    };
    match control(&org).record(op) {
        Ok(id) => json_value(
            StatusCode::OK,
            &json!({ "id": id, "success": true, "errors": [] }),
        ),
        Err(errors) => json_body(
            StatusCode::BAD_REQUEST,
            json!({ "success": false, "errors": errors }).to_string(),
        ),
    }
}
