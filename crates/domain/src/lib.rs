//! Domain types of ctibridge, parsed at the edge.
//!
//! Every type here is a value that was checked when it was made: once you hold an [`E164`], a
//! [`SalesforceId`] or a [`LoginUrl`], no later code needs to check it again. Each parses with
//! `parse`/[`FromStr`](std::str::FromStr), prints with `Display`, serialises as its string form
//! and deserialises through `parse`, so a bad value in a config file or a JSON body is rejected
//! with the same message as anywhere else. No I/O lives here.
//!
//! Parsing never panics, whatever the input (junk, control characters, megabytes of text);
//! error messages quote at most a short excerpt of the input.

mod call;
mod call_event;
mod e164;
mod email;
mod login_url;
mod record;
mod salesforce_id;
mod serde_str;
mod starface;

pub use call::{CallId, CallIdError, CallState, Direction, DirectionError};
pub use call_event::{
    Call, CallChange, CallEvent, CallEventError, CallEventFields, CallOutcome, CallTracker,
    CallUpdate, MAX_FIELD_CHARS, Party, TimestampError, TrackerLimits, parse_pbx_timestamp,
};
pub use e164::{E164, E164Error};
pub use email::{Email, EmailError};
pub use login_url::{LoginUrl, LoginUrlError, LoginUrlFix, LoginUrlKind};
pub use record::{ObjectType, ObjectTypeError, RecordRef};
pub use salesforce_id::{SalesforceId, SalesforceIdError};
pub use starface::{StarfaceLoginId, StarfaceLoginIdError};

/// A short, printable excerpt of untrusted input for error messages.
///
/// Error texts end up in logs and the admin UI; quoting a megabyte of junk or raw control
/// characters there would be worse than the error itself.
pub(crate) fn excerpt(input: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out: String = input
        .chars()
        .take(MAX_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if input.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::excerpt;

    #[test]
    fn excerpt_truncates_long_input_and_escapes_control_characters() {
        assert_eq!(excerpt("a\nb"), "a\\nb");
        let long = "x".repeat(1000);
        let e = excerpt(&long);
        assert!(e.ends_with('…'));
        assert_eq!(e.chars().count(), 41);
        assert_eq!(excerpt(&"y".repeat(40)), "y".repeat(40));
    }
}
