//! What the admin sets per instance that applies while the service runs: the caller-card
//! layout, the object priority for numbers that match several records, and the daily API cap
//! of the background sync. Kept in the store as one document per instance (in the credential
//! table, owned by the instance: it is deleted with it); the sync reads it every cycle.

use std::collections::BTreeMap;
use std::sync::Arc;

use ctibridge_domain::ObjectType;
use ctibridge_store::{
    CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore, InstanceId, StoreError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::cards::{CARD_OBJECTS, CardLayout, FieldSpec, MAX_CARD_FIELDS, check_path};

/// The document as stored; empty parts mean "the default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSettings {
    /// Card fields per object; an object not named keeps the default fields.
    #[serde(default)]
    pub cards: BTreeMap<String, Vec<FieldSpec>>,
    /// Object priority for multi-matches, e.g. `["Account", "Contact", "Lead"]`; empty is the
    /// default (Contact, Lead, Account).
    #[serde(default)]
    pub priority: Vec<String>,
    /// The background sync pauses when the org's API requests used (as `Sforce-Limit-Info`
    /// reports them) reach this number; `None`: no cap of ctibridge's own.
    #[serde(default)]
    pub daily_api_cap: Option<u64>,
}

/// [`InstanceSettings`] in the form the running parts use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSettings {
    pub layout: Arc<CardLayout>,
    pub priority: Vec<ObjectType>,
    pub daily_api_cap: Option<u64>,
}

impl Default for LiveSettings {
    fn default() -> Self {
        InstanceSettings::default().to_live()
    }
}

/// The default object priority.
pub fn default_priority() -> Vec<ObjectType> {
    CARD_OBJECTS
        .iter()
        .filter_map(|o| ObjectType::parse(o).ok())
        .collect()
}

impl InstanceSettings {
    /// The running form; whatever fails its checks falls back to the default.
    pub fn to_live(&self) -> LiveSettings {
        let mut priority: Vec<ObjectType> = self
            .priority
            .iter()
            .filter_map(|o| ObjectType::parse(o).ok())
            .filter(|o| CARD_OBJECTS.contains(&o.as_str()))
            .collect();
        let mut seen = std::collections::HashSet::new();
        priority.retain(|o| seen.insert(o.clone()));
        // Objects the saved order leaves out come last, in the default order.
        for o in default_priority() {
            if !priority.contains(&o) {
                priority.push(o);
            }
        }
        LiveSettings {
            layout: Arc::new(CardLayout::from_specs(&self.cards)),
            priority,
            daily_api_cap: self.daily_api_cap.filter(|c| *c > 0),
        }
    }

    /// Checks what the admin sent; each problem in words.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (object, fields) in &self.cards {
            if !CARD_OBJECTS.contains(&object.as_str()) {
                problems.push(format!(
                    "{object}: cards exist for {} only",
                    CARD_OBJECTS.join(", ")
                ));
                continue;
            }
            if fields.len() > MAX_CARD_FIELDS {
                problems.push(format!(
                    "{object}: at most {MAX_CARD_FIELDS} fields fit on a card"
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for f in fields {
                if let Err(e) = check_path(&f.path) {
                    problems.push(format!("{object}: {e}"));
                }
                if !seen.insert(f.path.to_ascii_lowercase()) {
                    problems.push(format!("{object}: {} is on the card twice", f.path));
                }
                let label = f.label.trim();
                if label.is_empty() || label.chars().count() > 60 {
                    problems.push(format!(
                        "{object}.{}: the label must have 1 to 60 characters",
                        f.path
                    ));
                }
            }
        }
        let mut sorted: Vec<&str> = self.priority.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let mut all = CARD_OBJECTS.to_vec();
        all.sort_unstable();
        if !self.priority.is_empty() && sorted != all {
            problems.push(format!(
                "the object priority must name each of {} once",
                CARD_OBJECTS.join(", ")
            ));
        }
        if self.daily_api_cap == Some(0) {
            problems.push(
                "the daily API cap must be at least 1 (leave it empty for no cap)".to_owned(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn key(instance: InstanceId) -> Result<CredentialKey, StoreError> {
    Ok(CredentialKey::new(
        CredentialOwner::Instance(instance),
        CredentialPurpose::new("admin_settings")?,
    ))
}

/// Why the settings cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the instance settings saved in the admin UI cannot be read: {0}")]
    Corrupt(String),
}

/// The instance's settings; the default until the admin saves some.
pub async fn load(
    store: &impl CredentialStore,
    instance: InstanceId,
) -> Result<InstanceSettings, SettingsError> {
    let Some(text) = store.get_credential(&key(instance)?).await? else {
        return Ok(InstanceSettings::default());
    };
    serde_json::from_str(text.expose_secret()).map_err(|e| SettingsError::Corrupt(e.to_string()))
}

/// Replaces the instance's settings.
pub async fn save(
    store: &impl CredentialStore,
    instance: InstanceId,
    settings: &InstanceSettings,
) -> Result<(), SettingsError> {
    let text =
        serde_json::to_string(settings).map_err(|e| SettingsError::Corrupt(e.to_string()))?;
    store
        .put_credential(&key(instance)?, &SecretString::from(text))
        .await?;
    Ok(())
}

/// Why the background sync waits for the cap, when the org's used requests reached it.
pub fn cap_reached(cap: Option<u64>, used: Option<u64>, limit: Option<u64>) -> Option<String> {
    let (cap, used) = (cap?, used?);
    (used >= cap).then(|| {
        let of = limit.map(|l| format!(" of the org's {l}")).unwrap_or_default();
        format!(
            "paused: daily cap {cap} reached ({used}{of} API requests used in the last 24 hours); call logging and user actions go on"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_pauses_at_the_cap_not_before() {
        assert_eq!(cap_reached(Some(100), Some(99), Some(15000)), None);
        let why = cap_reached(Some(100), Some(100), Some(15000)).unwrap_or_default();
        assert!(why.starts_with("paused: daily cap 100 reached"), "{why}");
        assert_eq!(cap_reached(None, Some(100_000), None), None);
        assert_eq!(cap_reached(Some(100), None, None), None);
    }

    #[test]
    fn a_partial_priority_is_refused_and_a_saved_one_is_completed() {
        let s = InstanceSettings {
            priority: vec!["Account".into(), "Lead".into()],
            ..Default::default()
        };
        assert!(s.check().is_err());
        let live = s.to_live();
        let names: Vec<&str> = live.priority.iter().map(|o| o.as_str()).collect();
        assert_eq!(names, vec!["Account", "Lead", "Contact"]);
    }

    #[test]
    fn fields_with_soql_in_their_path_are_refused() {
        let mut s = InstanceSettings::default();
        s.cards.insert(
            "Contact".into(),
            vec![FieldSpec {
                path: "Title FROM User".into(),
                label: "x".into(),
            }],
        );
        let problems = s.check().unwrap_err();
        assert!(problems[0].contains("not a field path"), "{problems:?}");
    }
}
