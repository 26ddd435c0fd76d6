//! Call actions end to end against both emulators: click-to-dial through the user's UCI
//! session, a record created for an unknown caller (once), and call logging through the
//! outbox that neither loses nor doubles a call, also while Salesforce fails.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

use std::net::SocketAddr;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use ctibridge_emulator_salesforce::{FaultUpdate, RecordOp, RuleCondition, ValidationRule};
use ctibridge_emulator_starface::{CallKind, CallSpec};
use ctibridge_store::Backoff;
use serde_json::{Value, json};

mod support;
use support::{Ws, sign_in, wait_frame};

const LIMIT: Duration = Duration::from_secs(30);
const INSTANCE: &str = "Salesforce Demo";

struct World {
    org: ctibridge_emulator_salesforce::RunningOrg,
    pbx: ctibridge_emulator_starface::RunningPbx,
    running: ctibridge_server::Running,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(tweak: impl FnOnce(&mut Config)) -> World {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let org = ctibridge_emulator_salesforce::spawn(lo, Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo, Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (running, base) = start(&org, &pbx, &dir, tweak).await;
    World {
        org,
        pbx,
        running,
        base,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// Starts the connector on `dir` (again, after a restart) and waits until it is ready.
async fn start(
    org: &ctibridge_emulator_salesforce::RunningOrg,
    pbx: &ctibridge_emulator_starface::RunningPbx,
    dir: &tempfile::TempDir,
    tweak: impl FnOnce(&mut Config),
) -> (ctibridge_server::Running, String) {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let listener = tokio::net::TcpListener::bind(lo).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::demo(
        dir.path().to_path_buf(),
        addr,
        pbx.url().clone(),
        LoginUrl::parse(org.url().as_str()).unwrap().0,
    );
    tweak(&mut config);
    let running = ctibridge_server::start_on(config, listener).await.unwrap();
    running.state().actions.outbox.set_backoff(Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_millis(800),
    });
    running
        .state()
        .actions
        .outbox
        .set_lease(Duration::from_secs(2));
    for (login, pw) in [("1001", "ben-pass"), ("1002", "clara-pass")] {
        ctibridge_server::uci::set_credentials(running.state(), login, &pw.to_owned().into())
            .await
            .unwrap();
    }
    let state = running.state().clone();
    eventually("UCI sessions, the index and the user match", || {
        state.hub.uci("1001").state == "active"
            && state.hub.uci("1002").state == "active"
            && state.lookup(INSTANCE).is_some()
            && state.status().instances[0]
                .users
                .iter()
                .any(|u| u.salesforce_user_id.is_some())
    })
    .await;
    (running, format!("http://{addr}"))
}

async fn eventually(what: &str, done: impl Fn() -> bool) {
    eventually_within(what, LIMIT, done).await
}

async fn eventually_within(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The panel WebSocket, signed in and past its hello frame.
async fn connect(base: &str, token: &str) -> Ws {
    support::connect(base, token).await.0
}

impl World {
    fn tasks(&self, call_object_prefix: &str) -> Vec<Value> {
        self.org
            .control()
            .records("Task")
            .into_iter()
            .filter(|t| {
                t["CallObject"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(call_object_prefix))
            })
            .collect()
    }

    fn sf_user(&self, email: &str) -> String {
        self.org
            .control()
            .users()
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .unwrap()
            .id
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// A number with exactly one exact Contact match, as a German PBX writes it.
    fn contact_number(&self) -> (String, String) {
        let lookup = self.running.state().lookup(INSTANCE).unwrap();
        for e in &lookup.samples {
            let m = lookup.index.lookup(e);
            if m.len() == 1
                && m[0].strength == ctibridge_phone::MatchStrength::Exact
                && m[0].record.object == ctibridge_domain::ObjectType::Contact
                && let Some(rest) = e.as_str().strip_prefix("+49")
            {
                return (format!("0{rest}"), m[0].record.id.to_string());
            }
        }
        panic!("no German sample number of one Contact");
    }

    fn play(&self, spec: CallSpec) -> String {
        self.pbx.control().play(spec).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_to_dial_places_the_call_on_the_chosen_phone_and_pops_the_clicked_record() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let mut ws = connect(&w.base, &ben).await;

    let (status, phones) = w
        .api(reqwest::Method::GET, "/panel/api/phones", &ben, None)
        .await;
    assert_eq!(status, 200, "{phones}");
    assert_eq!(phones["primary"], "SIP/201");
    assert!(
        phones["phones"]
            .as_array()
            .unwrap()
            .contains(&json!("SIP/201-mobile"))
    );

    let (status, _) = w
        .api(
            reqwest::Method::PUT,
            "/panel/api/settings",
            &ben,
            Some(json!({"phone_id": "SIP/201-mobile"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, contact_id) = w.contact_number();
    let placed_before = w
        .pbx
        .control()
        .stats()
        .uci_requests
        .iter()
        .filter(|(k, _)| k.ends_with("placeCallWithPhone"))
        .map(|(_, v)| *v)
        .sum::<u64>();
    let (status, dial) = w
        .api(
            reqwest::Method::POST,
            "/panel/api/dial",
            &ben,
            Some(json!({"number": "+49 (30) 555-0123", "record_id": contact_id, "record_name": "Clicked Person"})),
        )
        .await;
    assert_eq!(status, 200, "{dial}");
    // In Germany with outside-line prefix 0: 0 + national 030 5550123.
    assert_eq!(dial["dialled"], "00305550123");
    assert_eq!(dial["phone"], "SIP/201-mobile");
    let call_id = dial["call_id"].as_str().unwrap().to_owned();
    let frame = wait_frame(&mut ws, |v| {
        v["type"] == "call" && v["call"]["id"] == call_id.as_str()
    })
    .await;
    assert_eq!(frame["call"]["direction"], "outbound");
    assert_eq!(frame["call"]["remote"]["raw"], "00305550123");
    assert_eq!(frame["call"]["matches"].as_array().unwrap().len(), 1);
    assert_eq!(frame["call"]["matches"][0]["id"], contact_id.as_str());
    let placed_after = w
        .pbx
        .control()
        .stats()
        .uci_requests
        .iter()
        .filter(|(k, _)| k.ends_with("placeCallWithPhone"))
        .map(|(_, v)| *v)
        .sum::<u64>();
    assert_eq!(placed_after, placed_before + 1);

    // Abroad: outside line, then the international prefix.
    let (status, abroad) = w
        .api(
            reqwest::Method::POST,
            "/panel/api/dial",
            &ben,
            Some(json!({"number": "+44 20 7946 0958"})),
        )
        .await;
    assert_eq!(status, 200, "{abroad}");
    assert_eq!(abroad["dialled"], "000442079460958");

    // A phone that is not the user's is refused by the PBX, and the panel is told why.
    w.api(
        reqwest::Method::PUT,
        "/panel/api/settings",
        &ben,
        Some(json!({"phone_id": "SIP/202"})),
    )
    .await;
    let (status, refused) = w
        .api(
            reqwest::Method::POST,
            "/panel/api/dial",
            &ben,
            Some(json!({"number": "030 5550123"})),
        )
        .await;
    assert_eq!(status, 502, "{refused}");
    assert_eq!(refused["error"], "pbx_refused");
    assert!(
        refused["message"].as_str().unwrap().contains("SIP/202"),
        "{refused}"
    );
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_caller_gets_exactly_one_lead_across_three_calls_in_ten_seconds() {
    let w = world().await;
    // Salesforce's search would not find the new Lead for a minute: the index must.
    w.org.control().set_search_lag(Duration::from_secs(60));
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (status, _) = w
        .api(
            reqwest::Method::PUT,
            "/panel/api/settings",
            &ben,
            Some(json!({"create_unknown_inbound": true})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ws = connect(&w.base, &ben).await;
    let leads_before = w.org.control().records("Lead").len();
    let started = tokio::time::Instant::now();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let call = w.play(CallSpec {
            kind: CallKind::Inbound,
            target: "1001".into(),
            number: "030 98765432".into(),
            name: "Hanna Neu".into(),
            ring_steps: 3,
            talk_steps: 2,
            step_delay: Some(Duration::from_millis(100)),
            ..Default::default()
        });
        let popped = wait_frame(&mut ws, |v| {
            v["type"] == "call"
                && v["call"]["id"] == call.as_str()
                && !v["call"]["matches"].as_array().unwrap().is_empty()
        })
        .await;
        ids.push(
            popped["call"]["matches"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let leads: Vec<Value> = w
        .org
        .control()
        .records("Lead")
        .into_iter()
        .filter(|l| l["Phone"] == "+493098765432")
        .collect();
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(w.org.control().records("Lead").len(), leads_before + 1);
    assert_eq!(leads[0]["LastName"], "Neu");
    assert_eq!(leads[0]["FirstName"], "Hanna");
    assert_eq!(
        leads[0]["OwnerId"],
        w.sf_user("ben.utzer@example.com").as_str()
    );
    assert!(
        ids.iter().all(|i| i == leads[0]["Id"].as_str().unwrap()),
        "{ids:?}"
    );
    // The index itself learned the Lead (not only the panel's memory of it).
    let lookup = w.running.state().lookup(INSTANCE).unwrap();
    let found = lookup
        .index
        .lookup(&ctibridge_domain::E164::parse("+493098765432").unwrap());
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].record.id.as_str(),
        leads[0]["Id"].as_str().unwrap()
    );
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_typed_in_the_panel_end_up_in_the_calls_task() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let mut ws = connect(&w.base, &ben).await;
    let (number, contact_id) = w.contact_number();
    let call = w.play(CallSpec {
        target: "1001".into(),
        number,
        ring_steps: 1,
        talk_steps: 20,
        step_delay: Some(Duration::from_millis(100)),
        ..Default::default()
    });
    wait_frame(&mut ws, |v| {
        v["call"]["id"] == call.as_str() && v["call"]["state"] == "connected"
    })
    .await;
    // Typed during the call: goes into the Task when it is created.
    let (status, body) = w
        .api(
            reqwest::Method::PUT,
            &format!("/panel/api/calls/{call}/notes"),
            &ben,
            Some(json!({"notes": "first thoughts", "result": "Interested"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_frame(&mut ws, |v| {
        v["call"]["id"] == call.as_str() && v["call"]["state"] == "ended"
    })
    .await;
    let key = format!("{call}:1001");
    eventually("the call's Task", || w.tasks(&key).len() == 1).await;
    // Typed after the call: updates the same Task.
    let (status, body) = w
        .api(
            reqwest::Method::PUT,
            &format!("/panel/api/calls/{call}/notes"),
            &ben,
            Some(json!({"notes": "Wants a quote for 40 seats", "result": "Callback agreed"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("the notes in the Task", || {
        w.tasks(&key).first().is_some_and(|t| {
            t["Description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Wants a quote for 40 seats"))
        })
    })
    .await;
    let tasks = w.tasks(&key);
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(t["CallDisposition"], "answered: Callback agreed");
    assert_eq!(t["TaskSubtype"], "Call");
    assert_eq!(t["CallType"], "Inbound");
    assert_eq!(t["Status"], "Completed");
    assert_eq!(t["WhoId"], contact_id.as_str());
    assert_eq!(t["OwnerId"], w.sf_user("ben.utzer@example.com").as_str());
    assert!(t["CallDurationInSeconds"].as_i64().unwrap() >= 1, "{t}");

    let (status, list) = w
        .api(reqwest::Method::GET, "/panel/api/calls", &ben, None)
        .await;
    assert_eq!(status, 200);
    let entry = list["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call_id"] == call.as_str())
        .unwrap();
    assert_eq!(entry["state"], "written");
    assert_eq!(entry["task_id"], t["Id"]);
    assert!(
        entry["task_url"]
            .as_str()
            .unwrap()
            .ends_with(t["Id"].as_str().unwrap())
    );
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_call_is_logged_once_for_who_answered_and_a_missed_one_once_for_the_group() {
    let w = world().await;
    let answered = w.play(CallSpec {
        kind: CallKind::Group,
        target: "Sales".into(),
        number: "030 44556677".into(),
        answered_by: Some("1002".into()),
        ring_steps: 2,
        talk_steps: 2,
        ..Default::default()
    });
    let missed = w.play(CallSpec {
        kind: CallKind::Group,
        target: "Sales".into(),
        number: "030 44556688".into(),
        answered: false,
        ring_steps: 2,
        ..Default::default()
    });
    eventually("both calls logged", || {
        !w.tasks(&answered).is_empty() && !w.tasks(&missed).is_empty()
    })
    .await;
    // Give late legs and the group's settle time the chance to double something.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let a = w.tasks(&answered);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["CallObject"], format!("{answered}:1002").as_str());
    assert_eq!(
        a[0]["OwnerId"],
        w.sf_user("clara.klein@example.com").as_str()
    );
    let m = w.tasks(&missed);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0]["CallObject"].as_str().unwrap().contains(":group:"),
        "{m:?}"
    );
    assert!(
        m[0]["CallDisposition"]
            .as_str()
            .unwrap()
            .starts_with("missed")
    );
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_half_the_requests_failing_and_tokens_expiring_every_call_is_one_task() {
    let w = world().await;
    let control = w.org.control();
    control
        .apply(FaultUpdate {
            fail_rate: Some(0.5),
            fail_status: Some(503),
            ..Default::default()
        })
        .unwrap();
    const N: usize = 40;
    let mut calls = Vec::new();
    for i in 0..N {
        calls.push(w.play(CallSpec {
            target: if i % 2 == 0 { "1001" } else { "1002" }.into(),
            number: format!("030 7000{i:04}"),
            ring_steps: 1,
            talk_steps: 1,
            ..Default::default()
        }));
        if i % 20 == 19 {
            control.expire_tokens_now();
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let logged = |w: &World| calls.iter().filter(|c| !w.tasks(c).is_empty()).count();
    eventually_within("every call logged", Duration::from_secs(120), || {
        logged(&w) == N
    })
    .await;
    control
        .apply(FaultUpdate {
            fail_rate: Some(0.0),
            ..Default::default()
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for c in &calls {
        let t = w.tasks(c);
        assert_eq!(t.len(), 1, "call {c}: {t:?}");
    }
    let counts = ctibridge_store::OutboxStore::outbox_counts(&w.running.state().store, None)
        .await
        .unwrap();
    assert_eq!(counts.done, N as u64, "{counts:?}");
    assert_eq!(counts.failed, 0);
    // The faults did bite: some items needed more than one attempt.
    let items = ctibridge_store::OutboxStore::list_outbox(
        &w.running.state().store,
        &ctibridge_store::OutboxFilter {
            instance: None,
            state: None,
            limit: 1_000,
        },
    )
    .await
    .unwrap();
    let attempts: u32 = items.iter().map(|i| i.attempts).sum();
    assert!(attempts > N as u32, "{attempts} attempts for {N} items");
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_rule_failure_is_kept_shown_and_retryable() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    w.org
        .control()
        .add_validation_rule(ValidationRule {
            object: "Task".into(),
            field: "Subject".into(),
            condition: RuleCondition::Contains("Call from".into()),
            message: "Subjects must name the product".into(),
        })
        .unwrap();
    let call = w.play(CallSpec {
        target: "1001".into(),
        number: "030 1112223".into(),
        ..Default::default()
    });
    let mut entry = Value::Null;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while entry["state"] != "failed" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never failed: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, list) = w
            .api(reqwest::Method::GET, "/panel/api/calls", &ben, None)
            .await;
        entry = list["calls"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["call_id"] == call.as_str()).cloned())
            .unwrap_or(Value::Null);
    }
    assert!(
        entry["error"]
            .as_str()
            .unwrap()
            .contains("Subjects must name the product"),
        "{entry}"
    );
    assert!(w.tasks(&call).is_empty());

    w.org
        .control()
        .apply(FaultUpdate {
            clear_validation_rules: Some(true),
            ..Default::default()
        })
        .unwrap();
    let (status, body) = w
        .api(
            reqwest::Method::POST,
            &format!("/panel/api/calls/{call}/retry"),
            &ben,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("the Task after the retry", || w.tasks(&call).len() == 1).await;
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_written_before_a_crash_is_found_and_not_written_again() {
    let w = world().await;
    let call_id = "crash-before-commit-1".to_owned();
    // As if an earlier run had POSTed the Task and died before marking the item done.
    let existing = w
        .org
        .control()
        .record(RecordOp::Create {
            object: "Task".into(),
            fields: serde_json::from_value(json!({
                "Subject": "Call", "CallObject": format!("{call_id}:1001"), "TaskSubtype": "Call"
            }))
            .unwrap(),
        })
        .unwrap();
    w.play(CallSpec {
        target: "1001".into(),
        number: "030 1112224".into(),
        call_id: Some(call_id.clone()),
        ..Default::default()
    });
    let state = w.running.state().clone();
    let key = format!("call:{call_id}:1001");
    let mut done = None;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while done.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "never done");
        tokio::time::sleep(Duration::from_millis(100)).await;
        done = ctibridge_store::OutboxStore::get_outbox_item_by_key(&state.store, &key)
            .await
            .unwrap()
            .filter(|i| i.state == ctibridge_store::OutboxState::Done);
    }
    assert_eq!(done.unwrap().result.unwrap()["task_id"], existing.as_str());
    assert_eq!(w.tasks(&call_id).len(), 1);
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_writes_pending_and_in_flight_neither_loses_nor_doubles_a_call() {
    let w = world().await;
    let control = w.org.control();
    // Slow and failing: when the connector stops, writes are pending and in flight.
    control
        .apply(FaultUpdate {
            fail_rate: Some(0.5),
            fail_status: Some(503),
            latency_ms: Some(150),
            ..Default::default()
        })
        .unwrap();
    const N: usize = 20;
    let mut calls = Vec::new();
    for i in 0..N {
        calls.push(w.play(CallSpec {
            target: "1001".into(),
            number: format!("030 7100{i:04}"),
            ring_steps: 1,
            talk_steps: 1,
            ..Default::default()
        }));
    }
    let state = w.running.state().clone();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let c = ctibridge_store::OutboxStore::outbox_counts(&state.store, None)
            .await
            .unwrap();
        if c.pending + c.in_flight + c.done + c.failed == N as u64 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{c:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(state);
    let written_before = calls.iter().filter(|c| !w.tasks(c).is_empty()).count();
    // Every task stops where it stands, as in a crash; the store is what survives.
    let World {
        org,
        pbx,
        running,
        http,
        _dir,
        ..
    } = w;
    running.shutdown().await;
    control
        .apply(FaultUpdate {
            fail_rate: Some(0.0),
            latency_ms: Some(0),
            ..Default::default()
        })
        .unwrap();
    let (running, base) = start(&org, &pbx, &_dir, |_| {}).await;
    let w = World {
        org,
        pbx,
        running,
        base,
        http,
        _dir,
    };
    eventually_within(
        "every call logged after the restart",
        Duration::from_secs(60),
        || calls.iter().all(|c| !w.tasks(c).is_empty()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for c in &calls {
        assert_eq!(
            w.tasks(c).len(),
            1,
            "call {c} ({written_before} written before the restart)"
        );
    }
    assert!(
        written_before < N,
        "the restart came too late to test anything"
    );
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_api_limit_pauses_the_outbox_without_counting_attempts() {
    let w = world().await;
    let state = w.running.state().clone();
    state.actions.outbox.set_limit_pause(Duration::from_secs(2));
    let control = w.org.control();
    control.set_api_daily_limit(1_000);
    control.set_api_used(1_000);
    let call = w.play(CallSpec {
        target: "1001".into(),
        number: "030 1112225".into(),
        ..Default::default()
    });
    eventually("the outbox to pause", || {
        state.actions.outbox.paused_until(INSTANCE).is_some()
    })
    .await;
    let key = format!("call:{call}:1001");
    let item = ctibridge_store::OutboxStore::get_outbox_item_by_key(&state.store, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.state, ctibridge_store::OutboxState::Pending);
    assert_eq!(item.attempts, 0, "a pause is not an attempt: {item:?}");
    assert!(w.tasks(&call).is_empty());

    control.set_api_daily_limit(1_000_000);
    eventually("the Task once the limit is free", || {
        w.tasks(&call).len() == 1
    })
    .await;
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_gets_its_owner_by_email_when_the_user_match_is_not_there_yet() {
    let w = world().await;
    let state = w.running.state().clone();
    // As right after a start, before the instance matched STARFACE and Salesforce users.
    state.update_instance(INSTANCE, |i| i.users.clear());
    let call = w.play(CallSpec {
        target: "1001".into(),
        number: "030 1112226".into(),
        ..Default::default()
    });
    eventually("the Task", || w.tasks(&call).len() == 1).await;
    assert_eq!(
        w.tasks(&call)[0]["OwnerId"],
        w.sf_user("ben.utzer@example.com").as_str()
    );
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_decides_which_calls_are_logged_and_how_missed_group_calls_are() {
    let w = world_with(|c| {
        let calls = &mut c.instances[0].calls;
        calls.log_outbound = false;
        calls.missed_group_calls = ctibridge_config::MissedGroupCalls::Each;
    })
    .await;
    let outbound = w.play(CallSpec {
        kind: CallKind::Outbound,
        target: "1001".into(),
        number: "030 1112227".into(),
        ..Default::default()
    });
    let missed = w.play(CallSpec {
        kind: CallKind::Group,
        target: "Sales".into(),
        number: "030 1112228".into(),
        answered: false,
        ..Default::default()
    });
    let inbound = w.play(CallSpec {
        target: "1001".into(),
        number: "030 1112229".into(),
        ..Default::default()
    });
    eventually("the inbound call and both missed legs logged", || {
        w.tasks(&inbound).len() == 1 && w.tasks(&missed).len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        w.tasks(&outbound).is_empty(),
        "outbound calls are not logged here"
    );
    let mut legs: Vec<String> = w
        .tasks(&missed)
        .iter()
        .map(|t| t["CallObject"].as_str().unwrap().to_owned())
        .collect();
    legs.sort();
    assert_eq!(
        legs,
        vec![format!("{missed}:1001"), format!("{missed}:1002")]
    );
    w.running.shutdown().await;
}
