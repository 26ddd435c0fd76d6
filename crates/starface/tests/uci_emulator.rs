//! The UCI client, callback decoding, call tracking and session supervisor against the
//! emulated PBX: real HTTP on 127.0.0.1, port 0, every wait bounded.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use ctibridge_domain::{
    Call, CallEvent, CallId, CallOutcome, CallState, CallTracker, Direction, StarfaceLoginId,
};
use ctibridge_emulator_starface::{CallKind, CallSpec, Options, RunningPbx};
use ctibridge_starface::auth::password_sha512_hex;
use ctibridge_starface::uci::{
    CallbackMessage, CallbackTarget, FailureKind, SessionFailure, SessionState, SessionStatus,
    SessionSupervisor, SupervisorConfig, UciError, UciOptions, UciSession, parse_callback_for,
};
use ctibridge_starface::xmlrpc::MethodResponse;
use secrecy::SecretString;
use tokio::sync::mpsc;
use url::Url;

const WAIT: Duration = Duration::from_secs(10);

fn login(s: &str) -> StarfaceLoginId {
    StarfaceLoginId::parse(s).unwrap()
}

async fn pbx() -> RunningPbx {
    ctibridge_emulator_starface::spawn(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            step_delay: Duration::from_millis(15),
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

/// What the callback server received: decoded events, and every answer it gave.
struct Received {
    events: mpsc::UnboundedReceiver<CallEvent>,
}

#[derive(Clone)]
struct Sink {
    /// Per-session secret -> (user, the session's auth value).
    sessions: Arc<HashMap<String, (StarfaceLoginId, SecretString)>>,
    events: mpsc::UnboundedSender<CallEvent>,
}

/// The route the server will have: `/uci/callback/<secret>` -> `parse_callback_for`.
async fn callback(
    State(sink): State<Sink>,
    Path(secret): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some((user, auth)) = sink.sessions.get(&secret) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let xml = |bytes: Vec<u8>| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=UTF-8")],
            bytes,
        )
            .into_response()
    };
    match parse_callback_for(&body, query.as_deref().unwrap_or(""), user) {
        Ok(req) => {
            assert!(req.auth_matches(auth), "the PBX sent another auth value");
            if let CallbackMessage::CallState(e) = req.message {
                let _ = sink.events.send(e);
            }
            xml(req.response)
        }
        Err(e) => xml(e.response()),
    }
}

/// A callback server for `users` (login, password); returns its address, one session per
/// user pointing at it, and the receiver of events.
async fn callback_server(
    pbx: &RunningPbx,
    users: &[(&str, &str)],
) -> (SocketAddr, Vec<UciSession>, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut sessions = Vec::new();
    let mut routes = HashMap::new();
    for (i, (user, password)) in users.iter().enumerate() {
        let secret = format!("s3cr3t-{i}-{user}");
        let target = CallbackTarget::from_url(
            &Url::parse(&format!("http://{addr}/uci/callback/{secret}")).unwrap(),
        )
        .unwrap();
        let session = session_with(pbx, user, password, Some(target), UciOptions::default());
        routes.insert(secret, (login(user), session.auth_value().clone()));
        sessions.push(session);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/uci/callback/{secret}", post(callback))
        .with_state(Sink {
            sessions: Arc::new(routes),
            events: tx,
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, sessions, Received { events: rx })
}

fn session_with(
    pbx: &RunningPbx,
    user: &str,
    password: &str,
    callback: Option<CallbackTarget>,
    opts: UciOptions,
) -> UciSession {
    UciSession::new(
        pbx.url(),
        login(user),
        &SecretString::from(password_sha512_hex(password)),
        callback,
        opts,
    )
    .unwrap()
}

impl Received {
    /// Folds events into `tracker` until every call in `ids` has ended for every user in
    /// `users`; returns the ended calls by (user, id).
    async fn until_ended(
        &mut self,
        tracker: &mut CallTracker,
        users: &[&str],
        ids: &[&CallId],
    ) -> HashMap<(String, String), Call> {
        let mut ended = HashMap::new();
        let want = users.len() * ids.len();
        let deadline = tokio::time::Instant::now() + WAIT;
        while ended.len() < want {
            let e = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "calls did not end in time; ended so far: {:?}",
                        ended.keys()
                    )
                })
                .unwrap();
            for u in tracker.apply(&e, Utc::now()) {
                if u.call.is_ended() && ids.contains(&&u.call.id) {
                    ended.insert((u.call.user.to_string(), u.call.id.to_string()), u.call);
                }
            }
        }
        ended
    }

    /// The next event of call `id`, skipping others.
    async fn next_of(&mut self, id: &CallId) -> CallEvent {
        loop {
            let e = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("no event in time")
                .unwrap();
            if &e.call_id == id {
                return e;
            }
        }
    }
}

#[tokio::test]
async fn inbound_call_played_on_the_pbx_arrives_at_the_callback_and_folds_into_an_answered_call() {
    let pbx = pbx().await;
    let (_, sessions, mut rx) = callback_server(&pbx, &[("1001", "ben-pass")]).await;
    let ben = &sessions[0];
    ben.login().await.unwrap();
    ben.subscribe_events().await.unwrap();

    let answered = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Inbound,
            target: "1001".into(),
            number: "004930123456".into(),
            name: "Anna Anrufer".into(),
            name_late: true,
            empty_first_state: true,
            duplicate_events: true,
            ..CallSpec::default()
        })
        .unwrap();
    let missed = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Missed,
            target: "1001".into(),
            number: String::new(),
            ..CallSpec::default()
        })
        .unwrap();
    let (answered, missed) = (
        CallId::parse(&answered).unwrap(),
        CallId::parse(&missed).unwrap(),
    );

    let mut tracker = CallTracker::new();
    let ended = rx
        .until_ended(&mut tracker, &["1001"], &[&answered, &missed])
        .await;

    let call = &ended[&("1001".to_owned(), answered.to_string())];
    assert_eq!(call.outcome, Some(CallOutcome::Answered));
    assert_eq!(call.direction, Some(Direction::Inbound));
    assert_eq!(call.remote().number.as_deref(), Some("004930123456"));
    assert_eq!(call.remote().name.as_deref(), Some("Anna Anrufer"));
    assert_eq!(call.local().number.as_deref(), Some("201"));
    assert_eq!(
        call.states_seen,
        [
            CallState::Incoming,
            CallState::Ringing,
            CallState::Connected,
            CallState::Hangup
        ]
    );
    assert!(call.connected_at.is_some() && call.ended_at >= call.connected_at);

    let call = &ended[&("1001".to_owned(), missed.to_string())];
    assert_eq!(call.outcome, Some(CallOutcome::Missed));
    assert_eq!(call.remote().number, None, "suppressed number");

    assert!(tracker.current_calls(&login("1001")).is_empty());
    ben.logout().await.unwrap();
}

#[tokio::test]
async fn group_call_reaches_every_member_session_and_only_the_answerer_has_it_answered() {
    let pbx = pbx().await;
    let (_, sessions, mut rx) = callback_server(
        &pbx,
        &[
            ("1001", "ben-pass"),
            ("1002", "clara-pass"),
            ("1004", "eva-pass"),
        ],
    )
    .await;
    for s in &sessions {
        s.login().await.unwrap();
        s.subscribe_events().await.unwrap();
    }
    let id = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Group,
            target: "Sales".into(),
            number: "+4930999888".into(),
            answered_by: Some("1002".into()),
            ..CallSpec::default()
        })
        .unwrap();
    let id = CallId::parse(&id).unwrap();
    let mut tracker = CallTracker::new();
    let ended = rx
        .until_ended(&mut tracker, &["1001", "1002", "1004"], &[&id])
        .await;
    for (user, outcome) in [
        ("1001", CallOutcome::Missed),
        ("1002", CallOutcome::Answered),
        ("1004", CallOutcome::Missed),
    ] {
        let call = &ended[&(user.to_owned(), id.to_string())];
        assert_eq!(call.outcome, Some(outcome), "{user}");
        assert!(call.group_id.is_some(), "{user}");
        assert_eq!(call.remote().number.as_deref(), Some("+4930999888"));
    }
}

#[tokio::test]
async fn place_call_with_phone_on_the_mobile_produces_outbound_events() {
    let pbx = pbx().await;
    let (_, sessions, mut rx) = callback_server(&pbx, &[("1001", "ben-pass")]).await;
    let ben = &sessions[0];
    ben.login().await.unwrap();
    ben.subscribe_events().await.unwrap();

    assert_eq!(
        ben.get_phone_ids().await.unwrap(),
        ["SIP/201", "SIP/201-mobile"]
    );
    assert_eq!(
        ben.get_primary_phone_id().await.unwrap().as_deref(),
        Some("SIP/201")
    );

    let wanted = CallId::generate();
    let id = ben
        .place_call_with_phone("0030123456", Some("SIP/201-mobile"), Some(&wanted))
        .await
        .unwrap();
    assert_eq!(id, wanted);

    let mut tracker = CallTracker::new();
    let ended = rx.until_ended(&mut tracker, &["1001"], &[&id]).await;
    let call = &ended[&("1001".to_owned(), id.to_string())];
    assert_eq!(call.direction, Some(Direction::Outbound));
    assert_eq!(call.outcome, Some(CallOutcome::Answered));
    assert_eq!(call.remote().number.as_deref(), Some("0030123456"));
    assert_eq!(call.local().number.as_deref(), Some("201"));
    assert_eq!(
        call.states_seen[..2],
        [CallState::Proceeding, CallState::Ringback]
    );

    // Without a call id the PBX makes one; a phone the user does not have is a fault.
    let generated = ben
        .place_call_with_phone("0030123456", None, None)
        .await
        .unwrap();
    assert_ne!(generated, wanted);
    let err = ben
        .place_call_with_phone("0030123456", Some("SIP/202"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, UciError::Fault { .. }), "{err}");
}

#[tokio::test]
async fn running_call_is_listed_and_can_be_hung_up() {
    let pbx = pbx().await;
    let (_, sessions, mut rx) = callback_server(&pbx, &[("1001", "ben-pass")]).await;
    let ben = &sessions[0];
    ben.login().await.unwrap();
    ben.subscribe_events().await.unwrap();
    let id = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Inbound,
            target: "1001".into(),
            number: "+4930123456".into(),
            talk_steps: 0,
            ..CallSpec::default()
        })
        .unwrap();
    let id = CallId::parse(&id).unwrap();
    while rx.next_of(&id).await.state != CallState::Connected {}

    assert_eq!(ben.get_call_ids().await.unwrap(), std::slice::from_ref(&id));
    let state = ben.get_call_state(&id).await.unwrap();
    assert_eq!(state.state, CallState::Connected);
    assert_eq!(state.user, login("1001"));

    assert!(ben.hangup_call(&id).await.unwrap());
    assert_eq!(rx.next_of(&id).await.state, CallState::Hangup);
    assert!(ben.get_call_ids().await.unwrap().is_empty());
    assert!(!ben.hangup_call(&id).await.unwrap(), "already over");
}

#[tokio::test]
async fn keep_alive_answers_false_after_a_pbx_restart_and_a_new_login_revives_it() {
    let pbx = pbx().await;
    let ben = session_with(&pbx, "1001", "ben-pass", None, UciOptions::default());
    ben.login().await.unwrap();
    assert!(ben.keep_alive().await.unwrap());
    pbx.control().restart();
    assert!(!ben.keep_alive().await.unwrap());
    ben.login().await.unwrap();
    assert!(ben.keep_alive().await.unwrap());
}

#[tokio::test]
async fn wrong_password_is_refused_with_an_error_naming_the_fix() {
    let pbx = pbx().await;
    let ben = session_with(&pbx, "1001", "not-bens-pass", None, UciOptions::default());
    let err = ben.login().await.unwrap_err();
    assert!(err.is_auth_refused(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("1001") && text.contains("password is wrong"),
        "{text}"
    );
    let hash = password_sha512_hex("not-bens-pass");
    assert!(!text.contains(&hash) && !format!("{err:?}").contains(&hash));

    let unknown = session_with(&pbx, "4711", "x", None, UciOptions::default());
    assert!(unknown.login().await.unwrap_err().is_auth_refused());
}

#[tokio::test]
async fn answers_larger_than_the_limit_are_refused() {
    let pbx = pbx().await;
    let ben = session_with(
        &pbx,
        "1001",
        "ben-pass",
        None,
        UciOptions {
            max_response_bytes: 64,
            ..UciOptions::default()
        },
    );
    let err = ben.login().await.unwrap_err();
    assert!(matches!(err, UciError::TooLarge { limit: 64, .. }), "{err}");
}

#[tokio::test]
async fn a_pbx_that_never_answers_times_out_and_errors_keep_the_auth_out() {
    // A listener that never accepts: the connection opens (backlog), the answer never comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", silent.local_addr().unwrap())).unwrap();
    let hash = password_sha512_hex("ben-pass");
    let s = UciSession::new(
        &url,
        login("1001"),
        &SecretString::from(hash.clone()),
        None,
        UciOptions {
            request_timeout: Duration::from_millis(300),
            ..UciOptions::default()
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = s.keep_alive().await.unwrap_err();
    assert!(matches!(err, UciError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);

    // Nothing listens any more: a transport error, without the URL's query.
    let err = s.login().await.unwrap_err();
    assert!(matches!(err, UciError::Transport { .. }), "{err}");
    let auth = ctibridge_starface::auth::uci_auth("1001", &hash);
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(&hash) && !shown.contains(auth.split(':').nth(1).unwrap()),
        "{shown}"
    );
}

#[tokio::test]
async fn malformed_callback_bodies_get_faults_and_later_events_still_arrive() {
    let pbx = pbx().await;
    let (addr, sessions, mut rx) = callback_server(&pbx, &[("1001", "ben-pass")]).await;
    let ben = &sessions[0];
    ben.login().await.unwrap();
    ben.subscribe_events().await.unwrap();

    let http = reqwest::Client::new();
    let url = format!("http://{addr}/uci/callback/s3cr3t-0-1001?de.vertico.starface.user=1001");
    for body in [
        "".to_owned(),
        "<methodCall><methodName>ucp.v22.events.call.receiveCallState".to_owned(),
        "<methodCall><methodName>evil.method</methodName><params/></methodCall>".to_owned(),
        "<methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName><params><param><value><struct><member><name>state</name><value>RINGING</value></member></struct></value></param></params></methodCall>".to_owned(),
        format!("<methodCall>{}</methodCall>", "<value>".repeat(10_000)),
    ] {
        let resp = http.post(&url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let answer = MethodResponse::from_xml(resp.bytes().await.unwrap()).unwrap();
        assert!(matches!(answer, MethodResponse::Fault { .. }), "{answer:?}");
    }
    // Another user's event on this session's route is refused too.
    let other = "<methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName><params><param><value><struct><member><name>id</name><value>x</value></member></struct></value></param></params></methodCall>";
    let resp = http
        .post(format!(
            "http://{addr}/uci/callback/s3cr3t-0-1001?de.vertico.starface.user=1002"
        ))
        .body(other)
        .send()
        .await
        .unwrap();
    let answer = MethodResponse::from_xml(resp.bytes().await.unwrap()).unwrap();
    assert!(matches!(answer, MethodResponse::Fault { .. }));

    let id = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Missed,
            target: "1001".into(),
            number: "+4930123456".into(),
            ..CallSpec::default()
        })
        .unwrap();
    let id = CallId::parse(&id).unwrap();
    let mut tracker = CallTracker::new();
    let ended = rx.until_ended(&mut tracker, &["1001"], &[&id]).await;
    assert_eq!(
        ended[&("1001".to_owned(), id.to_string())].outcome,
        Some(CallOutcome::Missed)
    );
    assert!(pbx.control().settle(WAIT).await);
    assert_eq!(pbx.control().stats().callbacks_failed, 0);
}

// ---------------------------------------------------------------------------------------------
// Supervisor

fn fast() -> SupervisorConfig {
    SupervisorConfig {
        keep_alive_interval: Duration::from_millis(100),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        logout_timeout: Duration::from_secs(1),
    }
}

/// Waits for a state matching `want`, returning the states seen on the way (it included).
async fn wait_for(
    rx: &mut mpsc::Receiver<SessionStatus>,
    want: impl Fn(&SessionState) -> bool,
) -> Vec<SessionState> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("state not reached in time; seen: {seen:?}"))
            .unwrap();
        let done = want(&status.state);
        seen.push(status.state);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn supervisor_keeps_the_session_alive_and_reconnects_after_a_pbx_restart() {
    let pbx = pbx().await;
    let (_, sessions, mut events) = callback_server(&pbx, &[("1001", "ben-pass")]).await;
    let (tx, mut rx) = mpsc::channel(64);
    let sup = SessionSupervisor::spawn(sessions[0].clone(), fast(), tx);
    assert_eq!(sup.user(), &login("1001"));

    let seen = wait_for(&mut rx, |s| *s == SessionState::Active).await;
    assert_eq!(seen, [SessionState::Connecting, SessionState::Active]);
    // Several keepAlive periods pass without a change of state.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(rx.try_recv().is_err());
    assert_eq!(sup.state(), SessionState::Active);
    let keep_alives = pbx.control().stats().uci_requests["ucp.v22.requests.connection.keepAlive"];
    assert!(keep_alives >= 2, "{keep_alives} keepAlives");

    pbx.control().restart();
    let seen = wait_for(&mut rx, |s| *s == SessionState::Active).await;
    match &seen[0] {
        SessionState::Failed(SessionFailure {
            kind: FailureKind::SessionLost,
            retry_in: Some(d),
            ..
        }) => assert!(*d >= Duration::from_millis(50) && *d <= Duration::from_millis(200)),
        other => panic!("expected the session to be lost, got {other:?}"),
    }
    assert_eq!(seen[1..], [SessionState::Connecting, SessionState::Active]);
    let live = pbx.control().sessions();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].subscriptions, ["ucp.v22.events.call"]);

    // Events flow on the new session.
    let id = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Missed,
            target: "1001".into(),
            number: "+4930123456".into(),
            ..CallSpec::default()
        })
        .unwrap();
    let id = CallId::parse(&id).unwrap();
    let mut tracker = CallTracker::new();
    events.until_ended(&mut tracker, &["1001"], &[&id]).await;

    sup.stop().await;
    assert_eq!(
        wait_for(&mut rx, |s| *s == SessionState::Stopped).await,
        [SessionState::Stopped]
    );
    assert!(pbx.control().sessions().is_empty(), "stop logs out");
}

#[tokio::test]
async fn supervisor_gives_up_on_refused_credentials() {
    let pbx = pbx().await;
    let bad = session_with(&pbx, "1001", "wrong", None, UciOptions::default());
    let (tx, mut rx) = mpsc::channel(64);
    let sup = SessionSupervisor::spawn(bad, fast(), tx);
    let seen = wait_for(&mut rx, |s| matches!(s, SessionState::Failed(_))).await;
    let SessionState::Failed(f) = seen.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(f.kind, FailureKind::CredentialsRefused);
    assert_eq!(f.retry_in, None);
    assert!(f.reason.contains("password is wrong"), "{}", f.reason);
    tokio::time::timeout(WAIT, async {
        while !sup.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let logins = pbx
        .control()
        .stats()
        .uci_requests
        .get("ucp.v22.requests.connection.login")
        .copied();
    assert_eq!(logins, Some(1), "no retry");
    sup.stop().await;
}

#[tokio::test]
async fn supervisor_retries_an_unreachable_pbx_with_growing_backoff_until_stopped() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let session = UciSession::new(
        &url,
        login("1001"),
        &SecretString::from(password_sha512_hex("ben-pass")),
        None,
        UciOptions::default(),
    )
    .unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let sup = SessionSupervisor::spawn(session, fast(), tx);
    let mut delays = Vec::new();
    while delays.len() < 4 {
        let seen = wait_for(&mut rx, |s| matches!(s, SessionState::Failed(_))).await;
        if let Some(SessionState::Failed(f)) = seen.last() {
            assert_eq!(f.kind, FailureKind::Unreachable, "{}", f.reason);
            delays.push(f.retry_in.unwrap());
        }
    }
    assert!(delays[0] <= Duration::from_millis(60), "{delays:?}");
    assert!(delays[3] >= Duration::from_millis(160), "{delays:?}");
    sup.stop().await;
    wait_for(&mut rx, |s| *s == SessionState::Stopped).await;
}
