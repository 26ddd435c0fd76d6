//! The ring path's pure part on untrusted input: callback bodies (split at NUL bytes, several
//! per input, so that sequences of events are explored) are parsed for one session's user and
//! folded into a CallTracker. Never panics; the tracker's limits hold after every event; a
//! call the tracker reports has the session's user.
#![no_main]

use ctibridge_domain::{CallTracker, StarfaceLoginId, TrackerLimits};
use ctibridge_starface::uci::{CallbackMessage, parse_callback_for};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let user = StarfaceLoginId::parse("1001").expect("a valid login id");
    let limits = TrackerLimits {
        max_active_calls_per_user: 4,
        max_ended_calls_per_user: 4,
        ..TrackerLimits::default()
    };
    let mut tracker = CallTracker::with_limits(limits.clone());
    let mut now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a valid time");
    for (i, body) in data.split(|b| *b == 0).enumerate().take(32) {
        // The query may name a user too: vary it with the body's first byte.
        let query = match body.first() {
            Some(b) if b % 3 == 0 => "de.vertico.starface.user=1001",
            Some(b) if b % 3 == 1 => "de_vertico_starface_user=1002&de.vertico.starface.auth=x",
            _ => "",
        };
        let Ok(request) = parse_callback_for(body, query, &user) else {
            continue;
        };
        if let CallbackMessage::CallState(event) = &request.message {
            assert_eq!(event.user, user, "an event for another user got through");
            now += chrono::Duration::seconds(i64::try_from(i).unwrap_or(0) + 1);
            for update in tracker.apply(event, now) {
                assert_eq!(update.call.user, user);
            }
            let current = tracker.current_calls(&user);
            assert!(current.len() <= limits.max_active_calls_per_user);
            assert!(current.iter().all(|c| !c.is_ended()));
        }
        let _ = tracker.prune(now);
    }
});
