//! From the merged value tree to a validated [`Config`], collecting every problem.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ctibridge_domain::{Email, LoginUrl, LoginUrlKind, StarfaceLoginId};
use ctibridge_phone::{DialingRulesError, MAX_INTERNAL_NUMBER_LEN};
use secrecy::SecretString;
use url::{Host, Url};

use crate::error::{ConfigError, ConfigWarning, Origin};
use crate::read::{
    DIALING_KEYS, Field, INSTANCE_KEYS, LOG_KEYS, SALESFORCE_KEYS, SERVER_KEYS, STARFACE_KEYS,
    Section, excerpt,
};
use crate::tree::{Table, env_var_for};
use crate::values::COUNTRY_FIX;
use crate::{
    ApiVersion, CallsConfig, Config, CountryCode, DEFAULT_SYNC_INTERVAL_SECS, DialingConfig,
    InstanceConfig, LogConfig, LogLevel, MAX_SYNC_INTERVAL_SECS, MissedGroupCalls,
    SalesforceConfig, ServerConfig, StarfaceConfig, TlsConfig, UnknownCallerObject, UserRef,
};

/// `[server] listen` when absent.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
/// `[server] data_dir` when absent.
pub(crate) const DEFAULT_DATA_DIR: &str = "/var/lib/ctibridge";

/// What the checks found: errors stop the load, warnings go to the log.
#[derive(Default)]
pub(crate) struct Findings {
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigWarning>,
}

/// Reads and checks the whole tree; `None` when there is at least one error.
pub(crate) fn build(root: &Table, f: &mut Findings) -> Option<Config> {
    let root = Section::root(root);
    root.check_unknown(&mut f.errors);
    let server = server(&root, f);
    let log = log(&root, f);
    let starface = starface(&root, f);
    let dialing = dialing(&root, f);
    let instances = instances(&root, f);
    if !f.errors.is_empty() {
        return None;
    }
    Some(Config {
        server: server?,
        log: log?,
        starface: starface?,
        dialing: dialing?,
        instances: instances?,
    })
}

/// The section, or one "missing section" error instead of one per key.
fn required_section<'t>(
    root: &Section<'t>,
    name: &str,
    keys: &'static [&'static str],
    needs: &str,
    f: &mut Findings,
) -> Option<Section<'t>> {
    if root.node(name).is_none() {
        f.errors.push(ConfigError::Missing {
            key: name.to_owned(),
            fix: format!(
                "add a [{name}] section with {needs} (`ctibridge config example` shows one)"
            ),
        });
        return None;
    }
    let section = root.section(name, keys, &mut f.errors);
    section.check_unknown(&mut f.errors);
    section.is_present().then_some(section)
}

/// Removes surrounding whitespace, warning when there was some.
fn trimmed(
    section: &Section<'_>,
    name: &str,
    field: Field<String>,
    f: &mut Findings,
) -> Field<String> {
    let trimmed = field.value.trim();
    if trimmed.len() == field.value.len() {
        return field;
    }
    f.warnings.push(ConfigWarning::Trimmed {
        key: section.key(name),
        origin: field.origin.clone(),
    });
    Field {
        value: trimmed.to_owned(),
        origin: field.origin,
    }
}

fn invalid(
    section: &Section<'_>,
    name: &str,
    field: &Field<impl Sized>,
    problem: String,
    fix: String,
) -> ConfigError {
    ConfigError::Invalid {
        key: section.key(name),
        origin: field.origin.clone(),
        problem,
        fix,
    }
}

fn server(root: &Section<'_>, f: &mut Findings) -> Option<ServerConfig> {
    let s = required_section(root, "server", SERVER_KEYS, "public_url", f)?;

    let listen = match s.string("listen", &mut f.errors) {
        None if s.node("listen").is_some() => None,
        None => DEFAULT_LISTEN.parse::<SocketAddr>().ok(),
        Some(field) => {
            let field = trimmed(&s, "listen", field, f);
            match field.value.parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    let fix = if field.value.parse::<std::net::IpAddr>().is_ok() {
                        format!("add the port: \"{}:8443\"", field.value)
                    } else {
                        "write an IP address and port, such as \"0.0.0.0:8443\" (all interfaces) \
                         or \"127.0.0.1:8443\" (this machine only); host names are not accepted"
                            .to_owned()
                    };
                    f.errors.push(invalid(
                        &s,
                        "listen",
                        &field,
                        format!(
                            "{:?} is not an IP address with a port",
                            excerpt(&field.value)
                        ),
                        fix,
                    ));
                    None
                }
            }
        }
    };

    let public_url = s
        .required_string(
            "public_url",
            "\"https://ctibridge.example.com\"",
            &mut f.errors,
        )
        .and_then(|field| {
            let field = trimmed(&s, "public_url", field, f);
            let url = http_url(&s, "public_url", &field, "https://ctibridge.example.com", f)?;
            if url.scheme() == "http" && !is_loopback(&url) {
                f.warnings.push(ConfigWarning::PlainHttpPublicUrl {
                    key: s.key("public_url"),
                    origin: field.origin.clone(),
                });
            }
            Some(url)
        });

    let data_dir = match s.string("data_dir", &mut f.errors) {
        None if s.node("data_dir").is_some() => None,
        None => Some(PathBuf::from(DEFAULT_DATA_DIR)),
        Some(field) if field.value.trim().is_empty() => {
            f.errors.push(invalid(
                &s,
                "data_dir",
                &field,
                "is empty".to_owned(),
                format!("name a directory the service may write, such as \"{DEFAULT_DATA_DIR}\""),
            ));
            None
        }
        Some(field) => Some(PathBuf::from(field.value)),
    };

    let tls = tls(&s, f);

    Some(ServerConfig {
        listen: listen?,
        public_url: public_url?,
        data_dir: data_dir?,
        tls: tls?,
    })
}

/// `tls_cert` and `tls_key` come as a pair of readable files, or not at all.
fn tls(s: &Section<'_>, f: &mut Findings) -> Option<Option<TlsConfig>> {
    let cert = s.string("tls_cert", &mut f.errors);
    let key = s.string("tls_key", &mut f.errors);
    if (cert.is_none() && s.node("tls_cert").is_some())
        || (key.is_none() && s.node("tls_key").is_some())
    {
        return None;
    }
    let mut file = |name: &str, field: Field<String>| {
        let path = PathBuf::from(&field.value);
        if path.is_file() {
            Some(path)
        } else {
            f.errors.push(invalid(
                s,
                name,
                &field,
                format!("{} is not a readable file", path.display()),
                "give the path of a PEM file (absolute, or relative to the working directory)"
                    .to_owned(),
            ));
            None
        }
    };
    match (cert, key) {
        (None, None) => Some(None),
        (Some(cert), Some(key)) => {
            let cert = file("tls_cert", cert);
            let key = file("tls_key", key);
            Some(Some(TlsConfig {
                cert: cert?,
                key: key?,
            }))
        }
        (Some(_), None) => {
            f.errors.push(ConfigError::Missing {
                key: s.key("tls_key"),
                fix: format!(
                    "{} is set, so the private key is needed too: {}",
                    s.key("tls_cert"),
                    s.add_fix("tls_key", "\"/etc/ctibridge/key.pem\"")
                ),
            });
            None
        }
        (None, Some(_)) => {
            f.errors.push(ConfigError::Missing {
                key: s.key("tls_cert"),
                fix: format!(
                    "{} is set, so the certificate is needed too: {}",
                    s.key("tls_key"),
                    s.add_fix("tls_cert", "\"/etc/ctibridge/cert.pem\"")
                ),
            });
            None
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An absolute http(s) URL without credentials, query or fragment; the path ends with `/` so
/// that joining relative paths keeps a reverse proxy's prefix.
fn http_url(
    s: &Section<'_>,
    name: &str,
    field: &Field<String>,
    example: &str,
    f: &mut Findings,
) -> Option<Url> {
    let mut problem = |problem: String, fix: String| {
        f.errors.push(invalid(s, name, field, problem, fix));
        None
    };
    let shown = excerpt(&field.value);
    let mut url = match Url::parse(&field.value) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return problem(
                format!("{shown:?} has no scheme"),
                format!("start it with https://, such as \"{example}\""),
            );
        }
        Err(e) => {
            return problem(
                format!("{shown:?} is not a URL ({e})"),
                format!("write an absolute URL such as \"{example}\""),
            );
        }
    };
    if url.scheme() != "https" && url.scheme() != "http" {
        return problem(
            format!("{shown:?} is not an http or https URL"),
            format!("write an absolute URL such as \"{example}\""),
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        return problem(
            format!("{shown:?} has no host"),
            format!("write an absolute URL such as \"{example}\""),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return problem(
            "contains a user name or password".to_owned(),
            "remove them from the URL; credentials have keys of their own".to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return problem(
            format!("{shown:?} has a ?query or #fragment"),
            format!("write only scheme, host, port and path, such as \"{example}\""),
        );
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Some(url)
}

fn log(root: &Section<'_>, f: &mut Findings) -> Option<LogConfig> {
    let s = root.section("log", LOG_KEYS, &mut f.errors);
    s.check_unknown(&mut f.errors);
    let level = match s.string("level", &mut f.errors) {
        None if s.node("level").is_some() => return None,
        None => LogLevel::default(),
        Some(field) => match field.value.parse::<LogLevel>() {
            Ok(level) => level,
            Err(_) => {
                f.errors.push(invalid(
                    &s,
                    "level",
                    &field,
                    format!("{:?} is not a log level", excerpt(&field.value)),
                    "write one of error, warn, info (the default), debug, trace".to_owned(),
                ));
                return None;
            }
        },
    };
    Some(LogConfig { level })
}

fn starface(root: &Section<'_>, f: &mut Findings) -> Option<StarfaceConfig> {
    let s = required_section(
        root,
        "starface",
        STARFACE_KEYS,
        "url, admin_login and admin_password (or admin_password_file)",
        f,
    )?;
    let url = s
        .required_string("url", "\"https://pbx.example.com\"", &mut f.errors)
        .and_then(|field| {
            let field = trimmed(&s, "url", field, f);
            http_url(&s, "url", &field, "https://pbx.example.com", f)
        });
    let admin_login = s
        .required_string("admin_login", "\"0001\"", &mut f.errors)
        .and_then(|field| {
            let field = trimmed(&s, "admin_login", field, f);
            match StarfaceLoginId::parse(&field.value) {
                Ok(id) => Some(id),
                Err(e) => {
                    f.errors.push(invalid(
                        &s,
                        "admin_login",
                        &field,
                        e.to_string(),
                        "write the login id of a STARFACE administrator, such as \"0001\""
                            .to_owned(),
                    ));
                    None
                }
            }
        });
    let admin_password = secret(&s, "admin_password", SecretKind::Password, f);
    Some(StarfaceConfig {
        url: url?,
        admin_login: admin_login?,
        admin_password: admin_password?,
    })
}

/// How to treat whitespace at the ends of a secret.
#[derive(Clone, Copy)]
enum SecretKind {
    /// Passwords may contain spaces: keep them, but say so.
    Password,
    /// Consumer keys never do: trim with a warning (the manual's FAQ on pasted keys).
    ApiKey,
}

/// `name` or `name_file`, exactly one of them.
fn secret(s: &Section<'_>, name: &str, kind: SecretKind, f: &mut Findings) -> Option<SecretString> {
    let file_name = format!("{name}_file");
    let direct = s.string(name, &mut f.errors);
    let file = s.string(&file_name, &mut f.errors);
    let present = |key: &str| s.node(key).is_some();
    let (field, key, from_file) = match (direct, file) {
        (Some(direct), Some(file)) => {
            f.errors.push(ConfigError::Conflict {
                key: s.key(name),
                origin: direct.origin,
                other: s.key(&file_name),
                other_origin: file.origin,
            });
            return None;
        }
        (None, None) if !present(name) && !present(&file_name) => {
            f.errors.push(ConfigError::Missing {
                key: s.key(name),
                fix: format!(
                    "set {} or {} (a file holding only the secret) in {}, or the variable {} or {}",
                    s.key(name),
                    s.key(&file_name),
                    s.header(),
                    env_var_for(&s.key(name)),
                    env_var_for(&s.key(&file_name)),
                ),
            });
            return None;
        }
        (Some(direct), None) => (direct, name.to_owned(), false),
        (None, Some(file)) => (file, file_name, true),
        (None, None) => return None,
    };

    let origin = field.origin.clone();
    let mut value = if from_file {
        let path = PathBuf::from(&field.value);
        match std::fs::read_to_string(&path) {
            Ok(mut text) => {
                // Editors and `echo` end files with a newline that is no part of the secret.
                while text.ends_with('\n') || text.ends_with('\r') {
                    text.pop();
                }
                text
            }
            Err(source) => {
                f.errors.push(ConfigError::SecretFile {
                    key: s.key(&key),
                    origin,
                    path,
                    source,
                });
                return None;
            }
        }
    } else {
        field.value
    };

    if value.trim().len() != value.len() {
        match kind {
            SecretKind::Password => f.warnings.push(ConfigWarning::SecretHasOuterWhitespace {
                key: s.key(&key),
                origin: origin.clone(),
            }),
            SecretKind::ApiKey => {
                value = value.trim().to_owned();
                f.warnings.push(ConfigWarning::Trimmed {
                    key: s.key(&key),
                    origin: origin.clone(),
                });
            }
        }
    }
    if value.is_empty() {
        let problem = if from_file {
            "the file is empty".to_owned()
        } else {
            "is empty".to_owned()
        };
        f.errors.push(ConfigError::Invalid {
            key: s.key(&key),
            origin,
            problem,
            fix: "set the secret itself, not an empty value".to_owned(),
        });
        return None;
    }
    Some(SecretString::from(value))
}

fn dialing(root: &Section<'_>, f: &mut Findings) -> Option<DialingConfig> {
    let s = root.section("dialing", DIALING_KEYS, &mut f.errors);
    s.check_unknown(&mut f.errors);
    let defaults = DialingConfig::default();

    let country_field = s
        .string("country", &mut f.errors)
        .map(|field| trimmed(&s, "country", field, f));
    let country = match &country_field {
        None if s.node("country").is_some() => None,
        None => Some(defaults.country),
        Some(field) => match CountryCode::parse(&field.value) {
            Ok(code) => Some(code),
            Err(e) => {
                f.errors
                    .push(invalid(&s, "country", field, e.problem, e.fix));
                None
            }
        },
    };

    let outside_line_prefix = match s.string("outside_line_prefix", &mut f.errors) {
        None if s.node("outside_line_prefix").is_some() => None,
        None => Some(defaults.outside_line_prefix),
        Some(field) => {
            let field = trimmed(&s, "outside_line_prefix", field, f);
            if field.value.len() <= 4 && field.value.bytes().all(|b| b.is_ascii_digit()) {
                Some(field.value)
            } else {
                f.errors.push(invalid(
                    &s,
                    "outside_line_prefix",
                    &field,
                    format!("{:?} is not 0 to 4 digits", excerpt(&field.value)),
                    "write the digits the PBX needs for an outside line, such as \"0\", or \"\" \
                     when it needs none"
                        .to_owned(),
                ));
                None
            }
        }
    };

    let internal_number_max_len = match s.int("internal_number_max_len", &mut f.errors) {
        None if s.node("internal_number_max_len").is_some() => None,
        None => Some(defaults.internal_number_max_len),
        Some(field) => match usize::try_from(field.value) {
            Ok(n) if n <= MAX_INTERNAL_NUMBER_LEN => Some(n),
            _ => {
                f.errors.push(invalid(
                    &s,
                    "internal_number_max_len",
                    &field,
                    format!(
                        "{} is not between 0 and {MAX_INTERNAL_NUMBER_LEN}",
                        field.value
                    ),
                    "write the number of digits of the longest internal extension, such as 4 \
                     (0: no number is internal)"
                        .to_owned(),
                ));
                None
            }
        },
    };

    let dialing = DialingConfig {
        country: country?,
        outside_line_prefix: outside_line_prefix?,
        internal_number_max_len: internal_number_max_len?,
    };
    // The phone crate decides which countries have numbering metadata; asking it here turns a
    // failure at start-up into a message about the key.
    match (dialing.rules().validate(), country_field) {
        (Ok(()), _) => Some(dialing),
        (Err(DialingRulesError::UnknownCountry(code)), Some(field)) => {
            f.errors.push(invalid(
                &s,
                "country",
                &field,
                format!("no telephone numbering rules are known for {code:?}"),
                COUNTRY_FIX.to_owned(),
            ));
            None
        }
        (Err(e), _) => {
            f.errors.push(ConfigError::Invalid {
                key: "dialing".to_owned(),
                origin: s.origin.cloned().unwrap_or(Origin::Default),
                problem: e.to_string(),
                fix: "fix the [dialing] section".to_owned(),
            });
            None
        }
    }
}

fn instances(root: &Section<'_>, f: &mut Findings) -> Option<Vec<InstanceConfig>> {
    let sections = root.tables("instance", INSTANCE_KEYS, &mut f.errors);
    if root.node("instance").is_none() {
        f.warnings.push(ConfigWarning::NoInstance);
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(sections.len());
    let mut ok = true;
    for s in &sections {
        s.check_unknown(&mut f.errors);
        let name = s
            .required_string("name", "\"Salesforce Sales\"", &mut f.errors)
            .and_then(|field| {
                let field = trimmed(s, "name", field, f);
                if field.value.is_empty() {
                    f.errors.push(invalid(
                        s,
                        "name",
                        &field,
                        "is empty".to_owned(),
                        "give the instance a name that says what it is for".to_owned(),
                    ));
                    return None;
                }
                // Names identify instances in the admin UI and the store; names that differ only
                // in case would look like the same instance there.
                let folded = field.value.to_lowercase();
                if let Some(first) = seen.get(&folded) {
                    f.errors.push(invalid(
                        s,
                        "name",
                        &field,
                        format!("{:?} is already the name of {first}", excerpt(&field.value)),
                        "give every instance its own name".to_owned(),
                    ));
                    return None;
                }
                seen.insert(folded, s.path.clone());
                Some(field.value)
            });
        let description = s
            .string("description", &mut f.errors)
            .map(|field| field.value.trim().to_owned());
        let description = match description {
            None if s.node("description").is_some() => None,
            None => Some(String::new()),
            some => some,
        };
        let enabled = flag(s, "enabled", true, f);
        let import_contacts = flag(s, "import_contacts", false, f);
        let sync_interval = sync_interval(s, f);
        let calls = calls(s, f);
        let users = users(s, f);
        let groups = groups(s, f);
        let where_set = s
            .node("users")
            .or_else(|| s.node("groups"))
            .map(|n| &n.origin)
            .or(s.origin);
        if let (Some(users), Some(groups), Some(true), Some(origin)) =
            (&users, &groups, enabled, where_set)
            && users.is_empty()
            && groups.is_empty()
        {
            f.errors.push(ConfigError::Invalid {
                key: s.key("users"),
                origin: origin.clone(),
                problem: format!(
                    "{} and {} are both empty, so nobody would use this instance",
                    s.key("users"),
                    s.key("groups")
                ),
                fix: "list STARFACE users (e-mail or login id), e.g. users = \
                      [\"ben.utzer@example.com\"], or groups, e.g. groups = [\"Sales\"]; or set \
                      enabled = false"
                    .to_owned(),
            });
        }
        let salesforce = salesforce(s, f);
        match (
            name,
            description,
            enabled,
            users,
            groups,
            import_contacts,
            sync_interval,
            calls,
            salesforce,
        ) {
            (
                Some(name),
                Some(description),
                Some(enabled),
                Some(users),
                Some(groups),
                Some(import_contacts),
                Some(sync_interval),
                Some(calls),
                Some(salesforce),
            ) => out.push(InstanceConfig {
                name,
                description,
                enabled,
                users,
                groups,
                import_contacts,
                sync_interval,
                calls,
                salesforce,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `log_calls`, `missed_group_calls` and `unknown_caller_object` of an instance.
fn calls(s: &Section<'_>, f: &mut Findings) -> Option<CallsConfig> {
    let mut out = CallsConfig::default();
    let mut ok = true;
    if let Some(list) = s.strings("log_calls", &mut f.errors) {
        out.log_inbound = false;
        out.log_outbound = false;
        out.log_missed = false;
        out.log_internal = false;
        for (i, field) in list.value.into_iter().enumerate() {
            match field.value.trim().to_ascii_lowercase().as_str() {
                "inbound" => out.log_inbound = true,
                "outbound" => out.log_outbound = true,
                "missed" => out.log_missed = true,
                "internal" => out.log_internal = true,
                other => {
                    ok = false;
                    f.errors.push(ConfigError::Invalid {
                        key: format!("{}[{i}]", s.key("log_calls")),
                        origin: field.origin,
                        problem: format!("{other:?} is not a kind of call"),
                        fix: "use \"inbound\", \"outbound\", \"missed\" or \"internal\"; [] logs no calls"
                            .to_owned(),
                    });
                }
            }
        }
    } else if s.node("log_calls").is_some() {
        ok = false;
    }
    match s.string("missed_group_calls", &mut f.errors) {
        Some(field) => match field.value.trim().to_ascii_lowercase().as_str() {
            "group" => out.missed_group_calls = MissedGroupCalls::Group,
            "each" => out.missed_group_calls = MissedGroupCalls::Each,
            "none" => out.missed_group_calls = MissedGroupCalls::None,
            other => {
                ok = false;
                f.errors.push(invalid(
                    s,
                    "missed_group_calls",
                    &field,
                    format!("{other:?} is not one of group, each, none"),
                    "write \"group\" (one Task for the group), \"each\" (one per member who \
                     rang) or \"none\""
                        .to_owned(),
                ));
            }
        },
        None if s.node("missed_group_calls").is_some() => ok = false,
        None => {}
    }
    match s.string("unknown_caller_object", &mut f.errors) {
        Some(field) => match field.value.trim().to_ascii_lowercase().as_str() {
            "lead" => out.unknown_caller_object = UnknownCallerObject::Lead,
            "contact" => out.unknown_caller_object = UnknownCallerObject::Contact,
            other => {
                ok = false;
                f.errors.push(invalid(
                    s,
                    "unknown_caller_object",
                    &field,
                    format!("{other:?} cannot be created for an unknown caller"),
                    "write \"Lead\" or \"Contact\"".to_owned(),
                ));
            }
        },
        None if s.node("unknown_caller_object").is_some() => ok = false,
        None => {}
    }
    ok.then_some(out)
}

fn sync_interval(s: &Section<'_>, f: &mut Findings) -> Option<std::time::Duration> {
    let secs = match s.int("sync_interval_secs", &mut f.errors) {
        None if s.node("sync_interval_secs").is_some() => return None,
        None => DEFAULT_SYNC_INTERVAL_SECS,
        Some(field) => match u64::try_from(field.value) {
            Ok(n) if (1..=MAX_SYNC_INTERVAL_SECS).contains(&n) => n,
            _ => {
                f.errors.push(invalid(
                    s,
                    "sync_interval_secs",
                    &field,
                    format!(
                        "{} is not between 1 and {MAX_SYNC_INTERVAL_SECS}",
                        field.value
                    ),
                    format!(
                        "write the seconds between two reads of the org's changes, such as \
                         {DEFAULT_SYNC_INTERVAL_SECS}; each read costs a few API calls"
                    ),
                ));
                return None;
            }
        },
    };
    Some(std::time::Duration::from_secs(secs))
}

fn flag(s: &Section<'_>, name: &str, default: bool, f: &mut Findings) -> Option<bool> {
    match s.bool(name, &mut f.errors) {
        Some(field) => Some(field.value),
        None if s.node(name).is_some() => None,
        None => Some(default),
    }
}

fn users(s: &Section<'_>, f: &mut Findings) -> Option<Vec<UserRef>> {
    let Some(list) = s.strings("users", &mut f.errors) else {
        return s.node("users").is_none().then(Vec::new);
    };
    let mut out = Vec::with_capacity(list.value.len());
    let mut ok = true;
    for (i, field) in list.value.into_iter().enumerate() {
        let key = format!("{}[{i}]", s.key("users"));
        let text = field.value.trim();
        let parsed = if text.contains('@') {
            Email::parse(text)
                .map(UserRef::Email)
                .map_err(|e| e.to_string())
        } else {
            StarfaceLoginId::parse(text)
                .map(UserRef::LoginId)
                .map_err(|e| e.to_string())
        };
        match parsed {
            Ok(user) => out.push(user),
            Err(problem) => {
                ok = false;
                f.errors.push(ConfigError::Invalid {
                    key,
                    origin: field.origin,
                    problem,
                    fix:
                        "write the user's e-mail address (as in STARFACE and Salesforce), such as \
                          \"ben.utzer@example.com\", or STARFACE login id, such as \"1001\""
                            .to_owned(),
                });
            }
        }
    }
    ok.then_some(out)
}

fn groups(s: &Section<'_>, f: &mut Findings) -> Option<Vec<String>> {
    let Some(list) = s.strings("groups", &mut f.errors) else {
        return s.node("groups").is_none().then(Vec::new);
    };
    let mut out = Vec::with_capacity(list.value.len());
    let mut ok = true;
    for (i, field) in list.value.into_iter().enumerate() {
        let name = field.value.trim();
        if name.is_empty() {
            ok = false;
            f.errors.push(ConfigError::Invalid {
                key: format!("{}[{i}]", s.key("groups")),
                origin: field.origin,
                problem: "is empty".to_owned(),
                fix: "write the name of a STARFACE group, such as \"Sales\", or remove the entry"
                    .to_owned(),
            });
        } else {
            out.push(name.to_owned());
        }
    }
    ok.then_some(out)
}

fn salesforce(instance: &Section<'_>, f: &mut Findings) -> Option<SalesforceConfig> {
    if instance.node("salesforce").is_none() {
        f.errors.push(ConfigError::Missing {
            key: instance.key("salesforce"),
            fix: format!(
                "add an [instance.salesforce] section right after this [[instance]] with \
                 login_url, client_id and client_secret (or set {}, {} and {})",
                env_var_for(&instance.key("salesforce.login_url")),
                env_var_for(&instance.key("salesforce.client_id")),
                env_var_for(&instance.key("salesforce.client_secret")),
            ),
        });
        return None;
    }
    let s = instance.section("salesforce", SALESFORCE_KEYS, &mut f.errors);
    if !s.is_present() {
        return None;
    }
    s.check_unknown(&mut f.errors);

    let login_url = s
        .required_string(
            "login_url",
            "\"https://acme.my.salesforce.com\"",
            &mut f.errors,
        )
        .and_then(|field| match LoginUrl::parse(&field.value) {
            Ok((url, _)) if url.kind() == LoginUrlKind::GenericLogin => {
                f.errors.push(invalid(
                    &s,
                    "login_url",
                    &field,
                    format!("{} cannot be used here", url.as_str()),
                    url.advice().unwrap_or_default().to_owned(),
                ));
                None
            }
            Ok((url, fixes)) => {
                if !fixes.is_empty() {
                    f.warnings.push(ConfigWarning::LoginUrlFixed {
                        key: s.key("login_url"),
                        origin: field.origin.clone(),
                        from: excerpt(&field.value),
                        to: url.as_str().to_owned(),
                        changes: fixes.iter().map(ToString::to_string).collect(),
                    });
                }
                Some(url)
            }
            Err(e) => {
                f.errors.push(invalid(
                    &s,
                    "login_url",
                    &field,
                    e.to_string(),
                    "copy the address from Setup > My Domain".to_owned(),
                ));
                None
            }
        });

    let client_id = s
        .required_string("client_id", "\"3MVG9...\"", &mut f.errors)
        .and_then(|field| {
            let field = trimmed(&s, "client_id", field, f);
            if field.value.is_empty() {
                f.errors.push(invalid(
                    &s,
                    "client_id",
                    &field,
                    "is empty".to_owned(),
                    "copy the consumer key of the connected app".to_owned(),
                ));
                return None;
            }
            if field.value.chars().any(char::is_whitespace) {
                f.errors.push(invalid(
                    &s,
                    "client_id",
                    &field,
                    "contains whitespace inside".to_owned(),
                    "copy the consumer key again; it has no spaces or line breaks".to_owned(),
                ));
                return None;
            }
            Some(field.value)
        });

    let client_secret = secret(&s, "client_secret", SecretKind::ApiKey, f);

    let api_version = match s.string("api_version", &mut f.errors) {
        None if s.node("api_version").is_some() => None,
        None => Some(ApiVersion::default()),
        Some(field) => {
            let field = trimmed(&s, "api_version", field, f);
            match ApiVersion::parse(&field.value) {
                Ok((version, normalised)) => {
                    if normalised {
                        f.warnings.push(ConfigWarning::Normalised {
                            key: s.key("api_version"),
                            origin: field.origin.clone(),
                            from: excerpt(&field.value),
                            to: version.to_string(),
                        });
                    }
                    Some(version)
                }
                Err(problem) => {
                    f.errors.push(invalid(
                        &s,
                        "api_version",
                        &field,
                        problem.to_string(),
                        format!(
                            "write a Salesforce REST API version such as \"{}\"",
                            ApiVersion::default()
                        ),
                    ));
                    None
                }
            }
        }
    };

    Some(SalesforceConfig {
        login_url: login_url?,
        client_id: client_id?,
        client_secret: client_secret?,
        api_version: api_version?,
    })
}
