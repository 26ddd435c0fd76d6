//! Instances as the admin edits them: kept in the store (encrypted, since they hold the
//! consumer secrets) and used instead of the TOML's `[[instance]]`s from the next start on.
//! The TOML stays the bootstrap: until the admin saves an instance, the store holds none.

use std::time::Duration;

use ctibridge_config::{
    ApiVersion, CallsConfig, Config, DEFAULT_SYNC_INTERVAL_SECS, InstanceConfig,
    MAX_SYNC_INTERVAL_SECS, MissedGroupCalls, SalesforceConfig, UnknownCallerObject, UserRef,
};
use ctibridge_domain::{Email, LoginUrl, StarfaceLoginId};
use ctibridge_store::{
    CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore, StoreError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// One instance as stored. The secret sits here in plain text because the whole document is
/// stored as an encrypted credential.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredInstance {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub login_url: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub import_contacts: bool,
    #[serde(default = "default_interval")]
    pub sync_interval_secs: u64,
    /// What calls become Tasks; `None` (documents saved before it existed) is the default.
    #[serde(default)]
    pub calls: Option<StoredCalls>,
}

/// `log_calls`, `missed_group_calls` and `unknown_caller_object` as the admin sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCalls {
    /// Any of `inbound`, `outbound`, `missed`, `internal`.
    pub log_calls: Vec<String>,
    /// `group`, `each` or `none`.
    pub missed_group_calls: String,
    /// `Lead` or `Contact`.
    pub unknown_caller_object: String,
}

/// The call kinds `log_calls` may name.
pub const LOG_CALL_KINDS: [&str; 4] = ["inbound", "outbound", "missed", "internal"];

impl StoredCalls {
    /// The stored form of a running configuration's call logging.
    pub fn from_config(c: &CallsConfig) -> Self {
        let on = [c.log_inbound, c.log_outbound, c.log_missed, c.log_internal];
        StoredCalls {
            log_calls: LOG_CALL_KINDS
                .iter()
                .zip(on)
                .filter(|(_, on)| *on)
                .map(|(k, _)| (*k).to_owned())
                .collect(),
            missed_group_calls: match c.missed_group_calls {
                MissedGroupCalls::Group => "group",
                MissedGroupCalls::Each => "each",
                MissedGroupCalls::None => "none",
            }
            .to_owned(),
            unknown_caller_object: c.unknown_caller_object.as_str().to_owned(),
        }
    }

    /// The running form; each problem in words.
    pub fn to_config(&self) -> Result<CallsConfig, Vec<String>> {
        let mut problems = Vec::new();
        for k in &self.log_calls {
            if !LOG_CALL_KINDS.contains(&k.as_str()) {
                problems.push(format!(
                    "log_calls: {k:?} is none of {}",
                    LOG_CALL_KINDS.join(", ")
                ));
            }
        }
        let has = |k: &str| self.log_calls.iter().any(|x| x == k);
        let missed_group_calls = match self.missed_group_calls.as_str() {
            "group" => MissedGroupCalls::Group,
            "each" => MissedGroupCalls::Each,
            "none" => MissedGroupCalls::None,
            other => {
                problems.push(format!(
                    "missed_group_calls: {other:?} is none of group, each, none"
                ));
                MissedGroupCalls::Group
            }
        };
        let unknown_caller_object = match self.unknown_caller_object.as_str() {
            "Lead" => UnknownCallerObject::Lead,
            "Contact" => UnknownCallerObject::Contact,
            other => {
                problems.push(format!(
                    "unknown_caller_object: {other:?} is neither Lead nor Contact"
                ));
                UnknownCallerObject::Lead
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(CallsConfig {
            log_inbound: has("inbound"),
            log_outbound: has("outbound"),
            log_missed: has("missed"),
            log_internal: has("internal"),
            missed_group_calls,
            unknown_caller_object,
        })
    }
}

impl std::fmt::Debug for StoredInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredInstance")
            .field("name", &self.name)
            .field("login_url", &self.login_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn yes() -> bool {
    true
}

fn default_interval() -> u64 {
    DEFAULT_SYNC_INTERVAL_SECS
}

#[derive(Serialize, Deserialize)]
struct Document {
    version: u32,
    instances: Vec<StoredInstance>,
}

fn key() -> Result<CredentialKey, StoreError> {
    Ok(CredentialKey::new(
        CredentialOwner::System,
        CredentialPurpose::new("admin_instances")?,
    ))
}

/// Why the stored instances cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum InstancesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the instances saved in the admin UI cannot be read: {0}")]
    Corrupt(String),
}

/// The instances saved in the admin UI; `None` until the first save.
pub async fn load(
    store: &impl CredentialStore,
) -> Result<Option<Vec<StoredInstance>>, InstancesError> {
    let Some(text) = store.get_credential(&key()?).await? else {
        return Ok(None);
    };
    let doc: Document = serde_json::from_str(text.expose_secret())
        .map_err(|e| InstancesError::Corrupt(e.to_string()))?;
    Ok(Some(doc.instances))
}

/// Replaces the saved instances.
pub async fn save(
    store: &impl CredentialStore,
    instances: Vec<StoredInstance>,
) -> Result<(), InstancesError> {
    let doc = Document {
        version: 1,
        instances,
    };
    let text = serde_json::to_string(&doc).map_err(|e| InstancesError::Corrupt(e.to_string()))?;
    store
        .put_credential(&key()?, &SecretString::from(text))
        .await?;
    Ok(())
}

/// Forgets the saved instances, so that the next start uses the TOML's again; `false` when
/// none were saved.
pub async fn forget(store: &impl CredentialStore) -> Result<bool, InstancesError> {
    Ok(store.delete_credential(&key()?).await?)
}

/// The stored form of a configured instance.
pub fn from_config(i: &InstanceConfig) -> StoredInstance {
    StoredInstance {
        name: i.name.clone(),
        description: i.description.clone(),
        enabled: i.enabled,
        login_url: i.salesforce.login_url.as_str().to_owned(),
        client_id: i.salesforce.client_id.clone(),
        client_secret: i.salesforce.client_secret.expose_secret().to_owned(),
        api_version: Some(i.salesforce.api_version.to_string()),
        users: i.users.iter().map(ToString::to_string).collect(),
        groups: i.groups.clone(),
        import_contacts: i.import_contacts,
        sync_interval_secs: i.sync_interval.as_secs(),
        calls: Some(StoredCalls::from_config(&i.calls)),
    }
}

fn user_ref(text: &str) -> Result<UserRef, String> {
    let text = text.trim();
    if text.contains('@') {
        Email::parse(text)
            .map(UserRef::Email)
            .map_err(|e| format!("user {text:?}: {e}"))
    } else {
        StarfaceLoginId::parse(text)
            .map(UserRef::LoginId)
            .map_err(|e| format!("user {text:?}: {e}"))
    }
}

/// The running form of a stored instance.
pub fn to_config(s: &StoredInstance) -> Result<InstanceConfig, String> {
    let (login_url, _) =
        LoginUrl::parse(&s.login_url).map_err(|e| format!("login URL {:?}: {e}", s.login_url))?;
    let api_version = match s.api_version.as_deref() {
        Some(v) => ApiVersion::parse(v)
            .map(|(v, _)| v)
            .map_err(|e| format!("API version {v:?}: {e}"))?,
        None => ApiVersion::default(),
    };
    Ok(InstanceConfig {
        name: s.name.clone(),
        description: s.description.clone(),
        enabled: s.enabled,
        users: s
            .users
            .iter()
            .map(|u| user_ref(u))
            .collect::<Result<_, _>>()?,
        groups: s.groups.clone(),
        import_contacts: s.import_contacts,
        sync_interval: Duration::from_secs(s.sync_interval_secs.clamp(1, MAX_SYNC_INTERVAL_SECS)),
        calls: match &s.calls {
            Some(c) => c.to_config().map_err(|p| p.join("; "))?,
            None => CallsConfig::default(),
        },
        salesforce: SalesforceConfig {
            login_url,
            client_id: s.client_id.clone(),
            client_secret: SecretString::from(s.client_secret.clone()),
            api_version,
        },
    })
}

/// `config` with the instances saved in the admin UI in place of the TOML's, if any were
/// saved. A saved set that cannot be used is reported and the TOML's instances are kept, so
/// that a bad save never stops the service.
pub async fn apply_stored(mut config: Config, store: &impl CredentialStore) -> Config {
    match load(store).await {
        Ok(None) => {}
        Ok(Some(saved)) => match saved.iter().map(to_config).collect::<Result<Vec<_>, _>>() {
            Ok(instances) => {
                tracing::info!(
                    instances = instances.len(),
                    "using the instances saved in the admin UI (the TOML's [[instance]]s are the bootstrap only)"
                );
                config.instances = instances;
            }
            Err(problem) => tracing::error!(
                %problem,
                "the instances saved in the admin UI are unusable; using the TOML's [[instance]]s"
            ),
        },
        Err(e) => tracing::error!(error = %e, "using the TOML's [[instance]]s"),
    }
    config
}

/// An instance as the admin submits it.
#[derive(Debug, Clone, Deserialize)]
pub struct InstanceInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub login_url: String,
    pub client_id: String,
    /// Empty keeps the saved secret.
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub import_contacts: bool,
    #[serde(default)]
    pub sync_interval_secs: Option<u64>,
    /// Call logging; `None` keeps what the instance had.
    #[serde(default)]
    pub calls: Option<StoredCalls>,
}

/// What was repaired in an input, to show next to the field (the manual's FAQ failures).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Repairs {
    /// The login URL as it will be used, when it differs from the input.
    pub login_url: Option<String>,
    /// The changes made to the login URL, in words.
    pub login_url_changes: Vec<String>,
    /// Advice on the login URL (generic login host).
    pub login_url_advice: Option<String>,
    /// Whitespace was removed around the consumer key.
    pub client_id_trimmed: bool,
    /// Whitespace was removed around the consumer secret.
    pub client_secret_trimmed: bool,
}

/// A field the admin must correct.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// Checks and repairs an input. `previous_secret` is the saved secret of the instance being
/// edited (kept when the input leaves the secret empty).
pub fn validate(
    input: &InstanceInput,
    previous_secret: Option<&str>,
    previous_api_version: Option<String>,
) -> Result<(StoredInstance, Repairs), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut repairs = Repairs::default();
    let name = input.name.trim();
    if name.is_empty() {
        errors.push(FieldError {
            field: "name",
            message: "a name is required".into(),
        });
    } else if name.chars().count() > 80 {
        errors.push(FieldError {
            field: "name",
            message: "at most 80 characters".into(),
        });
    }
    let login_url = match LoginUrl::parse(&input.login_url) {
        Ok((url, fixes)) => {
            let shown: Vec<String> = fixes
                .iter()
                .filter(|f| !matches!(f, ctibridge_domain::LoginUrlFix::TrimmedWhitespace))
                .map(ToString::to_string)
                .collect();
            if !shown.is_empty() {
                repairs.login_url = Some(url.as_str().to_owned());
                repairs.login_url_changes = shown;
            }
            repairs.login_url_advice = url.advice().map(str::to_owned);
            url.as_str().to_owned()
        }
        Err(e) => {
            errors.push(FieldError {
                field: "login_url",
                message: e.to_string(),
            });
            String::new()
        }
    };
    let client_id = input.client_id.trim();
    repairs.client_id_trimmed = client_id.len() != input.client_id.len();
    if client_id.is_empty() {
        errors.push(FieldError {
            field: "client_id",
            message: "the connected app's consumer key is required".into(),
        });
    }
    let secret = match input.client_secret.as_deref() {
        Some(s) if !s.trim().is_empty() => {
            repairs.client_secret_trimmed = s.trim().len() != s.len();
            Some(s.trim().to_owned())
        }
        _ => previous_secret.map(str::to_owned),
    };
    let Some(client_secret) = secret else {
        errors.push(FieldError {
            field: "client_secret",
            message: "the connected app's consumer secret is required".into(),
        });
        return Err(errors);
    };
    let users: Vec<String> = input
        .users
        .iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    for u in &users {
        if let Err(message) = user_ref(u) {
            errors.push(FieldError {
                field: "users",
                message,
            });
        }
    }
    let groups: Vec<String> = input
        .groups
        .iter()
        .map(|g| g.trim().to_owned())
        .filter(|g| !g.is_empty())
        .collect();
    let interval = input
        .sync_interval_secs
        .unwrap_or(DEFAULT_SYNC_INTERVAL_SECS);
    if !(1..=MAX_SYNC_INTERVAL_SECS).contains(&interval) {
        errors.push(FieldError {
            field: "sync_interval_secs",
            message: format!("between 1 and {MAX_SYNC_INTERVAL_SECS} seconds"),
        });
    }
    if let Some(Err(problems)) = input.calls.as_ref().map(StoredCalls::to_config) {
        errors.extend(problems.into_iter().map(|message| FieldError {
            field: "calls",
            message,
        }));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((
        StoredInstance {
            name: name.to_owned(),
            description: input.description.trim().to_owned(),
            enabled: input.enabled,
            login_url,
            client_id: client_id.to_owned(),
            client_secret,
            api_version: previous_api_version,
            users,
            groups,
            import_contacts: input.import_contacts,
            sync_interval_secs: interval,
            calls: input.calls.clone(),
        },
        repairs,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    fn input() -> InstanceInput {
        InstanceInput {
            name: " Sales org ".into(),
            description: String::new(),
            enabled: true,
            login_url: "https://acme.lightning.force.com/lightning/page/home".into(),
            client_id: "demo-consumer-key ".into(),
            client_secret: Some("\tdemo-consumer-secret".into()),
            users: vec![
                "ben.utzer@example.com".into(),
                " 1003 ".into(),
                String::new(),
            ],
            groups: vec!["Sales".into()],
            import_contacts: true,
            sync_interval_secs: None,
            calls: None,
        }
    }

    #[test]
    fn pasted_key_and_lightning_url_are_repaired_and_reported() {
        let (stored, repairs) = validate(&input(), None, None).unwrap();
        assert_eq!(stored.name, "Sales org");
        assert_eq!(stored.login_url, "https://acme.my.salesforce.com");
        assert_eq!(stored.client_id, "demo-consumer-key");
        assert_eq!(stored.client_secret, "demo-consumer-secret");
        assert_eq!(stored.users, vec!["ben.utzer@example.com", "1003"]);
        assert!(repairs.client_id_trimmed && repairs.client_secret_trimmed);
        assert_eq!(
            repairs.login_url.as_deref(),
            Some("https://acme.my.salesforce.com")
        );
        assert!(
            repairs
                .login_url_changes
                .iter()
                .any(|c| c.contains("Lightning")),
            "{repairs:?}"
        );
        let cfg = to_config(&stored).unwrap();
        assert_eq!(cfg.users.len(), 2);
        assert_eq!(cfg.sync_interval, Duration::from_secs(60));
    }

    #[test]
    fn empty_secret_keeps_the_saved_one_and_is_required_for_a_new_instance() {
        let mut i = input();
        i.client_secret = Some(" ".into());
        let (stored, repairs) = validate(&i, Some("old"), None).unwrap();
        assert_eq!(stored.client_secret, "old");
        assert!(!repairs.client_secret_trimmed);
        let errors = validate(&i, None, None).unwrap_err();
        assert_eq!(errors[0].field, "client_secret");
    }

    #[test]
    fn bad_fields_are_each_named() {
        let mut i = input();
        i.name = " ".into();
        i.login_url = "ftp://x".into();
        i.users = vec!["not an id or mail!".into()];
        let fields: Vec<_> = validate(&i, Some("s"), None)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["name", "login_url", "users"]);
    }

    #[test]
    fn call_logging_survives_the_stored_form_and_bad_kinds_are_named() {
        let calls = CallsConfig {
            log_internal: true,
            log_missed: false,
            missed_group_calls: MissedGroupCalls::Each,
            unknown_caller_object: UnknownCallerObject::Contact,
            ..CallsConfig::default()
        };
        let stored = StoredCalls::from_config(&calls);
        assert_eq!(stored.log_calls, vec!["inbound", "outbound", "internal"]);
        assert_eq!(stored.to_config().unwrap(), calls);
        let mut i = input();
        i.calls = Some(StoredCalls {
            log_calls: vec!["everything".into()],
            missed_group_calls: "group".into(),
            unknown_caller_object: "Lead".into(),
        });
        let errors = validate(&i, Some("s"), None).unwrap_err();
        assert_eq!(errors[0].field, "calls");
        assert!(errors[0].message.contains("everything"), "{errors:?}");
    }
}
