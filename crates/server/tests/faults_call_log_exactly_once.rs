//! Fault test of call logging: the org fails half of its requests and expires its tokens
//! every 20 ended calls; the real `ctibridge serve` process is SIGKILLed at random points
//! while 200 calls over three users end, and restarted on the same port and data directory.
//! In the end every call has exactly one Task (counted by `CallObject` on the org emulator)
//! and there is no other.
//!
//! Assumption (checked below): every call lasts longer than a restart takes, so each call is
//! alive at some moment the connector listens. A call that starts and ends while no process
//! runs is unknown to the connector and cannot be logged (STARFACE does not resend events).

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ctibridge_emulator_starface::{CallKind, CallSpec};
use support::served::{Served, free_port, write_config};
use support::*;

const CALLS: usize = 200;
const KILLS: usize = 4;
const USERS: [(&str, &str, &str); 3] = [
    ("1001", "ben-pass", "ben.utzer@example.com"),
    ("1002", "clara-pass", "clara.klein@example.com"),
    ("1004", "eva-pass", "eva.engel@example.com"),
];
/// Time between two events of a call: calls last 8 to 14 s, longer than a restart.
const STEP: Duration = Duration::from_millis(500);
/// Shortest call: 2 steps of ringing + at least 14 more; a restart (1-3 s dead, then up
/// and logged in again) takes less.
const SHORTEST_CALL: Duration = Duration::from_secs(8);
/// A call starts every this often: 200 calls over 50 s, 10-15 at once per user.
const PACE: Duration = Duration::from_millis(250);
const SEED: u64 = 0x5eed_ca11;

/// splitmix64: a seeded, reproducible sequence without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn sessions_up(pbx: &ctibridge_emulator_starface::RunningPbx, not: &[u64]) -> Option<Vec<u64>> {
    let sessions = pbx.control().sessions();
    USERS
        .iter()
        .map(|(login, ..)| {
            sessions
                .iter()
                .find(|s| {
                    s.login == *login
                        && s.callback.is_some()
                        && !s.subscriptions.is_empty()
                        && !not.contains(&s.id)
                })
                .map(|s| s.id)
        })
        .collect()
}

/// Tasks per CallObject on the org.
fn call_objects(org: &ctibridge_emulator_salesforce::RunningOrg) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for t in org.control().records("Task") {
        if let Some(co) = t["CallObject"].as_str() {
            *seen.entry(co.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

fn unheard(org: &ctibridge_emulator_salesforce::RunningOrg) -> usize {
    org.control()
        .records("Task")
        .iter()
        .filter(|t| {
            t["Description"]
                .as_str()
                .is_some_and(|d| d.contains("did not hear this call end"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_logged_exactly_once_through_org_faults_and_sigkills() {
    let began = Instant::now();
    let org = ctibridge_emulator_salesforce::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, pbx.url(), org.url(), "info");
    let mut runs = 1;
    let mut served = Served::start(&config, port, dir.path().join("run1.stderr")).await;

    // The users sign in to the panel once and store their STARFACE passwords (encrypted):
    // every restarted process brings their sessions back without them.
    for (login, password, username) in USERS {
        let token = sign_in(&served.base, username).await;
        let r = reqwest::Client::new()
            .put(format!("{}/panel/api/starface-credentials", served.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "credentials of {login}");
    }
    let mut sessions = Vec::new();
    // Sessions of killed processes live on at the PBX until they time out: never count them.
    let mut gone: Vec<u64> = Vec::new();
    eventually("every user's UCI session", || {
        match sessions_up(&pbx, &[]) {
            Some(s) => sessions = s,
            None => return false,
        }
        true
    })
    .await;

    // The demo org comes with Tasks of its own: only the ones written from now on count.
    let seeded = call_objects(&org);
    org.control().set_fail_rate(0.5, 503).unwrap();
    let mut rng = Rng(SEED);
    let mut calls: Vec<(String, String)> = Vec::new(); // (call id, login)
    // What each call's Task must say: (CallType, CallDisposition).
    let mut wanted: HashMap<String, (&str, &str)> = HashMap::new();
    let first_end = SHORTEST_CALL;
    let last_start = PACE * u32::try_from(CALLS).unwrap();
    // Kill points spread over the time calls end, at least 8 s apart.
    let mut kill_at: Vec<Duration> = Vec::new();
    let window = last_start.as_millis() as u64 - first_end.as_millis() as u64;
    for k in 0..KILLS as u64 {
        let slot = window / KILLS as u64;
        let at = first_end.as_millis() as u64 + k * slot + rng.below(slot.saturating_sub(2_000));
        kill_at.push(Duration::from_millis(at));
    }
    let mut kills = Vec::new();
    let mut expired_at = 0usize;
    let mut expirations = 0usize;
    let driver_start = Instant::now();
    let mut next_call = Duration::ZERO;
    let mut longest_restart = Duration::ZERO;
    loop {
        let now = driver_start.elapsed();
        if calls.len() < CALLS && now >= next_call {
            let (login, ..) = USERS[calls.len() % USERS.len()];
            let kind = match rng.below(10) {
                0..=5 => CallKind::Inbound,
                6..=7 => CallKind::Missed,
                _ => CallKind::Outbound,
            };
            let spec = CallSpec {
                kind,
                target: login.into(),
                number: format!("+49 30 555{:04}", calls.len()),
                answered: kind != CallKind::Outbound || rng.below(4) != 0,
                step_delay: Some(STEP),
                ring_steps: 2 + u32::try_from(rng.below(3)).unwrap(),
                talk_steps: 14 + u32::try_from(rng.below(10)).unwrap(),
                ..Default::default()
            };
            let fields = match (spec.kind, spec.answered) {
                (CallKind::Outbound, true) => ("Outbound", "answered"),
                (CallKind::Outbound, false) => ("Outbound", "not reached"),
                (CallKind::Missed, _) => ("Inbound", "missed"),
                _ => ("Inbound", "answered"),
            };
            let id = pbx.control().play(spec).unwrap();
            wanted.insert(format!("{id}:{login}"), fields);
            calls.push((id, login.to_owned()));
            next_call += PACE;
        }
        if kills.len() < kill_at.len() && now >= kill_at[kills.len()] {
            let down = Instant::now();
            served.kill();
            // Dead for a while, as a supervisor's restart delay would keep it: calls end and
            // start meanwhile.
            tokio::time::sleep(Duration::from_millis(1_000 + rng.below(2_000))).await;
            runs += 1;
            served =
                Served::start(&config, port, dir.path().join(format!("run{runs}.stderr"))).await;
            gone.extend(sessions.iter().copied());
            eventually("the sessions back after a restart", || {
                match sessions_up(&pbx, &gone) {
                    Some(s) => sessions = s,
                    None => return false,
                }
                true
            })
            .await;
            let took = down.elapsed();
            longest_restart = longest_restart.max(took);
            kills.push((now, took));
        }
        let ended = calls
            .iter()
            .filter(|(id, _)| pbx.control().call_finished(id) == Some(true))
            .count();
        if ended / 20 > expired_at {
            expired_at = ended / 20;
            org.control().expire_tokens_now();
            expirations += 1;
        }
        if ended == CALLS {
            break;
        }
        assert!(
            driver_start.elapsed() < Duration::from_secs(150),
            "the calls did not end: {ended} of {CALLS}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let driven = driver_start.elapsed();
    assert_eq!(kills.len(), KILLS, "every kill happened while calls ended");
    assert!(
        longest_restart < SHORTEST_CALL,
        "the test's assumption fails: a restart took {longest_restart:?}, longer than the \
         shortest call ({SHORTEST_CALL:?}), so a call may have been alive only while no \
         process listened"
    );

    org.control().set_fail_rate(0.0, 503).unwrap();
    let expected: HashMap<String, ()> = calls
        .iter()
        .map(|(id, login)| (format!("{id}:{login}"), ()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen;
    loop {
        seen = call_objects(&org);
        if expected.keys().all(|co| seen.contains_key(co)) {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<&String> = expected
                .keys()
                .filter(|co| !seen.contains_key(*co))
                .collect();
            // Keep the logs and the store of every run for a look.
            let kept = dir.path().to_owned();
            std::mem::forget(dir);
            panic!(
                "{} of {CALLS} calls have no Task after {:?} (kills at {kills:?}; runs kept in \
                 {}), e.g. {:?}",
                missing.len(),
                began.elapsed(),
                kept.display(),
                &missing[..missing.len().min(5)]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Writes still in flight could only add doubles: give them a moment to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    seen = call_objects(&org);
    seen.retain(|co, _| !seeded.contains_key(co));
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "calls logged more than once: {doubled:?}"
    );
    let extra: Vec<_> = seen
        .keys()
        .filter(|co| !expected.contains_key(*co))
        .collect();
    assert!(extra.is_empty(), "Tasks of no call: {extra:?}");
    assert_eq!(seen.len(), CALLS);
    // What a killed process saw (the start, the answer, the direction) reached the Task:
    // an answer or a start nobody heard was asked of the PBX after the restart.
    let mut wrong = Vec::new();
    for t in org.control().records("Task") {
        let Some(co) = t["CallObject"].as_str() else {
            continue;
        };
        if let Some((call_type, disposition)) = wanted.get(co)
            && (t["CallType"] != *call_type || t["CallDisposition"] != *disposition)
        {
            wrong.push(format!(
                "{co}: {} {} instead of {call_type} {disposition}",
                t["CallType"], t["CallDisposition"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} Tasks say the wrong thing: {wrong:#?}",
        wrong.len()
    );
    let unheard = unheard(&org);
    eprintln!(
        "{CALLS} calls over {} users, {} kills (restart took at most {longest_restart:?}), \
         {expirations} token expiries, {unheard} calls logged from the journal after their end \
         was missed; calls driven in {driven:?}, all logged once after {:?}",
        USERS.len(),
        kills.len(),
        began.elapsed()
    );
    // The kills must have hit the window this test is about: ends nobody heard.
    assert!(unheard > 0, "no call ended while the connector was down");
    for r in 1..=runs {
        let text = std::fs::read_to_string(dir.path().join(format!("run{r}.stderr"))).unwrap();
        assert!(!text.contains("panicked"), "run {r}: {text}");
    }
    drop(served);
}

fn task_of(
    org: &ctibridge_emulator_salesforce::RunningOrg,
    call_object: &str,
) -> Option<serde_json::Value> {
    org.control()
        .records("Task")
        .into_iter()
        .find(|t| t["CallObject"] == call_object)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_typed_during_a_call_survive_a_sigkill_whether_the_call_ends_while_down_or_after() {
    let org = ctibridge_emulator_salesforce::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, pbx.url(), org.url(), "info");
    let served = Served::start(&config, port, dir.path().join("run1.stderr")).await;
    let token = sign_in(&served.base, "ben.utzer@example.com").await;
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{}/panel/api/starface-credentials", served.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"login": "1001", "password": "ben-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (mut ws, _) = connect(&served.base, &token).await;
    // Two calls that stay up until hung up: one ends while no process runs, one after.
    let mut ids = Vec::new();
    for n in ["+49 30 5551001", "+49 30 5551002"] {
        let id = pbx
            .control()
            .play(CallSpec {
                target: "1001".into(),
                number: n.into(),
                ring_steps: 1,
                talk_steps: 0,
                ..Default::default()
            })
            .unwrap();
        wait_frame(&mut ws, |v| {
            v["call"]["id"] == id.as_str() && v["call"]["state"] == "connected"
        })
        .await;
        ids.push(id);
    }
    for (i, id) in ids.iter().enumerate() {
        let r = http
            .put(format!("{}/panel/api/calls/{id}/notes", served.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"notes": format!("wants quote {i}"), "result": "Callback"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["log"], "none");
    }
    drop(ws);
    let first_session: Vec<u64> = pbx.control().sessions().iter().map(|s| s.id).collect();
    served.kill();
    assert!(
        pbx.control().hangup(&ids[0]).unwrap(),
        "the first call ends while down"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let served = Served::start(&config, port, dir.path().join("run2.stderr")).await;
    eventually("Ben's session back", || {
        pbx.control().sessions().iter().any(|s| {
            s.login == "1001" && !s.subscriptions.is_empty() && !first_session.contains(&s.id)
        })
    })
    .await;
    let down = task_of_eventually(&org, &format!("{}:1001", ids[0])).await;
    assert!(pbx.control().hangup(&ids[1]).unwrap());
    let after = task_of_eventually(&org, &format!("{}:1001", ids[1])).await;
    for (i, t) in [&down, &after].into_iter().enumerate() {
        let d = t["Description"].as_str().unwrap();
        assert!(d.starts_with(&format!("wants quote {i}")), "{t}");
        assert_eq!(t["CallDisposition"], "answered: Callback", "{t}");
        assert_eq!(t["CallType"], "Inbound", "{t}");
    }
    assert!(
        down["Description"]
            .as_str()
            .unwrap()
            .contains("the duration is approximate"),
        "{down}"
    );
    assert!(
        !after["Description"]
            .as_str()
            .unwrap()
            .contains("approximate"),
        "the end of the second call was heard: {after}"
    );
    // The second call's start was seen by the killed process: its Task starts there.
    assert!(
        after["CallDurationInSeconds"].as_i64().unwrap() >= 1,
        "{after}"
    );
    drop(served);
}

async fn task_of_eventually(
    org: &ctibridge_emulator_salesforce::RunningOrg,
    call_object: &str,
) -> serde_json::Value {
    let mut found = None;
    eventually(&format!("the Task of {call_object}"), || {
        found = task_of(org, call_object);
        found.is_some()
    })
    .await;
    found.unwrap()
}
