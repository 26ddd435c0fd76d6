//! Call events as the PBX reports them (`receiveCallState`), and the state machine that folds
//! them into calls ([`CallTracker`]).
//!
//! STARFACE sends one event per state change of a call and per user involved: a group call that
//! rings three users produces three streams of events with the same call id. Every field of an
//! event arrives as a string; unknown values are empty strings, a name may only come with a
//! later event, and the first event of a call can even have an empty state. This module turns
//! those strings into a [`CallEvent`] once, at the edge, and nothing after it deals with raw
//! text again.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::{CallId, CallIdError, CallState, StarfaceLoginId, excerpt};

mod tracker;

pub use tracker::{Call, CallChange, CallOutcome, CallTracker, CallUpdate, Party, TrackerLimits};

/// Longest name, number or group id we keep from an event; longer values are cut.
///
/// Nothing real comes near it; the limit keeps a broken or hostile PBX from making us hold
/// megabytes per call.
pub const MAX_FIELD_CHARS: usize = 255;

/// One `receiveCallState` event of one STARFACE user, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEvent {
    /// The STARFACE user whose session received the event.
    pub user: StarfaceLoginId,
    /// The PBX's call id (the same for every user in a group call).
    pub call_id: CallId,
    /// The state the call entered.
    pub state: CallState,
    /// When it happened by the PBX's clock, if the event said so in a form we can place on the
    /// time line (see [`parse_pbx_timestamp`]).
    pub timestamp: Option<DateTime<Utc>>,
    /// The calling party's number, as the PBX wrote it.
    pub caller_number: Option<String>,
    /// The calling party's name.
    pub caller_name: Option<String>,
    /// The called party's number, as the PBX wrote it.
    pub called_number: Option<String>,
    /// The called party's name.
    pub called_name: Option<String>,
    /// The group the call came in through (`groupID`), if any.
    pub group_id: Option<String>,
}

/// The text fields of a `receiveCallState` struct, as received; a missing member is the empty
/// string (STARFACE sends unknown values as empty strings, so the two mean the same).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallEventFields {
    /// `id`.
    pub id: String,
    /// `state`.
    pub state: String,
    /// `timestamp` (type undocumented: epoch milliseconds, epoch seconds or ISO 8601).
    pub timestamp: String,
    /// `callerNumber`.
    pub caller_number: String,
    /// `callerName`.
    pub caller_name: String,
    /// `calledNumber`.
    pub called_number: String,
    /// `calledName`.
    pub called_name: String,
    /// `groupID`.
    pub group_id: String,
}

/// Why a struct cannot be a call event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallEventError {
    /// The event has no (or an empty) `id`: it cannot be tied to a call.
    #[error("the call event has no call id (member `id` is missing or empty)")]
    MissingId,
    /// The `id` is not a usable call id.
    #[error("the call event's id is not a call id: {0}")]
    BadId(#[source] CallIdError),
}

impl CallEvent {
    /// Builds an event of `user` from the struct's text fields.
    ///
    /// Only the id is required. Text is trimmed; empty values become `None`; values longer
    /// than [`MAX_FIELD_CHARS`] are cut. A timestamp that cannot be read is dropped rather than
    /// failing the event: the call matters more than its clock (use [`parse_pbx_timestamp`]
    /// first to log it).
    pub fn from_fields(
        user: StarfaceLoginId,
        fields: &CallEventFields,
    ) -> Result<Self, CallEventError> {
        let id = fields.id.trim();
        if id.is_empty() {
            return Err(CallEventError::MissingId);
        }
        let call_id = CallId::parse(id).map_err(CallEventError::BadId)?;
        Ok(Self {
            user,
            call_id,
            state: CallState::parse(&fields.state),
            timestamp: parse_pbx_timestamp(&fields.timestamp).unwrap_or(None),
            caller_number: text(&fields.caller_number),
            caller_name: text(&fields.caller_name),
            called_number: text(&fields.called_number),
            called_name: text(&fields.called_name),
            group_id: text(&fields.group_id),
        })
    }
}

/// Trimmed, cut to [`MAX_FIELD_CHARS`], `None` when empty.
fn text(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    Some(match t.char_indices().nth(MAX_FIELD_CHARS) {
        Some((cut, _)) => t[..cut].trim_end().to_owned(),
        None => t.to_owned(),
    })
}

/// A `timestamp` that is neither empty nor in a form we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the call event timestamp `{0}` is neither epoch seconds/milliseconds nor ISO 8601 date-time"
)]
pub struct TimestampError(String);

/// Reads the `timestamp` of a call event, whose type STARFACE does not document.
///
/// Accepted: empty or `0` (no time: `Ok(None)`); a decimal number of seconds, milliseconds,
/// microseconds or nanoseconds since 1970 (told apart by size: below 10^11 is seconds, i.e.
/// anything up to the year 5138; fractions allowed); ISO 8601 / RFC 3339 with `Z` or an offset
/// (`2025-03-01T10:00:00+01:00`, also with a space instead of `T`); XML-RPC's
/// `20250301T10:00:00`; and ISO 8601 without zone, which is read as UTC (an assumption: a PBX
/// that sends local time without a zone leaves us no better choice).
pub fn parse_pbx_timestamp(raw: &str) -> Result<Option<DateTime<Utc>>, TimestampError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || TimestampError(excerpt(raw));
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch(s).ok_or_else(bad);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y%m%dT%H:%M:%S",
        "%Y%m%dT%H%M%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Some(Utc.from_utc_datetime(&t)));
        }
    }
    Err(bad())
}

/// Epoch seconds/milliseconds/microseconds/nanoseconds; `Some(None)` for zero.
fn epoch(s: &str) -> Option<Option<DateTime<Utc>>> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || frac.contains('.') || int.len() > 19 {
        return None;
    }
    let whole: u64 = int.parse().ok()?;
    if whole == 0 {
        return Some(None);
    }
    // Scale everything to nanoseconds; the size of the number tells its unit.
    let (unit_nanos, unit_digits): (u64, usize) = match whole {
        0..100_000_000_000 => (1_000_000_000, 9),
        100_000_000_000..100_000_000_000_000 => (1_000_000, 6),
        100_000_000_000_000..100_000_000_000_000_000 => (1_000, 3),
        _ => (1, 0),
    };
    let frac_digits: String = frac.chars().take(unit_digits).collect();
    let frac_nanos: u64 = if frac_digits.is_empty() {
        0
    } else {
        let padded = format!("{frac_digits:0<unit_digits$}");
        padded.parse().ok()?
    };
    let nanos = u128::from(whole) * u128::from(unit_nanos) + u128::from(frac_nanos);
    let secs = i64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    DateTime::from_timestamp(secs, sub).map(Some)
}

impl fmt::Display for CallEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} for user {}",
            self.call_id,
            if self.state.as_str().is_empty() {
                "(empty state)"
            } else {
                self.state.as_str()
            },
            self.user
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn user() -> StarfaceLoginId {
        StarfaceLoginId::parse("1001").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn full_event_parses_with_empty_fields_as_none() {
        let fields = CallEventFields {
            id: "5b8a3f52-1c4e-4b7e-9a49-0f7c2d2e9a11".into(),
            state: "RINGING".into(),
            timestamp: "1700000000123".into(),
            caller_number: " 004930123456 ".into(),
            caller_name: String::new(),
            called_number: "201".into(),
            called_name: "Ben Utzer".into(),
            group_id: "  ".into(),
        };
        let e = CallEvent::from_fields(user(), &fields).unwrap();
        assert_eq!(e.call_id.as_str(), "5b8a3f52-1c4e-4b7e-9a49-0f7c2d2e9a11");
        assert_eq!(e.state, CallState::Ringing);
        assert_eq!(e.timestamp, Some(at("2023-11-14T22:13:20.123Z")));
        assert_eq!(e.caller_number.as_deref(), Some("004930123456"));
        assert_eq!(e.caller_name, None);
        assert_eq!(e.called_number.as_deref(), Some("201"));
        assert_eq!(e.called_name.as_deref(), Some("Ben Utzer"));
        assert_eq!(e.group_id, None);
        assert_eq!(e.user, user());
    }

    #[test]
    fn event_without_id_is_rejected_and_bad_ids_say_why() {
        let mut fields = CallEventFields {
            state: "RINGING".into(),
            ..CallEventFields::default()
        };
        assert_eq!(
            CallEvent::from_fields(user(), &fields),
            Err(CallEventError::MissingId)
        );
        fields.id = "a b".into();
        let err = CallEvent::from_fields(user(), &fields).unwrap_err();
        assert!(matches!(err, CallEventError::BadId(_)));
        assert!(err.to_string().contains("not a call id"), "{err}");
    }

    #[test]
    fn empty_state_and_unreadable_timestamp_do_not_reject_the_event() {
        let fields = CallEventFields {
            id: "x1".into(),
            timestamp: "yesterday".into(),
            ..CallEventFields::default()
        };
        let e = CallEvent::from_fields(user(), &fields).unwrap();
        assert_eq!(e.state, CallState::Empty);
        assert_eq!(e.timestamp, None);
    }

    #[test]
    fn overlong_fields_are_cut() {
        let fields = CallEventFields {
            id: "x1".into(),
            caller_name: "ä".repeat(1000),
            ..CallEventFields::default()
        };
        let e = CallEvent::from_fields(user(), &fields).unwrap();
        assert_eq!(e.caller_name.unwrap().chars().count(), MAX_FIELD_CHARS);
    }

    #[test]
    fn timestamps_in_epoch_units_are_told_apart_by_size() {
        let t = at("2023-11-14T22:13:20Z");
        assert_eq!(parse_pbx_timestamp("1700000000"), Ok(Some(t)));
        assert_eq!(parse_pbx_timestamp("1700000000000"), Ok(Some(t)));
        assert_eq!(parse_pbx_timestamp("1700000000000000"), Ok(Some(t)));
        assert_eq!(parse_pbx_timestamp("1700000000000000000"), Ok(Some(t)));
        assert_eq!(
            parse_pbx_timestamp("1700000000.5"),
            Ok(Some(at("2023-11-14T22:13:20.5Z")))
        );
        assert_eq!(
            parse_pbx_timestamp("1700000000123.9"),
            Ok(Some(at("2023-11-14T22:13:20.123900Z")))
        );
        assert_eq!(parse_pbx_timestamp(""), Ok(None));
        assert_eq!(parse_pbx_timestamp(" 0 "), Ok(None));
    }

    #[test]
    fn iso_timestamps_with_and_without_zone_are_read() {
        let t = at("2025-03-01T09:00:00Z");
        for s in [
            "2025-03-01T10:00:00+01:00",
            "2025-03-01T09:00:00Z",
            "2025-03-01 10:00:00+01:00",
            "2025-03-01 10:00:00+0100",
            "2025-03-01T09:00:00",
            "2025-03-01 09:00:00.000",
            "20250301T09:00:00",
            "20250301T090000",
        ] {
            assert_eq!(parse_pbx_timestamp(s), Ok(Some(t)), "{s}");
        }
    }

    #[test]
    fn junk_timestamps_are_errors_never_panics() {
        for s in [
            "abc",
            "1.2.3",
            ".5",
            "99999999999999999999999",
            "2025-13-01T00:00:00",
            "+1700000000",
            "-5",
            "١٧٠٠",
        ] {
            assert!(parse_pbx_timestamp(s).is_err(), "{s}");
        }
    }
}
