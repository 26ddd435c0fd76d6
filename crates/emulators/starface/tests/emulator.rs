//! The emulated PBX over real HTTP on 127.0.0.1: UCI sessions, events, REST rules.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use ctibridge_emulator_starface::{
    CallKind, CallSpec, DeliveryOutcome, EmulatorError, GroupSeed, Options, RunningPbx, spawn,
};
use ctibridge_starface::auth;
use ctibridge_starface::xmlrpc::{MethodCall, MethodResponse, Struct, Value};
use pretty_assertions::assert_eq;
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

const LOCAL: &str = "127.0.0.1:0";

async fn start(opts: Options) -> RunningPbx {
    spawn(LOCAL.parse().unwrap(), opts).await.unwrap()
}

fn fast() -> Options {
    Options {
        step_delay: Duration::from_millis(2),
        ..Options::default()
    }
}

/// A callback server of ours: every XML-RPC call it gets, with the query the PBX appended.
struct Callback {
    addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<(MethodCall, String)>,
}

async fn callback_server() -> Callback {
    async fn receive(
        State(tx): State<mpsc::UnboundedSender<(MethodCall, String)>>,
        RawQuery(q): RawQuery,
        body: Bytes,
    ) -> String {
        let call = MethodCall::from_xml(&body).unwrap();
        tx.send((call, q.unwrap_or_default())).unwrap();
        MethodResponse::success(true).to_xml()
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Callback { addr, rx }
}

impl Callback {
    /// Event structs of `call_id` until `hangups` HANGUP states have come.
    async fn call_events(&mut self, call_id: &str, hangups: usize) -> Vec<(String, Struct)> {
        let mut got = Vec::new();
        let mut seen = 0;
        while seen < hangups {
            let (call, _) = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .expect("no event within 10 s")
                .unwrap();
            let s = call.params[0].as_struct().unwrap().clone();
            if s.text("id").as_deref() != Some(call_id) {
                continue;
            }
            if s.text_or_empty("state") == "HANGUP" {
                seen += 1;
            }
            got.push((call.method_name, s));
        }
        got
    }
}

/// A UCI client: auth from the documented formula, callback parameters on every request.
struct Uci {
    http: reqwest::Client,
    url: String,
}

impl Uci {
    fn new(pbx: &RunningPbx, login: &str, password: &str, callback: Option<SocketAddr>) -> Self {
        let auth = auth::uci_auth(login, &auth::password_sha512_hex(password));
        let mut url = pbx.xmlrpc_url();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("de.vertico.starface.auth", &auth);
            if let Some(cb) = callback {
                q.append_pair("de.vertico.starface.callback.host", &cb.ip().to_string())
                    .append_pair("de.vertico.starface.callback.port", &cb.port().to_string())
                    .append_pair("de.vertico.starface.callback.path", &format!("/cb/{login}"))
                    .append_pair("de.vertico.starface.callback.type", "http");
            }
        }
        Self {
            http: reqwest::Client::new(),
            url: url.to_string(),
        }
    }

    async fn call(&self, method: &str, params: Vec<Value>) -> MethodResponse {
        let body = MethodCall::new(method, params).to_xml();
        let resp = self.http.post(&self.url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        MethodResponse::from_xml(resp.bytes().await.unwrap()).unwrap()
    }

    async fn value(&self, method: &str, params: Vec<Value>) -> Value {
        self.call(method, params).await.into_value().unwrap()
    }

    async fn login_and_subscribe(&self) {
        assert_eq!(
            self.value("ucp.v22.requests.connection.login", vec![])
                .await,
            Value::Boolean(true)
        );
        assert_eq!(
            self.value(
                "ucp.v22.requests.service.subscribeEvents",
                vec!["ucp.v22.events.call".into()]
            )
            .await,
            Value::Boolean(true)
        );
    }

    async fn keep_alive(&self) -> bool {
        self.value("ucp.v22.requests.connection.keepAlive", vec![])
            .await
            .expect_bool("keepAlive")
            .unwrap()
    }
}

fn states(events: &[(String, Struct)]) -> Vec<String> {
    events
        .iter()
        .map(|(_, s)| s.text_or_empty("state"))
        .collect()
}

#[tokio::test]
async fn session_without_keep_alive_expires_and_keep_alive_then_answers_false() {
    let pbx = start(Options {
        session_ttl: Duration::from_millis(800),
        ..fast()
    })
    .await;
    let uci = Uci::new(&pbx, "1001", "ben-pass", None);
    uci.login_and_subscribe().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        uci.keep_alive().await,
        "a keepAlive within the TTL keeps the session"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        uci.keep_alive().await,
        "1 s after login, but only 0.5 s after the last keepAlive"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        !uci.keep_alive().await,
        "no request for longer than the TTL ends the session"
    );
    assert!(pbx.control().sessions().is_empty());
    pbx.shutdown().await;
}

#[tokio::test]
async fn events_arrive_in_order_with_duplicates_and_the_pbx_query() {
    let pbx = start(fast()).await;
    let mut cb = callback_server().await;
    let uci = Uci::new(&pbx, "1002", "clara-pass", Some(cb.addr));
    uci.login_and_subscribe().await;
    let id = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Inbound,
            target: "1002".into(),
            number: "+4930123456".into(),
            duplicate_events: true,
            ..CallSpec::default()
        })
        .unwrap();
    let events = cb.call_events(&id, 2).await;
    assert_eq!(
        states(&events),
        [
            "INCOMING",
            "INCOMING",
            "RINGING",
            "RINGING",
            "CONNECTED",
            "CONNECTED",
            "HANGUP",
            "HANGUP"
        ]
    );
    assert!(
        events
            .iter()
            .all(|(m, _)| m == "ucp.v22.events.call.receiveCallState")
    );
    assert!(pbx.control().settle(Duration::from_secs(5)).await);
    let stats = pbx.control().stats();
    assert_eq!(stats.callbacks_delivered, 8);
    assert_eq!(stats.callbacks_failed, 0);
    pbx.shutdown().await;
}

#[tokio::test]
async fn callback_query_names_the_user_and_carries_the_session_auth() {
    let pbx = start(fast()).await;
    let mut cb = callback_server().await;
    let uci = Uci::new(&pbx, "1003", "david-pass", Some(cb.addr));
    uci.login_and_subscribe().await;
    pbx.control()
        .play(CallSpec {
            kind: CallKind::Missed,
            target: "1003".into(),
            number: String::new(),
            ..CallSpec::default()
        })
        .unwrap();
    let (_, query) = tokio::time::timeout(Duration::from_secs(10), cb.rx.recv())
        .await
        .unwrap()
        .unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let expected_auth = auth::uci_auth("1003", &auth::password_sha512_hex("david-pass"));
    assert!(pairs.contains(&("de.vertico.starface.user".into(), "1003".into())));
    assert!(pairs.contains(&("de.vertico.starface.auth".into(), expected_auth)));
    pbx.shutdown().await;
}

#[tokio::test]
async fn failing_callback_is_counted_and_other_sessions_still_get_events() {
    let pbx = start(fast()).await;
    // A port that nobody listens on: bind, note it, close.
    let dead = {
        let l = std::net::TcpListener::bind(LOCAL).unwrap();
        l.local_addr().unwrap()
    };
    let broken = Uci::new(&pbx, "1001", "ben-pass", Some(dead));
    broken.login_and_subscribe().await;
    let mut cb = callback_server().await;
    let working = Uci::new(&pbx, "1002", "clara-pass", Some(cb.addr));
    working.login_and_subscribe().await;

    let id = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Group,
            target: "Sales".into(),
            number: "+4930999".into(),
            answered_by: Some("1002".into()),
            ..CallSpec::default()
        })
        .unwrap();
    let events = cb.call_events(&id, 1).await;
    assert_eq!(
        states(&events),
        ["INCOMING", "RINGING", "CONNECTED", "HANGUP"]
    );
    assert!(pbx.control().settle(Duration::from_secs(10)).await);
    let stats = pbx.control().stats();
    assert!(stats.callbacks_failed >= 3, "{stats:?}");
    assert!(
        broken.keep_alive().await,
        "a failing callback does not end the session"
    );
    let failed = pbx
        .control()
        .events()
        .into_iter()
        .filter(|e| e.login == "1001")
        .all(|e| matches!(e.outcome, DeliveryOutcome::Failed(_)));
    assert!(failed);
    pbx.shutdown().await;
}

#[tokio::test]
async fn group_call_members_share_the_call_id_and_group_id() {
    let pbx = start(fast()).await;
    let mut cb = callback_server().await;
    for (login, pw) in [
        ("1001", "ben-pass"),
        ("1002", "clara-pass"),
        ("1004", "eva-pass"),
    ] {
        Uci::new(&pbx, login, pw, Some(cb.addr))
            .login_and_subscribe()
            .await;
    }
    let id = pbx
        .control()
        .play(CallSpec {
            kind: CallKind::Group,
            target: "600".into(),
            number: "030123456".into(),
            answered_by: Some("1004".into()),
            ..CallSpec::default()
        })
        .unwrap();
    let events = cb.call_events(&id, 3).await;
    let connected: Vec<&Struct> = events
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.text_or_empty("state") == "CONNECTED")
        .collect();
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].text_or_empty("calledNumber"), "600");
    let group_ids: std::collections::BTreeSet<String> = events
        .iter()
        .map(|(_, s)| s.text_or_empty("groupID"))
        .collect();
    assert_eq!(group_ids.len(), 1);
    assert!(!group_ids.iter().next().unwrap().is_empty());
    pbx.shutdown().await;
}

#[tokio::test]
async fn v20_clients_with_set_provided_services_get_v20_events() {
    let pbx = start(fast()).await;
    let mut cb = callback_server().await;
    let uci = Uci::new(&pbx, "1001", "ben-pass", Some(cb.addr));
    assert_eq!(
        uci.value("ucp.v20.server.connection.login", vec![]).await,
        Value::Boolean(true)
    );
    let services = Value::Array(vec![
        "ucp.v20.client.communication.call".into(),
        "ucp.v20.client.connection".into(),
    ]);
    assert_eq!(
        uci.value(
            "ucp.v20.server.connection.setProvidedServices",
            vec![services]
        )
        .await,
        Value::Boolean(true)
    );
    let id = uci
        .value(
            "ucp.v20.server.communication.call.placeCall",
            vec!["0301234".into(), "".into(), "".into()],
        )
        .await;
    let id = id.as_str().unwrap().to_owned();
    let events = cb.call_events(&id, 1).await;
    assert!(
        events
            .iter()
            .all(|(m, _)| m == "ucp.v20.client.communication.call.receiveCallState")
    );
    assert_eq!(
        uci.value("ucp.v20.server.connection.probe", vec![]).await,
        Value::Boolean(true)
    );
    pbx.shutdown().await;
}

#[tokio::test]
async fn place_call_rejects_a_phone_of_someone_else_and_an_empty_number() {
    let pbx = start(fast()).await;
    let uci = Uci::new(&pbx, "1001", "ben-pass", None);
    uci.login_and_subscribe().await;
    let r = uci
        .call(
            "ucp.v22.requests.call.placeCallWithPhone",
            vec!["0301".into(), "SIP/202".into(), "".into()],
        )
        .await;
    assert!(matches!(r, MethodResponse::Fault { .. }), "{r:?}");
    let r = uci
        .call(
            "ucp.v22.requests.call.placeCallWithPhone",
            vec!["  ".into(), Value::Nil, Value::Nil],
        )
        .await;
    assert!(matches!(r, MethodResponse::Fault { .. }), "{r:?}");
    let ok = uci
        .value(
            "ucp.v22.requests.call.placeCallWithPhone",
            vec!["0301".into(), "SIP/201-mobile".into(), "my-id".into()],
        )
        .await;
    assert_eq!(ok, Value::from("my-id"));
    pbx.shutdown().await;
}

#[tokio::test]
async fn restart_drops_sessions_and_rest_tokens() {
    let pbx = start(fast()).await;
    let uci = Uci::new(&pbx, "1001", "ben-pass", None);
    uci.login_and_subscribe().await;
    let rest = Rest::login(&pbx, "0001", "admin-pass").await;
    assert_eq!(rest.get("users/me").await.0, 200);
    pbx.control().restart();
    assert!(!uci.keep_alive().await);
    assert_eq!(rest.get("users/me").await.0, 401);
    assert_eq!(pbx.control().stats().restarts, 1);
    pbx.shutdown().await;
}

#[tokio::test]
async fn body_over_the_limit_is_refused_with_413() {
    let pbx = start(Options {
        max_body_bytes: 1024,
        ..fast()
    })
    .await;
    let big = MethodCall::new(
        "ucp.v22.requests.connection.login",
        vec!["x".repeat(4096).into()],
    )
    .to_xml();
    let resp = reqwest::Client::new()
        .post(pbx.xmlrpc_url())
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    pbx.shutdown().await;
}

#[tokio::test]
async fn options_with_a_group_member_who_is_no_user_are_refused() {
    let opts = Options {
        groups: vec![GroupSeed {
            name: "Ghosts".into(),
            internal_number: "666".into(),
            external_number: None,
            members: vec!["9999".into()],
        }],
        ..Options::default()
    };
    let err = spawn(LOCAL.parse().unwrap(), opts).await.unwrap_err();
    assert!(
        matches!(err, EmulatorError::Options(ref m) if m.contains("9999")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// REST

struct Rest {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

impl Rest {
    async fn login(pbx: &RunningPbx, login: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let base = pbx.rest_url();
        let template: Json = http
            .get(base.join("login").unwrap())
            .header("X-Version", "2")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let nonce = template["nonce"].as_str().unwrap();
        let secret = auth::rest_secret_internal(login, nonce, &auth::password_sha512_hex(password));
        let resp = http
            .post(base.join("login").unwrap())
            .header("X-Version", "2")
            .json(&json!({ "loginType": "Internal", "nonce": nonce, "secret": secret }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let token = resp.json::<Json>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        Self { http, base, token }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> (u16, Json) {
        let mut req = self
            .http
            .request(method, self.base.join(path).unwrap())
            .header("X-Version", "2")
            .header("authToken", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    async fn get(&self, path: &str) -> (u16, Json) {
        self.send(reqwest::Method::GET, path, None).await
    }
}

fn contact(first: &str, last: &str, phone: &str) -> Json {
    json!({
        "blocks": [
            { "name": "contact", "attributes": [
                { "name": "firstname", "value": first, "displayKey": "NAME" },
                { "name": "lastname", "value": last, "displayKey": "SURNAME" } ] },
            { "name": "telephone", "attributes": [
                { "name": "phone", "value": phone, "displayKey": "PHONE_NUMBER" } ] }
        ],
        "editable": true,
        "tags": []
    })
}

#[tokio::test]
async fn admin_contacts_are_shared_and_user_contacts_stay_private() {
    let pbx = start(Options {
        contacts: 0,
        ..fast()
    })
    .await;
    let admin = Rest::login(&pbx, "0001", "admin-pass").await;
    let ben = Rest::login(&pbx, "1001", "ben-pass").await;
    let clara = Rest::login(&pbx, "1002", "clara-pass").await;

    let (s, shared) = admin
        .send(
            reqwest::Method::POST,
            "contacts",
            Some(contact("Sh", "Ared", "+49301")),
        )
        .await;
    assert_eq!(s, 201);
    let (s, private) = ben
        .send(
            reqwest::Method::POST,
            "contacts",
            Some(contact("Pri", "Vate", "+49302")),
        )
        .await;
    assert_eq!(s, 201);

    let ids = |v: &Json| -> Vec<String> {
        v["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, ben_list) = ben.get("contacts").await;
    assert_eq!(ids(&ben_list).len(), 2);
    let (_, clara_list) = clara.get("contacts").await;
    assert_eq!(
        ids(&clara_list),
        vec![shared["id"].as_str().unwrap().to_owned()]
    );

    // Users cannot change the shared book; the admin can.
    let shared_path = format!("contacts/{}", shared["id"].as_str().unwrap());
    let (s, _) = ben.send(reqwest::Method::DELETE, &shared_path, None).await;
    assert_eq!(s, 403);
    let (_, seen_by_ben) = ben.get(&shared_path).await;
    assert_eq!(seen_by_ben["editable"], json!(false));
    let (s, _) = clara
        .get(&format!("contacts/{}", private["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 404);
    let (s, _) = admin
        .send(
            reqwest::Method::PUT,
            &shared_path,
            Some(contact("Sh", "Ared2", "+49301")),
        )
        .await;
    assert_eq!(s, 204);
    let (_, after) = admin.get(&shared_path).await;
    let last = after["blocks"][0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["displayKey"] == "SURNAME")
        .unwrap()["value"]
        .clone();
    assert_eq!(last, json!("Ared2"));
    pbx.shutdown().await;
}

#[tokio::test]
async fn nonce_and_token_expire() {
    let pbx = start(Options {
        nonce_ttl: Duration::from_millis(100),
        token_ttl: Duration::from_millis(1000),
        ..fast()
    })
    .await;
    let http = reqwest::Client::new();
    let login_url = pbx.rest_url().join("login").unwrap();
    let template: Json = http
        .get(login_url.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let nonce = template["nonce"].as_str().unwrap();
    let secret = auth::rest_secret_internal("1001", nonce, &auth::password_sha512_hex("ben-pass"));
    let late = http
        .post(login_url)
        .json(&json!({ "loginType": "Internal", "nonce": nonce, "secret": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 400);

    let rest = Rest::login(&pbx, "1001", "ben-pass").await;
    assert_eq!(rest.get("users/me").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(rest.get("users/me").await.0, 401);
    pbx.shutdown().await;
}

#[tokio::test]
async fn requests_without_x_version_are_served_and_counted() {
    let pbx = start(fast()).await;
    let resp = reqwest::get(pbx.rest_url().join("login").unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let stats = pbx.control().stats();
    assert_eq!(stats.rest_requests_without_x_version, 1);
    assert_eq!(stats.rest_requests.get("GET /rest/login"), Some(&1));
    pbx.shutdown().await;
}

#[tokio::test]
async fn contact_search_finds_phone_numbers_whatever_their_formatting() {
    let pbx = start(Options {
        contacts: 0,
        ..fast()
    })
    .await;
    let admin = Rest::login(&pbx, "0001", "admin-pass").await;
    admin
        .send(
            reqwest::Method::POST,
            "contacts",
            Some(contact("Jürgen", "Müller", "+49 (0)30 123456-7")),
        )
        .await;
    admin
        .send(
            reqwest::Method::POST,
            "contacts",
            Some(contact("Other", "Person", "089 999")),
        )
        .await;
    let (_, found) = admin.get("contacts?searchTerms=1234567").await;
    assert_eq!(found["contacts"].as_array().unwrap().len(), 1);
    let (_, found) = admin.get("contacts?searchTerms=m%C3%BCller").await;
    assert_eq!(found["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(found["contacts"][0]["summaryValues"][0], json!("Jürgen"));
    pbx.shutdown().await;
}

#[tokio::test]
async fn tags_list_is_paged_and_tag_names_are_unique() {
    let pbx = start(Options {
        contacts: 0,
        ..fast()
    })
    .await;
    let admin = Rest::login(&pbx, "0001", "admin-pass").await;
    for i in 0..25 {
        let (s, _) = admin
            .send(
                reqwest::Method::POST,
                "contacts/tags",
                Some(json!({ "name": format!("t{i:02}") })),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, dup) = admin
        .send(
            reqwest::Method::POST,
            "contacts/tags",
            Some(json!({ "name": "T00" })),
        )
        .await;
    assert_eq!(s, 400);
    assert!(dup["message"].as_str().unwrap().contains("exists"));
    let (_, first) = admin.get("contacts/tags").await;
    assert_eq!(first.as_array().unwrap().len(), 20);
    let (_, second) = admin.get("contacts/tags?page=1").await;
    assert_eq!(second.as_array().unwrap().len(), 5);
    assert_eq!(second[4]["name"], json!("t24"));
    pbx.shutdown().await;
}

#[tokio::test]
async fn contact_pages_order_by_lowercased_sort_value_then_creation_and_desc_reverses_it() {
    let pbx = start(Options {
        contacts: 0,
        ..fast()
    })
    .await;
    let admin = Rest::login(&pbx, "0001", "admin-pass").await;
    // First names mark the creation order; last names tie when lowercased.
    for (first, last) in [
        ("c1", "beta"),
        ("c2", "Alpha"),
        ("c3", "alpha"),
        ("c4", "BETA"),
        ("c5", "Gamma"),
        ("c6", "ALPHA"),
        ("c7", "delta"),
    ] {
        let (s, _) = admin
            .send(
                reqwest::Method::POST,
                "contacts",
                Some(contact(first, last, "+49301")),
            )
            .await;
        assert_eq!(s, 201);
    }
    let mut pages = Vec::new();
    for dir in ["ASC", "DESC"] {
        for page in 0..4 {
            let (s, v) = admin
                .get(&format!(
                    "contacts?page={page}&pagesize=3&sort=lastname&sortdirection={dir}"
                ))
                .await;
            assert_eq!(s, 200);
            assert_eq!(v["metadata"]["totalPages"], json!(3));
            let firsts: Vec<String> = v["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["summaryValues"][0].as_str().unwrap().to_owned())
                .collect();
            pages.push(firsts.join(" "));
        }
    }
    assert_eq!(
        pages,
        [
            "c2 c3 c6", "c1 c4 c7", "c5", "", // ASC
            "c5 c7 c4", "c1 c6 c3", "c2", "", // DESC
        ]
    );
    pbx.shutdown().await;
}
