//! The ring path: who is on the other end of a call, and which records match the number.
//! A memory lookup, never a Salesforce API call.

use ctibridge_phone::{MatchStrength, Number};

use crate::hub::{CardField, PanelMatch, Remote};
use crate::state::AppState;

/// Classifies the far end's number as the PBX wrote it and looks it up in the instance's
/// index; matches come in the index's order (exact first, then Contact, Lead, Account).
pub fn identify(
    state: &AppState,
    instance: &str,
    raw: &str,
    name: Option<&str>,
) -> (Remote, Vec<PanelMatch>) {
    let lookup = state.lookup(instance);
    // The first reading that matches a record wins, with its matches (looked up once); without
    // any match, the most likely reading. The same string comes with every event of a call:
    // read once, then from the memo.
    let mut found = Vec::new();
    let first = state.uci.first_match(&*state.normaliser, raw, &mut |e| {
        let Some(l) = lookup.as_ref() else {
            return false;
        };
        found = l.index.lookup(e);
        !found.is_empty()
    });
    let number = match first {
        Ok(n) => n,
        Err(readings) => {
            found.clear();
            readings.first().cloned().unwrap_or(Number::Suppressed)
        }
    };
    let kind = match &number {
        Number::External { .. } => "external",
        Number::Internal(_) => "internal",
        Number::Suppressed => "suppressed",
        Number::Invalid(_) => "invalid",
    };
    let e164 = number.e164();
    let remote = Remote {
        raw: raw.to_owned(),
        e164: e164.map(|e| e.as_str().to_owned()),
        name: name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        kind,
    };
    let (Some(e164), Some(lookup)) = (e164, lookup) else {
        return (remote, Vec::new());
    };
    let matches = found
        .into_iter()
        .map(|m| PanelMatch {
            object: m.record.object.as_str().to_owned(),
            id: m.record.id.to_string(),
            name: m.record.name.clone(),
            strength: match m.strength {
                MatchStrength::Exact => "exact",
                MatchStrength::SwitchboardExtension => "switchboard",
            },
            fields: lookup
                .cards
                .get(&m.record.id)
                .map(|c| c.fields.clone())
                .unwrap_or_default()
                .into_iter()
                .chain(std::iter::once(CardField {
                    label: "Phone".to_owned(),
                    value: e164.as_str().to_owned(),
                }))
                .collect(),
        })
        .collect();
    (remote, matches)
}
