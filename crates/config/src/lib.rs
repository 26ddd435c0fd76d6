//! ctibridge configuration: a TOML file, `CTIBRIDGE__SECTION__KEY` environment overrides and
//! `*_file` secrets, checked at start.
//!
//! [`Config::load`] reads all three, then checks every key and reports *all* problems at once
//! ([`ConfigErrors`], a numbered list), each naming the key, where it was set (file line or
//! environment variable), what is wrong and how to fix it. Harmless slips it can repair (pasted
//! whitespace around a consumer key, a Lightning URL instead of the My Domain) are repaired and
//! reported as [`ConfigWarning`]s.
//!
//! Keys (a stable interface; [`example`] documents each):
//!
//! | section | keys |
//! |---|---|
//! | `[server]` | `listen`, `public_url`, `data_dir`, `tls_cert`, `tls_key` |
//! | `[log]` | `level` |
//! | `[starface]` | `url`, `admin_login`, `admin_password` \| `admin_password_file` |
//! | `[dialing]` | `country`, `outside_line_prefix`, `internal_number_max_len` |
//! | `[[instance]]` | `name`, `description`, `enabled`, `users`, `groups`, `import_contacts`, `sync_interval_secs`, `log_calls`, `missed_group_calls`, `unknown_caller_object` |
//! | `[instance.salesforce]` | `login_url`, `client_id`, `client_secret` \| `client_secret_file`, `api_version` |
//!
//! Environment overrides win over the file. Keys are joined by `__` and upper-cased;
//! `[[instance]]` elements take their index: `CTIBRIDGE__INSTANCE__0__SALESFORCE__CLIENT_SECRET`.
//! An index one past the file's last instance adds one. Lists are `a,b` or TOML `["a", "b"]`.

mod build;
mod error;
mod level;
mod read;
mod tree;
mod values;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ctibridge_domain::{Email, LoginUrl, StarfaceLoginId};
use ctibridge_phone::DialingRules;
use secrecy::SecretString;
use url::Url;

pub use error::{ConfigError, ConfigErrors, ConfigWarning, Origin};
pub use level::{LogLevel, ParseLogLevelError};
pub use values::{ApiVersion, ApiVersionError, CountryCode, CountryCodeError, UserRef};

/// `sync_interval_secs` when absent: changes reach the index and the PBX within a minute.
pub const DEFAULT_SYNC_INTERVAL_SECS: u64 = 60;
/// Largest `sync_interval_secs`: a day.
pub const MAX_SYNC_INTERVAL_SECS: u64 = 86_400;

/// The validated configuration of a connector.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[starface]`
    pub starface: StarfaceConfig,
    /// `[dialing]`
    pub dialing: DialingConfig,
    /// `[[instance]]`, in file order; names are unique (ignoring case).
    pub instances: Vec<InstanceConfig>,
}

/// `[server]`: where the connector listens and how it is reached.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `listen`: address and port to bind (default `0.0.0.0:8443`).
    pub listen: SocketAddr,
    /// `public_url`: the http(s) URL browsers and the PBX reach us at; the path ends with `/`.
    pub public_url: Url,
    /// `data_dir`: database, key file and logs (default `/var/lib/ctibridge`).
    pub data_dir: PathBuf,
    /// `tls_cert` + `tls_key`: serve https directly (absent: plain http, e.g. behind a proxy).
    pub tls: Option<TlsConfig>,
}

/// A certificate chain and its private key, both PEM files that existed at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `tls_cert`
    pub cert: PathBuf,
    /// `tls_key`
    pub key: PathBuf,
}

/// `[log]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// `level`: the level at start (default info); the admin UI can change it at run time.
    pub level: LogLevel,
}

/// `[starface]`: the PBX and the administrator account the connector uses.
#[derive(Debug, Clone)]
pub struct StarfaceConfig {
    /// `url`: the PBX's web address; the path ends with `/`.
    pub url: Url,
    /// `admin_login`: login id of a PBX administrator.
    pub admin_login: StarfaceLoginId,
    /// `admin_password` or the contents of `admin_password_file`.
    pub admin_password: SecretString,
}

/// `[dialing]`: how numbers without a country code are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialingConfig {
    /// `country`: default region (default `DE`).
    pub country: CountryCode,
    /// `outside_line_prefix`: digits dialled for an outside line, possibly empty (default `"0"`).
    pub outside_line_prefix: String,
    /// `internal_number_max_len`: numbers this short or shorter are extensions (default 4;
    /// 0: none are).
    pub internal_number_max_len: usize,
}

impl DialingConfig {
    /// The rules in the form the phone-number normaliser takes.
    pub fn rules(&self) -> DialingRules {
        DialingRules {
            country: self.country.as_str().to_owned(),
            outside_line_prefix: self.outside_line_prefix.clone(),
            internal_number_max_len: self.internal_number_max_len,
        }
    }
}

impl Default for DialingConfig {
    fn default() -> Self {
        DialingConfig {
            country: CountryCode::DE,
            outside_line_prefix: "0".to_owned(),
            internal_number_max_len: 4,
        }
    }
}

/// `[[instance]]`: one Salesforce org and the STARFACE users and groups that use it.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// `name`: unique, shown in the admin UI.
    pub name: String,
    /// `description`: free text (default empty).
    pub description: String,
    /// `enabled`: false keeps the instance configured but idle (default true).
    pub enabled: bool,
    /// `users`: STARFACE users by e-mail or login id.
    pub users: Vec<UserRef>,
    /// `groups`: STARFACE groups by name; their members use this instance.
    pub groups: Vec<String>,
    /// `import_contacts`: copy Salesforce contacts into the PBX address book (default false).
    pub import_contacts: bool,
    /// `sync_interval_secs`: how often changes are read from the org (default 60 s).
    pub sync_interval: std::time::Duration,
    /// `log_calls`, `missed_group_calls`, `unknown_caller_object`: call logging and records
    /// for unknown callers.
    pub calls: CallsConfig,
    /// `[instance.salesforce]`
    pub salesforce: SalesforceConfig,
}

/// What an instance logs as Tasks, and what it creates for unknown callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallsConfig {
    /// `log_calls` has `inbound`: answered inbound calls.
    pub log_inbound: bool,
    /// `log_calls` has `outbound`: outbound calls, reached or not.
    pub log_outbound: bool,
    /// `log_calls` has `missed`: inbound calls nobody answered.
    pub log_missed: bool,
    /// `log_calls` has `internal`: calls between PBX users.
    pub log_internal: bool,
    /// `missed_group_calls`: `group` (default), `each` or `none`.
    pub missed_group_calls: MissedGroupCalls,
    /// `unknown_caller_object`: `Lead` (default) or `Contact`.
    pub unknown_caller_object: UnknownCallerObject,
}

impl Default for CallsConfig {
    fn default() -> Self {
        // Internal calls are colleagues, not customers: logging them floods activity lists.
        Self {
            log_inbound: true,
            log_outbound: true,
            log_missed: true,
            log_internal: false,
            missed_group_calls: MissedGroupCalls::Group,
            unknown_caller_object: UnknownCallerObject::Lead,
        }
    }
}

/// Which group calls that nobody answered become Tasks (an answered one is logged once, for
/// the member who answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissedGroupCalls {
    /// One Task for the group.
    Group,
    /// One Task for each member whose phone rang.
    Each,
    /// None.
    None,
}

/// The object created for an unknown caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownCallerObject {
    Lead,
    Contact,
}

impl UnknownCallerObject {
    /// The Salesforce object name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownCallerObject::Lead => "Lead",
            UnknownCallerObject::Contact => "Contact",
        }
    }
}

/// `[instance.salesforce]`: the org and the connected app.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// `login_url`: the org's My Domain (Lightning URLs are converted, with a warning).
    pub login_url: LoginUrl,
    /// `client_id`: the connected app's consumer key (trimmed).
    pub client_id: String,
    /// `client_secret` or the contents of `client_secret_file` (trimmed).
    pub client_secret: SecretString,
    /// `api_version`: REST API version (default 62.0).
    pub api_version: ApiVersion,
}

/// A configuration that passed every check, with what was repaired on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Repairs and doubts, for the log at start.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Loads the file at `path` (if any), overlays `CTIBRIDGE__*` variables from `env` and
    /// checks everything; other variables in `env` are ignored.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigErrors> {
        let mut root = match path {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| {
                    ConfigErrors::new(vec![ConfigError::ReadFile {
                        path: path.to_owned(),
                        source,
                    }])
                })?;
                tree::parse_file(path, &text).map_err(ConfigErrors::new)?
            }
        };
        let mut findings = build::Findings::default();
        tree::apply_env(&mut root, env, &mut findings.errors);
        let config = build::build(&root, &mut findings);
        match config {
            Some(config) if findings.errors.is_empty() => Ok(Loaded {
                config,
                warnings: findings.warnings,
            }),
            _ => Err(ConfigErrors::new(findings.errors)),
        }
    }

    /// [`Config::load`] with this process's environment.
    pub fn load_from_process_env(path: Option<&Path>) -> Result<Loaded, ConfigErrors> {
        let env = std::env::vars_os().filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            // A non-UTF-8 value of ours still gets through (lossily) so that it fails a check
            // with the variable named instead of being silently ignored.
            let value = value
                .into_string()
                .unwrap_or_else(|v| v.to_string_lossy().into_owned());
            Some((name, value))
        });
        Config::load(path, env)
    }

    /// The configuration `ctibridge demo` runs with: the shared demo data of both emulators.
    ///
    /// `public_url` is derived from `listen`, with an unspecified address replaced by loopback;
    /// with port 0 it says port 0 too, so pass the address after binding if the URL matters.
    pub fn demo(
        data_dir: impl Into<PathBuf>,
        listen: SocketAddr,
        starface_url: Url,
        salesforce_url: LoginUrl,
    ) -> Config {
        let reachable = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let reachable = SocketAddr::new(reachable, listen.port());
        #[allow(clippy::expect_used)]
        let public_url = Url::parse(&format!("http://{reachable}/"))
            .expect("a socket address always makes a valid http URL");
        Config {
            server: ServerConfig {
                listen,
                public_url,
                data_dir: data_dir.into(),
                tls: None,
            },
            log: LogConfig::default(),
            starface: StarfaceConfig {
                url: starface_url,
                #[allow(clippy::expect_used)]
                admin_login: StarfaceLoginId::parse("0001").expect("a constant valid login id"),
                admin_password: SecretString::from("admin-pass"),
            },
            dialing: DialingConfig::default(),
            instances: vec![InstanceConfig {
                name: "Salesforce Demo".to_owned(),
                description: "The emulated org acme, with the demo users".to_owned(),
                enabled: true,
                // Frank has no Salesforce user: the demo shows the manual's e-mail mismatch FAQ.
                users: Email::parse("frank.fremd@example.org")
                    .map(UserRef::Email)
                    .into_iter()
                    .collect(),
                groups: vec!["Sales".to_owned(), "Support".to_owned()],
                import_contacts: true,
                sync_interval: std::time::Duration::from_secs(DEFAULT_SYNC_INTERVAL_SECS),
                calls: CallsConfig::default(),
                salesforce: SalesforceConfig {
                    login_url: salesforce_url,
                    client_id: "demo-consumer-key".to_owned(),
                    client_secret: SecretString::from("demo-consumer-secret"),
                    api_version: ApiVersion::default(),
                },
            }],
        }
    }
}

/// A commented configuration file with every key, what it does and its default; it loads
/// unchanged (`ctibridge config example`).
pub fn example() -> &'static str {
    include_str!("example.toml")
}
