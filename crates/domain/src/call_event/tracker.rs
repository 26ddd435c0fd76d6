//! The call state machine: folds each user's [`CallEvent`]s into [`Call`]s.
//!
//! Pure: no clock, no I/O. The caller passes the time an event was received; the tracker
//! returns what changed as [`CallUpdate`]s for the server to push.
//!
//! What the PBX may do, and what the tracker does about it:
//! - **Repeated events**: an event that changes nothing yields no update.
//! - **Out-of-order events**: states have a rank (`PROCEEDING`/`INCOMING` < `RINGBACK`/`RINGING`
//!   < `CONNECTED` < `HANGUP`); a call's state never goes down. An event behind the call's
//!   state may still fill a number or name that is unknown so far, but never overwrites one.
//! - **`HANGUP` is final**: the call ends, is never reopened, and its id starts no new call
//!   while the ended call is retained. A later event can only add facts it proves (that the
//!   call was connected, its direction, a missing name), so that the outcome does not depend on
//!   the order in which events arrive.
//! - **Empty state / calls first seen mid-call**: the call starts with what is known; the
//!   direction stays `None` until a state shows it (`INCOMING`/`RINGING`: inbound,
//!   `PROCEEDING`/`RINGBACK`: outbound).
//! - **Late names**: a name or number that was empty is filled by a later event.
//! - **Lost `HANGUP`s** (PBX restart, lost session): [`CallTracker::reconcile`] ends calls the
//!   PBX no longer lists, [`CallTracker::prune`] ends calls silent for too long.
//!
//! Memory is bounded by [`TrackerLimits`]: calls per user (current and ended), users, and the
//! length of every stored string (see [`super::MAX_FIELD_CHARS`]).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::CallEvent;
use crate::{CallId, CallState, Direction, StarfaceLoginId};

/// At most this many distinct states are remembered per call (unknown states carry text).
const MAX_STATES_SEEN: usize = 12;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallOutcome {
    /// The call was connected.
    Answered,
    /// Inbound (or of unknown direction) and never connected.
    Missed,
    /// Outbound and never connected.
    NotReached,
    /// Outbound and the far end was busy (only when the PBX sends a `BUSY` state).
    Busy,
}

/// One end of a call as the PBX names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// The number as the PBX wrote it (any format; empty for suppressed numbers).
    pub number: Option<String>,
    /// The name, when the PBX knows one.
    pub name: Option<String>,
}

/// A call of one STARFACE user, as far as the events tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The PBX's call id.
    pub id: CallId,
    /// The user whose call this is (a group call is one `Call` per user who rang).
    pub user: StarfaceLoginId,
    /// Inbound or outbound from the first state that shows it; `None` while no state has (a
    /// call first seen when already connected). Telling internal calls apart needs the
    /// numbers and is left to the caller.
    pub direction: Option<Direction>,
    /// The calling party (`callerNumber`, `callerName`).
    pub caller: Party,
    /// The called party (`calledNumber`, `calledName`).
    pub called: Party,
    /// The furthest state reached; `HANGUP` once ended by the PBX.
    pub state: CallState,
    /// Every state seen, in order of arrival, without repeats and without the empty state.
    pub states_seen: Vec<CallState>,
    /// When the call started (earliest event; PBX time where the event had one).
    pub started_at: DateTime<Utc>,
    /// When it was first connected.
    pub connected_at: Option<DateTime<Utc>>,
    /// When it ended: the `HANGUP`, or the moment the tracker gave up on it (then
    /// `states_seen` has no `HANGUP`).
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended; `None` while it goes on.
    pub outcome: Option<CallOutcome>,
    /// The group it came in through (`groupID`).
    pub group_id: Option<String>,
    /// When we last received an event for it (our clock).
    pub last_event_at: DateTime<Utc>,
}

/// What happened to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallChange {
    /// First seen (ringing, dialling or already connected).
    Started,
    /// Something changed: state, a name or number, a fact learned late (also after `Ended`).
    Updated,
    /// The call ended; `call.outcome` says how. A call first seen with `HANGUP` has no
    /// `Started`.
    Ended,
}

/// A change to push to whoever shows or logs the user's calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallUpdate {
    /// The call after the change.
    pub call: Call,
    /// What changed.
    pub change: CallChange,
}

/// Bounds on what the tracker keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerLimits {
    /// Current calls per user; one more ends the longest-silent one.
    pub max_active_calls_per_user: usize,
    /// Ended calls kept per user (to absorb late events and show recent calls).
    pub max_ended_calls_per_user: usize,
    /// How long an ended call is kept after it ended (or a late event amended it).
    pub ended_retention: Duration,
    /// A current call without any event for this long is ended by [`CallTracker::prune`].
    pub idle_call_timeout: Duration,
    /// Users tracked at once; one more drops the least recently active user.
    pub max_users: usize,
}

impl Default for TrackerLimits {
    fn default() -> Self {
        Self {
            max_active_calls_per_user: 32,
            max_ended_calls_per_user: 32,
            ended_retention: Duration::from_secs(10 * 60),
            idle_call_timeout: Duration::from_secs(12 * 60 * 60),
            max_users: 10_000,
        }
    }
}

/// The calls of every user, folded from their events.
#[derive(Debug, Clone, Default)]
pub struct CallTracker {
    limits: TrackerLimits,
    users: HashMap<StarfaceLoginId, UserCalls>,
}

#[derive(Debug, Clone)]
struct UserCalls {
    active: Vec<Call>,
    ended: VecDeque<Retained>,
    last_activity: DateTime<Utc>,
}

impl UserCalls {
    fn new(now: DateTime<Utc>) -> Self {
        Self {
            active: Vec::new(),
            ended: VecDeque::new(),
            last_activity: now,
        }
    }

    fn retain_ended(&mut self, call: Call, now: DateTime<Utc>, max: usize) {
        self.ended.push_back(Retained { since: now, call });
        while self.ended.len() > max {
            self.ended.pop_front();
        }
    }
}

/// An ended call and when it was last touched (ended or amended), by our clock.
#[derive(Debug, Clone)]
struct Retained {
    since: DateTime<Utc>,
    call: Call,
}

/// How far a state is along a call; the state of a call never goes down.
fn rank(state: &CallState) -> u8 {
    match state {
        CallState::Empty | CallState::Unknown(_) => 0,
        CallState::Proceeding | CallState::Incoming => 1,
        CallState::Ringback | CallState::Ringing => 2,
        CallState::Connected => 3,
        CallState::Hangup => 4,
    }
}

/// `BUSY` is no documented STARFACE state; if a PBX sends it, the outcome can say so.
fn is_busy(state: &CallState) -> bool {
    matches!(state, CallState::Unknown(t) if t.eq_ignore_ascii_case("BUSY"))
}

/// Sets `slot` from `value` when `value` is known and either `slot` is empty or `overwrite`.
fn merge<T: Clone + PartialEq>(slot: &mut Option<T>, value: &Option<T>, overwrite: bool) {
    if let Some(v) = value
        && (slot.is_none() || overwrite)
    {
        *slot = Some(v.clone());
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Call {
    fn blank(event: &CallEvent, received_at: DateTime<Utc>) -> Self {
        Self {
            id: event.call_id.clone(),
            user: event.user.clone(),
            direction: None,
            caller: Party::default(),
            called: Party::default(),
            state: CallState::Empty,
            states_seen: Vec::new(),
            started_at: event.timestamp.unwrap_or(received_at),
            connected_at: None,
            ended_at: None,
            outcome: None,
            group_id: None,
            last_event_at: received_at,
        }
    }

    /// Folds one event of this call in.
    fn absorb(&mut self, e: &CallEvent, received_at: DateTime<Utc>) {
        let at = e.timestamp.unwrap_or(received_at);
        let ended = self.ended_at.is_some();
        let (new_rank, cur_rank) = (rank(&e.state), rank(&self.state));
        let known = !matches!(e.state, CallState::Empty | CallState::Unknown(_));
        // Only an event at or ahead of the call's state speaks for the present; others fill gaps.
        let current = !ended && known && new_rank >= cur_rank;

        if !ended
            && (new_rank > cur_rank || (cur_rank == 0 && matches!(e.state, CallState::Unknown(_))))
        {
            self.state = e.state.clone();
        }
        // After the end, only states that change the outcome are still worth recording.
        let tells_outcome = e.state == CallState::Connected || is_busy(&e.state);
        if e.state != CallState::Empty
            && (!ended || tells_outcome)
            && self.states_seen.len() < MAX_STATES_SEEN
            && !self.states_seen.contains(&e.state)
        {
            self.states_seen.push(e.state.clone());
        }
        if self.direction.is_none() {
            self.direction = e.state.direction_hint();
        }
        merge(&mut self.caller.number, &e.caller_number, current);
        merge(&mut self.caller.name, &e.caller_name, current);
        merge(&mut self.called.number, &e.called_number, current);
        merge(&mut self.called.name, &e.called_name, current);
        merge(&mut self.group_id, &e.group_id, current);

        self.started_at = self.started_at.min(at);
        if e.state == CallState::Connected {
            self.connected_at = Some(self.connected_at.map_or(at, |c| c.min(at)));
        }
        if e.state == CallState::Hangup && !ended {
            self.ended_at = Some(at);
        }
        if self.ended_at.is_some() {
            self.outcome = Some(self.judge());
        }
        self.last_event_at = self.last_event_at.max(received_at);
    }

    /// Ends the call without a `HANGUP` from the PBX.
    fn close(&mut self, now: DateTime<Utc>) {
        if self.ended_at.is_none() {
            self.ended_at = Some(now);
            self.outcome = Some(self.judge());
        }
    }

    fn judge(&self) -> CallOutcome {
        let busy = self.states_seen.iter().any(is_busy);
        if self.connected_at.is_some() {
            CallOutcome::Answered
        } else if busy {
            CallOutcome::Busy
        } else if self.direction == Some(Direction::Outbound) {
            CallOutcome::NotReached
        } else {
            CallOutcome::Missed
        }
    }

    /// Equal apart from when the last event came.
    fn same_as(&self, other: &Call) -> bool {
        let mut o = other.clone();
        o.last_event_at = self.last_event_at;
        *self == o
    }

    /// The far end: the caller of an inbound call, the called party of an outbound one. A call
    /// of unknown direction is taken as inbound; see [`Call::remote_with`] for a better guess.
    pub fn remote(&self) -> &Party {
        match self.direction {
            Some(Direction::Outbound) => &self.called,
            _ => &self.caller,
        }
    }

    /// Our user's end: the other one of [`Call::remote`].
    pub fn local(&self) -> &Party {
        match self.direction {
            Some(Direction::Outbound) => &self.caller,
            _ => &self.called,
        }
    }

    /// The far end, using `is_own` (does this number belong to our user?) when the direction
    /// is unknown: the party that is not ours; the caller when neither or both are.
    pub fn remote_with(&self, is_own: impl Fn(&str) -> bool) -> &Party {
        if self.direction.is_some() {
            return self.remote();
        }
        let own = |p: &Party| p.number.as_deref().is_some_and(&is_own);
        match (own(&self.caller), own(&self.called)) {
            (true, false) => &self.called,
            _ => &self.caller,
        }
    }

    /// Whether the call has ended.
    pub fn is_ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// Whether the call was connected at some point.
    pub fn was_connected(&self) -> bool {
        self.connected_at.is_some()
    }
}

impl CallTracker {
    /// An empty tracker with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tracker with `limits`.
    pub fn with_limits(limits: TrackerLimits) -> Self {
        Self {
            limits,
            users: HashMap::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &TrackerLimits {
        &self.limits
    }

    /// Folds in one event received at `received_at`; returns what changed (usually zero or
    /// one update; more when a limit made room by ending another call).
    pub fn apply(&mut self, event: &CallEvent, received_at: DateTime<Utc>) -> Vec<CallUpdate> {
        let mut out = Vec::new();
        if !self.users.contains_key(&event.user) {
            self.make_room_for_a_user(received_at, &mut out);
        }
        let limits = &self.limits;
        let calls = self
            .users
            .entry(event.user.clone())
            .or_insert_with(|| UserCalls::new(received_at));
        calls.last_activity = calls.last_activity.max(received_at);

        if let Some(kept) = calls.ended.iter_mut().find(|r| r.call.id == event.call_id) {
            let before = kept.call.clone();
            kept.call.absorb(event, received_at);
            if !kept.call.same_as(&before) {
                kept.since = kept.since.max(received_at);
                out.push(update(&kept.call, CallChange::Updated));
            }
            return out;
        }

        if let Some(i) = calls.active.iter().position(|c| c.id == event.call_id) {
            let call = &mut calls.active[i];
            let before = call.clone();
            call.absorb(event, received_at);
            if call.is_ended() {
                let call = calls.active.remove(i);
                out.push(update(&call, CallChange::Ended));
                calls.retain_ended(call, received_at, limits.max_ended_calls_per_user);
            } else if !call.same_as(&before) {
                out.push(update(call, CallChange::Updated));
            }
            return out;
        }

        let mut call = Call::blank(event, received_at);
        call.absorb(event, received_at);
        if call.is_ended() {
            out.push(update(&call, CallChange::Ended));
            calls.retain_ended(call, received_at, limits.max_ended_calls_per_user);
            return out;
        }
        while !calls.active.is_empty() && calls.active.len() >= limits.max_active_calls_per_user {
            // The longest-silent call is most likely one whose HANGUP got lost.
            let oldest = calls
                .active
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.last_event_at)
                .map_or(0, |(i, _)| i);
            let mut gone = calls.active.remove(oldest);
            gone.close(received_at);
            out.push(update(&gone, CallChange::Ended));
            calls.retain_ended(gone, received_at, limits.max_ended_calls_per_user);
        }
        if limits.max_active_calls_per_user > 0 {
            out.push(update(&call, CallChange::Started));
            calls.active.push(call);
        }
        out
    }

    fn make_room_for_a_user(&mut self, now: DateTime<Utc>, out: &mut Vec<CallUpdate>) {
        while !self.users.is_empty() && self.users.len() >= self.limits.max_users.max(1) {
            let Some(victim) = self
                .users
                .iter()
                .min_by_key(|(_, c)| c.last_activity)
                .map(|(u, _)| u.clone())
            else {
                return;
            };
            if let Some(calls) = self.users.remove(&victim) {
                for mut call in calls.active {
                    call.close(now);
                    out.push(update(&call, CallChange::Ended));
                }
            }
        }
    }

    /// Ends the current calls of `user` that the PBX no longer lists (`getCallIds` after a
    /// new login): their `HANGUP` was lost with the old session.
    pub fn reconcile(
        &mut self,
        user: &StarfaceLoginId,
        live: &[CallId],
        now: DateTime<Utc>,
    ) -> Vec<CallUpdate> {
        let max_ended = self.limits.max_ended_calls_per_user;
        let Some(calls) = self.users.get_mut(user) else {
            return Vec::new();
        };
        let (gone, kept): (Vec<Call>, Vec<Call>) = std::mem::take(&mut calls.active)
            .into_iter()
            .partition(|c| !live.contains(&c.id));
        calls.active = kept;
        let mut out = Vec::new();
        for mut call in gone {
            call.close(now);
            out.push(update(&call, CallChange::Ended));
            calls.retain_ended(call, now, max_ended);
        }
        out
    }

    /// Ends current calls without an event for longer than the idle timeout, forgets ended
    /// calls past their retention and users with nothing left. Call it every minute or so.
    pub fn prune(&mut self, now: DateTime<Utc>) -> Vec<CallUpdate> {
        let idle = to_delta(self.limits.idle_call_timeout);
        let retention = to_delta(self.limits.ended_retention);
        let max_ended = self.limits.max_ended_calls_per_user;
        let mut out = Vec::new();
        for calls in self.users.values_mut() {
            let (stale, kept): (Vec<Call>, Vec<Call>) = std::mem::take(&mut calls.active)
                .into_iter()
                .partition(|c| now.signed_duration_since(c.last_event_at) > idle);
            calls.active = kept;
            for mut call in stale {
                call.close(now);
                out.push(update(&call, CallChange::Ended));
                calls.retain_ended(call, now, max_ended);
            }
            calls
                .ended
                .retain(|r| now.signed_duration_since(r.since) <= retention);
        }
        self.users
            .retain(|_, c| !c.active.is_empty() || !c.ended.is_empty());
        out
    }

    /// The current calls of `user`, oldest first: what a panel that connects mid-call shows.
    pub fn current_calls(&self, user: &StarfaceLoginId) -> Vec<Call> {
        let mut calls = self
            .users
            .get(user)
            .map(|c| c.active.clone())
            .unwrap_or_default();
        calls.sort_by_key(|c| c.started_at);
        calls
    }

    /// The ended calls of `user` still retained, most recently ended first.
    pub fn recent_calls(&self, user: &StarfaceLoginId) -> Vec<Call> {
        self.users
            .get(user)
            .map(|c| c.ended.iter().rev().map(|r| r.call.clone()).collect())
            .unwrap_or_default()
    }

    /// One call of `user`, current or retained.
    pub fn call(&self, user: &StarfaceLoginId, id: &CallId) -> Option<&Call> {
        let calls = self.users.get(user)?;
        calls
            .active
            .iter()
            .chain(calls.ended.iter().map(|r| &r.call))
            .find(|c| &c.id == id)
    }

    /// How many calls are held in total (current and ended), for metrics and tests.
    pub fn stored_calls(&self) -> usize {
        self.users
            .values()
            .map(|c| c.active.len() + c.ended.len())
            .sum()
    }

    /// How many users have calls held.
    pub fn users(&self) -> usize {
        self.users.len()
    }
}

fn update(call: &Call, change: CallChange) -> CallUpdate {
    CallUpdate {
        call: call.clone(),
        change,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use crate::call_event::CallEventFields;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn user(s: &str) -> StarfaceLoginId {
        StarfaceLoginId::parse(s).unwrap()
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    struct Ev {
        id: &'static str,
        state: &'static str,
        caller: (&'static str, &'static str),
        called: (&'static str, &'static str),
        ts: &'static str,
    }

    fn ev(e: Ev) -> CallEvent {
        CallEvent::from_fields(
            user("1001"),
            &CallEventFields {
                id: e.id.into(),
                state: e.state.into(),
                timestamp: e.ts.into(),
                caller_number: e.caller.0.into(),
                caller_name: e.caller.1.into(),
                called_number: e.called.0.into(),
                called_name: e.called.1.into(),
                group_id: String::new(),
            },
        )
        .unwrap()
    }

    /// An inbound event of call `c1` from +4930123456 (name given) to 201.
    fn inbound(state: &'static str) -> CallEvent {
        ev(Ev {
            id: "c1",
            state,
            caller: ("+4930123456", "Anna Anrufer"),
            called: ("201", "Ben Utzer"),
            ts: "",
        })
    }

    fn changes(updates: &[CallUpdate]) -> Vec<CallChange> {
        updates.iter().map(|u| u.change).collect()
    }

    #[test]
    fn inbound_answered_call_starts_updates_and_ends_answered() {
        let mut tr = CallTracker::new();
        let u = tr.apply(&inbound("INCOMING"), t(0));
        assert_eq!(changes(&u), [CallChange::Started]);
        let call = &u[0].call;
        assert_eq!(call.direction, Some(Direction::Inbound));
        assert_eq!(call.remote().number.as_deref(), Some("+4930123456"));
        assert_eq!(call.remote().name.as_deref(), Some("Anna Anrufer"));
        assert_eq!(call.local().number.as_deref(), Some("201"));
        assert_eq!(call.started_at, t(0));

        assert_eq!(
            changes(&tr.apply(&inbound("RINGING"), t(1))),
            [CallChange::Updated]
        );
        assert_eq!(
            changes(&tr.apply(&inbound("CONNECTED"), t(5))),
            [CallChange::Updated]
        );
        let u = tr.apply(&inbound("HANGUP"), t(65));
        assert_eq!(changes(&u), [CallChange::Ended]);
        let call = &u[0].call;
        assert_eq!(call.outcome, Some(CallOutcome::Answered));
        assert_eq!(call.connected_at, Some(t(5)));
        assert_eq!(call.ended_at, Some(t(65)));
        assert_eq!(
            call.states_seen,
            [
                CallState::Incoming,
                CallState::Ringing,
                CallState::Connected,
                CallState::Hangup
            ]
        );
        assert!(tr.current_calls(&user("1001")).is_empty());
        assert_eq!(tr.recent_calls(&user("1001")).len(), 1);
    }

    #[test]
    fn inbound_call_hung_up_while_ringing_is_missed_and_outbound_is_not_reached() {
        let mut tr = CallTracker::new();
        tr.apply(&inbound("RINGING"), t(0));
        let u = tr.apply(&inbound("HANGUP"), t(20));
        assert_eq!(u[0].call.outcome, Some(CallOutcome::Missed));

        let out = |state| {
            ev(Ev {
                id: "c2",
                state,
                caller: ("201", "Ben Utzer"),
                called: ("0030123456", ""),
                ts: "",
            })
        };
        tr.apply(&out("PROCEEDING"), t(30));
        tr.apply(&out("RINGBACK"), t(31));
        let u = tr.apply(&out("HANGUP"), t(50));
        let call = &u[0].call;
        assert_eq!(call.direction, Some(Direction::Outbound));
        assert_eq!(call.outcome, Some(CallOutcome::NotReached));
        assert_eq!(call.remote().number.as_deref(), Some("0030123456"));
        assert_eq!(call.local().number.as_deref(), Some("201"));
    }

    #[test]
    fn busy_state_makes_an_unanswered_call_busy() {
        let mut tr = CallTracker::new();
        let out = |state| {
            ev(Ev {
                id: "c3",
                state,
                caller: ("201", ""),
                called: ("030123456", ""),
                ts: "",
            })
        };
        tr.apply(&out("PROCEEDING"), t(0));
        tr.apply(&out("BUSY"), t(1));
        let u = tr.apply(&out("HANGUP"), t(2));
        assert_eq!(u[0].call.outcome, Some(CallOutcome::Busy));
        assert!(
            u[0].call
                .states_seen
                .contains(&CallState::Unknown("BUSY".into()))
        );
    }

    #[test]
    fn repeated_events_yield_no_update() {
        let mut tr = CallTracker::new();
        tr.apply(&inbound("RINGING"), t(0));
        assert!(tr.apply(&inbound("RINGING"), t(1)).is_empty());
        tr.apply(&inbound("HANGUP"), t(2));
        assert!(tr.apply(&inbound("HANGUP"), t(3)).is_empty());
        assert!(tr.apply(&inbound("RINGING"), t(4)).is_empty());
    }

    #[test]
    fn late_ringing_after_connected_does_not_regress_the_state() {
        let mut tr = CallTracker::new();
        tr.apply(&inbound("CONNECTED"), t(5));
        tr.apply(&inbound("RINGING"), t(6));
        let call = tr.call(&user("1001"), &inbound("").call_id).unwrap();
        assert_eq!(call.state, CallState::Connected);
        assert_eq!(call.direction, Some(Direction::Inbound));
    }

    #[test]
    fn hangup_is_final_and_no_event_reopens_the_call() {
        let mut tr = CallTracker::new();
        tr.apply(&inbound("RINGING"), t(0));
        tr.apply(&inbound("HANGUP"), t(1));
        for state in ["INCOMING", "RINGING", ""] {
            assert!(tr.apply(&inbound(state), t(2)).is_empty(), "{state}");
        }
        assert!(tr.current_calls(&user("1001")).is_empty());
        let call = tr.call(&user("1001"), &inbound("").call_id).unwrap();
        assert_eq!(call.state, CallState::Hangup);
        assert_eq!(call.outcome, Some(CallOutcome::Missed));
    }

    #[test]
    fn connected_arriving_after_hangup_corrects_the_outcome_without_reopening() {
        let mut tr = CallTracker::new();
        tr.apply(&inbound("RINGING"), t(0));
        tr.apply(&inbound("HANGUP"), t(9));
        let u = tr.apply(&inbound("CONNECTED"), t(10));
        assert_eq!(changes(&u), [CallChange::Updated]);
        assert_eq!(u[0].call.outcome, Some(CallOutcome::Answered));
        assert_eq!(u[0].call.state, CallState::Hangup);
        assert!(tr.current_calls(&user("1001")).is_empty());
    }

    #[test]
    fn call_first_seen_connected_starts_with_unknown_direction() {
        let mut tr = CallTracker::new();
        let u = tr.apply(&inbound("CONNECTED"), t(0));
        assert_eq!(changes(&u), [CallChange::Started]);
        let call = &u[0].call;
        assert_eq!(call.direction, None);
        assert_eq!(call.remote().number.as_deref(), Some("+4930123456"));
        assert_eq!(
            call.remote_with(|n| n == "+4930123456").number.as_deref(),
            Some("201")
        );
        assert_eq!(
            call.remote_with(|n| n == "201").number.as_deref(),
            Some("+4930123456")
        );
        let u = tr.apply(&inbound("HANGUP"), t(30));
        assert_eq!(u[0].call.outcome, Some(CallOutcome::Answered));
    }

    #[test]
    fn call_first_seen_with_hangup_ends_without_starting() {
        let mut tr = CallTracker::new();
        let u = tr.apply(&inbound("HANGUP"), t(0));
        assert_eq!(changes(&u), [CallChange::Ended]);
        assert_eq!(u[0].call.outcome, Some(CallOutcome::Missed));
    }

    #[test]
    fn empty_first_state_starts_the_call_and_a_late_name_updates_it() {
        let mut tr = CallTracker::new();
        let first = ev(Ev {
            id: "c9",
            state: "",
            caller: ("004930123456", ""),
            called: ("201", ""),
            ts: "",
        });
        let u = tr.apply(&first, t(0));
        assert_eq!(changes(&u), [CallChange::Started]);
        assert_eq!(u[0].call.state, CallState::Empty);
        assert_eq!(u[0].call.direction, None);
        assert!(u[0].call.states_seen.is_empty());

        let named = ev(Ev {
            id: "c9",
            state: "RINGING",
            caller: ("004930123456", "Anna Anrufer"),
            called: ("201", "Ben Utzer"),
            ts: "",
        });
        let u = tr.apply(&named, t(1));
        assert_eq!(changes(&u), [CallChange::Updated]);
        assert_eq!(u[0].call.remote().name.as_deref(), Some("Anna Anrufer"));
        assert_eq!(u[0].call.direction, Some(Direction::Inbound));
    }

    #[test]
    fn stale_event_fills_a_gap_but_does_not_overwrite() {
        let mut tr = CallTracker::new();
        tr.apply(
            &ev(Ev {
                id: "c1",
                state: "CONNECTED",
                caller: ("+4930123456", ""),
                called: ("201", "Ben"),
                ts: "",
            }),
            t(0),
        );
        let u = tr.apply(
            &ev(Ev {
                id: "c1",
                state: "RINGING",
                caller: ("+4930999999", "Anna"),
                called: ("201", "Benjamin"),
                ts: "",
            }),
            t(1),
        );
        let call = &u[0].call;
        assert_eq!(call.caller.number.as_deref(), Some("+4930123456"));
        assert_eq!(call.caller.name.as_deref(), Some("Anna"));
        assert_eq!(call.called.name.as_deref(), Some("Ben"));
    }

    #[test]
    fn pbx_timestamps_set_the_call_times() {
        let mut tr = CallTracker::new();
        let at = |state, ts| {
            ev(Ev {
                id: "c1",
                state,
                caller: ("1", ""),
                called: ("2", ""),
                ts,
            })
        };
        tr.apply(&at("CONNECTED", "1700000005000"), t(100));
        tr.apply(&at("RINGING", "1700000001000"), t(101));
        let u = tr.apply(&at("HANGUP", "1700000060000"), t(102));
        let call = &u[0].call;
        assert_eq!(call.started_at, t(1));
        assert_eq!(call.connected_at, Some(t(5)));
        assert_eq!(call.ended_at, Some(t(60)));
        assert_eq!(call.last_event_at, t(102));
    }

    #[test]
    fn group_call_is_one_call_per_user_with_the_group_id() {
        let mut tr = CallTracker::new();
        for (login, state) in [("1001", "RINGING"), ("1002", "RINGING")] {
            let e = CallEvent::from_fields(
                user(login),
                &CallEventFields {
                    id: "g1".into(),
                    state: state.into(),
                    caller_number: "+4930123456".into(),
                    called_number: "600".into(),
                    called_name: "Sales".into(),
                    group_id: "7".into(),
                    ..CallEventFields::default()
                },
            )
            .unwrap();
            tr.apply(&e, t(0));
        }
        for login in ["1001", "1002"] {
            let calls = tr.current_calls(&user(login));
            assert_eq!(calls.len(), 1);
            assert_eq!(calls[0].group_id.as_deref(), Some("7"));
            assert_eq!(calls[0].user, user(login));
        }
        assert!(tr.current_calls(&user("1003")).is_empty());
    }

    #[test]
    fn reconcile_ends_calls_the_pbx_no_longer_lists() {
        let mut tr = CallTracker::new();
        tr.apply(&inbound("CONNECTED"), t(0));
        let other = ev(Ev {
            id: "c2",
            state: "RINGING",
            caller: ("1", ""),
            called: ("2", ""),
            ts: "",
        });
        tr.apply(&other, t(0));
        let u = tr.reconcile(&user("1001"), std::slice::from_ref(&other.call_id), t(10));
        assert_eq!(changes(&u), [CallChange::Ended]);
        assert_eq!(u[0].call.id.as_str(), "c1");
        assert_eq!(u[0].call.outcome, Some(CallOutcome::Answered));
        assert_eq!(u[0].call.ended_at, Some(t(10)));
        assert!(!u[0].call.states_seen.contains(&CallState::Hangup));
        assert_eq!(tr.current_calls(&user("1001")).len(), 1);
        assert!(tr.reconcile(&user("9999"), &[], t(10)).is_empty());
    }

    #[test]
    fn prune_ends_idle_calls_and_forgets_old_ended_ones() {
        let limits = TrackerLimits {
            idle_call_timeout: Duration::from_secs(60),
            ended_retention: Duration::from_secs(30),
            ..TrackerLimits::default()
        };
        let mut tr = CallTracker::with_limits(limits);
        tr.apply(&inbound("RINGING"), t(0));
        assert!(tr.prune(t(60)).is_empty());
        let u = tr.prune(t(61));
        assert_eq!(changes(&u), [CallChange::Ended]);
        assert_eq!(u[0].call.outcome, Some(CallOutcome::Missed));
        assert_eq!(tr.stored_calls(), 1);
        // Retention counts from when the tracker ended it (t(61)).
        tr.prune(t(91));
        assert_eq!(tr.stored_calls(), 1);
        tr.prune(t(92));
        assert_eq!(tr.stored_calls(), 0);
        assert_eq!(tr.users(), 0);
    }

    #[test]
    fn too_many_current_calls_end_the_longest_silent_one() {
        let limits = TrackerLimits {
            max_active_calls_per_user: 2,
            ..TrackerLimits::default()
        };
        let mut tr = CallTracker::with_limits(limits);
        let ring = |id: &'static str| {
            ev(Ev {
                id,
                state: "RINGING",
                caller: ("1", ""),
                called: ("2", ""),
                ts: "",
            })
        };
        tr.apply(&ring("a"), t(0));
        tr.apply(&ring("b"), t(1));
        let u = tr.apply(&ring("c"), t(2));
        assert_eq!(changes(&u), [CallChange::Ended, CallChange::Started]);
        assert_eq!(u[0].call.id.as_str(), "a");
        let ids: Vec<String> = tr
            .current_calls(&user("1001"))
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn calls_serialise_in_camel_case() {
        let mut tr = CallTracker::new();
        let u = tr.apply(&inbound("RINGING"), t(0));
        let json = serde_json::to_value(&u[0]).unwrap();
        assert_eq!(json["change"], "started");
        assert_eq!(json["call"]["direction"], "inbound");
        assert_eq!(json["call"]["state"], "RINGING");
        assert_eq!(json["call"]["caller"]["number"], "+4930123456");
        assert!(json["call"]["startedAt"].is_string());
    }

    // -----------------------------------------------------------------------------------------
    // Properties

    /// A valid event sequence of one call, in PBX order.
    #[derive(Debug, Clone)]
    struct Scenario {
        events: Vec<CallEvent>,
    }

    fn scenario() -> impl Strategy<Value = Scenario> {
        (
            0..5u8,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(kind, empty_first, name_late, timestamps, ends)| {
                let (states, outbound): (Vec<&str>, bool) = match kind {
                    0 => (vec!["INCOMING", "RINGING", "CONNECTED", "HANGUP"], false),
                    1 => (vec!["INCOMING", "RINGING", "HANGUP"], false),
                    2 => (vec!["PROCEEDING", "RINGBACK", "CONNECTED", "HANGUP"], true),
                    3 => (vec!["PROCEEDING", "RINGBACK", "HANGUP"], true),
                    _ => (vec!["RINGING", "CONNECTED", "HANGUP"], false),
                };
                let mut states: Vec<&str> = states;
                if !ends {
                    states.pop();
                }
                if empty_first {
                    states.insert(0, "");
                }
                let (us, them) = (("201", "Ben Utzer"), ("004930123456", "Anna Anrufer"));
                let events = states
                    .iter()
                    .enumerate()
                    .map(|(i, state)| {
                        let them_name = if name_late && i == 0 { "" } else { them.1 };
                        let (caller, called) = if outbound {
                            ((us.0, us.1), (them.0, them_name))
                        } else {
                            ((them.0, them_name), (us.0, us.1))
                        };
                        CallEvent::from_fields(
                            user("1001"),
                            &CallEventFields {
                                id: "p1".into(),
                                state: (*state).into(),
                                timestamp: if timestamps {
                                    (1_700_000_000_000u64 + i as u64 * 1000).to_string()
                                } else {
                                    String::new()
                                },
                                caller_number: caller.0.into(),
                                caller_name: caller.1.into(),
                                called_number: called.0.into(),
                                called_name: called.1.into(),
                                group_id: String::new(),
                            },
                        )
                        .unwrap()
                    })
                    .collect();
                Scenario { events }
            })
    }

    fn final_call(events: &[CallEvent]) -> Call {
        let mut tr = CallTracker::new();
        for (i, e) in events.iter().enumerate() {
            tr.apply(e, t(i as i64));
        }
        let u = user("1001");
        let id = CallId::parse("p1").unwrap();
        tr.call(&u, &id).cloned().unwrap()
    }

    proptest! {
        #[test]
        fn any_order_and_duplication_of_a_call_gives_the_same_result(
            (s, order) in scenario().prop_flat_map(|s| {
                let n = s.events.len();
                // Indices of events to feed: every event at least once, some twice, shuffled.
                let order = proptest::collection::vec(0..n, 0..n)
                    .prop_map(move |extra| (0..n).chain(extra).collect::<Vec<_>>())
                    .prop_shuffle();
                (Just(s), order)
            })
        ) {
            let expected = final_call(&s.events);
            let shuffled: Vec<CallEvent> = order.iter().map(|&i| s.events[i].clone()).collect();
            let got = final_call(&shuffled);
            prop_assert_eq!(got.outcome, expected.outcome);
            prop_assert_eq!(&got.state, &expected.state);
            prop_assert_eq!(got.direction, expected.direction);
            prop_assert_eq!(got.is_ended(), expected.is_ended());
            prop_assert_eq!(got.remote(), expected.remote());
            prop_assert_eq!(got.local(), expected.local());
            if s.events[0].timestamp.is_some() {
                prop_assert_eq!(got.started_at, expected.started_at);
                prop_assert_eq!(got.connected_at, expected.connected_at);
                prop_assert_eq!(got.ended_at, expected.ended_at);
            }
        }

        #[test]
        fn memory_stays_within_the_limits_whatever_arrives(
            events in proptest::collection::vec(
                (0..6usize, 0..80usize, prop::sample::select(vec![
                    "", "INCOMING", "RINGING", "PROCEEDING", "RINGBACK", "CONNECTED", "HANGUP",
                    "HOLD", "PARK1", "PARK2", "BUSY", "X1", "X2", "X3", "X4", "X5", "X6", "X7",
                    "X8", "X9", "X10", "X11", "X12", "X13", "X14",
                ]), 0..3i64),
                0..600,
            )
        ) {
            let limits = TrackerLimits {
                max_active_calls_per_user: 4,
                max_ended_calls_per_user: 3,
                ended_retention: Duration::from_secs(50),
                idle_call_timeout: Duration::from_secs(100),
                max_users: 3,
            };
            let mut tr = CallTracker::with_limits(limits.clone());
            let mut now = 0;
            for (i, (u, id, state, step)) in events.into_iter().enumerate() {
                now += step;
                let e = CallEvent::from_fields(
                    user(&format!("u{u}")),
                    &CallEventFields {
                        id: format!("call{id}"),
                        state: state.into(),
                        caller_number: "1".repeat(id % 7),
                        ..CallEventFields::default()
                    },
                )
                .unwrap();
                tr.apply(&e, t(now));
                if i % 50 == 0 {
                    tr.prune(t(now));
                }
                prop_assert!(tr.users() <= limits.max_users);
                for calls in tr.users.values() {
                    prop_assert!(calls.active.len() <= limits.max_active_calls_per_user);
                    prop_assert!(calls.ended.len() <= limits.max_ended_calls_per_user);
                    for c in calls.active.iter().chain(calls.ended.iter().map(|r| &r.call)) {
                        prop_assert!(c.states_seen.len() <= MAX_STATES_SEEN);
                    }
                }
            }
            prop_assert!(
                tr.stored_calls()
                    <= limits.max_users
                        * (limits.max_active_calls_per_user + limits.max_ended_calls_per_user)
            );
        }
    }
}
