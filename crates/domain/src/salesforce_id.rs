//! Salesforce record ids, always held in their 18-character case-safe form.

use std::fmt;
use std::str::FromStr;

use crate::excerpt;
use crate::record::ObjectType;
use crate::serde_str::serde_via_str;

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// A Salesforce record id, stored in the 18-character form.
///
/// Salesforce ids come in a 15-character case-sensitive form and an 18-character form whose
/// last three characters encode the case of the first fifteen (so that case-insensitive tools
/// like spreadsheets cannot merge two ids). A 15-character id is extended here exactly as
/// Salesforce does it; an 18-character id whose suffix does not match its first fifteen
/// characters has had its case changed somewhere and is rejected. Two ids are equal when their
/// 18-character forms are, so `001D000000IqhSL` equals `001D000000IqhSLIAZ`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesforceId([u8; 18]);

/// Why a string is not a Salesforce id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SalesforceIdError {
    /// Not 15 or 18 characters.
    #[error("`{input}` has {len} characters; Salesforce ids have 15 or 18")]
    Length {
        /// Excerpt of the input.
        input: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character other than ASCII letters and digits.
    #[error(
        "`{input}` is not a Salesforce id: {found:?} at position {position} is not a letter or digit"
    )]
    BadCharacter {
        /// Excerpt of the input.
        input: String,
        /// The offending character.
        found: char,
        /// Its position.
        position: usize,
    },
    /// The case-safe suffix does not fit the first 15 characters.
    #[error(
        "`{input}` is not a valid 18-character Salesforce id: its last three characters should be \
         `{expected}` but are `{found}`; the id's upper/lower case was probably changed (copy it again from Salesforce)"
    )]
    Checksum {
        /// The input.
        input: String,
        /// The suffix computed from the first 15 characters.
        expected: String,
        /// The suffix found.
        found: String,
    },
}

impl SalesforceId {
    /// Parses a 15- or 18-character id.
    pub fn parse(input: &str) -> Result<Self, SalesforceIdError> {
        if let Some((position, found)) = input
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_alphanumeric())
        {
            return Err(SalesforceIdError::BadCharacter {
                input: excerpt(input),
                found,
                position,
            });
        }
        // ASCII only from here on.
        let bytes = input.as_bytes();
        if bytes.len() != 15 && bytes.len() != 18 {
            return Err(SalesforceIdError::Length {
                input: excerpt(input),
                len: bytes.len(),
            });
        }
        let mut id = [0u8; 18];
        id[..15].copy_from_slice(&bytes[..15]);
        let expected = case_suffix(&id[..15]);
        if let Some(found) = bytes.get(15..).filter(|s| !s.is_empty()) {
            // The suffix alphabet has one case only, so the suffix itself is read case-blind.
            if !found.eq_ignore_ascii_case(&expected) {
                return Err(SalesforceIdError::Checksum {
                    input: input.to_owned(),
                    expected: String::from_utf8_lossy(&expected).into_owned(),
                    found: String::from_utf8_lossy(found).into_owned(),
                });
            }
        }
        id[15..].copy_from_slice(&expected);
        Ok(Self(id))
    }

    /// The 18-character form.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The 15-character, case-sensitive form.
    pub fn as_15(&self) -> &str {
        &self.as_str()[..15]
    }

    /// The key prefix (first three characters), which names the object type: `003` is Contact.
    pub fn key_prefix(&self) -> &str {
        &self.as_str()[..3]
    }

    /// The standard object type the key prefix stands for, if it is one we know.
    pub fn object_type(&self) -> Option<ObjectType> {
        ObjectType::from_key_prefix(self.key_prefix())
    }
}

/// Salesforce's case-safe suffix: for each 5-character chunk, bit i is set when character i is
/// an uppercase A-Z; the 5-bit value indexes `A..Z0..5`.
fn case_suffix(id15: &[u8]) -> [u8; 3] {
    let mut suffix = [0u8; 3];
    for (chunk, out) in id15.chunks(5).zip(suffix.iter_mut()) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        *out = SUFFIX_ALPHABET[bits];
    }
    suffix
}

impl fmt::Display for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SalesforceId({})", self.as_str())
    }
}

impl FromStr for SalesforceId {
    type Err = SalesforceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for SalesforceId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

serde_via_str!(SalesforceId, "a 15- or 18-character Salesforce id");

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn fifteen_character_ids_get_salesforces_case_safe_suffix() {
        // Pair published in Salesforce's knowledge article on 15/18-character ids.
        let id = SalesforceId::parse("001D000000IqhSL").unwrap();
        assert_eq!(id.as_str(), "001D000000IqhSLIAZ");
        assert_eq!(id.as_15(), "001D000000IqhSL");
        // Worked by hand: 003D0 -> bit 3 -> I; 00000 -> A; QkqX1 -> bits 0,3 = 9 -> J.
        assert_eq!(
            SalesforceId::parse("003D000000QkqX1").unwrap().as_str(),
            "003D000000QkqX1IAJ"
        );
        assert_eq!(
            SalesforceId::parse("000000000000000").unwrap().as_str(),
            "000000000000000AAA"
        );
        assert_eq!(
            SalesforceId::parse("ABCDEABCDEABCDE").unwrap().as_str(),
            "ABCDEABCDEABCDE555"
        );
    }

    #[test]
    fn fifteen_and_eighteen_character_forms_are_equal() {
        let a = SalesforceId::parse("001D000000IqhSL").unwrap();
        let b = SalesforceId::parse("001D000000IqhSLIAZ").unwrap();
        assert_eq!(a, b);
        assert_eq!(SalesforceId::parse("001D000000IqhSLiaz").unwrap(), a);
    }

    #[test]
    fn case_mangled_eighteen_character_id_is_rejected() {
        let err = SalesforceId::parse("001d000000iqhsliaz").unwrap_err();
        assert!(matches!(&err, SalesforceIdError::Checksum { expected, .. } if expected == "AAA"));
        assert!(err.to_string().contains("case"));
    }

    #[test]
    fn wrong_length_and_characters_are_rejected() {
        assert!(matches!(
            SalesforceId::parse(""),
            Err(SalesforceIdError::Length { len: 0, .. })
        ));
        assert!(matches!(
            SalesforceId::parse("001D000000IqhS"),
            Err(SalesforceIdError::Length { len: 14, .. })
        ));
        assert!(matches!(
            SalesforceId::parse("001D000000IqhSLIA"),
            Err(SalesforceIdError::Length { len: 17, .. })
        ));
        assert!(matches!(
            SalesforceId::parse("001D000000Iqh-L"),
            Err(SalesforceIdError::BadCharacter {
                found: '-',
                position: 13,
                ..
            })
        ));
        assert!(matches!(
            SalesforceId::parse("001D000000IqhSä"),
            Err(SalesforceIdError::BadCharacter { .. })
        ));
    }

    #[test]
    fn key_prefix_names_the_object() {
        let id = SalesforceId::parse("003D000000QkqX1").unwrap();
        assert_eq!(id.key_prefix(), "003");
        assert_eq!(id.object_type(), Some(ObjectType::Contact));
        assert_eq!(
            SalesforceId::parse("00QD000000QkqX1")
                .unwrap()
                .object_type(),
            Some(ObjectType::Lead)
        );
        assert_eq!(
            SalesforceId::parse("a01D000000QkqX1")
                .unwrap()
                .object_type(),
            None
        );
    }
}
