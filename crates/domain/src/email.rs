//! E-mail addresses, the key that links a STARFACE user to a Salesforce user.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::excerpt;
use crate::serde_str::serde_via_str;

/// RFC 5321 limits: 254 characters for the path, 64 for the local part.
const MAX_CHARS: usize = 254;
const MAX_LOCAL_CHARS: usize = 64;

/// Characters an unquoted local part cannot hold; their presence usually means a pasted
/// address list (`a@x.com, b@x.com`) or a display name (`Ben <ben@x.com>`).
const FORBIDDEN_LOCAL: &[char] = &['"', '(', ')', ',', ':', ';', '<', '>', '[', '\\', ']'];

/// An e-mail address, trimmed; equal to another when both are equal ignoring case.
///
/// STARFACE and Salesforce users are matched by e-mail, and the two systems do not agree on
/// case (`Eva.Engel@Example.com` vs `eva.engel@example.com`). The original spelling is kept for
/// display; equality, hashing and ordering use the lowercase form. Validation is deliberately
/// practical, not RFC 5322: one `@`, a non-empty local part, a domain with a dot, no whitespace.
#[derive(Clone)]
pub struct Email {
    original: String,
    folded: String,
}

/// Why a string is not an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("the e-mail address is empty")]
    Empty,
    /// Longer than 254 characters.
    #[error("the e-mail address has {0} characters; at most 254 are allowed")]
    TooLong(usize),
    /// Not exactly one `@`.
    #[error("`{0}` is not an e-mail address: it needs exactly one `@`")]
    At(String),
    /// Nothing before the `@`, or more than 64 characters.
    #[error("`{0}` is not an e-mail address: the part before `@` must have 1 to 64 characters")]
    Local(String),
    /// The domain is empty, has no dot, or has an empty label (`a@x..com`, `a@.x.com`).
    #[error(
        "`{0}` is not an e-mail address: the domain after `@` needs a dot between non-empty parts, such as example.com"
    )]
    Domain(String),
    /// Whitespace, a control character or a character that marks a list or display name.
    #[error(
        "`{input}` is not an e-mail address: {found:?} is not allowed (one bare address, no name or list)"
    )]
    BadCharacter {
        /// Excerpt of the input.
        input: String,
        /// The offending character.
        found: char,
    },
}

impl Email {
    /// Parses an address; surrounding whitespace is removed.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        let chars = s.chars().count();
        if chars > MAX_CHARS {
            return Err(EmailError::TooLong(chars));
        }
        if let Some(found) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::BadCharacter {
                input: excerpt(s),
                found,
            });
        }
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::At(excerpt(s)));
        };
        if local.is_empty() || local.chars().count() > MAX_LOCAL_CHARS {
            return Err(EmailError::Local(excerpt(s)));
        }
        if let Some(found) = local.chars().find(|c| FORBIDDEN_LOCAL.contains(c)) {
            return Err(EmailError::BadCharacter {
                input: excerpt(s),
                found,
            });
        }
        if let Some(found) = domain
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '.'))
        {
            return Err(EmailError::BadCharacter {
                input: excerpt(s),
                found,
            });
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err(EmailError::Domain(excerpt(s)));
        }
        Ok(Self {
            original: s.to_owned(),
            folded: s.to_lowercase(),
        })
    }

    /// The address as given (trimmed), for display.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The lowercase form that equality uses; store and compare this one.
    pub fn normalized(&self) -> &str {
        &self.folded
    }

    /// The domain part, as given.
    pub fn domain(&self) -> &str {
        self.original
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
    }
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}

impl Eq for Email {}

impl Hash for Email {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}

impl PartialOrd for Email {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Email {
    fn cmp(&self, other: &Self) -> Ordering {
        self.folded.cmp(&other.folded)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.original)
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

serde_via_str!(Email, "an e-mail address");

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn addresses_differing_only_in_case_are_equal_and_hash_alike() {
        let sf = Email::parse("eva.engel@example.com").unwrap();
        let pbx = Email::parse("Eva.Engel@Example.com").unwrap();
        assert_eq!(sf, pbx);
        assert_eq!(pbx.to_string(), "Eva.Engel@Example.com");
        assert_eq!(pbx.normalized(), "eva.engel@example.com");
        let set: HashSet<Email> = [sf, pbx].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let e = Email::parse("  ben.utzer@example.com\n").unwrap();
        assert_eq!(e.as_str(), "ben.utzer@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn practical_addresses_are_accepted() {
        for s in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'brien@example.ie",
            "jürgen@müller.de",
            "x_y-z@a-b.example",
        ] {
            assert!(Email::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        assert_eq!(Email::parse(" "), Err(EmailError::Empty));
        assert!(matches!(
            Email::parse("ben.example.com"),
            Err(EmailError::At(_))
        ));
        assert!(matches!(Email::parse("a@b@c.com"), Err(EmailError::At(_))));
        assert!(matches!(
            Email::parse("@example.com"),
            Err(EmailError::Local(_))
        ));
        assert!(matches!(
            Email::parse("ben@localhost"),
            Err(EmailError::Domain(_))
        ));
        assert!(matches!(Email::parse("ben@"), Err(EmailError::Domain(_))));
        assert!(matches!(
            Email::parse("ben@x..com"),
            Err(EmailError::Domain(_))
        ));
        assert!(matches!(
            Email::parse("ben@example.com."),
            Err(EmailError::Domain(_))
        ));
        assert!(matches!(
            Email::parse("ben utzer@example.com"),
            Err(EmailError::BadCharacter { found: ' ', .. })
        ));
        assert!(matches!(
            Email::parse("a@x.com,b@x.com"),
            Err(EmailError::At(_))
        ));
        assert!(matches!(
            Email::parse("ben,clara@x.com"),
            Err(EmailError::BadCharacter { found: ',', .. })
        ));
        assert!(matches!(
            Email::parse("<ben@example.com>"),
            Err(EmailError::BadCharacter { .. })
        ));
        assert!(matches!(
            Email::parse(&format!("{}@x.com", "a".repeat(65))),
            Err(EmailError::Local(_))
        ));
        assert!(matches!(
            Email::parse(&format!("a@{}.com", "b".repeat(300))),
            Err(EmailError::TooLong(_))
        ));
    }
}
