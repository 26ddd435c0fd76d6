//! References to Salesforce records, as the phone index and the panel carry them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::excerpt;
use crate::salesforce_id::SalesforceId;
use crate::serde_str::serde_via_str;

/// A Salesforce object type (sObject API name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// `Contact` (key prefix `003`).
    Contact,
    /// `Lead` (key prefix `00Q`).
    Lead,
    /// `Account` (key prefix `001`).
    Account,
    /// `Task` (key prefix `00T`).
    Task,
    /// Any other object, by API name (`Opportunity`, `Invoice__c`).
    Other(String),
}

/// Why a string is not an object API name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a Salesforce object name: use the API name, letters, digits and `_` (such as Contact or Invoice__c)"
)]
pub struct ObjectTypeError(String);

impl ObjectType {
    /// Reads an API name; the standard ones are matched ignoring case, as Salesforce does.
    pub fn parse(input: &str) -> Result<Self, ObjectTypeError> {
        let s = input.trim();
        let valid = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && s.len() <= 80;
        if !valid {
            return Err(ObjectTypeError(excerpt(input)));
        }
        Ok([Self::Contact, Self::Lead, Self::Account, Self::Task]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| Self::Other(s.to_owned())))
    }

    /// The API name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Contact => "Contact",
            Self::Lead => "Lead",
            Self::Account => "Account",
            Self::Task => "Task",
            Self::Other(name) => name,
        }
    }

    /// The standard object a record id's key prefix stands for, if we know it.
    pub fn from_key_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "003" => Some(Self::Contact),
            "00Q" => Some(Self::Lead),
            "001" => Some(Self::Account),
            "00T" => Some(Self::Task),
            _ => None,
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ObjectType {
    type Err = ObjectTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

serde_via_str!(ObjectType, "a Salesforce object API name");

/// A Salesforce record as the connector shows and links it: type, id and display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    /// The object type.
    pub object: ObjectType,
    /// The record id.
    pub id: SalesforceId,
    /// The name to show (`Name` field; for a Lead perhaps with its company).
    pub name: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn standard_object_names_match_ignoring_case() {
        assert_eq!(ObjectType::parse("contact").unwrap(), ObjectType::Contact);
        assert_eq!(ObjectType::parse("LEAD").unwrap(), ObjectType::Lead);
        assert_eq!(
            ObjectType::parse("Invoice__c").unwrap(),
            ObjectType::Other("Invoice__c".into())
        );
        assert_eq!(
            ObjectType::parse("Invoice__c").unwrap().to_string(),
            "Invoice__c"
        );
    }

    #[test]
    fn malformed_object_names_are_rejected() {
        for s in ["", "1Contact", "Con tact", "Contact;DROP", "Ünicode"] {
            assert!(ObjectType::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn record_ref_serialises_as_plain_data() {
        let r = RecordRef {
            object: ObjectType::Contact,
            id: SalesforceId::parse("003D000000QkqX1").unwrap(),
            name: "Ada Lovelace".into(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"object":"Contact","id":"003D000000QkqX1IAJ","name":"Ada Lovelace"}"#
        );
        assert_eq!(serde_json::from_str::<RecordRef>(&json).unwrap(), r);
    }
}
