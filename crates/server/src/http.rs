//! The HTTP surface: health, status page and status API.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Request bodies above this are refused with 413 before a handler sees them.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The service's router.
pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new()
        .merge(crate::panel::router())
        .merge(crate::admin::router(state.clone()))
        .merge(crate::uci::router())
        .merge(crate::metrics::router())
        .route("/", get(status_page))
        .route("/status", get(status_page))
        .route("/api/status", get(status_json))
        .route("/healthz", get(|| async { "ok" }));
    if state.demo.is_some() {
        app = app.merge(crate::demo::router());
    }
    app.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn status_page() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )],
        Html(include_str!("../../../web/status.html")),
    )
}

async fn status_json(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    Json(state.status())
}
