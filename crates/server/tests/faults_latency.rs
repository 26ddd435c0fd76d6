//! Salesforce answering after 10 s (a TCP proxy holds every answer; the org has done the work
//! long before the connector hears of it). Calls still pop with their record from the index,
//! call logs are written once the answers come (one Task per call, never two), the sync
//! converges, and the status shows the lag.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::time::{Duration, Instant};

use ctibridge_server::status::LinkState;
use ctibridge_store::OutboxStore;
use support::proxy::Mode;
use support::*;

/// How late Salesforce answers: the 10 s, well under the client's 30 s timeout.
const SLOW: Duration = Duration::from_secs(10);
/// Bound on waits that include several 10 s answers in a row.
const SLOW_LIMIT: Duration = Duration::from_secs(75);
const CALLS: usize = 3;

/// Polls `done` until it holds, failing after [`SLOW_LIMIT`].
async fn eventually_slow(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SLOW_LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ben signed up for calls, the org behind a proxy that starts by passing everything (API
/// calls included), the sync every second.
async fn world_through_proxy() -> World {
    world_with(Wiring {
        salesforce_proxy: Some(Mode::Forward),
        salesforce_api_through_proxy: true,
        sync_interval: Some(Duration::from_secs(1)),
        credentials: vec![("1001", "ben-pass")],
        wait_ready: true,
        ..Default::default()
    })
    .await
}

/// A short inbound call from `number` to Ben, played until his panel shows it ended.
async fn short_call_to_ben(w: &World, ws: &mut Ws, number: &str) -> String {
    let id = w
        .pbx
        .control()
        .play(ctibridge_emulator_starface::CallSpec {
            target: "1001".into(),
            number: number.to_owned(),
            ring_steps: 1,
            talk_steps: 1,
            ..Default::default()
        })
        .unwrap();
    wait_frame(ws, |v| {
        v["call"]["id"] == id.as_str() && v["call"]["state"] == "ended"
    })
    .await;
    id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_answering_after_10_s_delays_call_logs_but_not_calls_and_doubles_no_task() {
    let w = world_through_proxy().await;
    let state = w.running.state().clone();
    eventually("the org to be read", || {
        w.salesforce_link() == LinkState::Ok
    })
    .await;
    // Sign-in goes through the org (OAuth pages): done while it is quick.
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let (number, record) = w.known_number();
    let org = w.org.control();
    let proxy = w.salesforce_proxy.as_ref().unwrap();

    proxy.set_mode(Mode::AnswerDelay(SLOW));
    let slow_since = Instant::now();
    // A change made while the org is slow: the sync has to bring it in anyway.
    let new_number = ctibridge_domain::E164::parse("+498955504321").unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("LastName".into(), "Langsam".into());
    fields.insert("Phone".into(), "+49 89 555 04321".into());
    let new_id = org
        .record(ctibridge_emulator_salesforce::RecordOp::Create {
            object: "Contact".into(),
            fields,
        })
        .unwrap();

    // The ring path asks Salesforce nothing: each call pops with its record from the index.
    let mut ids = Vec::new();
    for _ in 0..CALLS {
        let id = w
            .pbx
            .control()
            .play(ctibridge_emulator_starface::CallSpec {
                target: "1001".into(),
                number: number.clone(),
                ring_steps: 1,
                talk_steps: 1,
                ..Default::default()
            })
            .unwrap();
        let ringing = wait_frame(&mut ws, |v| v["call"]["id"] == id.as_str()).await;
        assert_eq!(
            ringing["call"]["matches"][0]["id"],
            record.as_str(),
            "{ringing}"
        );
        wait_frame(&mut ws, |v| {
            v["call"]["id"] == id.as_str() && v["call"]["state"] == "ended"
        })
        .await;
        ids.push(id);
    }
    let popped = slow_since.elapsed();
    // A bound, not a timing: had any step waited for one Salesforce answer, it would be over.
    assert!(
        popped < SLOW,
        "calls took {popped:?} while Salesforce was slow"
    );
    assert!(healthy(&w.base).await);
    let panel = reqwest::get(format!("{}/panel", w.base)).await.unwrap();
    assert_eq!(panel.status(), 200);

    // What the admin sees meanwhile: the call logs waiting in the outbox, the sync's last
    // cycle falling behind its 1 s interval.
    // (The panel may show a call ended a moment before its log is committed.)
    let mut counts = state.store.outbox_counts(None).await.unwrap();
    while counts.pending + counts.in_flight < CALLS as u64 {
        assert!(slow_since.elapsed() < SLOW, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        counts = state.store.outbox_counts(None).await.unwrap();
    }
    assert_eq!(counts.done, 0, "{counts:?}");
    eventually_slow("the status to show the sync lagging", || {
        state.status().instances[0]
            .sync
            .last_cycle_at
            .is_some_and(|t| chrono::Utc::now() - t > chrono::Duration::seconds(5))
    })
    .await;
    let status = reqwest::get(format!("{}/api/status", w.base))
        .await
        .unwrap();
    assert_eq!(status.status(), 200);

    // Call logs arrive once Salesforce answers, one Task per call, never a second.
    let deadline = Instant::now() + SLOW_LIMIT;
    loop {
        let n: Vec<usize> = ids.iter().map(|id| tasks_of(&w.org, id)).collect();
        assert!(n.iter().all(|&n| n <= 1), "a call got two Tasks: {n:?}");
        if n.iter().all(|&n| n == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "Tasks still missing: {n:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logged = slow_since.elapsed();
    assert!(
        logged >= SLOW,
        "a Task was written without waiting for the org"
    );
    let mut counts = state.store.outbox_counts(None).await.unwrap();
    let deadline = Instant::now() + SLOW_LIMIT;
    while counts.done < CALLS as u64 {
        assert!(Instant::now() < deadline, "outbox not done: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = state.store.outbox_counts(None).await.unwrap();
    }
    assert_eq!(counts.failed, 0, "{counts:?}");

    // The sync converges while the org stays slow.
    eventually_slow("the change made during the slowness in the index", || {
        state.lookup(INSTANCE).is_some_and(|l| {
            l.index
                .lookup(&new_number)
                .iter()
                .any(|m| m.record.id.to_string() == new_id)
        })
    })
    .await;
    let converged = slow_since.elapsed();
    eprintln!("popped {popped:?}, logged {logged:?}, converged {converged:?}");

    // Nothing doubles later either (a round in flight would have written by now).
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        assert_eq!(tasks_of(&w.org, id), 1, "call {id}");
    }
    assert_eq!(w.salesforce_link(), LinkState::Ok);
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_write_salesforce_did_but_never_answered_is_not_written_again() {
    let w = world_through_proxy().await;
    let state = w.running.state().clone();
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let (number, _) = w.known_number();
    // Every Task write reaches the org, and its answer is lost on the way back: what a
    // timeout after Salesforce committed looks like to the connector.
    let proxy = w.salesforce_proxy.as_ref().unwrap();
    proxy.set_mode(Mode::LoseAnswerTo("/composite/sobjects"));
    let mut ids = Vec::new();
    for _ in 0..CALLS {
        ids.push(short_call_to_ben(&w, &mut ws, &number).await);
    }
    // The Tasks exist while the connector still counts them as not written; the retry finds
    // them by CallObject instead of posting them again (which would lose its answer too and
    // add a second Task).
    let deadline = Instant::now() + SLOW_LIMIT;
    loop {
        let n: Vec<usize> = ids.iter().map(|id| tasks_of(&w.org, id)).collect();
        assert!(n.iter().all(|&n| n <= 1), "a call got two Tasks: {n:?}");
        let counts = state.store.outbox_counts(None).await.unwrap();
        assert_eq!(counts.failed, 0, "{counts:?}");
        if n.iter().all(|&n| n == 1) && counts.done == CALLS as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "{n:?} {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each log took a second attempt: the first one's answer was lost indeed.
    let done = state
        .store
        .list_outbox(&ctibridge_store::OutboxFilter {
            instance: None,
            state: Some(ctibridge_store::OutboxState::Done),
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(done.len(), CALLS);
    for item in &done {
        assert!(item.attempts >= 2, "written at the first attempt: {item:?}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        assert_eq!(tasks_of(&w.org, id), 1, "call {id}");
    }
    w.running.shutdown().await;
}

/// Plays a short call whose first Task write reaches the org, which writes nothing (a
/// validation rule refuses every call's Task), and whose answer is lost: to the connector it
/// is the same as a write that Salesforce is still busy with. From then on the org writes and
/// answers. Returns the call's id and when the connector saw the write fail.
async fn a_call_whose_first_task_write_gets_no_answer(w: &World) -> (String, Instant) {
    use ctibridge_emulator_salesforce::{RuleCondition, ValidationRule};
    let state = w.running.state().clone();
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let (number, _) = w.known_number();
    w.org
        .control()
        .add_validation_rule(ValidationRule {
            object: "Task".into(),
            field: "Subject".into(),
            condition: RuleCondition::Contains("Call".into()),
            message: "not now".into(),
        })
        .unwrap();
    let proxy = w.salesforce_proxy.as_ref().unwrap();
    proxy.set_mode(Mode::LoseAnswerTo("/composite/sobjects"));
    let id = short_call_to_ben(w, &mut ws, &number).await;
    let attempted = async || {
        let items = state
            .store
            .list_outbox(&ctibridge_store::OutboxFilter {
                instance: None,
                state: None,
                limit: 10,
            })
            .await
            .unwrap();
        items
            .iter()
            .any(|i| i.kind == "call_log" && i.last_error.is_some())
    };
    let deadline = Instant::now() + SLOW_LIMIT;
    while !attempted().await {
        assert!(Instant::now() < deadline, "the Task was never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_write = Instant::now();
    w.org
        .control()
        .apply(ctibridge_emulator_salesforce::FaultUpdate {
            clear_validation_rules: Some(true),
            ..Default::default()
        })
        .unwrap();
    proxy.set_mode(Mode::Forward);
    (id, first_write)
}

/// The Task of call `id` is not written before `settles` have passed since `first_write`
/// (the retries look for it and find none), and then once.
async fn written_once_after(w: &World, id: &str, first_write: Instant, settles: Duration) {
    while first_write.elapsed() < settles - Duration::from_millis(500) {
        assert_eq!(
            tasks_of(&w.org, id),
            0,
            "written again {:?} after the unanswered write",
            first_write.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + SLOW_LIMIT;
    while tasks_of(&w.org, id) == 0 {
        assert!(Instant::now() < deadline, "the Task was never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(tasks_of(&w.org, id), 1);
}

/// Lets the connector of `w` take an unanswered write as settled after `settles` (10.5
/// minutes in the product).
fn settle_after(w: &World, settles: Duration) {
    w.running
        .state()
        .actions
        .outbox
        .set_unanswered_write_settles(settles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_write_without_an_answer_is_not_written_again_before_salesforce_has_surely_finished_it()
 {
    let w = world_through_proxy().await;
    // Salesforce may carry out an unanswered request for 10 minutes; here for 4 s.
    const SETTLES: Duration = Duration::from_secs(4);
    settle_after(&w, SETTLES);
    let (id, first_write) = a_call_whose_first_task_write_gets_no_answer(&w).await;
    written_once_after(&w, &id, first_write, SETTLES).await;
    w.running.shutdown().await;
}

/// The wait survives a restart: the next process does not write the Task while the lost
/// write may still land (it did before the time was kept with the outbox item).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_write_a_task_again_while_an_unanswered_write_may_still_land() {
    let w = world_through_proxy().await;
    const SETTLES: Duration = Duration::from_secs(7);
    settle_after(&w, SETTLES);
    let (id, first_write) = a_call_whose_first_task_write_gets_no_answer(&w).await;
    let w = w.restarted().await;
    // Until this line the new process waits the full 10.5 minutes; either way it must not
    // write before `SETTLES`.
    settle_after(&w, SETTLES);
    let restarted_after = first_write.elapsed();
    assert!(
        restarted_after < SETTLES - Duration::from_secs(3),
        "the restart took {restarted_after:?}: too long for the test to show anything"
    );
    written_once_after(&w, &id, first_write, SETTLES).await;
    w.running.shutdown().await;
}
