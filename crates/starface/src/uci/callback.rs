//! What the PBX posts to our callback: `receiveCallState` events, decoded and answered.
//!
//! Pure: bytes and query in, a decoded request and the bytes to answer with out. The server
//! routes `/uci/callback/<per-session secret>` here; the PBX appends its own query with the
//! user (`de.vertico.starface.user`) and the session's auth value (`de.vertico.starface.auth`),
//! which PHP clients see with underscores (`de_vertico_starface_user`); both forms are read.

use std::fmt;

use ctibridge_domain::{CallEvent, CallEventError, CallEventFields, StarfaceLoginId};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::secrets_equal;
use crate::xmlrpc::{
    FAULT_INVALID_PARAMS, FAULT_METHOD_NOT_FOUND, FAULT_PARSE_ERROR, MethodCall, MethodResponse,
    Struct, Value, XmlRpcError,
};

/// Events we are sent but do not use; answered with `true` so that the PBX is content.
const IGNORED_EVENTS: &[&str] = &["callChangesIdEvent", "newMessageWaitingIndicationEvent"];

/// A callback the PBX posted, decoded.
pub struct CallbackRequest {
    /// The XML-RPC method called, e.g. `ucp.v22.events.call.receiveCallState`.
    pub method: String,
    /// The user the PBX says the event is for (from the query), if it said.
    pub user: Option<StarfaceLoginId>,
    /// The auth value the PBX appended to the query, if any (password-equivalent).
    pub pbx_auth: Option<SecretString>,
    /// What it carries.
    pub message: CallbackMessage,
    /// The XML-RPC response to answer with (HTTP 200): `<boolean>1</boolean>`.
    pub response: Vec<u8>,
}

impl fmt::Debug for CallbackRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackRequest")
            .field("method", &self.method)
            .field("user", &self.user)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl CallbackRequest {
    /// Whether the PBX's auth value equals `expected` (the session's, see
    /// [`super::UciSession::auth_value`]); `false` when the PBX sent none.
    pub fn auth_matches(&self, expected: &SecretString) -> bool {
        self.pbx_auth
            .as_ref()
            .is_some_and(|a| secrets_equal(a.expose_secret(), expected.expose_secret()))
    }
}

/// The content of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // nearly every callback is a call event: a box would only add an allocation
pub enum CallbackMessage {
    /// A `receiveCallState` event.
    CallState(CallEvent),
    /// An event we do not use (`callChangesIdEvent`, `newMessageWaitingIndicationEvent`).
    Ignored,
}

/// Why a callback was not accepted; [`CallbackError::response`] is the fault to answer with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallbackError {
    /// The body is not an XML-RPC call.
    #[error("the callback body is not an XML-RPC call: {0}")]
    Malformed(#[source] XmlRpcError),
    /// A method we do not serve.
    #[error("unknown callback method `{0}`")]
    UnknownMethod(String),
    /// The parameters are not what the method takes.
    #[error("{method}: {reason}")]
    BadParams {
        /// The method.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// The struct cannot be a call event (no id).
    #[error("{method}: {source}")]
    NotACallEvent {
        /// The method.
        method: String,
        /// Why.
        #[source]
        source: CallEventError,
    },
    /// The query names no user and none was given.
    #[error(
        "the callback names no STARFACE user (query parameter de.vertico.starface.user is missing)"
    )]
    MissingUser,
    /// The query's user is no login id.
    #[error("the callback's user `{0}` is not a STARFACE login id")]
    BadUser(String),
    /// The query names another user than the session's.
    #[error("the callback is for user {got}, but this session belongs to user {expected}")]
    WrongUser {
        /// The session's user.
        expected: String,
        /// The query's user.
        got: String,
    },
}

impl CallbackError {
    /// The XML-RPC fault code for this error.
    pub fn fault_code(&self) -> i32 {
        match self {
            CallbackError::Malformed(_) => FAULT_PARSE_ERROR,
            CallbackError::UnknownMethod(_) => FAULT_METHOD_NOT_FOUND,
            _ => FAULT_INVALID_PARAMS,
        }
    }

    /// The XML-RPC fault response to answer with.
    pub fn response(&self) -> Vec<u8> {
        // The message may quote the body; XML 1.0 cannot carry most C0 controls, even as
        // character references, and a PBX's parser should not choke on our answer.
        let text: String = self
            .to_string()
            .chars()
            .map(|c| {
                if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect();
        MethodResponse::fault(self.fault_code(), text)
            .to_xml()
            .into_bytes()
    }
}

/// Decodes a callback; the event's user comes from the query (`de.vertico.starface.user`),
/// which the PBX appends. See [`parse_callback_for`] when the session's user is known.
pub fn parse_callback(body: &[u8], query: &str) -> Result<CallbackRequest, CallbackError> {
    parse(body, query, None)
}

/// Decodes a callback of the session of `session_user`: the event is that user's; a query
/// that names another user is refused, one that names none is fine.
pub fn parse_callback_for(
    body: &[u8],
    query: &str,
    session_user: &StarfaceLoginId,
) -> Result<CallbackRequest, CallbackError> {
    parse(body, query, Some(session_user))
}

fn parse(
    body: &[u8],
    query: &str,
    session_user: Option<&StarfaceLoginId>,
) -> Result<CallbackRequest, CallbackError> {
    let (query_user, pbx_auth) = read_query(query);
    let call = MethodCall::from_xml(body).map_err(CallbackError::Malformed)?;
    let method = call.method_name;
    let kind = event_kind(&method).ok_or_else(|| CallbackError::UnknownMethod(short(&method)))?;

    let query_user = query_user
        .map(|u| StarfaceLoginId::parse(&u).map_err(|_| CallbackError::BadUser(short(&u))))
        .transpose()?;
    let user = match (session_user, &query_user) {
        (Some(s), Some(q)) if s != q => {
            return Err(CallbackError::WrongUser {
                expected: s.to_string(),
                got: q.to_string(),
            });
        }
        (Some(s), _) => Some(s.clone()),
        (None, q) => q.clone(),
    };

    let message = match kind {
        EventKind::Ignored => CallbackMessage::Ignored,
        EventKind::CallState => {
            let fields = match call.params.first() {
                Some(Value::Struct(s)) => s,
                Some(other) => {
                    return Err(CallbackError::BadParams {
                        method,
                        reason: format!("expected a struct, found {}", other.type_name()),
                    });
                }
                None => {
                    return Err(CallbackError::BadParams {
                        method,
                        reason: "expected a struct, found no parameter".into(),
                    });
                }
            };
            let user = user.clone().ok_or(CallbackError::MissingUser)?;
            let event = call_event_from_struct(user, fields).map_err(|source| {
                CallbackError::NotACallEvent {
                    method: method.clone(),
                    source,
                }
            })?;
            CallbackMessage::CallState(event)
        }
    };
    Ok(CallbackRequest {
        method,
        user,
        pbx_auth: pbx_auth.map(SecretString::from),
        message,
        response: MethodResponse::success(true).to_xml().into_bytes(),
    })
}

enum EventKind {
    CallState,
    Ignored,
}

/// `ucp.v22.events.call.receiveCallState`, `ucp.v30.events.call.receiveCallState`,
/// `ucp.v20.client.communication.call.receiveCallState`, and the events we ignore.
fn event_kind(method: &str) -> Option<EventKind> {
    let parts: Vec<&str> = method.split('.').collect();
    let (api, rest) = match parts.as_slice() {
        ["ucp", api, rest @ ..] => (*api, rest),
        _ => return None,
    };
    let versioned =
        api.len() > 1 && api.starts_with('v') && api[1..].bytes().all(|b| b.is_ascii_digit());
    if !versioned {
        return None;
    }
    match rest {
        ["events", "call", "receiveCallState"]
        | ["client", "communication", "call", "receiveCallState"] => Some(EventKind::CallState),
        ["events" | "client", .., last] if IGNORED_EVENTS.contains(last) => {
            Some(EventKind::Ignored)
        }
        _ => None,
    }
}

/// The user and auth value from the PBX's query, dotted or underscored.
fn read_query(query: &str) -> (Option<String>, Option<String>) {
    let query = query.strip_prefix('?').unwrap_or(query);
    let (mut user, mut auth) = (None, None);
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.replace('_', ".").as_str() {
            "de.vertico.starface.user" if !v.trim().is_empty() => {
                user = Some(v.trim().to_owned());
            }
            "de.vertico.starface.auth" if !v.is_empty() => auth = Some(v.into_owned()),
            _ => {}
        }
    }
    (user, auth)
}

/// At most 64 characters of untrusted text for messages.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if s.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

/// Reads a `receiveCallState` (or `getCallState`) struct as a call event of `user`.
///
/// Fields arrive as strings per the spec; other scalars are read as text, missing members as
/// empty. Only `id` is required.
pub fn call_event_from_struct(
    user: StarfaceLoginId,
    s: &Struct,
) -> Result<CallEvent, CallEventError> {
    // `groupID` is what STARFACE sends; the other spellings cost nothing to accept.
    let group_id = ["groupID", "groupId", "groupid"]
        .iter()
        .map(|k| s.text_or_empty(k))
        .find(|v| !v.trim().is_empty())
        .unwrap_or_default();
    let fields = CallEventFields {
        id: s.text_or_empty("id"),
        state: s.text_or_empty("state"),
        timestamp: s.text_or_empty("timestamp"),
        caller_number: s.text_or_empty("callerNumber"),
        caller_name: s.text_or_empty("callerName"),
        called_number: s.text_or_empty("calledNumber"),
        called_name: s.text_or_empty("calledName"),
        group_id,
    };
    if let Err(e) = ctibridge_domain::parse_pbx_timestamp(&fields.timestamp) {
        tracing::debug!(error = %e, "call event timestamp ignored");
    }
    CallEvent::from_fields(user, &fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use ctibridge_domain::CallState;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn login(s: &str) -> StarfaceLoginId {
        StarfaceLoginId::parse(s).unwrap()
    }

    fn event_body(method: &str, members: &[(&str, Value)]) -> Vec<u8> {
        let s: Struct = members.iter().cloned().collect();
        MethodCall::new(method, vec![Value::Struct(s)])
            .to_xml()
            .into_bytes()
    }

    fn ringing(method: &str) -> Vec<u8> {
        event_body(
            method,
            &[
                ("id", "c-1".into()),
                ("state", "RINGING".into()),
                ("timestamp", "1700000000000".into()),
                ("callerNumber", "004930123456".into()),
                ("callerName", "".into()),
                ("calledNumber", "201".into()),
                ("calledName", "Ben Utzer".into()),
                ("groupID", "".into()),
            ],
        )
    }

    const QUERY: &str = "de.vertico.starface.user=1001&de.vertico.starface.auth=1001%3Aabc";

    #[test]
    fn receive_call_state_of_every_generation_becomes_a_call_event() {
        for method in [
            "ucp.v22.events.call.receiveCallState",
            "ucp.v30.events.call.receiveCallState",
            "ucp.v20.client.communication.call.receiveCallState",
        ] {
            let req = parse_callback(&ringing(method), QUERY).unwrap();
            assert_eq!(req.method, method);
            assert_eq!(req.user, Some(login("1001")));
            let CallbackMessage::CallState(e) = &req.message else {
                panic!("{method}: not a call state");
            };
            assert_eq!(e.user, login("1001"));
            assert_eq!(e.call_id.as_str(), "c-1");
            assert_eq!(e.state, CallState::Ringing);
            assert_eq!(e.caller_number.as_deref(), Some("004930123456"));
            assert_eq!(e.caller_name, None);
            assert_eq!(e.called_name.as_deref(), Some("Ben Utzer"));
            assert!(e.timestamp.is_some());
            assert_eq!(
                MethodResponse::from_xml(&req.response).unwrap(),
                MethodResponse::success(true)
            );
        }
    }

    #[test]
    fn underscored_query_names_and_auth_are_read() {
        let req = parse_callback(
            &ringing("ucp.v22.events.call.receiveCallState"),
            "?de_vertico_starface_user=1002&de_vertico_starface_auth=1002%3Axyz",
        )
        .unwrap();
        assert_eq!(req.user, Some(login("1002")));
        assert!(req.auth_matches(&SecretString::from("1002:xyz".to_owned())));
        assert!(!req.auth_matches(&SecretString::from("1002:xy".to_owned())));
        assert!(!format!("{req:?}").contains("xyz"));
    }

    #[test]
    fn ints_and_missing_members_are_tolerated() {
        let body = event_body(
            "ucp.v22.events.call.receiveCallState",
            &[
                ("id", "c-2".into()),
                ("timestamp", Value::I8(1_700_000_000_000)),
                ("callerNumber", Value::Int(201)),
            ],
        );
        let req = parse_callback(&body, QUERY).unwrap();
        let CallbackMessage::CallState(e) = req.message else {
            panic!("not a call state")
        };
        assert_eq!(e.state, CallState::Empty);
        assert_eq!(e.caller_number.as_deref(), Some("201"));
        assert_eq!(e.called_number, None);
        assert!(e.timestamp.is_some());
    }

    #[test]
    fn event_without_id_is_refused_with_a_fault() {
        let body = event_body(
            "ucp.v22.events.call.receiveCallState",
            &[("state", "RINGING".into())],
        );
        let err = parse_callback(&body, QUERY).unwrap_err();
        assert!(matches!(
            err,
            CallbackError::NotACallEvent {
                source: CallEventError::MissingId,
                ..
            }
        ));
        let fault = MethodResponse::from_xml(err.response()).unwrap();
        assert!(
            matches!(fault, MethodResponse::Fault { code, .. } if code == FAULT_INVALID_PARAMS)
        );
    }

    #[test]
    fn unknown_methods_get_a_method_not_found_fault() {
        for method in [
            "system.listMethods",
            "ucp.v22.events.call.somethingElse",
            "ucp.vx.events.call.receiveCallState",
            "ucp.v22.requests.connection.login",
        ] {
            let body = MethodCall::new(method, vec![]).to_xml();
            let err = parse_callback(body.as_bytes(), QUERY).unwrap_err();
            assert!(
                matches!(&err, CallbackError::UnknownMethod(m) if m == method),
                "{method}: {err}"
            );
            match MethodResponse::from_xml(err.response()).unwrap() {
                MethodResponse::Fault { code, string } => {
                    assert_eq!(code, FAULT_METHOD_NOT_FOUND);
                    assert!(string.contains(method));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn events_we_do_not_use_are_acknowledged() {
        let body = event_body(
            "ucp.v22.events.call.callChangesIdEvent",
            &[("oldId", "a".into())],
        );
        let req = parse_callback(&body, QUERY).unwrap();
        assert_eq!(req.message, CallbackMessage::Ignored);
        assert_eq!(
            MethodResponse::from_xml(&req.response).unwrap(),
            MethodResponse::success(true)
        );
    }

    #[test]
    fn malformed_bodies_are_errors_with_a_parse_fault() {
        for body in [
            &b""[..],
            b"<methodCall>",
            b"not xml at all",
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><methodCall/>",
            b"\xff\xfe<methodCall>",
        ] {
            let err = parse_callback(body, QUERY).unwrap_err();
            assert!(matches!(err, CallbackError::Malformed(_)), "{err}");
            assert!(matches!(
                MethodResponse::from_xml(err.response()).unwrap(),
                MethodResponse::Fault {
                    code: FAULT_PARSE_ERROR,
                    ..
                }
            ));
        }
    }

    #[test]
    fn call_state_with_wrong_params_is_refused() {
        let body = MethodCall::new(
            "ucp.v22.events.call.receiveCallState",
            vec![Value::from("x")],
        )
        .to_xml();
        assert!(matches!(
            parse_callback(body.as_bytes(), QUERY),
            Err(CallbackError::BadParams { .. })
        ));
        let body = MethodCall::new("ucp.v22.events.call.receiveCallState", vec![]).to_xml();
        assert!(matches!(
            parse_callback(body.as_bytes(), QUERY),
            Err(CallbackError::BadParams { .. })
        ));
    }

    #[test]
    fn missing_or_bad_user_is_refused_unless_the_session_knows_it() {
        let body = ringing("ucp.v22.events.call.receiveCallState");
        assert_eq!(
            parse_callback(&body, "").unwrap_err(),
            CallbackError::MissingUser
        );
        assert!(matches!(
            parse_callback(&body, "de.vertico.starface.user=a%3Ab"),
            Err(CallbackError::BadUser(_))
        ));
        let req = parse_callback_for(&body, "", &login("1003")).unwrap();
        let CallbackMessage::CallState(e) = req.message else {
            panic!("not a call state")
        };
        assert_eq!(e.user, login("1003"));
        assert!(matches!(
            parse_callback_for(&body, QUERY, &login("1003")),
            Err(CallbackError::WrongUser { .. })
        ));
        assert!(parse_callback_for(&body, QUERY, &login("1001")).is_ok());
    }

    #[test]
    fn fault_answers_stay_valid_xml_when_the_error_quotes_control_characters() {
        let body = ringing("ucp.v22.events.call.receiveCallState");
        let err = parse_callback(&body, "de.vertico.starface.user=%00a%01b").unwrap_err();
        assert!(matches!(err, CallbackError::BadUser(_)));
        match MethodResponse::from_xml(err.response()).unwrap() {
            MethodResponse::Fault { string, .. } => assert!(string.contains("\u{FFFD}a\u{FFFD}b")),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_and_queries_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            query in "\\PC{0,80}",
        ) {
            let _ = parse_callback(&body, &query);
        }

        #[test]
        fn mutated_events_never_panic(
            cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut body = ringing("ucp.v22.events.call.receiveCallState");
            for (at, byte) in cuts {
                let i = at.index(body.len());
                body[i] = byte;
            }
            if let Err(e) = parse_callback(&body, QUERY) {
                prop_assert!(MethodResponse::from_xml(e.response()).is_ok());
            }
        }
    }
}
