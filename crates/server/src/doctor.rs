//! `ctibridge doctor`: checks every link the connector depends on and says what is wrong and
//! how to fix it, so that an admin never has to hunt the manual's FAQ failures by hand.
//!
//! Checks, in report order:
//! - **Configuration**: what loading repaired (whitespace around a pasted consumer key, a
//!   Lightning URL turned into the My Domain) as warnings.
//! - **STARFACE**: the admin's REST login and directory read; the users and groups each
//!   instance names; the UCI endpoint answers XML-RPC.
//! - **Callback URL**: `server.public_url` is https (unless loopback) and `/healthz` answers
//!   under it (from this machine; the PBX and the browsers must reach it too).
//! - **Salesforce: <instance>**: login URL form; token request (each refusal with its fix and
//!   Setup path); daily API headroom; read access to every field the sync and the caller card
//!   read; create access for call-log Tasks and for Contacts/Leads of unknown callers.
//! - **Users: <instance>**: every STARFACE user in scope has an active Salesforce user with the
//!   same e-mail (ignoring case) and the other way round.
//! - **Call Center**: the definition `ctibridge callcenter-xml` prints declares Lightning.
//!
//! Network checks run concurrently, each bounded by [`DoctorOptions::timeout`], so one dead
//! system costs at most that long and the report still covers everything else. The doctor
//! starts no server and changes nothing anywhere: it reads, and the UCI probe carries no
//! credentials.

mod report;
mod salesforce;
mod starface;
mod users;

use std::collections::HashMap;
use std::time::Duration;

use ctibridge_config::{Config, ConfigWarning};
use futures::future::join_all;

pub use report::{Check, CheckStatus, DoctorReport, Summary};
pub use salesforce::{API_HEADROOM_WARN_PERCENT, RUN_AS_FIX};

use crate::callcenter::{self, CallCenterError};

/// Time each network check may take by default.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How the doctor runs.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Time each network check may take.
    pub timeout: Duration,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            timeout: DEFAULT_CHECK_TIMEOUT,
        }
    }
}

/// Runs every check with the default options. `warnings` are those [`Config::load`] returned
/// (`Loaded::warnings`); pass `&[]` for a configuration that was not loaded from a file.
pub async fn run_doctor(config: &Config, warnings: &[ConfigWarning]) -> DoctorReport {
    let stored = stored_settings(config).await;
    run_doctor_stored(config, warnings, &DoctorOptions::default(), &stored).await
}

/// What the admin UI saved that the checks must know, by instance name.
#[derive(Debug, Clone, Default)]
pub struct StoredSettings {
    /// Manual user links (STARFACE login -> Salesforce user id): resolved e-mail mismatches.
    pub manual_links: HashMap<String, crate::admin::users::ManualLinks>,
    /// Caller-card layouts: their fields must be readable too.
    pub layouts: HashMap<String, crate::cards::CardLayout>,
}

/// The admin UI's manual links and card layouts of every configured instance.
pub async fn load_stored_settings(
    config: &Config,
    store: &ctibridge_store::SqliteStore,
) -> StoredSettings {
    use ctibridge_store::InstanceStore;
    let mut out = StoredSettings::default();
    for inst in &config.instances {
        let Ok(Some(row)) = store.get_instance(&inst.name).await else {
            continue;
        };
        if let Ok(links) = crate::admin::users::manual_links(store, row.id).await {
            out.manual_links.insert(inst.name.clone(), links);
        }
        if let Ok(s) = crate::admin::settings::load(store, row.id).await {
            out.layouts
                .insert(inst.name.clone(), (*s.to_live().layout).clone());
        }
    }
    out
}

/// What the admin UI saved, when the store exists and can be read (the doctor creates no
/// store: on a fresh install nothing was saved).
async fn stored_settings(config: &Config) -> StoredSettings {
    let out = StoredSettings::default();
    if !config
        .server
        .data_dir
        .join(ctibridge_store::DB_FILE)
        .exists()
    {
        return out;
    }
    let store = match ctibridge_store::SqliteStore::open(&config.server.data_dir).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "doctor: the admin UI's settings are not read (store not readable)");
            return out;
        }
    };
    load_stored_settings(config, &store).await
}

/// Runs every check.
pub async fn run_doctor_with(
    config: &Config,
    warnings: &[ConfigWarning],
    options: &DoctorOptions,
) -> DoctorReport {
    run_doctor_stored(config, warnings, options, &StoredSettings::default()).await
}

/// Runs every check with what the admin UI saved: manual user links count as resolved e-mail
/// mismatches, and the fields of each instance's card layout must be readable.
pub async fn run_doctor_stored(
    config: &Config,
    warnings: &[ConfigWarning],
    options: &DoctorOptions,
    stored: &StoredSettings,
) -> DoctorReport {
    let default_layout = crate::cards::CardLayout::default();
    let timeout = options.timeout;
    let http = reqwest::Client::builder()
        .user_agent(concat!("ctibridge-doctor/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build();

    let enabled: Vec<(usize, &ctibridge_config::InstanceConfig)> = config
        .instances
        .iter()
        .enumerate()
        .filter(|(_, i)| i.enabled)
        .collect();
    let pbx = starface::check_admin(&config.starface, timeout);
    let orgs = join_all(enabled.iter().map(|(index, inst)| {
        let layout = stored.layouts.get(&inst.name).unwrap_or(&default_layout);
        salesforce::check_org(*index, inst, warnings, timeout, layout)
    }));
    let (uci, health) = match &http {
        Ok(http) => (
            futures::future::Either::Left(starface::check_uci(config, http, timeout)),
            futures::future::Either::Left(health_check(config, http, timeout)),
        ),
        Err(e) => {
            let failed = |id: &str, group: &str, title: &str| {
                Check::new(
                    id,
                    group,
                    title,
                    CheckStatus::Fail,
                    format!("cannot set up an HTTP client: {e}"),
                )
            };
            (
                futures::future::Either::Right(std::future::ready(failed(
                    "starface.uci",
                    starface::GROUP,
                    "UCI endpoint (XML-RPC)",
                ))),
                futures::future::Either::Right(std::future::ready(failed(
                    "callback.reachable",
                    CALLBACK_GROUP,
                    "public_url reachable",
                ))),
            )
        }
    };
    let ((pbx_checks, directory), orgs, uci, health) = tokio::join!(pbx, orgs, uci, health);

    let mut checks = config_checks(warnings);
    checks.extend(pbx_checks);
    checks.push(uci);
    for (index, inst) in &enabled {
        checks.push(starface::scope_check(*index, inst, directory.as_ref()));
    }
    checks.push(https_check(config));
    checks.push(health);
    for ((index, inst), org) in enabled.iter().zip(orgs) {
        checks.extend(org.checks);
        checks.extend(users::match_checks(
            *index,
            inst,
            directory.as_ref(),
            &org.users,
            stored
                .manual_links
                .get(&inst.name)
                .unwrap_or(&HashMap::new()),
        ));
    }
    for (index, inst) in config
        .instances
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.enabled)
    {
        checks.push(
            Check::new(
                "instance.disabled",
                salesforce::group(inst),
                "Instance disabled",
                CheckStatus::Skipped,
                format!("instance[{index}].enabled is false: nothing of it was checked"),
            )
            .instance(&inst.name),
        );
    }
    checks.extend(call_center_checks(config));
    DoctorReport { checks }
}

const CONFIG_GROUP: &str = "Configuration";
const CALLBACK_GROUP: &str = "Callback URL (server.public_url)";
const CALL_CENTER_GROUP: &str = "Call Center";

/// The configuration's warnings, each with what to do.
fn config_checks(warnings: &[ConfigWarning]) -> Vec<Check> {
    if warnings.is_empty() {
        return vec![Check::new(
            "config",
            CONFIG_GROUP,
            "Configuration loaded without warnings",
            CheckStatus::Ok,
            "",
        )];
    }
    warnings
        .iter()
        .map(|w| match w {
            ConfigWarning::Trimmed { key, origin } => {
                let pasted = if key.ends_with("client_id") || key.ends_with("client_secret") {
                    " The consumer key and secret were pasted with spaces or a line break \
                     around them (the manual's FAQ \"API keys do not work\"); ctibridge removed \
                     them."
                } else {
                    ""
                };
                Check::new(
                    "config.trimmed",
                    CONFIG_GROUP,
                    format!("{key}: whitespace removed"),
                    CheckStatus::Warn,
                    format!("{key} ({origin}) had spaces or line breaks around its value.{pasted}"),
                )
                .fix(format!("Write {key} without the surrounding whitespace."))
            }
            ConfigWarning::LoginUrlFixed {
                key,
                origin,
                from,
                to,
                changes,
            } => Check::new(
                "config.login_url_fixed",
                CONFIG_GROUP,
                format!("{key}: using {to}"),
                CheckStatus::Warn,
                format!(
                    "{key} ({origin}) is {from:?}; ctibridge uses {to}{}.",
                    if changes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", changes.join("; "))
                    }
                ),
            )
            .fix(format!("Write {key} = \"{to}\".")),
            ConfigWarning::SecretHasOuterWhitespace { key, origin } => Check::new(
                "config.secret_whitespace",
                CONFIG_GROUP,
                format!("{key}: starts or ends with whitespace"),
                CheckStatus::Warn,
                format!("{key} ({origin}) starts or ends with whitespace; it was kept as is."),
            )
            .fix("Remove the whitespace unless the password really has it."),
            ConfigWarning::Normalised {
                key,
                origin,
                from,
                to,
            } => Check::new(
                "config.normalised",
                CONFIG_GROUP,
                format!("{key}: read as {to:?}"),
                CheckStatus::Warn,
                format!("{key} ({origin}) is {from:?}; read as {to:?}."),
            )
            .fix(format!("Write {key} = {to:?}.")),
            ConfigWarning::PlainHttpPublicUrl { key, origin } => Check::new(
                "config.plain_http_public_url",
                CONFIG_GROUP,
                format!("{key}: plain http"),
                CheckStatus::Warn,
                format!("{key} ({origin}) is plain http."),
            )
            .fix(HTTPS_FIX),
            ConfigWarning::NoInstance => Check::new(
                "config.no_instance",
                CONFIG_GROUP,
                "No [[instance]] configured",
                CheckStatus::Warn,
                "The connector talks to no Salesforce org.",
            )
            .fix("Add an [[instance]] section (`ctibridge config example` shows one)."),
            other => Check::new(
                "config.warning",
                CONFIG_GROUP,
                other.to_string(),
                CheckStatus::Warn,
                "",
            ),
        })
        .collect()
}

const HTTPS_FIX: &str = "Set server.public_url to the https address of ctibridge: give it \
                         tls_cert and tls_key, or put a TLS reverse proxy in front.";

/// `public_url` must be https unless it is loopback, and reachable by the PBX.
fn https_check(config: &Config) -> Check {
    const ID: &str = "callback.https";
    const TITLE: &str = "public_url form (https)";
    let public = &config.server.public_url;
    let loopback = callcenter::is_loopback(public);
    if public.scheme() == "https" && !loopback {
        return Check::new(
            ID,
            CALLBACK_GROUP,
            TITLE,
            CheckStatus::Ok,
            format!("{public} is https."),
        );
    }
    if !loopback {
        return Check::new(
            ID,
            CALLBACK_GROUP,
            TITLE,
            CheckStatus::Fail,
            format!(
                "{public} is plain http: Salesforce loads the softphone panel only over https, \
                 and the PBX would post call events unencrypted."
            ),
        )
        .fix(HTTPS_FIX);
    }
    let pbx_remote = !callcenter::is_loopback(&config.starface.url);
    if pbx_remote {
        return Check::new(
            ID,
            CALLBACK_GROUP,
            TITLE,
            CheckStatus::Fail,
            format!(
                "{public} is on this machine only, but the PBX at {} must post call events to \
                 it and Salesforce users' browsers must load the panel from it.",
                config.starface.url
            ),
        )
        .fix(format!(
            "Set server.public_url to the address the PBX and the browsers reach ctibridge at. {HTTPS_FIX}"
        ));
    }
    Check::new(
        ID,
        CALLBACK_GROUP,
        TITLE,
        CheckStatus::Info,
        format!("{public} is on this machine: fine for a local trial with emulators only."),
    )
}

/// GET `<public_url>healthz` from here.
async fn health_check(config: &Config, http: &reqwest::Client, timeout: Duration) -> Check {
    const ID: &str = "callback.reachable";
    const TITLE: &str = "public_url reachable";
    let url = match config.server.public_url.join("healthz") {
        Ok(u) => u,
        Err(e) => {
            return Check::new(
                ID,
                CALLBACK_GROUP,
                TITLE,
                CheckStatus::Fail,
                format!("no health URL: {e}"),
            );
        }
    };
    let why = "The PBX posts call events to <public_url>uci/callback/..., and Salesforce loads \
               the softphone panel from <public_url>panel; both need this address. This check \
               ran from this machine, so it proves the address works from here only.";
    let fix = format!(
        "Start ctibridge (`ctibridge serve`) if it is not running; check that {} reaches it \
         (DNS, reverse proxy, firewall) from this machine, the PBX and the users' browsers.",
        config.server.public_url
    );
    match tokio::time::timeout(timeout, http.get(url.clone()).send()).await {
        Ok(Ok(r)) if r.status().is_success() => Check::new(
            ID,
            CALLBACK_GROUP,
            TITLE,
            CheckStatus::Ok,
            format!("{url} answered HTTP {}.", r.status()),
        ),
        Ok(Ok(r)) => Check::new(
            ID,
            CALLBACK_GROUP,
            TITLE,
            CheckStatus::Warn,
            format!(
                "{url} answered HTTP {}: something else than ctibridge answers there.\n{why}",
                r.status()
            ),
        )
        .fix(fix),
        Ok(Err(e)) => Check::new(
            ID,
            CALLBACK_GROUP,
            TITLE,
            CheckStatus::Warn,
            format!("{url} is unreachable: {e}.\n{why}"),
        )
        .fix(fix),
        Err(_) => Check::new(
            ID,
            CALLBACK_GROUP,
            TITLE,
            CheckStatus::Warn,
            format!(
                "{url} did not answer within {} s.\n{why}",
                timeout.as_secs_f32()
            ),
        )
        .fix(fix),
    }
}

/// The Call Center definition of each instance declares Lightning; internal names differ.
fn call_center_checks(config: &Config) -> Vec<Check> {
    let names: Vec<Option<&str>> = if config.instances.is_empty() {
        vec![None]
    } else {
        config
            .instances
            .iter()
            .map(|i| Some(i.name.as_str()))
            .collect()
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut checks = Vec::new();
    for name in names {
        let title = match name {
            Some(n) => format!("Call Center definition for {n:?}"),
            None => "Call Center definition".to_owned(),
        };
        let mut check = match callcenter::callcenter_definition(config, name) {
            Ok(def) if def.declares_lightning() => {
                let duplicate = seen
                    .iter()
                    .find(|(internal, _)| *internal == def.internal_name)
                    .map(|(_, other)| other.clone());
                seen.push((
                    def.internal_name.clone(),
                    name.unwrap_or_default().to_owned(),
                ));
                let import = format!(
                    "`ctibridge callcenter-xml{}` prints it: reqInternalName {}, adapter URL {}, \
                     reqSalesforceCompatibilityMode {}. Import it in Setup > Call Centers > \
                     Import and add the users to the call center.",
                    name.filter(|_| config.instances.len() > 1)
                        .map(|n| format!(" --instance {n:?}"))
                        .unwrap_or_default(),
                    def.internal_name,
                    def.adapter_url,
                    callcenter::COMPATIBILITY_MODE
                );
                match duplicate {
                    Some(other) => Check::new(
                        "callcenter.definition",
                        CALL_CENTER_GROUP,
                        title,
                        CheckStatus::Warn,
                        format!(
                            "{import}\nThe instance {other:?} gets the same reqInternalName, \
                             but Salesforce needs it unique within an org."
                        ),
                    )
                    .fix("Import one of them only into each org, or rename an instance."),
                    None => Check::new(
                        "callcenter.definition",
                        CALL_CENTER_GROUP,
                        title,
                        CheckStatus::Info,
                        import,
                    ),
                }
            }
            Ok(_) => Check::new(
                "callcenter.definition",
                CALL_CENTER_GROUP,
                title,
                CheckStatus::Fail,
                "The generated definition does not declare Lightning mode.",
            ),
            Err(e @ CallCenterError::InsecureAdapterUrl { .. }) => Check::new(
                "callcenter.definition",
                CALL_CENTER_GROUP,
                title,
                CheckStatus::Fail,
                e.to_string(),
            )
            .fix(HTTPS_FIX),
            Err(e) => Check::new(
                "callcenter.definition",
                CALL_CENTER_GROUP,
                title,
                CheckStatus::Fail,
                e.to_string(),
            ),
        };
        if let Some(n) = name {
            check = check.instance(n);
        }
        checks.push(check);
    }
    checks
}
