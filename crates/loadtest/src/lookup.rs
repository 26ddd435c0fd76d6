//! Who is calling: the connector's memory lookup, or what other products do, a live SOSL
//! search in Salesforce while the phone rings. Both behind one signature so that the load
//! tool can run the same ring path with either and compare them fairly.

use std::fmt;
use std::str::FromStr;

use ctibridge_phone::Number;
use ctibridge_server::cards::DEFAULT_CARD_FIELDS;
use ctibridge_server::hub::{CardField, PanelMatch, Remote};
use ctibridge_server::state::AppState;
use serde_json::Value;

/// How the ring path finds the records of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupMode {
    /// The connector as built: its own callback route, `calls::identify`, the in-memory index.
    Server,
    /// The load tool's copy of the callback route with `calls::identify` (the index): the
    /// baseline for [`LookupMode::Sosl`], same code path but for the lookup.
    Index,
    /// The load tool's copy of the callback route with a SOSL search per lookup.
    Sosl,
}

impl LookupMode {
    /// Every mode, in the order a run measures them.
    pub const ALL: [LookupMode; 3] = [LookupMode::Server, LookupMode::Index, LookupMode::Sosl];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupMode::Server => "server",
            LookupMode::Index => "index",
            LookupMode::Sosl => "sosl",
        }
    }
}

impl fmt::Display for LookupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LookupMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LookupMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("`{s}` is no lookup mode: use server, index or sosl"))
    }
}

/// Why a lookup failed (SOSL only: the index cannot fail).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The instance has no Salesforce client.
    #[error("no Salesforce client for instance `{0}`")]
    NoClient(String),
    /// The search request failed.
    #[error("SOSL search failed: {0}")]
    Search(#[from] ctibridge_salesforce::SalesforceError),
}

/// [`ctibridge_server::calls::identify`] with the lookup chosen by `mode`: the far end as the
/// panel shows it, and the records its number matches.
pub async fn identify(
    mode: LookupMode,
    state: &AppState,
    instance: &str,
    raw: &str,
    name: Option<&str>,
) -> Result<(Remote, Vec<PanelMatch>), LookupError> {
    match mode {
        LookupMode::Server | LookupMode::Index => Ok(ctibridge_server::calls::identify(
            state, instance, raw, name,
        )),
        LookupMode::Sosl => identify_by_sosl(state, instance, raw, name).await,
    }
}

/// The lookup other CTI products make: classify the number the same way, then one SOSL
/// search per reading of the number (in the order `calls::identify` tries them) until one
/// finds records. Caller-card fields come from the same search (one API call).
async fn identify_by_sosl(
    state: &AppState,
    instance: &str,
    raw: &str,
    name: Option<&str>,
) -> Result<(Remote, Vec<PanelMatch>), LookupError> {
    let client = state
        .clients
        .get(instance)
        .ok_or_else(|| LookupError::NoClient(instance.to_owned()))?;
    let readings = state.normaliser.pbx_readings(raw);
    let mut chosen = None;
    let mut matches = Vec::new();
    for reading in &readings {
        let Some(e164) = reading.e164() else {
            continue;
        };
        let found = client.search(&sosl_for(e164.digits())).await?;
        if !found.is_empty() {
            matches = found
                .iter()
                .filter_map(|r| panel_match(r, e164.as_str()))
                .collect();
            chosen = Some(reading.clone());
            break;
        }
    }
    let number = chosen
        .or_else(|| readings.first().cloned())
        .unwrap_or(Number::Suppressed);
    Ok((remote(raw, name, &number), matches))
}

/// The search: the number's digits in phone fields, with the caller-card fields of each
/// object in the connector's object order (Contact, Lead, Account).
pub fn sosl_for(digits: &str) -> String {
    let returning: Vec<String> = DEFAULT_CARD_FIELDS
        .iter()
        .map(|(object, fields)| {
            let mut cols = vec!["Id", "Name"];
            cols.extend(fields.iter().map(|(path, _)| *path));
            format!("{object}({})", cols.join(", "))
        })
        .collect();
    // Digits only: nothing in the term needs SOSL escaping.
    let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
    format!(
        "FIND {{{digits}}} IN PHONE FIELDS RETURNING {}",
        returning.join(", ")
    )
}

/// A search result row as the panel shows it.
fn panel_match(row: &Value, e164: &str) -> Option<PanelMatch> {
    let object = row.get("attributes")?.get("type")?.as_str()?.to_owned();
    let id = row.get("Id")?.as_str()?.to_owned();
    let name = row
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut fields: Vec<CardField> = DEFAULT_CARD_FIELDS
        .iter()
        .find(|(o, _)| *o == object)
        .map(|(_, fields)| {
            fields
                .iter()
                .filter_map(|(path, label)| {
                    let value = path
                        .split('.')
                        .try_fold(row, |v, part| v.get(part))
                        .and_then(display)?;
                    Some(CardField {
                        label: (*label).to_owned(),
                        value,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    fields.push(CardField {
        label: "Phone".to_owned(),
        value: e164.to_owned(),
    });
    Some(PanelMatch {
        object,
        id,
        name,
        strength: "exact",
        fields,
    })
}

fn display(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The far end without any lookup (its most likely reading), for when the lookup failed.
pub fn remote_only(state: &AppState, raw: &str, name: Option<&str>) -> Remote {
    let number = state
        .normaliser
        .pbx_readings(raw)
        .into_iter()
        .next()
        .unwrap_or(Number::Suppressed);
    remote(raw, name, &number)
}

/// The far end as `calls::identify` describes it.
fn remote(raw: &str, name: Option<&str>, number: &Number) -> Remote {
    Remote {
        raw: raw.to_owned(),
        e164: number.e164().map(|e| e.as_str().to_owned()),
        name: name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        kind: match number {
            Number::External { .. } => "external",
            Number::Internal(_) => "internal",
            Number::Suppressed => "suppressed",
            Number::Invalid(_) => "invalid",
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_search_asks_for_the_digits_in_phone_fields_with_the_card_fields() {
        let q = sosl_for("4930123456");
        assert!(q.starts_with("FIND {4930123456} IN PHONE FIELDS RETURNING Contact(Id, Name, "));
        assert!(q.contains("Lead(Id, Name, Company"));
        assert!(q.contains("Account(Id, Name, AnnualRevenue"));
    }

    #[test]
    fn a_search_row_becomes_a_caller_card_with_relationship_fields() {
        let row = json!({
            "attributes": {"type": "Contact", "url": "/x"},
            "Id": "003D000000QkqX1IAJ",
            "Name": "Maria Muster",
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme GmbH"},
            "Title": null,
            "Email": "maria@acme.example",
        });
        let m = panel_match(&row, "+4930123456").unwrap();
        assert_eq!(m.object, "Contact");
        let labels: Vec<_> = m
            .fields
            .iter()
            .map(|f| (f.label.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("Account", "Acme GmbH"),
                ("Email", "maria@acme.example"),
                ("Phone", "+4930123456")
            ]
        );
    }

    #[test]
    fn modes_read_back_from_their_names() {
        for m in LookupMode::ALL {
            assert_eq!(m.as_str().parse::<LookupMode>().unwrap(), m);
        }
        assert!("elastic".parse::<LookupMode>().is_err());
    }
}
