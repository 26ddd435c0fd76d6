//! The load tool against the real parts, small: every mode delivers every call to every panel
//! of its user, pairs every frame with its callback, and the index lookup calls no Salesforce API.
//! Nothing here asserts a time: the tool measures, the tests check that it measures the
//! right thing.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

use std::time::Duration;

use ctibridge_domain::{CallTracker, StarfaceLoginId};
use ctibridge_loadtest::lookup::{self, LookupMode};
use ctibridge_loadtest::ring::{self, RingOptions};
use ctibridge_loadtest::world::{Runtimes, World, WorldOptions};
use ctibridge_starface::uci::{CallbackMessage, parse_callback};
use ctibridge_starface::xmlrpc::{MethodCall, Struct, Value};

fn options() -> WorldOptions {
    WorldOptions {
        users: 3,
        contacts: 200,
        leads: 80,
        accounts: 40,
        step_delay: Duration::from_millis(150),
        ready_timeout: Duration::from_secs(60),
        data_dir: None,
        min_numbers: 0,
        org_down: false,
    }
}

#[test]
fn every_mode_delivers_every_call_to_every_panel_and_the_index_calls_no_api() {
    let rt = Runtimes::new().unwrap();
    let load = rt.load.handle().clone();
    load.block_on(async {
        let opts = options();
        let world = World::start(&rt, &opts).await.unwrap();
        let (mut panels, failed) = ring::open_panels(&world, 6).await.unwrap();
        assert_eq!(failed, 0);
        assert_eq!(panels.users.len(), 6);
        let ring_opts = RingOptions {
            rate: 40.0,
            duration: Duration::from_secs(2),
            known_share: 1.0,
            seed: 3,
        };
        for mode in LookupMode::ALL {
            let r = ring::run_mode(&rt, &world, &panels, mode, &ring_opts, opts.step_delay).await;
            assert!(r.calls > 0, "{mode}: no calls");
            assert_eq!(r.play_errors, 0, "{mode}");
            assert_eq!(r.callback_errors, 0, "{mode}");
            assert_eq!(r.lookup_errors, 0, "{mode}");
            assert_eq!(r.unpaired_frames, 0, "{mode}");
            assert_eq!(r.missing_end_frames, 0, "{mode}");
            // Two panels per user, four events per call, each a frame at both panels.
            assert_eq!(r.frames as u64, r.callbacks * 2, "{mode}");
            assert_eq!(r.latency.count, r.frames, "{mode}");
            // Every call comes from a number the org has: with the index every ring shows a
            // record. SOSL compares digits and misses some spellings (`+49 (0)30 ...`).
            if mode == LookupMode::Sosl {
                assert!(r.ringing_with_match > 0, "{mode}: SOSL found nothing");
            } else {
                assert_eq!(r.ringing_with_match, r.ringing_frames, "{mode}");
            }
            match mode {
                LookupMode::Sosl => {
                    assert!(
                        r.api_calls >= r.callbacks,
                        "{mode}: {} API calls",
                        r.api_calls
                    )
                }
                LookupMode::Index => assert_eq!(r.api_calls, 0, "the index needs no API call"),
                // The connector logs ended calls as Tasks: API calls, but none for the lookup.
                LookupMode::Server => {}
            }
        }
        panels.close();
        world.shutdown(&rt).await;
    });
}

fn event(id: &str, state: &str, number: &str) -> ctibridge_domain::CallEvent {
    let body = MethodCall::new(
        "ucp.v22.events.call.receiveCallState",
        vec![Value::Struct(
            Struct::new()
                .with("id", id)
                .with("state", state)
                .with("callerNumber", number)
                .with("callerName", "")
                .with("calledNumber", "201")
                .with("calledName", "Ben Utzer"),
        )],
    )
    .to_xml();
    match parse_callback(body.as_bytes(), "de.vertico.starface.user=1001")
        .unwrap()
        .message
    {
        CallbackMessage::CallState(e) => e,
        CallbackMessage::Ignored => panic!("a call state"),
    }
}

#[test]
fn the_load_tools_index_lookup_gives_the_connectors_panel_call() {
    let rt = Runtimes::new().unwrap();
    let load = rt.load.handle().clone();
    load.block_on(async {
        let world = World::start(&rt, &options()).await.unwrap();
        let state = world.state().clone();
        let known = state.lookup(&world.instance).unwrap().samples[0];
        let national = format!("0{}", known.as_str().trim_start_matches("+49"));
        let mut tracker = CallTracker::new();
        let user = StarfaceLoginId::parse("1001").unwrap();
        let mut checked = 0;
        for (i, number) in [national.as_str(), "0301234567", "", "201"]
            .iter()
            .enumerate()
        {
            let id = format!("call-{i}");
            for st in ["INCOMING", "CONNECTED", "HANGUP"] {
                for u in tracker.apply(&event(&id, st, number), chrono::Utc::now()) {
                    assert_eq!(u.call.user, user);
                    let far = u.call.remote();
                    let (remote, matches) = lookup::identify(
                        LookupMode::Index,
                        &state,
                        &world.instance,
                        far.number.as_deref().unwrap_or(""),
                        far.name.as_deref(),
                    )
                    .await
                    .unwrap();
                    assert_eq!(
                        ctibridge_server::uci::panel_call_with(
                            &u.call,
                            remote,
                            matches,
                            u.call.group_id.clone()
                        ),
                        ctibridge_server::uci::panel_call(&state, &world.instance, &u.call)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 12, "{checked}");
        world.shutdown(&rt).await;
    });
}
