//! STARFACE user identities.

use std::fmt;
use std::str::FromStr;

use crate::excerpt;
use crate::serde_str::serde_via_str;

const MAX_CHARS: usize = 64;

/// A STARFACE login id (such as `0001` or `1001`): non-empty, at most 64 characters, no
/// whitespace, control characters or colon.
///
/// The colon is excluded because the REST login secret is `<loginId>:<hash>` and the UCI auth
/// value is built the same way; a login id with a colon could never authenticate.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StarfaceLoginId(String);

/// Why a string is not a STARFACE login id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StarfaceLoginIdError {
    /// Empty.
    #[error("the STARFACE login id is empty")]
    Empty,
    /// More than 64 characters.
    #[error("the STARFACE login id has {0} characters; at most 64 are allowed")]
    TooLong(usize),
    /// A whitespace, control character or colon.
    #[error(
        "the STARFACE login id `{input}` contains {found:?}; login ids have no spaces or colons"
    )]
    BadCharacter {
        /// Excerpt of the input.
        input: String,
        /// The offending character.
        found: char,
    },
}

impl StarfaceLoginId {
    /// Parses a login id exactly as given (no trimming: the PBX compares it byte for byte).
    pub fn parse(input: &str) -> Result<Self, StarfaceLoginIdError> {
        if input.is_empty() {
            return Err(StarfaceLoginIdError::Empty);
        }
        if let Some(found) = input
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == ':')
        {
            return Err(StarfaceLoginIdError::BadCharacter {
                input: excerpt(input),
                found,
            });
        }
        let chars = input.chars().count();
        if chars > MAX_CHARS {
            return Err(StarfaceLoginIdError::TooLong(chars));
        }
        Ok(Self(input.to_owned()))
    }

    /// The login id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StarfaceLoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StarfaceLoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StarfaceLoginId({})", self.0)
    }
}

impl FromStr for StarfaceLoginId {
    type Err = StarfaceLoginIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for StarfaceLoginId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_via_str!(StarfaceLoginId, "a STARFACE login id such as 1001");

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn numeric_and_named_login_ids_are_accepted() {
        for s in ["0001", "1001", "ben.utzer", "x".repeat(64).as_str()] {
            assert_eq!(StarfaceLoginId::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn login_ids_with_colon_space_or_excess_length_are_rejected() {
        assert_eq!(StarfaceLoginId::parse(""), Err(StarfaceLoginIdError::Empty));
        assert!(matches!(
            StarfaceLoginId::parse("a:b"),
            Err(StarfaceLoginIdError::BadCharacter { found: ':', .. })
        ));
        assert!(matches!(
            StarfaceLoginId::parse(" 1001"),
            Err(StarfaceLoginIdError::BadCharacter { .. })
        ));
        assert_eq!(
            StarfaceLoginId::parse(&"x".repeat(65)),
            Err(StarfaceLoginIdError::TooLong(65))
        );
    }
}
