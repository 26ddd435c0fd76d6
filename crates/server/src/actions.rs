//! Call actions: click-to-dial through the user's UCI session, records created for unknown
//! callers (learned at once so that a repeat call finds them), and the panel's notes and call
//! list. Call logging itself goes through [`crate::outbox`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ctibridge_config::InstanceConfig;
use ctibridge_domain::{Call, CallChange, CallId, CallState, CallUpdate, E164, ObjectType};
use ctibridge_phone::{Number, NumberContext};
use ctibridge_store::{OutboxFilter, OutboxState, OutboxStore, UserStore};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::hub::{CardField, PanelCall, PanelMatch};
use crate::outbox::{self, CallLog};
use crate::sessions::PanelUser;
use crate::state::AppState;

/// How long learned records, preselections and answered call ids are remembered. Longer
/// than a full read of the org takes, so the index has the record by then.
const REMEMBER: Duration = Duration::from_secs(60 * 60);
/// Longest notes text a panel may send.
const MAX_NOTES: usize = 32_000;
/// Longest call result a panel may send.
const MAX_RESULT: usize = 200;

pub use ctibridge_config::MissedGroupCalls;

/// What an instance logs and creates; the defaults are the product's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPolicy {
    pub inbound: bool,
    pub outbound: bool,
    pub missed: bool,
    pub internal: bool,
    pub missed_group_calls: MissedGroupCalls,
    /// `Lead` or `Contact`: what is created for an unknown caller.
    pub unknown_caller_object: String,
    /// `Company` of a created Lead when the PBX knows none (a Lead needs one).
    pub unknown_lead_company: String,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            inbound: true,
            outbound: true,
            missed: true,
            internal: false,
            missed_group_calls: MissedGroupCalls::Group,
            unknown_caller_object: "Lead".to_owned(),
            unknown_lead_company: "Unknown".to_owned(),
        }
    }
}

/// The policy of an instance, from its `[[instance]]` keys.
pub fn policy(instance: Option<&InstanceConfig>) -> CallPolicy {
    let Some(c) = instance.map(|i| &i.calls) else {
        return CallPolicy::default();
    };
    CallPolicy {
        inbound: c.log_inbound,
        outbound: c.log_outbound,
        missed: c.log_missed,
        internal: c.log_internal,
        missed_group_calls: c.missed_group_calls,
        unknown_caller_object: c.unknown_caller_object.as_str().to_owned(),
        ..CallPolicy::default()
    }
}

/// Notes and result a user typed for a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct CallNotes {
    pub notes: Option<String>,
    pub result: Option<String>,
    pub who_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Learned {
    record: PanelMatch,
    at: Instant,
}

/// Memory of the call actions (everything durable is in the store's outbox).
#[derive(Default)]
pub struct Actions {
    learned: Mutex<HashMap<(String, String), Learned>>,
    creating: Mutex<HashSet<(String, String)>>,
    preselect: Mutex<HashMap<String, (PanelMatch, Instant)>>,
    answered: Mutex<HashMap<String, (String, Instant)>>,
    notes: Mutex<HashMap<(String, String), CallNotes>>,
    /// What the call-log outbox keeps in memory.
    pub outbox: outbox::OutboxMemory,
    /// Wakes the outbox worker when something was enqueued.
    pub(crate) wake: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Actions {
    /// Puts a record we created into the lookup of `instance` at once, so that the next call
    /// from `e164` finds it whatever the org's search index or the next full read say.
    pub fn learn(&self, instance: &str, e164: &E164, record: PanelMatch) {
        let mut learned = lock(&self.learned);
        learned.retain(|_, l| l.at.elapsed() < REMEMBER);
        learned.insert(
            (instance.to_owned(), e164.as_str().to_owned()),
            Learned {
                record,
                at: Instant::now(),
            },
        );
    }

    /// The record learned for a number, if any.
    pub fn learned(&self, instance: &str, e164: &str) -> Option<PanelMatch> {
        lock(&self.learned)
            .get(&(instance.to_owned(), e164.to_owned()))
            .filter(|l| l.at.elapsed() < REMEMBER)
            .map(|l| l.record.clone())
    }

    fn preselect(&self, call_id: &str, record: PanelMatch) {
        let mut p = lock(&self.preselect);
        p.retain(|_, (_, at)| at.elapsed() < REMEMBER);
        p.insert(call_id.to_owned(), (record, Instant::now()));
    }

    /// Who answered a call with this id (any user), if one did.
    pub fn answered_by(&self, call_id: &str) -> Option<String> {
        lock(&self.answered).get(call_id).map(|(u, _)| u.clone())
    }

    fn mark_answered(&self, call_id: &str, login: &str) {
        let mut a = lock(&self.answered);
        if a.len() > 10_000 {
            a.retain(|_, (_, at)| at.elapsed() < REMEMBER);
        }
        a.entry(call_id.to_owned())
            .or_insert_with(|| (login.to_owned(), Instant::now()));
    }

    /// Notes typed for a call before its log was enqueued.
    pub fn notes_of(&self, login: &str, call_id: &str) -> Option<CallNotes> {
        lock(&self.notes)
            .get(&(login.to_owned(), call_id.to_owned()))
            .cloned()
    }

    fn set_notes(&self, login: &str, call_id: &str, notes: CallNotes) {
        let mut n = lock(&self.notes);
        if n.len() > 10_000 {
            n.clear();
        }
        n.insert((login.to_owned(), call_id.to_owned()), notes);
    }
}

/// The matches a call shows, after what the index said: a record the user clicked to dial
/// comes alone; a record we created for the number stands in for an empty result.
pub fn adjust_matches(
    state: &AppState,
    instance: &str,
    call_id: &str,
    e164: Option<&str>,
    matches: Vec<PanelMatch>,
) -> Vec<PanelMatch> {
    if let Some((mut chosen, _)) = lock(&state.actions.preselect).get(call_id).cloned() {
        if let Some(m) = matches.iter().find(|m| m.id == chosen.id) {
            chosen = m.clone();
        }
        return vec![chosen];
    }
    if matches.is_empty()
        && let Some(e) = e164
        && let Some(found) = state.actions.learned(instance, e)
    {
        return vec![found];
    }
    matches
}

/// The hook of the UCI callback: remembers answers, creates records for unknown callers and
/// enqueues the log of every call that ended. Returns when the logs are durable.
pub async fn on_updates(state: &Arc<AppState>, instance: &str, updates: &[CallUpdate]) {
    for u in updates {
        let call = &u.call;
        if call.connected_at.is_some() {
            state
                .actions
                .mark_answered(call.id.as_str(), call.user.as_str());
        }
        match u.change {
            CallChange::Started => {
                {
                    let state = state.clone();
                    let instance = instance.to_owned();
                    let call = call.clone();
                    tokio::spawn(async move { create_for_unknown(&state, &instance, &call).await });
                }
                journal(state, instance, call).await;
            }
            CallChange::Ended => {
                if let Err(e) = outbox::enqueue_call(state, instance, call).await {
                    warn!(call = %call.id, user = %call.user, error = %e, "cannot enqueue the call log");
                }
            }
            // Of the later states only the answer matters to the Task (its time, the
            // outcome); ringing and dialling states add nothing the first event did not say,
            // and every journal write is a synced commit.
            CallChange::Updated if call.state == CallState::Connected => {
                journal(state, instance, call).await
            }
            CallChange::Updated => {}
        }
    }
}

/// Keeps the call in the store's journal until its log is enqueued (after the panel got it:
/// the caller publishes first).
async fn journal(state: &AppState, instance: &str, call: &Call) {
    if let Err(e) = outbox::journal_call(state, instance, call).await {
        warn!(call = %call.id, user = %call.user, error = %e, "cannot journal the call");
    }
}

/// The STARFACE user id (settings key) of a login.
pub(crate) fn user_id_of(state: &AppState, login: &str) -> Option<String> {
    state
        .pbx_directory()?
        .users
        .iter()
        .find(|u| u.login == login)
        .map(|u| u.id.to_string())
}

/// Splits a PBX name into first and last name; `None` for an empty name.
fn split_name(name: Option<&str>) -> Option<(Option<String>, String)> {
    let name = name.map(str::trim).filter(|n| !n.is_empty())?;
    match name.rsplit_once(' ') {
        Some((first, last)) if !first.trim().is_empty() => {
            Some((Some(first.trim().to_owned()), last.trim().to_owned()))
        }
        _ => Some((None, name.to_owned())),
    }
}

/// Creates the configured record for an unknown caller when the user wants that, learns it
/// and shows it on the panels of everyone on a call with that number.
async fn create_for_unknown(state: &Arc<AppState>, instance: &str, call: &Call) {
    let pc = crate::uci::panel_call(state, instance, call);
    if !pc.matches.is_empty() || pc.remote.kind != "external" || pc.ended_at.is_some() {
        return;
    }
    let Some(e164) = pc.remote.e164.as_deref().and_then(|e| E164::parse(e).ok()) else {
        return;
    };
    let Some(user_id) = user_id_of(state, call.user.as_str()) else {
        return;
    };
    let settings = match state.store.get_user_settings(&user_id).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot read user settings");
            return;
        }
    };
    let wanted = match pc.direction {
        "inbound" => settings.create_unknown_inbound,
        "outbound" => settings.create_unknown_outbound,
        _ => false,
    };
    if !wanted {
        return;
    }
    let key = (instance.to_owned(), e164.as_str().to_owned());
    // One creation per number at a time: a group call rings several users at once, and a
    // caller who tries again must find what the first call created.
    if !lock(&state.actions.creating).insert(key.clone()) {
        return;
    }
    let result = create_record(state, instance, call, &pc, &e164).await;
    lock(&state.actions.creating).remove(&key);
    match result {
        Ok(Some(record)) => {
            info!(user = %call.user, object = %record.object, id = %record.id, "created a record for an unknown caller");
            let stored = ctibridge_store::Record {
                object_type: record.object.clone(),
                sf_id: record.id.clone(),
                name: record.name.clone(),
                fields: serde_json::Map::new(),
                phones: vec![ctibridge_store::PhoneValue {
                    field: "Phone".into(),
                    raw: e164.as_str().to_owned(),
                    e164: Some(e164.as_str().to_owned()),
                }],
                system_modstamp: None,
            };
            if let Err(e) = crate::sync::learn_record(state, instance, &stored) {
                // The memory below still answers for the number until the sync reads it.
                debug!(error = %e, "the index could not learn the new record");
            }
            state.actions.learn(instance, &e164, record);
            republish_number(state, instance, e164.as_str());
        }
        Ok(None) => {}
        Err(e) => {
            warn!(user = %call.user, error = %e, "cannot create a record for an unknown caller")
        }
    }
}

/// Shows the calls with that number again (they now match the learned record).
fn republish_number(state: &AppState, instance: &str, e164: &str) {
    let Some(dir) = state.pbx_directory() else {
        return;
    };
    for user in &dir.users {
        for call in state.uci.current_calls(&user.login) {
            let pc = crate::uci::panel_call(state, instance, &call);
            if pc.remote.e164.as_deref() == Some(e164) {
                state.hub.publish_call(&user.login, pc);
            }
        }
    }
}

async fn create_record(
    state: &AppState,
    instance: &str,
    call: &Call,
    pc: &PanelCall,
    e164: &E164,
) -> Result<Option<PanelMatch>, ctibridge_salesforce::SalesforceError> {
    if state.actions.learned(instance, e164.as_str()).is_some() {
        return Ok(None);
    }
    let Some(client) = state.clients.get(instance) else {
        return Ok(None);
    };
    let policy = policy(state.instance(instance));
    let object = ObjectType::parse(&policy.unknown_caller_object).unwrap_or(ObjectType::Lead);
    let phone = e164.as_str().to_owned();
    let (first, last) = split_name(pc.remote.name.as_deref())
        .unwrap_or_else(|| (None, format!("Unknown caller {phone}")));
    let mut fields = serde_json::Map::new();
    if let Some(f) = &first {
        fields.insert("FirstName".into(), json!(f));
    }
    fields.insert("LastName".into(), json!(last));
    fields.insert("Phone".into(), json!(phone));
    if object == ObjectType::Lead {
        fields.insert("Company".into(), json!(policy.unknown_lead_company));
    }
    if let Some(owner) = outbox::owner_of(state, instance, call.user.as_str()) {
        fields.insert("OwnerId".into(), json!(owner));
    }
    let name = match &first {
        Some(f) => format!("{f} {last}"),
        None => last.clone(),
    };
    let mut last_err = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
            // The last answer may have been lost after the record was written: look for it
            // by the phone value we wrote before writing again.
            let soql = format!(
                "SELECT Id, Name FROM {object} WHERE Phone = '{}' LIMIT 1",
                ctibridge_salesforce::escape_soql_literal(&phone)
            );
            if let Ok(page) = client.query::<Value>(&soql).await
                && let Some(id) = page
                    .records
                    .first()
                    .and_then(|r| r.get("Id"))
                    .and_then(Value::as_str)
            {
                return Ok(Some(created_match(&object, id, &name, &phone)));
            }
        }
        match client.create(&object, &Value::Object(fields.clone())).await {
            Ok(id) => return Ok(Some(created_match(&object, id.as_str(), &name, &phone))),
            Err(e) if e.is_retryable() => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(
        last_err.unwrap_or(ctibridge_salesforce::SalesforceError::InvalidInput(
            "no attempt made".into(),
        )),
    )
}

fn created_match(object: &ObjectType, id: &str, name: &str, phone: &str) -> PanelMatch {
    PanelMatch {
        object: object.as_str().to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        strength: "exact",
        fields: vec![CardField {
            label: "Phone".into(),
            value: phone.to_owned(),
        }],
    }
}

/// The panel's call-action routes (merged into the panel router).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/panel/api/dial", post(dial))
        .route("/panel/api/phones", get(phones))
        .route("/panel/api/calls", get(calls))
        .route("/panel/api/calls/{id}/notes", put(put_notes))
        .route("/panel/api/calls/{id}/retry", post(retry))
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

/// A request without a live panel session.
struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        error(StatusCode::UNAUTHORIZED, "unauthorized", "sign in again")
    }
}

fn authed(state: &AppState, headers: &HeaderMap) -> Result<PanelUser, Unauthorized> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .and_then(|t| state.sessions.user(t))
        .ok_or(Unauthorized)
}

/// The digits the PBX must dial for `raw` (a number as Salesforce shows it): extensions as
/// they are; external numbers with the outside-line prefix, nationally inside the dialing
/// country and with the international prefix elsewhere.
pub fn dial_string(state: &AppState, raw: &str) -> Result<String, String> {
    let dialing = &state.config.dialing;
    match state.normaliser.classify(raw, NumberContext::Stored) {
        Number::Internal(ext) => Ok(ext),
        Number::External { e164, extension } => {
            let prefixes = crate::callcenter::dialing_prefixes(dialing);
            let own = own_country_code(dialing.country.as_str()).unwrap_or_default();
            let digits = e164.as_str().trim_start_matches('+');
            let mut out = prefixes.outside.clone();
            match digits
                .strip_prefix(own.as_str())
                .filter(|_| !own.is_empty())
            {
                Some(national) => {
                    out.push_str(&prefixes.long_distance);
                    out.push_str(national);
                }
                None => {
                    let intl = if prefixes.international.is_empty() {
                        "00"
                    } else {
                        prefixes.international.as_str()
                    };
                    out.push_str(intl);
                    out.push_str(digits);
                }
            }
            // PBXs dial an extension of the far end as trailing digits.
            if let Some(ext) = extension {
                out.push_str(&ext);
            }
            Ok(out)
        }
        Number::Suppressed => Err("there is no number to dial".into()),
        Number::Invalid(s) => Err(format!("{s:?} is not a phone number")),
    }
}

fn own_country_code(country: &str) -> Option<String> {
    use rlibphonenumber::Region;
    let util = ctibridge_phone::phone_number_util()?;
    let region = Region::from_code(country).ok()?;
    util.get_country_code_for_region(region)
        .map(|c| c.to_string())
}

#[derive(Deserialize)]
struct DialBody {
    number: String,
    record_id: Option<String>,
    record_name: Option<String>,
    object: Option<String>,
}

/// Places a call from the user's phone through their UCI session.
async fn dial(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<DialBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    let dialled = match dial_string(&state, &body.number) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_number", e),
    };
    let Some(session) = state.uci.session(&user.starface_login) else {
        return error(
            StatusCode::CONFLICT,
            "no_session",
            "your STARFACE connection is not active: enter your STARFACE password in the panel settings",
        );
    };
    let settings = state
        .store
        .get_user_settings(&user.starface_user_id.to_string())
        .await
        .unwrap_or_default();
    let phone = match settings.phone_id {
        Some(p) => Some(p),
        None => match session.get_primary_phone_id().await {
            Ok(p) => p,
            Err(e) => return error(StatusCode::BAD_GATEWAY, "pbx_refused", e.to_string()),
        },
    };
    let call_id = CallId::generate();
    if let Some(id) = body
        .record_id
        .as_deref()
        .map(str::trim)
        .filter(|i| ctibridge_domain::SalesforceId::parse(i).is_ok())
    {
        let object = body
            .object
            .clone()
            .filter(|o| !o.trim().is_empty())
            .unwrap_or_else(|| object_of_id(id).to_owned());
        state.actions.preselect(
            call_id.as_str(),
            PanelMatch {
                object,
                id: id.to_owned(),
                name: body.record_name.clone().unwrap_or_default(),
                strength: "exact",
                fields: Vec::new(),
            },
        );
    }
    match session
        .place_call_with_phone(&dialled, phone.as_deref(), Some(&call_id))
        .await
    {
        Ok(id) => {
            info!(user = %user.starface_login, phone = ?phone, "click-to-dial placed a call");
            if id != call_id
                && let Some(p) = lock(&state.actions.preselect).remove(call_id.as_str())
            {
                state.actions.preselect(id.as_str(), p.0);
            }
            Json(json!({ "call_id": id.as_str(), "dialled": dialled, "phone": phone }))
                .into_response()
        }
        Err(e) => {
            lock(&state.actions.preselect).remove(call_id.as_str());
            warn!(user = %user.starface_login, error = %e, "click-to-dial refused");
            error(
                StatusCode::BAD_GATEWAY,
                "pbx_refused",
                format!("STARFACE did not place the call: {e}"),
            )
        }
    }
}

fn object_of_id(id: &str) -> &'static str {
    match id.get(..3) {
        Some("003") => "Contact",
        Some("00Q") => "Lead",
        Some("001") => "Account",
        _ => "Record",
    }
}

/// The user's phones, the primary one and the one chosen in the settings.
async fn phones(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let Some(session) = state.uci.session(&user.starface_login) else {
        return error(
            StatusCode::CONFLICT,
            "no_session",
            "your STARFACE connection is not active",
        );
    };
    let (ids, primary) =
        match tokio::try_join!(session.get_phone_ids(), session.get_primary_phone_id()) {
            Ok(r) => r,
            Err(e) => return error(StatusCode::BAD_GATEWAY, "pbx_refused", e.to_string()),
        };
    let selected = state
        .store
        .get_user_settings(&user.starface_user_id.to_string())
        .await
        .ok()
        .and_then(|s| s.phone_id);
    Json(json!({ "phones": ids, "primary": primary, "selected": selected })).into_response()
}

#[derive(Deserialize)]
struct NotesBody {
    notes: Option<String>,
    result: Option<String>,
    record_id: Option<String>,
}

/// Notes and call result for one of the user's calls; they go into the call's Task.
async fn put_notes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
    body: Result<Json<NotesBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    if CallId::parse(&call_id).is_err() {
        return error(StatusCode::BAD_REQUEST, "bad_call_id", "not a call id");
    }
    let clean = |s: Option<String>, max: usize| s.map(|s| s.chars().take(max).collect::<String>());
    let who_id = body
        .record_id
        .filter(|r| ctibridge_domain::SalesforceId::parse(r.trim()).is_ok())
        .map(|r| r.trim().to_owned());
    let notes = CallNotes {
        notes: clean(body.notes, MAX_NOTES),
        result: clean(body.result, MAX_RESULT),
        who_id,
    };
    state
        .actions
        .set_notes(&user.starface_login, &call_id, notes.clone());
    if let Err(e) = outbox::journal_notes(
        &state,
        &user.instance,
        &user.starface_login,
        &call_id,
        &notes,
    )
    .await
    {
        warn!(call = %call_id, error = %e, "cannot keep the notes in the call journal");
    }
    match outbox::enqueue_notes(&state, &user.starface_login, &call_id, &notes).await {
        Ok(log) => Json(json!({ "log": log })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    }
}

/// Today's calls of the user with the state of their Task.
async fn calls(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let items = match state
        .store
        .list_outbox(&OutboxFilter {
            instance: None,
            state: None,
            limit: 1_000,
        })
        .await
    {
        Ok(i) => i,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    };
    let today = chrono::Utc::now().date_naive();
    let org = state.instance(&user.instance).map(|i| {
        i.salesforce
            .login_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    });
    let list: Vec<Value> = items
        .into_iter()
        .filter(|i| i.kind == outbox::KIND_CALL_LOG && i.created_at.date_naive() == today)
        .filter_map(|i| {
            let log: CallLog = serde_json::from_value(i.payload.clone()).ok()?;
            (log.login == user.starface_login).then_some((i, log))
        })
        .map(|(i, log)| {
            let task_id = i
                .result
                .as_ref()
                .and_then(|r| r.get("task_id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            json!({
                "call_id": log.call_id,
                "call_object": log.call_object,
                "subject": log.subject,
                "outcome": log.outcome,
                "remote": log.remote,
                "started_at": log.started_at,
                "state": log_state(i.state, i.result.as_ref()),
                "error": i.last_error,
                "task_id": task_id,
                "task_url": task_id.as_ref().zip(org.as_ref()).map(|(t, o)| format!("{o}/{t}")),
            })
        })
        .collect();
    Json(json!({ "calls": list })).into_response()
}

/// pending | written | failed | skipped, as the panel shows it.
pub(crate) fn log_state(state: OutboxState, result: Option<&Value>) -> &'static str {
    match state {
        OutboxState::Pending | OutboxState::InFlight => "pending",
        OutboxState::Done if result.and_then(|r| r.get("skipped")).is_some() => "skipped",
        OutboxState::Done => "written",
        OutboxState::Failed => "failed",
    }
}

/// Tries a failed call log again.
async fn retry(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
) -> Response {
    let user = match authed(&state, &headers) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let key = outbox::call_key(&call_id, &user.starface_login);
    match state.store.get_outbox_item_by_key(&key).await {
        Ok(Some(item)) => match state.store.requeue(item.id).await {
            Ok(true) => {
                state.actions.wake.notify_one();
                Json(json!({ "log": "pending" })).into_response()
            }
            Ok(false) => error(
                StatusCode::CONFLICT,
                "not_failed",
                "this call's log has not failed",
            ),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
        },
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_call",
            "no log for this call",
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pbx_name_splits_into_first_and_last_name() {
        assert_eq!(
            split_name(Some(" Hans  Muster ")),
            Some((Some("Hans".into()), "Muster".into()))
        );
        assert_eq!(split_name(Some("Muster")), Some((None, "Muster".into())));
        assert_eq!(split_name(Some("  ")), None);
        assert_eq!(split_name(None), None);
    }

    #[test]
    fn record_ids_name_their_object_by_key_prefix() {
        assert_eq!(object_of_id("003000000000001AAA"), "Contact");
        assert_eq!(object_of_id("00Q000000000001AAA"), "Lead");
        assert_eq!(object_of_id("001000000000001AAA"), "Account");
    }
}
