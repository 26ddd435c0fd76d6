//! Call logging through the store's durable outbox: every ended call that the instance logs
//! becomes one item keyed by PBX call id + user (the Task's `CallObject`), worked off in
//! batches through `composite/sobjects`. Before creating, Tasks already carrying the keys are
//! looked up, so an answer lost after Salesforce wrote the Task cannot double it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctibridge_domain::{Call, ObjectType};
use ctibridge_salesforce::{SalesforceClient, SalesforceError, composite_record};
use ctibridge_store::{
    Backoff, ClaimedItem, InstanceId, InstanceStore, NewOutboxItem, OutboxState, OutboxStore,
    RecordStore, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::actions::{CallNotes, MissedGroupCalls, policy};
use crate::state::AppState;

/// Outbox kind of a call's Task.
pub const KIND_CALL_LOG: &str = "call_log";
/// Outbox kind of notes typed after the Task was enqueued.
pub const KIND_CALL_NOTES: &str = "call_notes";
/// Items taken per round.
const BATCH: u32 = 100;
/// How long a claim holds an item: longer than a round of requests usually takes, short
/// enough that items in flight when the process died are taken up again soon after a restart.
/// A round that outlives its lease is safe: the next claim finds the Task by its CallObject.
const LEASE: Duration = Duration::from_secs(60);
/// How long a missed group call waits for the answer of another member to arrive.
const GROUP_SETTLE: Duration = Duration::from_secs(3);
/// How long the outbox of an org pauses when its daily API limit is spent.
const LIMIT_PAUSE: Duration = Duration::from_secs(5 * 60);
/// Notes wait for their Task this many times before they are given up on.
const NOTES_MAX_ATTEMPTS: u32 = 30;
/// Longest `Subject` of a Task.
const MAX_SUBJECT: usize = 255;

/// What the worker keeps in memory (all of it may be lost: it only saves work).
pub struct OutboxMemory {
    backoff: Mutex<Backoff>,
    lease: Mutex<Duration>,
    limit_pause: Mutex<Duration>,
    paused_until: Mutex<HashMap<String, DateTime<Utc>>>,
    instance_ids: Mutex<HashMap<String, InstanceId>>,
    notes_applied: Mutex<HashMap<String, i64>>,
}

impl Default for OutboxMemory {
    fn default() -> Self {
        Self {
            backoff: Mutex::new(Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(5 * 60),
            }),
            lease: Mutex::new(LEASE),
            limit_pause: Mutex::new(LIMIT_PAUSE),
            paused_until: Mutex::default(),
            instance_ids: Mutex::default(),
            notes_applied: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl OutboxMemory {
    /// Changes the retry backoff (tests shorten it).
    pub fn set_backoff(&self, backoff: Backoff) {
        *lock(&self.backoff) = backoff;
    }

    /// Changes how long the outbox of an org pauses on its API limit (tests shorten it).
    pub fn set_limit_pause(&self, pause: Duration) {
        *lock(&self.limit_pause) = pause;
    }

    /// Changes how long a claim holds an item (tests shorten it to restart quickly).
    pub fn set_lease(&self, lease: Duration) {
        *lock(&self.lease) = lease;
    }

    fn backoff(&self) -> Backoff {
        *lock(&self.backoff)
    }

    /// Until when the outbox of an instance pauses (its API limit is spent), if it does.
    pub fn paused_until(&self, instance: &str) -> Option<DateTime<Utc>> {
        lock(&self.paused_until)
            .get(instance)
            .copied()
            .filter(|t| *t > Utc::now())
    }
}

/// The data of one call's Task, as enqueued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallLog {
    pub instance: String,
    pub call_id: String,
    /// The Task's `CallObject`: call id + user (or + group for a missed group call).
    pub call_object: String,
    /// Whose call: the Task's owner is this user's Salesforce user.
    pub login: String,
    /// `Inbound` | `Outbound` | `Internal`
    pub call_type: String,
    pub subject: String,
    pub started_at: DateTime<Utc>,
    pub duration_secs: i64,
    /// answered | missed | busy | not reached
    pub outcome: String,
    pub remote: String,
    pub who_id: Option<String>,
    pub what_id: Option<String>,
    pub owner_id: Option<String>,
    pub notes: Option<String>,
    pub result: Option<String>,
    /// Set for missed group calls: logged only if no member answered.
    pub group: Option<String>,
}

/// Notes to put into a Task that was already enqueued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NotesUpdate {
    instance: String,
    call_key: String,
    notes: Option<String>,
    result: Option<String>,
    who_id: Option<String>,
    at_ms: i64,
}

/// The outbox key of a user's call.
pub fn call_key(call_id: &str, login: &str) -> String {
    format!("call:{call_id}:{login}")
}

fn group_key(call_id: &str, group: &str) -> String {
    format!("call:{call_id}:group:{group}")
}

async fn instance_id(state: &AppState, name: &str) -> Result<Option<InstanceId>, StoreError> {
    if let Some(id) = lock(&state.actions.outbox.instance_ids).get(name) {
        return Ok(Some(*id));
    }
    let id = state.store.get_instance(name).await?.map(|i| i.id);
    if let Some(id) = id {
        lock(&state.actions.outbox.instance_ids).insert(name.to_owned(), id);
    }
    Ok(id)
}

/// The Salesforce user of a STARFACE user, as the instance matched them by e-mail.
pub fn owner_of(state: &AppState, instance: &str, login: &str) -> Option<String> {
    state
        .status()
        .instances
        .iter()
        .find(|i| i.name == instance)?
        .users
        .iter()
        .find(|u| u.starface_login == login)?
        .salesforce_user_id
        .clone()
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Enqueues the Task of an ended call if the instance logs calls of its kind. Idempotent:
/// the PBX may report the end twice, the key keeps one item.
pub async fn enqueue_call(state: &AppState, instance: &str, call: &Call) -> Result<(), StoreError> {
    let pol = policy(state.instance(instance));
    let pc = crate::uci::panel_call(state, instance, call);
    let outcome = pc.outcome.unwrap_or("missed");
    let missed = matches!(outcome, "missed");
    let wanted = match pc.direction {
        "internal" => pol.internal && (!missed || pol.missed),
        "outbound" => pol.outbound,
        _ if missed => pol.missed,
        _ => pol.inbound,
    };
    if !wanted {
        return Ok(());
    }
    let login = call.user.as_str();
    let call_id = call.id.as_str();
    let group = pc.group.clone().filter(|_| missed);
    let (key, call_object) = match (&group, pol.missed_group_calls) {
        (Some(_), MissedGroupCalls::None) => return Ok(()),
        (Some(g), MissedGroupCalls::Group) => {
            (group_key(call_id, g), format!("{call_id}:group:{g}"))
        }
        _ => (call_key(call_id, login), format!("{call_id}:{login}")),
    };
    if key.len() > 255 {
        warn!(call = %call_id, "call id too long for a CallObject; call not logged");
        return Ok(());
    }
    let Some(iid) = instance_id(state, instance).await? else {
        return Ok(());
    };
    let typed = state.actions.notes_of(login, call_id).unwrap_or_default();
    let who = typed.who_id.clone().or_else(|| {
        let people: Vec<_> = pc
            .matches
            .iter()
            .filter(|m| m.strength == "exact" && matches!(m.object.as_str(), "Contact" | "Lead"))
            .collect();
        // Logging a call to the wrong person is worse than to nobody: only one candidate.
        (people.len() == 1).then(|| people[0].id.clone())
    });
    let what = match &who {
        Some(id) if id.starts_with("003") => state
            .store
            .get_record(iid, "Contact", id)
            .await
            .ok()
            .flatten()
            .and_then(|r| {
                r.record
                    .fields
                    .get("AccountId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }),
        Some(_) => None,
        None => {
            let accounts: Vec<_> = pc
                .matches
                .iter()
                .filter(|m| m.object == "Account")
                .collect();
            (accounts.len() == 1 && pc.matches.len() == 1).then(|| accounts[0].id.clone())
        }
    };
    let call_type = match pc.direction {
        "outbound" => "Outbound",
        "internal" => "Internal",
        _ => "Inbound",
    };
    let outcome_text = match outcome {
        "not_reached" => "not reached",
        o => o,
    };
    let party = pc
        .matches
        .first()
        .map(|m| m.name.clone())
        .or(pc.remote.name.clone())
        .unwrap_or_else(|| {
            pc.remote
                .e164
                .clone()
                .unwrap_or_else(|| pc.remote.raw.clone())
        });
    let subject = match (call_type, missed) {
        (_, true) if group.is_some() => format!(
            "Missed call to {} from {party}",
            group.as_deref().unwrap_or_default()
        ),
        (_, true) => format!("Missed call from {party}"),
        ("Outbound", _) => format!("Call to {party}"),
        _ => format!("Call from {party}"),
    };
    let started = call.started_at;
    let duration = match (call.connected_at, call.ended_at) {
        (Some(c), Some(e)) => (e - c).num_seconds().max(0),
        _ => 0,
    };
    let log = CallLog {
        instance: instance.to_owned(),
        call_id: call_id.to_owned(),
        call_object,
        login: login.to_owned(),
        call_type: call_type.to_owned(),
        subject: cut(&subject, MAX_SUBJECT),
        started_at: started,
        duration_secs: duration,
        outcome: outcome_text.to_owned(),
        remote: pc.remote.e164.clone().unwrap_or(pc.remote.raw.clone()),
        who_id: who,
        what_id: what,
        owner_id: owner_of(state, instance, login),
        notes: typed.notes,
        result: typed.result,
        group,
    };
    let not_before = log
        .group
        .as_ref()
        .map(|_| Utc::now() + chrono::Duration::from_std(GROUP_SETTLE).unwrap_or_default());
    let enqueued = state
        .store
        .enqueue(&NewOutboxItem {
            idempotency_key: key,
            instance_id: iid,
            kind: KIND_CALL_LOG.to_owned(),
            payload: serde_json::to_value(&log).unwrap_or(Value::Null),
            not_before,
        })
        .await?;
    if enqueued.created {
        debug!(call = %call_id, user = %login, "call log enqueued");
        state.actions.wake.notify_one();
    }
    Ok(())
}

/// Enqueues notes for the Task of a user's call; returns the state of the call's log
/// (`none` while the call has not ended or is not logged).
pub async fn enqueue_notes(
    state: &AppState,
    login: &str,
    call_id: &str,
    notes: &CallNotes,
) -> Result<&'static str, StoreError> {
    let key = call_key(call_id, login);
    let Some(item) = state.store.get_outbox_item_by_key(&key).await? else {
        // Not ended yet: the notes go into the Task when it is enqueued.
        return Ok("none");
    };
    let Ok(log) = serde_json::from_value::<CallLog>(item.payload.clone()) else {
        return Ok("none");
    };
    let at_ms = Utc::now().timestamp_millis();
    let update = NotesUpdate {
        instance: log.instance,
        call_key: key.clone(),
        notes: notes.notes.clone(),
        result: notes.result.clone(),
        who_id: notes.who_id.clone(),
        at_ms,
    };
    state
        .store
        .enqueue(&NewOutboxItem {
            idempotency_key: format!("notes:{key}:{at_ms}:{}", rand::random::<u32>()),
            instance_id: item.instance_id,
            kind: KIND_CALL_NOTES.to_owned(),
            payload: serde_json::to_value(&update).unwrap_or(Value::Null),
            not_before: None,
        })
        .await?;
    state.actions.wake.notify_one();
    Ok(crate::actions::log_state(item.state, item.result.as_ref()))
}

/// Works off the outbox until the process ends.
pub async fn run(state: Arc<AppState>) {
    // This process is the store's only worker: what a killed predecessor held is ours now,
    // not after its lease (the look-up by CallObject keeps a half-done write from doubling).
    match state.store.reclaim_in_flight(Utc::now()).await {
        Ok(0) => {}
        Ok(n) => info!(
            items = n,
            "took over call logs a previous run left in flight"
        ),
        Err(e) => warn!(error = %e, "cannot take over call logs left in flight"),
    }
    loop {
        let worked = match round(&state).await {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "outbox round failed");
                0
            }
        };
        if worked == 0 {
            tokio::select! {
                _ = state.actions.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// Call logs and notes of one instance, with their claims.
type Batches = (Vec<(ClaimedItem, CallLog)>, Vec<(ClaimedItem, NotesUpdate)>);

/// One round: claims what is due and writes it, instance by instance. Returns the number
/// of items claimed.
async fn round(state: &AppState) -> Result<usize, StoreError> {
    let lease = *lock(&state.actions.outbox.lease);
    let claimed = state
        .store
        .claim_due(None, BATCH, lease, Utc::now())
        .await?;
    let n = claimed.len();
    let mut foreign = 0usize;
    let mut by_instance: HashMap<String, Batches> = HashMap::new();
    for item in claimed {
        match item.item.kind.as_str() {
            KIND_CALL_LOG => match serde_json::from_value::<CallLog>(item.item.payload.clone()) {
                Ok(log) => by_instance
                    .entry(log.instance.clone())
                    .or_default()
                    .0
                    .push((item, log)),
                Err(e) => {
                    state
                        .store
                        .mark_failed(&item.claim, &format!("unreadable payload: {e}"))
                        .await?
                }
            },
            KIND_CALL_NOTES => {
                match serde_json::from_value::<NotesUpdate>(item.item.payload.clone()) {
                    Ok(u) => by_instance
                        .entry(u.instance.clone())
                        .or_default()
                        .1
                        .push((item, u)),
                    Err(e) => {
                        state
                            .store
                            .mark_failed(&item.claim, &format!("unreadable payload: {e}"))
                            .await?
                    }
                }
            }
            // Another part of the connector owns other kinds: hand them back untouched, due
            // a little later so that this worker does not spin on them.
            _ => {
                foreign += 1;
                let at = Utc::now() + chrono::Duration::seconds(5);
                state.store.release(&item.claim, at).await?
            }
        }
    }
    for (instance, (logs, notes)) in by_instance {
        let client = state.clients.get(&instance).cloned();
        let paused = state.actions.outbox.paused_until(&instance);
        let (Some(client), None) = (client, paused) else {
            let until = paused.unwrap_or_else(|| Utc::now() + chrono::Duration::seconds(60));
            for claim in logs
                .iter()
                .map(|(c, _)| &c.claim)
                .chain(notes.iter().map(|(c, _)| &c.claim))
            {
                state.store.release(claim, until).await?;
            }
            continue;
        };
        if !logs.is_empty() {
            write_logs(state, &instance, &client, logs).await?;
        }
        if !notes.is_empty() {
            write_notes(state, &instance, &client, notes).await?;
        }
    }
    Ok(n - foreign)
}

/// A failure of a whole request: pause on the API limit, retry what may pass later, fail the rest.
async fn fail_all(
    state: &AppState,
    instance: &str,
    items: Vec<&ClaimedItem>,
    err: &SalesforceError,
) -> Result<(), StoreError> {
    let now = Utc::now();
    if let SalesforceError::RequestLimitExceeded { .. } = err {
        let pause = *lock(&state.actions.outbox.limit_pause);
        let until = now + chrono::Duration::from_std(pause).unwrap_or_default();
        warn!(instance, until = %until, "the org's API limit is spent: the outbox pauses");
        lock(&state.actions.outbox.paused_until).insert(instance.to_owned(), until);
        for i in items {
            state.store.release(&i.claim, until).await?;
        }
        return Ok(());
    }
    let backoff = state.actions.outbox.backoff();
    let text = err.to_string();
    for i in items {
        if err.is_retryable() {
            state
                .store
                .mark_retry(
                    &i.claim,
                    &text,
                    backoff.next_attempt_at(now, i.item.attempts),
                )
                .await?;
        } else {
            state.store.mark_failed(&i.claim, &text).await?;
        }
    }
    debug!(instance, error = %text, "outbox request failed");
    Ok(())
}

#[derive(Deserialize)]
struct TaskRow {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "CallObject")]
    call_object: Option<String>,
}

fn soql_in(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{}'", ctibridge_salesforce::escape_soql_literal(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Tasks that already carry these `CallObject`s.
async fn existing_tasks(
    client: &SalesforceClient,
    call_objects: &[&str],
) -> Result<HashMap<String, String>, SalesforceError> {
    let mut found = HashMap::new();
    for chunk in call_objects.chunks(50) {
        let soql = format!(
            "SELECT Id, CallObject FROM Task WHERE CallObject IN ({})",
            soql_in(chunk)
        );
        let rows = client.query_all_pages::<TaskRow>(&soql).await?;
        for r in rows.records {
            if let Some(co) = r.call_object {
                found.entry(co).or_insert(r.id);
            }
        }
    }
    Ok(found)
}

fn task_fields(log: &CallLog, owner: Option<&str>) -> serde_json::Map<String, Value> {
    let mut f = serde_json::Map::new();
    f.insert("TaskSubtype".into(), json!("Call"));
    f.insert("CallType".into(), json!(log.call_type));
    f.insert("Subject".into(), json!(log.subject));
    f.insert("Status".into(), json!("Completed"));
    f.insert(
        "ActivityDate".into(),
        json!(log.started_at.date_naive().to_string()),
    );
    f.insert("CallDurationInSeconds".into(), json!(log.duration_secs));
    f.insert("CallObject".into(), json!(log.call_object));
    f.insert(
        "CallDisposition".into(),
        json!(disposition(&log.outcome, log.result.as_deref())),
    );
    let mut description = format!("{} – {}", log.remote, log.started_at.to_rfc3339());
    if let Some(n) = log.notes.as_deref().filter(|n| !n.trim().is_empty()) {
        description = format!("{n}\n\n{description}");
    }
    f.insert("Description".into(), json!(description));
    if let Some(w) = &log.who_id {
        f.insert("WhoId".into(), json!(w));
    }
    if let Some(w) = &log.what_id {
        f.insert("WhatId".into(), json!(w));
    }
    if let Some(o) = owner {
        f.insert("OwnerId".into(), json!(o));
    }
    f
}

fn disposition(outcome: &str, result: Option<&str>) -> String {
    match result.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => cut(&format!("{outcome}: {r}"), 255),
        None => outcome.to_owned(),
    }
}

/// The active Salesforce user with the STARFACE user's e-mail, if the org has one.
async fn owner_by_email(
    state: &AppState,
    client: &SalesforceClient,
    login: &str,
) -> Option<String> {
    let dir = state.pbx_directory()?;
    let email = dir
        .users
        .iter()
        .find(|u| u.login == login)
        .map(|u| u.email.trim().to_owned())
        .filter(|e| !e.is_empty())?;
    #[derive(Deserialize)]
    struct UserRow {
        #[serde(rename = "Id")]
        id: String,
    }
    let soql = format!(
        "SELECT Id FROM User WHERE IsActive = true AND Email = '{}' LIMIT 1",
        ctibridge_salesforce::escape_soql_literal(&email)
    );
    match client.query::<UserRow>(&soql).await {
        Ok(page) => page.records.into_iter().next().map(|u| u.id),
        Err(e) => {
            debug!(user = %login, error = %e, "cannot look up the Task owner by e-mail");
            None
        }
    }
}

/// Whether another member answered a group call (then its missed legs are not logged).
async fn answered_elsewhere(state: &AppState, log: &CallLog) -> Result<bool, StoreError> {
    if state.actions.answered_by(&log.call_id).is_some() {
        return Ok(true);
    }
    // After a restart memory is empty: the answerer's own log item says it.
    let Some(dir) = state.pbx_directory() else {
        return Ok(false);
    };
    for u in &dir.users {
        if let Some(item) = state
            .store
            .get_outbox_item_by_key(&call_key(&log.call_id, &u.login))
            .await?
            && item
                .payload
                .get("outcome")
                .and_then(Value::as_str)
                .is_some_and(|o| o == "answered")
        {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn write_logs(
    state: &AppState,
    instance: &str,
    client: &SalesforceClient,
    logs: Vec<(ClaimedItem, CallLog)>,
) -> Result<(), StoreError> {
    let mut todo = Vec::with_capacity(logs.len());
    for (item, log) in logs {
        if log.group.is_some() && answered_elsewhere(state, &log).await? {
            state
                .store
                .mark_done(
                    &item.claim,
                    Some(&json!({ "skipped": "answered by a member" })),
                )
                .await?;
            continue;
        }
        todo.push((item, log));
    }
    if todo.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = todo.iter().map(|(_, l)| l.call_object.as_str()).collect();
    let existing = match existing_tasks(client, &keys).await {
        Ok(e) => e,
        Err(e) => {
            return fail_all(state, instance, todo.iter().map(|(i, _)| i).collect(), &e).await;
        }
    };
    let mut create = Vec::new();
    for (item, log) in todo {
        if let Some(id) = existing.get(&log.call_object) {
            info!(call = %log.call_id, task = %id, "the Task of this call exists already");
            state
                .store
                .mark_done(&item.claim, Some(&json!({ "task_id": id })))
                .await?;
        } else {
            create.push((item, log));
        }
    }
    if create.is_empty() {
        return Ok(());
    }
    // Right after a start the instance has not matched its users yet: ask the org by e-mail.
    let mut owners: HashMap<String, Option<String>> = HashMap::new();
    for (_, log) in &create {
        if log.owner_id.is_none() && !owners.contains_key(&log.login) {
            let owner = match owner_of(state, instance, &log.login) {
                Some(o) => Some(o),
                None => owner_by_email(state, client, &log.login).await,
            };
            owners.insert(log.login.clone(), owner);
        }
    }
    let records: Vec<Value> = create
        .iter()
        .map(|(_, log)| {
            let owner = log
                .owner_id
                .clone()
                .or_else(|| owners.get(&log.login).cloned().flatten());
            composite_record(&ObjectType::Task, task_fields(log, owner.as_deref()))
        })
        .collect();
    let results = match client.composite_create(&records, false).await {
        Ok(r) => r,
        Err(e) => {
            return fail_all(state, instance, create.iter().map(|(i, _)| i).collect(), &e).await;
        }
    };
    for ((item, log), result) in create.iter().zip(results) {
        match (result.success, result.id) {
            (true, Some(id)) => {
                debug!(call = %log.call_id, task = %id, "call logged");
                state
                    .store
                    .mark_done(&item.claim, Some(&json!({ "task_id": id.as_str() })))
                    .await?
            }
            _ => {
                let text = result
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                let retryable = result
                    .errors
                    .iter()
                    .any(|e| e.error_code == "UNABLE_TO_LOCK_ROW");
                if retryable {
                    let at = state
                        .actions
                        .outbox
                        .backoff()
                        .next_attempt_at(Utc::now(), item.item.attempts);
                    state.store.mark_retry(&item.claim, &text, at).await?;
                } else {
                    warn!(call = %log.call_id, error = %text, "Salesforce refused the call's Task; kept as failed");
                    state.store.mark_failed(&item.claim, &text).await?;
                }
            }
        }
    }
    Ok(())
}

async fn write_notes(
    state: &AppState,
    instance: &str,
    client: &SalesforceClient,
    notes: Vec<(ClaimedItem, NotesUpdate)>,
) -> Result<(), StoreError> {
    let mut ready = Vec::new();
    for (item, update) in notes {
        let applied = lock(&state.actions.outbox.notes_applied)
            .get(&update.call_key)
            .copied();
        if applied.is_some_and(|a| a > update.at_ms) {
            state
                .store
                .mark_done(
                    &item.claim,
                    Some(&json!({ "skipped": "newer notes written" })),
                )
                .await?;
            continue;
        }
        let log_item = state.store.get_outbox_item_by_key(&update.call_key).await?;
        let task = log_item.as_ref().and_then(|l| {
            l.result
                .as_ref()
                .and_then(|r| r.get("task_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        match (log_item, task) {
            (Some(l), Some(task)) => {
                let log: Option<CallLog> = serde_json::from_value(l.payload).ok();
                ready.push((item, update, task, log));
            }
            (Some(l), None) if l.state != OutboxState::Done => {
                // The Task is not written yet: wait for it without counting against the notes.
                if item.item.attempts >= NOTES_MAX_ATTEMPTS {
                    state
                        .store
                        .mark_failed(&item.claim, "the call's Task was never written")
                        .await?;
                } else {
                    let at = Utc::now() + chrono::Duration::seconds(2);
                    state
                        .store
                        .mark_retry(&item.claim, "waiting for the call's Task", at)
                        .await?;
                }
            }
            _ => {
                state
                    .store
                    .mark_failed(&item.claim, "the call has no Task")
                    .await?;
            }
        }
    }
    if ready.is_empty() {
        return Ok(());
    }
    let records: Vec<Value> = ready
        .iter()
        .map(|(_, u, task, log)| {
            let mut f = serde_json::Map::new();
            f.insert("id".into(), json!(task));
            let outcome = log.as_ref().map_or("answered", |l| l.outcome.as_str());
            f.insert(
                "CallDisposition".into(),
                json!(disposition(outcome, u.result.as_deref())),
            );
            if let Some(log) = log {
                let mut with_notes = log.clone();
                with_notes.notes = u.notes.clone();
                if let Some(d) = task_fields(&with_notes, None).get("Description") {
                    f.insert("Description".into(), d.clone());
                }
            }
            if let Some(w) = &u.who_id {
                f.insert("WhoId".into(), json!(w));
            }
            composite_record(&ObjectType::Task, f)
        })
        .collect();
    let results = match client.composite_update(&records, false).await {
        Ok(r) => r,
        Err(e) => {
            return fail_all(state, instance, ready.iter().map(|(i, ..)| i).collect(), &e).await;
        }
    };
    for ((item, update, _, _), result) in ready.iter().zip(results) {
        if result.success {
            lock(&state.actions.outbox.notes_applied)
                .entry(update.call_key.clone())
                .and_modify(|a| *a = (*a).max(update.at_ms))
                .or_insert(update.at_ms);
            state.store.mark_done(&item.claim, None).await?;
        } else {
            let text = result
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            state.store.mark_failed(&item.claim, &text).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> CallLog {
        CallLog {
            instance: "i".into(),
            call_id: "c1".into(),
            call_object: "c1:1001".into(),
            login: "1001".into(),
            call_type: "Inbound".into(),
            subject: "Call from Maria".into(),
            started_at: "2026-11-25T10:00:00Z".parse().unwrap(),
            duration_secs: 42,
            outcome: "answered".into(),
            remote: "+4930123456".into(),
            who_id: Some("003000000000001AAA".into()),
            what_id: None,
            owner_id: None,
            notes: Some("wants a quote".into()),
            result: Some("Callback".into()),
            group: None,
        }
    }

    #[test]
    fn a_task_carries_the_call_fields_salesforce_defines() {
        let f = task_fields(&log(), Some("005000000000001AAA"));
        assert_eq!(f["TaskSubtype"], "Call");
        assert_eq!(f["CallType"], "Inbound");
        assert_eq!(f["Status"], "Completed");
        assert_eq!(f["ActivityDate"], "2026-11-25");
        assert_eq!(f["CallDurationInSeconds"], 42);
        assert_eq!(f["CallObject"], "c1:1001");
        assert_eq!(f["CallDisposition"], "answered: Callback");
        assert_eq!(f["WhoId"], "003000000000001AAA");
        assert_eq!(f["OwnerId"], "005000000000001AAA");
        assert!(
            f["Description"]
                .as_str()
                .unwrap()
                .starts_with("wants a quote")
        );
        assert!(!f.contains_key("WhatId"));
    }

    #[test]
    fn call_objects_in_soql_are_escaped() {
        assert_eq!(soql_in(&["a", "b'c"]), "'a', 'b\\'c'");
    }
}
