//! The Open CTI softphone panel: its pages, the Salesforce sign-in (web-server flow with PKCE),
//! its API and the WebSocket that carries the signed-in user's calls, and nobody else's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ctibridge_domain::LoginUrl;
use ctibridge_salesforce::SalesforceClient;
use ctibridge_store::UserStore;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};
use url::Url;

use crate::sessions::PanelUser;
use crate::state::AppState;

/// How long a new WebSocket may take to authenticate.
const WS_AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message a panel may send.
const WS_MAX_MESSAGE: usize = 16 * 1024;

/// The panel's routes.
pub fn router() -> Router<Arc<AppState>> {
    let sign_in = Arc::new(crate::ratelimit::TokenBucket::new(
        crate::ratelimit::LOGIN_BURST,
        crate::ratelimit::LOGIN_PER_SECOND,
    ));
    let limited = || axum::middleware::from_fn_with_state(sign_in.clone(), crate::ratelimit::limit);
    Router::new()
        .route("/panel", get(page))
        .route("/panel/panel.js", get(script))
        .route("/panel/panel.css", get(style))
        .route("/panel/config", get(config))
        .route("/panel/login", get(login).layer(limited()))
        .route(
            "/panel/oauth/callback",
            get(oauth_callback).layer(limited()),
        )
        .route("/panel/api/me", get(me))
        .route("/panel/api/settings", put(put_settings))
        .route("/panel/api/logout", post(logout))
        .route("/panel/api/starface-credentials", put(put_credentials))
        .route("/panel/ws", get(websocket))
        .merge(crate::actions::router())
}

/// Origins allowed to frame the panel: Salesforce's Lightning and My Domain hosts, and the
/// connector itself when an instance points at a local emulator (the demo's host page).
fn frame_ancestors(state: &AppState) -> String {
    let mut sources = vec![
        "https://*.lightning.force.com".to_owned(),
        "https://*.my.salesforce.com".to_owned(),
    ];
    if state
        .config
        .instances
        .iter()
        .any(|i| i.salesforce.login_url.kind() == ctibridge_domain::LoginUrlKind::Loopback)
    {
        sources.push("'self'".to_owned());
    }
    sources.join(" ")
}

/// The org origins whose Open CTI script the panel may load.
fn org_sources(state: &AppState) -> String {
    state
        .config
        .instances
        .iter()
        .map(|i| i.salesforce.login_url.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn panel_headers(state: &AppState) -> [(header::HeaderName, HeaderValue); 2] {
    let orgs = org_sources(state);
    let csp = format!(
        "default-src 'self'; script-src 'self' {orgs}; connect-src 'self' {orgs}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors {}",
        frame_ancestors(state)
    );
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("frame-ancestors 'none'")),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

async fn page(State(state): State<Arc<AppState>>) -> Response {
    (
        panel_headers(&state),
        Html(include_str!("../../../web/panel.html")),
    )
        .into_response()
}

async fn script(State(state): State<Arc<AppState>>) -> Response {
    let mut headers = panel_headers(&state).to_vec();
    headers.push((
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    ));
    let mut resp = include_str!("../../../web/panel.js").into_response();
    resp.headers_mut().extend(headers);
    resp
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../../web/panel.css"),
    )
        .into_response()
}

/// A JSON error answer.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct OriginQuery {
    origin: Option<String>,
    login_hint: Option<String>,
}

/// The instance whose org `origin` (Salesforce's `sfdcIframeOrigin`, a Lightning or My Domain
/// origin) belongs to. With a single instance, a missing origin means that one.
fn instance_for_origin<'a>(
    state: &'a AppState,
    origin: Option<&str>,
) -> Option<&'a ctibridge_config::InstanceConfig> {
    let instances = &state.config.instances;
    let Some(origin) = origin.filter(|o| !o.trim().is_empty()) else {
        return (instances.len() == 1).then(|| &instances[0]);
    };
    let (url, _) = LoginUrl::parse(origin).ok()?;
    instances.iter().find(|i| {
        i.salesforce
            .login_url
            .host()
            .eq_ignore_ascii_case(url.host())
            && i.salesforce.login_url.as_url().port_or_known_default()
                == url.as_url().port_or_known_default()
    })
}

async fn config(State(state): State<Arc<AppState>>, Query(q): Query<OriginQuery>) -> Response {
    let Some(inst) = instance_for_origin(&state, q.origin.as_deref()) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_org",
            format!(
                "the Salesforce org {} is not configured in ctibridge: add it as an [[instance]] (login_url)",
                q.origin.as_deref().unwrap_or("(none)")
            ),
        );
    };
    let org = inst.salesforce.login_url.as_str();
    let opencti = format!(
        "{org}/support/api/{}/lightning/opencti_min.js",
        inst.salesforce.api_version
    );
    Json(json!({ "org": org, "opencti_url": opencti, "instance": inst.name })).into_response()
}

fn redirect_uri(state: &AppState) -> Option<Url> {
    state
        .config
        .server
        .public_url
        .join("panel/oauth/callback")
        .ok()
}

fn client_of<'a>(state: &'a AppState, instance: &str) -> Option<&'a SalesforceClient> {
    state.clients.get(instance)
}

async fn login(State(state): State<Arc<AppState>>, Query(q): Query<OriginQuery>) -> Response {
    let Some(inst) = instance_for_origin(&state, q.origin.as_deref()) else {
        return login_result_page(
            &state,
            Err("this Salesforce org is not configured in ctibridge".into()),
        );
    };
    let (Some(client), Some(redirect)) = (client_of(&state, &inst.name), redirect_uri(&state))
    else {
        return login_result_page(
            &state,
            Err("the connector's public_url is not usable".into()),
        );
    };
    let (verifier, challenge) = ctibridge_salesforce::pkce_pair();
    let st = state.sessions.begin_login(&inst.name, verifier);
    let mut url = client.authorize_url(&redirect, &st, &challenge);
    if let Some(hint) = q.login_hint.as_deref().filter(|h| !h.is_empty()) {
        url.query_pairs_mut().append_pair("login_hint", hint);
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn oauth_callback(
    State(state): State<Arc<AppState>>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let result = finish_login(&state, q).await;
    if let Err(e) = &result {
        warn!(error = %e, "panel sign-in failed");
    }
    login_result_page(&state, result)
}

async fn finish_login(state: &AppState, q: CallbackQuery) -> Result<String, String> {
    if let Some(e) = q.error {
        return Err(format!(
            "Salesforce refused the sign-in: {e} {}",
            q.error_description.unwrap_or_default()
        ));
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err("the sign-in answer lacks code or state".into());
    };
    let pending = state
        .sessions
        .finish_login(&st)
        .ok_or("this sign-in expired or was already used: start it again")?;
    let client = client_of(state, &pending.instance).ok_or("the instance is gone")?;
    let redirect = redirect_uri(state).ok_or("public_url is not usable")?;
    let token = client
        .exchange_code(&code, &redirect, &pending.verifier)
        .await
        .map_err(|e| format!("the code exchange failed: {e}"))?;
    let info = client
        .userinfo(&token)
        .await
        .map_err(|e| format!("cannot read the Salesforce user: {e}"))?;
    let inst = state
        .instance(&pending.instance)
        .ok_or("the instance is gone")?;
    let dir = state
        .pbx_directory()
        .ok_or("the STARFACE user list is not read yet: try again in a moment")?;
    let (users, _) = dir.users_in_scope(&inst.users, &inst.groups);
    let email = info.email.as_str();
    // A link the admin made by hand (for addresses that cannot be made the same) comes first;
    // the instance's user match carries it, and e-mail matches too.
    let linked =
        crate::admin::users::linked_starface_login(state, &inst.name, info.user_id.as_str());
    let pbx_user = match linked {
        Some(login) => users.iter().find(|u| u.login == login),
        None => None,
    }
    .or_else(|| {
        users
            .iter()
            .find(|u| u.email.trim().eq_ignore_ascii_case(email))
    })
    .cloned();
    let Some(pbx_user) = pbx_user else {
        return Err(format!(
            "no STARFACE user of this integration has the e-mail {email}: give the STARFACE user the same e-mail address as the Salesforce user (and add the user or a group of theirs to the instance)"
        ));
    };
    let user = PanelUser {
        instance: inst.name.clone(),
        starface_login: pbx_user.login.clone(),
        starface_user_id: pbx_user.id,
        name: pbx_user.display_name(),
        email: pbx_user.email.clone(),
        salesforce_user_id: info.user_id.to_string(),
    };
    info!(user = %user.starface_login, instance = %user.instance, "panel signed in");
    Ok(state.sessions.create(user))
}

/// The popup's last page: hands the token (or the error) to the panel that opened it.
fn login_result_page(state: &AppState, result: Result<String, String>) -> Response {
    let origin = state
        .config
        .server
        .public_url
        .origin()
        .ascii_serialization();
    let message = match &result {
        Ok(token) => json!({ "type": "ctibridge-login", "token": token }),
        Err(e) => json!({ "type": "ctibridge-login", "error": e }),
    };
    let text = match &result {
        Ok(_) => "Signed in. This window closes by itself.".to_owned(),
        Err(e) => format!("Sign-in failed: {e}"),
    };
    // JSON inside a script: escape `<` so no value can close the script element.
    let payload = message.to_string().replace('<', "\\u003c");
    let origin_js = serde_json::to_string(&origin)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('<', "\\u003c");
    let body = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>ctibridge sign-in</title></head>
<body style="font:14px system-ui;padding:16px"><p id="msg">{}</p>
<script>
(function () {{
  var msg = {payload};
  if (window.opener) {{ window.opener.postMessage(msg, {origin_js}); }}
  if (!msg.error) {{ setTimeout(function () {{ window.close(); }}, 300); }}
}})();
</script></body></html>"#,
        html_escape(&text)
    );
    let status = if result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let nonce_free_csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'";
    (
        status,
        [(header::CONTENT_SECURITY_POLICY, nonce_free_csp)],
        Html(body),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A request without a live panel session.
struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        error(StatusCode::UNAUTHORIZED, "unauthorized", "sign in again")
    }
}

/// The signed-in user of a request (`Authorization: Bearer <token>`).
fn authed(state: &AppState, headers: &HeaderMap) -> Result<PanelUser, Unauthorized> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    token
        .and_then(|t| state.sessions.user(t))
        .ok_or(Unauthorized)
}

fn user_json(u: &PanelUser) -> serde_json::Value {
    json!({
        "name": u.name,
        "email": u.email,
        "starface_login": u.starface_login,
        "salesforce_user_id": u.salesforce_user_id,
        "instance": u.instance,
    })
}

async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let settings = match state
        .store
        .get_user_settings(&user.starface_user_id.to_string())
        .await
    {
        Ok(s) => s,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    };
    Json(json!({
        "user": user_json(&user),
        "settings": settings_json(&settings),
        "uci": state.hub.uci(&user.starface_login),
    }))
    .into_response()
}

fn settings_json(s: &ctibridge_store::UserSettings) -> serde_json::Value {
    json!({
        "auto_open_record": s.auto_open_record,
        "create_unknown_inbound": s.create_unknown_inbound,
        "create_unknown_outbound": s.create_unknown_outbound,
        "phone_id": s.phone_id,
    })
}

#[derive(Deserialize)]
struct SettingsBody {
    auto_open_record: Option<bool>,
    create_unknown_inbound: Option<bool>,
    create_unknown_outbound: Option<bool>,
    phone_id: Option<String>,
}

async fn put_settings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<SettingsBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    let id = user.starface_user_id.to_string();
    let mut settings = match state.store.get_user_settings(&id).await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    };
    if let Some(v) = body.auto_open_record {
        settings.auto_open_record = v;
    }
    if let Some(v) = body.create_unknown_inbound {
        settings.create_unknown_inbound = v;
    }
    if let Some(v) = body.create_unknown_outbound {
        settings.create_unknown_outbound = v;
    }
    if let Some(v) = body.phone_id {
        settings.phone_id = (!v.trim().is_empty()).then(|| v.trim().to_owned());
    }
    if let Err(e) = state.store.put_user_settings(&id, &settings).await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string());
    }
    Json(settings_json(&settings)).into_response()
}

#[derive(Deserialize)]
struct CredentialsBody {
    login: String,
    password: String,
}

/// The user's own STARFACE login for the UCI session; only the SHA-512 of the password is
/// kept (encrypted). The login id must be the user's own: nobody can sign in as another.
async fn put_credentials(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<CredentialsBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    if body.login.trim() != user.starface_login {
        return error(
            StatusCode::BAD_REQUEST,
            "wrong_login",
            format!(
                "you are signed in as STARFACE user {}: enter that user's login id",
                user.starface_login
            ),
        );
    }
    if body.password.is_empty() || body.password.len() > 256 {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_password",
            "enter your STARFACE password",
        );
    }
    let password = secrecy::SecretString::from(body.password);
    match crate::uci::set_credentials(&state, &user.starface_login, &password).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    }
}

async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        state.sessions.end(token.trim());
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn websocket(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    // Panels send a few small messages: a 4 KiB read buffer instead of the default 128 KiB
    // saves about 600 MB at 5,000 panels (docs/PERFORMANCE.md).
    ws.max_message_size(WS_MAX_MESSAGE)
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| serve_socket(state, socket))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Auth { token: String },
    Ping,
}

async fn send_json(socket: &mut WebSocket, value: serde_json::Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

/// One panel connection: authenticate, send the user's current calls, then every change.
async fn serve_socket(state: Arc<AppState>, mut socket: WebSocket) {
    let first = tokio::time::timeout(WS_AUTH_TIMEOUT, socket.recv()).await;
    let user = match first {
        Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str::<ClientMessage>(&text) {
            Ok(ClientMessage::Auth { token }) => state.sessions.user(token.trim()),
            _ => None,
        },
        _ => None,
    };
    let Some(user) = user else {
        let _ = send_json(
            &mut socket,
            json!({ "type": "error", "error": "unauthorized" }),
        )
        .await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let mut sub = state.hub.subscribe(&user.starface_login);
    if !send_json(
        &mut socket,
        json!({ "type": "hello", "user": user_json(&user), "calls": sub.calls, "uci": sub.uci }),
    )
    .await
    {
        return;
    }
    loop {
        tokio::select! {
            msg = sub.rx.recv() => match msg {
                // Encoded once by the hub for all of the user's panels.
                Ok(frame) => {
                    if socket.send(Message::Text(frame)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow to follow: start over from a fresh snapshot.
                    sub = state.hub.subscribe(&user.starface_login);
                    if !send_json(&mut socket, json!({ "type": "hello", "user": user_json(&user), "calls": sub.calls, "uci": sub.uci })).await {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ClientMessage::Ping) = serde_json::from_str::<ClientMessage>(&text)
                        && !send_json(&mut socket, json!({ "type": "pong" })).await
                    {
                        return;
                    }
                    // Anything else from a panel is ignored: it can only ever see its own user.
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
