//! Call logging through the store's durable outbox: every ended call that the instance logs
//! becomes one item keyed by PBX call id + user (the Task's `CallObject`), worked off in
//! batches through `composite/sobjects`. Before creating, Tasks already carrying the keys are
//! looked up, so an answer lost after Salesforce wrote the Task cannot double it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctibridge_domain::{Call, CallOutcome, CallTracker, Direction, ObjectType};
use ctibridge_salesforce::{SalesforceClient, SalesforceError, composite_record};
use ctibridge_store::{
    Backoff, CallJournalStore, ClaimedItem, InstanceId, InstanceStore, JournalEntry, JournalKey,
    NewOutboxItem, OutboxState, OutboxStore, RecordStore, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use ctibridge_phone::{Number, NumberContext};

use crate::actions::{CallNotes, MissedGroupCalls, policy};
use crate::hub::{PanelCall, PanelMatch};
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
/// Longest wait after a failed request to the org (5xx, timeout): retrying one batch every
/// half minute through an outage costs nothing, and the backlog goes out soon after the org
/// is back. Item-level errors keep the full backoff.
const ORG_RETRY_MAX: Duration = Duration::from_secs(30);
/// How often the process records that it is alive: the error of the end time of a call
/// whose end a crash kept us from hearing.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a Task write whose answer was lost may still be carried out by Salesforce: its
/// REST API calls time out after 10 minutes (query calls aside; "API Timeout Limits",
/// developer.salesforce.com, Salesforce App Limits Cheatsheet). Until then a Task not found by
/// its CallObject may still appear, and writing it again could make two; after it, it will not.
const UNANSWERED_WRITE_SETTLES: Duration = Duration::from_secs(10 * 60 + 30);

/// What the worker keeps in memory (all of it may be lost: it saves work, and `unanswered`
/// narrows the window in which an unanswered Task write could be repeated).
pub struct OutboxMemory {
    backoff: Mutex<Backoff>,
    lease: Mutex<Duration>,
    limit_pause: Mutex<Duration>,
    paused_until: Mutex<HashMap<String, DateTime<Utc>>>,
    instance_ids: Mutex<HashMap<String, InstanceId>>,
    notes_applied: Mutex<HashMap<String, i64>>,
    /// When the previous process was last alive (read once, before this one writes).
    previous_alive: tokio::sync::OnceCell<Option<DateTime<Utc>>>,
    /// When this process started: journal rows older than this are a predecessor's.
    started_at: DateTime<Utc>,
    /// Failed requests in a row per instance since the org last answered.
    org_failures: Mutex<HashMap<String, u32>>,
    /// [`UNANSWERED_WRITE_SETTLES`]; tests shorten it. When a Task write got no answer is
    /// kept with the outbox item (a restart waits too).
    settles: Mutex<Duration>,
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
            previous_alive: tokio::sync::OnceCell::new(),
            started_at: Utc::now(),
            org_failures: Mutex::default(),
            settles: Mutex::new(UNANSWERED_WRITE_SETTLES),
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

    /// Changes how long a Task write without an answer may still be carried out (tests
    /// shorten it).
    pub fn set_unanswered_write_settles(&self, settles: Duration) {
        *lock(&self.settles) = settles;
    }

    /// Until when the last write of this item, which got no answer, may still be carried out
    /// without our hearing of it; `None` once that time has passed (or every write was
    /// answered).
    fn unsettled_until(
        &self,
        item: &ctibridge_store::OutboxItem,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let settles = chrono::Duration::from_std(*lock(&self.settles)).unwrap_or_default();
        item.unanswered_since
            .map(|since| since + settles)
            .filter(|until| now < *until)
    }

    /// Changes how long a claim holds an item (tests shorten it to restart quickly).
    pub fn set_lease(&self, lease: Duration) {
        *lock(&self.lease) = lease;
    }

    fn backoff(&self) -> Backoff {
        *lock(&self.backoff)
    }

    /// The org answered: its failure streak is over.
    fn org_answered(&self, instance: &str) {
        lock(&self.org_failures).remove(instance);
    }

    /// The org failed a request again; returns its failures in a row.
    fn org_failed(&self, instance: &str) -> u32 {
        let mut f = lock(&self.org_failures);
        let n = f.entry(instance.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
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
    /// Set when the end of the call was not heard and its time is estimated.
    #[serde(default)]
    pub end_note: Option<String>,
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
    // The state offers no borrow of its status but this one: a short lock, and one string
    // copied instead of the whole status (every user of every instance) per ended call.
    let mut owner = None;
    state.update_instance(instance, |i| {
        owner = i
            .users
            .iter()
            .find(|u| u.starface_login == login)
            .and_then(|u| u.salesforce_user_id.clone());
    });
    owner
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A record a call matched, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JournalMatch {
    object: String,
    id: String,
    name: String,
    exact: bool,
}

impl JournalMatch {
    fn of(m: &PanelMatch) -> Self {
        Self {
            object: m.object.clone(),
            id: m.id.clone(),
            name: m.name.clone(),
            exact: m.strength == "exact",
        }
    }

    fn to_panel(&self) -> PanelMatch {
        PanelMatch {
            object: self.object.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            strength: if self.exact { "exact" } else { "switchboard" },
            fields: Vec::new(),
        }
    }
}

/// What the call journal keeps of a call until its log is enqueued.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journaled {
    call: Call,
    #[serde(default)]
    matches: Vec<JournalMatch>,
    #[serde(default)]
    notes: Option<CallNotes>,
}

fn journal_key(instance_id: InstanceId, call_id: &str, login: &str) -> JournalKey {
    JournalKey {
        instance_id,
        call_id: call_id.to_owned(),
        login: login.to_owned(),
    }
}

fn missing(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|v| v.trim().is_empty())
}

/// The direction of a call first seen mid-call (no state showed it yet), from which end is
/// the user: their name, or an extension on one end and an outside number on the other.
/// Without it the user's own extension would be taken for the far end of an outbound call.
fn infer_direction(state: &AppState, call: &mut Call) {
    if call.direction.is_some() {
        return;
    }
    let internal = |p: &ctibridge_domain::Party| {
        p.number.as_deref().is_some_and(|n| {
            matches!(
                state.normaliser.classify(n, NumberContext::FromPbx),
                Number::Internal(_)
            )
        })
    };
    let own_name = state.pbx_directory().and_then(|d| {
        d.users
            .iter()
            .find(|u| u.login == call.user.as_str())
            .map(|u| u.display_name())
    });
    let named = |p: &ctibridge_domain::Party| {
        own_name
            .as_deref()
            .is_some_and(|n| p.name.as_deref().is_some_and(|m| m.trim() == n))
    };
    let caller_is_us = named(&call.caller) || (internal(&call.caller) && !internal(&call.called));
    let called_is_us = named(&call.called) || (internal(&call.called) && !internal(&call.caller));
    call.direction = match (caller_is_us, called_is_us) {
        (true, false) => Some(Direction::Outbound),
        (false, true) => Some(Direction::Inbound),
        _ => None,
    };
}

/// One view of a call from what two sources saw (the journal of an earlier process and this
/// process's tracker): the earliest start and answer, and no fact of either lost.
fn merge_calls(old: &Call, new: &Call) -> Call {
    let mut m = new.clone();
    m.started_at = old.started_at.min(new.started_at);
    m.connected_at = match (old.connected_at, new.connected_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    m.direction = new.direction.or(old.direction);
    for (mine, theirs) in [(&mut m.caller, &old.caller), (&mut m.called, &old.called)] {
        if missing(&mine.number) {
            mine.number.clone_from(&theirs.number);
        }
        if missing(&mine.name) {
            mine.name.clone_from(&theirs.name);
        }
    }
    if m.group_id.is_none() {
        m.group_id.clone_from(&old.group_id);
    }
    for s in &old.states_seen {
        if !m.states_seen.contains(s) {
            m.states_seen.push(s.clone());
        }
    }
    m.last_event_at = old.last_event_at.max(new.last_event_at);
    if m.is_ended() && m.connected_at.is_some() {
        m.outcome = Some(CallOutcome::Answered);
    }
    m
}

fn outcome_name(o: CallOutcome) -> &'static str {
    match o {
        CallOutcome::Answered => "answered",
        CallOutcome::Missed => "missed",
        CallOutcome::NotReached => "not_reached",
        CallOutcome::Busy => "busy",
    }
}

/// Brings a panel view computed from a partial call in line with the merged call (the same
/// rules as [`crate::uci::panel_call`]).
fn align(pc: &mut PanelCall, call: &Call) {
    if pc.remote.kind != "internal" {
        pc.direction = match call.direction {
            Some(Direction::Outbound) => "outbound",
            Some(Direction::Internal) => "internal",
            _ => "inbound",
        };
    }
    pc.outcome = call.outcome.map(outcome_name);
    pc.started_at = call.started_at;
    pc.ended_at = call.ended_at;
}

/// The view of a call the hub was just given (the callback publishes before it logs): the
/// number was identified once, for the panel, and is not looked up again.
fn known_panel_call(state: &AppState, call: &Call) -> Option<PanelCall> {
    state
        .hub
        .subscribe(call.user.as_str())
        .calls
        .into_iter()
        .find(|c| c.id == call.id.as_str())
}

/// Whether the instance may log a call of this direction (its outcome is not known yet).
fn may_log(pol: &crate::actions::CallPolicy, direction: &str) -> bool {
    match direction {
        "internal" => pol.internal,
        "outbound" => pol.outbound,
        _ => pol.inbound || pol.missed,
    }
}

/// The login's instance: the first enabled one with the user in scope (as the sessions are
/// assigned).
fn instance_of(state: &AppState, login: &str) -> Option<String> {
    let dir = state.pbx_directory()?;
    state
        .config
        .instances
        .iter()
        .filter(|i| i.enabled)
        .find(|i| {
            let (users, _) = dir.users_in_scope(&i.users, &i.groups);
            users.iter().any(|u| u.login == login)
        })
        .map(|i| i.name.clone())
}

/// Writes what is known of a call that has not ended into the journal, merged with what the
/// journal had (facts an earlier process saw are kept). Called after the call was published:
/// the panel never waits for this write.
pub async fn journal_call(state: &AppState, instance: &str, call: &Call) -> Result<(), StoreError> {
    if call.is_ended() {
        // Late facts of an ended call: its log is enqueued (or being), the row gone.
        return Ok(());
    }
    let mut inferred = call.clone();
    infer_direction(state, &mut inferred);
    // The panel's view fits unless the direction was only inferred here.
    let pc = known_panel_call(state, call)
        .filter(|_| inferred.direction == call.direction)
        .unwrap_or_else(|| crate::uci::panel_call(state, instance, &inferred));
    let call = &inferred;
    if !may_log(&policy(state.instance(instance)), pc.direction) {
        return Ok(());
    }
    let Some(iid) = instance_id(state, instance).await? else {
        return Ok(());
    };
    let key = journal_key(iid, call.id.as_str(), call.user.as_str());
    let matches: Vec<JournalMatch> = pc.matches.iter().map(JournalMatch::of).collect();
    let call = call.clone();
    state
        .store
        .update_journal(&key, Utc::now(), move |old| {
            let old = old.and_then(|v| serde_json::from_value::<Journaled>(v).ok());
            let entry = match old {
                Some(o) => Journaled {
                    call: merge_calls(&o.call, &call),
                    matches: if matches.is_empty() {
                        o.matches
                    } else {
                        matches
                    },
                    notes: o.notes,
                },
                None => Journaled {
                    call,
                    matches,
                    notes: None,
                },
            };
            serde_json::to_value(entry).ok()
        })
        .await?;
    Ok(())
}

/// Keeps notes typed during a call in its journal row (if it has one), so that they reach
/// the Task even if the process dies before the call ends.
pub async fn journal_notes(
    state: &AppState,
    instance: &str,
    login: &str,
    call_id: &str,
    notes: &CallNotes,
) -> Result<(), StoreError> {
    let Some(iid) = instance_id(state, instance).await? else {
        return Ok(());
    };
    let notes = notes.clone();
    state
        .store
        .update_journal(&journal_key(iid, call_id, login), Utc::now(), move |old| {
            let mut entry = serde_json::from_value::<Journaled>(old?).ok()?;
            entry.notes = Some(notes);
            serde_json::to_value(entry).ok()
        })
        .await?;
    Ok(())
}

/// Enqueues the Task of an ended call if the instance logs calls of its kind, and ends the
/// call's journal row in the same transaction. What the journal knew (an earlier process may
/// have seen the start and the answer) is merged in. Idempotent: the PBX may report the end
/// twice, the key keeps one item.
pub async fn enqueue_call(state: &AppState, instance: &str, call: &Call) -> Result<(), StoreError> {
    let Some(iid) = instance_id(state, instance).await? else {
        return Ok(());
    };
    let key = journal_key(iid, call.id.as_str(), call.user.as_str());
    let journaled = state
        .store
        .get_journal_entry(&key)
        .await?
        .and_then(|e| serde_json::from_value::<Journaled>(e.data).ok());
    let (merged, matches, journal_notes) = match journaled {
        Some(j) => (merge_calls(&j.call, call), j.matches, j.notes),
        None => (call.clone(), Vec::new(), None),
    };
    let mut merged = merged;
    infer_direction(state, &mut merged);
    // The panel's view is reused unless the journal or the numbers told the direction the
    // events had not shown: then which end is the far one changes, and it is computed anew.
    let mut pc = match known_panel_call(state, call) {
        Some(pc) if merged.direction == call.direction => pc,
        _ => crate::uci::panel_call(state, instance, &merged),
    };
    align(&mut pc, &merged);
    if pc.matches.is_empty() {
        pc.matches = matches.iter().map(JournalMatch::to_panel).collect();
    }
    let call = merged;
    let typed = state
        .actions
        .notes_of(call.user.as_str(), call.id.as_str())
        .or(journal_notes)
        .unwrap_or_default();
    let item = log_item(state, instance, iid, &call, &pc, typed, None).await?;
    let enqueued = state.store.finish_call(&key, item.as_ref(), false).await?;
    if enqueued.is_some_and(|e| e.created) {
        debug!(call = %call.id, user = %call.user, "call log enqueued");
        state.actions.wake.notify_one();
    }
    Ok(())
}

/// The outbox item of a call's Task, `None` when the instance does not log such calls.
async fn log_item(
    state: &AppState,
    instance: &str,
    iid: InstanceId,
    call: &Call,
    pc: &PanelCall,
    typed: CallNotes,
    end_note: Option<String>,
) -> Result<Option<NewOutboxItem>, StoreError> {
    let pol = policy(state.instance(instance));
    let outcome = pc.outcome.unwrap_or("missed");
    let missed = matches!(outcome, "missed");
    let wanted = match pc.direction {
        "internal" => pol.internal && (!missed || pol.missed),
        "outbound" => pol.outbound,
        _ if missed => pol.missed,
        _ => pol.inbound,
    };
    if !wanted {
        return Ok(None);
    }
    let login = call.user.as_str();
    let call_id = call.id.as_str();
    let group = pc.group.clone().filter(|_| missed);
    let (key, call_object) = match (&group, pol.missed_group_calls) {
        (Some(_), MissedGroupCalls::None) => return Ok(None),
        (Some(g), MissedGroupCalls::Group) => {
            (group_key(call_id, g), format!("{call_id}:group:{g}"))
        }
        _ => (call_key(call_id, login), format!("{call_id}:{login}")),
    };
    if key.len() > 255 {
        warn!(call = %call_id, "call id too long for a CallObject; call not logged");
        return Ok(None);
    }
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
        started_at: call.started_at,
        duration_secs: duration,
        outcome: outcome_text.to_owned(),
        remote: pc.remote.e164.clone().unwrap_or(pc.remote.raw.clone()),
        who_id: who,
        what_id: what,
        owner_id: owner_of(state, instance, login),
        notes: typed.notes,
        result: typed.result,
        group,
        end_note,
    };
    let not_before = log
        .group
        .as_ref()
        .map(|_| Utc::now() + chrono::Duration::from_std(GROUP_SETTLE).unwrap_or_default());
    Ok(Some(NewOutboxItem {
        idempotency_key: key,
        instance_id: iid,
        kind: KIND_CALL_LOG.to_owned(),
        payload: serde_json::to_value(&log).unwrap_or(Value::Null),
        not_before,
    }))
}

/// What this process knows of its predecessor: when it was last alive (read once, before
/// this process records its own liveness).
async fn previous_alive(state: &AppState) -> Option<DateTime<Utc>> {
    let mem = &state.actions.outbox;
    match mem
        .previous_alive
        .get_or_try_init(|| state.store.last_alive())
        .await
    {
        Ok(t) => *t,
        Err(e) => {
            warn!(error = %e, "cannot read when ctibridge was last alive");
            None
        }
    }
}

/// Records every few seconds that the process is alive: after a SIGKILL the next process
/// knows from when on nobody listened to the PBX.
async fn heartbeat(state: Arc<AppState>) {
    previous_alive(&state).await;
    loop {
        if let Err(e) = state.store.set_alive(Utc::now()).await {
            debug!(error = %e, "cannot record liveness");
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Called when a user's UCI session becomes active (at start and after every reconnect):
/// squares the journal with the calls the PBX still has for the user.
pub fn on_session_active(state: &Arc<AppState>, login: &str) {
    let state = state.clone();
    let login = login.to_owned();
    tokio::spawn(async move {
        if let Err(e) = reconcile_user(&state, &login).await {
            warn!(user = %login, error = %e, "cannot reconcile the user's calls with the PBX");
        }
    });
}

/// Why a reconcile stopped.
#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the PBX did not list the calls: {0}")]
    Pbx(#[from] ctibridge_starface::uci::UciError),
}

/// Logs every journaled call of `login` the PBX no longer lists (it ended while we did not
/// listen) and journals the PBX's calls this process does not track (they started, or were
/// answered, while we did not listen).
async fn reconcile_user(state: &Arc<AppState>, login: &str) -> Result<(), ReconcileError> {
    let Some(session) = state.uci.session(login) else {
        return Ok(());
    };
    // The rows first, then the PBX's list: a call that starts in between is not in the
    // snapshot, so it cannot be taken for one that ended.
    let rows = state.store.journal_of_user(login).await?;
    let mut live = None;
    for attempt in 0..3u64 {
        match session.get_call_ids().await {
            Ok(ids) => {
                live = Some(ids);
                break;
            }
            Err(e) if attempt == 2 => return Err(e.into()),
            Err(e) => {
                debug!(user = %login, error = %e, "getCallIds failed; trying again");
                tokio::time::sleep(Duration::from_millis(300 * (attempt + 1))).await;
            }
        }
    }
    let live = live.unwrap_or_default();
    let now = Utc::now();
    let previous = previous_alive(state).await;
    let started = state.actions.outbox.started_at;
    let mut ended = 0usize;
    for row in &rows {
        if live.iter().any(|id| id.as_str() == row.key.call_id) {
            continue;
        }
        ended += usize::from(finish_unheard(state, row, previous, started, now).await?);
    }
    let mut found = 0usize;
    let Some(instance) = instance_of(state, login) else {
        return Ok(());
    };
    for id in &live {
        // A call this process tracks is up to date. Any other one is asked for: it started
        // while nobody listened, or it was journaled before and may have been answered
        // meanwhile (the answer is merged into its row).
        if state.uci.current_calls(login).iter().any(|c| &c.id == id) {
            continue;
        }
        let event = match session.get_call_state(id).await {
            Ok(e) => e,
            Err(e) => {
                debug!(user = %login, call = %id, error = %e, "getCallState failed");
                continue;
            }
        };
        let mut tracker = CallTracker::new();
        let Some(update) = tracker.apply(&event, now).into_iter().next() else {
            continue;
        };
        if update.call.is_ended() {
            continue;
        }
        journal_call(state, &instance, &update.call).await?;
        found += 1;
    }
    if ended + found > 0 {
        info!(user = %login, ended, found, "squared the call journal with the PBX");
    }
    Ok(())
}

/// Logs a journaled call whose end nobody heard, once, with what is known. Returns whether
/// a log was enqueued.
async fn finish_unheard(
    state: &AppState,
    row: &JournalEntry,
    previous_alive: Option<DateTime<Utc>>,
    process_started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Ok(j) = serde_json::from_value::<Journaled>(row.data.clone()) else {
        warn!(call = %row.key.call_id, "unreadable call journal row dropped");
        state.store.finish_call(&row.key, None, true).await?;
        return Ok(false);
    };
    let mut instance = None;
    for i in &state.config.instances {
        if instance_id(state, &i.name).await? == Some(row.key.instance_id) {
            instance = Some(i.name.clone());
            break;
        }
    }
    let Some(instance) = instance else {
        // The instance is no longer configured: nobody to log the call for.
        return Ok(false);
    };
    let mut call = j.call;
    infer_direction(state, &mut call);
    // When it ended is not known, only a window: after the last thing we heard of it (and,
    // when the row is an earlier process's, after that process last said it was alive)
    // and before now. A session lost by this process is noticed within seconds: now.
    let lower = if row.updated_at < process_started {
        call.last_event_at
            .max(previous_alive.unwrap_or(row.updated_at))
    } else {
        call.last_event_at
    };
    let end = if row.updated_at < process_started {
        lower
    } else {
        now
    };
    call.ended_at = Some(end.max(call.started_at));
    call.outcome = Some(match (call.connected_at, call.direction) {
        (Some(_), _) => CallOutcome::Answered,
        (None, Some(Direction::Outbound)) => CallOutcome::NotReached,
        _ => CallOutcome::Missed,
    });
    let mut pc = crate::uci::panel_call(state, &instance, &call);
    if !j.matches.is_empty() {
        // What the call showed (a record clicked to dial, one created for the caller).
        pc.matches = j.matches.iter().map(JournalMatch::to_panel).collect();
    }
    let typed = state
        .actions
        .notes_of(call.user.as_str(), call.id.as_str())
        .or(j.notes)
        .unwrap_or_default();
    let note = format!(
        "ctibridge did not hear this call end: it ended between {} and {}; the duration is approximate.",
        lower.format("%Y-%m-%d %H:%M:%S UTC"),
        now.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    let item = log_item(
        state,
        &instance,
        row.key.instance_id,
        &call,
        &pc,
        typed,
        Some(note),
    )
    .await?;
    let enqueued = state
        .store
        .finish_call(&row.key, item.as_ref(), true)
        .await?;
    let created = enqueued.is_some_and(|e| e.created);
    if created {
        info!(call = %call.id, user = %call.user, "logged a call whose end was not heard");
        state.actions.wake.notify_one();
    }
    Ok(created)
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
    tokio::spawn(heartbeat(state.clone()));
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
    // A whole request failed: that says how the org is, not how the items are. The backoff
    // follows the org's failures in a row, so that a flaky org (every other request failing)
    // keeps retrying every second or two instead of pushing items towards the maximum.
    let streak = state.actions.outbox.org_failed(instance);
    let backoff = Backoff {
        base: backoff.base,
        max: backoff.max.min(ORG_RETRY_MAX),
    };
    for i in items {
        if err.is_retryable() {
            state
                .store
                .mark_retry(
                    &i.claim,
                    &text,
                    backoff.next_attempt_at(now, i.item.attempts.min(streak)),
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
    if let Some(n) = log.end_note.as_deref() {
        description = format!("{description}\n{n}");
    }
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
        Ok(e) => {
            state.actions.outbox.org_answered(instance);
            e
        }
        Err(e) => {
            return fail_all(state, instance, todo.iter().map(|(i, _)| i).collect(), &e).await;
        }
    };
    let mut create = Vec::new();
    let now = Utc::now();
    for (item, log) in todo {
        if let Some(id) = existing.get(&log.call_object) {
            info!(call = %log.call_id, task = %id, "the Task of this call exists already");
            state
                .store
                .mark_done(&item.claim, Some(&json!({ "task_id": id })))
                .await?;
        } else if let Some(until) = state.actions.outbox.unsettled_until(&item.item, now) {
            // Salesforce may still be writing it: look again soon, write only once it is
            // certain that the unanswered write did nothing.
            let next = state
                .actions
                .outbox
                .backoff()
                .next_attempt_at(now, item.item.attempts)
                .min(until);
            state
                .store
                .mark_retry(
                    &item.claim,
                    "the last Task write got no answer; waiting until Salesforce has surely finished it",
                    next,
                )
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
            if e.may_have_been_carried_out() {
                // Kept with the item: the retries (of this process or the next) look for the
                // Task but do not write it again while Salesforce may still be writing it.
                // Counted from now, not from the send: the org got the request before the
                // error, whichever of the client's attempts it was.
                let since = Utc::now();
                for (item, log) in &create {
                    if let Err(se) = state.store.mark_unanswered(&item.claim, since).await {
                        warn!(call = %log.call_id, error = %se, "cannot note the unanswered Task write");
                    }
                }
            }
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
            end_note: None,
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

    fn call(state: &str, at: &str) -> Call {
        let at: DateTime<Utc> = at.parse().unwrap();
        Call {
            id: ctibridge_domain::CallId::parse("c1").unwrap(),
            user: ctibridge_domain::StarfaceLoginId::parse("1001").unwrap(),
            direction: None,
            caller: ctibridge_domain::Party::default(),
            called: ctibridge_domain::Party::default(),
            state: ctibridge_domain::CallState::parse(state),
            states_seen: vec![ctibridge_domain::CallState::parse(state)],
            started_at: at,
            connected_at: None,
            ended_at: None,
            outcome: None,
            group_id: None,
            last_event_at: at,
        }
    }

    #[test]
    fn a_call_merged_with_its_journal_keeps_the_earliest_start_and_the_answer() {
        // The journal of a killed process saw the start and the answer ...
        let mut old = call("CONNECTED", "2026-11-25T10:00:00Z");
        old.direction = Some(Direction::Outbound);
        old.connected_at = Some("2026-11-25T10:00:05Z".parse().unwrap());
        old.called.number = Some("+4930123456".into());
        // ... the restarted one only the HANGUP, without numbers.
        let mut new = call("HANGUP", "2026-11-25T10:01:00Z");
        new.ended_at = Some("2026-11-25T10:01:00Z".parse().unwrap());
        new.outcome = Some(CallOutcome::Missed);
        new.called.number = Some(String::new());
        let m = merge_calls(&old, &new);
        assert_eq!(m.started_at, old.started_at);
        assert_eq!(m.connected_at, old.connected_at);
        assert_eq!(m.direction, Some(Direction::Outbound));
        assert_eq!(m.called.number.as_deref(), Some("+4930123456"));
        assert_eq!(m.outcome, Some(CallOutcome::Answered));
        assert_eq!(m.ended_at, new.ended_at);
        assert_eq!(m.last_event_at, new.last_event_at);
    }

    #[test]
    fn a_journal_row_reads_back_what_was_written() {
        let j = Journaled {
            call: call("RINGING", "2026-11-25T10:00:00Z"),
            matches: vec![JournalMatch {
                object: "Contact".into(),
                id: "003000000000001AAA".into(),
                name: "Maria".into(),
                exact: true,
            }],
            notes: Some(CallNotes {
                notes: Some("wants a quote".into()),
                ..CallNotes::default()
            }),
        };
        let back: Journaled = serde_json::from_value(serde_json::to_value(&j).unwrap()).unwrap();
        assert_eq!(back.call, j.call);
        assert_eq!(back.matches, j.matches);
        assert_eq!(back.notes, j.notes);
        assert_eq!(back.matches[0].to_panel().strength, "exact");
    }

    #[test]
    fn a_task_whose_end_was_not_heard_says_its_duration_is_approximate() {
        let mut l = log();
        l.end_note = Some("ended between a and b; the duration is approximate.".into());
        let d = task_fields(&l, None)["Description"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(d.starts_with("wants a quote"), "{d}");
        assert!(d.ends_with("the duration is approximate."), "{d}");
        // Payloads enqueued before the field existed still read.
        let mut old = serde_json::to_value(log()).unwrap();
        old.as_object_mut().unwrap().remove("end_note");
        assert_eq!(
            serde_json::from_value::<CallLog>(old).unwrap().end_note,
            None
        );
    }

    #[test]
    fn call_objects_in_soql_are_escaped() {
        assert_eq!(soql_in(&["a", "b'c"]), "'a', 'b\\'c'");
    }
}
