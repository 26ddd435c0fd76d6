//! UCI sessions of the users who use the integration, and the callback that receives their
//! call events: PBX event -> call tracker -> number lookup -> the user's panels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ctibridge_domain::{Call, CallOutcome, CallState, CallTracker, Direction, StarfaceLoginId};
use ctibridge_phone::{Normaliser, Number, ReadingsMemo};
use ctibridge_starface::uci::{
    CallbackMessage, CallbackTarget, FailureKind, SessionState, SessionStatus, SessionSupervisor,
    SupervisorConfig, UciOptions, UciSession, parse_callback_for,
};
use ctibridge_store::{CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore};
use secrecy::SecretString;
use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};

use crate::hub::{PanelCall, PanelMatch, Remote, UciStatus};
use crate::sessions::random_token;
use crate::state::AppState;

/// How often ended calls are pruned and sessions reconciled with the configuration.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// How long a shutdown waits for sessions to log out.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// PBX number strings whose readings are kept: a few minutes of calls at 500 events/s.
const READINGS_MEMO: usize = 4096;

struct Managed {
    instance: String,
    secret: String,
    auth: SecretString,
    /// A handle on the same session for requests (click-to-dial, phone ids).
    session: UciSession,
    /// SHA-256 of the stored credential the session uses, to remember a refused one.
    credential: [u8; 32],
    supervisor: SessionSupervisor,
}

fn fingerprint(hash: &SecretString) -> [u8; 32] {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    Sha256::digest(hash.expose_secret().as_bytes()).into()
}

/// Which user's session a callback secret belongs to, in O(1) whatever the number of sessions.
///
/// Keyed by the SHA-256 of the secret, so that the map's own comparisons (not constant-time)
/// reveal nothing about a secret; a hit is then confirmed by a constant-time compare with the
/// secret itself.
#[derive(Default)]
pub struct CallbackRoutes {
    by_key: HashMap<[u8; 32], (String, String)>,
}

fn route_key(secret: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes()).into()
}

impl CallbackRoutes {
    /// Routes `secret` to `login`.
    pub fn insert(&mut self, secret: &str, login: &str) {
        self.by_key
            .insert(route_key(secret), (secret.to_owned(), login.to_owned()));
    }

    /// Removes the route of `secret`.
    pub fn remove(&mut self, secret: &str) {
        self.by_key.remove(&route_key(secret));
    }

    /// The user `secret` belongs to.
    pub fn find(&self, secret: &str) -> Option<&str> {
        let (known, login) = self.by_key.get(&route_key(secret))?;
        ctibridge_starface::auth::secrets_equal(known, secret).then_some(login.as_str())
    }

    /// Removes every route.
    pub fn clear(&mut self) {
        self.by_key.clear();
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Every user's UCI session and the call tracker their events feed.
pub struct UciManager {
    sessions: Mutex<HashMap<String, Managed>>,
    /// Each session's callback secret -> its user; changed together with `sessions` and
    /// always locked after it.
    routes: Mutex<CallbackRoutes>,
    /// Users whose stored credential the PBX refused (its fingerprint): no new attempt until
    /// the user enters another one, so that a wrong password cannot lock the account.
    refused: Mutex<HashMap<String, [u8; 32]>>,
    tracker: Mutex<CallTracker>,
    changed: Notify,
    supervisor: Mutex<SupervisorConfig>,
    /// The HTTP client every session uses (one pool, one TLS set-up), built on first use.
    http: Mutex<Option<reqwest::Client>>,
    /// Readings of the far-end numbers of recent calls (see [`UciManager::pbx_readings`]).
    readings: ReadingsMemo,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The store key of a user's UCI credential.
pub fn credential_key(login: &str) -> CredentialKey {
    CredentialKey::new(
        CredentialOwner::StarfaceUser(login.to_owned()),
        CredentialPurpose::UCI_PASSWORD_SHA512,
    )
}

impl UciManager {
    /// A manager with the given session timing.
    pub fn new(supervisor: SupervisorConfig) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            routes: Mutex::new(CallbackRoutes::default()),
            refused: Mutex::new(HashMap::new()),
            tracker: Mutex::new(CallTracker::new()),
            changed: Notify::new(),
            supervisor: Mutex::new(supervisor),
            http: Mutex::new(None),
            readings: ReadingsMemo::new(READINGS_MEMO),
        }
    }

    /// The first reading of a PBX number string that `matches` accepts, or every reading when
    /// none does ([`ReadingsMemo::first_match`]): a known caller's number costs one parse
    /// without validation the first time, a hash lookup after.
    pub(crate) fn first_match(
        &self,
        normaliser: &dyn Normaliser,
        raw: &str,
        matches: &mut dyn FnMut(&ctibridge_domain::E164) -> bool,
    ) -> Result<Number, Arc<[Number]>> {
        self.readings.first_match(normaliser, raw, matches)
    }

    fn http_client(&self) -> Result<reqwest::Client, String> {
        let mut http = lock(&self.http);
        if let Some(c) = http.as_ref() {
            return Ok(c.clone());
        }
        let c = UciSession::http_client(&UciOptions::default()).map_err(|e| e.to_string())?;
        *http = Some(c.clone());
        Ok(c)
    }

    /// Adds a session and its callback route; a session the user had is returned, unrouted.
    fn insert_session(&self, login: String, m: Managed) -> Option<Managed> {
        let mut sessions = lock(&self.sessions);
        let mut routes = lock(&self.routes);
        routes.insert(&m.secret, &login);
        let old = sessions.insert(login, m);
        if let Some(old) = &old {
            routes.remove(&old.secret);
        }
        old
    }

    /// Removes a user's session and its callback route.
    fn remove_session(&self, login: &str) -> Option<Managed> {
        let mut sessions = lock(&self.sessions);
        let m = sessions.remove(login)?;
        lock(&self.routes).remove(&m.secret);
        Some(m)
    }

    /// The user, instance and auth value of the session whose callback secret this is.
    fn route(&self, secret: &str) -> Option<(String, String, SecretString)> {
        let sessions = lock(&self.sessions);
        let login = lock(&self.routes).find(secret)?.to_owned();
        let m = sessions.get(&login)?;
        Some((login, m.instance.clone(), m.auth.clone()))
    }

    /// Stops every session, logging out where it is up, and waits for that a few seconds at
    /// most (a PBX that is gone must not hold up the shutdown).
    pub async fn stop_all(&self) {
        let stopping: Vec<Managed> = {
            let mut sessions = lock(&self.sessions);
            lock(&self.routes).clear();
            sessions.drain().map(|(_, m)| m).collect()
        };
        if stopping.is_empty() {
            return;
        }
        let n = stopping.len();
        // The first poll signals every supervisor to stop; a timeout only stops the waiting.
        let stops = futures::future::join_all(stopping.into_iter().map(|m| m.supervisor.stop()));
        match tokio::time::timeout(STOP_TIMEOUT, stops).await {
            Ok(_) => info!(sessions = n, "UCI sessions stopped"),
            Err(_) => warn!(
                sessions = n,
                "UCI sessions still logging out after {STOP_TIMEOUT:?}; not waiting"
            ),
        }
    }

    /// Changes the session timing (keepAlive interval, backoff) of sessions started from now
    /// on; fault tests shorten it so that a lost session is noticed in seconds.
    pub fn set_supervisor_config(&self, config: SupervisorConfig) {
        *lock(&self.supervisor) = config;
    }

    /// Asks the manager to look at users and credentials again (after a credential change).
    pub fn refresh(&self) {
        self.changed.notify_one();
    }

    /// Number of sessions being supervised.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// The user's UCI session for requests, while it is active.
    pub fn session(&self, login: &str) -> Option<UciSession> {
        lock(&self.sessions)
            .get(login)
            .filter(|m| m.supervisor.state() == SessionState::Active)
            .map(|m| m.session.clone())
    }

    /// Current calls of a user (for tests and the admin).
    pub fn current_calls(&self, login: &str) -> Vec<Call> {
        match StarfaceLoginId::parse(login) {
            Ok(id) => lock(&self.tracker).current_calls(&id),
            Err(_) => Vec::new(),
        }
    }
}

/// Stores a user's UCI credential (the SHA-512 of the password only) and starts the session.
pub async fn set_credentials(
    state: &AppState,
    login: &str,
    password: &SecretString,
) -> Result<(), ctibridge_store::StoreError> {
    use secrecy::ExposeSecret;
    let hash = SecretString::from(ctibridge_starface::auth::password_sha512_hex(
        password.expose_secret(),
    ));
    state
        .store
        .put_credential(&credential_key(login), &hash)
        .await?;
    // A new password replaces a session that may have been refused.
    if let Some(old) = state.uci.remove_session(login) {
        tokio::spawn(old.supervisor.stop());
    }
    state.uci.refresh();
    Ok(())
}

/// Keeps one session per user in scope that has credentials; reports session states to the
/// hub; prunes ended calls. Runs until the process ends.
pub async fn run(state: Arc<AppState>) {
    let (tx, mut rx) = mpsc::channel::<SessionStatus>(256);
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    let mut directory = state.directory.clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                reconcile(&state, &tx).await;
                resync_states(&state);
                let updates = {
                    // Published under the tracker's lock: see `callback`.
                    let mut tracker = lock(&state.uci.tracker);
                    let updates = tracker.prune(chrono::Utc::now());
                    for u in &updates {
                        publish(&state, &u.call);
                    }
                    updates
                };
                log_pruned(&state, &updates).await;
            }
            _ = state.uci.changed.notified() => reconcile(&state, &tx).await,
            changed = directory.changed() => {
                if changed.is_err() {
                    return;
                }
                reconcile(&state, &tx).await;
            }
            Some(status) = rx.recv() => report(&state, status),
        }
    }
}

fn report(state: &Arc<AppState>, status: SessionStatus) {
    let login = status.user.as_str();
    // A supervisor that was just replaced (new credentials) may report after its successor:
    // while the user has a session, the hub shows that session's state, not a late message.
    let current = lock(&state.uci.sessions)
        .get(login)
        .map(|m| m.supervisor.state());
    let session_state = current.unwrap_or(status.state);
    match &session_state {
        SessionState::Active => {
            info!(user = %login, "UCI session active");
            crate::outbox::on_session_active(state, login);
        }
        SessionState::Failed(f) => warn!(user = %login, reason = %f.reason, "UCI session failed"),
        _ => {}
    }
    state.hub.set_uci(login, ui_status(&session_state));
}

/// Puts every session's own state on the hub. The supervisors' channel drops changes when it is
/// full (many sessions starting at once), so the hub is brought up to date on every tick.
fn resync_states(state: &AppState) {
    let states: Vec<(String, SessionState)> = lock(&state.uci.sessions)
        .iter()
        .map(|(login, m)| (login.clone(), m.supervisor.state()))
        .collect();
    for (login, s) in states {
        state.hub.set_uci(&login, ui_status(&s));
    }
}

/// A session state as the panel shows it.
fn ui_status(session_state: &SessionState) -> UciStatus {
    match session_state {
        SessionState::Connecting => UciStatus {
            state: "connecting",
            detail: None,
        },
        SessionState::Active => UciStatus {
            state: "active",
            detail: None,
        },
        SessionState::Failed(f) => {
            let detail = match f.kind {
                FailureKind::CredentialsRefused => {
                    "STARFACE refused the login id or password: enter them again".to_owned()
                }
                _ => f.reason.clone(),
            };
            UciStatus {
                state: "failed",
                detail: Some(detail),
            }
        }
        SessionState::Stopped => UciStatus {
            state: "stopped",
            detail: None,
        },
    }
}

/// Starts sessions for users who should have one and stops those who no longer should.
async fn reconcile(state: &Arc<AppState>, tx: &mpsc::Sender<SessionStatus>) {
    let Some(dir) = state.pbx_directory() else {
        return;
    };
    let mut wanted: HashMap<String, String> = HashMap::new();
    for inst in state.config.instances.iter().filter(|i| i.enabled) {
        let (users, _) = dir.users_in_scope(&inst.users, &inst.groups);
        for u in users {
            wanted
                .entry(u.login.clone())
                .or_insert_with(|| inst.name.clone());
        }
    }
    let gone: Vec<String> = lock(&state.uci.sessions)
        .iter()
        .filter(|(login, m)| !wanted.contains_key(*login) || m.supervisor.is_finished())
        .map(|(login, _)| login.clone())
        .collect();
    let stale: Vec<(String, Managed)> = gone
        .into_iter()
        .filter_map(|l| state.uci.remove_session(&l).map(|m| (l, m)))
        .collect();
    for (login, m) in stale {
        // A supervisor that gave up because the PBX refused the credentials is not restarted
        // with the same ones.
        if let SessionState::Failed(f) = m.supervisor.state()
            && f.kind == FailureKind::CredentialsRefused
        {
            lock(&state.uci.refused).insert(login, m.credential);
        }
        tokio::spawn(m.supervisor.stop());
    }
    for (login, instance) in wanted {
        if lock(&state.uci.sessions).contains_key(&login) {
            continue;
        }
        let hash = match state.store.get_credential(&credential_key(&login)).await {
            Ok(Some(h)) => h,
            Ok(None) => {
                state.hub.set_uci(&login, UciStatus::default());
                continue;
            }
            Err(e) => {
                warn!(user = %login, error = %e, "cannot read the user's UCI credential");
                continue;
            }
        };
        if lock(&state.uci.refused).get(&login) == Some(&fingerprint(&hash)) {
            // Refused before with these credentials: wait for new ones.
            continue;
        }
        match start_session(state, &login, &instance, &hash, tx.clone()) {
            Ok(m) => {
                if let Some(old) = state.uci.insert_session(login, m) {
                    tokio::spawn(old.supervisor.stop());
                }
            }
            Err(e) => {
                state.hub.set_uci(
                    &login,
                    UciStatus {
                        state: "failed",
                        detail: Some(e),
                    },
                );
            }
        }
    }
}

fn start_session(
    state: &AppState,
    login: &str,
    instance: &str,
    hash: &SecretString,
    tx: mpsc::Sender<SessionStatus>,
) -> Result<Managed, String> {
    let login_id = StarfaceLoginId::parse(login).map_err(|e| e.to_string())?;
    let secret = random_token();
    let url = state
        .config
        .server
        .public_url
        .join(&format!("uci/callback/{secret}"))
        .map_err(|e| format!("public_url: {e}"))?;
    let target = CallbackTarget::from_url(&url).map_err(|e| e.to_string())?;
    let session = UciSession::with_http(
        &state.config.starface.url,
        login_id,
        hash,
        Some(target),
        UciOptions::default(),
        state.uci.http_client()?,
    )
    .map_err(|e| e.to_string())?;
    let auth = session.auth_value().clone();
    debug!(user = %login, "starting UCI session");
    Ok(Managed {
        instance: instance.to_owned(),
        secret,
        auth,
        credential: fingerprint(hash),
        session: session.clone(),
        supervisor: SessionSupervisor::spawn(session, lock(&state.uci.supervisor).clone(), tx),
    })
}

/// The callback route.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/uci/callback/{secret}", post(callback))
}

async fn callback(
    State(state): State<Arc<AppState>>,
    Path(secret): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some((login, instance, auth)) = state.uci.route(&secret) else {
        warn!(
            bytes = body.len(),
            "UCI callback with an unknown secret refused"
        );
        return (StatusCode::NOT_FOUND, "unknown callback").into_response();
    };
    let Ok(login_id) = StarfaceLoginId::parse(&login) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let xml = |bytes: Vec<u8>| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            bytes,
        )
            .into_response()
    };
    let request = match parse_callback_for(&body, query.as_deref().unwrap_or(""), &login_id) {
        Ok(r) => r,
        Err(e) => {
            warn!(user = %login, error = %e, "malformed UCI callback refused");
            return xml(e.response());
        }
    };
    if request.pbx_auth.is_some() && !request.auth_matches(&auth) {
        warn!(user = %login, "UCI callback with a wrong auth value refused");
        return (StatusCode::FORBIDDEN, "wrong auth").into_response();
    }
    if let CallbackMessage::CallState(event) = &request.message {
        let updates = {
            // Publishing under the tracker's lock keeps the hub in the tracker's order: two
            // racing callbacks could otherwise publish a call's end before its start, and the
            // hub would keep that call as current for good (unbounded under a flood).
            let mut tracker = lock(&state.uci.tracker);
            let updates = tracker.apply(event, chrono::Utc::now());
            for u in &updates {
                publish_for(&state, &instance, &u.call);
            }
            updates
        };
        // Answer the PBX only once ended calls are in the outbox, so none is lost.
        crate::actions::on_updates(&state, &instance, &updates).await;
    }
    xml(request.response)
}

/// Calls the tracker gave up on are logged like ended ones.
async fn log_pruned(state: &Arc<AppState>, updates: &[ctibridge_domain::CallUpdate]) {
    for u in updates {
        let instance = lock(&state.uci.sessions)
            .get(u.call.user.as_str())
            .map(|m| m.instance.clone());
        if let Some(instance) = instance {
            crate::actions::on_updates(state, &instance, std::slice::from_ref(u)).await;
        }
    }
}

fn publish(state: &AppState, call: &Call) {
    let instance = lock(&state.uci.sessions)
        .get(call.user.as_str())
        .map(|m| m.instance.clone());
    if let Some(instance) = instance {
        publish_for(state, &instance, call);
    }
}

fn publish_for(state: &AppState, instance: &str, call: &Call) {
    state
        .hub
        .publish_call(call.user.as_str(), panel_call(state, instance, call));
}

/// A tracked call as the panel shows it, with the records its number matches.
pub fn panel_call(state: &AppState, instance: &str, call: &Call) -> PanelCall {
    let remote = call.remote();
    let (remote, matches) = crate::calls::identify(
        state,
        instance,
        remote.number.as_deref().unwrap_or(""),
        remote.name.as_deref(),
    );
    let matches = crate::actions::adjust_matches(
        state,
        instance,
        call.id.as_str(),
        remote.e164.as_deref(),
        matches,
    );
    let group = call
        .group_id
        .as_ref()
        .map(|id| match state.pbx_directory() {
            Some(dir) => dir.group_name(id),
            None => id.clone(),
        });
    panel_call_with(call, remote, matches, group)
}

/// A tracked call as the panel shows it, with its far end and matches already found and its
/// group's name (if it rang a group).
pub fn panel_call_with(
    call: &Call,
    remote: Remote,
    matches: Vec<PanelMatch>,
    group: Option<String>,
) -> PanelCall {
    let direction = if remote.kind == "internal" {
        "internal"
    } else {
        match call.direction {
            Some(Direction::Outbound) => "outbound",
            Some(Direction::Internal) => "internal",
            _ => "inbound",
        }
    };
    let st = if call.is_ended() {
        "ended"
    } else {
        match call.state {
            CallState::Connected => "connected",
            CallState::Proceeding | CallState::Ringback => "dialing",
            _ if call.direction == Some(Direction::Outbound) => "dialing",
            _ => "ringing",
        }
    };
    PanelCall {
        id: call.id.as_str().to_owned(),
        direction,
        state: st,
        outcome: call.outcome.map(|o| match o {
            CallOutcome::Answered => "answered",
            CallOutcome::Missed => "missed",
            CallOutcome::NotReached => "not_reached",
            CallOutcome::Busy => "busy",
        }),
        remote,
        group,
        matches,
        started_at: call.started_at,
        ended_at: call.ended_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_routes_to_its_user_and_no_other_string_does() {
        let mut routes = CallbackRoutes::default();
        let ben = random_token();
        routes.insert(&ben, "1001");
        routes.insert(&random_token(), "1002");
        assert_eq!(routes.find(&ben), Some("1001"));
        assert_eq!(routes.find(&ben[1..]), None);
        assert_eq!(routes.find(&format!("{ben}x")), None);
        assert_eq!(routes.find(""), None);
        routes.remove(&ben);
        assert_eq!(routes.find(&ben), None);
        assert_eq!(routes.len(), 1);
    }
}
