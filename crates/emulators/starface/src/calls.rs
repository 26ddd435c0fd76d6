//! Call scenarios: turning a [`CallSpec`] (or a UCI `placeCallWithPhone`) into the sequence of
//! `receiveCallState` events each participant's sessions receive.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ctibridge_starface::xmlrpc::{MethodCall, Struct, Value};
use rand::Rng;

use crate::control::{CallKind, CallSpec, ControlError, DeliveryOutcome, EventRecord};
use crate::state::{Call, CallView, Delivery, Shared, State};

/// One participant of a call, with the fields that stay the same through the call.
struct Leg {
    login: String,
    caller_number: String,
    caller_name: String,
    called_number: String,
    called_name: String,
    group_id: String,
    /// Whether the far end is the caller (its name may come late).
    remote_is_caller: bool,
    events_sent: u32,
}

/// The states to send at each step; an empty step is just a pause.
struct Script {
    legs: Vec<Leg>,
    steps: Vec<Vec<(usize, &'static str)>>,
    name_late: bool,
    duplicate: bool,
}

const INCOMING: &str = "INCOMING";
const RINGING: &str = "RINGING";
const PROCEEDING: &str = "PROCEEDING";
const RINGBACK: &str = "RINGBACK";
const CONNECTED: &str = "CONNECTED";
const HANGUP: &str = "HANGUP";

fn pauses(steps: &mut Vec<Vec<(usize, &'static str)>>, n: u32) {
    for _ in 1..n.max(1) {
        steps.push(Vec::new());
    }
}

fn build(st: &State, spec: &CallSpec) -> Result<Script, ControlError> {
    let mut legs = Vec::new();
    let mut steps: Vec<Vec<(usize, &'static str)>> = Vec::new();
    match spec.kind {
        CallKind::Inbound | CallKind::Missed => {
            let u = st
                .user_by_login(&spec.target)
                .ok_or_else(|| ControlError::UnknownUser(spec.target.clone()))?;
            legs.push(Leg {
                login: u.seed.login_id.clone(),
                caller_number: spec.number.clone(),
                caller_name: spec.name.clone(),
                called_number: u.seed.internal_number.clone(),
                called_name: u.display_name(),
                group_id: String::new(),
                remote_is_caller: true,
                events_sent: 0,
            });
            steps.push(vec![(0, INCOMING)]);
            steps.push(vec![(0, RINGING)]);
            pauses(&mut steps, spec.ring_steps);
            if spec.kind == CallKind::Inbound {
                steps.push(vec![(0, CONNECTED)]);
                if spec.talk_steps > 0 {
                    pauses(&mut steps, spec.talk_steps);
                    steps.push(vec![(0, HANGUP)]);
                }
            } else {
                steps.push(vec![(0, HANGUP)]);
            }
        }
        CallKind::Outbound => {
            let u = st
                .user_by_login(&spec.target)
                .ok_or_else(|| ControlError::UnknownUser(spec.target.clone()))?;
            legs.push(outbound_leg(u, spec));
            outbound_steps(&mut steps, spec);
        }
        CallKind::Group => {
            let g = st
                .group_by_ref(&spec.target)
                .ok_or_else(|| ControlError::UnknownGroup(spec.target.clone()))?;
            if g.seed.members.is_empty() {
                return Err(ControlError::EmptyGroup(g.seed.name.clone()));
            }
            let answerer = match &spec.answered_by {
                Some(m) if !g.seed.members.contains(m) => {
                    return Err(ControlError::NotAMember {
                        member: m.clone(),
                        group: g.seed.name.clone(),
                    });
                }
                Some(m) => Some(m.clone()),
                None if spec.answered => g.seed.members.first().cloned(),
                None => None,
            };
            for m in &g.seed.members {
                let u = st
                    .user_by_login(m)
                    .ok_or_else(|| ControlError::UnknownUser(m.clone()))?;
                legs.push(Leg {
                    login: u.seed.login_id.clone(),
                    caller_number: spec.number.clone(),
                    caller_name: spec.name.clone(),
                    called_number: g.seed.internal_number.clone(),
                    called_name: g.seed.name.clone(),
                    group_id: g.id.to_string(),
                    remote_is_caller: true,
                    events_sent: 0,
                });
            }
            let all = |state| (0..legs.len()).map(|i| (i, state)).collect::<Vec<_>>();
            steps.push(all(INCOMING));
            steps.push(all(RINGING));
            pauses(&mut steps, spec.ring_steps);
            match answerer.and_then(|a| legs.iter().position(|l| l.login == a)) {
                Some(a) => {
                    steps.push(
                        (0..legs.len())
                            .map(|i| (i, if i == a { CONNECTED } else { HANGUP }))
                            .collect(),
                    );
                    if spec.talk_steps > 0 {
                        pauses(&mut steps, spec.talk_steps);
                        steps.push(vec![(a, HANGUP)]);
                    }
                }
                None => steps.push(all(HANGUP)),
            }
        }
    }
    if spec.empty_first_state
        && let Some(first) = steps.first().cloned()
    {
        steps.insert(0, first.into_iter().map(|(i, _)| (i, "")).collect());
    }
    Ok(Script {
        legs,
        steps,
        name_late: spec.name_late,
        duplicate: spec.duplicate_events,
    })
}

fn outbound_leg(u: &crate::state::User, spec: &CallSpec) -> Leg {
    Leg {
        login: u.seed.login_id.clone(),
        caller_number: u.seed.internal_number.clone(),
        caller_name: u.display_name(),
        called_number: spec.number.clone(),
        called_name: spec.name.clone(),
        group_id: String::new(),
        remote_is_caller: false,
        events_sent: 0,
    }
}

fn outbound_steps(steps: &mut Vec<Vec<(usize, &'static str)>>, spec: &CallSpec) {
    steps.push(vec![(0, PROCEEDING)]);
    steps.push(vec![(0, RINGBACK)]);
    pauses(steps, spec.ring_steps);
    if spec.answered {
        steps.push(vec![(0, CONNECTED)]);
        if spec.talk_steps > 0 {
            pauses(steps, spec.talk_steps);
            steps.push(vec![(0, HANGUP)]);
        }
    } else {
        steps.push(vec![(0, HANGUP)]);
    }
}

/// A call id in the PBX's form (a UUID).
fn new_call_id(st: &mut State) -> String {
    let n: u128 = st.rng.random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Starts the scenario of `spec`; returns the call id.
pub(crate) fn play(shared: &Arc<Shared>, spec: CallSpec) -> Result<String, ControlError> {
    let (id, script, delay) = {
        let mut st = shared.lock();
        let script = build(&st, &spec)?;
        let id = reserve_call_id(&mut st, spec.call_id.clone())?;
        let delay = spec.step_delay.unwrap_or(st.step_delay);
        (id, script, delay)
    };
    spawn_script(shared, id.clone(), script, delay);
    Ok(id)
}

fn reserve_call_id(st: &mut State, wanted: Option<String>) -> Result<String, ControlError> {
    let id = match wanted.filter(|w| !w.is_empty()) {
        Some(w) => {
            if st.calls.get(&w).is_some_and(|c| !c.finished) {
                return Err(ControlError::CallIdInUse(w));
            }
            w
        }
        None => new_call_id(st),
    };
    st.calls.insert(
        id.clone(),
        Call {
            id: id.clone(),
            views: BTreeMap::new(),
            finished: false,
        },
    );
    Ok(id)
}

/// The outbound call a user starts with `placeCallWithPhone`: the PBX rings the user's phone,
/// which picks up, and dials `number`.
pub(crate) fn place_call(
    shared: &Arc<Shared>,
    login: &str,
    number: &str,
    wanted_id: Option<String>,
) -> Result<String, ControlError> {
    let spec = CallSpec {
        kind: CallKind::Outbound,
        target: login.to_owned(),
        number: number.to_owned(),
        ..CallSpec::default()
    };
    play(
        shared,
        CallSpec {
            call_id: wanted_id,
            ..spec
        },
    )
}

fn spawn_script(shared: &Arc<Shared>, id: String, mut script: Script, delay: Duration) {
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let mut shutdown = shared.shutdown.subscribe();
        let steps = std::mem::take(&mut script.steps);
        for step in steps {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
            }
            let mut st = shared.lock();
            let ttl = shared.opts.session_ttl;
            let Some(call) = st.calls.get(&id) else {
                return;
            };
            if call.finished {
                return;
            }
            for (leg_index, state) in step {
                let Some(leg) = script.legs.get_mut(leg_index) else {
                    continue;
                };
                let view = leg_view(&id, leg, state, script.name_late);
                leg.events_sent += 1;
                let login = leg.login.clone();
                if let Some(call) = st.calls.get_mut(&id) {
                    call.views.insert(login.clone(), view.clone());
                }
                let times = if script.duplicate { 2 } else { 1 };
                for _ in 0..times {
                    emit(&mut st, ttl, &login, &view);
                }
            }
            if let Some(call) = st.calls.get_mut(&id) {
                let all_down = !call.views.is_empty()
                    && call.views.len() == script.legs.len()
                    && call.views.values().all(|v| v.state == HANGUP);
                if all_down {
                    call.finished = true;
                    return;
                }
            }
        }
    });
}

fn leg_view(id: &str, leg: &Leg, state: &str, name_late: bool) -> CallView {
    let hide_name = name_late && leg.events_sent == 0;
    let (caller_name, called_name) = match (hide_name, leg.remote_is_caller) {
        (true, true) => (String::new(), leg.called_name.clone()),
        (true, false) => (leg.caller_name.clone(), String::new()),
        (false, _) => (leg.caller_name.clone(), leg.called_name.clone()),
    };
    let timestamp = chrono::Utc::now().timestamp_millis().to_string();
    let fields: BTreeMap<String, String> = [
        ("id", id.to_owned()),
        ("state", state.to_owned()),
        ("timestamp", timestamp),
        ("callerNumber", leg.caller_number.clone()),
        ("callerName", caller_name),
        ("calledNumber", leg.called_number.clone()),
        ("calledName", called_name),
        ("groupID", leg.group_id.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    CallView {
        state: state.to_owned(),
        fields,
    }
}

/// The struct sent to callbacks and returned by `getCallState`, in the documented field order.
pub(crate) fn view_struct(view: &CallView) -> Struct {
    let mut s = Struct::new();
    for key in [
        "id",
        "state",
        "timestamp",
        "callerNumber",
        "callerName",
        "calledNumber",
        "calledName",
        "groupID",
    ] {
        s.insert(key, view.fields.get(key).cloned().unwrap_or_default());
    }
    s
}

/// Queues `view` to every live session of `login` that subscribed to call events.
pub(crate) fn emit(st: &mut State, ttl: Duration, login: &str, view: &CallView) {
    st.expire_sessions(ttl);
    let mut outgoing = Vec::new();
    for s in st.sessions.iter().filter(|s| s.login == login) {
        let Some(target) = &s.callback else { continue };
        let Some(queue) = &s.queue else { continue };
        for service in &s.subscriptions {
            let Some(method) = event_method(service) else {
                continue;
            };
            let mut url = match url::Url::parse(&target.url()) {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(session = s.id, error = %e, "callback URL is invalid; event dropped");
                    continue;
                }
            };
            // The PBX appends who the event is for and the session's auth value.
            url.query_pairs_mut()
                .append_pair("de.vertico.starface.user", &s.login)
                .append_pair("de.vertico.starface.auth", &s.auth);
            let body =
                MethodCall::new(method.clone(), vec![Value::Struct(view_struct(view))]).to_xml();
            outgoing.push((s.id, s.login.clone(), method, url, body, queue.clone()));
        }
    }
    for (session_id, login, method, url, body, queue) in outgoing {
        let seq = st.log_event(EventRecord {
            seq: 0,
            session_id,
            login,
            method,
            fields: view.fields.clone(),
            outcome: DeliveryOutcome::Pending,
        });
        if queue.send(Delivery { seq, url, body }).is_err() {
            st.set_outcome(seq, DeliveryOutcome::Dropped);
        }
    }
}

/// The callback method for an event service a client subscribed to.
pub(crate) fn event_method(service: &str) -> Option<String> {
    match service {
        "ucp.v20.client.communication.call" | "ucp.v22.events.call" | "ucp.v30.events.call" => {
            Some(format!("{service}.receiveCallState"))
        }
        _ => None,
    }
}

/// Ends the call for everyone still in it; `Ok(false)` if it had already ended.
pub(crate) fn hangup_all(shared: &Arc<Shared>, call_id: &str) -> Result<bool, ControlError> {
    let mut st = shared.lock();
    if !st.calls.contains_key(call_id) {
        return Err(ControlError::UnknownCall(call_id.to_owned()));
    }
    Ok(hang_up(&mut st, shared.opts.session_ttl, call_id))
}

/// A user hangs up through UCI; `false` if the call is unknown to them or already over.
pub(crate) fn hangup_by_user(shared: &Arc<Shared>, login: &str, call_id: &str) -> bool {
    let mut st = shared.lock();
    let involved = st
        .calls
        .get(call_id)
        .is_some_and(|c| c.views.contains_key(login));
    involved && hang_up(&mut st, shared.opts.session_ttl, call_id)
}

fn hang_up(st: &mut State, ttl: Duration, call_id: &str) -> bool {
    let Some(call) = st.calls.get_mut(call_id) else {
        return false;
    };
    if call.finished {
        return false;
    }
    call.finished = true;
    let mut to_send = Vec::new();
    for (login, view) in call.views.iter_mut() {
        if view.state != HANGUP {
            view.state = HANGUP.to_owned();
            view.fields.insert("state".into(), HANGUP.into());
            view.fields.insert(
                "timestamp".into(),
                chrono::Utc::now().timestamp_millis().to_string(),
            );
            to_send.push((login.clone(), view.clone()));
        }
    }
    for (login, view) in to_send {
        emit(st, ttl, &login, &view);
    }
    true
}

/// Ids of the user's calls that are still going on.
pub(crate) fn active_call_ids(st: &State, login: &str) -> Vec<String> {
    let mut ids: Vec<String> = st
        .calls
        .values()
        .filter(|c| !c.finished)
        .filter(|c| c.views.get(login).is_some_and(|v| v.state != HANGUP))
        .map(|c| c.id.clone())
        .collect();
    ids.sort();
    ids
}
