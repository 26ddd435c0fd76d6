//! The panel hub: one channel per STARFACE user, carrying that user's calls only, plus the
//! user's current calls so that a panel that (re)connects mid-call gets them at once.
//!
//! Messages travel as encoded WebSocket frames ([`Frame`]): encoded once per message, not once
//! per open panel.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use tracing::warn;

/// One encoded panel frame (JSON text); clones share the bytes, so every panel of a user sends
/// the same allocation.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// Ended calls kept per user for panels that connect later ("last call").
const RECENT_ENDED: usize = 5;
/// Messages buffered per user channel; a panel that falls further behind resynchronises.
const CHANNEL_DEPTH: usize = 64;

// The wire types below declare their fields in alphabetical order: frames were first encoded
// through `serde_json::Value`, whose maps sort their keys, and the direct encoding keeps those
// bytes (`frames_are_byte_for_byte_what_the_value_encoding_gave` pins it).

/// A call as the panel shows it (see the panel contract in docs/ARCHITECTURE.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanelCall {
    pub direction: &'static str,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    pub group: Option<String>,
    pub id: String,
    pub matches: Vec<PanelMatch>,
    pub outcome: Option<&'static str>,
    pub remote: Remote,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub state: &'static str,
}

/// The other party of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remote {
    pub e164: Option<String>,
    /// external | internal | suppressed | invalid
    pub kind: &'static str,
    pub name: Option<String>,
    pub raw: String,
}

/// A record that matches the remote number, with the caller-card fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanelMatch {
    pub fields: Vec<CardField>,
    pub id: String,
    pub name: String,
    pub object: String,
    /// exact | switchboard
    pub strength: &'static str,
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
    pub detail: Option<String>,
    /// active | connecting | no_credentials | failed | stopped
    pub state: &'static str,
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

/// `{"call":{...},"type":"call"}`.
#[derive(Serialize)]
struct CallFrame<'a> {
    call: &'a PanelCall,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `{"detail":...,"state":...,"type":"uci"}`.
#[derive(Serialize)]
struct UciFrame<'a> {
    detail: &'a Option<String>,
    state: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl HubMessage {
    /// The message as the WebSocket frame of docs/PANEL-PROTOCOL.md (keys in sorted order).
    pub fn to_frame(&self) -> serde_json::Result<Frame> {
        let text = match self {
            Self::Call { call } => serde_json::to_string(&CallFrame { call, kind: "call" }),
            Self::Uci(u) => serde_json::to_string(&UciFrame {
                detail: &u.detail,
                state: u.state,
                kind: "uci",
            }),
        }?;
        Ok(Frame::from(text))
    }
}

fn call_frame(call: &PanelCall) -> Option<Frame> {
    match serde_json::to_string(&CallFrame { call, kind: "call" }) {
        Ok(text) => Some(Frame::from(text)),
        Err(e) => {
            // Cannot happen for these types (strings, numbers, dates); logged, not sent.
            warn!(error = %e, "cannot encode a call for the panel");
            None
        }
    }
}

#[derive(Default)]
struct UserChannel {
    tx: Option<broadcast::Sender<Frame>>,
    active: Vec<PanelCall>,
    ended: VecDeque<PanelCall>,
    uci: UciStatus,
}

impl UserChannel {
    fn sender(&mut self) -> &broadcast::Sender<Frame> {
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
    pub rx: broadcast::Receiver<Frame>,
}

impl Hub {
    fn with_user<R>(&self, user: &str, f: impl FnOnce(&mut UserChannel) -> R) -> R {
        let mut users = match self.users.lock() {
            Ok(u) => u,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Looked up before `entry`, which would copy the name on every message.
        if let Some(ch) = users.get_mut(user) {
            return f(ch);
        }
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
        // Encoded before taking the lock, once for all of the user's panels.
        let frame = call_frame(&call);
        self.with_user(user, |ch| {
            ch.active.retain(|c| c.id != call.id);
            if call.ended_at.is_some() {
                ch.ended.retain(|c| c.id != call.id);
                ch.ended.push_back(call);
                while ch.ended.len() > RECENT_ENDED {
                    ch.ended.pop_front();
                }
            } else {
                ch.active.push(call);
            }
            // No receiver is fine: no panel is open for this user.
            if let Some(frame) = frame {
                let _ = ch.sender().send(frame);
            }
        });
    }

    /// Records the user's UCI session state and tells the user's panels.
    pub fn set_uci(&self, user: &str, status: UciStatus) {
        self.with_user(user, |ch| {
            if ch.uci != status {
                let frame = HubMessage::Uci(status.clone()).to_frame();
                ch.uci = status;
                if let Ok(frame) = frame {
                    let _ = ch.sender().send(frame);
                }
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
        let frame: serde_json::Value = serde_json::from_str(&ben.try_recv().unwrap()).unwrap();
        assert_eq!(frame["type"], "call");
        assert_eq!(frame["call"]["id"], "a");
        assert!(clara.try_recv().is_err());
    }

    /// The wire format of docs/PANEL-PROTOCOL.md as the panel task first produced it.
    fn through_value(m: &HubMessage) -> String {
        serde_json::to_value(m).unwrap().to_string()
    }

    #[test]
    fn frames_are_byte_for_byte_what_the_value_encoding_gave() {
        let mut full = call("c1", true);
        full.outcome = Some("answered");
        full.state = "ended";
        full.group = Some("Sales \"EU\" <1>".into());
        full.remote.e164 = Some("+4930123".into());
        full.remote.name = Some("Hans Müller\n".into());
        full.matches = vec![
            PanelMatch {
                fields: vec![
                    CardField {
                        label: "Account".into(),
                        value: "Acme & Söhne GmbH".into(),
                    },
                    CardField {
                        label: "Phone".into(),
                        value: "+4930123".into(),
                    },
                ],
                id: "003D000000QkqX1IAJ".into(),
                name: "Maria Muster".into(),
                object: "Contact".into(),
                strength: "exact",
            },
            PanelMatch {
                fields: vec![],
                id: "001D000000QkqX1IAJ".into(),
                name: "Acme".into(),
                object: "Account".into(),
                strength: "switchboard",
            },
        ];
        let messages = [
            HubMessage::Call {
                call: call("c0", false),
            },
            HubMessage::Call { call: full },
            HubMessage::Uci(UciStatus::default()),
            HubMessage::Uci(UciStatus {
                detail: Some("STARFACE refused the login id or password".into()),
                state: "failed",
            }),
        ];
        for m in &messages {
            assert_eq!(m.to_frame().unwrap().as_str(), through_value(m));
        }
    }

    #[test]
    fn every_panel_of_a_user_gets_the_same_frame() {
        let hub = Hub::default();
        let mut one = hub.subscribe("1001").rx;
        let mut two = hub.subscribe("1001").rx;
        let c = call("a", false);
        hub.publish_call("1001", c.clone());
        let expected = through_value(&HubMessage::Call { call: c });
        assert_eq!(one.try_recv().unwrap().as_str(), expected);
        assert_eq!(two.try_recv().unwrap().as_str(), expected);
        hub.set_uci("1001", UciStatus::default());
        hub.set_uci(
            "1001",
            UciStatus {
                detail: None,
                state: "active",
            },
        );
        let uci: serde_json::Value = serde_json::from_str(&one.try_recv().unwrap()).unwrap();
        assert_eq!(
            uci,
            serde_json::json!({"type": "uci", "state": "active", "detail": null})
        );
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
