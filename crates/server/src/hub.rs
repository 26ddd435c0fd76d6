//! The panel hub: one channel per STARFACE user, carrying that user's calls only, plus the
//! user's current calls so that a panel that (re)connects mid-call gets them at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// Ended calls kept per user for panels that connect later ("last call").
const RECENT_ENDED: usize = 5;
/// Messages buffered per user channel; a panel that falls further behind resynchronises.
const CHANNEL_DEPTH: usize = 64;

/// A call as the panel shows it (see the panel contract in docs/ARCHITECTURE.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanelCall {
    pub id: String,
    pub direction: &'static str,
    pub state: &'static str,
    pub outcome: Option<&'static str>,
    pub remote: Remote,
    pub group: Option<String>,
    pub matches: Vec<PanelMatch>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The other party of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remote {
    pub raw: String,
    pub e164: Option<String>,
    pub name: Option<String>,
    /// external | internal | suppressed | invalid
    pub kind: &'static str,
}

/// A record that matches the remote number, with the caller-card fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanelMatch {
    pub object: String,
    pub id: String,
    pub name: String,
    /// exact | switchboard
    pub strength: &'static str,
    pub fields: Vec<CardField>,
}

/// One labelled value of a caller card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CardField {
    pub label: String,
    pub value: String,
}

/// The state of a user's UCI session, as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UciStatus {
    /// active | connecting | no_credentials | failed | stopped
    pub state: &'static str,
    pub detail: Option<String>,
}

impl Default for UciStatus {
    fn default() -> Self {
        Self {
            state: "no_credentials",
            detail: None,
        }
    }
}

/// What the hub sends to a user's panels.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HubMessage {
    Call { call: PanelCall },
    Uci(UciStatus),
}

#[derive(Default)]
struct UserChannel {
    tx: Option<broadcast::Sender<Arc<HubMessage>>>,
    active: Vec<PanelCall>,
    ended: VecDeque<PanelCall>,
    uci: UciStatus,
}

impl UserChannel {
    fn sender(&mut self) -> &broadcast::Sender<Arc<HubMessage>> {
        self.tx
            .get_or_insert_with(|| broadcast::channel(CHANNEL_DEPTH).0)
    }
}

/// Per-user channels, keyed by STARFACE login id.
#[derive(Default)]
pub struct Hub {
    users: Mutex<HashMap<String, UserChannel>>,
}

/// What a panel gets when it subscribes.
pub struct Subscription {
    /// Current calls, then the most recent ended ones (newest first).
    pub calls: Vec<PanelCall>,
    pub uci: UciStatus,
    pub rx: broadcast::Receiver<Arc<HubMessage>>,
}

impl Hub {
    fn with_user<R>(&self, user: &str, f: impl FnOnce(&mut UserChannel) -> R) -> R {
        let mut users = match self.users.lock() {
            Ok(u) => u,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(users.entry(user.to_owned()).or_default())
    }

    /// Subscribes to one user's calls; the snapshot and the receiver are taken atomically,
    /// so no update falls between them.
    pub fn subscribe(&self, user: &str) -> Subscription {
        self.with_user(user, |ch| {
            let rx = ch.sender().subscribe();
            let mut calls = ch.active.clone();
            calls.extend(ch.ended.iter().rev().cloned());
            Subscription {
                calls,
                uci: ch.uci.clone(),
                rx,
            }
        })
    }

    /// Records a call's new state and sends it to the user's panels.
    pub fn publish_call(&self, user: &str, call: PanelCall) {
        self.with_user(user, |ch| {
            ch.active.retain(|c| c.id != call.id);
            if call.ended_at.is_some() {
                ch.ended.retain(|c| c.id != call.id);
                ch.ended.push_back(call.clone());
                while ch.ended.len() > RECENT_ENDED {
                    ch.ended.pop_front();
                }
            } else {
                ch.active.push(call.clone());
            }
            // No receiver is fine: no panel is open for this user.
            let _ = ch.sender().send(Arc::new(HubMessage::Call { call }));
        });
    }

    /// Records the user's UCI session state and tells the user's panels.
    pub fn set_uci(&self, user: &str, status: UciStatus) {
        self.with_user(user, |ch| {
            if ch.uci != status {
                ch.uci = status.clone();
                let _ = ch.sender().send(Arc::new(HubMessage::Uci(status)));
            }
        });
    }

    /// The user's UCI session state.
    pub fn uci(&self, user: &str) -> UciStatus {
        self.with_user(user, |ch| ch.uci.clone())
    }

    /// Number of open panel connections of a user.
    pub fn panels(&self, user: &str) -> usize {
        self.with_user(user, |ch| ch.tx.as_ref().map_or(0, |t| t.receiver_count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, ended: bool) -> PanelCall {
        PanelCall {
            id: id.into(),
            direction: "inbound",
            state: if ended { "ended" } else { "ringing" },
            outcome: None,
            remote: Remote {
                raw: "030123".into(),
                e164: None,
                name: None,
                kind: "external",
            },
            group: None,
            matches: vec![],
            started_at: chrono::Utc::now(),
            ended_at: ended.then(chrono::Utc::now),
        }
    }

    #[test]
    fn a_user_receives_only_their_own_calls() {
        let hub = Hub::default();
        let mut ben = hub.subscribe("1001").rx;
        let mut clara = hub.subscribe("1002").rx;
        hub.publish_call("1001", call("a", false));
        assert!(matches!(&*ben.try_recv().unwrap(), HubMessage::Call { call } if call.id == "a"));
        assert!(clara.try_recv().is_err());
    }

    #[test]
    fn a_late_panel_gets_current_calls_then_recent_ended_ones() {
        let hub = Hub::default();
        hub.publish_call("1001", call("old", false));
        hub.publish_call("1001", call("old", true));
        hub.publish_call("1001", call("now", false));
        let sub = hub.subscribe("1001");
        let ids: Vec<_> = sub.calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, vec!["now", "old"]);
    }

    #[test]
    fn ended_calls_kept_are_bounded() {
        let hub = Hub::default();
        for i in 0..20 {
            hub.publish_call("1001", call(&i.to_string(), true));
        }
        assert_eq!(hub.subscribe("1001").calls.len(), RECENT_ENDED);
    }
}
