//! Calls as the PBX reports them: call ids, call states and directions.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use crate::excerpt;
use crate::serde_str::serde_via_str;

/// Longest call id we accept: `Task.CallObject` holds 255 characters and carries the call id.
const CALL_ID_MAX_CHARS: usize = 255;

/// A STARFACE call id: non-empty, at most 255 characters, no whitespace or control characters.
///
/// STARFACE sends UUIDs, but nothing documents that it always will, so any printable token is
/// accepted. The limit comes from `Task.CallObject`, where the id becomes the idempotency key
/// of the call log.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

/// Why a string is not a call id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallIdError {
    /// The id was empty.
    #[error("the call id is empty")]
    Empty,
    /// More than 255 characters.
    #[error("the call id has {0} characters; at most 255 fit Task.CallObject")]
    TooLong(usize),
    /// A whitespace or control character.
    #[error(
        "the call id `{input}` contains {found:?} at position {position}; ids are printable tokens without whitespace"
    )]
    BadCharacter {
        /// Excerpt of the input.
        input: String,
        /// The offending character.
        found: char,
        /// Its character position.
        position: usize,
    },
}

impl CallId {
    /// Parses a call id as received from the PBX.
    pub fn parse(input: &str) -> Result<Self, CallIdError> {
        if input.is_empty() {
            return Err(CallIdError::Empty);
        }
        let mut count = 0;
        for (position, c) in input.chars().enumerate() {
            if c.is_whitespace() || c.is_control() {
                return Err(CallIdError::BadCharacter {
                    input: excerpt(input),
                    found: c,
                    position,
                });
            }
            count += 1;
        }
        if count > CALL_ID_MAX_CHARS {
            return Err(CallIdError::TooLong(count));
        }
        Ok(Self(input.to_owned()))
    }

    /// A fresh random id (UUID v4), for calls we place ourselves.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({})", self.0)
    }
}

impl FromStr for CallId {
    type Err = CallIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for CallId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_via_str!(CallId, "a STARFACE call id");

/// The state of a call as STARFACE reports it in `receiveCallState`.
///
/// Parsing never fails: the first event of a call can carry an empty state ([`CallState::Empty`]),
/// and newer PBXs may send states this build does not know, such as hold or park
/// ([`CallState::Unknown`], keeping the text). The state machine decides what to do with them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallState {
    /// Outbound: the PBX is dialling.
    Proceeding,
    /// Outbound: the far end rings.
    Ringback,
    /// Inbound: a call arrives.
    Incoming,
    /// Inbound: our phone rings.
    Ringing,
    /// The call is answered.
    Connected,
    /// The call ended (answered before if `Connected` was seen, otherwise missed).
    Hangup,
    /// The event carried an empty state.
    Empty,
    /// A state this build does not know, as sent (trimmed).
    Unknown(String),
}

impl CallState {
    /// Reads a state name; case and surrounding whitespace do not matter.
    pub fn parse(input: &str) -> Self {
        let s = input.trim();
        let known = [
            ("PROCEEDING", Self::Proceeding),
            ("RINGBACK", Self::Ringback),
            ("INCOMING", Self::Incoming),
            ("RINGING", Self::Ringing),
            ("CONNECTED", Self::Connected),
            ("HANGUP", Self::Hangup),
        ];
        if s.is_empty() {
            return Self::Empty;
        }
        known
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map_or_else(|| Self::Unknown(s.to_owned()), |(_, state)| state)
    }

    /// The wire name (`RINGING`, ...); empty for [`CallState::Empty`].
    pub fn as_str(&self) -> &str {
        match self {
            Self::Proceeding => "PROCEEDING",
            Self::Ringback => "RINGBACK",
            Self::Incoming => "INCOMING",
            Self::Ringing => "RINGING",
            Self::Connected => "CONNECTED",
            Self::Hangup => "HANGUP",
            Self::Empty => "",
            Self::Unknown(s) => s,
        }
    }

    /// The direction this state implies on its own: outbound for `PROCEEDING`/`RINGBACK`,
    /// inbound for `INCOMING`/`RINGING`, none for the rest.
    pub fn direction_hint(&self) -> Option<Direction> {
        match self {
            Self::Proceeding | Self::Ringback => Some(Direction::Outbound),
            Self::Incoming | Self::Ringing => Some(Direction::Inbound),
            _ => None,
        }
    }

    /// Whether the call is over.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Hangup)
    }
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CallState {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

serde_via_str!(CallState, "a STARFACE call state such as RINGING");

/// Which way a call goes, seen from our user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From outside to our user.
    Inbound,
    /// From our user to outside.
    Outbound,
    /// Between two internal numbers of the PBX.
    Internal,
}

/// Why a string is not a direction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a call direction; expected inbound, outbound or internal")]
pub struct DirectionError(String);

impl Direction {
    /// Reads `inbound`, `outbound` or `internal` (any case).
    pub fn parse(input: &str) -> Result<Self, DirectionError> {
        let s = input.trim();
        [Self::Inbound, Self::Outbound, Self::Internal]
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| DirectionError(excerpt(input)))
    }

    /// The lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Direction {
    type Err = DirectionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

serde_via_str!(Direction, "inbound, outbound or internal");

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn uuid_and_other_printable_tokens_are_call_ids() {
        for s in [
            "5b8a3f52-1c4e-4b7e-9a49-0f7c2d2e9a11",
            "abc",
            "x".repeat(255).as_str(),
            "äöü-1",
        ] {
            assert_eq!(CallId::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn empty_long_and_whitespace_call_ids_are_rejected() {
        assert_eq!(CallId::parse(""), Err(CallIdError::Empty));
        assert_eq!(
            CallId::parse(&"x".repeat(256)),
            Err(CallIdError::TooLong(256))
        );
        assert!(matches!(
            CallId::parse("ab cd"),
            Err(CallIdError::BadCharacter {
                found: ' ',
                position: 2,
                ..
            })
        ));
        assert!(matches!(
            CallId::parse("ab\u{0}"),
            Err(CallIdError::BadCharacter { .. })
        ));
        assert!(matches!(
            CallId::parse(" abc"),
            Err(CallIdError::BadCharacter { .. })
        ));
    }

    #[test]
    fn generated_call_ids_are_valid_and_distinct() {
        let a = CallId::generate();
        let b = CallId::generate();
        assert_ne!(a, b);
        assert_eq!(CallId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn known_states_parse_in_any_case_and_print_their_wire_name() {
        for (s, state) in [
            ("PROCEEDING", CallState::Proceeding),
            ("ringback", CallState::Ringback),
            (" Incoming ", CallState::Incoming),
            ("RINGING", CallState::Ringing),
            ("CONNECTED", CallState::Connected),
            ("HANGUP", CallState::Hangup),
        ] {
            let parsed = CallState::parse(s);
            assert_eq!(parsed, state);
            assert_eq!(parsed.to_string(), s.trim().to_ascii_uppercase());
        }
    }

    #[test]
    fn empty_state_is_distinct_from_unknown_states() {
        assert_eq!(CallState::parse(""), CallState::Empty);
        assert_eq!(CallState::parse("  "), CallState::Empty);
        assert_eq!(
            CallState::parse("ONHOLD"),
            CallState::Unknown("ONHOLD".into())
        );
        assert_eq!(
            CallState::parse(" PARKED\n"),
            CallState::Unknown("PARKED".into())
        );
    }

    #[test]
    fn states_hint_their_direction() {
        assert_eq!(
            CallState::Ringback.direction_hint(),
            Some(Direction::Outbound)
        );
        assert_eq!(
            CallState::Ringing.direction_hint(),
            Some(Direction::Inbound)
        );
        assert_eq!(CallState::Connected.direction_hint(), None);
        assert!(CallState::Hangup.is_final());
        assert!(!CallState::Connected.is_final());
    }

    #[test]
    fn directions_round_trip_and_reject_junk() {
        for d in [Direction::Inbound, Direction::Outbound, Direction::Internal] {
            assert_eq!(Direction::parse(&d.to_string()).unwrap(), d);
        }
        assert_eq!(Direction::parse("INBOUND").unwrap(), Direction::Inbound);
        assert!(Direction::parse("sideways").is_err());
    }
}
