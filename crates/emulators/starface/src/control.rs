//! The control surface of the emulator: what tests and the demo use to make things happen on
//! the PBX (calls, restarts, expiring sessions) and to see what it did. Available in Rust as
//! [`Control`] and over HTTP under `/__emulator/`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::calls;
use crate::state::Shared;

/// A handle to steer a running emulated PBX. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

/// What kind of call to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    /// Someone calls the user; the user answers.
    #[default]
    Inbound,
    /// Someone calls the user; nobody answers.
    Missed,
    /// The user dials out (as if from the desk phone).
    Outbound,
    /// Someone calls a group: every member rings; one answers (or none).
    Group,
}

/// How the PBX writes the far end's number in events. Which one a real PBX uses depends on its
/// settings, so the connector must cope with all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NumberFormat {
    /// `+4930123456`.
    E164,
    /// `004930123456`.
    International00,
    /// `030123456`.
    National,
    /// With the outside-line prefix `0`: `0030123456`.
    OutsideLine,
    /// An internal extension, written as given (`201`).
    Internal,
    /// Suppressed caller id: the empty string.
    Suppressed,
}

impl NumberFormat {
    /// Writes `number` (E.164 with `+`, or an extension for [`NumberFormat::Internal`]) the way
    /// a PBX in Germany with outside-line prefix `0` would.
    pub fn render(self, number: &str) -> String {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let national = digits.strip_prefix("49").map(|rest| format!("0{rest}"));
        match self {
            NumberFormat::E164 => format!("+{digits}"),
            NumberFormat::International00 => format!("00{digits}"),
            NumberFormat::National => national.unwrap_or_else(|| format!("00{digits}")),
            NumberFormat::OutsideLine => {
                format!("0{}", national.unwrap_or_else(|| format!("00{digits}")))
            }
            NumberFormat::Internal => number.to_owned(),
            NumberFormat::Suppressed => String::new(),
        }
    }
}

/// A call to play through the PBX; events go to every subscribed session of the users involved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CallSpec {
    /// Inbound, missed, outbound or group.
    pub kind: CallKind,
    /// The user's login id, or for group calls the group (name, id or internal number).
    pub target: String,
    /// The far end's number exactly as the PBX shows it (see [`NumberFormat::render`]).
    pub number: String,
    /// The far end's name as the PBX knows it (empty when unknown).
    pub name: String,
    /// The first event carries no name; later ones do.
    pub name_late: bool,
    /// Send a first event whose `state` is empty (seen by real clients).
    pub empty_first_state: bool,
    /// Send every event twice.
    pub duplicate_events: bool,
    /// Whether the call is answered (outbound: by the far end; group: by a member).
    pub answered: bool,
    /// Group calls: the member (login id) who answers; default the first member.
    pub answered_by: Option<String>,
    /// Use this call id instead of a generated one.
    pub call_id: Option<String>,
    /// Time between two events; default the emulator's step delay.
    #[serde(with = "opt_millis", rename = "stepDelayMs")]
    pub step_delay: Option<Duration>,
    /// Steps between ringing and the answer.
    pub ring_steps: u32,
    /// Steps between the answer and the hang-up; 0 keeps the call up until someone hangs up.
    pub talk_steps: u32,
}

impl Default for CallSpec {
    fn default() -> Self {
        Self {
            kind: CallKind::Inbound,
            target: String::new(),
            number: String::new(),
            name: String::new(),
            name_late: false,
            empty_first_state: false,
            duplicate_events: false,
            answered: true,
            answered_by: None,
            call_id: None,
            step_delay: None,
            ring_steps: 1,
            talk_steps: 1,
        }
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// A UCI session as the PBX sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// Session number (unique per emulator run).
    pub id: u64,
    /// The user's login id.
    pub login: String,
    /// `v20`, `v22` or `v30`.
    pub api: String,
    /// Callback URL without the PBX's query, if the client gave one.
    pub callback: Option<String>,
    /// Subscribed event services.
    pub subscriptions: Vec<String>,
    /// Milliseconds since the last request of this session.
    pub idle_ms: u64,
}

/// What happened to one event sent to a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status", content = "error")]
pub enum DeliveryOutcome {
    /// Queued, not yet posted.
    Pending,
    /// The callback answered 2xx.
    Delivered,
    /// The post failed (connection, timeout, non-2xx).
    Failed(String),
    /// The session ended before the event could be posted.
    Dropped,
}

/// One event the PBX sent (or tried to send) to a session's callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Order of emission (increasing).
    pub seq: u64,
    /// The session it went to.
    pub session_id: u64,
    /// The session's user.
    pub login: String,
    /// The XML-RPC method called on the callback.
    pub method: String,
    /// The struct's fields.
    pub fields: BTreeMap<String, String>,
    /// Delivery result.
    pub outcome: DeliveryOutcome,
}

/// Counters of what the emulator did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Callback posts answered with 2xx.
    pub callbacks_delivered: u64,
    /// Callback posts that failed.
    pub callbacks_failed: u64,
    /// UCI requests by method name.
    pub uci_requests: BTreeMap<String, u64>,
    /// REST requests by `METHOD /route`.
    pub rest_requests: BTreeMap<String, u64>,
    /// REST requests that came without `X-Version`.
    pub rest_requests_without_x_version: u64,
    /// Live UCI sessions.
    pub sessions: usize,
    /// Restarts so far.
    pub restarts: u64,
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No user with that login id.
    #[error("no user with login id `{0}`")]
    UnknownUser(String),
    /// No group with that name, id or number.
    #[error("no group `{0}`")]
    UnknownGroup(String),
    /// A group without members cannot be called.
    #[error("group `{0}` has no members")]
    EmptyGroup(String),
    /// The answering user is not a member of the group.
    #[error("`{member}` is not a member of group `{group}`")]
    NotAMember {
        /// The login id.
        member: String,
        /// The group.
        group: String,
    },
    /// The call id is taken by a call still going on.
    #[error("call id `{0}` is in use")]
    CallIdInUse(String),
    /// No call with that id.
    #[error("no call `{0}`")]
    UnknownCall(String),
}

impl Control {
    /// Starts playing a call and returns its id at once; events follow in the background.
    pub fn play(&self, spec: CallSpec) -> Result<String, ControlError> {
        calls::play(&self.shared, spec)
    }

    /// Hangs up a call for everyone in it; `false` if it was already over.
    pub fn hangup(&self, call_id: &str) -> Result<bool, ControlError> {
        calls::hangup_all(&self.shared, call_id)
    }

    /// Whether the call has ended (all participants got HANGUP).
    pub fn call_finished(&self, call_id: &str) -> Option<bool> {
        self.shared.lock().calls.get(call_id).map(|c| c.finished)
    }

    /// Simulates a PBX restart: every UCI session and REST token is dropped and running calls
    /// end without further events; users, groups and the address book stay.
    pub fn restart(&self) {
        let mut st = self.shared.lock();
        st.sessions.clear();
        st.tokens.clear();
        st.nonces.clear();
        for call in st.calls.values_mut() {
            call.finished = true;
        }
        st.counters.restarts += 1;
        tracing::info!("emulated PBX restarted: all sessions dropped");
    }

    /// The live UCI sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let ttl = self.shared.opts.session_ttl;
        let mut st = self.shared.lock();
        st.expire_sessions(ttl);
        let now = Instant::now();
        st.sessions
            .iter()
            .map(|s| SessionInfo {
                id: s.id,
                login: s.login.clone(),
                api: s.api.clone(),
                callback: s.callback.as_ref().map(|c| c.url()),
                subscriptions: s.subscriptions.clone(),
                idle_ms: u64::try_from(now.duration_since(s.last_seen).as_millis())
                    .unwrap_or(u64::MAX),
            })
            .collect()
    }

    /// Ends every session of `login` as if it had missed its keepAlive; returns how many.
    pub fn expire_sessions_of(&self, login: &str) -> usize {
        let mut st = self.shared.lock();
        let mut n = 0;
        for s in st.sessions.iter_mut().filter(|s| s.login == login) {
            s.expired_by_control = true;
            n += 1;
        }
        let ttl = self.shared.opts.session_ttl;
        st.expire_sessions(ttl);
        n
    }

    /// Changes the default time between two call events.
    pub fn set_step_delay(&self, delay: Duration) {
        self.shared.lock().step_delay = delay;
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let ttl = self.shared.opts.session_ttl;
        let mut st = self.shared.lock();
        st.expire_sessions(ttl);
        let c = st.counters.clone();
        Stats {
            callbacks_delivered: c.callbacks_delivered,
            callbacks_failed: c.callbacks_failed,
            uci_requests: c.uci_requests,
            rest_requests: c.rest_requests,
            rest_requests_without_x_version: c.rest_requests_without_x_version,
            sessions: st.sessions.len(),
            restarts: c.restarts,
        }
    }

    /// The most recent events sent to callbacks (up to 2,000), oldest first.
    pub fn events(&self) -> Vec<EventRecord> {
        self.shared.lock().events.iter().cloned().collect()
    }

    /// Waits until every event emitted so far has left the queues (delivered, failed or
    /// dropped), or `timeout` passes; returns whether the queues are empty.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self
                .shared
                .lock()
                .events
                .iter()
                .any(|e| e.outcome == DeliveryOutcome::Pending);
            if !pending {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// A call request over HTTP: a [`CallSpec`], where the number may instead be given as `e164`
/// (or an extension) plus a `format`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallRequest {
    #[serde(flatten)]
    spec: CallSpec,
    e164: Option<String>,
    format: Option<NumberFormat>,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__emulator", get(index))
        .route("/__emulator/", get(index))
        .route("/__emulator/calls", post(play_call))
        .route("/__emulator/calls/{id}", get(call_status))
        .route("/__emulator/calls/{id}/hangup", post(hangup_call))
        .route("/__emulator/restart", post(restart))
        .route("/__emulator/sessions", get(sessions))
        .route("/__emulator/sessions/{login}/expire", post(expire))
        .route("/__emulator/stats", get(stats))
        .route("/__emulator/events", get(events))
        .with_state(Control { shared })
}

async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "endpoints": [
            "POST /__emulator/calls {kind: inbound|missed|outbound|group, target, number | e164+format, name, nameLate, emptyFirstState, duplicateEvents, answered, answeredBy, callId, stepDelayMs, ringSteps, talkSteps}",
            "GET /__emulator/calls/{id}",
            "POST /__emulator/calls/{id}/hangup",
            "POST /__emulator/restart",
            "GET /__emulator/sessions",
            "POST /__emulator/sessions/{login}/expire",
            "GET /__emulator/stats",
            "GET /__emulator/events",
        ],
        "numberFormats": ["e164", "international00", "national", "outsideLine", "internal", "suppressed"],
    }))
}

fn control_error(e: &ControlError) -> Response {
    let status = match e {
        ControlError::UnknownCall(_) => StatusCode::NOT_FOUND,
        ControlError::CallIdInUse(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

async fn play_call(State(control): State<Control>, body: axum::body::Bytes) -> Response {
    let req: CallRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": format!("invalid call request: {e}") })),
            )
                .into_response();
        }
    };
    let mut spec = req.spec;
    if let Some(format) = req.format {
        let source = req.e164.as_deref().unwrap_or(&spec.number).to_owned();
        spec.number = format.render(&source);
    } else if let Some(e164) = req.e164 {
        spec.number = e164;
    }
    match control.play(spec) {
        Ok(id) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "callId": id })),
        )
            .into_response(),
        Err(e) => control_error(&e),
    }
}

async fn call_status(State(control): State<Control>, Path(id): Path<String>) -> Response {
    match control.call_finished(&id) {
        Some(finished) => {
            Json(serde_json::json!({ "callId": id, "finished": finished })).into_response()
        }
        None => control_error(&ControlError::UnknownCall(id)),
    }
}

async fn hangup_call(State(control): State<Control>, Path(id): Path<String>) -> Response {
    match control.hangup(&id) {
        Ok(was_active) => Json(serde_json::json!({ "hungUp": was_active })).into_response(),
        Err(e) => control_error(&e),
    }
}

async fn restart(State(control): State<Control>) -> StatusCode {
    control.restart();
    StatusCode::NO_CONTENT
}

async fn sessions(State(control): State<Control>) -> Json<Vec<SessionInfo>> {
    Json(control.sessions())
}

async fn expire(
    State(control): State<Control>,
    Path(login): Path<String>,
) -> Json<serde_json::Value> {
    let n = control.expire_sessions_of(&login);
    Json(serde_json::json!({ "expired": n }))
}

async fn stats(State(control): State<Control>) -> Json<Stats> {
    Json(control.stats())
}

async fn events(State(control): State<Control>) -> Json<Vec<EventRecord>> {
    Json(control.events())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats_render_a_german_number_every_way_the_pbx_can() {
        let n = "+4930123456";
        assert_eq!(NumberFormat::E164.render(n), "+4930123456");
        assert_eq!(NumberFormat::International00.render(n), "004930123456");
        assert_eq!(NumberFormat::National.render(n), "030123456");
        assert_eq!(NumberFormat::OutsideLine.render(n), "0030123456");
        assert_eq!(NumberFormat::Internal.render("201"), "201");
        assert_eq!(NumberFormat::Suppressed.render(n), "");
    }

    #[test]
    fn foreign_numbers_stay_international_in_national_format() {
        assert_eq!(NumberFormat::National.render("+431234567"), "00431234567");
        assert_eq!(
            NumberFormat::OutsideLine.render("+431234567"),
            "000431234567"
        );
    }
}
