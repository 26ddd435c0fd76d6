//! The admin UI at `/admin`: sign-in (a STARFACE administrator checked against the PBX, or
//! the local admin password), and the pages Status, Users (with manual user links and the
//! STARFACE password of a user's UCI session, see [`users`]), Instances, Caller cards (card
//! layout, object priority and daily API cap, see [`layout`]), Doctor and Log over a JSON API
//! under `/admin/api/`.
//!
//! Sessions are an HttpOnly, SameSite=Strict cookie (Secure under an https `public_url`);
//! every state-changing request must also carry the session's token in `X-CSRF-Token`.
//! Instance edits are saved in the store and used from the next start on (see [`instances`]);
//! card settings and user links are saved in the store and apply at once.

pub mod auth;
pub mod instances;
pub mod layout;
pub mod settings;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ctibridge_config::{Config, LogLevel};
use ctibridge_store::SqliteStore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;
use auth::{AdminSession, AdminSessions, SignInLimiter, SignInMethod};
use instances::{InstanceInput, StoredInstance};

/// The session cookie.
pub const SESSION_COOKIE: &str = "ctibridge_admin";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// At most this many lines of the log are sent to the page.
const MAX_LOG_LINES: usize = 5_000;

const ADMIN_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Prepares what the admin UI needs before the service starts: creates the local admin
/// password at first start (printed once on standard output, never logged) and puts the
/// instances saved in the admin UI in place of the TOML's.
pub async fn prepare(config: Config, store: &SqliteStore) -> Config {
    match auth::ensure_local_password(store).await {
        Ok(Some(password)) => {
            // stdout, not the log: the log file is kept for days and offered for download.
            println!(
                "ctibridge admin UI: sign in at {}admin as \"{}\" with the password {} (shown once; a STARFACE administrator account works too)",
                config.server.public_url,
                auth::LOCAL_ADMIN,
                password.expose_secret()
            );
            tracing::info!(
                "created the local admin password; it was printed once on standard output"
            );
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "cannot create the local admin password"),
    }
    instances::apply_stored(config, store).await
}

/// The admin UI's own state next to the service's.
pub struct Admin {
    app: Arc<AppState>,
    sessions: AdminSessions,
    limiter: SignInLimiter,
    /// Instances were saved since this process started: they apply after a restart.
    saved_since_start: AtomicBool,
    /// Serialises instance edits (read-modify-write of one stored document).
    edit: tokio::sync::Mutex<()>,
}

/// The admin routes, with their security headers.
pub fn router(app: Arc<AppState>) -> Router<Arc<AppState>> {
    let admin = Arc::new(Admin {
        app,
        sessions: AdminSessions::default(),
        limiter: SignInLimiter::default(),
        saved_since_start: AtomicBool::new(false),
        edit: tokio::sync::Mutex::new(()),
    });
    Router::new()
        .route("/admin", get(page))
        .route("/admin/", get(page))
        .route("/admin/admin.js", get(script))
        .route("/admin/admin.css", get(style))
        .route("/admin/api/login", post(login))
        .route("/admin/api/logout", post(logout))
        .route("/admin/api/session", get(session))
        .route("/admin/api/status", get(status))
        .route("/admin/api/users", get(users))
        .route("/admin/api/doctor", post(doctor))
        .route("/admin/api/log", get(log_tail))
        .route("/admin/api/log/download", get(log_download))
        .route("/admin/api/log/level", put(log_level))
        .route(
            "/admin/api/instances",
            get(list_instances)
                .post(create_instance)
                .delete(forget_instances),
        )
        .route(
            "/admin/api/instances/{name}",
            put(update_instance).delete(delete_instance),
        )
        .route(
            "/admin/api/instances/{name}/remove-imported",
            post(remove_imported),
        )
        .route("/admin/api/instances-test", post(test_connection))
        .route("/admin/api/outbox/{id}/retry", post(retry_write))
        .route("/admin/api/layout", get(layout::list))
        .route(
            "/admin/api/users/{instance}/salesforce-users",
            get(users::salesforce_users),
        )
        .route(
            "/admin/api/users/{instance}/{login}/link",
            put(users::link).delete(users::unlink),
        )
        .route(
            "/admin/api/users/{instance}/{login}/starface-password",
            put(users::set_password),
        )
        .route("/admin/api/layout/{name}", put(layout::save))
        .route("/admin/api/layout/{name}/fields", get(layout::fields))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(ADMIN_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(admin)
}

// ---------------------------------------------------------------------------------------------
// Errors

/// What an admin request can fail with; each maps to one status code and a JSON body.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("sign in first")]
    Unauthorized,
    #[error("the request lacks the session's X-CSRF-Token header")]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many failed sign-ins; try again in {0} s")]
    TooMany(u64),
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Internal(String),
}

impl From<instances::InstancesError> for AdminError {
    fn from(e: instances::InstancesError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AdminError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AdminError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AdminError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many"),
            AdminError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream"),
            AdminError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "admin request failed");
        }
        let mut resp = (
            status,
            Json(json!({"error": code, "message": self.to_string()})),
        )
            .into_response();
        if let AdminError::TooMany(secs) = self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A signed-in admin; for methods other than GET and HEAD the CSRF token has been checked.
pub struct Authed {
    session: AdminSession,
    token: String,
}

impl FromRequestParts<Arc<Admin>> for Authed {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, admin: &Arc<Admin>) -> Result<Self, AdminError> {
        let token = cookie_value(&parts.headers, SESSION_COOKIE).ok_or(AdminError::Unauthorized)?;
        let session = admin.sessions.get(token).ok_or(AdminError::Unauthorized)?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or(AdminError::Csrf)?;
            if !auth::constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
                return Err(AdminError::Csrf);
            }
        }
        Ok(Authed {
            session,
            token: token.to_owned(),
        })
    }
}

fn secure_cookies(app: &AppState) -> bool {
    app.config.server.public_url.scheme() == "https"
}

fn session_cookie(app: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if secure_cookies(app) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static("ctibridge_admin=; Path=/admin; Max-Age=0"))
}

#[derive(Serialize)]
struct SessionInfo<'a> {
    user: &'a str,
    method: SignInMethod,
    csrf: &'a str,
    log_level: Option<String>,
    local_admin: &'static str,
}

fn session_info<'a>(admin: &Admin, s: &'a AdminSession) -> SessionInfo<'a> {
    SessionInfo {
        user: &s.user,
        method: s.method,
        csrf: &s.csrf,
        log_level: admin.app.log.as_ref().map(|l| l.level().to_string()),
        local_admin: auth::LOCAL_ADMIN,
    }
}

#[derive(Deserialize)]
struct LoginBody {
    login: String,
    password: String,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

async fn login(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AdminError> {
    // A cross-site form cannot send JSON without a CORS preflight we never grant, so this
    // keeps other sites from signing a browser in to an account of theirs (login CSRF).
    if !is_json(&headers) {
        return Err(AdminError::BadRequest(
            "send the sign-in as application/json".into(),
        ));
    }
    let body: LoginBody = serde_json::from_slice(&body)
        .map_err(|e| AdminError::BadRequest(format!("sign-in: {e}")))?;
    let login = body.login.trim().to_owned();
    let password = SecretString::from(body.password);
    if login.is_empty() || login.len() > 128 {
        return Err(AdminError::BadRequest("enter a login".into()));
    }
    if let Err(wait) = admin.limiter.check(&login) {
        return Err(AdminError::TooMany(wait.as_secs().max(1)));
    }
    let method = if login == auth::LOCAL_ADMIN {
        match auth::verify_local_password(&admin.app.store, &password).await {
            Ok(true) => SignInMethod::Local,
            Ok(false) => return refuse(&admin, &login, "wrong login or password"),
            Err(e) => return Err(AdminError::Internal(e.to_string())),
        }
    } else {
        match starface_admin(&admin.app, &login, password).await {
            Ok(()) => SignInMethod::Starface,
            Err(StarfaceSignIn::Refused) => {
                return refuse(&admin, &login, "wrong login or password");
            }
            Err(StarfaceSignIn::NotAdmin) => {
                return refuse(
                    &admin,
                    &login,
                    "this STARFACE account is not an administrator; sign in with an administrator account",
                );
            }
            Err(StarfaceSignIn::Unreachable(e)) => {
                return Err(AdminError::Upstream(format!(
                    "cannot check the sign-in with STARFACE: {e}; the local admin account \"{}\" still works",
                    auth::LOCAL_ADMIN
                )));
            }
        }
    };
    admin.limiter.succeeded(&login);
    tracing::info!(admin = %login, ?method, "admin signed in");
    let (token, session) = admin.sessions.create(login, method);
    let mut resp = Json(session_info(&admin, &session)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&admin.app, &token, auth::SESSION_LIFETIME.as_secs()),
    );
    Ok(resp)
}

fn refuse(admin: &Admin, login: &str, why: &str) -> Result<Response, AdminError> {
    admin.limiter.failed(login);
    tracing::warn!(admin = %login, reason = why, "admin sign-in refused");
    Err(AdminError::Forbidden(why.to_owned()))
}

enum StarfaceSignIn {
    Refused,
    NotAdmin,
    Unreachable(String),
}

/// Signs in to the PBX's REST API as `login` and checks that the account is an
/// administrator: only administrators may read another user's address book (`userId`), so
/// that read-only request tells them apart without changing anything.
async fn starface_admin(
    app: &AppState,
    login: &str,
    password: SecretString,
) -> Result<(), StarfaceSignIn> {
    use ctibridge_starface::rest::{RestClient, RestError};
    let client = RestClient::new(&app.config.starface.url, login, password)
        .map_err(|e| StarfaceSignIn::Unreachable(e.to_string()))?;
    match client.check_login().await {
        Ok(()) => {}
        Err(RestError::LoginRefused { .. }) => return Err(StarfaceSignIn::Refused),
        Err(e) => return Err(StarfaceSignIn::Unreachable(e.to_string())),
    }
    let result = async {
        let me = client
            .me()
            .await
            .map_err(|e| StarfaceSignIn::Unreachable(e.to_string()))?;
        let users = match app.pbx_directory() {
            Some(dir) => dir.users.clone(),
            None => client
                .users()
                .await
                .map_err(|e| StarfaceSignIn::Unreachable(e.to_string()))?,
        };
        let Some(other) = users.iter().find(|u| u.id != me.id) else {
            // A PBX with one user: that user is its administrator.
            return Ok(());
        };
        let probe = format!("contacts?userId={}&page=0&pagesize=1", other.id);
        match client
            .get_json::<serde_json::Value>(&probe, "address book")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(403) => Err(StarfaceSignIn::NotAdmin),
            Err(e) => Err(StarfaceSignIn::Unreachable(e.to_string())),
        }
    }
    .await;
    client.logout().await;
    result
}

async fn logout(State(admin): State<Arc<Admin>>, authed: Authed) -> Response {
    admin.sessions.end(&authed.token);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&admin.app, "", 0));
    resp
}

async fn session(State(admin): State<Arc<Admin>>, authed: Authed) -> Response {
    Json(session_info(&admin, &authed.session)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Pages

async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../../../../web/admin.html"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../../web/admin.js"),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../../web/admin.css"),
    )
}

// ---------------------------------------------------------------------------------------------
// Status and users

/// One STARFACE user in an instance's scope, as the Users page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AdminUserRow {
    pub instance: String,
    pub starface_login: String,
    pub name: String,
    pub email: String,
    pub salesforce_user_id: Option<String>,
    pub salesforce_user_name: Option<String>,
    pub problem: Option<String>,
    /// How the Salesforce user was found: `manual` (linked by hand) or `email`.
    pub link: Option<&'static str>,
    pub uci: crate::hub::UciStatus,
    pub panels_online: usize,
    /// The current call, else the most recent ended one (without the caller's number).
    pub last_call: Option<LastCall>,
}

/// When and how a user's latest call went.
#[derive(Debug, Clone, Serialize)]
pub struct LastCall {
    pub direction: &'static str,
    pub state: &'static str,
    pub outcome: Option<&'static str>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn last_call(app: &AppState, login: &str) -> Option<LastCall> {
    // The snapshot lists current calls first, then ended ones newest first; its receiver is
    // dropped at once, so it does not count as an open panel.
    let sub = app.hub.subscribe(login);
    sub.calls.first().map(|c| LastCall {
        direction: c.direction,
        state: c.state,
        outcome: c.outcome,
        started_at: c.started_at,
        ended_at: c.ended_at,
    })
}

fn user_rows(
    app: &AppState,
    manual: &std::collections::HashMap<String, users::ManualLinks>,
) -> Vec<AdminUserRow> {
    app.status()
        .instances
        .into_iter()
        .flat_map(|i| {
            let name = i.name;
            i.users.into_iter().map(move |u| (name.clone(), u))
        })
        .map(|(instance, u)| AdminUserRow {
            link: if manual
                .get(&instance)
                .is_some_and(|m| m.contains_key(&u.starface_login))
            {
                Some("manual")
            } else if u.salesforce_user_id.is_some() {
                Some("email")
            } else {
                None
            },
            uci: app.hub.uci(&u.starface_login),
            panels_online: app.hub.panels(&u.starface_login),
            last_call: last_call(app, &u.starface_login),
            instance,
            starface_login: u.starface_login,
            name: u.name,
            email: u.email,
            salesforce_user_id: u.salesforce_user_id,
            salesforce_user_name: u.salesforce_user_name,
            problem: u.problem,
        })
        .collect()
}

/// Failed writes shown per instance on the Status page.
const FAILED_WRITES_SHOWN: u32 = 10;

/// The outbox of each instance: depth per state and the latest writes given up on.
async fn outbox(app: &AppState) -> serde_json::Map<String, serde_json::Value> {
    use ctibridge_store::{InstanceStore, OutboxFilter, OutboxState, OutboxStore};
    let mut out = serde_json::Map::new();
    for inst in &app.config.instances {
        let Ok(Some(row)) = app.store.get_instance(&inst.name).await else {
            continue;
        };
        let counts = match app.store.outbox_counts(Some(row.id)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(instance = %inst.name, error = %e, "cannot count the outbox");
                continue;
            }
        };
        let failed = app
            .store
            .list_outbox(&OutboxFilter {
                instance: Some(row.id),
                state: Some(OutboxState::Failed),
                limit: FAILED_WRITES_SHOWN,
            })
            .await
            .unwrap_or_default();
        out.insert(
            inst.name.clone(),
            json!({
                "pending": counts.pending,
                "in_flight": counts.in_flight,
                "done": counts.done,
                "failed": counts.failed,
                "recent_failures": failed.iter().map(|i| json!({
                    "id": i.id.0,
                    "kind": i.kind,
                    "attempts": i.attempts,
                    "error": i.last_error,
                    "at": i.updated_at,
                })).collect::<Vec<_>>(),
            }),
        );
    }
    out
}

/// The daily API cap of each running instance (see [`settings`]).
async fn caps(app: &AppState) -> serde_json::Map<String, serde_json::Value> {
    use ctibridge_store::InstanceStore;
    let mut out = serde_json::Map::new();
    for inst in &app.config.instances {
        if let Ok(Some(row)) = app.store.get_instance(&inst.name).await
            && let Ok(s) = settings::load(&app.store, row.id).await
            && let Some(cap) = s.to_live().daily_api_cap
        {
            out.insert(inst.name.clone(), json!(cap));
        }
    }
    out
}

async fn status(State(admin): State<Arc<Admin>>, _a: Authed) -> Response {
    Json(json!({
        "api_caps": caps(&admin.app).await,
        "system": admin.app.status(),
        "outbox": outbox(&admin.app).await,
        "users": user_rows(&admin.app, &users::manual_links_by_instance(&admin.app).await),
        "uci_sessions": admin.app.uci.session_count(),
        "log_level": admin.app.log.as_ref().map(|l| l.level().to_string()),
        "restart_pending": admin.saved_since_start.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn users(State(admin): State<Arc<Admin>>, _a: Authed) -> Response {
    let manual = users::manual_links_by_instance(&admin.app).await;
    Json(json!({ "users": user_rows(&admin.app, &manual) })).into_response()
}

async fn doctor(State(admin): State<Arc<Admin>>, _a: Authed) -> Response {
    let stored = crate::doctor::load_stored_settings(&admin.app.config, &admin.app.store).await;
    let report = crate::doctor::run_doctor_stored(
        &admin.app.config,
        &[],
        &crate::doctor::DoctorOptions::default(),
        &stored,
    )
    .await;
    Json(json!({ "summary": report.summary(), "checks": report.checks })).into_response()
}

// ---------------------------------------------------------------------------------------------
// Log

#[derive(Deserialize)]
struct LogQuery {
    lines: Option<usize>,
    /// Show lines of this level and more severe ones.
    level: Option<String>,
}

fn line_level(line: &str) -> Option<LogLevel> {
    // The file's lines read `<timestamp>  LEVEL target: message`; the level is the second word.
    line.split_whitespace()
        .nth(1)
        .and_then(|w| w.parse::<LogLevel>().ok())
}

async fn log_tail(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
    Query(q): Query<LogQuery>,
) -> Result<Response, AdminError> {
    let log = admin.app.log.as_ref().ok_or_else(|| {
        AdminError::NotFound("this process writes no log file (started without logging)".into())
    })?;
    let filter = match q.level.as_deref().filter(|l| !l.is_empty()) {
        Some(l) => Some(
            l.parse::<LogLevel>()
                .map_err(|e| AdminError::BadRequest(e.to_string()))?,
        ),
        None => None,
    };
    let want = q.lines.unwrap_or(500).clamp(1, MAX_LOG_LINES);
    let file = log.current_file();
    let text = match &file {
        Some(path) => tokio::fs::read(path)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| AdminError::Internal(format!("cannot read {}: {e}", path.display())))?,
        None => String::new(),
    };
    let mut lines: Vec<&str> = Vec::new();
    // Continuation lines (no level of their own) belong to the line above.
    let mut keep = true;
    for line in text.lines() {
        if let Some(level) = line_level(line) {
            keep = filter.is_none_or(|f| level <= f);
        }
        if keep {
            lines.push(line);
        }
    }
    let start = lines.len().saturating_sub(want);
    Ok(Json(json!({
        "level": log.level().to_string(),
        "file": file.as_ref().and_then(|f| f.file_name()).map(|n| n.to_string_lossy().into_owned()),
        "lines": &lines[start..],
    }))
    .into_response())
}

async fn log_download(State(admin): State<Arc<Admin>>, _a: Authed) -> Result<Response, AdminError> {
    let log = admin
        .app
        .log
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("this process writes no log file".into()))?;
    let path = log
        .current_file()
        .ok_or_else(|| AdminError::NotFound("no log file yet".into()))?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| AdminError::Internal(format!("cannot read {}: {e}", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ctibridge.log".into());
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.txt\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct LevelBody {
    level: String,
}

async fn log_level(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
    Json(body): Json<LevelBody>,
) -> Result<Response, AdminError> {
    let log = admin
        .app
        .log
        .as_ref()
        .ok_or_else(|| AdminError::NotFound("this process writes no log file".into()))?;
    let level: LogLevel = body
        .level
        .parse()
        .map_err(|e: ctibridge_config::ParseLogLevelError| AdminError::BadRequest(e.to_string()))?;
    log.set_level(level)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    tracing::info!(admin = %authed.session.user, %level, "log level set in the admin UI");
    Ok(Json(json!({ "level": log.level().to_string() })).into_response())
}

// ---------------------------------------------------------------------------------------------
// Instances

#[derive(Serialize)]
struct InstanceView {
    name: String,
    description: String,
    enabled: bool,
    login_url: String,
    client_id: String,
    /// Whether a consumer secret is saved (its value never leaves the server).
    has_client_secret: bool,
    users: Vec<String>,
    groups: Vec<String>,
    import_contacts: bool,
    sync_interval_secs: u64,
    calls: instances::StoredCalls,
}

impl From<&StoredInstance> for InstanceView {
    fn from(s: &StoredInstance) -> Self {
        InstanceView {
            name: s.name.clone(),
            description: s.description.clone(),
            enabled: s.enabled,
            login_url: s.login_url.clone(),
            client_id: s.client_id.clone(),
            has_client_secret: !s.client_secret.is_empty(),
            users: s.users.clone(),
            groups: s.groups.clone(),
            import_contacts: s.import_contacts,
            sync_interval_secs: s.sync_interval_secs,
            calls: s.calls.clone().unwrap_or_else(|| {
                instances::StoredCalls::from_config(&ctibridge_config::CallsConfig::default())
            }),
        }
    }
}

/// The saved instances, or the running configuration's when none were saved yet.
async fn current_instances(
    admin: &Admin,
) -> Result<(Vec<StoredInstance>, &'static str), AdminError> {
    Ok(match instances::load(&admin.app.store).await? {
        Some(saved) => (saved, "store"),
        None => (
            admin
                .app
                .config
                .instances
                .iter()
                .map(instances::from_config)
                .collect(),
            "config",
        ),
    })
}

async fn list_instances(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
) -> Result<Response, AdminError> {
    let (list, source) = current_instances(&admin).await?;
    let dir = admin.app.pbx_directory();
    let pbx_users: Vec<_> = dir
        .as_ref()
        .map(|d| {
            d.users
                .iter()
                .map(|u| json!({"login": u.login, "name": u.display_name(), "email": u.email}))
                .collect()
        })
        .unwrap_or_default();
    let pbx_groups: Vec<&String> = dir
        .as_ref()
        .map(|d| d.groups.keys().collect())
        .unwrap_or_default();
    Ok(Json(json!({
        "source": source,
        "restart_pending": admin.saved_since_start.load(Ordering::Relaxed),
        "imported_left": imported_left(&admin.app).await,
        "instances": list.iter().map(InstanceView::from).collect::<Vec<_>>(),
        "pbx": { "users": pbx_users, "groups": pbx_groups, "read": dir.is_some() },
    }))
    .into_response())
}

/// Per running instance whose contact import is off: how many address-book contacts its export
/// made are still on the PBX (by their links), so that the page can offer to remove them.
async fn imported_left(app: &AppState) -> serde_json::Map<String, serde_json::Value> {
    use ctibridge_store::{InstanceStore as _, SyncStateStore as _};
    let mut left = serde_json::Map::new();
    for inst in app.config.instances.iter().filter(|i| !i.import_contacts) {
        let Ok(Some(stored)) = app.store.get_instance(&inst.name).await else {
            continue;
        };
        match app.store.list_contact_links(stored.id).await {
            Ok(links) if !links.is_empty() => {
                left.insert(inst.name.clone(), json!(links.len()));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(instance = %inst.name, error = %e, "cannot count the exported contacts")
            }
        }
    }
    left
}

/// Deletes the address-book contacts the export made for an instance whose contact import is
/// off (those still carrying our tag; the others stay), as the manual's "Kontakte importieren"
/// switch implies. Refused while the running instance still imports: its next sync would make
/// them again.
async fn remove_imported(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    let app = &admin.app;
    let running = app
        .instance(&name)
        .ok_or_else(|| AdminError::NotFound(format!("no running instance {name:?}")))?;
    if running.import_contacts {
        return Err(AdminError::Conflict(format!(
            "contact import is on for the running instance {name:?}: turn it off, save, restart ctibridge, then remove the contacts"
        )));
    }
    let removed = crate::sync::remove_exported_contacts(&app.config, &app.store, &name)
        .await
        .map_err(|e| AdminError::Upstream(format!("removing the imported contacts failed: {e}")))?;
    tracing::info!(admin = %authed.session.user, instance = %name, removed, "imported contacts removed from the STARFACE address book");
    Ok(Json(json!({ "removed": removed })).into_response())
}

async fn save_instance(
    admin: &Admin,
    original: Option<&str>,
    input: InstanceInput,
) -> Result<Response, AdminError> {
    let _guard = admin.edit.lock().await;
    let (mut list, _) = current_instances(admin).await?;
    let index = match original {
        Some(name) => Some(
            list.iter()
                .position(|i| i.name == name)
                .ok_or_else(|| AdminError::NotFound(format!("no instance {name:?}")))?,
        ),
        None => None,
    };
    let previous = index.map(|i| &list[i]);
    let (mut stored, repairs) = instances::validate(
        &input,
        previous.map(|p| p.client_secret.as_str()),
        previous.and_then(|p| p.api_version.clone()),
    )
    .map_err(|errors| {
        AdminError::BadRequest(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    if stored.calls.is_none() {
        stored.calls = previous.and_then(|p| p.calls.clone());
    }
    if list
        .iter()
        .enumerate()
        .any(|(i, other)| Some(i) != index && other.name.eq_ignore_ascii_case(&stored.name))
    {
        return Err(AdminError::Conflict(format!(
            "an instance named {:?} exists already; names must be unique",
            stored.name
        )));
    }
    let view = InstanceView::from(&stored);
    match index {
        Some(i) => list[i] = stored,
        None => list.push(stored),
    }
    instances::save(&admin.app.store, list).await?;
    admin.saved_since_start.store(true, Ordering::Relaxed);
    tracing::info!(instance = %view.name, "instance saved in the admin UI; applies after a restart");
    Ok(Json(json!({
        "instance": view,
        "repairs": repairs,
        "restart_pending": true,
    }))
    .into_response())
}

async fn create_instance(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
    Json(input): Json<InstanceInput>,
) -> Result<Response, AdminError> {
    save_instance(&admin, None, input).await
}

async fn update_instance(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
    Path(name): Path<String>,
    Json(input): Json<InstanceInput>,
) -> Result<Response, AdminError> {
    save_instance(&admin, Some(&name), input).await
}

async fn delete_instance(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    let _guard = admin.edit.lock().await;
    let (mut list, _) = current_instances(&admin).await?;
    let before = list.len();
    list.retain(|i| i.name != name);
    if list.len() == before {
        return Err(AdminError::NotFound(format!("no instance {name:?}")));
    }
    instances::save(&admin.app.store, list).await?;
    admin.saved_since_start.store(true, Ordering::Relaxed);
    tracing::info!(instance = %name, "instance deleted in the admin UI; applies after a restart");
    Ok(Json(json!({ "deleted": name, "restart_pending": true })).into_response())
}

/// Goes back to the configuration file's instances (from the next start on).
async fn forget_instances(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
) -> Result<Response, AdminError> {
    let _guard = admin.edit.lock().await;
    if !instances::forget(&admin.app.store).await? {
        return Err(AdminError::NotFound(
            "no instances are saved; the configuration file's are in use".into(),
        ));
    }
    admin.saved_since_start.store(true, Ordering::Relaxed);
    tracing::info!(admin = %authed.session.user, "saved instances dropped; the configuration file's apply after a restart");
    Ok(Json(json!({ "source": "config", "restart_pending": true })).into_response())
}

#[derive(Deserialize)]
struct TestBody {
    /// The saved instance whose secret to use when `client_secret` is empty.
    #[serde(default)]
    name: Option<String>,
    login_url: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

/// Requests a token with the given (not yet saved) settings: the check the manual's FAQ
/// failures need first.
async fn test_connection(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
    Json(body): Json<TestBody>,
) -> Result<Response, AdminError> {
    let saved_secret = match body.name.as_deref() {
        Some(name) => current_instances(&admin)
            .await?
            .0
            .into_iter()
            .find(|i| i.name == name)
            .map(|i| i.client_secret),
        None => None,
    };
    let input = InstanceInput {
        name: body.name.clone().unwrap_or_else(|| "test".into()),
        description: String::new(),
        enabled: true,
        login_url: body.login_url,
        client_id: body.client_id,
        client_secret: body.client_secret,
        users: Vec::new(),
        groups: Vec::new(),
        import_contacts: false,
        sync_interval_secs: None,
        calls: None,
    };
    let (stored, repairs) = match instances::validate(&input, saved_secret.as_deref(), None) {
        Ok(ok) => ok,
        Err(errors) => {
            return Ok(Json(json!({
                "ok": false,
                "detail": errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
            }))
            .into_response());
        }
    };
    let cfg = instances::to_config(&stored).map_err(AdminError::BadRequest)?;
    let creds = ctibridge_salesforce::Credentials {
        login_url: cfg.salesforce.login_url.clone(),
        client_id: cfg.salesforce.client_id.clone(),
        client_secret: cfg.salesforce.client_secret.clone(),
    };
    let client = ctibridge_salesforce::SalesforceClient::builder(creds)
        .connect_timeout(std::time::Duration::from_secs(5))
        .request_timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let outcome = client.instance_url().await;
    Ok(Json(match outcome {
        Ok(url) => json!({
            "ok": true,
            "detail": format!("token received; the org's API is at {url}"),
            "repairs": repairs,
        }),
        Err(e) => json!({ "ok": false, "detail": e.to_string(), "repairs": repairs }),
    })
    .into_response())
}

/// Puts a write that was given up on back in the queue (after the admin fixed its cause).
async fn retry_write(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
    Path(id): Path<i64>,
) -> Result<Response, AdminError> {
    use ctibridge_store::{OutboxId, OutboxStore};
    let requeued = admin
        .app
        .store
        .requeue(OutboxId(id))
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    if !requeued {
        return Err(AdminError::NotFound(format!(
            "no failed write {id} (it may have been retried already)"
        )));
    }
    tracing::info!(admin = %authed.session.user, id, "failed write queued again from the admin UI");
    Ok(Json(json!({ "requeued": id })).into_response())
}
