//! Caller cards: the fields of each record that the panel shows while it rings, kept in memory
//! next to the phone index so that the ring path reads nothing from disk or from Salesforce.

use std::collections::HashMap;

use ctibridge_domain::SalesforceId;
use serde_json::{Map, Value};

use crate::hub::CardField;

/// Card fields per object by default, as (API path, label). Relationship paths such as
/// `Owner.Name` read the nested object of the query row.
pub const DEFAULT_CARD_FIELDS: [(&str, &[(&str, &str)]); 3] = [
    (
        "Contact",
        &[
            ("Account.Name", "Account"),
            ("Title", "Title"),
            ("Email", "Email"),
            ("Owner.Name", "Owner"),
        ],
    ),
    (
        "Lead",
        &[
            ("Company", "Company"),
            ("Status", "Lead Status"),
            ("Email", "Email"),
            ("Owner.Name", "Owner"),
        ],
    ),
    (
        "Account",
        &[("AnnualRevenue", "Annual Revenue"), ("Owner.Name", "Owner")],
    ),
];

/// The query fields a card of `object` needs (relationship paths included).
pub fn card_query_fields(object: &str) -> Vec<&'static str> {
    DEFAULT_CARD_FIELDS
        .iter()
        .find(|(o, _)| *o == object)
        .map(|(_, fields)| fields.iter().map(|(path, _)| *path).collect())
        .unwrap_or_default()
}

/// One record's card.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub object: String,
    pub name: String,
    pub fields: Vec<CardField>,
}

/// Cards by record id.
#[derive(Debug, Default)]
pub struct CardBook {
    cards: HashMap<SalesforceId, Card>,
}

impl CardBook {
    /// Builds and keeps the card of a record from its query row.
    pub fn insert(&mut self, id: SalesforceId, object: &str, row: &Map<String, Value>) {
        let Some((_, fields)) = DEFAULT_CARD_FIELDS.iter().find(|(o, _)| *o == object) else {
            return;
        };
        let fields = fields
            .iter()
            .filter_map(|(path, label)| {
                let value = display(lookup_path(row, path)?)?;
                Some(CardField {
                    label: (*label).to_owned(),
                    value,
                })
            })
            .collect();
        let name = row
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.cards.insert(
            id,
            Card {
                object: object.to_owned(),
                name,
                fields,
            },
        );
    }

    /// The card of a record.
    pub fn get(&self, id: &SalesforceId) -> Option<&Card> {
        self.cards.get(id)
    }

    /// Number of cards.
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }
}

fn lookup_path<'a>(row: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = row.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A value as the card shows it; nothing for null and empty strings.
fn display(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => group_thousands(f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// `12500000` -> `12,500,000`.
fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_contact_card_reads_relationship_fields_and_skips_empty_ones() {
        let row = json!({
            "Id": "003000000000001AAA", "Name": "Maria Muster", "Title": "",
            "Email": "maria@example.com",
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme GmbH"},
            "Owner": {"Name": "Ben Utzer"}
        });
        let mut book = CardBook::default();
        let id = SalesforceId::parse("003000000000001").unwrap();
        book.insert(id, "Contact", row.as_object().unwrap());
        let labels: Vec<_> = book
            .get(&id)
            .unwrap()
            .fields
            .iter()
            .map(|f| (f.label.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("Account", "Acme GmbH"),
                ("Email", "maria@example.com"),
                ("Owner", "Ben Utzer")
            ]
        );
    }

    #[test]
    fn revenue_is_grouped_by_thousands() {
        assert_eq!(display(&json!(12500000.0)).unwrap(), "12,500,000");
        assert_eq!(display(&json!(999)).unwrap(), "999");
        assert_eq!(display(&json!(-1234)).unwrap(), "-1,234");
    }
}
